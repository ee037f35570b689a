// How the console puts the server's values into words: an account's status, a sender
// the report does not name, a time, a file's size, a deleted message, an audit action.
// Pure functions, so the tables and the report view say the same thing.
import type { AdminReport, AuditAction, Message, User, UserId } from "./wire";

/** An account's status as the users table shows it (and the browser test reads it). */
export type StatusWord = "active" | "suspended" | "deleted";

export function statusOf(user: User): StatusWord {
  return user.status ?? "active";
}

/**
 * A short handle for an id no name is known for. The tail, because ids are UUIDv7s whose
 * head is their creation time, alike for everything made in the same minutes.
 */
export function shortId(id: string): string {
  const hex = id.replaceAll("-", "");
  return hex.length > 8 ? `…${hex.slice(-8)}` : id;
}

/** Who sent a message of a report's context: the two people the report names, or an id. */
export function senderName(sender: UserId, report: Pick<AdminReport, "reporter" | "reported">): string {
  if (sender === report.reported.id) return report.reported.username;
  if (sender === report.reporter.id) return report.reporter.username;
  return `user ${shortId(sender)}`;
}

const pad = (n: number) => String(n).padStart(2, "0");

/** A timestamp in the operator's time zone, to the minute: "2026-11-22 09:14". */
export function when(iso: string): string {
  const at = new Date(iso);
  if (Number.isNaN(at.getTime())) return iso;
  const day = `${at.getFullYear()}-${pad(at.getMonth() + 1)}-${pad(at.getDate())}`;
  return `${day} ${pad(at.getHours())}:${pad(at.getMinutes())}`;
}

/** A file's size in words: "512 B", "3.4 KB", "12 MB". */
export function fileSize(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`;
  const units = ["KB", "MB", "GB", "TB"];
  let size = bytes;
  let unit = -1;
  do {
    size /= 1000;
    unit += 1;
  } while (size >= 1000 && unit < units.length - 1);
  return `${size < 10 ? size.toFixed(1) : Math.round(size)} ${units[unit]}`;
}

/** What stands for a deleted message's text, or `null` while it has its text. */
export function deletedWords(message: Message): string | null {
  if (!message.deleted_at) return null;
  return message.removed_by_operator ? "removed by an administrator" : "deleted";
}

const ACTIONS: Record<AuditAction, string> = {
  grant_admin: "made administrator",
  revoke_admin: "administrator right taken back",
  suspend: "suspended",
  reactivate: "reactivated",
  resolve_report: "resolved report",
  dismiss_report: "dismissed report",
  remove_message: "removed message",
};

/** An audit action in words; one this console does not know, as the server names it. */
export function actionWords(action: string): string {
  return Object.hasOwn(ACTIONS, action) ? ACTIONS[action as AuditAction] : action;
}
