/**
 * `OpenThread`: the conversation open in the window and the part of its history held,
 * oldest first (pending and failed messages last, in compose order). It opens at the
 * first unread message, pages back on demand, lets go of old pages once the reader is
 * back at the end, and brings a message into view on request (a search hit, a reply's
 * quote). Each `message` event puts one message in place; a change to a message (an
 * edit, a deletion, a reaction) is put in place only where the message is shown, since a
 * change is never news. Events heard while the thread is being read are put back once
 * the read lands.
 *
 * It builds on the list (the open conversation's summary is the list's row, which the
 * list keeps even below the pages read) and answers the list through `OpenRow`. What
 * builds on it (the composer's marks, the drop target) hears through `onClose` and
 * `onChange` instead of being reached into. The window's focus is here too: new messages
 * in the open conversation are marked read only while the window has it.
 */
import * as backend from "../backend";
import type { ConversationSummary } from "../bindings/ConversationSummary";
import type { LocalMessage } from "../bindings/LocalMessage";
import type { Quote } from "../bindings/Quote";
import { READ_ONLY, standingIn, type Standing } from "../changes";
import { coalesce } from "../coalesce";
import { fresher } from "../copies";
import { m } from "../paraglide/messages.js";
import type { Conversations, OpenRow } from "./list.svelte";
import type { Notice } from "./notice.svelte";
import type { Session } from "./session.svelte";
import type { Uploads } from "./uploads.svelte";

/** Messages per page of history. */
const PAGE = 50;
/** Most pages loaded in one go to reach a target (first unread, a search hit). */
const MAX_PAGES_TO_TARGET = 40;
/** How long a message jumped to (from a reply's quote) stays highlighted. */
export const JUMP_HIGHLIGHT_MS = 2000;
/** Sent messages of the open thread held, at most, once the reader is back at its end... */
export const HELD_AT_END = 500;
/** ...and how many of the latest are kept then (paging back reads the rest again). */
export const KEPT_AT_END = 4 * PAGE;

export interface OpenTarget {
  /** Scroll to and highlight this message (a search hit). */
  messageId?: string;
  /** Its seq, so that older pages can be loaded until it is there. */
  seq?: number | null;
}

/** A message event heard while the thread was being read, to put back once it lands. */
interface Heard {
  message: LocalMessage;
  /** A change to a message (put in place only where shown), not the message itself. */
  change: boolean;
}

function firstSeq(messages: readonly LocalMessage[]): number | null {
  for (const m of messages) if (m.seq !== null) return m.seq;
  return null;
}

/** What a reply shows of `message` (the preview's fake core makes quotes with it too). */
export function quoteOf(message: LocalMessage): Quote {
  const { id, sender_id, body, seq, deleted, unreadable } = message;
  return { id, sender_id, body, seq, deleted, unreadable };
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

export class OpenThread implements OpenRow {
  openId = $state<string | null>(null);
  /** The open thread, oldest first (pending and failed ones last). */
  messages = $state.raw<LocalMessage[]>([]);
  /** The open thread's first page has arrived. */
  loaded = $state(false);
  hasOlder = $state(false);
  loadingOlder = $state(false);
  /** Where the "unread" marker goes, fixed when the conversation was opened. */
  firstUnreadId = $state<string | null>(null);
  /** A message to bring into view; `focusToken` changes each time it is asked for. */
  focusMessageId = $state<string | null>(null);
  focusToken = $state(0);
  /** The window has keyboard focus. */
  focused = $state(true);

  // `$derived.by`: TypeScript takes a plain `$derived(…)` for a read of the stores below
  // before the constructor has set them (Svelte reads either lazily).
  /** The open conversation's row of the list. */
  conversation: ConversationSummary | null = $derived.by(
    () => this.#list.conversations.find((c) => c.id === this.openId) ?? null,
  );
  /** What this user may change in the open conversation (see `../changes`). */
  standing: Standing = $derived.by(() => {
    const me = this.#session.me;
    return this.conversation && me ? standingIn(this.conversation, me.id) : READ_ONLY;
  });

  readonly #session: Session;
  readonly #list: Conversations;
  readonly #notice: Notice;
  readonly #uploads: Uploads;
  readonly #closeListeners: (() => void)[] = [];
  readonly #changeListeners: ((message: LocalMessage) => void)[] = [];
  /** The last_seq for which mark_read was asked, so it is asked once per new message. */
  #markedUpTo = new Map<string, number>();
  #highlightTimer: ReturnType<typeof setTimeout> | undefined;
  /** The read of older history in flight, which a second caller waits for. */
  #olderRead: Promise<void> | null = null;
  /** Events heard while the thread is being re-read, put back in place once it lands. */
  #heardDuringRead: Heard[] | null = null;

  readonly refresh = coalesce(() => this.#load());

  constructor(session: Session, list: Conversations, notice: Notice, uploads: Uploads) {
    this.#session = session;
    this.#list = list;
    this.#notice = notice;
    this.#uploads = uploads;
    session.onEnd(() => {
      this.close();
      this.#markedUpTo.clear();
    });
  }

  /** `then` runs each time the open conversation closes (what was marked in it goes). */
  onClose(then: () => void): void {
    this.#closeListeners.push(then);
  }

  /** `then` hears each change to a message put in place (what shows it follows). */
  onChange(then: (message: LocalMessage) => void): void {
    this.#changeListeners.push(then);
  }

  /**
   * Opens a conversation (or brings a message of the open one into view). The list holds
   * only the pages read so far, so one below them (a search hit, a notification) is read
   * by id first; one this device does not know is not opened.
   */
  async open(id: string, target: OpenTarget = {}): Promise<void> {
    const held = () => this.#list.conversations.find((c) => c.id === id);
    if (!held()) await this.#list.load(id);
    if (!held()) return;
    if (this.openId !== id) {
      const summary = held();
      const unreadFrom =
        summary && summary.unread_count > 0 ? summary.last_seq - summary.unread_count + 1 : null;
      this.close();
      this.openId = id;
      await this.refresh();
      if (this.openId !== id) return;
      if (unreadFrom !== null) {
        await this.#loadUntil(unreadFrom);
        this.firstUnreadId =
          this.messages.find((m) => !m.mine && m.seq !== null && m.seq >= unreadFrom)?.id ?? null;
      }
    }
    if (target.messageId) {
      if (target.seq != null) await this.#loadUntil(target.seq);
      this.focusMessageId = target.messageId;
      this.focusToken++;
    }
    this.loaded = true;
  }

  /**
   * Nothing is open any more: the open conversation went away from the list (a request
   * deleted on this device), the user signed out, or another one is being opened.
   */
  close(): void {
    this.openId = null;
    this.messages = [];
    this.loaded = false;
    this.hasOlder = false;
    this.firstUnreadId = null;
    this.focusMessageId = null;
    for (const then of this.#closeListeners) then();
  }

  /** The list put the open conversation's row in place: statuses may have moved. */
  rowPut(held: ConversationSummary | undefined, now: ConversationSummary): void {
    const me = this.#session.me?.id ?? "";
    if (held && statusBasis(held, me) !== statusBasis(now, me)) void this.refresh();
    this.markRead();
  }

  /** New messages in the conversation the user is looking at are read. */
  markRead(): void {
    const open = this.conversation;
    if (!open || !this.focused || open.left || open.unread_count === 0) return;
    if (this.#markedUpTo.get(open.id) === open.last_seq) return;
    this.#markedUpTo.set(open.id, open.last_seq);
    backend.markRead(open.id).catch((e) => this.#notice.show(e));
  }

  /** The window gained or lost focus. */
  setFocused(focused: boolean): void {
    this.focused = focused;
    if (focused) this.markRead();
  }

  /** Tells the core what the window shows (for notifications and read state). */
  reportAttention(): Promise<void> {
    return backend.setAttention(this.focused, this.openId);
  }

  /**
   * One message of the open thread as stored now: replaced where it is, or placed by
   * seq (sent ones) or last (unsent ones, which are in compose order). A sent message
   * older than the held history is left to paging back.
   */
  put(message: LocalMessage): void {
    this.#heardDuringRead?.push({ message, change: false });
    this.#place(message);
  }

  /**
   * A change to a message (edited, deleted, reacted to, or a refused change undone), as
   * it shows now: replaced where the open thread holds it, and in the quotes of the
   * replies to it. A message not held stays unheld: a change is never news.
   */
  putChange(message: LocalMessage): void {
    this.#heardDuringRead?.push({ message, change: true });
    if (this.messages.some((m) => m.id === message.id)) this.#place(message);
    this.#requote(message.id, quoteOf(message));
    for (const then of this.#changeListeners) then(message);
  }

  /** A message never sent is deleted: it is gone, and the replies to it say so. */
  deleted(messageId: string): void {
    this.messages = this.messages.filter((m) => m.id !== messageId);
    this.#requote(messageId, null);
  }

  /** A pending message is gone (discarded, or its upload cancelled), with its progress. */
  drop(messageId: string): void {
    this.messages = this.messages.filter((m) => m.id !== messageId);
    this.#uploads.forget(messageId);
  }

  /** Changes one message the open thread holds (nothing if it holds none by that id). */
  patch(messageId: string, change: (m: LocalMessage) => LocalMessage): void {
    const at = this.messages.findIndex((m) => m.id === messageId);
    if (at < 0) return;
    const next = this.messages.slice();
    next[at] = change(this.messages[at]!);
    this.messages = next;
  }

  /** Loads the page before the oldest held message (one read at a time: a second call waits for it). */
  loadOlder(): Promise<void> {
    this.#olderRead ??= this.#readOlder().finally(() => (this.#olderRead = null));
    return this.#olderRead;
  }

  /**
   * The reader is back at the end of the open thread: history scrolled back through is
   * let go beyond the latest pages, so a long scroll-back does not stay in memory and in
   * the DOM. Nothing happens below `HELD_AT_END` (so a small scroll back and forth
   * does not page the same history in and out).
   */
  forgetOlder(): void {
    const sent = this.messages.filter((m) => m.seq !== null);
    if (sent.length <= HELD_AT_END || this.loadingOlder) return;
    const from = sent[sent.length - KEPT_AT_END]!.seq!;
    this.messages = this.messages.filter((m) => m.seq === null || m.seq >= from);
    this.hasOlder = true;
  }

  /**
   * Brings the message a reply quotes into view and highlights it for a moment, loading
   * older history until it is there: down to its `seq` when known, else a page at a
   * time until it shows or history ends. False (and said) when it is not to be found.
   */
  async jumpTo(messageId: string, seq: number | null = null): Promise<boolean> {
    const id = this.openId;
    if (!id) return false;
    const held = () => this.messages.some((m) => m.id === messageId);
    if (!held() && seq !== null) await this.#loadUntil(seq);
    while (this.openId === id && !held() && this.hasOlder) {
      const before = firstSeq(this.messages);
      await this.loadOlder();
      // Nothing came (a failure, already shown): stop rather than ask again and again.
      if (firstSeq(this.messages) === before) break;
    }
    if (this.openId !== id) return false;
    if (!held()) {
      this.#notice.say(m.original_not_available_notice());
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

  /** The window goes: the highlight's timer would otherwise outlive it. */
  stop(): void {
    clearTimeout(this.#highlightTimer);
  }

  /**
   * Re-reads the open thread: the latest page, at least as long as what is held, and
   * keeps held history older than it (so scrolling back is not undone by an event).
   */
  async #load(): Promise<void> {
    const id = this.openId;
    if (!id) return;
    const held = this.messages.filter((m) => m.seq !== null).length;
    const limit = Math.min(500, Math.max(PAGE, held + PAGE));
    let fresh: LocalMessage[];
    this.#heardDuringRead = [];
    try {
      fresh = await backend.messages(id, null, limit);
    } catch (e) {
      this.#heardDuringRead = null;
      this.#notice.show(e);
      return;
    }
    const heard = this.#heardDuringRead;
    this.#heardDuringRead = null;
    if (this.openId !== id) return;
    // What was read is as new as any progress heard before it.
    for (const m of fresh) if (m.status === "pending" && m.attachments.length > 0) this.#uploads.forget(m.id);
    const from = firstSeq(fresh);
    const older = from === null ? [] : this.messages.filter((m) => m.seq !== null && m.seq < from);
    this.messages = [...older, ...fresh];
    if (older.length === 0) {
      const sent = fresh.filter((m) => m.seq !== null).length;
      this.hasOlder = sent >= limit && (from ?? 0) > 1;
    }
    for (const { message, change } of heard) {
      if (message.conversation_id !== id) continue;
      if (change) this.putChange(message);
      else this.put(message);
    }
  }

  async #readOlder(): Promise<void> {
    const id = this.openId;
    const before = firstSeq(this.messages);
    if (!id || before === null || !this.hasOlder || this.loadingOlder) return;
    this.loadingOlder = true;
    try {
      const page = await backend.messages(id, before, PAGE);
      if (this.openId !== id) return;
      const held = new Set(this.messages.map((m) => m.id));
      this.messages = [...page.filter((m) => !held.has(m.id)), ...this.messages];
      this.hasOlder = page.length >= PAGE && (firstSeq(page) ?? 0) > 1;
    } catch (e) {
      this.#notice.show(e);
    } finally {
      this.loadingOlder = false;
    }
  }

  async #loadUntil(seq: number): Promise<void> {
    for (let i = 0; i < MAX_PAGES_TO_TARGET; i++) {
      const from = firstSeq(this.messages);
      if (from === null || from <= seq || !this.hasOlder) return;
      await this.loadOlder();
    }
  }

  /** The replies to message `id` held in the thread quote it as `quote` (null: gone). */
  #requote(id: string, quote: Quote | null): void {
    if (!this.messages.some((m) => m.reply_to === id)) return;
    this.messages = this.messages.map((m) => (m.reply_to === id ? { ...m, quote } : m));
  }

  /**
   * Puts `message` in the thread, as `put` says, without recording it. A copy older than
   * the one held (see `../copies`) does not take its place.
   */
  #place(incoming: LocalMessage): void {
    const at = this.messages.findIndex((m) => m.id === incoming.id);
    const held = at >= 0 ? this.messages[at]! : null;
    const message = held ? fresher(held, incoming) : incoming;
    if (message === held) return;
    if (at >= 0 && held!.seq === message.seq) {
      const next = this.messages.slice();
      next[at] = message;
      this.messages = next;
      return;
    }
    const rest = at >= 0 ? this.messages.filter((m) => m.id !== message.id) : this.messages;
    const seq = message.seq;
    if (seq === null) {
      this.messages = [...rest, message];
      return;
    }
    const from = firstSeq(rest);
    if (from !== null && seq < from && this.hasOlder) {
      this.messages = rest;
      return;
    }
    let i = rest.findIndex((m) => m.seq === null || m.seq > seq);
    if (i < 0) i = rest.length;
    this.messages = [...rest.slice(0, i), message, ...rest.slice(i)];
  }
}
