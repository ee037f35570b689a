/**
 * `HistoryTransfer`: the history of the person's encrypted conversations going between
 * their own devices. A device that signs in later cannot open what was sealed before it
 * joined, so it asks the person's other devices for that history by itself. Here, on
 * the device asked, each ask waits for the person: they `send` the history this device
 * holds, or `dismiss` the ask, since only they can tell their own new device from one
 * someone else signed in. The asks are the core's (`requests`): read once signed in and
 * after missed changes, and replaced whole by each `history_requests` event, which also
 * takes away an ask once answered. An ask names only the asking session, so the devices
 * the account is signed in on are read from the server when an ask comes from one not
 * known yet (`devices`): its name and when it signed in are what the person judges by.
 *
 * On the asking device, the person can also `ask` again, from a thread that shows
 * messages it cannot open (the first ask may have found no other device online, or been
 * dismissed there): the notice says how many devices were asked, or why none were.
 *
 * Each ask's answer under way, or why the last one did not go (in the core's words), is
 * in `answers`, shown beside the ask, which stays. A failure whose ask the core dropped
 * (one not signed by the device it names) is told in the notice instead, as nothing is
 * left to show it beside. What went, and on the asking device what came (the messages a
 * history made readable, which change in place through `changed` events), is told in
 * the notice for a moment.
 */
import * as backend from "../backend";
import type { HistoryRequest } from "../bindings/HistoryRequest";
import type { SessionInfo } from "../bindings/SessionInfo";
import { m } from "../paraglide/messages.js";
import { errorMessage, type Notice } from "./notice.svelte";
import type { Session } from "./session.svelte";

/** An answer to an ask: being sent or dismissed, or why it did not go. */
export type HistoryAnswer = { state: "sending" } | { state: "dismissing" } | { state: "failed"; error: string };

export class HistoryTransfer {
  /** The asks of the person's other devices for this one's history, oldest first. */
  requests = $state.raw<HistoryRequest[]>([]);
  /** The devices the account is signed in on, by session id, as the server last said. */
  devices = $state.raw<ReadonlyMap<string, SessionInfo>>(new Map());
  /** Each ask's answer under way, or why the last one did not go, by the asking session. */
  answers = $state.raw<ReadonlyMap<string, HistoryAnswer>>(new Map());
  /** This device's own ask to the others is under way. */
  asking = $state(false);

  readonly #session: Session;
  readonly #notice: Notice;
  /** Counts the asks heard, so that a read that started before one does not undo it. */
  #changes = 0;
  /** Sessions the server's list of devices was read for since signing in (named or gone). */
  #looked = new Set<string>();
  /** The read of the devices under way, which another ask joins. */
  #naming: Promise<void> | null = null;

  constructor(session: Session, notice: Notice) {
    this.#session = session;
    this.#notice = notice;
    session.onEnd(() => {
      this.#changes++;
      this.requests = [];
      this.devices = new Map();
      this.answers = new Map();
      this.asking = false;
      this.#looked = new Set();
    });
  }

  /** Whether the ask of `sessionId` is being sent or dismissed now. */
  answering(sessionId: string): boolean {
    const answer = this.answers.get(sessionId);
    return answer !== undefined && answer.state !== "failed";
  }

  /** Reads the asks from the core; never rejects (an older shell has none to say). */
  async load(): Promise<void> {
    const ticket = this.#changes;
    const epoch = this.#session.epoch;
    let requests: HistoryRequest[] | null;
    try {
      requests = await backend.historyRequests();
    } catch {
      return;
    }
    // An event heard meanwhile is newer than what was read.
    if (ticket !== this.#changes || epoch !== this.#session.epoch) return;
    this.#hold(requests ?? []);
  }

  /** The core's `history_requests`: every ask as it is now. */
  heard(requests: HistoryRequest[]): void {
    this.#changes++;
    this.#hold(requests);
  }

  /** The core's `history_received`: a history from another device made `entries` messages readable. */
  heardReceived(entries: number): void {
    if (entries > 0) this.#notice.say(m.history_received({ count: entries }));
  }

  /**
   * Asks the person's other devices again for the history this device cannot open (the
   * core's ask replaces its last); the notice says how many were asked, or why none
   * were (none signed in, or the core's error, offline say). Never rejects.
   */
  async ask(): Promise<void> {
    if (this.asking) return;
    const epoch = this.#session.epoch;
    this.asking = true;
    try {
      const asked = await backend.askForHistory();
      if (epoch !== this.#session.epoch) return;
      this.#notice.say(asked > 0 ? m.history_asked({ count: asked }) : m.history_asked_none());
    } catch (e) {
      if (epoch === this.#session.epoch) this.#notice.show(e);
    } finally {
      if (epoch === this.#session.epoch) this.asking = false;
    }
  }

  /**
   * Sends the history this device holds to the device that asked, `sessionId`; the
   * notice says how many messages went, and the core takes the ask away. Never rejects:
   * a failure stays beside the ask.
   */
  async send(sessionId: string): Promise<void> {
    await this.#answer(sessionId, "sending", async () => {
      const sent = await backend.sendHistory(sessionId);
      this.#notice.say(sent > 0 ? m.history_sent({ count: sent }) : m.history_sent_none());
    });
  }

  /** Forgets the ask of `sessionId` without answering it. Never rejects, like `send`. */
  async dismiss(sessionId: string): Promise<void> {
    await this.#answer(sessionId, "dismissing", () => backend.dismissHistoryRequest(sessionId));
  }

  async #answer(sessionId: string, state: "sending" | "dismissing", work: () => Promise<unknown>): Promise<void> {
    if (this.answering(sessionId)) return;
    const epoch = this.#session.epoch;
    this.#put(sessionId, { state });
    try {
      await work();
      if (epoch === this.#session.epoch) this.#put(sessionId, null);
    } catch (e) {
      if (epoch !== this.#session.epoch) return;
      if (this.#holds(sessionId)) {
        this.#put(sessionId, { state: "failed", error: errorMessage(e) });
      } else {
        this.#put(sessionId, null);
        this.#notice.show(e);
      }
    }
  }

  #hold(requests: HistoryRequest[]): void {
    this.requests = requests;
    for (const [sessionId, answer] of this.answers) {
      if (answer.state !== "failed" || this.#holds(sessionId)) continue;
      // The core dropped the ask for the reason it gave: the person still hears it.
      this.#put(sessionId, null);
      this.#notice.say(answer.error);
    }
    void this.#nameDevices();
  }

  #holds(sessionId: string): boolean {
    return this.requests.some((r) => r.session_id === sessionId);
  }

  #put(sessionId: string, answer: HistoryAnswer | null): void {
    const answers = new Map(this.answers);
    if (answer) answers.set(sessionId, answer);
    else answers.delete(sessionId);
    this.answers = answers;
  }

  /** Reads the account's devices when an ask comes from one not looked for yet; never rejects. */
  async #nameDevices(): Promise<void> {
    // One read at a time: the asks heard meanwhile are looked for once it ends.
    while (this.#naming) await this.#naming;
    const unknown = this.requests.filter((r) => !this.devices.has(r.session_id) && !this.#looked.has(r.session_id));
    if (unknown.length === 0) return;
    this.#naming = this.#readDevices(unknown.map((r) => r.session_id)).finally(() => (this.#naming = null));
  }

  async #readDevices(sessionIds: string[]): Promise<void> {
    const epoch = this.#session.epoch;
    let sessions: SessionInfo[] | null;
    try {
      sessions = await backend.accountSessions();
    } catch {
      // Offline: the asks show without their devices' names, and the next change looks again.
      return;
    }
    if (epoch !== this.#session.epoch) return;
    this.devices = new Map((sessions ?? []).map((s) => [s.id, s]));
    for (const id of sessionIds) this.#looked.add(id);
  }
}
