/**
 * `Safety`: what this user does about other people: answering a message request
 * (accept, or delete it on this device), blocking and unblocking, reporting to the
 * server's operators. Each changes how a conversation shows, so each re-reads the row it
 * changed into the list (a block: the direct chat with that person, if held); the
 * composer or the request's panel follows from the row. And the safety number with
 * someone, which changes nothing: it is read to compare with the one on their screen.
 */
import * as backend from "../backend";
import type { User } from "../bindings/User";
import type { Conversations } from "./list.svelte";
import type { Notice } from "./notice.svelte";

export class Safety {
  readonly #list: Conversations;
  readonly #notice: Notice;

  constructor(list: Conversations, notice: Notice) {
    this.#list = list;
    this.#notice = notice;
  }

  /** Accepts a message request; its summary then says so, and the composer shows. */
  async acceptRequest(conversationId: string): Promise<void> {
    await this.#notice.run(backend.acceptRequest(conversationId));
    await this.#list.load(conversationId);
  }

  /**
   * Deletes a message request on this device only (nothing is sent, so it works
   * offline). Its summary then says so: it leaves the list, and closes if it was open,
   * until the stranger writes again.
   */
  async dismissRequest(conversationId: string): Promise<void> {
    await this.#notice.run(backend.dismissRequest(conversationId));
    await this.#list.load(conversationId);
  }

  /** Whom this user blocked, most recent first (needs the server). */
  blocked(): Promise<User[]> {
    return backend.blockedUsers();
  }

  /** Blocks or unblocks `userId`; the direct chat with them says so once re-read. */
  async setBlocked(userId: string, blocked: boolean): Promise<void> {
    await this.#notice.run(backend.setBlocked(userId, blocked));
    await this.#loadDirectWith(userId);
  }

  /**
   * Reports `userId` to the server's operators, naming `conversationId`, in the user's
   * words (may be empty); `block` blocks them too. Rejects with the core's error.
   */
  async report(userId: string, conversationId: string | null, reason: string, block: boolean): Promise<void> {
    await backend.reportUser(userId, conversationId, null, reason.trim(), block);
    if (block) await this.#loadDirectWith(userId);
  }

  /**
   * The sixty digits to compare with those on `userId`'s screen in an encrypted
   * conversation; null while it has none. Rejects with the core's error.
   */
  safetyNumber(conversationId: string, userId: string): Promise<string | null> {
    return backend.safetyNumber(conversationId, userId);
  }

  /** Re-reads the held direct chat with `userId`, if any (a block changed it). */
  async #loadDirectWith(userId: string): Promise<void> {
    const direct = this.#list.conversations.find(
      (c) => c.kind === "direct" && c.members.some((m) => m.user.id === userId),
    );
    if (direct) await this.#list.load(direct.id);
  }
}
