// `npm run dev`, then http://localhost:5173/preview.html: the real UI against a small
// fake core (Tauri's IPC mock) with sample conversations, for working on the UI in any
// browser without the Rust side. Not part of the build. `?signed-out` starts at sign-in,
// `?offline` starts offline, `?conversations=N` adds N more conversations. Files: the
// paperclip "picks" two sample files, which upload slowly (Cancel works); pictures are
// drawn here; there is no drag and drop (the browser has no file paths). A stranger's
// message request, a group request and a blocked chat show how those look (Accept,
// Block, Unblock, Leave, Delete and Report work; a deleted request comes back when
// the stranger writes again, which here is half a minute later). The lock of the
// encrypted chat with Ada opens a made-up safety number (and her chat starts with it
// changed: the warning goes once it is looked at); Grace's device has not joined hers
// yet, so hers shows what a chat without one says. The compiler club is encrypted too:
// its Members list offers Linus's number (changed, as its warning says) and Grace's
// (none yet). Account settings work
// against a fake account whose password is "password" (any other is refused), and any
// mailed code is accepted. Ada and Grace have profile pictures (drawn here); choosing
// one's own "picks" a sample image and draws a new one, and a picture never fetched
// before cannot be had offline, as with the core. Grace mentions Morgan in the compiler
// club (an "@" badge in the list), and each conversation's bell and Settings' do not
// disturb work as the core's do. Ferry here is 0.1.0 and its feed offers 0.2.0 (`?update`
// has the "shell" find it by itself a few seconds after start, so the sidebar announces
// it; `?up-to-date` offers nothing). Installing downloads it step by step; the first try
// is refused as the shell refuses a bundle with a bad signature, the next one "starts
// again" as the new version (the page reloads). `?history` has Morgan's laptop ask for
// this device's history a few seconds after start (Send history sends it, Not now
// forgets the ask), and a little later another device's history makes Grace's message
// sealed before this device joined readable.
import { mount } from "svelte";
import { emit } from "@tauri-apps/api/event";
import { mockIPC, mockWindows } from "@tauri-apps/api/mocks";
import App from "../App.svelte";
import { quoteOf } from "../lib/chat/thread.svelte";
import "../app.css";
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
import type { Reaction } from "../lib/bindings/Reaction";
import type { SessionInfo } from "../lib/bindings/SessionInfo";
import type { UiEvent } from "../lib/bindings/UiEvent";
import type { User } from "../lib/bindings/User";
import { compareConversations, sortConversations } from "../lib/conversations";
import { safetyDigits } from "../test/fixtures";

const params = new URLSearchParams(location.search);
const minutesAgo = (m: number) => new Date(Date.now() - m * 60_000).toISOString();
let ids = 0;
const id = () => `00000000-0000-7000-8000-${String(++ids).padStart(12, "0")}`;

const person = (display_name: string): User => ({
  id: id(),
  username: display_name.split(" ")[0]!.toLowerCase(),
  display_name,
  created_at: minutesAgo(100_000),
});
const me = person("Morgan Lee");
const ada = person("Ada Lovelace");
const grace = person("Grace Hopper");
const linus = person("Linus Torvalds");
const people = [ada, grace, linus, person("Margaret Hamilton")];
/** Profile pictures by id, drawn here (the fake core has no bytes): a figure on a gradient. */
const pictures = new Map<string, string>();
function portrait(from: string, to: string): string {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="256" height="256" viewBox="0 0 256 256">
<defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="${from}"/><stop offset="1" stop-color="${to}"/></linearGradient></defs>
<rect width="256" height="256" fill="url(#g)"/><circle cx="128" cy="104" r="46" fill="#fff" fill-opacity="0.85"/>
<ellipse cx="128" cy="236" rx="84" ry="70" fill="#fff" fill-opacity="0.85"/></svg>`;
  const picture = id();
  pictures.set(picture, `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}`);
  return picture;
}
/** The pictures this "device" has fetched before: those show offline too. */
const fetchedPictures = new Set<string>();
ada.picture = portrait("#7b3fa0", "#f0a6ca");
grace.picture = portrait("#0b63c4", "#7fd1ae");
const mallory = person("Mallory Quinn");
const trent = person("Trent Oakes");
const eve = person("Eve Sharp");

const view = (
  user: User,
  online = false,
  role: MemberView["role"] = "member",
  state: MemberView["state"] = "accepted",
): MemberView => ({
  user,
  role,
  read_seq: 0,
  delivered_seq: 0,
  online,
  state,
});

function sampleFile(
  index: number,
  name: string,
  size: number,
  content_type: string,
  width: number | null = null,
  height: number | null = null,
  extra: Partial<LocalAttachment> = {},
): LocalAttachment {
  const picture = width !== null && content_type.startsWith("image/");
  return { index, id: id(), name, size, content_type, width, height, has_preview: picture, uploaded: null, downloaded: false, ...extra };
}

/** A picture drawn for a file (the fake core has no bytes): its name on a gradient. */
function drawn(a: LocalAttachment, longest: number): string {
  const scale = Math.min(1, longest / Math.max(a.width ?? 400, a.height ?? 300));
  const w = Math.round((a.width ?? 400) * scale);
  const h = Math.round((a.height ?? 300) * scale);
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}">
<defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="#0b63c4"/><stop offset="1" stop-color="#7fd1ae"/></linearGradient></defs>
<rect width="${w}" height="${h}" fill="url(#g)"/><text x="50%" y="50%" fill="#fff" font-family="sans-serif" font-size="${Math.round(h / 10)}" text-anchor="middle">${a.name}</text></svg>`;
  return `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}`;
}

interface Stored {
  summary: ConversationSummary;
  messages: LocalMessage[];
}

function conversation(
  name: string,
  members: MemberView[],
  kind: ConversationSummary["kind"],
  lines: [User, string, number, LocalMessage["status"]?][],
  extra: Partial<ConversationSummary> = {},
): Stored {
  const cid = id();
  const messages = lines.map(([from, body, ago, status], i): LocalMessage => ({
    id: id(),
    conversation_id: cid,
    seq: status === "pending" || status === "failed" ? null : i + 1,
    sender_id: from.id,
    body,
    created_at: minutesAgo(ago),
    mine: from.id === me.id,
    status: from.id === me.id ? (status ?? "read") : "sent",
    error: status === "failed" ? "the message is too long" : null,
    reply_to: null,
    quote: null,
    edited: false,
    deleted: false,
    removed_by_operator: false,
    unreadable: false,
    reactions: [],
    attachments: [],
  }));
  const sent = messages.filter((m) => m.seq !== null);
  return {
    messages,
    summary: {
      id: cid,
      kind,
      name,
      members,
      last_seq: sent.length,
      last_message: messages.at(-1) ?? null,
      unread_count: 0,
      updated_at: messages.at(-1)?.created_at ?? minutesAgo(5000),
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
    },
  };
}

const store: Stored[] = [
  conversation("Ada Lovelace", [view(me), view(ada, true)], "direct", [
    [ada, "Did you get a chance to look at the engine notes?", 1600],
    [me, "Yes! The part about loops is brilliant.", 1590],
    [ada, "Here is the draft: https://example.com/notes/analytical-engine (section 3)", 30],
    [me, "Reading it now.", 12, "delivered"],
    [ada, "Also <b>this</b> should show as text, not bold.", 3],
  ], { unread_count: 1, typing: [], encrypted: true, devices_changed: [ada.id] }),
  conversation("Compiler club", [view(me, false, "owner"), view(grace, true), view(linus)], "group", [
    [grace, "Meeting moved to Thursday.", 3000],
    [linus, "Works for me.", 2990],
    [grace, "I'll bring the tapes.", 2980],
    [grace, `<@${me.id}> can you bring the spare reels? <@${linus.id}> has the tape deck.`, 25],
    [me, "See you there", 20, "pending"],
  ], { unread_count: 1, unread_mentions: 1, encrypted: true, devices_changed: [linus.id] }),
  conversation("Linus Torvalds", [view(me), view(linus)], "direct", [
    [linus, "Patch looks fine, one nit.", 9000],
    [me, "A very long message that the server refused. ".repeat(3), 8990, "failed"],
  ], { draft: "I'll fix the nit tomorrow" }),
  conversation("Grace Hopper", [view(me), view(grace, true)], "direct", [
    [grace, "", 60 * 24 * 10],
    [grace, "It's easier to ask forgiveness than it is to get permission.", 60 * 24 * 9],
  ], { unread_count: 3, notify: "none", encrypted: true }),
  conversation("Mallory Quinn", [view(me, false, "member", "request"), view(mallory, true)], "direct", [
    [mallory, "Hi! I found your name on the ferry forum. Got a minute?", 45],
  ], { unread_count: 1, request: true }),
  conversation("Weekend sailing", [view(me, false, "member", "request"), view(trent, false, "owner"), view(grace)], "group", [
    [trent, "Welcome aboard, everyone!", 300],
  ], { unread_count: 1, request: true }),
  conversation("Eve Sharp", [view(me, false, "member", "blocked"), view(eve)], "direct", [
    [eve, "You'll regret this.", 60 * 24 * 3],
  ], { blocked: true }),
];
store[1]!.summary.typing = [grace.id];
{
  // Replies, reactions, an edit and a deletion to look at.
  const [moved, works, tapes] = store[1]!.messages;
  Object.assign(works!, { reply_to: moved!.id, quote: quoteOf(moved!) });
  works!.reactions = [
    { emoji: "👍", user_ids: [grace.id, me.id], mine: true },
    { emoji: "🎉", user_ids: [grace.id], mine: false },
  ];
  Object.assign(tapes!, { body: "I'll bring the tapes and the manuals.", edited: true });
  const [, , draftLink, , bold] = store[0]!.messages;
  Object.assign(bold!, { body: "", deleted: true });
  Object.assign(store[0]!.messages[3]!, { reply_to: draftLink!.id, quote: quoteOf(draftLink!) });
  // Sealed before this device joined: its text cannot be read here.
  store[3]!.messages[0]!.unreadable = true;
  // Files: a picture with a caption, and a document not downloaded yet.
  store[1]!.messages[0]!.attachments = [sampleFile(0, "room-42.jpg", 1_843_200, "image/jpeg", 1600, 1067)];
  store[0]!.messages[0]!.attachments = [sampleFile(0, "engine-notes.pdf", 734_003, "application/pdf")];
}

// `?conversations=10000` adds that many quiet direct chats (of two messages each), to
// see how a large account looks, scrolls and weighs.
const extra = Number(params.get("conversations") ?? 0);
for (let i = 0; i < extra; i++) {
  const other = person(`Contact ${i + 1}`);
  store.push(
    conversation(other.display_name, [view(me), view(other)], "direct", [
      [other, `Hello from contact ${i + 1}`, 6000 + i * 7],
      [me, "Hi! Good to hear from you.", 6000 + i * 7 - 1],
    ]),
  );
}

let signedIn = !params.has("signed-out");
let connection: ConnectionState = params.has("offline")
  ? { state: "offline", retry_at: new Date(Date.now() + 25_000).toISOString(), reason: "connection refused" }
  : { state: "online" };

const find = (cid: unknown) => store.find((c) => c.summary.id === cid);
const event = (e: UiEvent) => void emit("ferry://event", e);

let account: Account = { user: me, email: null, email_verified: false, admin: false, settings: {} };
/** The app's own settings, as the shell keeps them (Settings → App, Appearance, Language). */
let appSettings: AppSettings = { theme: "system", language: null, close_to_tray: false, start_at_login: false };
const device = (device_name: string | null, last_used: number, last_place: string | null, current = false) => ({
  id: id(),
  device_name,
  created_at: minutesAgo(60_000),
  last_used_at: minutesAgo(last_used),
  last_place,
  current,
});
let sessions: SessionInfo[] = [
  device("Linux · morgan-desk", 0, "192.0.2.10", true),
  device("macOS · morgan-air", 200, "198.51.100.7"),
  device(null, 15_000, null),
];
/** What the update feed offers (Settings → Updates), unless `?up-to-date`. */
const update: AvailableUpdate | null = params.has("up-to-date")
  ? null
  : {
      version: "0.2.0",
      current_version: "0.1.0",
      notes: "Conversations open faster.\nThe tray icon follows the theme.\nFixes: a draft was lost when the window closed.",
      date: minutesAgo(60 * 24 * 3),
    };
/** Install attempts so far: the first is refused, as a bundle with a bad signature is. */
let installs = 0;
if (params.has("update") && update) setTimeout(() => event({ type: "update_available", update }), 4000);

/** The asks of Morgan's other devices for this one's history, oldest first. */
let historyRequests: HistoryRequest[] = [];
/** The shell's event for changed asks: all of them as they are now. */
const askedForHistory = () => event({ type: "history_requests", requests: [...historyRequests] });
if (params.has("history")) {
  setTimeout(() => {
    historyRequests = [{ session_id: sessions[1]!.id, asked_at: new Date().toISOString() }];
    askedForHistory();
  }, 4000);
  // Another device's history opens what this one could not read, in place.
  setTimeout(() => {
    const c = store[3]!;
    const sealed = c.messages.find((m) => m.unreadable);
    if (!sealed) return;
    Object.assign(sealed, { body: "Are you coming to the launch on Friday?", unreadable: false });
    event({ type: "changed", message: { ...sealed } });
    changed(c);
    event({ type: "history_received", entries: 1 });
  }, 12_000);
}

/** The fake account's password check, for the calls that take the password. */
const checkPassword = (password: unknown) => {
  if (password !== "password") throw { kind: "invalid_credentials", message: "wrong password" };
};
/** The shell's event for a changed conversation: its summary as stored now. */
const changed = (c: Stored) => event({ type: "conversation", summary: { ...c.summary } });

function refreshSummary(c: Stored) {
  c.summary.last_message = c.messages.at(-1) ?? null;
  c.summary.updated_at = c.summary.last_message?.created_at ?? c.summary.updated_at;
}

function located(messageId: unknown): { c: Stored; m: LocalMessage } | null {
  for (const c of store) {
    const m = c.messages.find((x) => x.id === messageId);
    if (m) return { c, m };
  }
  return null;
}

/** `reactions` with this user's `emoji` added, or taken back. */
function toggled(reactions: Reaction[], emoji: string): Reaction[] {
  const held = reactions.find((r) => r.emoji === emoji);
  if (!held) return [...reactions, { emoji, user_ids: [me.id], mine: true }];
  const user_ids = held.mine ? held.user_ids.filter((u) => u !== me.id) : [...held.user_ids, me.id];
  return reactions
    .map((r) => (r === held ? { emoji, user_ids, mine: !held.mine } : r))
    .filter((r) => r.user_ids.length > 0);
}

/** A message of files, sent from here: it shows at once and uploads a step at a time. */
function sendFiles(c: Stored, files: LocalAttachment[], caption: string, replyTo: unknown): LocalMessage {
  const parent = c.messages.find((x) => x.id === replyTo);
  const m: LocalMessage = {
    id: id(),
    conversation_id: c.summary.id,
    seq: null,
    sender_id: me.id,
    body: caption,
    created_at: new Date().toISOString(),
    mine: true,
    status: "pending",
    error: null,
    reply_to: parent?.id ?? null,
    quote: parent ? quoteOf(parent) : null,
    edited: false,
    deleted: false,
    removed_by_operator: false,
    unreadable: false,
    reactions: [],
    attachments: files.map((f) => ({ ...f, id: null, uploaded: 0, downloaded: true })),
  };
  c.messages.push(m);
  refreshSummary(c);
  changed(c);
  const step = (index: number, sent: number) => {
    if (!c.messages.includes(m)) return; // cancelled
    const file = m.attachments[index];
    if (!file) {
      m.seq = c.messages.filter((x) => x.seq !== null).length + 1;
      m.status = "sent";
      m.attachments = m.attachments.map((a) => ({ ...a, id: id(), uploaded: null }));
      event({ type: "message", message: { ...m } });
      changed(c);
      return;
    }
    const now = Math.min(file.size, sent);
    file.uploaded = now;
    event({ type: "upload_progress", message_id: m.id, index, sent: now, total: file.size });
    setTimeout(() => (now >= file.size ? step(index + 1, 0) : step(index, now + Math.ceil(file.size / 12))), 250);
  };
  if (connection.state === "online") setTimeout(() => step(0, 0), 300);
  return { ...m };
}

/** A deleted request's stranger writes again: it comes back as a request, unread. */
function strangerWritesAgain(c: Stored) {
  const from = c.summary.members.find((m) => m.user.id !== me.id && (c.summary.kind === "direct" || m.role === "owner"));
  if (!from || !c.summary.request || c.summary.left || c.summary.blocked) return;
  const m: LocalMessage = {
    id: id(),
    conversation_id: c.summary.id,
    seq: c.messages.filter((x) => x.seq !== null).length + 1,
    sender_id: from.user.id,
    body: "Hello again! Did you see my message?",
    created_at: new Date().toISOString(),
    mine: false,
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
  };
  c.messages.push(m);
  refreshSummary(c);
  c.summary.last_seq = m.seq!;
  c.summary.unread_count += 1;
  c.summary.dismissed = false;
  event({ type: "message", message: { ...m } });
  changed(c);
}

/** Until when notifications are paused (Settings → Notifications); off at first. */
let doNotDisturb: string | null = null;

mockWindows("main");
mockIPC(
  (cmd, raw) => {
    const args = (raw ?? {}) as Record<string, unknown>;
    switch (cmd) {
      case "session":
        return { user: signedIn ? me : null, connection: signedIn ? connection : { state: "signed_out" } };
      case "sign_in":
      case "sign_up":
        if (args.password === "wrong") throw { kind: "invalid_credentials", message: "wrong username or password" };
        signedIn = true;
        return me;
      case "sign_out":
        signedIn = false;
        return null;
      case "app_settings":
        return appSettings;
      case "set_app_settings":
        appSettings = args.settings as AppSettings;
        return appSettings;
      case "conversations": {
        // A page, as the core gives it: `limit` (default and most 500) below `after`.
        const after = args.after as ListPosition | null;
        const limit = Math.min(500, Math.max(1, (args.limit as number | null) ?? 500));
        return sortConversations(store.map((c) => c.summary).filter((s) => !s.dismissed))
          .filter((c) => !after || compareConversations(c, after) > 0)
          .slice(0, limit);
      }
      case "conversation":
        return find(args.conversationId)?.summary ?? null;
      case "messages": {
        const c = find(args.conversationId);
        if (!c) return [];
        const before = args.beforeSeq as number | null;
        const limit = args.limit as number;
        const sent = c.messages.filter((m) => m.seq !== null && (before === null || m.seq < before));
        return [...sent.slice(-limit), ...(before === null ? c.messages.filter((m) => m.seq === null) : [])];
      }
      case "send_message": {
        const c = find(args.conversationId)!;
        const parent = c.messages.find((x) => x.id === args.replyTo);
        const m: LocalMessage = {
          id: id(),
          conversation_id: c.summary.id,
          seq: null,
          sender_id: me.id,
          body: args.body as string,
          created_at: new Date().toISOString(),
          mine: true,
          status: "pending",
          error: null,
          reply_to: parent?.id ?? null,
          quote: parent ? quoteOf(parent) : null,
          edited: false,
          deleted: false,
          removed_by_operator: false,
          unreadable: false,
          reactions: [],
          attachments: [],
        };
        c.messages.push(m);
        refreshSummary(c);
        setTimeout(() => {
          m.seq = c.messages.filter((x) => x.seq !== null).length + 1;
          m.status = connection.state === "online" ? "sent" : "pending";
          if (m.status === "pending") m.seq = null;
          event({ type: "message", message: { ...m } });
          refreshSummary(c);
          changed(c);
        }, 600);
        return m;
      }
      case "mark_read":
      case "set_attention": {
        const c = find(args.conversationId ?? args.openConversation);
        if (c && (cmd === "mark_read" || args.focused)) {
          c.summary.unread_count = 0;
          changed(c);
        }
        return null;
      }
      case "set_draft": {
        const c = find(args.conversationId);
        if (c) c.summary.draft = (args.body as string) || null;
        return null;
      }
      case "set_notifications": {
        const c = find(args.conversationId);
        if (c) {
          c.summary.notify = args.level as ConversationSummary["notify"];
          changed(c);
        }
        return null;
      }
      case "do_not_disturb":
        return doNotDisturb;
      case "set_do_not_disturb":
        doNotDisturb = (args.until as string | null) ?? null;
        event({ type: "do_not_disturb", until: doNotDisturb });
        return null;
      case "retry_message":
      case "discard_message": {
        for (const c of store) {
          const i = c.messages.findIndex((m) => m.id === args.messageId);
          if (i < 0) continue;
          if (cmd === "discard_message") c.messages.splice(i, 1);
          else {
            c.messages[i] = { ...c.messages[i]!, status: "pending", error: null };
            event({ type: "message", message: c.messages[i]! });
          }
          refreshSummary(c);
          changed(c);
        }
        return null;
      }
      case "edit_message":
      case "delete_message":
      case "react": {
        // Applied at once here; the core sends the change to the server and says so.
        const found = located(args.messageId);
        if (!found) throw { kind: "not_found", message: "no such message" };
        const { c, m } = found;
        if (cmd === "delete_message" && m.seq === null) {
          c.messages.splice(c.messages.indexOf(m), 1);
          refreshSummary(c);
          changed(c);
          return null;
        }
        if (cmd === "edit_message") Object.assign(m, { body: args.body as string, edited: true });
        else if (cmd === "delete_message") Object.assign(m, { body: "", deleted: true, reactions: [] });
        else m.reactions = toggled(m.reactions, args.emoji as string);
        for (const reply of c.messages) if (reply.reply_to === m.id) reply.quote = quoteOf(m);
        refreshSummary(c);
        changed(c);
        return { ...m };
      }
      case "plugin:dialog|open":
        // One file is the picture dialog's; the paperclip picks several.
        if ((args.options as { multiple?: boolean }).multiple === false) return "/home/morgan/Pictures/portrait.jpg";
        return ["/home/morgan/Pictures/ferry-dock.png", "/home/morgan/Documents/timetable.pdf"];
      case "plugin:dialog|save":
        return `/home/morgan/Downloads/${(args.options as { defaultPath?: string }).defaultPath ?? "file"}`;
      case "send_files": {
        const files = (args.paths as string[]).map((path, index) => {
          const name = path.split("/").at(-1)!;
          return name.endsWith(".png")
            ? sampleFile(index, name, 1_200_000, "image/png", 1200, 800)
            : sampleFile(index, name, 3_400_000, "application/pdf");
        });
        return sendFiles(find(args.conversationId)!, files, args.caption as string, args.replyTo);
      }
      case "send_file_data": {
        const size = Math.round((String(args.dataBase64).length * 3) / 4);
        const file = sampleFile(0, String(args.name), size, "image/png", 800, 600);
        return sendFiles(find(args.conversationId)!, [file], args.caption as string, null);
      }
      case "cancel_upload": {
        const found = located(args.messageId);
        if (found) {
          found.c.messages.splice(found.c.messages.indexOf(found.m), 1);
          refreshSummary(found.c);
          changed(found.c);
        }
        return null;
      }
      case "attachment_preview":
      case "open_image": {
        const file = located(args.messageId)?.m.attachments[args.index as number];
        if (!file) throw { kind: "not_found", message: "no such file" };
        if (cmd === "attachment_preview" && connection.state !== "online") {
          throw { kind: "offline", message: "the server cannot be reached" };
        }
        return drawn(file, cmd === "open_image" ? 1600 : 320);
      }
      case "download_attachment": {
        const found = located(args.messageId);
        const file = found?.m.attachments[args.index as number];
        if (!found || !file) throw { kind: "not_found", message: "no such file" };
        if (connection.state !== "online") throw { kind: "offline", message: "the server cannot be reached" };
        return new Promise((resolve) =>
          setTimeout(() => {
            file.downloaded = true;
            event({ type: "message", message: { ...found.m, attachments: found.m.attachments.map((a) => ({ ...a })) } });
            resolve(`/home/morgan/.cache/ferry/${file.name}`);
          }, 900),
        );
      }
      case "save_attachment":
      case "open_attachment":
        return null;
      case "find_users": {
        const prefix = String(args.prefix).toLowerCase();
        return people.filter(
          (u) => u.username.startsWith(prefix) || u.display_name.toLowerCase().startsWith(prefix),
        );
      }
      case "open_direct": {
        const other = people.find((u) => u.username === args.username)!;
        const existing = store.find((c) => c.summary.kind === "direct" && c.summary.name === other.display_name);
        if (existing) return existing.summary.id;
        const c = conversation(other.display_name, [view(me), view(other)], "direct", []);
        store.unshift(c);
        return c.summary.id;
      }
      case "create_group": {
        const members = people.filter((u) => (args.memberIds as string[]).includes(u.id));
        const c = conversation(String(args.title), [view(me, false, "owner"), ...members.map((u) => view(u))], "group", []);
        c.summary.updated_at = new Date().toISOString();
        store.unshift(c);
        return c.summary.id;
      }
      case "leave_conversation": {
        const c = find(args.conversationId);
        if (c) {
          c.summary.left = true;
          changed(c);
        }
        return null;
      }
      case "accept_request": {
        const c = find(args.conversationId);
        if (!c) throw { kind: "not_found", message: "no such conversation" };
        c.summary.request = false;
        c.summary.members = c.summary.members.map((m) => (m.user.id === me.id ? { ...m, state: "accepted" } : m));
        changed(c);
        return null;
      }
      case "dismiss_request": {
        // On this device only: nothing is sent, so it works offline too.
        const c = find(args.conversationId);
        if (!c) throw { kind: "not_found", message: "no such conversation" };
        c.summary.dismissed = true;
        changed(c);
        setTimeout(() => strangerWritesAgain(c), 30_000);
        return null;
      }
      case "set_blocked":
      case "report_user": {
        if (cmd === "report_user") {
          console.info("report", args);
          if (!args.block) return null;
        }
        const blocked = cmd === "report_user" || Boolean(args.blocked);
        for (const c of store) {
          const s = c.summary;
          if (s.kind !== "direct" || !s.members.some((m) => m.user.id === args.userId)) continue;
          s.blocked = blocked;
          s.request = false;
          s.members = s.members.map((m) => (m.user.id === me.id ? { ...m, state: blocked ? "blocked" : "accepted" } : m));
          changed(c);
        }
        return null;
      }
      case "safety_number": {
        const c = find(args.conversationId);
        const other = c?.summary.members.find((m) => m.user.id === args.with)?.user;
        if (!c?.summary.encrypted || !other || other.id === grace.id) return null;
        // Looking at the number clears the warning that it changed, as the core does.
        if (c.summary.devices_changed.includes(other.id)) {
          c.summary.devices_changed = c.summary.devices_changed.filter((id) => id !== other.id);
          changed(c);
        }
        // Reading the group's keys takes the core a moment.
        return new Promise((resolve) => setTimeout(() => resolve(safetyDigits(me.id, other.id)), 300));
      }
      case "account_details":
        return account;
      case "account_sessions":
        return sessions;
      case "rename":
      case "set_picture":
      case "remove_picture": {
        if (cmd !== "rename" && connection.state !== "online") {
          throw { kind: "offline", message: "the server cannot be reached" };
        }
        const user: User = { ...account.user };
        if (cmd === "rename") user.display_name = String(args.displayName);
        else if (cmd === "set_picture") user.picture = portrait("#c46a0b", "#f5d76e");
        else delete user.picture;
        const answer = () => {
          account = { ...account, user };
          event({ type: "profile", user });
          return user;
        };
        // An upload takes a moment; the rest do not.
        return cmd === "set_picture" ? new Promise((resolve) => setTimeout(() => resolve(answer()), 1200)) : answer();
      }
      case "user_picture": {
        const url = pictures.get(String(args.picture));
        if (!url) throw { kind: "not_found", message: "no such picture" };
        if (!fetchedPictures.has(String(args.picture)) && connection.state !== "online") {
          throw { kind: "offline", message: "the server cannot be reached" };
        }
        fetchedPictures.add(String(args.picture));
        return url;
      }
      case "change_password":
        checkPassword(args.currentPassword);
        if (!args.keepOtherSessions) sessions = sessions.filter((s) => s.current);
        return null;
      case "set_email":
        checkPassword(args.password);
        account = { ...account, email: (args.email as string | null) ?? null, email_verified: false };
        return account;
      case "verify_email":
        account = { ...account, email_verified: true };
        return null;
      case "end_session":
        sessions = sessions.filter((s) => s.id !== args.sessionId);
        return null;
      case "history_requests":
        return historyRequests;
      case "send_history":
      case "dismiss_history_request": {
        const held = historyRequests.some((r) => r.session_id === args.sessionId);
        const drop = () => {
          historyRequests = historyRequests.filter((r) => r.session_id !== args.sessionId);
          askedForHistory();
        };
        if (cmd === "dismiss_history_request") {
          drop();
          return held;
        }
        if (!held) throw { kind: "invalid_request", message: "no device of yours asked this one for its history with that id" };
        if (connection.state !== "online") throw { kind: "offline", message: "the server cannot be reached" };
        // What this device holds of the encrypted chats, sealed and uploaded in a moment.
        const entries = store
          .filter((c) => c.summary.encrypted)
          .reduce((n, c) => n + c.messages.filter((m) => m.seq !== null && !m.unreadable).length, 0);
        return new Promise((resolve) =>
          setTimeout(() => {
            drop();
            resolve(entries);
          }, 1500),
        );
      }
      case "ask_for_history":
        if (connection.state !== "online") throw { kind: "offline", message: "the server cannot be reached" };
        return sessions.filter((s) => !s.current).length;
      case "export_account": {
        // A 40 MB archive in a few seconds, a step every quarter second, as the core tells it.
        if (connection.state !== "online") throw { kind: "offline", message: "the server cannot be reached" };
        const total = 42_000_000;
        return new Promise((resolve) => {
          const step = (received: number) => {
            event({ type: "export_progress", received, total });
            if (received >= total) resolve(total);
            else setTimeout(() => step(Math.min(total, received + total / 16)), 250);
          };
          step(0);
        });
      }
      case "delete_account":
        checkPassword(args.password);
        signedIn = false;
        return null;
      case "forgot_password":
      case "reset_password":
        console.info(cmd, args);
        return null;
      case "blocked_users":
        return store
          .filter((c) => c.summary.blocked)
          .flatMap((c) => c.summary.members.filter((m) => m.user.id !== me.id).map((m) => m.user));
      case "search": {
        const q = String(args.query).toLowerCase();
        return store.flatMap((c) =>
          c.messages
            .filter((m) => m.body.toLowerCase().includes(q))
            .map((m) => {
              const at = m.body.toLowerCase().indexOf(q);
              const snippet = `${m.body.slice(0, at)}\u0002${m.body.slice(at, at + q.length)}\u0003${m.body.slice(at + q.length)}`;
              return { message_id: m.id, conversation_id: c.summary.id, seq: m.seq, sender_id: m.sender_id, snippet, created_at: m.created_at };
            }),
        );
      }
      case "app_version":
        return "0.1.0";
      case "check_for_update":
        // The feed takes a moment to answer.
        return new Promise((resolve) => setTimeout(() => resolve(update), 900));
      case "install_update": {
        if (!update) throw { kind: "local", message: "there is no update to install: check for updates first" };
        const total = 18_400_000;
        const attempt = ++installs;
        return new Promise((_, reject) => {
          const step = (received: number) => {
            event({ type: "update_progress", received, total });
            if (received < total) {
              setTimeout(() => step(Math.min(total, received + total / 20)), 200);
              return;
            }
            event({ type: "update_downloaded" });
            setTimeout(() => {
              if (attempt > 1) {
                // Started again as the new version; this promise never settles, as the shell's does not.
                location.reload();
                return;
              }
              reject({
                kind: "local",
                message: `the download of Ferry ${update.version} is not signed with Ferry's update key, so it was refused and nothing changed; tell whoever runs your server`,
              });
            }, 1500);
          };
          step(0);
        });
      }
      case "first_paint":
        // What the shell logs for the cold-start benchmark, here since the page started.
        console.info(`first paint of the conversation list after ${Math.round(performance.now())} ms`);
        return null;
      case "reconnect_now":
        connection = { state: "connecting" };
        event({ type: "connection", state: connection });
        setTimeout(() => {
          connection = { state: "online" };
          event({ type: "connection", state: connection });
        }, 1200);
        return null;
      default:
        return null;
    }
  },
  { shouldMockEvents: true },
);

const target = document.getElementById("app");
if (!target) throw new Error("preview.html has no #app element");
export default mount(App, { target });
