// Smoke test for the Socket.IO peer: proves it does what Ferry does before any benchmark
// trusts its numbers. Builds a throwaway database with Ferry's schema, starts server.js
// (WORKERS from argv, default 1), drives it with real Socket.IO clients and checks acks,
// fan-out, idempotency, ordering and auth. Exits 1 on the first failed check.
// Usage: node smoke.js [workers]   (Postgres at 127.0.0.1:5432, trust auth, user postgres)

import { spawn } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import net from "node:net";
import assert from "node:assert/strict";
import jwt from "jsonwebtoken";
import pg from "pg";
import { io } from "socket.io-client";

const WORKERS = Number(process.argv[2] ?? 1);
const ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres";
const DB = `ferry_sio_smoke_${randomBytes(6).toString("hex")}`;
const DB_URL = `postgres://postgres@127.0.0.1:5432/${DB}`;
const SCHEMA = new URL("../../../migrations/postgres/0001_init.sql", import.meta.url);
const SECRET = randomBytes(32).toString("hex");
const WAIT_MS = 15000;

let server;
const sockets = [];

// Time-ordered v7 UUIDs, as Ferry clients make them.
function uuidv7() {
  const b = randomBytes(16);
  b.writeUIntBE(Date.now(), 0, 6);
  b[6] = (b[6] & 0x0f) | 0x70;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = b.toString("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function withTimeout(promise, what, ms = WAIT_MS) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function freePort() {
  const s = net.createServer().listen(0, "127.0.0.1");
  await new Promise((r) => s.once("listening", r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

function token(user, session) {
  return jwt.sign({ sub: user, sid: session, aud: "ferry", exp: Math.floor(Date.now() / 1000) + 3600 }, SECRET, {
    algorithm: "HS256",
  });
}

// A client that records every pushed event, so checks can wait for a condition to hold
// (re-tested on each arrival) instead of sleeping.
function client(url, tok, name) {
  const socket = io(url, { transports: ["websocket"], auth: { token: tok }, reconnection: false, forceNew: true });
  sockets.push(socket);
  const c = { name, socket, got: { message: [], typing: [], receipt: [], error: [] }, waiters: new Set() };
  for (const ev of Object.keys(c.got)) {
    socket.on(ev, (data) => {
      c.got[ev].push(data);
      for (const w of c.waiters) w();
    });
  }
  c.until = (cond, what) =>
    withTimeout(
      new Promise((resolve) => {
        const check = () => cond(c.got) && (c.waiters.delete(check), resolve());
        c.waiters.add(check);
        check();
      }),
      `${name}: ${what}`,
    );
  c.ask = (event, payload) => withTimeout(socket.emitWithAck(event, payload), `${name}: ack of ${event}`);
  c.connected = () =>
    withTimeout(
      new Promise((resolve, reject) => {
        socket.once("connect", resolve);
        socket.once("connect_error", reject);
      }),
      `${name}: connect`,
    );
  return c;
}

async function refused(url, tok, what) {
  const socket = io(url, { transports: ["websocket"], auth: { token: tok }, reconnection: false, forceNew: true });
  sockets.push(socket);
  const err = await withTimeout(
    new Promise((resolve) => {
      socket.once("connect", () => resolve(null));
      socket.once("connect_error", resolve);
    }),
    `refusal of ${what}`,
  );
  assert.ok(err, `${what}: connection was accepted`);
  assert.equal(err.message, "unauthorized", what);
  socket.close();
}

async function setup() {
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${DB}`);
  await admin.end();

  const db = new pg.Client({ connectionString: DB_URL });
  await db.connect();
  await db.query(readFileSync(SCHEMA, "utf8"));
  const now = Date.now();
  const ids = { a: randomUUID(), b: randomUUID(), c: randomUUID(), conv: randomUUID() };
  const sessions = { a: randomUUID(), b: randomUUID(), c: randomUUID(), revoked: randomUUID() };
  for (const who of ["a", "b", "c"]) {
    await db.query("INSERT INTO users (id, username, display_name, password_hash, created_at) VALUES ($1, $2, $2, 'x', $3)", [
      ids[who],
      `smoke_${who}`,
      now,
    ]);
    await db.query("INSERT INTO sessions (id, user_id, created_at) VALUES ($1, $2, $3)", [sessions[who], ids[who], now]);
  }
  await db.query("INSERT INTO sessions (id, user_id, created_at, revoked_at) VALUES ($1, $2, $3, $3)", [
    sessions.revoked,
    ids.c,
    now,
  ]);
  await db.query(
    "INSERT INTO conversations (id, kind, title, direct_key, last_seq, created_at, updated_at, change_version) VALUES ($1, 'group', 'smoke', NULL, 0, $2, $2, 0)",
    [ids.conv, now],
  );
  await db.query(
    "INSERT INTO members (conversation_id, user_id, role, joined_at) VALUES ($1, $2, 'owner', $4), ($1, $3, 'member', $4)",
    [ids.conv, ids.a, ids.b, now],
  );
  await db.end();
  return { ids, sessions };
}

async function startServer(port) {
  server = spawn(process.execPath, [new URL("server.js", import.meta.url).pathname], {
    env: { ...process.env, PORT: String(port), HOST: "127.0.0.1", DATABASE_URL: DB_URL, JWT_SECRET: SECRET, WORKERS: String(WORKERS) },
    stdio: ["ignore", "pipe", "inherit"],
  });
  await withTimeout(
    new Promise((resolve, reject) => {
      let out = "";
      server.stdout.on("data", (d) => {
        out += d;
        process.stdout.write(`server: ${d}`);
        if (/^listening on \S+ \(workers \d+\)$/m.test(out)) resolve();
      });
      server.once("exit", (code) => reject(new Error(`server exited early (${code})`)));
    }),
    "the server's listening line",
    30000,
  );
}

async function stopServer() {
  if (!server || server.exitCode !== null || server.signalCode !== null) return;
  const exited = new Promise((r) => server.once("exit", r));
  server.kill("SIGTERM");
  await withTimeout(exited, "server exit", 10000);
}

async function dropDatabase() {
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`);
  await admin.end();
}

async function run() {
  const { ids, sessions } = await setup();
  const port = await freePort();
  await startServer(port);
  const url = `http://127.0.0.1:${port}`;
  const conv = ids.conv;

  // Connected one after another so that, with 2 workers, the cluster's round robin puts
  // A1 and A2 on different workers: A1's sends must cross the adapter to reach A2.
  const a1 = client(url, token(ids.a, sessions.a), "A1");
  await a1.connected();
  const a2 = client(url, token(ids.a, sessions.a), "A2");
  await a2.connected();
  const b = client(url, token(ids.b, sessions.b), "B");
  await b.connected();
  const c = client(url, token(ids.c, sessions.c), "C");
  await c.connected();

  // First message: acked with seq 1, delivered to B and A's other device.
  const m1 = { id: uuidv7(), conversation_id: conv, body: "hello" };
  const ack1 = await a1.ask("send", m1);
  assert.equal(ack1.ok, true, JSON.stringify(ack1));
  assert.deepEqual({ ...ack1.message, created_at: 0 }, { ...m1, seq: 1, sender_id: ids.a, created_at: 0 });
  assert.equal(typeof ack1.message.created_at, "number");
  await b.until((g) => g.message.length >= 1, "m1");
  await a2.until((g) => g.message.length >= 1, "m1");
  assert.deepEqual(b.got.message[0], ack1.message);
  assert.deepEqual(a2.got.message[0], ack1.message);

  // Idempotent resend, conflicting reuse, non-member, invalid input.
  const again = await a1.ask("send", m1);
  assert.deepEqual(again, { ok: true, message: ack1.message });
  const conflict = await a1.ask("send", { ...m1, body: "different" });
  assert.equal(conflict.error?.code, "conflict", JSON.stringify(conflict));
  const outsider = await c.ask("send", { id: uuidv7(), conversation_id: conv, body: "let me in" });
  assert.equal(outsider.error?.code, "not_found", JSON.stringify(outsider));
  const nil = await a1.ask("send", { id: "00000000-0000-0000-0000-000000000000", conversation_id: conv, body: "x" });
  assert.equal(nil.error?.code, "invalid_request");
  const blank = await a1.ask("send", { id: uuidv7(), conversation_id: conv, body: " \n\t" });
  assert.equal(blank.error?.code, "invalid_request");
  const big = await a1.ask("send", { id: uuidv7(), conversation_id: conv, body: "é".repeat(4001) });
  assert.equal(big.error?.code, "too_large");

  // Auth: garbage, wrong secret, wrong audience, revoked session.
  await refused(url, "not.a.jwt", "garbage token");
  await refused(url, jwt.sign({ sub: ids.a, sid: sessions.a, aud: "ferry", exp: 9999999999 }, "wrong-secret"), "wrong secret");
  await refused(url, jwt.sign({ sub: ids.a, sid: sessions.a, aud: "other", exp: 9999999999 }, SECRET), "wrong audience");
  await refused(url, token(ids.c, sessions.revoked), "revoked session");
  await refused(url, token(ids.a, sessions.b), "someone else's session");

  // Typing reaches the other member, named as A.
  a1.socket.emit("typing", { conversation_id: conv, typing: true });
  await b.until((g) => g.typing.length >= 1, "typing");
  assert.deepEqual(b.got.typing[0], { conversation_id: conv, user_id: ids.a, typing: true });
  c.socket.emit("typing", { conversation_id: conv, typing: true });
  await c.until((g) => g.error.length >= 1, "typing refusal");
  assert.equal(c.got.error[0].code, "not_found");

  // 200 pipelined sends: gapless seqs 2..201, and delivery to B and A2 of m1 once, then
  // all of them in seq order.
  const batch = Array.from({ length: 200 }, (_, i) => ({ id: uuidv7(), conversation_id: conv, body: `msg ${i}` }));
  const acks = await Promise.all(batch.map((m) => a1.ask("send", m)));
  for (const ack of acks) assert.equal(ack.ok, true, JSON.stringify(ack));
  const seqs = acks.map((ack) => ack.message.seq).sort((x, y) => x - y);
  assert.deepEqual(seqs, Array.from({ length: 200 }, (_, i) => i + 2));
  const expected = [ack1.message, ...acks.map((ack) => ack.message).sort((x, y) => x.seq - y.seq)];
  for (const r of [b, a2]) {
    await r.until((g) => g.message.length >= 201, "201 messages");
    const order = r.got.message.map((m) => m.seq);
    assert.deepEqual(order, expected.map((m) => m.seq), `${r.name} got the messages out of order or twice`);
    assert.deepEqual(r.got.message, expected);
  }

  // Catch-up calls.
  const hist = await b.ask("history", { conversation_id: conv, after_seq: 0, limit: 200 });
  assert.equal(hist.ok, true);
  assert.deepEqual(hist.messages, expected.slice(0, 200));
  const tail = await b.ask("history", { conversation_id: conv, after_seq: 200, limit: 200 });
  assert.deepEqual(tail.messages, expected.slice(200));
  const hidden = await c.ask("history", { conversation_id: conv, after_seq: 0 });
  assert.equal(hidden.error?.code, "not_found");
  const sync = await b.ask("sync", {});
  assert.deepEqual(sync, { ok: true, conversations: [{ id: conv, last_seq: 201, read_seq: 0 }] });

  // A body at the size limit: 4000 characters, 8000 UTF-8 bytes, so with 2 workers the
  // adapter's NOTIFY is over Postgres' 8000-byte limit and goes through its table.
  const fits = { id: uuidv7(), conversation_id: conv, body: "é".repeat(4000) };
  const bigAck = await a1.ask("send", fits);
  assert.equal(bigAck.message?.seq, 202, JSON.stringify(bigAck.error));
  for (const r of [b, a2]) {
    await r.until((g) => g.message.length >= 202, "the largest message");
    assert.deepEqual(r.got.message[201], bigAck.message);
  }

  // B reads everything: A's devices get the receipt; the read is capped at last_seq.
  const read = await b.ask("read", { conversation_id: conv, seq: 500 });
  assert.deepEqual(read, { ok: true });
  const receipt = { conversation_id: conv, user_id: ids.b, read_seq: 202, delivered_seq: 202 };
  for (const r of [a1, a2]) {
    await r.until((g) => g.receipt.length >= 1, "receipt");
    assert.deepEqual(r.got.receipt[0], receipt);
  }
  assert.equal((await c.ask("read", { conversation_id: conv, seq: 1 })).error?.code, "not_found");
  const synced = await b.ask("sync", {});
  assert.equal(synced.conversations[0].read_seq, 202);

  // Emits go out as one broadcast, so had A1 been included it would have everything by now.
  assert.equal(a1.got.message.length, 0, "the sending socket received its own message");
  assert.equal(b.got.receipt.length, 0, "the reading socket received its own receipt");
  assert.equal(c.got.message.length, 0, "a non-member received a message");
}

let failed = false;
try {
  await run();
} catch (e) {
  failed = true;
  console.error("smoke FAILED:", e.stack ?? e);
}
for (const s of sockets) s.close();
try {
  await stopServer();
} catch (e) {
  failed = true;
  console.error(e.message);
  server?.kill("SIGKILL");
}
try {
  await dropDatabase();
} catch (e) {
  failed = true;
  console.error("dropping", DB, "failed:", e.message);
}
if (failed) process.exit(1);
console.log("smoke ok");
