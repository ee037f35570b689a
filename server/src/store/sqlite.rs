//! [`Sqlite`]: the embedded dialect of [`SqlStore`](super::sql::SqlStore), so that a
//! server runs with nothing installed.
//!
//! SQLite allows one writer at a time, so the store keeps one writing connection (every
//! write transaction queues for it, `BEGIN IMMEDIATE`) and a pool of readers on WAL
//! snapshots. That single writer is also this store's "conversation lock": seqs and the
//! `sync_clock` version are allocated in commit order by construction, and no row needs
//! locking. Commits use `synchronous=FULL`, so an acknowledged message survives a power
//! cut, not only a crash.

use std::str::FromStr;
use std::time::Duration;

use ferry_proto::{ConversationId, Message, UserId};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{QueryBuilder, Sqlite as Lite, SqliteConnection};
use uuid::Uuid;

use super::rows::MessageRow;
use super::sql::{Dialect, SqlStore, take_within};
use super::{
    Append, Latest, NewMessage, POOL_WAIT, Refusal, StoreResult, check_send, same_or_conflict,
    stored,
};

/// The SQLite dialect.
pub(crate) struct Sqlite;

/// The embedded SQLite store.
pub(crate) type SqliteStore = SqlStore<Sqlite>;

impl SqliteStore {
    /// Opens (creating if missing) the database at `url` (`sqlite://path`) and migrates it.
    pub(crate) async fn open(url: &str) -> StoreResult<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(POOL_WAIT)
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("../migrations/sqlite").run(&writer).await?;
        let readers = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(POOL_WAIT)
            .connect_with(options.read_only(true))
            .await?;
        Ok(Self { writer, readers })
    }
}

impl Dialect for Sqlite {
    type Db = Lite;

    const BEGIN_WRITE: &'static str = "BEGIN IMMEDIATE";
    const BEGIN_READ: &'static str = "BEGIN";
    const MEMBERS_WITH_USERS: &'static str = "members m JOIN users u ON u.id = m.user_id";
    const GREATEST: &'static str = "max";
    const ADVANCE_CLOCK: Option<&'static str> =
        Some("UPDATE sync_clock SET version = version + 1 WHERE only_row = 1");
    const CHANGE_VERSION: &'static str = "(SELECT version FROM sync_clock)";
    // One writer: every version up to this snapshot's clock is committed and visible.
    const SYNC_HORIZON: &'static str = "SELECT version + 1 FROM sync_clock WHERE only_row = 1";
    // Ranges in byte order (SQLite's LIKE ignores ASCII case and so uses no index):
    // every string that starts with the prefix sorts from it to it followed by U+10FFFF.
    // Both sides are lowered by SQLite's `lower` (ASCII only), as the index is. Deleted
    // accounts are nobody to find.
    const SEARCH_USERS: &'static str = "SELECT id, username, display_name, created_at, suspended_at, deleted_at, picture FROM users \
         WHERE username >= lower($1) AND username < (lower($1) || char(1114111)) AND deleted_at IS NULL \
         UNION SELECT id, username, display_name, created_at, suspended_at, deleted_at, picture FROM users \
         WHERE lower(display_name) >= lower($1) \
         AND lower(display_name) < (lower($1) || char(1114111)) AND deleted_at IS NULL \
         ORDER BY username LIMIT $2";

    fn lock(_alias: &str) -> String {
        String::new()
    }

    // One writer: two transactions never run at once.
    const LOCK_PAIR: Option<&'static str> = None;

    fn push_in<T: Copy + Into<Uuid>>(query: &mut QueryBuilder<Lite>, column: &str, ids: &[T]) {
        // SQLite has no arrays: one parameter per id.
        query.push(column).push(" IN (");
        let mut list = query.separated(", ");
        for id in ids {
            list.push_bind(Into::<Uuid>::into(*id));
        }
        query.push(")");
    }

    async fn append_batch(
        tx: &mut SqliteConnection,
        batch: &[NewMessage],
    ) -> StoreResult<Vec<Append>> {
        // One transaction, so one fsync, for the whole batch. There is no network between
        // the statements, so each message is stored as if alone; a repeated id within the
        // batch finds the copy stored a moment before.
        let mut appends = Vec::with_capacity(batch.len());
        for new in batch {
            appends.push(append_in(tx, new).await?);
        }
        Ok(appends)
    }

    async fn last_messages(
        conn: &mut SqliteConnection,
        conversations: &[ConversationId],
    ) -> StoreResult<Vec<MessageRow>> {
        // One indexed read per conversation, as for the latest messages below.
        let mut last = Vec::with_capacity(conversations.len());
        for id in conversations {
            let row: Option<MessageRow> = sqlx::query_as(concat!(
                "SELECT ",
                message_columns!(),
                " FROM messages WHERE conversation_id = $1 AND change_kind IS NULL \
                 ORDER BY seq DESC LIMIT 1"
            ))
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
            last.extend(row);
        }
        Ok(last)
    }

    async fn latest_messages(
        conn: &mut SqliteConnection,
        conversations: &[ConversationId],
        latest: Latest,
    ) -> StoreResult<Vec<Message>> {
        // One indexed read per conversation: SQLite is in process, so a query costs no
        // round trip, and a window over whole conversations would read every message.
        // Each reads its latest ascending (the subquery picks them, newest first).
        let mut left = latest.max_bytes;
        let mut messages = Vec::new();
        for id in conversations {
            let rows = sqlx::query_as::<_, MessageRow>(concat!(
                "SELECT * FROM (SELECT ",
                message_columns!(),
                " FROM messages WHERE conversation_id = $1 ORDER BY seq DESC LIMIT $2) \
                 ORDER BY seq"
            ))
            .bind(id)
            .bind(i64::from(latest.per_conversation))
            .fetch(&mut *conn);
            if !take_within(rows, &mut left, &mut messages).await? {
                break;
            }
        }
        Ok(messages)
    }
}

/// Stores one message inside the caller's write transaction.
async fn append_in(tx: &mut SqliteConnection, new: &NewMessage) -> StoreResult<Append> {
    let existing: Option<MessageRow> = sqlx::query_as(concat!(
        "SELECT ",
        message_columns!(),
        " FROM messages WHERE id = $1"
    ))
    .bind(new.id)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(row) = existing {
        return Ok(same_or_conflict(row.into(), new));
    }
    // One writer: a deleted account's erasure finds every message committed before the
    // deletion, and none is committed after it.
    if SqlStore::<Sqlite>::sender_deleted(tx, new.sender_id).await? {
        return Ok(Append::NotMember);
    }
    let seats: Vec<(UserId, String)> =
        sqlx::query_as("SELECT user_id, state FROM members WHERE conversation_id = $1")
            .bind(new.conversation_id)
            .fetch_all(&mut *tx)
            .await?;
    let accepts = match check_send(
        seats.iter().map(|(user, state)| (*user, state.as_str())),
        new.sender_id,
    ) {
        Ok(accepts) => accepts,
        Err(refused) => return Ok(refused.into()),
    };
    // Only a plain conversation takes a plain message (`sealing_refusal`): an encrypted
    // one's row is left as it was, and the message refused.
    let seq: Option<i64> = sqlx::query_scalar(
        "UPDATE conversations SET last_seq = last_seq + 1, updated_at = max(updated_at, $2) \
         WHERE id = $1 AND mls_epoch = 0 RETURNING last_seq",
    )
    .bind(new.conversation_id)
    .bind(new.created_at.as_millis())
    .fetch_optional(&mut *tx)
    .await?;
    let Some(seq) = seq else {
        return Ok(Append::Refused(Refusal::Encrypted));
    };
    sqlx::query(
        "INSERT INTO messages (id, conversation_id, seq, sender_id, body, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(new.id)
    .bind(new.conversation_id)
    .bind(seq)
    .bind(new.sender_id)
    .bind(&new.body)
    .bind(new.created_at.as_millis())
    .execute(&mut *tx)
    .await?;
    // Sending a message means the sender has read and stored everything up to it.
    sqlx::query(
        "UPDATE members SET read_seq = max(read_seq, $3), delivered_seq = max(delivered_seq, $3) \
         WHERE conversation_id = $1 AND user_id = $2",
    )
    .bind(new.conversation_id)
    .bind(new.sender_id)
    .bind(seq)
    .execute(&mut *tx)
    .await?;
    if accepts {
        SqliteStore::accept_by_sending(&mut *tx, new.conversation_id, new.sender_id).await?;
    }
    SqliteStore::mark_changed(&mut *tx, new.conversation_id).await?;
    Ok(Append::Stored {
        message: stored(new, seq),
        members: seats.into_iter().map(|(user, _)| user).collect(),
        accepted: accepts,
    })
}
