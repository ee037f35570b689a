/**
 * `Chat`: what the window shows, as last read from the core. It holds no truth of its
 * own: each core event carries what changed (one conversation's summary as stored now,
 * one message, who is typing), and the store puts exactly that in place; a `resync`
 * event (the shell missed changes) re-reads everything. A change to a message (an edit,
 * a deletion, a reaction) is put in place only where the message is shown: it is never
 * news. Components read its fields and call its methods (or the few plain functions
 * below); this module is the only one that talks to `./backend`.
 *
 * Files: a message of files shows at once (pending, with its previews) and uploads in
 * the background; the latest `upload_progress` of each of its files is held until the
 * message itself is heard again. Inline previews are cached in memory (`./previews`).
 * Files dropped on the window go to the open conversation.
 *
 * A message request this user deleted (`dismissed`) is left out of the list, whether a
 * page or an event brings it, and closed if it was open; a summary that says it is no
 * longer dismissed (its stranger wrote again) puts it back.
 */
import { SvelteMap, SvelteSet } from "svelte/reactivity";
import * as backend from "./backend";
import type { LocalAttachment } from "./bindings/LocalAttachment";
import type { ConnectionState } from "./bindings/ConnectionState";
import type { ConversationSummary } from "./bindings/ConversationSummary";
import type { KnownAccount } from "./bindings/KnownAccount";
import type { ListPosition } from "./bindings/ListPosition";
import type { LocalMessage } from "./bindings/LocalMessage";
import type { Quote } from "./bindings/Quote";
import type { SearchHit } from "./bindings/SearchHit";
import type { UiEvent } from "./bindings/UiEvent";
import type { User } from "./bindings/User";
import { actionsFor, editChange, lastEditable, READ_ONLY, standingIn, type Standing } from "./changes";
import { coalesce } from "./coalesce";
import { fresher } from "./copies";
import { compareConversations, placeConversation, sortConversations } from "./conversations";
import { saveAsName, type UploadProgress } from "./files";
import { PreviewCache, previewKey } from "./previews";
import { whyClosed } from "./requests";

/**
 * Conversations per page of the list. The first page is what the window paints first, so
 * it is small: a tall window shows about fifteen rows, and a hundred also leave a few
 * screens to scroll before the next page is needed, at a fraction of the cost (each row
 * is a summary with its members and last message, built by the core and sent over IPC).
 */
export const LIST_PAGE = 100;
/** The most one call of the core's `conversations` returns (its own bound). */
const LIST_MAX_PER_CALL = 500;

/** Messages per page of history. */
export const PAGE = 50;
/** Most pages loaded in one go to reach a target (first unread, a search hit). */
const MAX_PAGES_TO_TARGET = 40;
/** How long a message jumped to (from a reply's quote) stays highlighted. */
export const JUMP_HIGHLIGHT_MS = 2000;
/** Sent messages of the open thread held, at most, once the reader is back at its end... */
export const HELD_AT_END = 500;
/** ...and how many of the latest are kept then (paging back reads the rest again). */
export const KEPT_AT_END = 4 * PAGE;

function firstSeq(messages: readonly LocalMessage[]): number | null {
  for (const m of messages) if (m.seq !== null) return m.seq;
  return null;
}

/** What a reply shows of `message`. */
function quoteOf(message: LocalMessage): Quote {
  const { id, sender_id, body, seq, deleted } = message;
  return { id, sender_id, body, seq, deleted };
}

/** A message event heard while the thread was being read, to put back once it lands. */
interface Heard {
  message: LocalMessage;
  /** A change to a message (put in place only where shown), not the message itself. */
  change: boolean;
}

/** What a failure says to people (any rejection: the core's CommandError or Tauri's own). */
export function errorMessage(e: unknown): string {
  return backend.toCommandError(e).message;
}

/** Opens an http(s) link in the system browser. */
export function openLink(url: string): Promise<void> {
  return backend.openUrl(url);
}

/** Other users whose username or display name starts with `prefix` (needs the server). */
export function findUsers(prefix: string): Promise<User[]> {
  return backend.findUsers(prefix);
}

/** Whom this user blocked, most recent first (needs the server). */
export function blockedUsers(): Promise<User[]> {
  return backend.blockedUsers();
}

/** Full-text search over every stored message; works offline. */
export function searchMessages(text: string, limit: number): Promise<SearchHit[]> {
  return backend.search(text, limit);
}

/**
 * Whether the statuses of `me`'s messages may differ between two summaries of one
 * conversation: the core derives them from the other members' watermarks.
 */
function statusBasis(summary: ConversationSummary, meId: string): string {
  return summary.members
    .filter((m) => m.user.id !== meId)
    .map((m) => `${m.user.id}:${m.read_seq}:${m.delivered_seq}`)
    .sort()
    .join(",");
}

/** A row's place in the list, as the core pages from it. */
function position(summary: ConversationSummary): ListPosition {
  return { updated_at: summary.updated_at, id: summary.id };
}

/** `list` without the message requests this user deleted (the list leaves them out). */
function listed(list: readonly ConversationSummary[]): ConversationSummary[] {
  return list.filter((c) => !c.dismissed);
}

/**
 * The sorted list with a page of it merged in by id. Where both hold a conversation the
 * newer summary wins: the later activity (a conversation's activity only moves forward,
 * so one held from an event may be ahead of a page read before that event was stored),
 * else the page, which was read last.
 */
function mergePage(
  list: readonly ConversationSummary[],
  page: readonly ConversationSummary[],
): ConversationSummary[] {
  const byId = new Map(list.map((c) => [c.id, c]));
  for (const row of page) {
    const held = byId.get(row.id);
    if (!held || Date.parse(held.updated_at) <= Date.parse(row.updated_at)) byId.set(row.id, row);
  }
  return sortConversations(listed([...byId.values()]));
}

export interface OpenTarget {
  /** Scroll to and highlight this message (a search hit). */
  messageId?: string;
  /** Its seq, so that older pages can be loaded until it is there. */
  seq?: number | null;
}

/** Something the notice offers to do about what it says. */
export interface NoticeAction {
  label: string;
  run: () => void;
}

export class Chat {
  /** The first `session()` answered. */
  ready = $state(false);
  me = $state.raw<User | null>(null);
  /** The account used last on this device (signed in or not): what sign-in proposes. */
  lastAccount = $state.raw<KnownAccount | null>(null);
  connection = $state.raw<ConnectionState>({ state: "connecting" });
  conversations = $state.raw<ConversationSummary[]>([]);
  /** The list has been read at least once (so an empty one is known to be empty). */
  listLoaded = $state(false);
  /** The core holds more of the list below the rows read so far (the last page was full). */
  hasMoreConversations = $state(false);

  openId = $state<string | null>(null);
  /** The open thread, oldest first (pending and failed ones last). */
  thread = $state.raw<LocalMessage[]>([]);
  /** The open thread's first page has arrived. */
  threadLoaded = $state(false);
  hasOlder = $state(false);
  loadingOlder = $state(false);
  /** Where the "unread" marker goes, fixed when the conversation was opened. */
  firstUnreadId = $state<string | null>(null);
  /** A message to bring into view; `focusToken` changes each time it is asked for. */
  focusMessageId = $state<string | null>(null);
  focusToken = $state(0);
  /** The message the next one sent answers (the composer shows it above the input). */
  replyingTo = $state.raw<LocalMessage | null>(null);
  /** The id of the message whose text is being edited in place. */
  editing = $state<string | null>(null);
  /** Files are being dragged over the window, to drop in the open conversation. */
  dragging = $state(false);

  /** The window has keyboard focus. */
  focused = $state(true);
  /** A failure to show for a moment (a command that did not work). */
  notice = $state<string | null>(null);
  /** What the notice offers to do instead, if anything (Save as…, for a file not opened). */
  noticeAction = $state<NoticeAction | null>(null);

  /**
   * Whether contacts' presence means anything: it is only heard while connected, so
   * while offline the last-heard "online" may long be stale.
   */
  presenceKnown = $derived(this.connection.state === "online");

  open: ConversationSummary | null = $derived(
    this.conversations.find((c) => c.id === this.openId) ?? null,
  );

  /** What this user may change in the open conversation (see `./changes`). */
  standing: Standing = $derived(this.open && this.me ? standingIn(this.open, this.me.id) : READ_ONLY);

  #unlisten: (() => void) | null = null;
  #unlistenOpen: (() => void) | null = null;
  #unlistenDrag: (() => void) | null = null;
  /**
   * The latest `upload_progress` per file of a pending message (`previewKey`), until the
   * message is heard again (its own count is then as new). A SvelteMap, so that each
   * progress bar follows its own file only.
   */
  #uploads = new SvelteMap<string, UploadProgress>();
  /** Files being downloaded (`previewKey`), whose Download button waits. */
  #downloading = new SvelteSet<string>();
  #previews = new PreviewCache();
  /** The last_seq for which mark_read was asked, so it is asked once per new message. */
  #markedUpTo = new Map<string, number>();
  #noticeTimer: ReturnType<typeof setTimeout> | undefined;
  #highlightTimer: ReturnType<typeof setTimeout> | undefined;
  /** The read of older history in flight, which a second caller waits for. */
  #olderRead: Promise<void> | null = null;
  /** The first paint of the list was reported (once per app start, for the benchmark). */
  #firstPaintReported = false;
  /**
   * Changes heard while the list or the thread is being re-read, put back in place once
   * the read lands (the read may have started before they were stored).
   */
  #summariesDuringLoad: ConversationSummary[] | null = null;
  #messagesDuringLoad: Heard[] | null = null;
  /**
   * Where the list's pages stopped: the last row of the last page read, as that page gave
   * it (the next page starts below it). Rows past it in `conversations` came one by one
   * (an event, a notification clicked) and do not move it.
   */
  #listEnd: ListPosition | null = null;
  /** The list read in flight (a page or a re-read): never two at once. */
  #listRead: Promise<void> | null = null;
  /** Changes on sign-out, so a read that started before it is dropped. */
  #session = 0;

  readonly refreshList = coalesce(() => this.#loadConversations());
  readonly refreshThread = coalesce(() => this.#loadThread());

  /** Listens to the core, then paints from the local store (no network needed). */
  async start(): Promise<void> {
    this.#unlisten = await backend.onEvent((event) => this.#onEvent(event));
    this.#unlistenOpen = await backend.onOpenRequest((id) => void this.#openRequested(id));
    // A shell without drag and drop still works: files come through the dialog and paste.
    this.#unlistenDrag = await backend.onFileDrag((drag) => this.#onFileDrag(drag)).catch(() => null);
    try {
      const view = await backend.session();
      this.me = view.user;
      this.connection = view.connection;
      this.lastAccount = view.last_account ?? null;
      if (this.me) await this.refreshList();
    } catch (e) {
      this.#show(e);
    } finally {
      this.ready = true;
    }
  }

  stop(): void {
    // A notice's timer would otherwise outlive the window that showed it.
    clearTimeout(this.#noticeTimer);
    clearTimeout(this.#highlightTimer);
    this.#unlisten?.();
    this.#unlisten = null;
    this.#unlistenOpen?.();
    this.#unlistenOpen = null;
    this.#unlistenDrag?.();
    this.#unlistenDrag = null;
  }

  /** After signing in or up. */
  async signedIn(user: User): Promise<void> {
    this.me = user;
    this.connection = { state: "connecting" };
    await this.refreshList();
  }

  /** Signs in to an existing account; rejects with the core's error. */
  async signIn(serverUrl: string, username: string, password: string, allowPlainHttp = false): Promise<void> {
    const user = await backend.signIn(serverUrl, username, password, allowPlainHttp);
    this.lastAccount = { server_url: serverUrl, username: user.username };
    await this.signedIn(user);
  }

  /** Creates an account and signs in; rejects with the core's error. */
  async signUp(
    serverUrl: string,
    username: string,
    password: string,
    displayName: string,
    allowPlainHttp = false,
  ): Promise<void> {
    const user = await backend.signUp(serverUrl, username, password, displayName, allowPlainHttp);
    this.lastAccount = { server_url: serverUrl, username: user.username };
    await this.signedIn(user);
  }

  async signOut(): Promise<void> {
    try {
      await backend.signOut();
    } catch {
      // The session is gone here either way (the core forgets it first).
    }
    this.#reset();
  }

  #reset(): void {
    this.#session++;
    this.me = null;
    this.conversations = [];
    this.listLoaded = false;
    this.hasMoreConversations = false;
    this.#listEnd = null;
    this.#closeOpen();
    this.#markedUpTo.clear();
    this.#uploads.clear();
    this.#downloading.clear();
    this.#previews.clear();
  }

  #onEvent(event: UiEvent): void {
    if (!this.me) return;
    switch (event.type) {
      case "resync":
        void this.#resync();
        return;
      case "connection":
        this.connection = event.state;
        return;
      case "conversation":
        this.#putSummary(event.summary);
        return;
      case "message":
        this.#forgetProgress(event.message.id);
        if (event.message.conversation_id === this.openId) this.#putMessage(event.message);
        return;
      case "upload_progress": {
        const { message_id, index, sent, total } = event;
        this.#uploads.set(previewKey(message_id, index), { sent, total });
        return;
      }
      case "changed":
        if (event.message.conversation_id === this.openId) this.#putChange(event.message);
        return;
      case "change_refused":
        // The message is back as it was; the reason is told wherever the user is.
        if (event.message.conversation_id === this.openId) this.#putChange(event.message);
        this.#say(event.reason);
        return;
      case "receipt":
        // The conversation's new summary follows, with the moved watermarks.
        return;
      case "typing":
        this.#patch(event.conversation_id, (c) => ({ ...c, typing: event.typing }));
        return;
      case "presence": {
        const { user_id, online } = event.presence;
        const knows = (c: ConversationSummary) =>
          c.members.some((m) => m.user.id === user_id && m.online !== online);
        if (!this.conversations.some(knows)) return;
        this.conversations = this.conversations.map((c) =>
          knows(c)
            ? { ...c, members: c.members.map((m) => (m.user.id === user_id ? { ...m, online } : m)) }
            : c,
        );
        return;
      }
    }
  }

  /** Changes were missed: everything on screen is read again. */
  async #resync(): Promise<void> {
    try {
      const view = await backend.session();
      if (!view.user) {
        this.#reset();
        return;
      }
      this.connection = view.connection;
    } catch (e) {
      this.#show(e);
    }
    await Promise.all([this.refreshList(), this.refreshThread()]);
  }

  /**
   * One conversation as stored now: replaced (or added) in place, the list kept sorted.
   * A request this user deleted is taken out instead (and closed if open).
   */
  #putSummary(summary: ConversationSummary): void {
    this.#summariesDuringLoad?.push(summary);
    const held = this.conversations.find((c) => c.id === summary.id);
    if (summary.dismissed) {
      if (held) this.conversations = this.conversations.filter((c) => c.id !== summary.id);
      if (summary.id === this.openId) this.#closeOpen();
      return;
    }
    this.conversations = placeConversation(this.conversations, summary);
    if (summary.id !== this.openId) return;
    const me = this.me?.id ?? "";
    if (held && statusBasis(held, me) !== statusBasis(summary, me)) void this.refreshThread();
    this.#markOpenRead();
  }

  /**
   * Nothing is open any more: the open conversation went away from the list (a request
   * deleted on this device), the user signed out, or another one is being opened.
   */
  #closeOpen(): void {
    this.openId = null;
    this.thread = [];
    this.threadLoaded = false;
    this.hasOlder = false;
    this.firstUnreadId = null;
    this.focusMessageId = null;
    this.replyingTo = null;
    this.editing = null;
    this.dragging = false;
  }

  /** Closes the open conversation if `read` (rows just read) says it was deleted. */
  #closeIfDismissed(read: readonly ConversationSummary[]): void {
    const openId = this.openId;
    if (!openId || this.conversations.some((c) => c.id === openId)) return;
    if (read.some((c) => c.id === openId && c.dismissed)) this.#closeOpen();
  }

  /** Changes one held summary (nothing if the list does not hold it). */
  #patch(id: string, change: (c: ConversationSummary) => ConversationSummary): void {
    if (!this.conversations.some((c) => c.id === id)) return;
    this.conversations = this.conversations.map((c) => (c.id === id ? change(c) : c));
  }

  /** Reads one conversation into the list (one just created or changed by the user). */
  async #loadSummary(id: string): Promise<void> {
    try {
      const summary = await backend.conversation(id);
      if (summary && this.me) this.#putSummary(summary);
    } catch (e) {
      this.#show(e);
    }
  }

  /**
   * One message of the open thread as stored now: replaced where it is, or placed by
   * seq (sent ones) or last (unsent ones, which are in compose order). A sent message
   * older than the held history is left to paging back.
   */
  #putMessage(message: LocalMessage): void {
    this.#messagesDuringLoad?.push({ message, change: false });
    this.#place(message);
  }

  /**
   * A change to a message (edited, deleted, reacted to, or a refused change undone), as
   * it shows now: replaced where the open thread holds it, and in the quotes of the
   * replies to it. A message not held stays unheld: a change is never news.
   */
  #putChange(message: LocalMessage): void {
    this.#messagesDuringLoad?.push({ message, change: true });
    if (this.thread.some((m) => m.id === message.id)) this.#place(message);
    this.#requote(message.id, quoteOf(message));
    if (this.replyingTo?.id === message.id) this.replyingTo = message.deleted ? null : message;
    if (this.editing === message.id && message.deleted) this.editing = null;
  }

  /** The replies to message `id` held in the thread quote it as `quote` (null: gone). */
  #requote(id: string, quote: Quote | null): void {
    if (!this.thread.some((m) => m.reply_to === id)) return;
    this.thread = this.thread.map((m) => (m.reply_to === id ? { ...m, quote } : m));
  }

  /**
   * Puts `message` in the thread, as `#putMessage` says, without recording it. A copy
   * older than the one held (see `./copies`) does not take its place.
   */
  #place(incoming: LocalMessage): void {
    const at = this.thread.findIndex((m) => m.id === incoming.id);
    const held = at >= 0 ? this.thread[at]! : null;
    const message = held ? fresher(held, incoming) : incoming;
    if (message === held) return;
    if (at >= 0 && held!.seq === message.seq) {
      const next = this.thread.slice();
      next[at] = message;
      this.thread = next;
      return;
    }
    const rest = at >= 0 ? this.thread.filter((m) => m.id !== message.id) : this.thread;
    const seq = message.seq;
    if (seq === null) {
      this.thread = [...rest, message];
      return;
    }
    const from = firstSeq(rest);
    if (from !== null && seq < from && this.hasOlder) {
      this.thread = rest;
      return;
    }
    let i = rest.findIndex((m) => m.seq === null || m.seq > seq);
    if (i < 0) i = rest.length;
    this.thread = [...rest.slice(0, i), message, ...rest.slice(i)];
  }

  /**
   * Runs one read of the list, after any read in flight, and puts back the changes heard
   * meanwhile (the read may have started before they were stored). False if it failed or
   * the session ended during it.
   */
  async #readList(read: () => Promise<void>): Promise<boolean> {
    while (this.#listRead) await this.#listRead.catch(() => undefined);
    const session = this.#session;
    this.#summariesDuringLoad = [];
    const running = read();
    this.#listRead = running;
    try {
      await running;
      return session === this.#session;
    } catch (e) {
      if (session !== this.#session) return false;
      if (backend.toCommandError(e).kind === "signed_out") this.#reset();
      else this.#show(e);
      return false;
    } finally {
      if (this.#listRead === running) this.#listRead = null;
      const heard = this.#summariesDuringLoad ?? [];
      this.#summariesDuringLoad = null;
      if (this.me && session === this.#session) for (const summary of heard) this.#putSummary(summary);
    }
  }

  /**
   * (Re-)reads the top of the list: the first page, or after a resync as many rows as
   * had been paged in (so scrolling down is not undone), in calls the core allows. Rows
   * held beyond them are let go, except the open conversation's.
   */
  async #loadConversations(): Promise<void> {
    const session = this.#session;
    let fresh: ConversationSummary[] = [];
    let full = false;
    const read = await this.#readList(async () => {
      const end = this.#listEnd;
      const wanted = end
        ? Math.max(LIST_PAGE, this.conversations.filter((c) => compareConversations(c, end) <= 0).length)
        : LIST_PAGE;
      let after: ListPosition | undefined;
      while (fresh.length < wanted) {
        const limit = Math.min(LIST_MAX_PER_CALL, wanted - fresh.length);
        const page = await backend.conversations(after, limit);
        if (session !== this.#session) return;
        fresh = fresh.concat(page);
        full = page.length === limit;
        if (!full || page.length === 0) break;
        after = position(page[page.length - 1]!);
      }
      const last = fresh[fresh.length - 1];
      this.#listEnd = last ? position(last) : null;
      this.hasMoreConversations = full;
      // The open conversation stays on screen even if it is now below the rows read.
      const open = this.conversations.find((c) => c.id === this.openId && !fresh.some((f) => f.id === c.id));
      this.conversations = sortConversations(listed(open ? [...fresh, open] : fresh));
      this.#closeIfDismissed(fresh);
      this.listLoaded = true;
    });
    if (!read) return;
    const openId = this.openId;
    if (openId && !fresh.some((c) => c.id === openId)) await this.#loadSummary(openId);
    this.#markOpenRead();
  }

  /**
   * Reads the next page of the list, below the rows read so far (the list was scrolled
   * near its end). Nothing while a read is in flight or the last page was short.
   */
  async loadMoreConversations(): Promise<void> {
    const after = this.#listEnd;
    if (!this.me || !this.hasMoreConversations || !after || this.#listRead) return;
    const session = this.#session;
    await this.#readList(async () => {
      const page = await backend.conversations(after, LIST_PAGE);
      if (session !== this.#session) return;
      const last = page[page.length - 1];
      if (last) this.#listEnd = position(last);
      this.hasMoreConversations = page.length === LIST_PAGE;
      this.conversations = mergePage(this.conversations, page);
      this.#closeIfDismissed(page);
    });
  }

  /** New messages in the conversation the user is looking at are read. */
  #markOpenRead(): void {
    const open = this.open;
    if (!open || !this.focused || open.left || open.unread_count === 0) return;
    if (this.#markedUpTo.get(open.id) === open.last_seq) return;
    this.#markedUpTo.set(open.id, open.last_seq);
    backend.markRead(open.id).catch((e) => this.#show(e));
  }

  /**
   * The window has painted the conversation list with its data: told to the shell the
   * first time only. An older shell without the command is no failure to show.
   */
  listPainted(): void {
    if (this.#firstPaintReported) return;
    this.#firstPaintReported = true;
    backend.firstPaint().catch(() => undefined);
  }

  /** The window gained or lost focus. */
  setFocused(focused: boolean): void {
    this.focused = focused;
    if (focused) this.#markOpenRead();
  }

  /** A clicked notification: its conversation may be newer than the list held. */
  async #openRequested(id: string): Promise<void> {
    if (!this.me) return;
    await this.openConversation(id);
  }

  /**
   * Opens a conversation (or brings a message of the open one into view). The list holds
   * only the pages read so far, so one below them (a search hit, a notification) is read
   * by id first; one this device does not know is not opened.
   */
  async openConversation(id: string, target: OpenTarget = {}): Promise<void> {
    if (!this.conversations.some((c) => c.id === id)) await this.#loadSummary(id);
    if (!this.conversations.some((c) => c.id === id)) return;
    if (this.openId !== id) {
      const summary = this.conversations.find((c) => c.id === id);
      const unreadFrom =
        summary && summary.unread_count > 0 ? summary.last_seq - summary.unread_count + 1 : null;
      this.#closeOpen();
      this.openId = id;
      await this.refreshThread();
      if (this.openId !== id) return;
      if (unreadFrom !== null) {
        await this.#loadUntil(unreadFrom);
        this.firstUnreadId =
          this.thread.find((m) => !m.mine && m.seq !== null && m.seq >= unreadFrom)?.id ?? null;
      }
    }
    if (target.messageId) {
      if (target.seq != null) await this.#loadUntil(target.seq);
      this.focusMessageId = target.messageId;
      this.focusToken++;
    }
    this.threadLoaded = true;
  }

  /**
   * Re-reads the open thread: the latest page, at least as long as what is held, and
   * keeps held history older than it (so scrolling back is not undone by an event).
   */
  async #loadThread(): Promise<void> {
    const id = this.openId;
    if (!id) return;
    const held = this.thread.filter((m) => m.seq !== null).length;
    const limit = Math.min(500, Math.max(PAGE, held + PAGE));
    let fresh: LocalMessage[];
    this.#messagesDuringLoad = [];
    try {
      fresh = await backend.messages(id, null, limit);
    } catch (e) {
      this.#messagesDuringLoad = null;
      this.#show(e);
      return;
    }
    const heard = this.#messagesDuringLoad;
    this.#messagesDuringLoad = null;
    if (this.openId !== id) return;
    // What was read is as new as any progress heard before it.
    for (const m of fresh) if (m.status === "pending" && m.attachments.length > 0) this.#forgetProgress(m.id);
    const from = firstSeq(fresh);
    const older =
      from === null ? [] : this.thread.filter((m) => m.seq !== null && m.seq < from);
    this.thread = [...older, ...fresh];
    if (older.length === 0) {
      const sent = fresh.filter((m) => m.seq !== null).length;
      this.hasOlder = sent >= limit && (from ?? 0) > 1;
    }
    for (const { message, change } of heard) {
      if (message.conversation_id !== id) continue;
      if (change) this.#putChange(message);
      else this.#putMessage(message);
    }
  }

  /** Loads the page before the oldest held message (one read at a time: a second call waits for it). */
  loadOlder(): Promise<void> {
    this.#olderRead ??= this.#readOlder().finally(() => (this.#olderRead = null));
    return this.#olderRead;
  }

  async #readOlder(): Promise<void> {
    const id = this.openId;
    const before = firstSeq(this.thread);
    if (!id || before === null || !this.hasOlder || this.loadingOlder) return;
    this.loadingOlder = true;
    try {
      const page = await backend.messages(id, before, PAGE);
      if (this.openId !== id) return;
      const held = new Set(this.thread.map((m) => m.id));
      this.thread = [...page.filter((m) => !held.has(m.id)), ...this.thread];
      this.hasOlder = page.length >= PAGE && (firstSeq(page) ?? 0) > 1;
    } catch (e) {
      this.#show(e);
    } finally {
      this.loadingOlder = false;
    }
  }

  /**
   * The reader is back at the end of the open thread: history scrolled back through is
   * let go beyond the latest pages, so a long scroll-back does not stay in memory and in
   * the DOM. Nothing happens below `HELD_AT_END` (so a small scroll back and forth
   * does not page the same history in and out).
   */
  forgetOlder(): void {
    const sent = this.thread.filter((m) => m.seq !== null);
    if (sent.length <= HELD_AT_END || this.loadingOlder) return;
    const from = sent[sent.length - KEPT_AT_END]!.seq!;
    this.thread = this.thread.filter((m) => m.seq === null || m.seq >= from);
    this.hasOlder = true;
  }

  async #loadUntil(seq: number): Promise<void> {
    for (let i = 0; i < MAX_PAGES_TO_TARGET; i++) {
      const from = firstSeq(this.thread);
      if (from === null || from <= seq || !this.hasOlder) return;
      await this.loadOlder();
    }
  }

  /**
   * Sends `body` in the open conversation, as a reply to `replyingTo` if there is one
   * (then no more); it shows at once as pending.
   */
  async send(body: string): Promise<boolean> {
    const id = this.openId;
    if (!id || !body.trim()) return false;
    const target = this.replyingTo?.conversation_id === id ? this.replyingTo : null;
    try {
      const message = await backend.sendMessage(id, body, target?.id ?? null);
      // The core's event for it may have come first; either puts it in place once.
      if (this.openId === id) this.#putMessage(message);
    } catch (e) {
      // Nothing is lost: the composer gets the text back, and the reply keeps its target.
      this.#show(e);
      return false;
    }
    if (target && this.replyingTo === target) this.replyingTo = null;
    return true;
  }

  /** The next message sent answers `message` (of the open conversation). */
  startReply(message: LocalMessage): void {
    if (message.conversation_id !== this.openId || !actionsFor(message, this.standing).reply) return;
    this.replyingTo = message;
  }

  cancelReply(): void {
    this.replyingTo = null;
  }

  /** Edits `message` in place (only this user's own, not deleted). */
  startEdit(message: LocalMessage): void {
    if (message.conversation_id !== this.openId || !actionsFor(message, this.standing).edit) return;
    this.editing = message.id;
  }

  /**
   * Up arrow in an empty composer: edits this user's newest message in the loaded
   * thread. False when there is none (the key then does what it usually does).
   */
  editLast(): boolean {
    const message = lastEditable(this.thread, this.standing);
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
    const message = this.thread.find((m) => m.id === this.editing);
    if (!message) {
      this.editing = null;
      return true;
    }
    const change = editChange(message.body, body);
    if (change === "blank") return false;
    if (change === "changed") {
      try {
        this.#putChange(await backend.editMessage(message.id, body.trim()));
      } catch (e) {
        this.#show(e);
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
    if (message.conversation_id !== this.openId || !actionsFor(message, this.standing).delete) return;
    let now: LocalMessage | null;
    try {
      now = await backend.deleteMessage(message.id);
    } catch (e) {
      this.#show(e);
      return;
    }
    if (now) {
      this.#putChange(now);
      return;
    }
    this.thread = this.thread.filter((m) => m.id !== message.id);
    this.#requote(message.id, null);
    if (this.replyingTo?.id === message.id) this.replyingTo = null;
    if (this.editing === message.id) this.editing = null;
  }

  /** Adds `emoji` to `message`, or takes this user's back if it is there. */
  async toggleReaction(message: LocalMessage, emoji: string): Promise<void> {
    if (message.conversation_id !== this.openId || !actionsFor(message, this.standing).react) return;
    try {
      this.#putChange(await backend.react(message.id, emoji));
    } catch (e) {
      this.#show(e);
    }
  }

  /**
   * Brings the message a reply quotes into view and highlights it for a moment, loading
   * older history until it is there: down to its `seq` when known, else a page at a
   * time until it shows or history ends. False (and said) when it is not to be found.
   */
  async jumpTo(messageId: string, seq: number | null = null): Promise<boolean> {
    const id = this.openId;
    if (!id) return false;
    const held = () => this.thread.some((m) => m.id === messageId);
    if (!held() && seq !== null) await this.#loadUntil(seq);
    while (this.openId === id && !held() && this.hasOlder) {
      const before = firstSeq(this.thread);
      await this.loadOlder();
      // Nothing came (a failure, already shown): stop rather than ask again and again.
      if (firstSeq(this.thread) === before) break;
    }
    if (this.openId !== id) return false;
    if (!held()) {
      this.#say("The original message is not available.");
      return false;
    }
    this.focusMessageId = messageId;
    const token = ++this.focusToken;
    clearTimeout(this.#highlightTimer);
    this.#highlightTimer = setTimeout(() => {
      if (this.focusToken === token) this.focusMessageId = null;
    }, JUMP_HIGHLIGHT_MS);
    return true;
  }

  /** Puts a failed message back in the outbox (its event shows it pending again). */
  async retry(messageId: string): Promise<void> {
    await this.#run(backend.retryMessage(messageId));
  }

  /** Deletes an unsent message (the conversation's new summary comes as an event). */
  async discard(messageId: string): Promise<void> {
    try {
      await backend.discardMessage(messageId);
    } catch (e) {
      this.#show(e);
      return;
    }
    this.thread = this.thread.filter((m) => m.id !== messageId);
    this.#forgetProgress(messageId);
  }

  // --- Files -------------------------------------------------------------------------

  /** The files picked in the system's dialog; none when it was cancelled (or failed, said). */
  async pickFiles(): Promise<string[]> {
    try {
      return await backend.pickFiles();
    } catch (e) {
      this.#show(e);
      return [];
    }
  }

  /**
   * Sends files (by path) in the open conversation as one message with `caption`; as a
   * reply to `replyingTo` (then no more) unless `reply` is false (files dropped on the
   * window leave the composer as it is). It shows at once as pending, with its previews.
   */
  async sendFiles(paths: string[], caption = "", { reply = true }: { reply?: boolean } = {}): Promise<boolean> {
    const id = this.openId;
    if (!id || paths.length === 0) return false;
    const target = reply && this.replyingTo?.conversation_id === id ? this.replyingTo : null;
    try {
      const message = await backend.sendFiles(id, paths, caption.trim(), target?.id ?? null);
      if (this.openId === id) this.#putMessage(message);
    } catch (e) {
      this.#show(e);
      return false;
    }
    if (target && this.replyingTo === target) this.replyingTo = null;
    return true;
  }

  /** Sends one file given as bytes (a pasted image), base64-encoded, in the open conversation. */
  async sendFileData(name: string, dataBase64: string, caption = ""): Promise<boolean> {
    const id = this.openId;
    if (!id) return false;
    try {
      const message = await backend.sendFileData(id, name, dataBase64, caption.trim());
      if (this.openId === id) this.#putMessage(message);
    } catch (e) {
      this.#show(e);
      return false;
    }
    return true;
  }

  /**
   * Sends the system clipboard's picture in the open conversation, if it holds one: the
   * paste brought the page nothing (see `pasteAsksTheSystem`). Nothing is said when there
   * is no picture; a clipboard that cannot be read is.
   */
  async sendClipboardImage(): Promise<void> {
    const id = this.openId;
    if (!id) return;
    try {
      const message = await backend.sendClipboardImage(id);
      if (message && this.openId === id) this.#putMessage(message);
    } catch (e) {
      this.#show(e);
    }
  }

  /** Stops a pending message's uploads; the message is gone, as if discarded. */
  async cancelUpload(messageId: string): Promise<void> {
    try {
      await backend.cancelUpload(messageId);
    } catch (e) {
      this.#show(e);
      return;
    }
    this.thread = this.thread.filter((m) => m.id !== messageId);
    this.#forgetProgress(messageId);
  }

  /** The latest progress heard for one file of a pending message, or null. */
  uploadProgress(messageId: string, index: number): UploadProgress | null {
    return this.#uploads.get(previewKey(messageId, index)) ?? null;
  }

  /** The preview of an image if it is in memory already (shown at once), else null. */
  cachedPreview(messageId: string, index: number): string | null {
    return this.#previews.get(previewKey(messageId, index));
  }

  /**
   * The `data:` URL of an image's inline preview, from memory or the core. Rejects (with
   * the core's error, unshown) when it cannot be had now, say offline before it was
   * cached: the image then shows its name and asks again later.
   */
  preview(messageId: string, index: number): Promise<string> {
    return this.#previews.fetch(previewKey(messageId, index), () => backend.attachmentPreview(messageId, index));
  }

  /** The whole image for the viewer (the core downloads it first); rejects with the core's error. */
  async openImage(message: LocalMessage, attachment: LocalAttachment): Promise<string> {
    const url = await backend.openImage(message.id, attachment.index);
    if (!attachment.downloaded) this.#patchAttachment(message.id, attachment.index, { downloaded: true });
    return url;
  }

  /** A file is being downloaded. */
  isDownloading(messageId: string, index: number): boolean {
    return this.#downloading.has(previewKey(messageId, index));
  }

  /**
   * Downloads a file to this device (its message then says `downloaded`); true once it
   * is here. A failure (offline, say) is shown.
   */
  async download(message: LocalMessage, attachment: LocalAttachment): Promise<boolean> {
    if (attachment.downloaded) return true;
    const key = previewKey(message.id, attachment.index);
    if (this.#downloading.has(key)) return false;
    this.#downloading.add(key);
    try {
      await backend.downloadAttachment(message.id, attachment.index);
    } catch (e) {
      this.#show(e);
      return false;
    } finally {
      this.#downloading.delete(key);
    }
    // The core's message event says so too; until it comes, the held copy says it.
    this.#patchAttachment(message.id, attachment.index, { downloaded: true });
    return true;
  }

  /**
   * Opens a file with the system's default app (downloading it first if need be). A file
   * the core does not open (a type that could run a program, or one no application here
   * opens) is on this device all the same: the notice says why and offers Save as….
   */
  async openFile(message: LocalMessage, attachment: LocalAttachment): Promise<void> {
    if (!(await this.download(message, attachment))) return;
    try {
      await backend.openAttachment(message.id, attachment.index);
    } catch (e) {
      this.#say(backend.toCommandError(e).message, {
        label: "Save as…",
        run: () => void this.saveAs(message, attachment),
      });
    }
  }

  /**
   * "Save as…": asks where (proposing the file's name), then copies the file there,
   * downloading it first if need be. False when cancelled or failed (shown).
   */
  async saveAs(message: LocalMessage, attachment: LocalAttachment): Promise<boolean> {
    let path: string | null;
    try {
      // Proposed as shown, without characters that would disguise it on disk too, and
      // without folders: the name must not choose where the file goes.
      path = await backend.pickSavePath(saveAsName(attachment.name));
    } catch (e) {
      this.#show(e);
      return false;
    }
    if (!path || !(await this.download(message, attachment))) return false;
    try {
      await backend.saveAttachment(message.id, attachment.index, path);
    } catch (e) {
      this.#show(e);
      return false;
    }
    return true;
  }

  /** Files dragged over the window: shown while over it, sent to the open conversation on drop. */
  #onFileDrag(drag: backend.FileDrag): void {
    const open = this.open;
    const droppable = this.me !== null && open !== null && whyClosed(open) === null;
    switch (drag.type) {
      case "enter":
        this.dragging = droppable && drag.paths.length > 0;
        return;
      case "over":
        return;
      case "leave":
        this.dragging = false;
        return;
      case "drop":
        this.dragging = false;
        // The composer keeps its text and reply: the files go as they are.
        if (droppable && drag.paths.length > 0) void this.sendFiles(drag.paths, "", { reply: false });
        return;
    }
  }

  #forgetProgress(messageId: string): void {
    for (const key of this.#uploads.keys()) {
      if (key.startsWith(`${messageId}/`)) this.#uploads.delete(key);
    }
  }

  /** Changes one file of a message the open thread holds. */
  #patchAttachment(messageId: string, index: number, change: Partial<LocalAttachment>): void {
    const at = this.thread.findIndex((m) => m.id === messageId);
    if (at < 0) return;
    const held = this.thread[at]!;
    const next = this.thread.slice();
    next[at] = {
      ...held,
      attachments: held.attachments.map((a) => (a.index === index ? { ...a, ...change } : a)),
    };
    this.thread = next;
  }

  async setMuted(conversationId: string, muted: boolean): Promise<void> {
    await this.#run(backend.setMuted(conversationId, muted));
  }

  /** Saves a conversation's unsent text (empty clears it); the list shows it. */
  async saveDraft(conversationId: string, body: string): Promise<void> {
    await backend.setDraft(conversationId, body);
    // The core sends no event for drafts: what was stored is known here.
    this.#patch(conversationId, (c) => ({ ...c, draft: body === "" ? null : body }));
  }

  /** The user is composing in a conversation, or stopped. */
  setTyping(conversationId: string, composing: boolean): Promise<void> {
    return backend.setTyping(conversationId, composing);
  }

  /** Tells the core what the window shows (for notifications and read state). */
  reportAttention(): Promise<void> {
    return backend.setAttention(this.focused, this.openId);
  }

  /** Skips the reconnect wait ("Retry now"). */
  reconnectNow(): Promise<void> {
    return backend.reconnectNow();
  }

  /** Full-text search over every stored message; works offline. */
  search(text: string, limit: number): Promise<SearchHit[]> {
    return searchMessages(text, limit);
  }

  /**
   * The summaries of those of `ids` the list does not hold (it holds only the pages read
   * so far), read one by one, to name search hits' conversations and senders. They are
   * not added to the list; one that cannot be read is left out (its hit says less).
   */
  async summariesNotHeld(ids: readonly string[]): Promise<ConversationSummary[]> {
    const held = new Set(this.conversations.map((c) => c.id));
    const missing = [...new Set(ids)].filter((id) => !held.has(id));
    const read = await Promise.all(missing.map((id) => backend.conversation(id).catch(() => null)));
    return read.filter((c) => c !== null);
  }

  /** Opens (creating if needed) the direct chat with `username`. */
  async openDirect(username: string): Promise<void> {
    const id = await backend.openDirect(username);
    await this.#loadSummary(id);
    await this.openConversation(id);
  }

  async createGroup(title: string, memberIds: string[]): Promise<void> {
    const id = await backend.createGroup(title, memberIds);
    await this.#loadSummary(id);
    await this.openConversation(id);
  }

  async addMembers(conversationId: string, userIds: string[]): Promise<void> {
    await backend.addMembers(conversationId, userIds);
    await this.#loadSummary(conversationId);
  }

  async leave(conversationId: string): Promise<void> {
    await this.#run(backend.leaveConversation(conversationId));
    await this.#loadSummary(conversationId);
  }

  /** Accepts a message request; its summary then says so, and the composer shows. */
  async acceptRequest(conversationId: string): Promise<void> {
    await this.#run(backend.acceptRequest(conversationId));
    await this.#loadSummary(conversationId);
  }

  /**
   * Deletes a message request on this device only (nothing is sent, so it works
   * offline). Its summary then says so: it leaves the list, and closes if it was open,
   * until the stranger writes again.
   */
  async dismissRequest(conversationId: string): Promise<void> {
    await this.#run(backend.dismissRequest(conversationId));
    await this.#loadSummary(conversationId);
  }

  /** Blocks or unblocks `userId`; the direct chat with them says so once re-read. */
  async setBlocked(userId: string, blocked: boolean): Promise<void> {
    await this.#run(backend.setBlocked(userId, blocked));
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

  /** Re-reads the held direct chat with `userId`, if any (a block changed it). */
  async #loadDirectWith(userId: string): Promise<void> {
    const direct = this.conversations.find(
      (c) => c.kind === "direct" && c.members.some((m) => m.user.id === userId),
    );
    if (direct) await this.#loadSummary(direct.id);
  }

  async #run(work: Promise<unknown>): Promise<void> {
    try {
      await work;
    } catch (e) {
      this.#show(e);
    }
  }

  #show(e: unknown): void {
    this.#say(backend.toCommandError(e).message);
  }

  /** Shows `text` in the notice for a few seconds (longer when it offers `action`). */
  #say(text: string, action: NoticeAction | null = null): void {
    this.notice = text;
    this.noticeAction = action;
    clearTimeout(this.#noticeTimer);
    this.#noticeTimer = setTimeout(() => this.dismissNotice(), action ? 12000 : 6000);
  }

  dismissNotice(): void {
    this.notice = null;
    this.noticeAction = null;
  }
}
