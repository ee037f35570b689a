/**
 * Conversations and the people in them: the list, one conversation's state, starting
 * one, groups, requests, blocking, reports, safety numbers and presence.
 */
import type { ConversationSummary } from "../bindings/ConversationSummary";
import type { ListPosition } from "../bindings/ListPosition";
import type { NotifyLevel } from "../bindings/NotifyLevel";
import type { Presence } from "../bindings/Presence";
import type { User } from "../bindings/User";

import { call } from "./call";

/**
 * A page of the conversation list, newest activity first (updated_at, then id, both
 * descending): `limit` rows (1 to 500; the core's default is 500) below `after`, the
 * place of the last row of the page before (none: from the top). A page shorter than
 * `limit` is the end of the list.
 */
export function conversations(after?: ListPosition, limit?: number): Promise<ConversationSummary[]> {
  return call("conversations", { after: after ?? null, limit: limit ?? null });
}

/** One conversation's summary; null when this device does not know it. */
export function conversation(conversationId: string): Promise<ConversationSummary | null> {
  return call("conversation", { conversationId });
}

export function markRead(conversationId: string): Promise<void> {
  return call("mark_read", { conversationId });
}

export function setTyping(conversationId: string, composing: boolean): Promise<void> {
  return call("set_typing", { conversationId, composing });
}

/** Saves the unsent text of a conversation; an empty body clears it. */
export function setDraft(conversationId: string, body: string): Promise<void> {
  return call("set_draft", { conversationId, body });
}

/**
 * Chooses what this user is told of a conversation's new messages: every one, only
 * those that mention them, or nothing. On every device of theirs; works offline (it goes
 * up on the next connect), and a `conversation` event follows with the new level.
 */
export function setNotifications(conversationId: string, level: NotifyLevel): Promise<void> {
  return call("set_notifications", { conversationId, level });
}

/** Other users whose username or display name starts with `prefix` (needs the server). */
export function findUsers(prefix: string): Promise<User[]> {
  return call("find_users", { prefix });
}

/** The direct conversation with `username`, created if there is none; its id. */
export function openDirect(username: string): Promise<string> {
  return call("open_direct", { username });
}

/** A new group; its id. */
export function createGroup(title: string, memberIds: string[]): Promise<string> {
  return call("create_group", { title, memberIds });
}

export function addMembers(conversationId: string, userIds: string[]): Promise<void> {
  return call("add_members", { conversationId, userIds });
}

export function leaveConversation(conversationId: string): Promise<void> {
  return call("leave_conversation", { conversationId });
}

/** Accepts a message request: this user may send there from now on (needs the server). */
export function acceptRequest(conversationId: string): Promise<void> {
  return call("accept_request", { conversationId });
}

/**
 * Deletes a message request on this device only: nothing is sent (it works offline) and
 * the other person is not told. The list leaves it out until they write there again.
 */
export function dismissRequest(conversationId: string): Promise<void> {
  return call("dismiss_request", { conversationId });
}

/**
 * Blocks or unblocks someone (needs the server). A block closes the direct conversation
 * with them both ways and stops new ones; unblocking opens it again.
 */
export function setBlocked(userId: string, blocked: boolean): Promise<void> {
  return call("set_blocked", { userId, blocked });
}

/** Whom this user blocked, most recent first (needs the server). */
export function blockedUsers(): Promise<User[]> {
  return call("blocked_users");
}

/**
 * Reports someone to the server's operators, naming where (a conversation, a message)
 * if known, in the user's words (`reason`, at most 1,000 characters, may be empty);
 * `block` blocks them too.
 */
export function reportUser(
  userId: string,
  conversationId: string | null,
  messageId: string | null,
  reason: string,
  block: boolean,
): Promise<void> {
  return call("report_user", { userId, conversationId, messageId, reason, block });
}

/**
 * The safety number between this user and `withUser` in an encrypted conversation: sixty
 * digits, the same on their screen while only their devices and this user's can read it.
 * Null while it has none: not encrypted yet, or a device of either not in it yet.
 */
export function safetyNumber(conversationId: string, withUser: string): Promise<string | null> {
  return call("safety_number", { conversationId, with: withUser });
}

export function presence(): Promise<Presence[]> {
  return call("presence");
}
