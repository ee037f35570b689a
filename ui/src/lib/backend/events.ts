/**
 * The core's events, the shell's requests to open a conversation, and links opened in
 * the system browser.
 */
import { listen } from "@tauri-apps/api/event";
import { openUrl as openInBrowser } from "@tauri-apps/plugin-opener";

import type { CommandError } from "../bindings/CommandError";
import type { UiEvent } from "../bindings/UiEvent";

import { toCommandError, EVENT_NAME } from "./call";
import { m } from "../paraglide/messages.js";

/** Calls `handler` for every core event; resolves to a function that stops listening. */
export function onEvent(handler: (event: UiEvent) => void): Promise<() => void> {
  return listen<UiEvent>(EVENT_NAME, (e) => handler(e.payload));
}

/** The name under which the shell asks to open a conversation (a notification was clicked). */
export const OPEN_EVENT_NAME = "ferry://open";

/** Calls `handler` with the conversation id whenever the shell asks to open one. */
export function onOpenRequest(handler: (conversationId: string) => void): Promise<() => void> {
  return listen<string>(OPEN_EVENT_NAME, (e) => handler(e.payload));
}

/** Opens an http(s) link in the system browser; anything else is refused. */
export async function openUrl(url: string): Promise<void> {
  const parsed = new URL(url);
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw { kind: "invalid_request", message: m.link_not_web({ url }) } satisfies CommandError;
  }
  try {
    await openInBrowser(parsed.href);
  } catch (e) {
    throw toCommandError(e);
  }
}
