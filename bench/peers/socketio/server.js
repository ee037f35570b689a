// Benchmark comparison peer for Ferry: a plain Socket.IO 4 + Node + pg chat relay doing
// the same work per event as Ferry's server (same JWT + session check on connect, the
// same SQL per send/read/typing, fan-out to every socket of each member user) and no
// more. WORKERS > 1 runs a Node cluster whose workers share rooms through the Postgres
// adapter (LISTEN/NOTIFY), the usual way to scale Socket.IO past one core.

import cluster from "node:cluster";
import http from "node:http";
import jwt from "jsonwebtoken";
import pg from "pg";
import { Server } from "socket.io";
import { createAdapter } from "@socket.io/postgres-adapter";

const PORT = Number(process.env.PORT ?? 8090);
const HOST = process.env.HOST ?? "127.0.0.1";
const WORKERS = Math.max(1, Number(process.env.WORKERS ?? 1));
const SPLIT_PORTS = process.env.SPLIT_PORTS === "1";
const DATABASE_URL = process.env.DATABASE_URL;
// Ferry trims its secret too, so both servers accept the same tokens.
const JWT_SECRET = process.env.JWT_SECRET?.trim();
const POOL_SIZE = 16; // Ferry's default FERRY_DB_POOL
const MAX_BODY_CHARS = 4000;
const MAX_PAGE = 200;
const DEFAULT_PAGE = 100;

if (!JWT_SECRET) {
  console.error("JWT_SECRET is required");
  process.exit(2);
}

// BIGINT (seq, created_at) arrives as a string by default; Ferry's wire JSON has numbers.
pg.types.setTypeParser(20, Number);

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const isId = (v) => typeof v === "string" && UUID.test(v) && !/^[0-]+$/.test(v);

// Named statements are prepared once per connection, as sqlx's statement cache does for Ferry.
const sql = (name, text) => (...values) => ({ name, text, values });
const Q = {
  session: sql("session", "SELECT 1 FROM sessions WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL"),
  messageById: sql("message_by_id", "SELECT id, conversation_id, seq, sender_id, body, created_at FROM messages WHERE id = $1"),
  nextSeq: sql("next_seq", "UPDATE conversations SET last_seq = last_seq + 1, updated_at = GREATEST(updated_at, $2), change_version = pg_current_xact_id()::text::bigint WHERE id = $1 RETURNING last_seq"),
  isMember: sql("is_member", "SELECT 1 FROM members WHERE conversation_id = $1 AND user_id = $2"),
  insert: sql("insert_message", "INSERT INTO messages (id, conversation_id, seq, sender_id, body, created_at) VALUES ($1, $2, $3, $4, $5, $6)"),
  senderRead: sql("sender_read", "UPDATE members SET read_seq = GREATEST(read_seq, $3), delivered_seq = GREATEST(delivered_seq, $3) WHERE conversation_id = $1 AND user_id = $2"),
  memberIds: sql("member_ids", "SELECT user_id FROM members WHERE conversation_id = $1"),
  lockConversation: sql("lock_conversation", "SELECT last_seq FROM conversations WHERE id = $1 FOR UPDATE"),
  lockMarks: sql("lock_marks", "SELECT read_seq, delivered_seq FROM members WHERE conversation_id = $1 AND user_id = $2 FOR UPDATE"),
  setMarks: sql("set_marks", "UPDATE members SET read_seq = $3, delivered_seq = $4 WHERE conversation_id = $1 AND user_id = $2"),
  markChanged: sql("mark_changed", "UPDATE conversations SET change_version = pg_current_xact_id()::text::bigint WHERE id = $1"),
  after: sql("messages_after", "SELECT id, conversation_id, seq, sender_id, body, created_at FROM messages WHERE conversation_id = $1 AND seq > $2 ORDER BY seq LIMIT $3"),
  sync: sql("sync", "SELECT c.id, c.last_seq, m.read_seq FROM members m JOIN conversations c ON c.id = m.conversation_id WHERE m.user_id = $1"),
};

const ATTACHMENTS_DDL = `CREATE TABLE IF NOT EXISTS socket_io_attachments (
  id bigserial UNIQUE, created_at timestamptz DEFAULT NOW(), payload bytea)`;

const fail = (code, message) => ({ ok: false, error: { code, message } });
const notFound = () => fail("not_found", "conversation not found");
const userRooms = (ids) => ids.map((id) => "u:" + id);

if (WORKERS > 1 && cluster.isPrimary) {
  await primary();
} else {
  await worker();
}

async function primary() {
  // Created once here, not by racing workers (concurrent CREATE IF NOT EXISTS can fail).
  const db = new pg.Client({ connectionString: DATABASE_URL });
  await db.connect();
  await db.query(ATTACHMENTS_DDL);
  await db.end();

  let ready = 0;
  for (let i = 0; i < WORKERS; i++) {
    cluster.fork().on("message", (msg) => {
      if (msg === "ready" && ++ready === WORKERS) {
        const ports = SPLIT_PORTS ? `${PORT}-${PORT + WORKERS - 1}` : PORT;
        console.log(`listening on ${HOST}:${ports} (workers ${WORKERS})`);
      }
    });
  }
  // A benchmark must not silently go on with fewer workers than it claims.
  cluster.on("exit", (w, code, signal) => {
    console.error(`worker ${w.process.pid} exited (${signal ?? code})`);
    process.exit(1);
  });
  const stop = () => {
    cluster.removeAllListeners("exit");
    for (const w of Object.values(cluster.workers)) w.process.kill("SIGTERM");
    process.exit(0);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

async function worker() {
  const pool = new pg.Pool({ connectionString: DATABASE_URL, max: POOL_SIZE });
  pool.on("error", (e) => console.error("pg pool:", e.message));

  const httpServer = http.createServer();
  const io = new Server(httpServer, {
    transports: ["websocket"],
    pingInterval: 20000,
    maxHttpBufferSize: 64 * 1024,
    perMessageDeflate: false,
    serveClient: false,
  });

  if (WORKERS > 1) {
    // Its own pool: one connection LISTENs for good, and a single publishing connection
    // keeps NOTIFYs (hence cross-worker deliveries) in emit order.
    const bus = new pg.Pool({ connectionString: DATABASE_URL, max: 2 });
    bus.on("error", (e) => console.error("pg adapter pool:", e.message));
    io.adapter(createAdapter(bus, { errorHandler: (e) => console.error("adapter:", e.message) }));
  }

  io.use(async (socket, next) => {
    try {
      const claims = jwt.verify(String(socket.handshake.auth?.token ?? ""), JWT_SECRET, {
        algorithms: ["HS256"],
        audience: "ferry",
      });
      if (typeof claims.exp !== "number" || !isId(claims.sub) || !isId(claims.sid)) {
        return next(new Error("unauthorized"));
      }
      const { rowCount } = await pool.query(Q.session(claims.sid, claims.sub));
      if (rowCount === 0) return next(new Error("unauthorized"));
      socket.data.userId = claims.sub.toLowerCase();
      next();
    } catch (e) {
      if (!(e instanceof jwt.JsonWebTokenError)) console.error("auth:", e.message);
      next(new Error("unauthorized"));
    }
  });

  io.on("connection", (socket) => {
    const user = socket.data.userId;
    socket.join("u:" + user);
    // One event at a time per socket, as Ferry's socket loop does: a client's pipelined
    // sends are stored and fanned out in the order it sent them, and one socket cannot
    // hold more than one pool connection.
    let queue = Promise.resolve();
    const on = (event, handler) =>
      socket.on(event, (payload, ack) => {
        // Acks are optional on the wire; a missing callback must not crash the handler.
        const reply = typeof ack === "function" ? ack : () => {};
        queue = queue.then(async () => {
          try {
            const answer = await handler(payload ?? {});
            if (answer) reply(answer);
          } catch (e) {
            console.error(`${event}:`, e.message);
            reply(fail("internal", "internal error"));
          }
        });
      });

    on("send", async ({ id, conversation_id, body }) => {
      if (!isId(id) || !isId(conversation_id)) {
        return fail("invalid_request", "id and conversation_id must be UUIDs, not nil");
      }
      if (typeof body !== "string" || body.trim() === "") {
        return fail("invalid_request", "message body is empty");
      }
      // Ferry counts characters (code points), not UTF-16 units.
      if (body.length > MAX_BODY_CHARS && [...body].length > MAX_BODY_CHARS) {
        return fail("too_large", `message body is over ${MAX_BODY_CHARS} characters`);
      }
      const m = { id: id.toLowerCase(), conversation_id: conversation_id.toLowerCase(), seq: 0, sender_id: user, body, created_at: Date.now() };
      const result = await append(m);
      if (result.existing) return { ok: true, message: result.existing };
      if (result.error) return result.error;
      // The sender's other devices get it; the sending socket has the ack.
      io.to(userRooms(result.members)).except(socket.id).emit("message", m);
      return { ok: true, message: m };
    });

    on("typing", async ({ conversation_id, typing }) => {
      if (!isId(conversation_id) || typeof typing !== "boolean") {
        socket.emit("error", { code: "invalid_request", message: "conversation_id and typing required" });
        return;
      }
      const { rows } = await pool.query(Q.memberIds(conversation_id));
      const others = rows.map((r) => r.user_id).filter((u) => u !== user);
      if (others.length === rows.length) {
        socket.emit("error", notFound().error);
        return;
      }
      io.to(userRooms(others)).emit("typing", { conversation_id: conversation_id.toLowerCase(), user_id: user, typing });
    });

    on("read", async ({ conversation_id, seq }) => {
      if (!isId(conversation_id) || !Number.isSafeInteger(seq) || seq < 0) {
        return fail("invalid_request", "conversation_id and seq (0 or more) required");
      }
      const marks = await advanceRead(conversation_id, user, seq);
      if (!marks) return notFound();
      if (marks.moved) {
        const { rows } = await pool.query(Q.memberIds(conversation_id));
        const receipt = { conversation_id: conversation_id.toLowerCase(), user_id: user, read_seq: marks.read_seq, delivered_seq: marks.delivered_seq };
        // As in Ferry, the socket that moved the mark is not told (its ack says so).
        io.to(userRooms(rows.map((r) => r.user_id))).except(socket.id).emit("receipt", receipt);
      }
      return { ok: true };
    });

    on("history", async ({ conversation_id, after_seq = 0, limit = DEFAULT_PAGE }) => {
      if (!isId(conversation_id) || !Number.isSafeInteger(after_seq) || !Number.isSafeInteger(limit)) {
        return fail("invalid_request", "conversation_id, after_seq and limit must be valid");
      }
      const members = await pool.query(Q.memberIds(conversation_id));
      if (!members.rows.some((r) => r.user_id === user)) return notFound();
      const page = Math.min(Math.max(limit, 1), MAX_PAGE);
      const { rows } = await pool.query(Q.after(conversation_id, after_seq, page));
      return { ok: true, messages: rows };
    });

    on("sync", async () => {
      const { rows } = await pool.query(Q.sync(user));
      return { ok: true, conversations: rows };
    });
  });

  // Ferry's store append: one transaction whose conversation row lock makes seq order
  // commit order. Returns { existing } | { error } | { members } (m.seq filled in).
  async function append(m) {
    try {
      return await tryAppend(m);
    } catch (e) {
      if (e.code !== "23505") throw e;
      // The same id was committed by a concurrent send in the meantime.
      const { rows } = await pool.query(Q.messageById(m.id));
      if (rows.length === 0) throw e;
      return sameOrConflict(rows[0], m);
    }
  }

  async function tryAppend(m) {
    return transaction(async (db) => {
      const found = await db.query(Q.messageById(m.id));
      if (found.rows.length) return { rollback: true, ...sameOrConflict(found.rows[0], m) };
      const seq = await db.query(Q.nextSeq(m.conversation_id, m.created_at));
      // Checked under the row lock, so a removal committed while this send waited is seen.
      const member = await db.query(Q.isMember(m.conversation_id, m.sender_id));
      if (seq.rows.length === 0 || member.rows.length === 0) return { rollback: true, error: notFound() };
      m.seq = seq.rows[0].last_seq;
      await db.query(Q.insert(m.id, m.conversation_id, m.seq, m.sender_id, m.body, m.created_at));
      await db.query(Q.senderRead(m.conversation_id, m.sender_id, m.seq));
      const members = await db.query(Q.memberIds(m.conversation_id));
      return { members: members.rows.map((r) => r.user_id) };
    });
  }

  function sameOrConflict(existing, m) {
    return existing.conversation_id === m.conversation_id && existing.sender_id === m.sender_id && existing.body === m.body
      ? { existing }
      : { error: fail("conflict", "this message id is already used by a different message") };
  }

  // Ferry's advance() for a read mark: lock order conversation then member, as in append.
  async function advanceRead(conversationId, userId, seq) {
    return transaction(async (db) => {
      const conv = await db.query(Q.lockConversation(conversationId));
      if (conv.rows.length === 0) return { rollback: true, marks: null };
      const cur = await db.query(Q.lockMarks(conversationId, userId));
      if (cur.rows.length === 0) return { rollback: true, marks: null };
      const old = cur.rows[0];
      const read_seq = Math.max(old.read_seq, Math.min(seq, conv.rows[0].last_seq));
      const delivered_seq = Math.max(old.delivered_seq, read_seq);
      const moved = read_seq !== old.read_seq || delivered_seq !== old.delivered_seq;
      if (moved) {
        await db.query(Q.setMarks(conversationId, userId, read_seq, delivered_seq));
        await db.query(Q.markChanged(conversationId));
      }
      return { marks: { read_seq, delivered_seq, moved } };
    }).then((r) => r.marks);
  }

  // Runs fn in BEGIN..COMMIT; fn returns { rollback: true, ... } to end without writing.
  async function transaction(fn) {
    const db = await pool.connect();
    let broken = false;
    try {
      await db.query("BEGIN");
      const result = await fn(db);
      await db.query(result.rollback ? "ROLLBACK" : "COMMIT");
      return result;
    } catch (e) {
      await db.query("ROLLBACK").catch(() => { broken = true; });
      throw e;
    } finally {
      db.release(broken);
    }
  }

  // Fail at start, not on the first client, if the database is unreachable.
  await pool.query("SELECT 1");
  await new Promise((resolve, reject) => {
    httpServer.once("error", reject);
    // SPLIT_PORTS: worker i (from 0) on PORT + i, so that a benchmark puts a socket on the
    // worker it chooses (B11's cross-worker delivery); otherwise all share PORT.
    const port = SPLIT_PORTS && cluster.isWorker ? PORT + cluster.worker.id - 1 : PORT;
    httpServer.listen({ port, host: HOST, backlog: 4096 }, resolve);
  });

  if (WORKERS > 1) {
    // Ready only once every worker has heard from every other over NOTIFY: before that,
    // an emit could miss sockets on a worker whose LISTEN is not yet in place.
    const deadline = Date.now() + 30000;
    while ((await io.of("/").adapter.serverCount()) < WORKERS) {
      if (Date.now() > deadline) throw new Error("workers did not find each other in 30 s");
      await new Promise((r) => setTimeout(r, 50));
    }
    process.send("ready");
  } else {
    console.log(`listening on ${HOST}:${PORT} (workers 1)`);
  }
}
