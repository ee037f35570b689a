/**
 * `Uploads`: how far each file of a pending message has been sent, as the core's
 * `upload_progress` events last said, until the message itself is heard again (its own
 * count is then as new) or goes. Shared by the open thread, which forgets a message's
 * progress when it reads or drops that message, and by files, which show it; it is a
 * piece of its own so that neither of those depends on the other for it.
 */
import { SvelteMap } from "svelte/reactivity";
import type { UploadProgress } from "../files";
import { previewKey } from "../previews";

export class Uploads {
  /** Per file (`previewKey`); a SvelteMap, so that each progress bar follows its own file only. */
  #progress = new SvelteMap<string, UploadProgress>();

  heard(messageId: string, index: number, progress: UploadProgress): void {
    this.#progress.set(previewKey(messageId, index), progress);
  }

  /** The latest progress heard for one file of a pending message, or null. */
  of(messageId: string, index: number): UploadProgress | null {
    return this.#progress.get(previewKey(messageId, index)) ?? null;
  }

  /** What was heard of `messageId`'s files is out of date (or the message is gone). */
  forget(messageId: string): void {
    for (const key of this.#progress.keys()) {
      if (key.startsWith(`${messageId}/`)) this.#progress.delete(key);
    }
  }

  clear(): void {
    this.#progress.clear();
  }
}
