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
//! The batch append runs a constant number of statements whatever the batch's size
//! (arrays bound with `UNNEST`): it is the round trips and the commit, not the rows,
//! that cost.

use std::collections::HashMap;
use std::str::FromStr;

use ferry_proto::{ConversationId, MemberState, Message, MessageId, UserId};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions};
use sqlx::{Postgres as Pg, QueryBuilder};
use uuid::Uuid;

use super::rows::MessageRow;
use super::sql::{Dialect, SqlStore, take_within};
use super::{
    Append, Latest, NewMessage, POOL_WAIT, STATEMENT_TIMEOUT, StoreResult, check_send,
    same_or_conflict, stored,
};

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
    const BEGIN_READ: &'static str = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";
    const GREATEST: &'static str = "GREATEST";
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

    async fn append_batch(tx: &mut PgConnection, batch: &[NewMessage]) -> StoreResult<Vec<Append>> {
        // Plan this batch's statements afresh. A generic plan cached while `conversations`
        // and `members` were small scans them whole for ever after, and every batch
        // leaves dead row versions behind in both, so those scans grow until autovacuum
        // runs (B5: 400 conversations grew to 400 pages, and scanning them was most of
        // Postgres's time). Planned now, with the batch's ids and the tables' real size,
        // the statements use the primary keys.
        sqlx::query("SET LOCAL plan_cache_mode = force_custom_plan")
            .execute(&mut *tx)
            .await?;
        let ids: Vec<MessageId> = batch.iter().map(|m| m.id).collect();
        let existing: Vec<MessageRow> = sqlx::query_as(concat!(
            "SELECT ",
            message_columns!(),
            " FROM messages WHERE id = ANY($1)"
        ))
        .bind(&ids)
        .fetch_all(&mut *tx)
        .await?;
        let mut known: HashMap<MessageId, Message> = existing
            .into_iter()
            .map(|row| (row.id, Message::from(row)))
            .collect();
        let mut conversations: Vec<ConversationId> =
            batch.iter().map(|m| m.conversation_id).collect();
        conversations.sort_unstable();
        conversations.dedup();
        // Row locks until commit, taken in id order (as any multi-row writer must): seq
        // order is commit order, and membership read after them is current.
        let locked: Vec<(ConversationId, i64)> = sqlx::query_as(
            "SELECT id, last_seq FROM conversations WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE",
        )
        .bind(&conversations)
        .fetch_all(&mut *tx)
        .await?;
        let mut last_seq: HashMap<ConversationId, i64> = locked.into_iter().collect();
        let member_rows: Vec<(ConversationId, UserId, String)> = sqlx::query_as(
            "SELECT conversation_id, user_id, state FROM members WHERE conversation_id = ANY($1)",
        )
        .bind(&conversations)
        .fetch_all(&mut *tx)
        .await?;
        let mut members: HashMap<ConversationId, Vec<(UserId, String)>> = HashMap::new();
        for (conversation, user, state) in member_rows {
            members.entry(conversation).or_default().push((user, state));
        }
        // Senders whose account was deleted, read under the locks: a deletion (which
        // stamps these conversations) either waits for this batch, whose messages its
        // erasure then finds, or is seen here, and the send refused; none outlives it.
        let mut senders: Vec<UserId> = batch.iter().map(|m| m.sender_id).collect();
        senders.sort_unstable();
        senders.dedup();
        let deleted: Vec<UserId> = sqlx::query_scalar(
            "SELECT id FROM users WHERE id = ANY($1) AND deleted_at IS NOT NULL",
        )
        .bind(&senders)
        .fetch_all(&mut *tx)
        .await?;

        let mut appends = Vec::with_capacity(batch.len());
        let mut inserted: Vec<(&NewMessage, i64)> = Vec::new();
        // Senders whose message request their send accepts (rare: one statement each).
        let mut accepting: Vec<(ConversationId, UserId)> = Vec::new();
        for new in batch {
            if let Some(existing) = known.get(&new.id) {
                appends.push(same_or_conflict(existing.clone(), new));
                continue;
            }
            if deleted.contains(&new.sender_id) {
                appends.push(Append::NotMember);
                continue;
            }
            let seats = members
                .get_mut(&new.conversation_id)
                .map_or(&mut [][..], Vec::as_mut_slice);
            let accepts = match check_send(
                seats.iter().map(|(user, state)| (*user, state.as_str())),
                new.sender_id,
            ) {
                Ok(accepts) => accepts,
                Err(refused) => {
                    appends.push(refused.into());
                    continue;
                }
            };
            let Some(last) = last_seq.get_mut(&new.conversation_id) else {
                appends.push(Append::NotMember);
                continue;
            };
            if accepts {
                // The batch's later sends see the request accepted.
                for (user, state) in seats.iter_mut() {
                    if *user == new.sender_id {
                        *state = MemberState::Accepted.as_str().to_owned();
                    }
                }
                accepting.push((new.conversation_id, new.sender_id));
            }
            *last += 1;
            let message = stored(new, *last);
            // A repeat of this id later in the batch is an idempotent resend.
            known.insert(new.id, message.clone());
            inserted.push((new, *last));
            appends.push(Append::Stored {
                message,
                members: seats.iter().map(|(user, _)| *user).collect(),
                accepted: accepts,
            });
        }
        if inserted.is_empty() {
            return Ok(appends);
        }
        for (conversation, user) in accepting {
            PgStore::accept_by_sending(&mut *tx, conversation, user).await?;
        }

        let mut rows = MessageColumns::default();
        for (new, seq) in &inserted {
            rows.push(new, *seq);
        }
        sqlx::query(
            "INSERT INTO messages (id, conversation_id, seq, sender_id, body, created_at) \
             SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::int8[], $4::uuid[], $5::text[], \
             $6::int8[])",
        )
        .bind(&rows.ids)
        .bind(&rows.conversations)
        .bind(&rows.seqs)
        .bind(&rows.senders)
        .bind(&rows.bodies)
        .bind(&rows.created_at)
        .execute(&mut *tx)
        .await?;
        // Per conversation: its new last seq and latest time.
        let mut heads: HashMap<ConversationId, (i64, i64)> = HashMap::new();
        // Per (conversation, sender): sending means having read everything up to it.
        let mut senders: HashMap<(ConversationId, UserId), i64> = HashMap::new();
        for (new, seq) in &inserted {
            let head = heads.entry(new.conversation_id).or_insert((0, i64::MIN));
            *head = (head.0.max(*seq), head.1.max(new.created_at.as_millis()));
            let mark = senders
                .entry((new.conversation_id, new.sender_id))
                .or_insert(0);
            *mark = (*mark).max(*seq);
        }
        let (head_ids, head_values): (Vec<ConversationId>, Vec<(i64, i64)>) =
            heads.into_iter().unzip();
        let (head_seqs, head_times): (Vec<i64>, Vec<i64>) = head_values.into_iter().unzip();
        sqlx::query(
            "UPDATE conversations c SET last_seq = v.last_seq, \
             updated_at = GREATEST(c.updated_at, v.at), \
             change_version = pg_current_xact_id()::text::bigint \
             FROM UNNEST($1::uuid[], $2::int8[], $3::int8[]) AS v(id, last_seq, at) \
             WHERE c.id = v.id",
        )
        .bind(&head_ids)
        .bind(&head_seqs)
        .bind(&head_times)
        .execute(&mut *tx)
        .await?;
        let (pairs, marks): (Vec<(ConversationId, UserId)>, Vec<i64>) = senders.into_iter().unzip();
        let (mark_conversations, mark_users): (Vec<ConversationId>, Vec<UserId>) =
            pairs.into_iter().unzip();
        sqlx::query(
            "UPDATE members m SET read_seq = GREATEST(m.read_seq, v.seq), \
             delivered_seq = GREATEST(m.delivered_seq, v.seq) \
             FROM UNNEST($1::uuid[], $2::uuid[], $3::int8[]) AS v(conversation_id, user_id, seq) \
             WHERE m.conversation_id = v.conversation_id AND m.user_id = v.user_id",
        )
        .bind(&mark_conversations)
        .bind(&mark_users)
        .bind(&marks)
        .execute(&mut *tx)
        .await?;
        Ok(appends)
    }

    async fn latest_messages(
        conn: &mut PgConnection,
        conversations: &[ConversationId],
        latest: Latest,
    ) -> StoreResult<Vec<Message>> {
        // The budget is applied in the query too (a running total of body sizes), so
        // Postgres neither reads out nor sends what would not fit; `take_within` below
        // is then only the bound every dialect shares.
        let rows = sqlx::query_as::<_, MessageRow>(concat!(
            "SELECT ",
            message_columns!(),
            " FROM ( \
               SELECT m.*, sum(octet_length(m.body)) \
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

/// The columns of messages to insert, one array each (for `UNNEST`).
#[derive(Default)]
struct MessageColumns {
    ids: Vec<MessageId>,
    conversations: Vec<ConversationId>,
    seqs: Vec<i64>,
    senders: Vec<UserId>,
    bodies: Vec<String>,
    created_at: Vec<i64>,
}

impl MessageColumns {
    fn push(&mut self, new: &NewMessage, seq: i64) {
        self.ids.push(new.id);
        self.conversations.push(new.conversation_id);
        self.seqs.push(seq);
        self.senders.push(new.sender_id);
        self.bodies.push(new.body.clone());
        self.created_at.push(new.created_at.as_millis());
    }
}
