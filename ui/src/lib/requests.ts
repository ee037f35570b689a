/**
 * Message requests and blocks, as the window reads them: what stands between this user
 * and writing in a conversation (they left it, it is a request they have not accepted,
 * or they blocked its other person), and whom a conversation's Block and Report act on.
 * The server enforces all of it (it refuses a send with 403); this decides what the
 * window offers instead of the composer.
 */
import type { ConversationSummary } from "./bindings/ConversationSummary";
import type { MemberView } from "./bindings/MemberView";
import { otherMember } from "./conversations";

/** Why this user cannot write in a conversation. */
export type Closed = "left" | "request" | "blocked";

/** Why this user cannot write in `conversation`, or null when they can. */
export function whyClosed(conversation: ConversationSummary): Closed | null {
  if (conversation.left) return "left";
  if (conversation.blocked) return "blocked";
  if (conversation.request) return "request";
  return null;
}

/**
 * Whom Report names in `conversation`: the other person of a direct chat, or the owner
 * of a group (who answers for it; the one who added this user is not known here). Null
 * when there is nobody else to name.
 */
export function reportable(conversation: ConversationSummary, meId: string): MemberView | null {
  if (conversation.kind === "direct") return otherMember(conversation, meId);
  return conversation.members.find((m) => m.role === "owner" && m.user.id !== meId) ?? null;
}
