/**
 * How the conversation list reads: order (newest activity first, the core's own, so
 * its pages and live changes are put in place alike), the other person of a direct
 * chat and the picture its avatar shows, the one-line preview (a message request,
 * typing, draft, last message or nothing yet), who is typing, and the quick switcher's
 * name filter.
 */
import { isolated } from "./bidi";
import type { ConversationSummary } from "./bindings/ConversationSummary";
import type { ListPosition } from "./bindings/ListPosition";
import type { MemberView } from "./bindings/MemberView";
import type { MessageStatus } from "./bindings/MessageStatus";
import type { PictureId } from "./bindings/PictureId";
import { withFiles } from "./files";
import { formatNumber } from "./i18n.svelte";
import { memberNames, plainMentions } from "./mentions";
import { m } from "./paraglide/messages.js";

/**
 * The list's order, the core's own ("updated_at DESC, id DESC", which its pages follow):
 * newest activity first, equal times by id, greatest first. It must stay the same, or a
 * page would join the list in the wrong place. Ids are compared by UTF-16 code unit, as
 * SQLite compares the stored text (not `localeCompare`). Negative when `a` comes first.
 */
export function compareConversations(a: ListPosition, b: ListPosition): number {
  const byTime = Date.parse(b.updated_at) - Date.parse(a.updated_at);
  if (byTime !== 0) return byTime;
  return a.id > b.id ? -1 : a.id < b.id ? 1 : 0;
}

/** A copy of `list` in the list's order. */
export function sortConversations(list: readonly ConversationSummary[]): ConversationSummary[] {
  return [...list].sort(compareConversations);
}

/**
 * A copy of the sorted `list` with `summary` in place: its old row (same id) taken out
 * and the new one put where it sorts (a binary search), so one changed conversation
 * costs a copy, not a sort of the whole list.
 */
export function placeConversation(
  list: readonly ConversationSummary[],
  summary: ConversationSummary,
): ConversationSummary[] {
  const next = list.filter((c) => c.id !== summary.id);
  let low = 0;
  let high = next.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (compareConversations(next[mid]!, summary) < 0) low = mid + 1;
    else high = mid;
  }
  next.splice(low, 0, summary);
  return next;
}

/** The other person in a direct conversation. */
export function otherMember(conversation: ConversationSummary, meId: string): MemberView | null {
  if (conversation.kind !== "direct") return null;
  return conversation.members.find((m) => m.user.id !== meId) ?? null;
}

/**
 * The profile picture a conversation's avatar shows: the other person's, in a direct
 * chat; a group keeps its initials. None while the chat is a message request or blocked:
 * a picture nobody asked for is what a request holds back, as the list holds back the
 * stranger's words, and a blocked person's is not wanted.
 */
export function conversationPicture(conversation: ConversationSummary, meId: string): PictureId | null {
  if (conversation.request || conversation.blocked) return null;
  return otherMember(conversation, meId)?.user.picture ?? null;
}

/**
 * Whether the other person's online status is shared with this user in a direct
 * conversation: both accepted it (a request shares none, either way) and neither blocked
 * the other. Otherwise the app says nothing of it rather than guess "Offline".
 */
export function sharesPresence(conversation: ConversationSummary): boolean {
  return (
    conversation.kind === "direct" &&
    !conversation.blocked &&
    conversation.members.every((m) => m.state === "accepted")
  );
}

/** The display name of `userId` in `conversation`, as far as its member list knows. */
export function memberName(conversation: ConversationSummary, userId: string): string {
  return conversation.members.find((member) => member.user.id === userId)?.user.display_name ?? m.someone();
}

/** "Ada is typing…", "Ada and Grace are typing…", "3 people are typing…", or null. */
export function typingText(conversation: ConversationSummary, meId: string): string | null {
  const names = conversation.typing
    .filter((id) => id !== meId)
    .map((id) => isolated(memberName(conversation, id)));
  if (names.length === 0) return null;
  if (names.length === 1) return m.typing_one({ name: names[0]! });
  if (names.length === 2) return m.typing_two({ first: names[0]!, second: names[1]! });
  return m.typing_many({ count: names.length });
}

export type Preview =
  | { kind: "request"; text: string }
  | { kind: "blocked"; text: string }
  | { kind: "typing"; text: string }
  | { kind: "draft"; text: string }
  | { kind: "message"; text: string; at: string; status: MessageStatus | null }
  | { kind: "empty"; text: string };

/** `text` on one line: runs of blank space, line breaks included, become one space. */
export function oneLine(text: string): string {
  return text.replace(/\s+/g, " ").trim();
}

/**
 * The line under a conversation's name. A message request says only that it is one (a
 * stranger's words show once the user opens it), and a blocked chat that it is blocked.
 * Then typing wins; then an unsent draft
 * (except in the open conversation, where the composer shows it); then the last
 * message, with "You:" or the sender's first name in groups, and its status if it is
 * the user's own (one deleted for everyone says so: its text is gone; so does one this
 * device cannot read, sealed before it joined; one of files says what they are).
 * Mentions read "@Name", as the members are called now.
 */
export function previewOf(
  conversation: ConversationSummary,
  meId: string,
  isOpen = false,
): Preview {
  if (conversation.request && !conversation.left) return { kind: "request", text: m.preview_request() };
  // Blocking a stranger must not show what their request hid; nor does a blocked chat
  // need its words in the list.
  if (conversation.blocked) return { kind: "blocked", text: m.preview_blocked() };
  if (conversation.typing.some((id) => id !== meId)) {
    return { kind: "typing", text: m.preview_typing() };
  }
  const names = memberNames(conversation.members);
  const draft = conversation.draft ? oneLine(plainMentions(conversation.draft, names)) : "";
  if (draft && !isOpen) return { kind: "draft", text: draft };
  const last = conversation.last_message;
  if (!last) return { kind: "empty", text: conversation.left ? m.preview_left() : m.preview_empty() };
  const said = last.deleted
    ? m.message_deleted()
    : last.unreadable
      ? m.preview_unreadable()
      : withFiles(oneLine(plainMentions(last.body, names)), last.attachments);
  let text = said;
  if (last.mine) text = m.preview_mine({ text: said });
  else if (conversation.kind === "group") {
    text = `${memberName(conversation, last.sender_id).split(" ")[0]}: ${said}`;
  }
  return {
    kind: "message",
    text,
    at: last.created_at,
    status: last.mine ? last.status : null,
  };
}

function fold(text: string): string {
  return text.normalize("NFD").replace(/\p{M}/gu, "").toLocaleLowerCase();
}

/**
 * Conversations whose name contains `query` (ignoring case and accents), names that
 * start with it (or have a word that does) first; the list order otherwise.
 */
export function filterByName(
  list: readonly ConversationSummary[],
  query: string,
): ConversationSummary[] {
  const q = fold(query.trim());
  if (!q) return [...list];
  const rank = (name: string): number => {
    const n = fold(name);
    if (n.startsWith(q)) return 0;
    if (n.split(/\s+/).some((w) => w.startsWith(q))) return 1;
    return n.includes(q) ? 2 : -1;
  };
  return list
    .map((c, index) => ({ c, index, rank: rank(c.name) }))
    .filter((x) => x.rank >= 0)
    .sort((a, b) => a.rank - b.rank || a.index - b.index)
    .map((x) => x.c);
}

/** The unread count as a badge shows it, in the window's digits. */
export function badgeText(count: number): string {
  return count > 99 ? `${formatNumber(99)}+` : formatNumber(count);
}
