//! [`Postgres`]: the production dialect of [`SqlStore`](super::sql::SqlStore).
//!
//! Seqs are allocated under the conversation's row lock (`FOR NO KEY UPDATE`, or the `UPDATE` of
//! `last_seq`), held until commit, so commit order is seq order and a reader never sees
//! seq n+1 before n. Transactions that touch a member row and its conversation always
//! lock the conversation first, so they cannot deadlock.
//!
//! `/sync` versions are transaction ids: every change stamps its conversation with
//! `pg_current_xact_id()`, and each page's horizon is the xmin of its own snapshot (every
//! transaction below it has finished and is visible). `SyncCursor::after_page` turns that
//! into cursors that always make progress and never skip a change that committed late;
//! changes at or above a pass's floor may come again, as `/sync`'s at-least-once contract
//! allows.
//!
//! The batch append (messages, replies, edits and reactions in a constant number of
//! statements) is [`batch`]'s.

use std::str::FromStr;

use ferry_proto::{ConversationId, Message};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions};
use sqlx::{Postgres as Pg, QueryBuilder};
use uuid::Uuid;

use super::rows::MessageRow;
use super::sql::{Dialect, SqlStore, take_within};
use super::{Append, Latest, NewMessage, POOL_WAIT, STATEMENT_TIMEOUT, StoreResult};

mod batch;

/// The Postgres dialect.
pub(crate) struct Postgres;

/// The store on Postgres.
pub(crate) type PgStore = SqlStore<Postgres>;

impl PgStore {
    /// Connects to `url` (`postgres://…`) and migrates the database.
    pub(crate) async fn open(url: &str, max_connections: u32) -> StoreResult<Self> {
        let options = PgConnectOptions::from_str(url)?;
        // Migrations run without the statement timeout: adding a column or an index to a
        // large table, or waiting for another node's migration lock, takes what it takes.
        let migrating = PgPoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("../migrations/postgres")
            .run(&migrating)
            .await?;
        migrating.close().await;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(POOL_WAIT)
            .connect_with(options.options([(
                "statement_timeout",
                format!("{}ms", STATEMENT_TIMEOUT.as_millis()),
            )]))
            .await?;
        // Postgres isolates concurrent transactions itself: reads and writes share a pool.
        Ok(Self {
            writer: pool.clone(),
            readers: pool,
        })
    }
}

impl Dialect for Postgres {
    type Db = Pg;

    const BEGIN_WRITE: &'static str = "BEGIN";
    // Generic plans, made once per connection and statement, for the read transactions'
    // statements: each looks rows up by key (`= ANY($1)`, lateral probes), so a generic
    // plan is as good as any, while Postgres's default planned them afresh on every call
    // (a custom plan always looks cheaper for an array it can see): planning took as long
    // as running `/sync`'s statements under B7. Sent as one simple query with the BEGIN,
    // so it costs no round trip.
    const BEGIN_READ: &'static str = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; \
                                      SET LOCAL plan_cache_mode = force_generic_plan";
    const GREATEST: &'static str = "GREATEST";
    // A probe of `users` per member row, which no plan can turn into a scan. As a plain
    // join, the generic plan (read transactions use one, above) expects an array of many
    // conversations and hashed all of `users` on every call, even for one conversation of
    // two: 0.28 ms a call and the largest statement of `/sync` in B7 (docs/benchmarks.md).
    const MEMBERS_WITH_USERS: &'static str = "members m CROSS JOIN LATERAL ( \
         SELECT username, display_name, created_at, suspended_at, deleted_at, picture \
         FROM users WHERE id = m.user_id LIMIT 1) u";
    const ADVANCE_CLOCK: Option<&'static str> = None;
    const CHANGE_VERSION: &'static str = "pg_current_xact_id()::text::bigint";
    const SYNC_HORIZON: &'static str =
        "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint";
    // Byte-wise ranges (the pattern operators `~>=~` and `~<~`, which a `text_pattern_ops`
    // index serves): every string that starts with the prefix sorts from it to it followed
    // by U+10FFFF. Both sides are lowered by the database's `lower`, as the index is.
    const SEARCH_USERS: &'static str = "SELECT id, username, display_name, created_at, suspended_at, deleted_at, picture FROM users \
         WHERE username ~>=~ lower($1) AND username ~<~ (lower($1) || chr(1114111)) AND deleted_at IS NULL \
         UNION SELECT id, username, display_name, created_at, suspended_at, deleted_at, picture FROM users \
         WHERE lower(display_name) ~>=~ lower($1) \
         AND lower(display_name) ~<~ (lower($1) || chr(1114111)) AND deleted_at IS NULL \
         ORDER BY username LIMIT $2";

    // `NO KEY`: rows locked here are never deleted and their ids never change, and the
    // weaker lock lets other transactions insert rows that reference them (a user's
    // message while their presence row is locked) instead of waiting on the foreign
    // key's `KEY SHARE`.
    fn lock(alias: &str) -> String {
        format!("FOR NO KEY UPDATE OF {alias}")
    }

    const LOCK_PAIR: Option<&'static str> = Some("SELECT pg_advisory_xact_lock(hashtext($1))");

    fn push_in<T: Copy + Into<Uuid>>(query: &mut QueryBuilder<Pg>, column: &str, ids: &[T]) {
        // One array parameter, so the statement's text (and its cached plan) does not
        // depend on the list's length.
        query
            .push(column)
            .push(" = ANY(")
            .push_bind(ids.iter().map(|&id| id.into()).collect::<Vec<Uuid>>())
            .push(")");
    }

    fn batches(new: &NewMessage) -> bool {
        batch::takes(new)
    }

    async fn append_batch(tx: &mut PgConnection, batch: &[NewMessage]) -> StoreResult<Vec<Append>> {
        batch::append(tx, batch).await
    }

    async fn last_messages(
        conn: &mut PgConnection,
        conversations: &[ConversationId],
    ) -> StoreResult<Vec<MessageRow>> {
        // A lateral probe per conversation, which no plan can turn into a scan. Joined on
        // `m.seq = (SELECT max …)` instead, the generic plan of a young `messages` table
        // (small, not analyzed yet) hashed the whole table on every call: 1.7 ms a call,
        // half of Postgres's CPU in B7.
        Ok(sqlx::query_as(concat!(
            "SELECT ",
            message_columns!(m),
            " FROM unnest($1::uuid[]) AS c(id) CROSS JOIN LATERAL ( \
               SELECT * FROM messages WHERE conversation_id = c.id AND change_kind IS NULL \
               ORDER BY seq DESC LIMIT 1) m"
        ))
        .bind(conversations)
        .fetch_all(conn)
        .await?)
    }

    async fn latest_messages(
        conn: &mut PgConnection,
        conversations: &[ConversationId],
        latest: Latest,
    ) -> StoreResult<Vec<Message>> {
        // The budget is applied in the query too (a running total of body sizes, and of
        // sealed entries' as base64), so
        // Postgres neither reads out nor sends what would not fit; `take_within` below
        // is then only the bound every dialect shares.
        let rows = sqlx::query_as::<_, MessageRow>(concat!(
            "SELECT ",
            message_columns!(),
            " FROM ( \
               SELECT m.*, sum(octet_length(m.body) \
                 + coalesce((octet_length(m.sealed) + 2) / 3 * 4, 0)) \
                 OVER (ORDER BY m.conversation_id, m.seq) AS running \
               FROM unnest($1::uuid[]) AS c(id) CROSS JOIN LATERAL ( \
                 SELECT * FROM messages WHERE conversation_id = c.id \
                 ORDER BY seq DESC LIMIT $2) m \
             ) latest WHERE running <= $3 \
             ORDER BY conversation_id, seq"
        ))
        .bind(conversations)
        .bind(i64::from(latest.per_conversation))
        .bind(i64::try_from(latest.max_bytes).unwrap_or(i64::MAX))
        .fetch(&mut *conn);
        let (mut left, mut messages) = (latest.max_bytes, Vec::new());
        take_within(rows, &mut left, &mut messages).await?;
        Ok(messages)
    }
}
