// The console's door to the server (`Server`), against a mocked fetch: what each call
// sends (path, query, body, bearer token), how the server's error body becomes an
// `ApiError`, the one refresh-and-retry after a 401, the end of a session the server
// refused to renew, and the tokens kept in sessionStorage across a reload.
import { afterEach, describe, expect, it, vi } from "vitest";
import { ApiError, DEVICE_NAME, NOT_ADMIN, PAGE, Server } from "./api";
import { FakeFerry, fakeAccount, fakeId, fakeUser } from "./fake-server";
import type { AuditEntryId, MessageId, ReportId } from "./wire";

afterEach(() => sessionStorage.clear());

/** A server signed in as the fake's operator, keeping its tokens in `storage`. */
async function signedIn(fake = new FakeFerry(), storage: Storage | null = null) {
  const server = new Server({ fetch: fake.fetch, storage });
  await server.signIn(fake.operator.username, fake.password);
  return { server, fake };
}

/** A fetch that answers each call with the next of `answers`. */
function scripted(...answers: Array<() => Response | Promise<Response>>) {
  return vi.fn<typeof fetch>(async () => {
    const next = answers.shift();
    if (!next) throw new Error("no more answers scripted");
    return next();
  });
}

const json = (status: number, body: unknown) => () =>
  new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });

describe("signing in", () => {
  it("sends the username, password and the console's device name, then uses the token", async () => {
    const { server, fake } = await signedIn();
    expect(fake.to("POST", "/auth/login")[0]!.body).toEqual({
      username: "olga",
      password: "correct horse",
      device_name: DEVICE_NAME,
    });
    expect(DEVICE_NAME).toBe("Ferry console");
    expect(fake.to("POST", "/auth/login")[0]!.token).toBeNull();
    expect(server.signedIn).toBe(true);
    await server.account();
    expect(fake.to("GET", "/account")[0]!.token).toBe(fake.access);
  });

  it("fails with the server's code and words", async () => {
    const fake = new FakeFerry();
    const server = new Server({ fetch: fake.fetch, storage: null });
    const failure = server.signIn("olga", "wrong");
    await expect(failure).rejects.toBeInstanceOf(ApiError);
    await expect(failure).rejects.toMatchObject({
      status: 401,
      code: "invalid_credentials",
      message: "wrong username or password",
    });
    expect(server.signedIn).toBe(false);
  });

  it("lets an administrator in as the operator", async () => {
    const { server, fake } = await signedIn();
    await expect(server.operator()).resolves.toEqual(fake.operator);
  });

  it("signs anyone else out again, and says why", async () => {
    const fake = new FakeFerry();
    const bob = fakeUser("bob");
    fake.accounts.push(fakeAccount(bob));
    const server = new Server({ fetch: fake.fetch, storage: null });
    await server.signIn("bob", fake.password);
    await expect(server.operator()).rejects.toMatchObject({ message: NOT_ADMIN });
    expect(fake.to("POST", "/auth/logout")).toHaveLength(1);
    expect(server.signedIn).toBe(false);
  });
});

describe("the admin calls", () => {
  it("send their paths, queries and bodies", async () => {
    const { server, fake } = await signedIn();
    const user = fake.operator.id;
    const report = fakeId<ReportId>();
    const message = fakeId<MessageId>();
    const entry = fakeId<AuditEntryId>();
    // The fake answers 404 to unknown ids: only what was sent matters here.
    const calls = [
      server.users(),
      server.users("ma"),
      server.user(user),
      server.suspend(user, "spam"),
      server.reactivate(user, "appeal upheld"),
      server.reports("dismissed"),
      server.decide(report, "resolved", "warned"),
      server.removeMessage(message, "abuse"),
      server.audit(),
      server.audit(entry),
    ];
    await Promise.allSettled(calls);
    const sent = fake.sent.slice(1).map((s) => [s.method, s.path, s.query.toString(), s.body ?? null]);
    expect(sent).toEqual([
      ["GET", "/admin/users", `limit=${PAGE}`, null],
      ["GET", "/admin/users", `limit=${PAGE}&q=ma`, null],
      ["GET", `/admin/users/${user}`, "", null],
      ["POST", `/admin/users/${user}/suspend`, "", { reason: "spam" }],
      ["POST", `/admin/users/${user}/reactivate`, "", { reason: "appeal upheld" }],
      ["GET", "/admin/reports", `state=dismissed&limit=${PAGE}`, null],
      ["POST", `/admin/reports/${report}/decision`, "", { state: "resolved", note: "warned" }],
      ["POST", `/admin/messages/${message}/remove`, "", { reason: "abuse" }],
      ["GET", "/admin/audit", `limit=${PAGE}`, null],
      ["GET", "/admin/audit", `limit=${PAGE}&before=${entry}`, null],
    ]);
    expect(fake.sent.slice(1).every((s) => s.token === fake.access)).toBe(true);
  });

  it("take JSON with its content type, and read a 204 as nothing", async () => {
    const fetch = scripted(() => new Response(null, { status: 204 }));
    // Tokens from before a reload, so no sign-in is needed here.
    const server = new Server({ fetch, storage: keptFromBefore() });
    await expect(server.removeMessage(fakeId<MessageId>(), "abuse")).resolves.toBeUndefined();
    const [url, init] = fetch.mock.calls[0]!;
    expect(String(url)).toMatch(/^\/api\/v1\/admin\/messages\/[0-9a-f-]+\/remove$/);
    expect(init?.method).toBe("POST");
    expect(new Headers(init?.headers).get("Content-Type")).toBe("application/json");
    expect(new Headers(init?.headers).get("Authorization")).toBe("Bearer a");
    expect(init?.body).toBe(JSON.stringify({ reason: "abuse" }));
  });
});

describe("failures", () => {
  it("carry the status, code and message of the server's error body", async () => {
    const { server, fake } = await signedIn();
    fake.overrides.set("POST /admin/reports/x/decision", json(409, { error: { code: "conflict", message: "already decided" } }));
    await expect(server.decide("x" as ReportId, "dismissed", "dup")).rejects.toMatchObject({
      name: "ApiError",
      status: 409,
      code: "conflict",
      message: "already decided",
    });
  });

  it("that are not the server's own words fall back on the status", async () => {
    const { server, fake } = await signedIn();
    fake.overrides.set("GET /admin/audit", () => new Response("<h1>Bad gateway</h1>", { status: 502, statusText: "Bad Gateway" }));
    await expect(server.audit()).rejects.toMatchObject({
      status: 502,
      code: "unexpected",
      message: "The server answered 502 Bad Gateway",
    });
  });

  it("with no answer at all have status 0", async () => {
    const server = new Server({
      fetch: async () => {
        throw new TypeError("Failed to fetch");
      },
      storage: null,
    });
    await expect(server.signIn("olga", "pw")).rejects.toMatchObject({ status: 0, code: "unreachable" });
  });

  it("of a non-administrator on /admin are the server's 404", async () => {
    const fake = new FakeFerry();
    const { server } = await signedIn(fake);
    fake.accounts[0]!.admin = false;
    await expect(server.reports("open")).rejects.toMatchObject({ status: 404, code: "not_found" });
  });
});

describe("an expired access token", () => {
  it("is renewed once with the refresh token, and the call tried again", async () => {
    const { server, fake } = await signedIn();
    const refresh = fake.refresh;
    fake.expire();
    await expect(server.reports("open")).resolves.toEqual([]);
    expect(fake.to("POST", "/auth/refresh").map((s) => s.body)).toEqual([{ refresh_token: refresh }]);
    expect(fake.to("GET", "/admin/reports").map((s) => s.token)).toEqual(["access-1", "access-2"]);
    expect(fake.access).toBe("access-2");
  });

  it("is renewed by one refresh for calls that fail together (a refresh token is single-use)", async () => {
    const { server, fake } = await signedIn();
    fake.expire();
    await Promise.all([server.reports("open"), server.users(), server.audit()]);
    expect(fake.to("POST", "/auth/refresh")).toHaveLength(1);
  });

  it("ends the session here when the server refuses the refresh", async () => {
    const { server, fake } = await signedIn();
    const ended = vi.fn();
    server.onSignedOut = ended;
    fake.expire();
    fake.refresh = "revoked";
    await expect(server.users()).rejects.toMatchObject({ status: 401, message: "this session has ended; sign in again" });
    expect(ended).toHaveBeenCalledOnce();
    expect(server.signedIn).toBe(false);
    expect(fake.to("GET", "/admin/users")).toHaveLength(1);
  });

  it("ends the session when the retry is refused too, without a second refresh", async () => {
    const fetch = scripted(
      json(401, { error: { code: "unauthorized", message: "expired" } }),
      json(200, { user: fakeUser("olga"), session_id: "s", access_token: "a2", access_expires_at: "", refresh_token: "r2" }),
      json(401, { error: { code: "unauthorized", message: "this session has ended; sign in again" } }),
    );
    const server = new Server({ fetch, storage: keptFromBefore() });
    const ended = vi.fn();
    server.onSignedOut = ended;
    await expect(server.audit()).rejects.toMatchObject({ status: 401 });
    expect(fetch).toHaveBeenCalledTimes(3);
    expect(ended).toHaveBeenCalledOnce();
    expect(server.signedIn).toBe(false);
  });

  it("keeps the session when the refresh got no answer, to try again later", async () => {
    const fetch = scripted(json(401, { error: { code: "unauthorized", message: "expired" } }), () => {
      throw new TypeError("Failed to fetch");
    });
    const server = new Server({ fetch, storage: keptFromBefore() });
    await expect(server.audit()).rejects.toMatchObject({ status: 0 });
    expect(server.signedIn).toBe(true);
  });
});

describe("the session's tokens", () => {
  it("outlive a reload of the page in sessionStorage, and go with signing out", async () => {
    const fake = new FakeFerry();
    const { server } = await signedIn(fake, sessionStorage);
    const reloaded = new Server({ fetch: fake.fetch, storage: sessionStorage });
    expect(reloaded.signedIn).toBe(true);
    await expect(reloaded.operator()).resolves.toEqual(fake.operator);
    await reloaded.signOut();
    expect(fake.to("POST", "/auth/logout")).toHaveLength(1);
    expect(new Server({ fetch: fake.fetch, storage: sessionStorage }).signedIn).toBe(false);
    expect(server.signedIn).toBe(true);
    expect(sessionStorage.length).toBe(0);
  });

  it("renewed are the ones kept", async () => {
    const fake = new FakeFerry();
    const { server } = await signedIn(fake, sessionStorage);
    fake.expire();
    await server.users();
    const reloaded = new Server({ fetch: fake.fetch, storage: sessionStorage });
    await expect(reloaded.users()).resolves.toHaveLength(1);
    expect(fake.to("POST", "/auth/refresh")).toHaveLength(1);
    await reloaded.signOut();
  });

  it("are forgotten on sign-out even when the server cannot be told", async () => {
    const { server, fake } = await signedIn();
    fake.overrides.set("POST /auth/logout", () => {
      throw new TypeError("Failed to fetch");
    });
    await server.signOut();
    expect(server.signedIn).toBe(false);
  });
});

/** A Storage holding the tokens "a" and "r", as if kept from before a reload. */
function keptFromBefore(): Storage {
  const map = new Map([["ferry-console-session", JSON.stringify({ access: "a", refresh: "r" })]]);
  return {
    get length() {
      return map.size;
    },
    clear: () => map.clear(),
    getItem: (key) => map.get(key) ?? null,
    key: (i) => Array.from(map.keys())[i] ?? null,
    removeItem: (key) => void map.delete(key),
    setItem: (key, value) => void map.set(key, value),
  };
}
