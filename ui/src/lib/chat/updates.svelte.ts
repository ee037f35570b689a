/**
 * `Updates`: Ferry updating itself. The shell looks for a newer version by itself (at
 * start, at sign-in and once a day; it says so with an `update_available` event) or when
 * asked (`check`), and installs the one it found (`install`): it downloads it
 * (`update_progress` events), checks its signature against the key the build carries
 * (`update_downloaded`), installs it and starts Ferry again as the new version. So a
 * successful install never answers here: the window goes with the old process.
 *
 * `phase` is what is happening now, `offer` the update the shell found last. A failed
 * check or install is kept in the shell's words (a full sentence, shown as it is) until
 * the next try; nothing changed then, so the update stays on offer and can be installed
 * again. The store, not Settings, holds all of it, so closing Settings does not stop a
 * download, and opening it again shows how far it got.
 *
 * An update found without being asked is also `announced`: the sidebar shows it until
 * the person dismisses it or installs it. One dismissed is not announced again for the
 * same version (the shell looks again every day); a newer one is.
 */
import * as backend from "../backend";
import type { AvailableUpdate } from "../bindings/AvailableUpdate";
import type { UiEvent } from "../bindings/UiEvent";
import { errorMessage } from "./notice.svelte";

/** What is happening to updates now. */
export type UpdatePhase =
  | { state: "idle" }
  | { state: "checking" }
  | { state: "up_to_date" }
  /** `offer` holds it. */
  | { state: "available" }
  /** `total` is null when the server did not say the bundle's size. */
  | { state: "downloading"; received: number; total: number | null }
  /** Downloaded: its signature is being checked, then it is installed and Ferry restarts. */
  | { state: "installing" }
  /** A check or an install did not work; `message` is the shell's, for people. */
  | { state: "failed"; during: "check" | "install"; message: string };

/** The core's events about updates. */
export type UpdateEvent = Extract<UiEvent, { type: "update_available" | "update_progress" | "update_downloaded" }>;

export class Updates {
  /** The version running now; null until read (and with an older shell, which cannot say). */
  version = $state<string | null>(null);
  /** The update the shell found last; null before one is found, or when the feed has none. */
  offer = $state.raw<AvailableUpdate | null>(null);
  phase = $state.raw<UpdatePhase>({ state: "idle" });
  /** The offer came without being asked, and the person has not dismissed it yet. */
  announced = $state(false);

  /** The version whose announcement the person dismissed. */
  #dismissed: string | null = null;
  /** The check under way, which a second click joins instead of asking again. */
  #checking: Promise<void> | null = null;

  /** Installing (downloading, or checking and installing what was downloaded). */
  get installing(): boolean {
    return this.phase.state === "downloading" || this.phase.state === "installing";
  }

  /** A check or an install is under way: neither is started again meanwhile. */
  get busy(): boolean {
    return this.phase.state === "checking" || this.installing;
  }

  /** The update the sidebar announces, if any. */
  get announcement(): AvailableUpdate | null {
    return this.announced ? this.offer : null;
  }

  /** Reads the running version once; never rejects (an older shell has no such command). */
  async load(): Promise<void> {
    if (this.version !== null) return;
    try {
      this.version = (await backend.appVersion()) || null;
    } catch {
      // Settings shows no version, and the rest still works or says why not.
    }
  }

  /** Asks the shell for a newer version; the answer (or why there is none) is in `phase`. Never rejects. */
  check(): Promise<void> {
    if (this.installing) return Promise.resolve();
    this.#checking ??= this.#check().finally(() => (this.#checking = null));
    return this.#checking;
  }

  async #check(): Promise<void> {
    this.phase = { state: "checking" };
    try {
      const found = (await backend.checkForUpdate()) ?? null;
      this.offer = found;
      // Whatever was announced is either shown here now or gone from the feed.
      if (!found) this.announced = false;
      this.phase = found ? { state: "available" } : { state: "up_to_date" };
    } catch (e) {
      // The shell keeps what it found before, so an earlier offer stays installable.
      this.phase = { state: "failed", during: "check", message: errorMessage(e) };
    }
  }

  /**
   * Has the shell download, verify and install the update on offer; Ferry then starts
   * again. When it fails, `phase` says why and the update stays on offer, so it can be
   * tried again. Never rejects.
   */
  async install(): Promise<void> {
    if (!this.offer || this.busy) return;
    this.announced = false;
    this.phase = { state: "downloading", received: 0, total: null };
    try {
      await backend.installUpdate();
      // The shell restarts instead of answering; should it answer, it is on its way.
      this.phase = { state: "installing" };
    } catch (e) {
      this.phase = { state: "failed", during: "install", message: errorMessage(e) };
    }
  }

  /** The sidebar's announcement is dismissed: not shown again for this version. */
  dismiss(): void {
    this.announced = false;
    this.#dismissed = this.offer?.version ?? null;
  }

  /** One of the core's events about updates. */
  heard(event: UpdateEvent): void {
    switch (event.type) {
      case "update_available":
        this.#foundUnasked(event.update);
        return;
      case "update_progress":
        // Only the install this window started moves the bar.
        if (this.phase.state === "downloading") {
          this.phase = { state: "downloading", received: event.received, total: event.total };
        }
        return;
      case "update_downloaded":
        if (this.phase.state === "downloading") this.phase = { state: "installing" };
        return;
    }
  }

  /** The shell's own look found an update. */
  #foundUnasked(update: AvailableUpdate): void {
    // What is being installed stays what the person chose.
    if (this.installing) return;
    this.offer = update;
    // A failure stays shown until the next try; a check under way answers for itself.
    if (this.phase.state === "idle" || this.phase.state === "up_to_date") this.phase = { state: "available" };
    if (update.version !== this.#dismissed) this.announced = true;
  }
}
