/**
 * The person's data export in words: the name the save dialog proposes for the archive
 * and how far its download has come. The archive's size is the server's
 * `Content-Length`; a proxy may strip it, and the core then says a total of 0, so a
 * line never divides by it.
 */
import { formatBytes, saveAsName } from "./files";
import { m } from "./paraglide/messages.js";
import { dayKey } from "./time";

/**
 * `ferry-export-<username>-<YYYY-MM-DD>.tar`, the day `today` here (as the person dates
 * their files). The username is the server's word, so it goes through `saveAsName`: the
 * proposal names a file, never a folder to save it in.
 */
export function exportFileName(username: string, today: Date = new Date()): string {
  return saveAsName(`ferry-export-${username}-${dayKey(today)}.tar`);
}

/** How far the download has come: "12 MB of 40 MB"; "12 MB so far" when its size is unknown. */
export function exportLine(received: number, total: number): string {
  if (total > 0) return m.export_line({ received: formatBytes(Math.min(received, total)), total: formatBytes(total) });
  if (received > 0) return m.export_line_so_far({ received: formatBytes(received) });
  return m.export_starting();
}
