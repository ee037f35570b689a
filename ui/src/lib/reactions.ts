/**
 * How a reaction chip names who reacted: "Ada Lovelace, Grace Hopper and you reacted
 * with 👍" (this user last, as Slack says it), the first few by name and the rest
 * counted, so a chip on a message in a big group keeps a short tooltip.
 */
import type { Reaction } from "./bindings/Reaction";
import { emojiName } from "./emoji";
import { m } from "./paraglide/messages.js";

/** Names shown before the rest are only counted. */
const NAMED = 8;

function joined(names: readonly string[]): string {
  if (names.length <= 1) return names[0] ?? "";
  return m.reaction_names_and_last({ names: names.slice(0, -1).join(", "), last: names.at(-1)! });
}

/** The tooltip of `reaction`'s chip; `nameOf` names other people. */
export function reactorsText(reaction: Reaction, meId: string, nameOf: (userId: string) => string): string {
  const others = reaction.user_ids.filter((id) => id !== meId).map(nameOf);
  const shown = others.slice(0, NAMED);
  const rest = others.length - shown.length;
  const names = rest > 0 ? [...shown, m.reaction_others({ count: rest })] : shown;
  if (reaction.mine) names.push(names.length === 0 ? m.reaction_you() : m.reaction_you_after_others());
  const name = emojiName(reaction.emoji);
  const said = { names: joined(names), emoji: reaction.emoji };
  return name ? m.reaction_by_named({ ...said, name }) : m.reaction_by(said);
}
