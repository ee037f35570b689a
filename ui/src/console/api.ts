// The console's one door to the Ferry server: `Server` turns each call the console makes
// into a `fetch` to the same-origin REST API (`/api/v1`), holds the session's tokens,
// renews an expired access token once and retries, and turns every failure into an
// `ApiError` read from the server's error body (`{"error": {"code", "message"}}`,
// docs/protocol.md "Errors"). Components are handed a `Server`; nothing else calls fetch.
import type {
  Account,
  AdminReport,
  AdminUser,
  AuditEntry,
  AuditEntryId,
  Decision,
  ErrorBody,
  MessageId,
  ReportId,
  ReportState,
  Tokens,
  User,
  UserId,
} from "./wire";

/** How many rows a list asks for at a time (the server's default page). */
export const PAGE = 50;

/** The name this console's sessions have in a person's list of devices. */
export const DEVICE_NAME = "Ferry console";

/** Why the console refuses a signed-in account that does not administer the server. */
export const NOT_ADMIN = "This account is not an administrator of this server";

/** Where the tokens are kept between reloads of the page (see `Server`). */
const TOKENS_KEY = "ferry-console-session";

/** A failed call: the HTTP status (0 when no answer came), the server's code and words. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

/** What a failure says to a person, whatever was thrown. */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

/** The two tokens of a session. */
interface Held {
  access: string;
  refresh: string;
}

/** What a `Server` is given rather than reaching for itself, so tests can hand in theirs. */
export interface Edges {
  fetch?: typeof fetch;
  /** Where tokens outlive a reload; `null` keeps them in memory only. */
  storage?: Storage | null;
  /** The API's address; the console is served by the same server, so a path. */
  base?: string;
}

/**
 * The Ferry server as the console uses it.
 *
 * The tokens are kept in memory and copied to `sessionStorage`, so a reload of the page
 * keeps the operator signed in while closing the tab forgets them: sessionStorage
 * belongs to the one tab and, unlike a cookie, is never sent with a request by itself.
 * Nothing on the page renders markup from the server, which is what would let a
 * script read them.
 */
export class Server {
  readonly #fetch: typeof fetch;
  readonly #storage: Storage | null;
  readonly #base: string;
  #tokens: Held | null;
  /** The refresh under way: calls that fail together wait for one refresh, because a
   * refresh token is single-use and a second use would end the session. */
  #refreshing: Promise<Held | null> | null = null;

  /** Called when the session ends under the console (the server refused to renew it). */
  onSignedOut: (() => void) | null = null;

  constructor({ fetch: fetcher = globalThis.fetch.bind(globalThis), storage, base = "/api/v1" }: Edges = {}) {
    this.#fetch = fetcher;
    this.#storage = storage === undefined ? sessionStorageIfAny() : storage;
    this.#base = base;
    this.#tokens = this.#restore();
  }

  /** Whether a session is held (it may still have ended on the server). */
  get signedIn(): boolean {
    return this.#tokens !== null;
  }

  /** Signs in with a password, as the device "Ferry console". */
  async signIn(username: string, password: string): Promise<User> {
    const tokens = await this.#call<Tokens>("POST", "/auth/login", { username, password, device_name: DEVICE_NAME }, false);
    this.#keep({ access: tokens.access_token, refresh: tokens.refresh_token });
    return tokens.user;
  }

  /** Ends the session on the server (as far as it answers) and forgets it here. */
  async signOut(): Promise<void> {
    if (!this.#tokens) return;
    try {
      await this.#call<void>("POST", "/auth/logout", undefined, true);
    } catch {
      // Forgetting the tokens here is what matters to the person leaving; a session the
      // server could not be told about expires by itself.
    } finally {
      this.#keep(null);
    }
  }

  /** The signed-in person's own account. */
  account(): Promise<Account> {
    return this.#call("GET", "/account");
  }

  /**
   * The signed-in account, if it administers this server. Otherwise the session is
   * ended (the console has no use for it) and this fails with `NOT_ADMIN`.
   */
  async operator(): Promise<User> {
    const account = await this.account();
    if (account.admin) return account.user;
    await this.signOut();
    throw new ApiError(403, "forbidden", NOT_ADMIN);
  }

  /** Accounts whose username or display name starts with `prefix`; the newest without one. */
  users(prefix = ""): Promise<AdminUser[]> {
    const query = new URLSearchParams({ limit: String(PAGE) });
    if (prefix) query.set("q", prefix);
    return this.#call("GET", `/admin/users?${query}`);
  }

  /** One account. */
  user(id: UserId): Promise<AdminUser> {
    return this.#call("GET", `/admin/users/${encodeURIComponent(id)}`);
  }

  /** Suspends an account: signed out everywhere, no sign-in until reactivated. */
  suspend(id: UserId, reason: string): Promise<AdminUser> {
    return this.#call("POST", `/admin/users/${encodeURIComponent(id)}/suspend`, { reason });
  }

  /** Lifts a suspension. */
  reactivate(id: UserId, reason: string): Promise<AdminUser> {
    return this.#call("POST", `/admin/users/${encodeURIComponent(id)}/reactivate`, { reason });
  }

  /** Reports in `state`, oldest first. */
  reports(state: ReportState): Promise<AdminReport[]> {
    const query = new URLSearchParams({ state, limit: String(PAGE) });
    return this.#call("GET", `/admin/reports?${query}`);
  }

  /** Resolves or dismisses an open report (409 `conflict` once it is decided). */
  decide(id: ReportId, state: Decision, note: string): Promise<AdminReport> {
    return this.#call("POST", `/admin/reports/${encodeURIComponent(id)}/decision`, { state, note });
  }

  /** Removes a message for everyone; it then shows as removed by an administrator. */
  removeMessage(id: MessageId, reason: string): Promise<void> {
    return this.#call("POST", `/admin/messages/${encodeURIComponent(id)}/remove`, { reason });
  }

  /** The audit log, newest first: the first page, or the one older than `before`. */
  audit(before?: AuditEntryId): Promise<AuditEntry[]> {
    const query = new URLSearchParams({ limit: String(PAGE) });
    if (before) query.set("before", before);
    return this.#call("GET", `/admin/audit?${query}`);
  }

  /**
   * One call. With `signed`, it carries the access token; a 401 then renews the tokens
   * once and tries again once, and a second refusal ends the session here.
   */
  async #call<T>(method: "GET" | "POST", path: string, body?: unknown, signed = true): Promise<T> {
    if (!signed) return read<T>(await this.#send(method, path, body, null));
    const held = this.#tokens;
    if (!held) throw new ApiError(401, "unauthorized", "Sign in first");
    let response = await this.#send(method, path, body, held.access);
    if (response.status === 401) {
      const renewed = await this.#renew(held);
      if (renewed) response = await this.#send(method, path, body, renewed.access);
      if (response.status === 401) this.#end();
    }
    return read<T>(response);
  }

  /**
   * Fresh tokens after `stale` was refused: those another call already got, or a
   * refresh's. `null` when the server refused the refresh (the session is over). A
   * refresh that got no answer fails as such and keeps the tokens, to try again later.
   */
  async #renew(stale: Held): Promise<Held | null> {
    if (this.#tokens !== stale) return this.#tokens;
    this.#refreshing ??= (async () => {
      try {
        const response = await this.#send("POST", "/auth/refresh", { refresh_token: stale.refresh }, null);
        if (response.status === 401) return null;
        const tokens = await read<Tokens>(response);
        const fresh = { access: tokens.access_token, refresh: tokens.refresh_token };
        this.#keep(fresh);
        return fresh;
      } finally {
        this.#refreshing = null;
      }
    })();
    return this.#refreshing;
  }

  /** Forgets a session the server ended, and says so. */
  #end() {
    if (!this.#tokens) return;
    this.#keep(null);
    this.onSignedOut?.();
  }

  async #send(method: string, path: string, body: unknown, token: string | null): Promise<Response> {
    const headers: Record<string, string> = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (token) headers.Authorization = `Bearer ${token}`;
    try {
      return await this.#fetch(`${this.#base}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: "same-origin",
      });
    } catch {
      throw new ApiError(0, "unreachable", "The server cannot be reached");
    }
  }

  #keep(tokens: Held | null) {
    this.#tokens = tokens;
    try {
      if (tokens) this.#storage?.setItem(TOKENS_KEY, JSON.stringify(tokens));
      else this.#storage?.removeItem(TOKENS_KEY);
    } catch {
      // Storage refused (private mode, quota): the session still works until a reload.
    }
  }

  #restore(): Held | null {
    try {
      const kept: unknown = JSON.parse(this.#storage?.getItem(TOKENS_KEY) ?? "null");
      if (kept && typeof kept === "object" && "access" in kept && "refresh" in kept) {
        const { access, refresh } = kept;
        if (typeof access === "string" && typeof refresh === "string") return { access, refresh };
      }
    } catch {
      // Unreadable: start signed out.
    }
    return null;
  }
}

/** The page's sessionStorage, or none where it cannot be used. */
function sessionStorageIfAny(): Storage | null {
  try {
    return globalThis.sessionStorage ?? null;
  } catch {
    return null;
  }
}

/** The body of a successful answer, or the `ApiError` its error body describes. */
async function read<T>(response: Response): Promise<T> {
  const text = await response.text().catch(() => "");
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    // Not the server's own JSON (a proxy's page): judged by the status below.
  }
  if (response.ok) {
    if (text && parsed === undefined) throw new ApiError(response.status, "unexpected", "The server's answer could not be read");
    return parsed as T;
  }
  const error = (parsed as Partial<ErrorBody> | undefined)?.error;
  if (error && typeof error.code === "string" && typeof error.message === "string") {
    throw new ApiError(response.status, error.code, error.message);
  }
  throw new ApiError(response.status, "unexpected", `The server answered ${response.status} ${response.statusText}`.trim());
}
