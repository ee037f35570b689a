/**
 * Messages: a conversation's pages of them, sending, editing, deleting, reacting,
 * retrying or discarding a failed send, and search.
 */
import type { LocalMessage } from "../bindings/LocalMessage";
import type { SearchHit } from "../bindings/SearchHit";

import { call } from "./call";

/**
 * A page of a conversation, oldest first. With `beforeSeq` null: the latest `limit`
 * sent messages followed by every pending or failed one.
 */
export function messages(
  conversationId: string,
  beforeSeq: number | null,
  limit: number,
): Promise<LocalMessage[]> {
  return call("messages", { conversationId, beforeSeq, limit });
}

/**
 * Stores and queues a message (a reply to the message `replyTo`, if given); resolves at
 * once with its pending copy.
 */
export function sendMessage(
  conversationId: string,
  body: string,
  replyTo: string | null = null,
): Promise<LocalMessage> {
  return call("send_message", { conversationId, body, replyTo });
}

/** Replaces the text of one of this user's messages; resolves with it as it now shows. */
export function editMessage(messageId: string, body: string): Promise<LocalMessage> {
  return call("edit_message", { messageId, body });
}

/**
 * Deletes a message for everyone; resolves with it as it now shows (a placeholder), or
 * null when it was never sent and is simply gone.
 */
export function deleteMessage(messageId: string): Promise<LocalMessage | null> {
  return call("delete_message", { messageId });
}

/** Adds `emoji` to a message, or takes this user's back; resolves with it as it now shows. */
export function react(messageId: string, emoji: string): Promise<LocalMessage> {
  return call("react", { messageId, emoji });
}

export function retryMessage(messageId: string): Promise<void> {
  return call("retry_message", { messageId });
}

export function discardMessage(messageId: string): Promise<void> {
  return call("discard_message", { messageId });
}

/** Full-text search over every stored message; works offline. */
export function search(query: string, limit: number): Promise<SearchHit[]> {
  return call("search", { query, limit });
}
