/**
 * `Files`: the files of messages. A message of files shows at once (pending, with its
 * previews) and uploads in the background, its progress held in `./uploads` until the
 * message itself is heard again. Files come from the system's dialog, a paste, or a
 * drop on the window, which sends them to the open conversation. A file received is
 * downloaded on demand (Download, Open, Save as…, the image viewer); inline previews are
 * cached in memory (`../previews`) so a row scrolled back into view shows at once.
 *
 * Files build on the open thread (a message sent or downloaded is put in place there)
 * and on the composer's reply mark (a message of files may answer one).
 */
import { SvelteSet } from "svelte/reactivity";
import * as backend from "../backend";
import type { LocalAttachment } from "../bindings/LocalAttachment";
import type { LocalMessage } from "../bindings/LocalMessage";
import { saveAsName, type UploadProgress } from "../files";
import { m } from "../paraglide/messages.js";
import { PreviewCache, previewKey } from "../previews";
import { whyClosed } from "../requests";
import type { Compose } from "./compose.svelte";
import { errorMessage, type Notice } from "./notice.svelte";
import type { Session } from "./session.svelte";
import type { OpenThread } from "./thread.svelte";
import type { Uploads } from "./uploads.svelte";

export class Files {
  /** Files are being dragged over the window, to drop in the open conversation. */
  dragging = $state(false);

  readonly #session: Session;
  readonly #thread: OpenThread;
  readonly #compose: Compose;
  readonly #notice: Notice;
  readonly #uploads: Uploads;
  /** Files being downloaded (`previewKey`), whose Download button waits. */
  #downloading = new SvelteSet<string>();
  #previews = new PreviewCache();

  constructor(session: Session, thread: OpenThread, compose: Compose, notice: Notice, uploads: Uploads) {
    this.#session = session;
    this.#thread = thread;
    this.#compose = compose;
    this.#notice = notice;
    this.#uploads = uploads;
    thread.onClose(() => (this.dragging = false));
    session.onEnd(() => {
      uploads.clear();
      this.#downloading.clear();
      this.#previews.clear();
    });
  }

  /** The files picked in the system's dialog; none when it was cancelled (or failed, said). */
  async pickFiles(): Promise<string[]> {
    try {
      return await backend.pickFiles();
    } catch (e) {
      this.#notice.show(e);
      return [];
    }
  }

  /**
   * Sends files (by path) in the open conversation as one message with `caption`; as a
   * reply to `replyingTo` (then no more) unless `reply` is false (files dropped on the
   * window leave the composer as it is). It shows at once as pending, with its previews.
   */
  async sendFiles(paths: string[], caption = "", { reply = true }: { reply?: boolean } = {}): Promise<boolean> {
    const id = this.#thread.openId;
    if (!id || paths.length === 0) return false;
    const target = reply ? this.#compose.replyTarget(id) : null;
    const sent = await this.#send(id, () => backend.sendFiles(id, paths, caption.trim(), target?.id ?? null));
    if (sent) this.#compose.replied(target);
    return sent;
  }

  /** Sends one file given as bytes (a pasted image), base64-encoded, in the open conversation. */
  async sendFileData(name: string, dataBase64: string, caption = ""): Promise<boolean> {
    const id = this.#thread.openId;
    if (!id) return false;
    return this.#send(id, () => backend.sendFileData(id, name, dataBase64, caption.trim()));
  }

  /**
   * Sends the system clipboard's picture in the open conversation, if it holds one: the
   * paste brought the page nothing (see `pasteAsksTheSystem`). Nothing is said when there
   * is no picture; a clipboard that cannot be read is.
   */
  async sendClipboardImage(): Promise<void> {
    const id = this.#thread.openId;
    if (!id) return;
    await this.#send(id, () => backend.sendClipboardImage(id));
  }

  /** Stops a pending message's uploads; the message is gone, as if discarded. */
  async cancelUpload(messageId: string): Promise<void> {
    if (await this.#notice.run(backend.cancelUpload(messageId))) this.#thread.drop(messageId);
  }

  /** The latest progress heard for one file of a pending message, or null. */
  uploadProgress(messageId: string, index: number): UploadProgress | null {
    return this.#uploads.of(messageId, index);
  }

  /** The preview of an image if it is in memory already (shown at once), else null. */
  cachedPreview(messageId: string, index: number): string | null {
    return this.#previews.get(previewKey(messageId, index));
  }

  /**
   * The `data:` URL of an image's inline preview, from memory or the core. Rejects (with
   * the core's error, unshown) when it cannot be had now, say offline before it was
   * cached: the image then shows its name and asks again later.
   */
  preview(messageId: string, index: number): Promise<string> {
    return this.#previews.fetch(previewKey(messageId, index), () => backend.attachmentPreview(messageId, index));
  }

  /** The whole image for the viewer (the core downloads it first); rejects with the core's error. */
  async openImage(message: LocalMessage, attachment: LocalAttachment): Promise<string> {
    const url = await backend.openImage(message.id, attachment.index);
    if (!attachment.downloaded) this.#downloaded(message.id, attachment.index);
    return url;
  }

  /** A file is being downloaded. */
  isDownloading(messageId: string, index: number): boolean {
    return this.#downloading.has(previewKey(messageId, index));
  }

  /**
   * Downloads a file to this device (its message then says `downloaded`); true once it
   * is here. A failure (offline, say) is shown.
   */
  async download(message: LocalMessage, attachment: LocalAttachment): Promise<boolean> {
    if (attachment.downloaded) return true;
    const key = previewKey(message.id, attachment.index);
    if (this.#downloading.has(key)) return false;
    this.#downloading.add(key);
    try {
      await backend.downloadAttachment(message.id, attachment.index);
    } catch (e) {
      this.#notice.show(e);
      return false;
    } finally {
      this.#downloading.delete(key);
    }
    // The core's message event says so too; until it comes, the held copy says it.
    this.#downloaded(message.id, attachment.index);
    return true;
  }

  /**
   * Opens a file with the system's default app (downloading it first if need be). A file
   * the core does not open (a type that could run a program, or one no application here
   * opens) is on this device all the same: the notice says why and offers Save as….
   */
  async openFile(message: LocalMessage, attachment: LocalAttachment): Promise<void> {
    if (!(await this.download(message, attachment))) return;
    try {
      await backend.openAttachment(message.id, attachment.index);
    } catch (e) {
      this.#notice.say(errorMessage(e), {
        label: m.file_save_as(),
        run: () => void this.saveAs(message, attachment),
      });
    }
  }

  /**
   * "Save as…": asks where (proposing the file's name), then copies the file there,
   * downloading it first if need be. False when cancelled or failed (shown).
   */
  async saveAs(message: LocalMessage, attachment: LocalAttachment): Promise<boolean> {
    let path: string | null;
    try {
      // Proposed as shown, without characters that would disguise it on disk too, and
      // without folders: the name must not choose where the file goes.
      path = await backend.pickSavePath(saveAsName(attachment.name));
    } catch (e) {
      this.#notice.show(e);
      return false;
    }
    if (!path || !(await this.download(message, attachment))) return false;
    try {
      await backend.saveAttachment(message.id, attachment.index, path);
    } catch (e) {
      this.#notice.show(e);
      return false;
    }
    return true;
  }

  /** Files dragged over the window: shown while over it, sent to the open conversation on drop. */
  drag(drag: backend.FileDrag): void {
    const open = this.#thread.conversation;
    const droppable = this.#session.me !== null && open !== null && whyClosed(open) === null;
    switch (drag.type) {
      case "enter":
        this.dragging = droppable && drag.paths.length > 0;
        return;
      case "over":
        return;
      case "leave":
        this.dragging = false;
        return;
      case "drop":
        this.dragging = false;
        // The composer keeps its text and reply: the files go as they are.
        if (droppable && drag.paths.length > 0) void this.sendFiles(drag.paths, "", { reply: false });
        return;
    }
  }

  /**
   * Sends a message of files in conversation `id` (`send` asks the core) and puts it in
   * the thread if that is still open; false if it failed (said). The clipboard may hold
   * no picture: the core then sends nothing.
   */
  async #send(id: string, send: () => Promise<LocalMessage | null>): Promise<boolean> {
    try {
      const message = await send();
      if (message && this.#thread.openId === id) this.#thread.put(message);
    } catch (e) {
      this.#notice.show(e);
      return false;
    }
    return true;
  }

  /** One file of a message the thread holds is on this device now. */
  #downloaded(messageId: string, index: number): void {
    this.#thread.patch(messageId, (held) => ({
      ...held,
      attachments: held.attachments.map((a) => (a.index === index ? { ...a, downloaded: true } : a)),
    }));
  }
}
