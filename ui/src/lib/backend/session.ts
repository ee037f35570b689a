/** Signing in and out, the connection, and what the window shows. */
import type { SessionView } from "../bindings/SessionView";
import type { User } from "../bindings/User";

import { call } from "./call";

/** Who is signed in (resumed silently at start) and the connection state. */
export function session(): Promise<SessionView> {
  return call("session");
}

/** `allowPlainHttp`: the user agreed to send the password over plain http to another
 * machine (the core refuses otherwise). */
export function signIn(serverUrl: string, username: string, password: string, allowPlainHttp = false): Promise<User> {
  return call("sign_in", { serverUrl, username, password, allowPlainHttp });
}

export function signUp(
  serverUrl: string,
  username: string,
  password: string,
  displayName: string,
  allowPlainHttp = false,
): Promise<User> {
  return call("sign_up", { serverUrl, username, password, displayName, allowPlainHttp });
}

export function signOut(): Promise<void> {
  return call("sign_out");
}

/** Skips the reconnect wait. */
export function reconnectNow(): Promise<void> {
  return call("reconnect_now");
}

/** What the window shows, for notifications and marking the open conversation read. */
export function setAttention(focused: boolean, openConversation: string | null): Promise<void> {
  return call("set_attention", { focused, openConversation });
}

/**
 * The window has painted its first conversation list: the shell logs the time since the
 * process started (the cold-start benchmark reads it). Older shells lack the command.
 */
export function firstPaint(): Promise<void> {
  return call("first_paint");
}
