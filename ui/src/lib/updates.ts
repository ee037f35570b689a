/**
 * Ferry's updates in words: how far the download of one has come, and when it was
 * published. The bundle's size is the server's `Content-Length`, which a proxy may
 * drop (the shell then says no total), and the feed's date is optional and the
 * publisher's to write, so neither is trusted to be there or to parse.
 */
import { formatBytes } from "./files";
import { m } from "./paraglide/messages.js";
import { timeAgo } from "./time";

/** How far the download has come: "3.2 MB of 12 MB"; "3.2 MB so far" when its size is unknown. */
export function downloadLine(received: number, total: number | null): string {
  if (total !== null && total > 0) {
    return m.update_progress_of({ received: formatBytes(Math.min(received, total)), total: formatBytes(total) });
  }
  return m.update_progress_so_far({ received: formatBytes(received) });
}

/**
 * "Published 3 days ago", "Published on 3 March" (as the last use of a device reads);
 * null when the feed gave no date, or one that is not a time.
 */
export function publishedLine(date: string | null, now: Date = new Date()): string | null {
  if (!date || Number.isNaN(Date.parse(date))) return null;
  return m.update_published({ when: timeAgo(date, now) });
}
