/**
 * `OwnAccount`: the signed-in person's own account, for the account dialog: its details
 * as the server has them (name, address and whether it is confirmed) and the devices it
 * is signed in on, read each time the dialog opens, and what the person changes there.
 * None of it is kept on this device, so every call goes to the server and fails offline;
 * each rejects with the core's error, for the dialog to show beside the form it came
 * from (which keeps what was typed). Deleting the account ends the session here as
 * signing out does.
 */
import * as backend from "../backend";
import type { Account } from "../bindings/Account";
import type { SessionInfo } from "../bindings/SessionInfo";
import type { Notice } from "./notice.svelte";
import type { Session } from "./session.svelte";

export class OwnAccount {
  /** As the server last said; null until read. */
  details = $state.raw<Account | null>(null);
  /** Where the account is signed in, most recently used first; null until read. */
  sessions = $state.raw<SessionInfo[] | null>(null);

  readonly #session: Session;
  readonly #notice: Notice;

  constructor(session: Session, notice: Notice) {
    this.#session = session;
    this.#notice = notice;
    session.onEnd(() => {
      this.details = null;
      this.sessions = null;
    });
  }

  /** Reads the details and the sessions afresh (the dialog opens); rejects with the core's error. */
  async load(): Promise<void> {
    const epoch = this.#session.epoch;
    this.details = null;
    this.sessions = null;
    const [details, sessions] = await Promise.all([backend.accountDetails(), backend.accountSessions()]);
    if (epoch !== this.#session.epoch) return;
    this.details = details;
    this.sessions = sessions;
  }

  /** Changes the name others see (trimmed, as the server keeps it); rejects with the core's error. */
  async rename(displayName: string): Promise<void> {
    const epoch = this.#session.epoch;
    const user = await backend.rename(displayName.trim());
    if (epoch !== this.#session.epoch) return;
    // The `profile` event says so too, a moment later; the header shows it at once.
    this.#session.me = user;
    if (this.details) this.details = { ...this.details, user };
  }

  /**
   * Changes the password, given the current one (a wrong one rejects with
   * `invalid_credentials`). Unless `keepOtherSessions`, the server ends every session but
   * this one, so the list keeps only this device.
   */
  async changePassword(currentPassword: string, newPassword: string, keepOtherSessions: boolean): Promise<void> {
    const epoch = this.#session.epoch;
    await backend.changePassword(currentPassword, newPassword, keepOtherSessions);
    if (epoch !== this.#session.epoch || keepOtherSessions || !this.sessions) return;
    this.sessions = this.sessions.filter((s) => s.current);
  }

  /** Sets a new address (unconfirmed until its mailed code comes back); takes the password. */
  setEmail(email: string, password: string): Promise<void> {
    return this.#putEmail(email.trim(), password);
  }

  /** Removes the address; takes the password. */
  removeEmail(password: string): Promise<void> {
    return this.#putEmail(null, password);
  }

  /** Confirms the address with the code mailed to it; rejects with the core's error. */
  async verifyEmail(code: string): Promise<void> {
    const epoch = this.#session.epoch;
    await backend.verifyEmail(code.trim());
    if (epoch !== this.#session.epoch || !this.details) return;
    this.details = { ...this.details, email_verified: true };
  }

  /** Turns missed-message mail on or off; rejects with the core's error. */
  async setMissedMessageMail(on: boolean): Promise<void> {
    const epoch = this.#session.epoch;
    const details = await backend.setMissedMessageMail(on);
    if (epoch !== this.#session.epoch) return;
    this.details = details;
  }

  /** Signs another device out; it leaves the list. Rejects with the core's error. */
  async endSession(sessionId: string): Promise<void> {
    const epoch = this.#session.epoch;
    await backend.endSession(sessionId);
    if (epoch !== this.#session.epoch || !this.sessions) return;
    this.sessions = this.sessions.filter((s) => s.id !== sessionId);
  }

  /**
   * Deletes the account for good, with its password (rejects with the core's error if
   * refused). The core has signed this device out by then; here the session ends as a
   * sign-out ends it, and the notice says the account is gone.
   */
  async deleteAccount(password: string): Promise<void> {
    await backend.deleteAccount(password);
    this.#session.forgetAccount();
    this.#notice.say("Your account is deleted; its messages are being erased for everyone.");
  }

  async #putEmail(email: string | null, password: string): Promise<void> {
    const epoch = this.#session.epoch;
    const details = await backend.setEmail(email, password);
    if (epoch !== this.#session.epoch) return;
    this.details = details;
  }
}
