/**
 * `Chat`: what the window shows, as last read from the core. It holds no truth of its
 * own: on every core event it re-reads what is on screen (the conversation list, the
 * open thread) through the backend commands, so it is always as right as the store.
 * Components read its fields and call its methods; only this class and the backend
 * module know about commands and events.
 */
import * as backend from "./backend";
import type { CommandError } from "./bindings/CommandError";
import type { ConnectionState } from "./bindings/ConnectionState";
import type { ConversationSummary } from "./bindings/ConversationSummary";
import type { Event } from "./bindings/Event";
import type { LocalMessage } from "./bindings/LocalMessage";
import type { User } from "./bindings/User";
import { coalesce } from "./coalesce";
import { sortConversations } from "./conversations";

/** Messages per page of history. */
export const PAGE = 50;
/** Most pages loaded in one go to reach a target (first unread, a search hit). */
const MAX_PAGES_TO_TARGET = 40;

function firstSeq(messages: readonly LocalMessage[]): number | null {
  for (const m of messages) if (m.seq !== null) return m.seq;
  return null;
}

export interface OpenTarget {
  /** Scroll to and highlight this message (a search hit). */
  messageId?: string;
  /** Its seq, so that older pages can be loaded until it is there. */
  seq?: number | null;
}

export class Chat {
  /** The first `session()` answered. */
  ready = $state(false);
  me = $state.raw<User | null>(null);
  connection = $state.raw<ConnectionState>({ state: "connecting" });
  conversations = $state.raw<ConversationSummary[]>([]);

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

  /** The window has keyboard focus. */
  focused = $state(true);
  /** A failure to show for a moment (a command that did not work). */
  notice = $state<string | null>(null);

  open: ConversationSummary | null = $derived(
    this.conversations.find((c) => c.id === this.openId) ?? null,
  );

  #unlisten: (() => void) | null = null;
  #unlistenOpen: (() => void) | null = null;
  /** The last_seq for which mark_read was asked, so it is asked once per new message. */
  #markedUpTo = new Map<string, number>();
  #noticeTimer: ReturnType<typeof setTimeout> | undefined;

  readonly refreshList = coalesce(() => this.#loadConversations());
  readonly refreshThread = coalesce(() => this.#loadThread());

  /** Listens to the core, then paints from the local store (no network needed). */
  async start(): Promise<void> {
    this.#unlisten = await backend.onEvent((event) => this.#onEvent(event));
    this.#unlistenOpen = await backend.onOpenRequest((id) => void this.#openRequested(id));
    try {
      const view = await backend.session();
      this.me = view.user;
      this.connection = view.connection;
      if (this.me) await this.refreshList();
    } catch (e) {
      this.#show(e);
    } finally {
      this.ready = true;
    }
  }

  stop(): void {
    this.#unlisten?.();
    this.#unlisten = null;
    this.#unlistenOpen?.();
    this.#unlistenOpen = null;
  }

  /** After signing in or up. */
  async signedIn(user: User): Promise<void> {
    this.me = user;
    this.connection = { state: "connecting" };
    await this.refreshList();
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
    this.me = null;
    this.conversations = [];
    this.openId = null;
    this.thread = [];
    this.threadLoaded = false;
    this.firstUnreadId = null;
    this.focusMessageId = null;
    this.#markedUpTo.clear();
  }

  #onEvent(event: Event): void {
    if (!this.me) return;
    switch (event.type) {
      case "connection":
        this.connection = event.state;
        return;
      case "message":
        void this.refreshList();
        if (event.message.conversation_id === this.openId) void this.refreshThread();
        return;
      case "conversation":
      case "receipt":
        void this.refreshList();
        if (event.conversation_id === backend.EVERYTHING || event.conversation_id === this.openId) {
          void this.refreshThread();
        }
        return;
      case "typing":
      case "presence":
        void this.refreshList();
        return;
    }
  }

  async #loadConversations(): Promise<void> {
    try {
      this.conversations = sortConversations(await backend.conversations());
    } catch (e) {
      if ((e as CommandError).code === "signed_out") this.#reset();
      else this.#show(e);
      return;
    }
    this.#markOpenRead();
  }

  /** New messages in the conversation the user is looking at are read. */
  #markOpenRead(): void {
    const open = this.open;
    if (!open || !this.focused || open.left || open.unread_count === 0) return;
    if (this.#markedUpTo.get(open.id) === open.last_seq) return;
    this.#markedUpTo.set(open.id, open.last_seq);
    backend.markRead(open.id).catch((e) => this.#show(e));
  }

  /** The window gained or lost focus. */
  setFocused(focused: boolean): void {
    this.focused = focused;
    if (focused) this.#markOpenRead();
  }

  /** A clicked notification: its conversation may be newer than the list held. */
  async #openRequested(id: string): Promise<void> {
    if (!this.me) return;
    if (!this.conversations.some((c) => c.id === id)) await this.refreshList();
    if (!this.conversations.some((c) => c.id === id)) return;
    await this.openConversation(id);
  }

  /** Opens a conversation (or brings a message of the open one into view). */
  async openConversation(id: string, target: OpenTarget = {}): Promise<void> {
    if (this.openId !== id) {
      const summary = this.conversations.find((c) => c.id === id);
      const unreadFrom =
        summary && summary.unread_count > 0 ? summary.last_seq - summary.unread_count + 1 : null;
      this.openId = id;
      this.thread = [];
      this.threadLoaded = false;
      this.hasOlder = false;
      this.firstUnreadId = null;
      this.focusMessageId = null;
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
    try {
      fresh = await backend.messages(id, null, limit);
    } catch (e) {
      this.#show(e);
      return;
    }
    if (this.openId !== id) return;
    const from = firstSeq(fresh);
    const older =
      from === null ? [] : this.thread.filter((m) => m.seq !== null && m.seq < from);
    this.thread = [...older, ...fresh];
    if (older.length === 0) {
      const sent = fresh.filter((m) => m.seq !== null).length;
      this.hasOlder = sent >= limit && (from ?? 0) > 1;
    }
  }

  /** Loads the page before the oldest held message. */
  async loadOlder(): Promise<void> {
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

  async #loadUntil(seq: number): Promise<void> {
    for (let i = 0; i < MAX_PAGES_TO_TARGET; i++) {
      const from = firstSeq(this.thread);
      if (from === null || from <= seq || !this.hasOlder) return;
      await this.loadOlder();
    }
  }

  /** Sends `body` in the open conversation; it shows at once as pending. */
  async send(body: string): Promise<boolean> {
    const id = this.openId;
    if (!id || !body.trim()) return false;
    try {
      const message = await backend.sendMessage(id, body);
      if (this.openId === id && !this.thread.some((m) => m.id === message.id)) {
        this.thread = [...this.thread, message];
      }
    } catch (e) {
      this.#show(e);
      return false;
    }
    void this.refreshThread();
    return true;
  }

  async retry(messageId: string): Promise<void> {
    await this.#run(backend.retryMessage(messageId));
    void this.refreshThread();
  }

  async discard(messageId: string): Promise<void> {
    await this.#run(backend.discardMessage(messageId));
    void this.refreshThread();
    void this.refreshList();
  }

  async setMuted(conversationId: string, muted: boolean): Promise<void> {
    await this.#run(backend.setMuted(conversationId, muted));
    void this.refreshList();
  }

  /** Opens (creating if needed) the direct chat with `username`. */
  async openDirect(username: string): Promise<void> {
    const id = await backend.openDirect(username);
    await this.refreshList();
    await this.openConversation(id);
  }

  async createGroup(title: string, memberIds: string[]): Promise<void> {
    const id = await backend.createGroup(title, memberIds);
    await this.refreshList();
    await this.openConversation(id);
  }

  async addMembers(conversationId: string, userIds: string[]): Promise<void> {
    await backend.addMembers(conversationId, userIds);
    await this.refreshList();
  }

  async leave(conversationId: string): Promise<void> {
    await this.#run(backend.leaveConversation(conversationId));
    await this.refreshList();
  }

  async #run(work: Promise<unknown>): Promise<void> {
    try {
      await work;
    } catch (e) {
      this.#show(e);
    }
  }

  #show(e: unknown): void {
    this.notice = backend.toCommandError(e).message;
    clearTimeout(this.#noticeTimer);
    this.#noticeTimer = setTimeout(() => (this.notice = null), 6000);
  }

  dismissNotice(): void {
    this.notice = null;
  }
}
