/**
 * `OwnAccount`: the signed-in person's own account, for the account dialog: its details
 * as the server has them (name, picture, address and whether it is confirmed) and the
 * devices it is signed in on, read each time the dialog opens, and what the person
 * changes there. None of it is kept on this device, so every call goes to the server and
 * fails offline; each rejects with the core's error, for the dialog to show beside the
 * form it came from (which keeps what was typed). Deleting the account ends the session
 * here as signing out does.
 *
 * The data export is the exception: it is held here (`dataExport`), fed by the core's
 * `export_progress` events, because a large archive goes on downloading when the dialog
 * is closed, and the dialog opened again shows where it got, or how it ended. So is a
 * change of the profile picture (`pictureChange`), for the same reason on a smaller
 * scale: an image takes a moment to upload, and the dialog opened again meanwhile shows
 * it still saving, or why it failed.
 */
import * as backend from "../backend";
import type { Account } from "../bindings/Account";
import type { SessionInfo } from "../bindings/SessionInfo";
import type { User } from "../bindings/User";
import { exportFileName } from "../export";
import { m } from "../paraglide/messages.js";
import { errorMessage, type Notice } from "./notice.svelte";
import type { Session } from "./session.svelte";

/**
 * The person's data export: being saved to `path` (`received` bytes of `total`, which
 * is 0 while unknown), saved there (`size` bytes), or failed (the core's words).
 */
export type DataExport =
  | { state: "saving"; path: string; received: number; total: number }
  | { state: "saved"; path: string; size: number }
  | { state: "failed"; error: string };

/**
 * A change of the person's picture: being saved, saved (`removed` when it was taken
 * away), or failed (the core's words).
 */
export type PictureChange =
  | { state: "saving" }
  | { state: "saved"; removed: boolean }
  | { state: "failed"; error: string };

export class OwnAccount {
  /** As the server last said; null until read. */
  details = $state.raw<Account | null>(null);
  /** Where the account is signed in, most recently used first; null until read. */
  sessions = $state.raw<SessionInfo[] | null>(null);
  /** The export under way, or how the last one ended; null before any since signing in. */
  dataExport = $state.raw<DataExport | null>(null);
  /** The picture being set or removed, or how the last change ended; null before any. */
  pictureChange = $state.raw<PictureChange | null>(null);

  readonly #session: Session;
  readonly #notice: Notice;

  constructor(session: Session, notice: Notice) {
    this.#session = session;
    this.#notice = notice;
    session.onEnd(() => {
      this.details = null;
      this.sessions = null;
      this.dataExport = null;
      this.pictureChange = null;
    });
  }

  /** An export is being saved: another waits until it ends. */
  get exporting(): boolean {
    return this.dataExport?.state === "saving";
  }

  /** A picture is being set or removed: another change waits until it ends. */
  get savingPicture(): boolean {
    return this.pictureChange?.state === "saving";
  }

  /** Reads the details and the sessions afresh (the dialog opens); rejects with the core's error. */
  async load(): Promise<void> {
    const epoch = this.#session.epoch;
    this.details = null;
    this.sessions = null;
    // A saved picture shows for itself; a failure stays, as the person may not have seen it.
    if (this.pictureChange?.state === "saved") this.pictureChange = null;
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
    this.#adopt(user);
  }

  /**
   * Asks for an image (the system's file dialog, images only) and makes it the person's
   * picture. A cancelled dialog changes nothing. Never rejects: how it went is kept in
   * `pictureChange`, for the dialog to show.
   */
  async choosePicture(): Promise<void> {
    if (!this.#session.me || this.savingPicture) return;
    const epoch = this.#session.epoch;
    let path: string | null;
    try {
      path = await backend.pickPicture();
    } catch (e) {
      if (epoch === this.#session.epoch) this.pictureChange = { state: "failed", error: errorMessage(e) };
      return;
    }
    // A second click could have started one while the dialog was up.
    if (!path || epoch !== this.#session.epoch || this.savingPicture) return;
    await this.#changePicture(() => backend.setPicture(path), false);
  }

  /** Removes the person's picture (their initials show again); never rejects, like `choosePicture`. */
  async removePicture(): Promise<void> {
    if (!this.#session.me || this.savingPicture) return;
    await this.#changePicture(() => backend.removePicture(), true);
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
    this.#notice.say(m.account_deleted_notice());
  }

  /**
   * Exports everything the server holds about the person: asks where to save it (a tar
   * archive, proposed as `ferry-export-<username>-<day>.tar`), then has the core download
   * it there while `dataExport` follows. A cancelled dialog changes nothing. Never
   * rejects: a failure is kept in `dataExport`, for the dialog to show.
   */
  async exportData(): Promise<void> {
    const me = this.#session.me;
    if (!me || this.exporting) return;
    const epoch = this.#session.epoch;
    let path: string | null;
    try {
      path = await backend.pickExportPath(exportFileName(me.username));
    } catch (e) {
      if (epoch === this.#session.epoch) this.dataExport = { state: "failed", error: errorMessage(e) };
      return;
    }
    // A second click could have started one while the dialog was up.
    if (!path || epoch !== this.#session.epoch || this.exporting) return;
    this.dataExport = { state: "saving", path, received: 0, total: 0 };
    try {
      const size = await backend.exportAccount(path);
      if (epoch === this.#session.epoch) this.dataExport = { state: "saved", path, size };
    } catch (e) {
      if (epoch === this.#session.epoch) this.dataExport = { state: "failed", error: errorMessage(e) };
    }
  }

  /** The core's `export_progress`: how much of the archive is saved. */
  heardExportProgress(received: number, total: number): void {
    if (this.dataExport?.state !== "saving") return;
    this.dataExport = { ...this.dataExport, received, total };
  }

  async #changePicture(change: () => Promise<User>, removed: boolean): Promise<void> {
    const epoch = this.#session.epoch;
    this.pictureChange = { state: "saving" };
    try {
      const user = await change();
      if (epoch !== this.#session.epoch) return;
      this.#adopt(user);
      this.pictureChange = { state: "saved", removed };
    } catch (e) {
      if (epoch === this.#session.epoch) this.pictureChange = { state: "failed", error: errorMessage(e) };
    }
  }

  /** The person's profile as the server answered a change of it. */
  #adopt(user: User): void {
    // The `profile` event says so too, a moment later; the header shows it at once.
    this.#session.me = user;
    if (this.details) this.details = { ...this.details, user };
  }

  async #putEmail(email: string | null, password: string): Promise<void> {
    const epoch = this.#session.epoch;
    const details = await backend.setEmail(email, password);
    if (epoch !== this.#session.epoch) return;
    this.details = details;
  }
}
