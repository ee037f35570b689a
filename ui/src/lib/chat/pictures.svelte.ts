/**
 * `Pictures`: the profile pictures the window shows, as `data:` URLs by picture id, asked
 * of the core the first time an avatar shows one (the core fetches it from the server
 * once and keeps it on the device). A picture's bytes never change under its id (a new
 * picture gets a new id), so what is held is never stale and is never asked for twice:
 * one request per id, however many avatars show it at once. A picture that could not be
 * had (offline before it was ever fetched, one gone from the server) is remembered, so
 * an avatar on screen does not ask again and again; `retryFailed` (the connection came
 * back) lets each be asked once more. Held in memory, at most `PICTURES_KEPT` (the one
 * an avatar wanted least recently goes first), and forgotten when the session ends.
 *
 * Avatars are drawn everywhere, several components below any store, so they find this
 * store in the component context the window sets (`givePictures`), not in a prop passed
 * down through each; without it (a part rendered on its own) they show initials.
 */
import { createContext } from "svelte";
import { SvelteMap, SvelteSet } from "svelte/reactivity";
import * as backend from "../backend";
import type { PictureId } from "../bindings/PictureId";
import type { Session } from "./session.svelte";

/** About 200 pictures of 256 × 256 pixels: a few megabytes of data URLs at most. */
export const PICTURES_KEPT = 200;

export class Pictures {
  readonly #limit: number;
  /** Reactive, so an avatar showing initials shows the picture as soon as it is here. */
  readonly #held = new SvelteMap<PictureId, string>();
  /**
   * The held ids, the one wanted least recently first. Apart from `#held` and not
   * reactive: `want` runs in an avatar's effect, which would run again on every change
   * of what it read.
   */
  readonly #recent = new Set<PictureId>();
  readonly #loading = new Set<PictureId>();
  /** Reactive, so `retryFailed` reaches the avatars that gave up. */
  readonly #failed = new SvelteSet<PictureId>();
  /** Bumped when the session ends, so that a load started before is not kept after. */
  #generation = 0;

  constructor(session: Session, limit = PICTURES_KEPT) {
    this.#limit = limit;
    session.onEnd(() => {
      this.#generation++;
      this.#held.clear();
      this.#recent.clear();
      this.#loading.clear();
      this.#failed.clear();
    });
  }

  /** The picture's data URL once it is here; null before it was wanted, while it loads, or when it could not be had. */
  url(picture: PictureId): string | null {
    return this.#held.get(picture) ?? null;
  }

  /**
   * An avatar shows `picture`: it is asked of the core unless it is held, on its way or
   * failed. Reads what it checks, so that an avatar calling it from an effect asks again
   * when its picture was let go or its failure forgotten.
   */
  want(picture: PictureId): void {
    if (this.#held.has(picture)) {
      this.#recent.delete(picture);
      this.#recent.add(picture);
      return;
    }
    if (this.#failed.has(picture) || this.#loading.has(picture)) return;
    this.#loading.add(picture);
    const generation = this.#generation;
    backend.userPicture(picture).then(
      (url) => {
        if (generation !== this.#generation) return;
        this.#loading.delete(picture);
        this.#keep(picture, url);
      },
      () => {
        if (generation !== this.#generation) return;
        this.#loading.delete(picture);
        this.#failed.add(picture);
      },
    );
  }

  /** Those that could not be had may be asked for again (the connection is back). */
  retryFailed(): void {
    if (this.#failed.size > 0) this.#failed.clear();
  }

  #keep(picture: PictureId, url: string): void {
    this.#held.set(picture, url);
    this.#recent.delete(picture);
    this.#recent.add(picture);
    for (const oldest of this.#recent) {
      if (this.#recent.size <= this.#limit) break;
      this.#recent.delete(oldest);
      this.#held.delete(oldest);
    }
  }
}

const [shownPictures, givePicturesTo, hasPictures] = createContext<Pictures>();

/** Sets the pictures every avatar below the calling component draws from (the window's). */
export function givePictures(pictures: Pictures): void {
  givePicturesTo(pictures);
}

/** The pictures an avatar draws from, if the window gave them; call it while the component initialises. */
export function picturesHere(): Pictures | null {
  return hasPictures() ? shownPictures() : null;
}
