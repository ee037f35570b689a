/**
 * The account on the server: profile, password, address, mail, devices, export and
 * deletion. These go to the server (nothing about an account changes offline), so they
 * fail while offline, the error saying so.
 */
import { save as saveDialog } from "@tauri-apps/plugin-dialog";

import type { Account } from "../bindings/Account";
import type { SessionInfo } from "../bindings/SessionInfo";
import type { User } from "../bindings/User";

import { call, toCommandError } from "./call";
import { m } from "../paraglide/messages.js";

/** The signed-in account as the server has it: profile, address (confirmed or not), settings. */
export function accountDetails(): Promise<Account> {
  return call("account_details");
}

/** Changes the name others see; a `profile` event follows, on every device. */
export function rename(displayName: string): Promise<User> {
  return call("rename", { displayName });
}

/**
 * Makes the image at `path` this person's profile picture (the server keeps its middle
 * square, small); a `profile` event follows, on every device. A file that is not an
 * image is refused, with the core's words.
 */
export function setPicture(path: string): Promise<User> {
  return call("set_picture", { path });
}

/** Removes this person's profile picture; a `profile` event follows. */
export function removePicture(): Promise<User> {
  return call("remove_picture");
}

/** A wrong `currentPassword` is `invalid_credentials`; other devices are signed out unless kept. */
export function changePassword(
  currentPassword: string,
  newPassword: string,
  keepOtherSessions: boolean,
): Promise<void> {
  return call("change_password", { currentPassword, newPassword, keepOtherSessions });
}

/**
 * Sets the address (unconfirmed until the code mailed to it comes back), or removes it
 * (`email` null); either takes the password. A server without mail refuses an address.
 */
export function setEmail(email: string | null, password: string): Promise<Account> {
  return call("set_email", { email, password });
}

/** Confirms the address with the code mailed to it. */
export function verifyEmail(code: string): Promise<void> {
  return call("verify_email", { code });
}

/** Turns missed-message mail on or off (unread direct messages mailed when no device is online). */
export function setMissedMessageMail(on: boolean): Promise<Account> {
  return call("set_missed_message_mail", { on });
}

/**
 * Until when no device of this user notifies of anything (null: do-not-disturb is off),
 * as this device knows it; works offline.
 */
export function doNotDisturb(): Promise<string | null> {
  return call("do_not_disturb");
}

/**
 * Pauses every notification on every device of this user until `until`, or turns that
 * off (null). Unlike the rest of the account it works offline (it goes up on the next
 * connect); a `do_not_disturb` event follows, here and on the other devices.
 */
export function setDoNotDisturb(until: string | null): Promise<void> {
  return call("set_do_not_disturb", { until });
}

/** Where the account is signed in, most recently used first (this device marked `current`). */
export function accountSessions(): Promise<SessionInfo[]> {
  return call("account_sessions");
}

/** Signs another device out: its connection closes at once. */
export function endSession(sessionId: string): Promise<void> {
  return call("end_session", { sessionId });
}

/**
 * Downloads everything the server holds about this person (account, sessions, blocks,
 * conversations, every message they wrote, their files) to `path` as one tar archive;
 * `export_progress` events say how far it got. Resolves with the archive's size in bytes.
 */
export function exportAccount(path: string): Promise<number> {
  return call("export_account", { path });
}

/** Where to save the data export, from the system's save dialog (proposing `name`, a tar archive); null if cancelled. */
export async function pickExportPath(name: string): Promise<string | null> {
  try {
    return await saveDialog({ defaultPath: name, filters: [{ name: m.export_dialog_archive(), extensions: ["tar"] }] });
  } catch (e) {
    throw toCommandError(e);
  }
}

/** Deletes the account for good, with its password; this device is signed out. */
export function deleteAccount(password: string): Promise<void> {
  return call("delete_account", { password });
}

/**
 * Asks `serverUrl` to mail a reset code to the account `login` names (a username or a
 * confirmed address); it answers the same whether or not there is one. Needs no session.
 */
export function forgotPassword(serverUrl: string, login: string, allowPlainHttp = false): Promise<void> {
  return call("forgot_password", { serverUrl, login, allowPlainHttp });
}

/** Sets a new password with a mailed code; every device of the account is signed out. */
export function resetPassword(
  serverUrl: string,
  code: string,
  newPassword: string,
  allowPlainHttp = false,
): Promise<void> {
  return call("reset_password", { serverUrl, code, newPassword, allowPlainHttp });
}
