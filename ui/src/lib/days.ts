/**
 * The rows of a thread: messages in order, with a separator where the local day
 * changes, an "unread" marker before the first unread message, and the sender's name
 * shown only where a run of messages from one person starts.
 */
import type { LocalMessage } from "./bindings/LocalMessage";
import { dayKey, dayLabel } from "./time";

export type ThreadRow =
  | { kind: "day"; key: string; label: string }
  | { kind: "unread"; key: string }
  | { kind: "message"; key: string; message: LocalMessage; firstOfRun: boolean };

export interface RowOptions {
  /** Where "Today" is. */
  now?: Date;
  /** The message the unread marker goes before, if any. */
  firstUnreadId?: string | null;
  locale?: string;
}

export function threadRows(messages: readonly LocalMessage[], options: RowOptions = {}): ThreadRow[] {
  const now = options.now ?? new Date();
  const rows: ThreadRow[] = [];
  let day: string | null = null;
  let previousSender: string | null = null;
  for (const message of messages) {
    const key = dayKey(new Date(message.created_at));
    if (key !== day) {
      rows.push({ kind: "day", key: `day-${key}`, label: dayLabel(message.created_at, now, options.locale) });
      day = key;
      previousSender = null;
    }
    if (message.id === options.firstUnreadId) {
      rows.push({ kind: "unread", key: "unread" });
      previousSender = null;
    }
    rows.push({
      kind: "message",
      key: message.id,
      message,
      firstOfRun: message.sender_id !== previousSender,
    });
    previousSender = message.sender_id;
  }
  return rows;
}
