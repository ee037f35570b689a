/**
 * The rows of a thread: messages in order, with a separator where the local day
 * changes, an "unread" marker before the first unread message, the offer to ask the
 * person's other devices for their history before the first message sealed before this
 * device joined (one line for them all, not one each: such messages are the oldest), and
 * the sender's name shown only where a run of messages from one person starts.
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
  | { kind: "ask-history"; key: string }
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
  // A deleted message has no text left for a history to bring.
  const firstSealed = messages.find((m) => m.unreadable && !m.deleted && !m.removed_by_operator);
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
    if (message === firstSealed) {
      rows.push({ kind: "ask-history", key: "ask-history" });
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
