/**
 * `Session`: who is signed in on this device and how the core is connected, as the core
 * last said. It is the bottom of the topic stores: the list, the open thread and files
 * read `me` from it, and each registers with `onEnd` what it forgets when the session
 * ends (signing out, the account deleted, or the core saying no one is signed in any
 * more), so that ending it is one call wherever it is noticed. For someone who cannot
 * sign in, it also asks for a password reset mail and sets a new password with its code.
 */
import * as backend from "../backend";
import type { ConnectionState } from "../bindings/ConnectionState";
import type { KnownAccount } from "../bindings/KnownAccount";
import type { User } from "../bindings/User";

export class Session {
  /** The first `session()` answered. */
  ready = $state(false);
  me = $state.raw<User | null>(null);
  /** The account used last on this device (signed in or not): what sign-in proposes. */
  lastAccount = $state.raw<KnownAccount | null>(null);
  connection = $state.raw<ConnectionState>({ state: "connecting" });

  /**
   * Whether contacts' presence means anything: it is only heard while connected, so
   * while offline the last-heard "online" may long be stale.
   */
  presenceKnown = $derived(this.connection.state === "online");

  /** Changes when the session ends, so a read that started before it is dropped. */
  #epoch = 0;
  #forgetters: (() => void)[] = [];

  get epoch(): number {
    return this.#epoch;
  }

  /** `forget` runs each time the session ends: what it held goes with it. */
  onEnd(forget: () => void): void {
    this.#forgetters.push(forget);
  }

  /** At start: who is signed in (resumed silently) and the connection state. */
  async resume(): Promise<void> {
    const view = await backend.session();
    this.me = view.user;
    this.connection = view.connection;
    this.lastAccount = view.last_account ?? null;
  }

  /**
   * After missed changes: whether someone is still signed in (if not, the session ends
   * here) and the connection state. Rejects with the core's error.
   */
  async recheck(): Promise<boolean> {
    const view = await backend.session();
    if (!view.user) {
      this.end();
      return false;
    }
    this.connection = view.connection;
    return true;
  }

  /** Signs in to an existing account; rejects with the core's error. */
  async signIn(serverUrl: string, username: string, password: string, allowPlainHttp = false): Promise<void> {
    this.#begin(serverUrl, await backend.signIn(serverUrl, username, password, allowPlainHttp));
  }

  /** Creates an account and signs in; rejects with the core's error. */
  async signUp(
    serverUrl: string,
    username: string,
    password: string,
    displayName: string,
    allowPlainHttp = false,
  ): Promise<void> {
    this.#begin(serverUrl, await backend.signUp(serverUrl, username, password, displayName, allowPlainHttp));
  }

  async signOut(): Promise<void> {
    try {
      await backend.signOut();
    } catch {
      // The session is gone here either way (the core forgets it first).
    }
    this.end();
  }

  /**
   * The account was deleted (the core signed this device out): the session ends, and
   * sign-in proposes its server but not its username, which no longer signs in.
   */
  forgetAccount(): void {
    if (this.lastAccount) this.lastAccount = { ...this.lastAccount, username: "" };
    this.end();
  }

  /**
   * Asks `serverUrl` to mail a reset code to the account `login` names (a username or a
   * confirmed address); the answer is the same whether or not there is one. Rejects with
   * the core's error (a server without mail says so).
   */
  forgotPassword(serverUrl: string, login: string, allowPlainHttp = false): Promise<void> {
    return backend.forgotPassword(serverUrl, login.trim(), allowPlainHttp);
  }

  /**
   * Sets a new password with the code from the reset mail; every device of the account
   * is signed out, and the person signs in again with it. Rejects with the core's error.
   */
  resetPassword(serverUrl: string, code: string, newPassword: string, allowPlainHttp = false): Promise<void> {
    return backend.resetPassword(serverUrl, code.trim(), newPassword, allowPlainHttp);
  }

  /** No one is signed in any more: everything held for them is forgotten. */
  end(): void {
    this.#epoch++;
    this.me = null;
    for (const forget of this.#forgetters) forget();
  }

  /** Skips the reconnect wait ("Retry now"). */
  reconnectNow(): Promise<void> {
    return backend.reconnectNow();
  }

  #begin(serverUrl: string, user: User): void {
    this.lastAccount = { server_url: serverUrl, username: user.username };
    this.me = user;
    this.connection = { state: "connecting" };
  }
}
