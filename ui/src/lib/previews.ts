/**
 * The inline previews of images seen recently, kept in memory per message and file so
 * that a row that comes back into view (scrolling, history paged in again, the thread
 * re-read) shows its picture at once instead of asking the core again. Bounded: the
 * least recently shown go first. A load asked twice is one load; a failure is not kept
 * (the next ask tries again); `clear` (signing out) also drops what loads still bring.
 */

/** The key of one file of one message. */
export function previewKey(messageId: string, index: number): string {
  return `${messageId}/${index}`;
}

/** About 100 previews of ≤ 320px, a few megabytes of data URLs at most. */
export const PREVIEWS_KEPT = 100;

export class PreviewCache {
  readonly #limit: number;
  /** In recency order: a Map iterates in insertion order, so the first is the oldest. */
  readonly #kept = new Map<string, string>();
  readonly #loading = new Map<string, Promise<string>>();
  /** Bumped by `clear`, so that a load started before it is not kept after it. */
  #generation = 0;

  constructor(limit = PREVIEWS_KEPT) {
    this.#limit = limit;
  }

  /** The preview if it is held (it becomes the most recent), else null. */
  get(key: string): string | null {
    const url = this.#kept.get(key);
    if (url === undefined) return null;
    this.#kept.delete(key);
    this.#kept.set(key, url);
    return url;
  }

  /** The preview, held or loaded by `load` (once, however many ask meanwhile). */
  fetch(key: string, load: () => Promise<string>): Promise<string> {
    const held = this.get(key);
    if (held !== null) return Promise.resolve(held);
    const running = this.#loading.get(key);
    if (running) return running;
    const generation = this.#generation;
    const loading = load()
      .then((url) => {
        if (generation === this.#generation) this.#keep(key, url);
        return url;
      })
      .finally(() => {
        if (this.#loading.get(key) === loading) this.#loading.delete(key);
      });
    this.#loading.set(key, loading);
    return loading;
  }

  /** How many are held. */
  get size(): number {
    return this.#kept.size;
  }

  clear(): void {
    this.#generation++;
    this.#kept.clear();
    this.#loading.clear();
  }

  #keep(key: string, url: string): void {
    this.#kept.delete(key);
    this.#kept.set(key, url);
    while (this.#kept.size > this.#limit) {
      const oldest = this.#kept.keys().next().value as string;
      this.#kept.delete(oldest);
    }
  }
}
