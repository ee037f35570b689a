// A small stand-in for the Ferry server's REST API, for the console's tests only: its
// `fetch` answers the routes the console uses (sign-in, refresh, the account, the admin
// API) from data the test sets up, checks the bearer token as the server does, keeps
// every request it was sent, and applies what actions change (a suspension, a removal, a
// decision, each with its audit line), so a test reads back what an operator would see.
import type {
  AdminReport,
  AdminUser,
  AuditEntry,
  AuditEntryId,
  ErrorBody,
  Message,
  MessageId,
  ReportId,
  ReportState,
  Tokens,
  User,
  UserId,
} from "./wire";

/** One request the console sent. */
export interface Sent {
  method: string;
  /** The path under /api/v1, without the query. */
  path: string;
  query: URLSearchParams;
  body: Record<string, unknown> | undefined;
  token: string | null;
}

let counter = 0;

/** A fresh UUID-shaped id of a kind. */
export function fakeId<T extends string>(): T {
  counter += 1;
  const hex = counter.toString(16).padStart(12, "0");
  return `0190c0de-0000-7000-8000-${hex}` as T;
}

export function fakeUser(username: string, more: Partial<User> = {}): User {
  return {
    id: fakeId<UserId>(),
    username,
    display_name: username[0]!.toUpperCase() + username.slice(1),
    created_at: "2026-11-20T09:00:00Z",
    ...more,
  };
}

export function fakeAccount(user: User, more: Partial<AdminUser> = {}): AdminUser {
  return {
    user,
    admin: false,
    email: null,
    suspended_at: null,
    suspended_reason: null,
    sessions: 1,
    open_reports: 0,
    ...more,
  };
}

export function fakeMessage(sender: User, seq: number, body: string, more: Partial<Message> = {}): Message {
  return {
    id: fakeId<MessageId>(),
    conversation_id: "0190c0de-0000-7000-8000-c0c0c0c0c0c0",
    seq,
    sender_id: sender.id,
    body,
    created_at: `2026-11-21T10:${String(seq).padStart(2, "0")}:00Z`,
    ...more,
  };
}

export function fakeReport(reporter: User, reported: User, more: Partial<AdminReport> = {}): AdminReport {
  return {
    id: fakeId<ReportId>(),
    reporter,
    reported,
    conversation_id: null,
    message: null,
    context: [],
    reason: "spam",
    created_at: "2026-11-21T11:00:00Z",
    state: "open",
    decided_by: null,
    decision_note: null,
    decided_at: null,
    ...more,
  };
}

const NOW = "2026-11-22T12:00:00Z";

function answer(status: number, body?: unknown): Response {
  if (body === undefined) return new Response(null, { status });
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
}

function failure(status: number, code: string, message: string): Response {
  const body: ErrorBody = { error: { code, message } };
  return answer(status, body);
}

export class FakeFerry {
  /** Every account, the operator's first. */
  accounts: AdminUser[];
  reports: AdminReport[] = [];
  /** Newest first, as the server lists it. */
  audit: AuditEntry[] = [];
  password = "correct horse";
  sent: Sent[] = [];
  /** Answers a test wants instead of the usual ones, by "METHOD /path". */
  overrides = new Map<string, () => Response>();
  #tokens = 0;
  /** Whose session the tokens are. */
  #signedIn: UserId | null = null;
  access = "";
  refresh = "";

  constructor(readonly operator: User = fakeUser("olga")) {
    this.accounts = [fakeAccount(operator, { admin: true })];
  }

  /** The access token stops working (it expired): the next call gets a 401. */
  expire() {
    this.access = "expired";
  }

  /** Requests sent to `path` (without the base), in order. */
  to(method: string, path: string): Sent[] {
    return this.sent.filter((s) => s.method === method && s.path === path);
  }

  account(username: string): AdminUser {
    const found = this.accounts.find((a) => a.user.username === username);
    if (!found) throw new Error(`no account ${username}`);
    return found;
  }

  readonly fetch: typeof fetch = async (input, init) => {
    const url = new URL(String(input), "http://ferry.test");
    const path = url.pathname.replace(/^\/api\/v1/, "");
    const auth = new Headers(init?.headers).get("Authorization");
    const body = typeof init?.body === "string" ? (JSON.parse(init.body) as Record<string, unknown>) : undefined;
    const method = init?.method ?? "GET";
    this.sent.push({ method, path, query: url.searchParams, body, token: auth?.replace(/^Bearer /, "") ?? null });
    const override = this.overrides.get(`${method} ${path}`);
    if (override) return override();
    return this.#route(method, path, url.searchParams, body ?? {}, auth);
  };

  #route(method: string, path: string, query: URLSearchParams, body: Record<string, unknown>, auth: string | null) {
    if (method === "POST" && path === "/auth/login") {
      const account = this.accounts.find((a) => a.user.username === body.username);
      if (!account || body.password !== this.password) {
        return failure(401, "invalid_credentials", "wrong username or password");
      }
      return answer(200, this.#issue(account.user));
    }
    if (method === "POST" && path === "/auth/refresh") {
      if (!this.refresh || body.refresh_token !== this.refresh) {
        return failure(401, "unauthorized", "refresh token is invalid or expired");
      }
      return answer(200, this.#issue(this.#me()!.user));
    }
    if (!this.access || auth !== `Bearer ${this.access}`) {
      return failure(401, "unauthorized", "this session has ended; sign in again");
    }
    const me = this.#me()!;
    if (method === "POST" && path === "/auth/logout") {
      this.access = "";
      this.refresh = "";
      return answer(204);
    }
    if (method === "GET" && path === "/account") {
      return answer(200, { user: me.user, email: null, email_verified: false, admin: me.admin, settings: {} });
    }
    if (!path.startsWith("/admin/")) return failure(404, "not_found", "not found");
    if (!me.admin) return failure(404, "not_found", "not found");
    return this.#admin(method, path.slice("/admin".length).split("/").slice(1), query, body, me.user);
  }

  #admin(method: string, parts: string[], query: URLSearchParams, body: Record<string, unknown>, me: User) {
    const [topic, id, verb] = parts;
    const reason = typeof body.reason === "string" ? body.reason : "";
    const reasonRefused = () =>
      reason.length < 1 || reason.length > 1000 ? failure(400, "invalid_request", "a reason is 1 to 1000 characters") : null;
    if (topic === "users" && method === "GET" && !id) {
      const prefix = (query.get("q") ?? "").toLowerCase();
      const found = this.accounts.filter(
        (a) => a.user.username.startsWith(prefix) || a.user.display_name.toLowerCase().startsWith(prefix),
      );
      return answer(200, found.slice(0, Number(query.get("limit") ?? 50)));
    }
    const account = this.accounts.find((a) => a.user.id === id);
    if (topic === "users" && method === "POST" && account && (verb === "suspend" || verb === "reactivate")) {
      const refused = reasonRefused();
      if (refused) return refused;
      const suspending = verb === "suspend";
      const changed: AdminUser = {
        ...account,
        user: { ...account.user, status: suspending ? "suspended" : undefined },
        suspended_at: suspending ? NOW : null,
        suspended_reason: suspending ? reason : null,
        sessions: suspending ? 0 : account.sessions,
      };
      if (!suspending) delete changed.user.status;
      this.#replaceUser(changed);
      this.#log(me, verb, account.user.id, reason);
      return answer(200, changed);
    }
    if (topic === "reports" && method === "GET" && !id) {
      const state = (query.get("state") ?? "open") as ReportState;
      return answer(200, this.reports.filter((r) => r.state === state));
    }
    const report = this.reports.find((r) => r.id === id);
    if (topic === "reports" && method === "POST" && verb === "decision" && report) {
      if (report.state !== "open") return failure(409, "conflict", "this report was already decided");
      const state = body.state as ReportState;
      const decided: AdminReport = { ...report, state, decided_by: me, decision_note: String(body.note), decided_at: NOW };
      this.reports = this.reports.map((r) => (r.id === id ? decided : r));
      this.#log(me, state === "resolved" ? "resolve_report" : "dismiss_report", report.id, String(body.note));
      return answer(200, decided);
    }
    if (topic === "messages" && method === "POST" && verb === "remove") {
      const refused = reasonRefused();
      if (refused) return refused;
      const remove = (m: Message): Message =>
        m.id === id ? { ...m, body: "", attachments: [], deleted_at: NOW, removed_by_operator: true } : m;
      this.reports = this.reports.map((r) => ({
        ...r,
        message: r.message && remove(r.message),
        context: r.context.map(remove),
      }));
      this.#log(me, "remove_message", id!, reason);
      return answer(204);
    }
    if (topic === "audit" && method === "GET") {
      const before = query.get("before");
      const from = before ? this.audit.findIndex((e) => e.id === before) + 1 : 0;
      return answer(200, this.audit.slice(from, from + Number(query.get("limit") ?? 50)));
    }
    return failure(404, "not_found", "not found");
  }

  #me(): AdminUser | undefined {
    return this.accounts.find((a) => a.user.id === this.#signedIn);
  }

  #issue(user: User): Tokens {
    this.#tokens += 1;
    this.#signedIn = user.id;
    this.access = `access-${this.#tokens}`;
    this.refresh = `refresh-${this.#tokens}`;
    return {
      user,
      session_id: "0190c0de-0000-7000-8000-5e5510000000",
      access_token: this.access,
      access_expires_at: NOW,
      refresh_token: this.refresh,
    };
  }

  /** A changed account, everywhere it shows (its row, the reports naming it). */
  #replaceUser(changed: AdminUser) {
    const id = changed.user.id;
    this.accounts = this.accounts.map((a) => (a.user.id === id ? changed : a));
    const swap = (u: User) => (u.id === id ? changed.user : u);
    this.reports = this.reports.map((r) => ({ ...r, reporter: swap(r.reporter), reported: swap(r.reported) }));
  }

  #log(actor: User, action: string, target: string, reason: string) {
    this.audit.unshift({ id: fakeId<AuditEntryId>(), actor, action, target, reason, at: NOW });
  }
}
