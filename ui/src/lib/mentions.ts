/**
 * Mentions in message text, as the protocol writes them ("Notifications and mentions"
 * in docs/protocol.md; the mirror of Rust's `ferry_proto::mentions`): `<@USER_ID>` names
 * a member by id, so a rename breaks nothing, and the app shows "@" and the member's
 * name as it is now ("@unknown" for someone not in the conversation). Anything that only
 * looks like one (`<@not-an-id>`) stays text.
 *
 * `pieces` cuts a text into text and mentions (the bubble draws each mention as a chip);
 * `plainMentions` writes them "@Name" where only plain text goes (the list's preview, a
 * quote, what a screen reader says), and `plainSnippet` does the same for a search hit,
 * whose snippet may have cut a mention in two.
 */
import { isolated } from "./bidi";
import type { MemberView } from "./bindings/MemberView";
import { m } from "./paraglide/messages.js";
import { HIGHLIGHT_END, HIGHLIGHT_START } from "./snippet";

/** A piece of a message's text: plain text, or a mention of a user (their id, lower case). */
export type Piece = { kind: "text"; text: string } | { kind: "mention"; userId: string };

/** The current name of a user, or null when they are not a member (see `memberNames`). */
export type NameOf = (userId: string) => string | null;

const HEX_GROUPS = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";
/**
 * What Rust's `Uuid::from_str` takes: hyphenated, bare 32 digits, braced or as a URN,
 * in any case. The Rust side finds mentions with it, so the same text must be a mention
 * here too (its notification and its unread mention were counted there).
 */
const UUID_FORMS = new RegExp(`^(?:${HEX_GROUPS}|[0-9a-f]{32}|\\{${HEX_GROUPS}\\}|urn:uuid:${HEX_GROUPS})$`, "i");

/** `text` as a user id (lower case and hyphenated, as ids are everywhere else), or null. */
function parseId(text: string): string | null {
  if (!UUID_FORMS.test(text)) return null;
  const hex = text.replace(/^urn:uuid:/i, "").replace(/[{}-]/g, "").toLowerCase();
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** How a mention of `userId` is written in a message's text. */
export function mentionToken(userId: string): string {
  return `<@${userId}>`;
}

/**
 * The text cut into plain text and mentions, in order, text next to text joined. The
 * same cut as Rust's `pieces`: from each `<@`, up to the first `>` after it, when what is
 * between is an id; otherwise the `<@` is text and the search goes on after it.
 */
export function pieces(body: string): Piece[] {
  const out: Piece[] = [];
  const text = (part: string) => {
    if (!part) return;
    const last = out.at(-1);
    if (last?.kind === "text") last.text += part;
    else out.push({ kind: "text", text: part });
  };
  let rest = body;
  for (let start = rest.indexOf("<@"); start >= 0; start = rest.indexOf("<@")) {
    const after = rest.slice(start + 2);
    const end = after.indexOf(">");
    const userId = end >= 0 ? parseId(after.slice(0, end)) : null;
    if (userId) {
      text(rest.slice(0, start));
      out.push({ kind: "mention", userId });
      rest = after.slice(end + 1);
    } else {
      text(rest.slice(0, start + 2));
      rest = after;
    }
  }
  text(rest);
  return out;
}

/** Everyone the text mentions, each once, in the order first mentioned. */
export function mentioned(body: string): string[] {
  if (!body.includes("<@")) return [];
  const out: string[] = [];
  for (const piece of pieces(body)) {
    if (piece.kind === "mention" && !out.includes(piece.userId)) out.push(piece.userId);
  }
  return out;
}

/** The current names of a conversation's members, for its mentions. */
export function memberNames(members: readonly MemberView[]): NameOf {
  const names = new Map(members.map((member) => [member.user.id, member.user.display_name]));
  return (userId) => names.get(userId) ?? null;
}

/** What a mention of `userId` shows after its "@": their name now, or "unknown". */
export function mentionName(userId: string, nameOf: NameOf): string {
  return nameOf(userId) ?? m.mention_unknown();
}

/**
 * The text with each mention written "@Name", for where nothing richer can show. A name
 * that could reorder the words around it is isolated (see `./bidi`).
 */
export function plainMentions(body: string, nameOf: NameOf): string {
  if (!body.includes("<@")) return body;
  return pieces(body)
    .map((piece) => (piece.kind === "text" ? piece.text : `@${isolated(mentionName(piece.userId, nameOf))}`))
    .join("");
}

/**
 * A search snippet (`./snippet`) with its mentions written "@Name". The core cuts a
 * snippet at words, and an id is words to it, so a mention at either end may have lost
 * its start or its end ("…2a11> are you in?"): that remnant goes, leaving the ellipsis.
 * A mention with a match marked inside (someone searched for a piece of an id) stays.
 */
export function plainSnippet(snippet: string, nameOf: NameOf): string {
  const named = plainMentions(snippet, nameOf);
  const markers = `${HIGHLIGHT_START}${HIGHLIGHT_END}`;
  return named
    .replace(/^…(?:[0-9a-f]{1,8}-)?(?:[0-9a-f]{4}-){0,3}[0-9a-f]{12,32}\}?>/i, "…")
    .replace(new RegExp(`<@[^>\\s${markers}]*…$`), "…");
}
