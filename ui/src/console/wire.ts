// What the server's REST API sends and takes, as the console reads it: the JSON shapes
// of `ferry_proto` (proto/src/objects.rs, account.rs, admin.rs, error.rs) that the admin
// console uses, written out by hand because the generated bindings in `src/lib/bindings`
// are the desktop core's types, not the wire's. Timestamps are RFC 3339 strings and ids
// plain UUID strings, as on the wire.

declare const kind: unique symbol;

/**
 * An id of one kind of thing: a plain UUID string on the wire, but a report's id cannot
 * be passed where a user's is wanted.
 */
export type Id<Kind extends string> = string & { readonly [kind]: Kind };
export type UserId = Id<"user">;
export type MessageId = Id<"message">;
export type ReportId = Id<"report">;
export type AuditEntryId = Id<"audit">;

/** Why an account is not in use; absent while it is. */
export type UserStatus = "suspended" | "deleted";

/** A person with an account. */
export interface User {
  id: UserId;
  username: string;
  display_name: string;
  created_at: string;
  status?: UserStatus;
}

/** A file of a message (only what the console shows of it). */
export interface Attachment {
  id: string;
  name: string;
  size: number;
  content_type: string;
}

/** One message of a conversation. */
export interface Message {
  id: MessageId;
  conversation_id: string;
  seq: number;
  sender_id: UserId;
  /** Empty once deleted or removed. */
  body: string;
  created_at: string;
  edited_at?: string;
  deleted_at?: string;
  /** Present (and true) only when an operator removed it. */
  removed_by_operator?: boolean;
  attachments?: Attachment[];
  /**
   * In an end-to-end encrypted conversation: the entry sealed for the group (base64), which
   * the server cannot read; `body` is then empty.
   */
  sealed?: string;
}

/** A message of an encrypted conversation as the reporter's device showed it. */
export interface ReportedCopy {
  message_id: MessageId;
  body: string;
}

/** `POST /auth/login` and `/auth/refresh`. */
export interface Tokens {
  user: User;
  session_id: string;
  access_token: string;
  access_expires_at: string;
  refresh_token: string;
}

/** `GET /account`: the signed-in person's own account. */
export interface Account {
  user: User;
  email: string | null;
  email_verified: boolean;
  admin: boolean;
  settings: { missed_message_mail?: boolean };
}

/** An account as an operator sees it. */
export interface AdminUser {
  user: User;
  admin: boolean;
  email: string | null;
  suspended_at: string | null;
  suspended_reason: string | null;
  sessions: number;
  open_reports: number;
}

export const REPORT_STATES = ["open", "resolved", "dismissed"] as const;

/** Where a report stands. */
export type ReportState = (typeof REPORT_STATES)[number];

/** What an operator decides about an open report. */
export type Decision = Exclude<ReportState, "open">;

/** A report with what an operator needs to judge it. */
export interface AdminReport {
  id: ReportId;
  reporter: User;
  reported: User;
  conversation_id: string | null;
  /** As the server holds it now (empty once deleted or removed). */
  message: Message | null;
  /** Messages around the reported one, in seq order. */
  context: Message[];
  /**
   * The reporter's copies of sealed messages among those (absent when none): what the
   * reporter's device showed, which the server cannot check.
   */
  copies?: ReportedCopy[];
  reason: string;
  created_at: string;
  state: ReportState;
  decided_by: User | null;
  decision_note: string | null;
  decided_at: string | null;
}

/** What operators do, as the audit log names it. */
export type AuditAction =
  | "grant_admin"
  | "revoke_admin"
  | "suspend"
  | "reactivate"
  | "resolve_report"
  | "dismiss_report"
  | "remove_message";

/** One thing an operator did. */
export interface AuditEntry {
  id: AuditEntryId;
  /** `null`: a command run on the server's host. */
  actor: User | null;
  /** An `AuditAction`, or a newer one this console does not know yet. */
  action: string;
  /** The id of the user, report, message or conversation acted on. */
  target: string;
  reason: string;
  at: string;
}

/** The body of every failed REST call. */
export interface ErrorBody {
  error: { code: string; message: string; retry_after_ms?: number };
}
