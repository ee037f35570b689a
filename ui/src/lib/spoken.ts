/**
 * What a screen reader says for a message when the keyboard lands on it: who, when,
 * whom it answers, then what it says ("Ada Lovelace, 10:42: see you there"), so that
 * moving through a thread with the arrows reads like a transcript. The bubble itself
 * stays as it is for reading in place; this is its accessible name.
 */
import type { LocalMessage } from "./bindings/LocalMessage";
import { m } from "./paraglide/messages.js";
import { statusMark } from "./status";
import { clockTime } from "./time";

/**
 * `sender`: who wrote it ("You" for this user); `quoted`: who wrote the message it
 * answers, if it is a reply whose original is known.
 */
export function spokenMessage(message: LocalMessage, sender: string, quoted: string | null = null): string {
  const time = clockTime(message.created_at);
  const text = spokenText(message);
  const line =
    quoted !== null && !message.deleted
      ? m.spoken_reply({ sender, time, quoted, text })
      : m.spoken_message({ sender, time, text });
  const parts: string[] = [line];
  if (message.edited && !message.deleted) parts.push(m.spoken_edited());
  // Only one's own messages carry a delivery status.
  if (message.mine) parts.push(statusMark(message.status).label);
  return parts.join(", ");
}

/** The words of it: its files' names, then its text; or that it is gone, or cannot be read here. */
function spokenText(message: LocalMessage): string {
  if (message.removed_by_operator) return m.spoken_removed();
  if (message.deleted) return m.spoken_deleted();
  if (message.unreadable) return m.spoken_unreadable();
  return [...message.attachments.map((a) => a.name), message.body.trim()].filter(Boolean).join(", ");
}
