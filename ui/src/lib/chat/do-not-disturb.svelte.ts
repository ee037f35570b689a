/**
 * `DoNotDisturb`: until when no device of this user notifies of anything, whatever each
 * conversation's level (null: it is off). The server keeps it with the account's
 * settings, so every device follows it, but the core holds it too and answers offline:
 * it is read once signed in, changed here (shown at once, and back as it was if the core
 * refuses), or heard from another device (the core's `do_not_disturb` event). It ends by
 * itself when its time comes: one timer, only while it is on, turns it off on screen.
 * Settings' Notifications section and the sidebar's "Paused" mark show it.
 */
import * as backend from "../backend";
import type { Session } from "./session.svelte";

/** The longest a browser timer waits (about 24.8 days); a longer pause looks again then. */
const LONGEST_TIMER_MS = 2 ** 31 - 1;

/** When each of Settings' pauses ends, from `now`: in 1 hour, in 8 hours, tomorrow at 08:00. */
export function pauseEnds(now: Date = new Date()): { hour: Date; eightHours: Date; tomorrow: Date } {
  return {
    hour: new Date(now.getTime() + 3_600_000),
    eightHours: new Date(now.getTime() + 8 * 3_600_000),
    // By the calendar, so a change of clocks overnight still ends it at 08:00.
    tomorrow: new Date(now.getFullYear(), now.getMonth(), now.getDate() + 1, 8, 0),
  };
}

export class DoNotDisturb {
  /** When notifications come back (an ISO time ahead), or null while they are on. */
  until = $state<string | null>(null);

  #timer: ReturnType<typeof setTimeout> | undefined;
  /** Counts changes, so that a refusal puts back only what its own change replaced. */
  #changes = 0;

  constructor(session: Session) {
    session.onEnd(() => this.#hold(null));
  }

  /** Reads it from the core; never rejects (an older shell, or none signed in: off). */
  async load(): Promise<void> {
    const ticket = this.#changes;
    let until: string | null;
    try {
      until = await backend.doNotDisturb();
    } catch {
      return;
    }
    // A change made meanwhile is newer than what was read.
    if (ticket === this.#changes) this.#hold(until ?? null);
  }

  /** It changed here or on another device (the core's event). */
  heard(until: string | null): void {
    this.#changes++;
    this.#hold(until);
  }

  /**
   * Pauses notifications until `until`, or lets them come again (null), on every device;
   * works offline. Rejects with the core's error, and then shows what was before.
   */
  async pause(until: Date | null): Promise<void> {
    const before = this.until;
    const ticket = ++this.#changes;
    const iso = until ? until.toISOString() : null;
    this.#hold(iso);
    try {
      await backend.setDoNotDisturb(iso);
    } catch (e) {
      if (ticket === this.#changes) this.#hold(before);
      throw e;
    }
  }

  /** The window closes: no timer outlives it. */
  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Shows `until` if it is still ahead (else off), with a timer for when it ends. */
  #hold(until: string | null): void {
    this.stop();
    const left = until === null ? 0 : Date.parse(until) - Date.now();
    this.until = left > 0 ? until : null;
    if (left > 0) this.#timer = setTimeout(() => this.#hold(this.until), Math.min(left, LONGEST_TIMER_MS));
  }
}
