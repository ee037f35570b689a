/**
 * `Chat`: what the window shows, as last read from the core, in topic stores under
 * `./chat/`: the `session` (who is signed in, the connection), the conversation `list`,
 * the open `thread`, what this user writes in it (`compose`), `files`, `safety`
 * (requests, blocks, reports), the person's own `account` (read from the server for its
 * dialog), the `historyTransfer` between the person's own devices (the asks of their
 * other devices for this one's history), the profile `pictures` avatars show, the
 * `notice` that tells failures, the pause of every notification (`doNotDisturb`), the
 * app's own `preferences` on this computer (theme, language, tray, login) and its
 * `updates`. It holds no truth of its own: each core event carries what changed (one
 * conversation's summary as stored now, one message, who is typing), and `Chat` hands
 * it to the store it concerns; a `resync` event (the shell missed changes) re-reads
 * everything.
 *
 * `Chat` only composes: it builds the stores bottom-up (each knows only those below it;
 * the list tells the open thread about its row through `OpenRow`, which the thread
 * implements), listens to the core, and does what spans topics (starting, signing in,
 * opening a new conversation). Components are given the store they need. This module
 * and those in `./chat/` are the only ones that talk to `./backend`.
 */
import * as backend from "./backend";
import type { UiEvent } from "./bindings/UiEvent";
import type { User } from "./bindings/User";
import { OwnAccount } from "./chat/account.svelte";
import { Compose } from "./chat/compose.svelte";
import { DoNotDisturb } from "./chat/do-not-disturb.svelte";
import { Files } from "./chat/files.svelte";
import { HistoryTransfer } from "./chat/history.svelte";
import { Conversations } from "./chat/list.svelte";
import { Notice } from "./chat/notice.svelte";
import { Pictures } from "./chat/pictures.svelte";
import { Safety } from "./chat/safety.svelte";
import { AppPreferences } from "./chat/settings.svelte";
import { Session } from "./chat/session.svelte";
import { OpenThread } from "./chat/thread.svelte";
import { Updates } from "./chat/updates.svelte";
import { Uploads } from "./chat/uploads.svelte";

/** Opens an http(s) link in the system browser. */
export function openLink(url: string): Promise<void> {
  return backend.openUrl(url);
}

/** Other users whose username or display name starts with `prefix` (needs the server). */
export function findUsers(prefix: string): Promise<User[]> {
  return backend.findUsers(prefix);
}

export class Chat {
  readonly notice = new Notice();
  readonly preferences = new AppPreferences();
  readonly updates = new Updates();
  readonly session = new Session();
  readonly list = new Conversations(this.session, this.notice);
  readonly safety = new Safety(this.list, this.notice);
  readonly account = new OwnAccount(this.session, this.notice);
  readonly historyTransfer = new HistoryTransfer(this.session, this.notice);
  readonly pictures = new Pictures(this.session);
  readonly doNotDisturb = new DoNotDisturb(this.session);
  readonly #uploads = new Uploads();
  readonly thread = new OpenThread(this.session, this.list, this.notice, this.#uploads);
  readonly compose = new Compose(this.thread, this.notice);
  readonly files = new Files(this.session, this.thread, this.compose, this.notice, this.#uploads);

  #unlisten: (() => void) | null = null;
  #unlistenOpen: (() => void) | null = null;
  #unlistenDrag: (() => void) | null = null;

  constructor() {
    // The list keeps the open conversation's row and tells it when that row changes.
    this.list.follow(this.thread);
  }

  /** Listens to the core, then paints from the local store (no network needed). */
  async start(): Promise<void> {
    this.#unlisten = await backend.onEvent((event) => this.#onEvent(event));
    this.#unlistenOpen = await backend.onOpenRequest((id) => void this.#openRequested(id));
    // A shell without drag and drop still works: files come through the dialog and paste.
    this.#unlistenDrag = await backend.onFileDrag((drag) => this.files.drag(drag)).catch(() => null);
    try {
      // The theme and language are on before anything paints; they need no session.
      await Promise.all([this.preferences.load(), this.session.resume()]);
      if (this.session.me) await this.#loadAccount();
    } catch (e) {
      this.notice.show(e);
    } finally {
      this.session.ready = true;
    }
  }

  stop(): void {
    // Timers would otherwise outlive the window that set them.
    this.notice.stop();
    this.thread.stop();
    this.doNotDisturb.stop();
    this.#unlisten?.();
    this.#unlisten = null;
    this.#unlistenOpen?.();
    this.#unlistenOpen = null;
    this.#unlistenDrag?.();
    this.#unlistenDrag = null;
  }

  /** Signs in to an existing account, then reads the list; rejects with the core's error. */
  async signIn(...account: Parameters<Session["signIn"]>): Promise<void> {
    await this.session.signIn(...account);
    await this.#loadAccount();
  }

  /** Creates an account and signs in, then reads the list; rejects with the core's error. */
  async signUp(...account: Parameters<Session["signUp"]>): Promise<void> {
    await this.session.signUp(...account);
    await this.#loadAccount();
  }

  /** What is read once someone is signed in: the list, do-not-disturb, the asks for history. */
  async #loadAccount(): Promise<void> {
    await Promise.all([this.list.refresh(), this.doNotDisturb.load(), this.historyTransfer.load()]);
  }

  /** Opens (creating if needed) the direct chat with `username`. */
  async openDirect(username: string): Promise<void> {
    await this.#openNew(await backend.openDirect(username));
  }

  async createGroup(title: string, memberIds: string[]): Promise<void> {
    await this.#openNew(await backend.createGroup(title, memberIds));
  }

  /** A conversation just created (or found) by the core: into the list, then open. */
  async #openNew(id: string): Promise<void> {
    await this.list.load(id);
    await this.thread.open(id);
  }

  #onEvent(event: UiEvent): void {
    // Updates are the app's, not the account's: they come signed out too.
    if (event.type === "update_available" || event.type === "update_progress" || event.type === "update_downloaded") {
      this.updates.heard(event);
      return;
    }
    if (!this.session.me) return;
    const openId = this.thread.openId;
    switch (event.type) {
      case "resync":
        void this.#resync();
        return;
      case "connection":
        this.session.connection = event.state;
        // Pictures that could not be fetched offline can be now (polling reaches the server too).
        if (event.state.state === "online" || event.state.state === "polling") this.pictures.retryFailed();
        return;
      case "profile":
        // Renamed (or a new picture) here, on another device or from the CLI: the header
        // shows it at once.
        this.session.me = event.user;
        return;
      case "conversation":
        this.list.put(event.summary);
        return;
      case "message":
        this.#uploads.forget(event.message.id);
        if (event.message.conversation_id === openId) this.thread.put(event.message);
        return;
      case "upload_progress": {
        const { message_id, index, sent, total } = event;
        this.#uploads.heard(message_id, index, { sent, total });
        return;
      }
      case "do_not_disturb":
        this.doNotDisturb.heard(event.until);
        return;
      case "export_progress":
        this.account.heardExportProgress(event.received, event.total);
        return;
      case "history_requests":
        this.historyTransfer.heard(event.requests);
        return;
      case "history_received":
        // The messages it made readable come as `changed` events of their own.
        this.historyTransfer.heardReceived(event.entries);
        return;
      case "changed":
        if (event.message.conversation_id === openId) this.thread.putChange(event.message);
        return;
      case "change_refused":
        // The message is back as it was; the reason is told wherever the user is.
        if (event.message.conversation_id === openId) this.thread.putChange(event.message);
        this.notice.say(event.reason);
        return;
      case "receipt":
        // The conversation's new summary follows, with the moved watermarks.
        return;
      case "typing":
        this.list.heardTyping(event.conversation_id, event.typing);
        return;
      case "presence":
        this.list.heardPresence(event.presence);
        return;
    }
  }

  /** Changes were missed: everything on screen is read again. */
  async #resync(): Promise<void> {
    try {
      if (!(await this.session.recheck())) return;
    } catch (e) {
      this.notice.show(e);
    }
    await Promise.all([
      this.list.refresh(),
      this.thread.refresh(),
      this.doNotDisturb.load(),
      this.historyTransfer.load(),
    ]);
  }

  /** A clicked notification: its conversation may be newer than the list held. */
  async #openRequested(id: string): Promise<void> {
    if (!this.session.me) return;
    await this.thread.open(id);
  }
}
