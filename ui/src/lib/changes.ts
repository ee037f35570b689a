/**
 * The rules for changing a message once it is written: which of reply, react, edit and
 * delete this user is offered on it, which message Up arrow edits, and what an edited
 * text amounts to. The server enforces its own rules; these decide what the window
 * offers, so that it never offers what the server would refuse.
 */
import type { ConversationSummary } from "./bindings/ConversationSummary";
import type { LocalMessage } from "./bindings/LocalMessage";
import { whyClosed } from "./requests";

/** Where this user stands in a conversation, as far as changing its messages goes. */
export interface Standing {
  /**
   * May write there: one who left, or who has not accepted a message request, or who
   * blocked the other person, reads the history but changes nothing in it.
   */
  member: boolean;
  /** May delete other people's messages: the owner of a group. */
  moderator: boolean;
}

/** A conversation closed to this user (see `./requests`), or one the window knows nothing about. */
export const READ_ONLY: Standing = { member: false, moderator: false };

export function standingIn(conversation: ConversationSummary, meId: string): Standing {
  if (whyClosed(conversation)) return READ_ONLY;
  const role = conversation.members.find((m) => m.user.id === meId)?.role;
  return { member: true, moderator: conversation.kind === "group" && role === "owner" };
}

/** What this user is offered on one message. */
export interface MessageActions {
  reply: boolean;
  react: boolean;
  edit: boolean;
  delete: boolean;
}

export const NO_ACTIONS: MessageActions = { reply: false, react: false, edit: false, delete: false };

/**
 * What this user is offered on `message`. A deleted message takes nothing more. A failed
 * one was never seen by anyone: its own Retry and Delete are all it offers. Only the
 * author edits, and not one this device cannot read (sealed before it joined: there is
 * no text to start from); the author deletes, and so does a group's owner (moderation).
 */
export function actionsFor(message: LocalMessage, standing: Standing): MessageActions {
  if (!standing.member || message.deleted || message.status === "failed") return NO_ACTIONS;
  return {
    reply: true,
    react: true,
    edit: message.mine && !message.unreadable,
    delete: message.mine || standing.moderator,
  };
}

/**
 * The message Up arrow in an empty composer edits (as in Slack and Element): this user's
 * newest one that can be edited, or null.
 */
export function lastEditable(thread: readonly LocalMessage[], standing: Standing): LocalMessage | null {
  for (let i = thread.length - 1; i >= 0; i--) {
    const message = thread[i]!;
    if (actionsFor(message, standing).edit) return message;
  }
  return null;
}

/**
 * What saving `text` over a message's `body` amounts to: nothing to send when it is the
 * same (edges of blank space aside), a refusal when it is blank (a message is deleted,
 * not emptied), else a change.
 */
export function editChange(body: string, text: string): "unchanged" | "blank" | "changed" {
  const next = text.trim();
  if (!next) return "blank";
  return next === body.trim() ? "unchanged" : "changed";
}
