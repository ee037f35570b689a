/**
 * Attachments. Files come in three ways: the system's file dialog
 * (`@tauri-apps/plugin-dialog`), dropped on the window (the webview's drag-and-drop
 * events, which carry paths), or pasted (bytes, read by the caller). The save dialog picks
 * where "Save as…" copies to; the open dialog also picks the image a profile picture is
 * made of.
 */
import { open as openDialog, save as saveDialog } from "@tauri-apps/plugin-dialog";
import { getCurrentWebview } from "@tauri-apps/api/webview";

import type { LocalMessage } from "../bindings/LocalMessage";

import { call, toCommandError } from "./call";
import { m } from "../paraglide/messages.js";

/**
 * Sends files (picked in the dialog or dropped) as one message with `caption` (may be
 * empty), a reply to `replyTo` if given; resolves at once with its pending copy, with
 * previews. The uploads go on in the background (`upload_progress` events).
 */
export function sendFiles(
  conversationId: string,
  paths: string[],
  caption: string,
  replyTo: string | null = null,
): Promise<LocalMessage> {
  return call("send_files", { conversationId, paths, caption, replyTo });
}

/** Sends one file given as bytes (a pasted image), base64-encoded; like `sendFiles`. */
export function sendFileData(
  conversationId: string,
  name: string,
  dataBase64: string,
  caption: string,
): Promise<LocalMessage> {
  return call("send_file_data", { conversationId, name, dataBase64, caption });
}

/**
 * Sends the system clipboard's picture as a PNG file ("Pasted image 2026-11-25 14.03.png"),
 * for a paste whose event brought neither files nor text (WebKitGTK hands the page no file
 * for a screenshot on the clipboard); resolves with its pending copy, or null when the
 * clipboard holds no picture.
 */
export function sendClipboardImage(conversationId: string): Promise<LocalMessage | null> {
  return call("send_clipboard_image", { conversationId });
}

/** Stops a pending (or failed) message's uploads and removes the message. */
export function cancelUpload(messageId: string): Promise<void> {
  return call("cancel_upload", { messageId });
}

/** A `data:` URL of a small preview (≤ 320px) of an image with `has_preview`. */
export function attachmentPreview(messageId: string, index: number): Promise<string> {
  return call("attachment_preview", { messageId, index });
}

/** Downloads a file into the app's cache (if not there yet); resolves with its local path. */
export function downloadAttachment(messageId: string, index: number): Promise<string> {
  return call("download_attachment", { messageId, index });
}

/** A `data:` URL of the whole image, for the viewer (downloaded first if need be). */
export function openImage(messageId: string, index: number): Promise<string> {
  return call("open_image", { messageId, index });
}

/** Copies a downloaded file to `path`. */
export function saveAttachment(messageId: string, index: number, path: string): Promise<void> {
  return call("save_attachment", { messageId, index, path });
}

/** Opens a downloaded file with the system's default app for it. */
export function openAttachment(messageId: string, index: number): Promise<void> {
  return call("open_attachment", { messageId, index });
}

/** The files picked in the system's open dialog; none when it was cancelled. */
export async function pickFiles(): Promise<string[]> {
  let picked: string[] | null;
  try {
    picked = await openDialog({ multiple: true, title: m.composer_attach() });
  } catch (e) {
    throw toCommandError(e);
  }
  return picked ?? [];
}

/** The image a profile picture is to be made of, picked in the system's open dialog; null if cancelled. */
export async function pickPicture(): Promise<string | null> {
  try {
    return await openDialog({
      multiple: false,
      directory: false,
      title: m.picture_dialog_title(),
      // The kinds of image the server makes a picture of.
      filters: [{ name: m.picture_dialog_images(), extensions: ["jpg", "jpeg", "png", "gif", "webp"] }],
    });
  } catch (e) {
    throw toCommandError(e);
  }
}

/** Where to save a file, from the system's save dialog (proposing `name`); null if cancelled. */
export async function pickSavePath(name: string): Promise<string | null> {
  try {
    return await saveDialog({ defaultPath: name });
  } catch (e) {
    throw toCommandError(e);
  }
}

/**
 * Files dragged over the window: `enter` (with the paths; none when what is dragged is
 * not files), `over` while it moves, `drop` with the paths, `leave` when it left or
 * the drag was cancelled.
 */
export type FileDrag =
  | { type: "enter"; paths: string[] }
  | { type: "over" }
  | { type: "drop"; paths: string[] }
  | { type: "leave" };

/** Calls `handler` for every drag of files over the window; resolves to a function that stops. */
export async function onFileDrag(handler: (drag: FileDrag) => void): Promise<() => void> {
  const stop = await getCurrentWebview().onDragDropEvent(({ payload }) => {
    switch (payload.type) {
      case "enter":
      case "drop":
        handler({ type: payload.type, paths: payload.paths });
        return;
      case "over":
      case "leave":
        handler({ type: payload.type });
        return;
    }
  });
  return () => stop();
}
