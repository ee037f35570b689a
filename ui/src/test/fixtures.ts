// Test data shaped exactly like what the core sends (the generated binding types), and a
// mocked core: Tauri's IPC mock answering commands from a table and recording every call.
import { mockIPC, mockWindows } from "@tauri-apps/api/mocks";
import { emit } from "@tauri-apps/api/event";
import type { Account } from "../lib/bindings/Account";
import type { AppSettings } from "../lib/bindings/AppSettings";
import type { AvailableUpdate } from "../lib/bindings/AvailableUpdate";
import type { ConnectionState } from "../lib/bindings/ConnectionState";
import type { ConversationSummary } from "../lib/bindings/ConversationSummary";
import type { HistoryRequest } from "../lib/bindings/HistoryRequest";
import type { ListPosition } from "../lib/bindings/ListPosition";
import type { LocalAttachment } from "../lib/bindings/LocalAttachment";
import type { LocalMessage } from "../lib/bindings/LocalMessage";
import type { MemberView } from "../lib/bindings/MemberView";
import type { SessionInfo } from "../lib/bindings/SessionInfo";
import type { UiEvent } from "../lib/bindings/UiEvent";
import type { User } from "../lib/bindings/User";
import { DEFAULT_APP_SETTINGS } from "../lib/chat/settings.svelte";
import { languageChoice } from "../lib/i18n.svelte";

export const ME: User = {
  id: "00000000-0000-7000-8000-000000000001",
  username: "me",
  display_name: "Morgan Me",
  created_at: "2024-01-01T00:00:00.000Z",
};

let counter = 100;
function nextId(): string {
  counter += 1;
  return `00000000-0000-7000-8000-${String(counter).padStart(12, "0")}`;
}

export function user(display_name: string, username = display_name.toLowerCase().split(" ")[0]!): User {
  return { id: nextId(), username, display_name, created_at: "2024-01-01T00:00:00.000Z" };
}

export function member(u: User, extra: Partial<MemberView> = {}): MemberView {
  return { user: u, role: "member", read_seq: 0, delivered_seq: 0, online: false, state: "accepted", ...extra };
}

/** An ISO time `minutesAgo` minutes before now. */
export function ago(minutes: number): string {
  return new Date(Date.now() - minutes * 60_000).toISOString();
}

/** The signed-in account as the server has it: `ME`, no address unless `extra` gives one. */
export function account(extra: Partial<Account> = {}): Account {
  return {
    user: ME,
    email: null,
    email_verified: false,
    admin: false,
    settings: { missed_message_mail: true },
    ...extra,
  };
}

/** A place the account is signed in: another device, used 5 minutes ago, unless `extra` says otherwise. */
export function sessionInfo(extra: Partial<SessionInfo> = {}): SessionInfo {
  return {
    id: nextId(),
    device_name: "Linux · morgan-desk",
    created_at: ago(60 * 24 * 30),
    last_used_at: ago(5),
    last_place: "192.0.2.10",
    current: false,
    ...extra,
  };
}

/** Another device of this user asking for this one's history, a minute ago, unless `extra` says otherwise. */
export function historyRequest(extra: Partial<HistoryRequest> = {}): HistoryRequest {
  return { session_id: nextId(), asked_at: ago(1), ...extra };
}

export function message(extra: Partial<LocalMessage> = {}): LocalMessage {
  return {
    id: nextId(),
    conversation_id: "c",
    seq: 1,
    sender_id: ME.id,
    body: "hello",
    created_at: ago(5),
    mine: true,
    status: "sent",
    error: null,
    reply_to: null,
    quote: null,
    edited: false,
    deleted: false,
    removed_by_operator: false,
    unreadable: false,
    reactions: [],
    attachments: [],
    ...extra,
  };
}

/** One file of a message: a sent, not yet downloaded PDF unless `extra` says otherwise. */
export function attachment(extra: Partial<LocalAttachment> = {}): LocalAttachment {
  return {
    index: 0,
    id: nextId(),
    name: "report.pdf",
    size: 48_213,
    content_type: "application/pdf",
    width: null,
    height: null,
    has_preview: false,
    uploaded: null,
    downloaded: false,
    ...extra,
  };
}

/** An image with a preview, of `width` × `height` pixels. */
export function image(extra: Partial<LocalAttachment> = {}): LocalAttachment {
  return attachment({
    name: "harbour.jpg",
    size: 2_400_000,
    content_type: "image/jpeg",
    width: 1600,
    height: 1200,
    has_preview: true,
    ...extra,
  });
}

export function direct(other: User, extra: Partial<ConversationSummary> = {}): ConversationSummary {
  return {
    id: nextId(),
    kind: "direct",
    name: other.display_name,
    members: [member(ME), member(other)],
    last_seq: 0,
    last_message: null,
    unread_count: 0,
    updated_at: ago(60),
    left: false,
    request: false,
    blocked: false,
    dismissed: false,
    notify: "all",
    unread_mentions: 0,
    draft: null,
    typing: [],
    encrypted: false,
    devices_changed: [],
    joining: false,
    without_keys: [],
    ...extra,
  };
}

export function group(
  name: string,
  others: User[],
  extra: Partial<ConversationSummary> = {},
): ConversationSummary {
  return {
    ...direct(others[0] ?? ME),
    kind: "group",
    name,
    members: [member(ME, { role: "owner" }), ...others.map((u) => member(u))],
    ...extra,
  };
}

/**
 * Sixty digits standing for the safety number between two users, the same either way
 * round as the core's is on both their screens: made up here from their ids.
 */
export function safetyDigits(a: string, b: string): string {
  let hash = 0x811c9dc5;
  for (const char of [a, b].sort().join("/")) hash = Math.imul(hash ^ char.charCodeAt(0), 0x01000193) >>> 0;
  let digits = "";
  while (digits.length < 60) {
    hash = (Math.imul(hash, 1664525) + 1013904223) >>> 0;
    digits += String((hash >>> 16) % 10);
  }
  return digits;
}

/**
 * What the core's `conversations` command answers from `list`: its rows in the store's
 * order (`ORDER BY updated_at DESC, id DESC`, written out here apart from the UI's own
 * sort so that a test compares the two), `limit` (default and most 500) of them below
 * `after`.
 */
export function listPage(
  list: readonly ConversationSummary[],
  args: Record<string, unknown>,
): ConversationSummary[] {
  const key = (c: ListPosition): [number, string] => [Date.parse(c.updated_at), c.id];
  const below = (a: [number, string], b: [number, string]) => a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]);
  const after = args.after as ListPosition | null | undefined;
  const limit = Math.min(500, Math.max(1, (args.limit as number | null | undefined) ?? 500));
  return [...list]
    .sort((a, b) => (below(key(a), key(b)) ? 1 : below(key(b), key(a)) ? -1 : 0))
    .filter((c) => !after || below(key(c), key(after)))
    .slice(0, limit);
}

export type Handlers = Record<string, (args: Record<string, unknown>) => unknown>;

export interface Call {
  cmd: string;
  args: Record<string, unknown>;
}

/**
 * The app's settings as a shell keeps them: stored whole, answered back. The language
 * starts as the i18n module's own choice, as if it had been chosen in Settings.
 */
function appSettingsStore(): Handlers {
  let stored: AppSettings = { ...DEFAULT_APP_SETTINGS, language: languageChoice() };
  return {
    app_settings: () => stored,
    set_app_settings: (args) => (stored = args.settings as AppSettings),
  };
}

/** An update the feed offers: 0.2.0 over 0.1.0, with notes of two lines, unless `extra` says otherwise. */
export function availableUpdate(extra: Partial<AvailableUpdate> = {}): AvailableUpdate {
  return {
    version: "0.2.0",
    current_version: "0.1.0",
    notes: "Starts faster.\nThe tray icon follows the theme.",
    date: "2026-03-03T12:00:00Z",
    ...extra,
  };
}

/** A shell at version 0.1.0 whose update feed offers nothing newer. */
function upToDateShell(): Handlers {
  return {
    app_version: () => "0.1.0",
    check_for_update: () => null,
  };
}

/**
 * The asks of this user's other devices for this device's history, as the core keeps
 * them: `requests`, oldest first. Sending this device's history (`entries` of them) or
 * dismissing an ask drops it, and the core says so with a `history_requests` event; an
 * ask not held is refused in the core's words. Asking for history again asks the
 * `devices` other devices signed in (one, unless told otherwise).
 */
export function historyAsks(requests: HistoryRequest[] = [], entries = 0, devices = 1): Handlers {
  let held = [...requests];
  const drop = (sessionId: unknown) => {
    const found = held.some((r) => r.session_id === sessionId);
    held = held.filter((r) => r.session_id !== sessionId);
    if (found) void coreEmits({ type: "history_requests", requests: held });
    return found;
  };
  return {
    history_requests: () => held,
    send_history: (args) => {
      if (!drop(args.sessionId)) {
        throw { kind: "invalid_request", message: "no device of yours asked this one for its history with that id" };
      }
      return entries;
    },
    dismiss_history_request: (args) => drop(args.sessionId),
    ask_for_history: () => devices,
  };
}

/**
 * Installs the mocked core; unknown commands answer null (like a unit-returning
 * command), except the app's settings, which it keeps (`appSettingsStore`), its version
 * and update feed (`upToDateShell`) and the asks for this device's history, none
 * (`historyAsks`), unless `handlers` say otherwise.
 */
export function mockCore(handlers: Handlers = {}) {
  const calls: Call[] = [];
  const answers = { ...appSettingsStore(), ...upToDateShell(), ...historyAsks(), ...handlers };
  mockWindows("main");
  mockIPC(
    (cmd, payload) => {
      const args = (payload ?? {}) as Record<string, unknown>;
      calls.push({ cmd, args });
      const handler = answers[cmd];
      return handler ? handler(args) : null;
    },
    { shouldMockEvents: true },
  );
  return {
    calls,
    /** The arguments of every call of `cmd`, in order. */
    argsOf: (cmd: string) => calls.filter((c) => c.cmd === cmd).map((c) => c.args),
    count: (cmd: string) => calls.filter((c) => c.cmd === cmd).length,
  };
}

/** The core emitting one of its events to the window. */
export function coreEmits(event: UiEvent): Promise<void> {
  return emit("ferry://event", event);
}

export function connectionEvent(state: ConnectionState): Promise<void> {
  return coreEmits({ type: "connection", state });
}
