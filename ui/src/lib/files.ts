/**
 * Files in messages, as the window shows them: a size in words, which attachments show
 * inline as images and at what size, a file's type label, how far an upload has come,
 * what a message of files reads as on one line (the list's preview, a reply's quote),
 * and what a paste holds: files to send, or text to paste as before.
 */
import { plainFileName } from "./bidi";
import type { LocalAttachment } from "./bindings/LocalAttachment";
import type { MessageStatus } from "./bindings/MessageStatus";
import { formatLocale, numberFormat } from "./i18n.svelte";
import { m } from "./paraglide/messages.js";

/** The longest side of an inline preview, in CSS pixels (the core's previews are ≤ 320px). */
export const PREVIEW_MAX_PX = 320;

const UNITS = ["B", "KB", "MB", "GB", "TB"];

/**
 * `bytes` as people read it, in steps of 1024: "0 B", "1023 B", "1.5 KB", "12 KB",
 * "3.4 MB" ("1,5 KB" in German: the number is written as `locale` writes it). One
 * decimal below 10 of a unit, none above (a size is a hint, not a count).
 */
export function formatBytes(bytes: number, locale: string = formatLocale()): string {
  let value = Math.max(0, Math.round(bytes));
  const written = (n: number, decimals: number) =>
    numberFormat(locale, {
      minimumFractionDigits: decimals,
      maximumFractionDigits: decimals,
      useGrouping: false,
    }).format(n);
  if (value < 1024) return `${written(value, 0)} B`;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  let decimals = value < 9.95 ? 1 : 0;
  let shown = Number(value.toFixed(decimals));
  // 1,048,000 bytes is 1023.4 KB: said as "1.0 MB", not "1023 KB" nor "1024 KB".
  if (shown >= 1000 && unit < UNITS.length - 1) {
    unit++;
    decimals = 1;
    shown = Number((shown / 1024).toFixed(1));
  }
  return `${written(shown, decimals)} ${UNITS[unit]}`;
}

/**
 * The name Save as… proposes for a file: the name as shown (`plainFileName`), only its
 * last part, with the characters Windows refuses as `_` and no leading or trailing dots
 * or spaces (as the copy the desktop shell opens is named: `file_name` in
 * src-tauri/src/opening.rs). The save dialog starts in the folder a proposal names
 * (tauri-plugin-dialog's `set_default_path`): `.config/autostart/x.desktop` would have
 * proposed a place where a file runs at the next login, relative to where the app was
 * started, so a sender's name must not choose where a file goes.
 */
export function saveAsName(name: string): string {
  const last = plainFileName(name).split(/[/\\]/).pop() ?? "";
  const clean = last
    .replace(/[\u0000-\u001f\u007f-\u009f<>:"|?*]/g, "_")
    .replace(/^[.\s]+|[.\s]+$/g, "");
  return clean === "" ? "file" : clean;
}

/** An image, by its checked media type. */
export function isImage(attachment: Pick<LocalAttachment, "content_type">): boolean {
  return attachment.content_type.toLowerCase().startsWith("image/");
}

/** Shown inline as a picture (the core has a preview of it); any other file is a card. */
export function showsInline(attachment: Pick<LocalAttachment, "content_type" | "has_preview">): boolean {
  return attachment.has_preview && isImage(attachment);
}

/**
 * The size an inline preview takes, known before it loads so that nothing jumps: the
 * image's own proportions within `max` × `max` (never enlarged), or a 4:3 box when the
 * core did not say.
 */
export function previewBox(
  attachment: Pick<LocalAttachment, "width" | "height">,
  max = PREVIEW_MAX_PX,
): { width: number; height: number } {
  const { width, height } = attachment;
  if (!width || !height || width <= 0 || height <= 0) {
    return { width: Math.round(max * 0.75), height: Math.round(max * 0.5625) };
  }
  const scale = Math.min(1, max / width, max / height);
  return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) };
}

/** The short type a file card shows on its icon: its extension ("PDF", "ZIP"), else "FILE". */
export function typeLabel(name: string): string {
  const match = /\.([a-z0-9]{1,5})$/i.exec(name);
  return match && match.index > 0 ? match[1]!.toUpperCase() : m.file_type_unknown();
}

/** Bytes of one file sent so far, out of all of them. */
export interface UploadProgress {
  sent: number;
  total: number;
}

/**
 * How far one file of a message has gone out, or null when it is not going out (the
 * message was sent, failed, or the file is someone else's). `live` is the latest
 * `upload_progress` heard for it, newer than the message's own count when there is one.
 */
export function progressOf(
  attachment: Pick<LocalAttachment, "uploaded" | "size">,
  status: MessageStatus,
  live: UploadProgress | null = null,
): UploadProgress | null {
  if (status !== "pending" || attachment.uploaded === null) return null;
  const total = live?.total ?? attachment.size;
  const sent = live?.sent ?? attachment.uploaded;
  return { sent: Math.min(Math.max(0, sent), total), total };
}

/**
 * What a pending message's files say about their upload: how far it came while the
 * server can be reached (`connected`); otherwise that it waits for the connection (an
 * offline "Uploading 0 B" read as stuck, or as going on when nothing was).
 */
export function uploadLine(sent: number, total: number, connected: boolean): string {
  if (connected) return m.upload_uploading({ sent: formatBytes(sent), total: formatBytes(total) });
  if (sent <= 0) return m.upload_waiting({ total: formatBytes(total) });
  return m.upload_partly({ sent: formatBytes(sent), total: formatBytes(total) });
}

/** Whole percent done (0 to 100); an empty file is done once it is going out at all. */
export function percent(progress: UploadProgress): number {
  if (progress.total <= 0) return 100;
  return Math.max(0, Math.min(100, Math.floor((progress.sent / progress.total) * 100)));
}

/** A message's files in a few words: its one file's name, "3 photos", "2 files". */
export function filesLine(attachments: readonly Pick<LocalAttachment, "name" | "content_type">[]): string {
  if (attachments.length === 0) return "";
  if (attachments.length === 1) return plainFileName(attachments[0]!.name);
  const count = attachments.length;
  return attachments.every(isImage) ? m.files_photos({ count }) : m.files_files({ count });
}

/**
 * One line for a message that may have files: its text (already on one line) as it
 * is without files; with them, a paperclip and the caption, or what the files are when
 * there is no caption.
 */
export function withFiles(
  text: string,
  attachments: readonly Pick<LocalAttachment, "name" | "content_type">[] | undefined,
): string {
  if (!attachments || attachments.length === 0) return text;
  return `📎 ${text || filesLine(attachments)}`;
}

/** What a paste's clipboard holds, as far as deciding goes (a DataTransfer, or its like). */
export interface Clipboard {
  files?: ArrayLike<File> | null;
  types?: ArrayLike<string> | null;
}

/**
 * The files a paste sends, or none: then it pastes as text, as before. Copying from an
 * office program puts the text and a picture of it on the clipboard; the text wins
 * there, since sending a picture nobody meant to send is worse than pasting text.
 */
export function pastedFiles(clipboard: Clipboard | null | undefined): File[] {
  const files = Array.from(clipboard?.files ?? []);
  if (files.length === 0) return [];
  if (Array.from(clipboard?.types ?? []).includes("text/plain")) return [];
  return files;
}

/**
 * Whether a paste brought the page nothing to paste: no files, no text. WebKitGTK gives
 * the page no file for a picture on the system clipboard as screenshot tools leave it,
 * so the app then reads the clipboard itself.
 */
export function pasteAsksTheSystem(clipboard: Clipboard | null | undefined): boolean {
  return Array.from(clipboard?.files ?? []).length === 0 && !Array.from(clipboard?.types ?? []).includes("text/plain");
}

const EXTENSIONS: Record<string, string> = { jpeg: "jpg", "svg+xml": "svg", "x-icon": "ico" };

/**
 * The name a pasted file is sent under: its own, or for a picture the clipboard did not
 * name, "Pasted image.png" (the extension from its type; the words in the sender's language).
 */
export function pastedName(file: Pick<File, "name" | "type">): string {
  const name = file.name.trim();
  if (name) return name;
  const match = /^image\/([a-z0-9][a-z0-9.+-]*)$/.exec(file.type.toLowerCase().split(";")[0]!.trim());
  const subtype = match?.[1];
  if (subtype) {
    return m.pasted_image_name({ extension: EXTENSIONS[subtype] ?? subtype });
  }
  return m.pasted_file_name();
}

/** A file's bytes as base64 (what `send_file_data` takes), read by the browser. */
export function readBase64(file: Blob): Promise<string> {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => {
      const url = String(reader.result);
      resolve(url.slice(url.indexOf(",") + 1));
    };
    reader.onerror = () => reject(reader.error ?? new Error("the file could not be read"));
    reader.readAsDataURL(file);
  });
}
