/**
 * `Conversations`: the conversations the sidebar shows, newest activity first, read
 * a page at a time (by place: `ListPosition`) so that a long list costs what a short one
 * does. Each `conversation` event puts one summary in place; a `resync` re-reads as many
 * rows as had been paged in. Changes heard while a read is in flight are put back once
 * it lands, since the read may have started before they were stored, in the same
 * assignment as the rows read: a row heard meanwhile never blinks out.
 *
 * A message request this user deleted (`dismissed`) is left out, whether a page or an
 * event brings it; a summary that says it is no longer dismissed (its stranger wrote
 * again) puts it back. What the user changes of one conversation from its header or
 * composer (notification level, draft, members, leaving) is here too; requests, blocks and reports are
 * `./safety`.
 *
 * The list does not import the open thread (which builds on it): it tells it what it
 * must know of its row through `OpenRow`, which the thread implements.
 */
import * as backend from "../backend";
import type { ConversationSummary } from "../bindings/ConversationSummary";
import type { ListPosition } from "../bindings/ListPosition";
import type { NotifyLevel } from "../bindings/NotifyLevel";
import type { Presence } from "../bindings/Presence";
import type { SearchHit } from "../bindings/SearchHit";
import { coalesce } from "../coalesce";
import { compareConversations, placeConversation, sortConversations } from "../conversations";
import type { Notice } from "./notice.svelte";
import type { Session } from "./session.svelte";

/**
 * Conversations per page of the list. The first page is what the window paints first, so
 * it is small: a tall window shows about fifteen rows, and a hundred also leave a few
 * screens to scroll before the next page is needed, at a fraction of the cost (each row
 * is a summary with its members and last message, built by the core and sent over IPC).
 */
export const LIST_PAGE = 100;
/** The most one call of the core's `conversations` returns (its own bound). */
const LIST_MAX_PER_CALL = 500;

/** What the list must know of, and tell, the open conversation. */
export interface OpenRow {
  /** The open conversation: its row stays in the list even below the rows read. */
  readonly openId: string | null;
  /** Its row was put in place as `now`, replacing `held` (if the list had it). */
  rowPut(held: ConversationSummary | undefined, now: ConversationSummary): void;
  /** Its row left the list (a request deleted on this device): it closes. */
  close(): void;
  /** The list was read again: new messages in it may be read now. */
  markRead(): void;
}

const NOTHING_OPEN: OpenRow = { openId: null, rowPut() {}, close() {}, markRead() {} };

/** A row's place in the list, as the core pages from it. */
function position(summary: ConversationSummary): ListPosition {
  return { updated_at: summary.updated_at, id: summary.id };
}

/**
 * `list` with one conversation as stored now: put in place, the list kept sorted, or
 * taken out if it is a request this user deleted.
 */
function placed(list: readonly ConversationSummary[], summary: ConversationSummary): ConversationSummary[] {
  return summary.dismissed ? list.filter((c) => c.id !== summary.id) : placeConversation(list, summary);
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

export class Conversations {
  conversations = $state.raw<ConversationSummary[]>([]);
  /** The list has been read at least once (so an empty one is known to be empty). */
  loaded = $state(false);
  /** The core holds more of the list below the rows read so far (the last page was full). */
  hasMore = $state(false);

  readonly #session: Session;
  readonly #notice: Notice;
  #open: OpenRow = NOTHING_OPEN;
  /**
   * Where the list's pages stopped: the last row of the last page read, as that page gave
   * it (the next page starts below it). Rows past it in `conversations` came one by one
   * (an event, a notification clicked) and do not move it.
   */
  #end: ListPosition | null = null;
  /** The list read in flight (a page or a re-read): never two at once. */
  #read: Promise<void> | null = null;
  /** Summaries heard while the list is being read, put back in place once it lands. */
  #heardDuringRead: ConversationSummary[] | null = null;
  /** The first paint of the list was reported (once per app start, for the benchmark). */
  #paintReported = false;

  readonly refresh = coalesce(() => this.#load());

  constructor(session: Session, notice: Notice) {
    this.#session = session;
    this.#notice = notice;
    session.onEnd(() => {
      this.conversations = [];
      this.loaded = false;
      this.hasMore = false;
      this.#end = null;
    });
  }

  /** The open conversation (the thread), which the list tells about its row. */
  follow(open: OpenRow): void {
    this.#open = open;
  }

  /**
   * One conversation as stored now: replaced (or added) in place, the list kept sorted.
   * A request this user deleted is taken out instead (and closed if open).
   */
  put(summary: ConversationSummary): void {
    this.#heardDuringRead?.push(summary);
    const held = this.conversations.find((c) => c.id === summary.id);
    // A deleted request the list does not hold changes nothing: no new list.
    if (held || !summary.dismissed) this.conversations = placed(this.conversations, summary);
    if (summary.id !== this.#open.openId) return;
    if (summary.dismissed) this.#open.close();
    else this.#open.rowPut(held, summary);
  }

  /** Reads one conversation into the list (one just created or changed by the user). */
  async load(id: string): Promise<void> {
    try {
      const summary = await backend.conversation(id);
      if (summary && this.#session.me) this.put(summary);
    } catch (e) {
      this.#notice.show(e);
    }
  }

  /** Who is typing in one conversation, as just heard. */
  heardTyping(conversationId: string, typing: ConversationSummary["typing"]): void {
    this.#patch(conversationId, (c) => ({ ...c, typing }));
  }

  /** A contact came online or went offline: every conversation with them says so. */
  heardPresence({ user_id, online }: Presence): void {
    const knows = (c: ConversationSummary) => c.members.some((m) => m.user.id === user_id && m.online !== online);
    if (!this.conversations.some(knows)) return;
    this.conversations = this.conversations.map((c) =>
      knows(c) ? { ...c, members: c.members.map((m) => (m.user.id === user_id ? { ...m, online } : m)) } : c,
    );
  }

  /**
   * Reads the next page of the list, below the rows read so far (the list was scrolled
   * near its end). Nothing while a read is in flight or the last page was short.
   */
  async loadMore(): Promise<void> {
    const after = this.#end;
    if (!this.#session.me || !this.hasMore || !after || this.#read) return;
    const epoch = this.#session.epoch;
    await this.#readList(async () => {
      const page = await backend.conversations(after, LIST_PAGE);
      if (epoch !== this.#session.epoch) return;
      const last = page[page.length - 1];
      if (last) this.#end = position(last);
      this.hasMore = page.length === LIST_PAGE;
      this.conversations = mergePage(this.conversations, page);
      this.#closeIfDismissed(page);
    });
  }

  /**
   * Chooses what this user is told of a conversation's new messages. It holds at once
   * (offline too: the core sends it on the next connect), so the row shows it as soon as
   * the core took it; the core's own event for it follows.
   */
  async setNotifications(conversationId: string, level: NotifyLevel): Promise<void> {
    if (await this.#notice.run(backend.setNotifications(conversationId, level))) {
      this.#patch(conversationId, (c) => ({ ...c, notify: level }));
    }
  }

  /** Saves a conversation's unsent text (empty clears it); the list shows it. */
  async saveDraft(conversationId: string, body: string): Promise<void> {
    await backend.setDraft(conversationId, body);
    // The core sends no event for drafts: what was stored is known here.
    this.#patch(conversationId, (c) => ({ ...c, draft: body === "" ? null : body }));
  }

  async addMembers(conversationId: string, userIds: string[]): Promise<void> {
    await backend.addMembers(conversationId, userIds);
    await this.load(conversationId);
  }

  async leave(conversationId: string): Promise<void> {
    await this.#notice.run(backend.leaveConversation(conversationId));
    await this.load(conversationId);
  }

  /**
   * The window has painted the list with its data: told to the shell the first time
   * only. An older shell without the command is no failure to show.
   */
  painted(): void {
    if (this.#paintReported) return;
    this.#paintReported = true;
    backend.firstPaint().catch(() => undefined);
  }

  /** Full-text search over every stored message; works offline. */
  search(text: string, limit: number): Promise<SearchHit[]> {
    return backend.search(text, limit);
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

  /**
   * (Re-)reads the top of the list: the first page, or after a resync as many rows as
   * had been paged in (so scrolling down is not undone), in calls the core allows. Rows
   * held beyond them are let go, except the open conversation's.
   */
  async #load(): Promise<void> {
    const epoch = this.#session.epoch;
    let fresh: ConversationSummary[] = [];
    let full = false;
    const read = await this.#readList(async () => {
      const end = this.#end;
      const wanted = end
        ? Math.max(LIST_PAGE, this.conversations.filter((c) => compareConversations(c, end) <= 0).length)
        : LIST_PAGE;
      let after: ListPosition | undefined;
      while (fresh.length < wanted) {
        const limit = Math.min(LIST_MAX_PER_CALL, wanted - fresh.length);
        const page = await backend.conversations(after, limit);
        if (epoch !== this.#session.epoch) return;
        fresh = fresh.concat(page);
        full = page.length === limit;
        if (!full || page.length === 0) break;
        after = position(page[page.length - 1]!);
      }
      const last = fresh[fresh.length - 1];
      this.#end = last ? position(last) : null;
      this.hasMore = full;
      // The open conversation stays on screen even if it is now below the rows read.
      const openId = this.#open.openId;
      const open = this.conversations.find((c) => c.id === openId && !fresh.some((f) => f.id === c.id));
      this.conversations = this.#withHeard(sortConversations(listed(open ? [...fresh, open] : fresh)));
      this.#closeIfDismissed(fresh);
      this.loaded = true;
    });
    if (!read) return;
    const openId = this.#open.openId;
    if (openId && !fresh.some((c) => c.id === openId)) await this.load(openId);
    this.#open.markRead();
  }

  /**
   * Runs one read of the list, after any read in flight, and puts back the changes heard
   * meanwhile (the read may have started before they were stored). False if it failed or
   * the session ended during it.
   */
  async #readList(read: () => Promise<void>): Promise<boolean> {
    while (this.#read) await this.#read.catch(() => undefined);
    const epoch = this.#session.epoch;
    this.#heardDuringRead = [];
    const running = read();
    this.#read = running;
    try {
      await running;
      return epoch === this.#session.epoch;
    } catch (e) {
      if (epoch !== this.#session.epoch) return false;
      if (backend.toCommandError(e).kind === "signed_out") this.#session.end();
      else this.#notice.show(e);
      return false;
    } finally {
      if (this.#read === running) this.#read = null;
      const heard = this.#heardDuringRead ?? [];
      this.#heardDuringRead = null;
      if (this.#session.me && epoch === this.#session.epoch) for (const summary of heard) this.put(summary);
    }
  }

  /**
   * `rows` just read with the summaries heard during the read already in place, as `put`
   * puts them back once it lands: a conversation heard meanwhile (read before it was
   * stored) never leaves the list for an instant, nor its row the page.
   */
  #withHeard(rows: ConversationSummary[]): ConversationSummary[] {
    return (this.#heardDuringRead ?? []).reduce(placed, rows);
  }

  /** Closes the open conversation if `read` (rows just read) says it was deleted. */
  #closeIfDismissed(read: readonly ConversationSummary[]): void {
    const openId = this.#open.openId;
    if (!openId || this.conversations.some((c) => c.id === openId)) return;
    if (read.some((c) => c.id === openId && c.dismissed)) this.#open.close();
  }

  /** Changes one held summary (nothing if the list does not hold it). */
  #patch(id: string, change: (c: ConversationSummary) => ConversationSummary): void {
    if (!this.conversations.some((c) => c.id === id)) return;
    this.conversations = this.conversations.map((c) => (c.id === id ? change(c) : c));
  }
}
