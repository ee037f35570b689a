/**
 * The rows of a thread: messages in order, with a separator where the local day
 * changes, an "unread" marker before the first unread message, and the sender's name
 * shown only where a run of messages from one person starts.
 *
 * Messages come in the server's order, and their times are their senders' clocks (or
 * this device's, for one still pending), so a day can come back after a later one when
 * clocks disagree around midnight: it gets a separator again, whose key names the
 * message it stands before, since a keyed list must never hold one key twice.
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
  const days = new Set<string>();
  let previousSender: string | null = null;
  for (const message of messages) {
    const key = dayKey(new Date(message.created_at));
    if (key !== day) {
      const unique = days.has(key) ? `day-${key}-${message.id}` : `day-${key}`;
      rows.push({ kind: "day", key: unique, label: dayLabel(message.created_at, now, options.locale) });
      days.add(key);
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
