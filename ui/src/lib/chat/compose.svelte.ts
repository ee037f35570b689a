/**
 * `Compose`: what this user writes in the open conversation: a message, a reply (the
 * message it answers is marked in `replyingTo` until it is sent), an edit in place
 * (`editing`), a deletion, a reaction, and the retry or discard of a message that did
 * not go. Each shows at once: the core answers with the message as stored, and the
 * thread puts it in place; its event may come first, and either puts it there once.
 *
 * Only what this user may do (`../changes`, from the thread's `standing`) is done. The
 * marks follow the thread: they go when it closes, and a change to the marked message
 * (deleted, say, by another device) is taken in as the thread hears it.
 */
import * as backend from "../backend";
import type { LocalMessage } from "../bindings/LocalMessage";
import { actionsFor, editChange, lastEditable, type MessageActions } from "../changes";
import type { Notice } from "./notice.svelte";
import type { OpenThread } from "./thread.svelte";

export class Compose {
  /** The message the next one sent answers (the composer shows it above the input). */
  replyingTo = $state.raw<LocalMessage | null>(null);
  /** The id of the message whose text is being edited in place. */
  editing = $state<string | null>(null);

  readonly #thread: OpenThread;
  readonly #notice: Notice;

  constructor(thread: OpenThread, notice: Notice) {
    this.#thread = thread;
    this.#notice = notice;
    thread.onClose(() => {
      this.replyingTo = null;
      this.editing = null;
    });
    thread.onChange((message) => {
      if (this.replyingTo?.id === message.id) this.replyingTo = message.deleted ? null : message;
      if (this.editing === message.id && message.deleted) this.editing = null;
    });
  }

  /**
   * Sends `body` in the open conversation, as a reply to `replyingTo` if there is one
   * (then no more); it shows at once as pending.
   */
  async send(body: string): Promise<boolean> {
    const id = this.#thread.openId;
    if (!id || !body.trim()) return false;
    const target = this.replyTarget(id);
    try {
      const message = await backend.sendMessage(id, body, target?.id ?? null);
      // The core's event for it may have come first; either puts it in place once.
      if (this.#thread.openId === id) this.#thread.put(message);
    } catch (e) {
      // Nothing is lost: the composer gets the text back, and the reply keeps its target.
      this.#notice.show(e);
      return false;
    }
    this.replied(target);
    return true;
  }

  /** What a message sent now in conversation `id` answers, if anything. */
  replyTarget(id: string): LocalMessage | null {
    return this.replyingTo?.conversation_id === id ? this.replyingTo : null;
  }

  /** A reply to `target` was sent: the composer answers nothing more (unless re-aimed since). */
  replied(target: LocalMessage | null): void {
    if (target && this.replyingTo === target) this.replyingTo = null;
  }

  /** The user is composing in a conversation, or stopped. */
  setTyping(conversationId: string, composing: boolean): Promise<void> {
    return backend.setTyping(conversationId, composing);
  }

  /** The next message sent answers `message` (of the open conversation). */
  startReply(message: LocalMessage): void {
    if (!this.#may(message, "reply")) return;
    this.replyingTo = message;
  }

  cancelReply(): void {
    this.replyingTo = null;
  }

  /** Edits `message` in place (only this user's own, not deleted). */
  startEdit(message: LocalMessage): void {
    if (!this.#may(message, "edit")) return;
    this.editing = message.id;
  }

  /**
   * Up arrow in an empty composer: edits this user's newest message in the loaded
   * thread. False when there is none (the key then does what it usually does).
   */
  editLast(): boolean {
    const message = lastEditable(this.#thread.messages, this.#thread.standing);
    if (!message) return false;
    this.editing = message.id;
    return true;
  }

  cancelEdit(): void {
    this.editing = null;
  }

  /**
   * Saves the message being edited with the text `body`. True once the edit is over:
   * saved, or nothing to save (the same text). False while it goes on: a blank text (a
   * message is deleted, not emptied) or a failure (shown; the text stays to try again).
   */
  async saveEdit(body: string): Promise<boolean> {
    const message = this.#thread.messages.find((m) => m.id === this.editing);
    if (!message) {
      this.editing = null;
      return true;
    }
    const change = editChange(message.body, body);
    if (change === "blank") return false;
    if (change === "changed") {
      try {
        this.#thread.putChange(await backend.editMessage(message.id, body.trim()));
      } catch (e) {
        this.#notice.show(e);
        return false;
      }
    }
    if (this.editing === message.id) this.editing = null;
    return true;
  }

  /**
   * Deletes `message` for everyone: this user's own, or anyone's where this user owns the
   * group. One never sent is simply gone; a sent one shows as deleted.
   */
  async deleteMessage(message: LocalMessage): Promise<void> {
    if (!this.#may(message, "delete")) return;
    let now: LocalMessage | null;
    try {
      now = await backend.deleteMessage(message.id);
    } catch (e) {
      this.#notice.show(e);
      return;
    }
    if (now) {
      this.#thread.putChange(now);
      return;
    }
    this.#thread.deleted(message.id);
    if (this.replyingTo?.id === message.id) this.replyingTo = null;
    if (this.editing === message.id) this.editing = null;
  }

  /** Adds `emoji` to `message`, or takes this user's back if it is there. */
  async toggleReaction(message: LocalMessage, emoji: string): Promise<void> {
    if (!this.#may(message, "react")) return;
    try {
      this.#thread.putChange(await backend.react(message.id, emoji));
    } catch (e) {
      this.#notice.show(e);
    }
  }

  /** Puts a failed message back in the outbox (its event shows it pending again). */
  async retry(messageId: string): Promise<void> {
    await this.#notice.run(backend.retryMessage(messageId));
  }

  /** Deletes an unsent message (the conversation's new summary comes as an event). */
  async discard(messageId: string): Promise<void> {
    if (await this.#notice.run(backend.discardMessage(messageId))) this.#thread.drop(messageId);
  }

  /** `message` is of the open conversation, and this user may do `action` to it. */
  #may(message: LocalMessage, action: keyof MessageActions): boolean {
    return message.conversation_id === this.#thread.openId && actionsFor(message, this.#thread.standing)[action];
  }
}
