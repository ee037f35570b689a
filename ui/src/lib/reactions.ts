/**
 * How a reaction chip names who reacted: "Ada Lovelace, Grace Hopper and you reacted
 * with 👍" (this user last, as Slack says it), the first few by name and the rest
 * counted, so a chip on a message in a big group keeps a short tooltip.
 */
import type { Reaction } from "./bindings/Reaction";
import { emojiName } from "./emoji";

/** Names shown before the rest are only counted. */
const NAMED = 8;

function joined(names: readonly string[]): string {
  if (names.length <= 1) return names[0] ?? "";
  return `${names.slice(0, -1).join(", ")} and ${names.at(-1)}`;
}

/** The tooltip of `reaction`'s chip; `nameOf` names other people. */
export function reactorsText(reaction: Reaction, meId: string, nameOf: (userId: string) => string): string {
  const others = reaction.user_ids.filter((id) => id !== meId).map(nameOf);
  const shown = others.slice(0, NAMED);
  const rest = others.length - shown.length;
  const names = rest > 0 ? [...shown, `${rest} ${rest === 1 ? "other" : "others"}`] : shown;
  if (reaction.mine) names.push(names.length === 0 ? "You" : "you");
  const name = emojiName(reaction.emoji);
  return `${joined(names)} reacted with ${reaction.emoji}${name ? ` (${name})` : ""}`;
}
