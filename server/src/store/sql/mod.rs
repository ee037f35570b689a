//! [`SqlStore`]: the one implementation of [`Store`], written once in SQL that both
//! databases understand and generic over a small [`Dialect`] for the few places where
//! Postgres and SQLite truly differ: how a write transaction begins and what it locks,
//! how a list of ids is bound, how a change is versioned for `/sync`, and the batch
//! append, which each database does its own fastest way.
//!
//! The protocol rules that live in the store (a message id stored once, seqs allocated
//! under the conversation's lock, refresh-token reuse ending the session, the owner
//! hand-off, watermarks that only move forward) are therefore written once. Locking
//! follows one order everywhere: the conversation's row first, then member rows, so
//! Postgres transactions cannot deadlock; SQLite's single writer serialises all writes.
//!
//! One file per domain trait of the store (`accounts.rs`, `conversations.rs`, …); this
//! one holds what they share: the dialect, transactions, and the driver bounds every
//! impl carries (`driver_bounds!`).

use std::future::Future;

use async_trait::async_trait;
use ferry_proto::{ConversationId, Message, UserId};
use macro_rules_attribute::apply;
use sqlx::{AssertSqlSafe, Database, FromRow, Pool, QueryBuilder};
use uuid::Uuid;

use super::rows::MessageRow;
use super::{Append, Latest, NewMessage, Store, StoreError, StoreResult};

/// Reads message rows one at a time into `out` while their bodies (and sealed bytes, as
/// base64) fit in `left` bytes;
/// false once one did not (the reading stops there, and the rest is never held).
pub(crate) async fn take_within<S>(
    mut rows: S,
    left: &mut usize,
    out: &mut Vec<Message>,
) -> StoreResult<bool>
where
    S: futures_util::Stream<Item = Result<MessageRow, sqlx::Error>> + Unpin + Send,
{
    use futures_util::TryStreamExt;
    while let Some(row) = rows.try_next().await? {
        // A sealed entry's bytes travel in base64: 4 characters for each 3 bytes.
        let sealed = row.sealed.as_ref().map_or(0, |s| s.len().div_ceil(3) * 4);
        let Some(rest) = left.checked_sub(row.body.len() + sealed) else {
            return Ok(false);
        };
        *left = rest;
        out.push(Message::from(row));
    }
    Ok(true)
}

/// A connection of the dialect's database.
pub(crate) type Conn<D> = <<D as Dialect>::Db as Database>::Connection;

/// What differs between the databases [`SqlStore`] runs on.
pub(crate) trait Dialect: Send + Sync + Sized + 'static {
    /// The sqlx driver.
    type Db: Database;

    /// Begins a transaction that writes (SQLite takes its write lock at once, so two
    /// writers never deadlock upgrading a read lock).
    const BEGIN_WRITE: &'static str;
    /// Begins a transaction whose reads all come from one snapshot.
    const BEGIN_READ: &'static str;
    /// The SQL function for the larger of two values.
    const GREATEST: &'static str;
    /// Runs in a writing transaction before [`Self::CHANGE_VERSION`] is read, if the
    /// database needs it (SQLite advances its `sync_clock`).
    const ADVANCE_CLOCK: Option<&'static str>;
    /// An expression for the `/sync` version of a change made by this transaction.
    const CHANGE_VERSION: &'static str;
    /// A query for the version below which every change is committed and visible to the
    /// current snapshot (see [`SyncCursor::after_page`]).
    const SYNC_HORIZON: &'static str;
    /// Users whose username (`$1`) or lowered display name starts with the lowered
    /// prefix, `$2` of them in username order: two index range scans joined, each
    /// reading only what matches (one scan with an `OR` filter walked every user).
    const SEARCH_USERS: &'static str;
    /// The `FROM` of a query for members (`m`) with their users' columns (`u`): each
    /// member's user found by its key, whatever the plan thinks of the tables' sizes.
    const MEMBERS_WITH_USERS: &'static str;

    /// A statement that takes a lock on a pair of users (`$1`, their direct key) until
    /// commit, so that a new direct conversation and a block between the two are one
    /// after the other (`None` when the single writer already serialises every write).
    const LOCK_PAIR: Option<&'static str>;

    /// The clause that locks the rows read from `alias` until commit ("" when the single
    /// writer already serialises every write).
    fn lock(alias: &str) -> String;

    /// Pushes the condition "`column` is one of `ids`" (ids of any one kind).
    fn push_in<T: Copy + Into<Uuid>>(query: &mut QueryBuilder<Self::Db>, column: &str, ids: &[T]);

    /// Whether [`Self::append_batch`] takes `new`; what it does not take is stored alone,
    /// in the batch's order ([`SqlStore::append_special`]). Plain messages by default.
    fn batches(new: &NewMessage) -> bool {
        new.is_plain()
    }

    /// Stores a batch of messages that [`Self::batches`] takes inside the caller's write
    /// transaction, as if each were appended in turn ([`Store::append_batch`]).
    fn append_batch<'a>(
        tx: &'a mut Conn<Self>,
        batch: &'a [NewMessage],
    ) -> impl Future<Output = StoreResult<Vec<Append>>> + Send + 'a;

    /// The newest message of each of `conversations` that is not a change (a reaction
    /// is no preview): the conversation list's previews. One backward probe of the
    /// (conversation, seq) index per conversation.
    fn last_messages<'a>(
        conn: &'a mut Conn<Self>,
        conversations: &'a [ConversationId],
    ) -> impl Future<Output = StoreResult<Vec<MessageRow>>> + Send + 'a;

    /// The `latest` messages of each of `conversations`, ascending by seq within each,
    /// read in the caller's transaction one row at a time, so that reading stops (and
    /// holds no more) once their bodies (sealed entries counted as base64) reach `latest.max_bytes`.
    fn latest_messages<'a>(
        conn: &'a mut Conn<Self>,
        conversations: &'a [ConversationId],
        latest: Latest,
    ) -> impl Future<Output = StoreResult<Vec<Message>>> + Send + 'a;
}

/// The store, on the database of dialect `D`.
pub(crate) struct SqlStore<D: Dialect> {
    /// Where write transactions run (SQLite: its single writing connection).
    pub(super) writer: Pool<D::Db>,
    /// Where reads run (Postgres: the same pool; SQLite: read-only WAL connections).
    pub(super) readers: Pool<D::Db>,
}

impl<D: Dialect> SqlStore<D> {
    /// A write transaction (see [`begun`]).
    pub(super) async fn write(&self) -> StoreResult<sqlx::Transaction<'static, D::Db>> {
        begun(&self.writer, D::BEGIN_WRITE).await
    }

    /// A read transaction (see [`begun`]).
    pub(super) async fn read(&self) -> StoreResult<sqlx::Transaction<'static, D::Db>> {
        begun(&self.readers, D::BEGIN_READ).await
    }
}

/// Begins a transaction that a caller dropped meanwhile cannot leave open. sqlx 0.9.0
/// counts a transaction only once `BEGIN` is answered, so a request future dropped in
/// between (its client hung up) gave a Postgres connection back to the pool inside a
/// transaction nothing would roll back, and every later query on it failed (sqlx issue
/// 4393; found by `scripts/probes.py`'s `cancelled_requests`). In a task of its own the
/// `BEGIN` always completes; a transaction dropped after that is rolled back.
async fn begun<DB: Database>(
    pool: &Pool<DB>,
    statement: &'static str,
) -> StoreResult<sqlx::Transaction<'static, DB>> {
    let pool = pool.clone();
    tokio::spawn(async move { pool.begin_with(statement).await })
        .await
        .map_err(|e| StoreError::Database(sqlx::Error::Protocol(format!("BEGIN failed: {e}"))))?
        .map_err(StoreError::from)
}

/// A row-locking `SELECT`: `sql` followed by the dialect's lock clause.
fn locked(sql: &str, lock: String) -> AssertSqlSafe<String> {
    // Only this module's SQL and the dialect's clause, never data, go into the text.
    AssertSqlSafe(format!("{sql} {lock}"))
}

/// The unique-key violation that a concurrent insert of the same key causes.
fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// `FromRow` for a row of dialect `D`'s database (shortens the bounds below).
pub(crate) trait Row<'r, D: Dialect>: FromRow<'r, <D::Db as Database>::Row> {}
impl<'r, D: Dialect, T: FromRow<'r, <D::Db as Database>::Row>> Row<'r, D> for T {}

/// Adds the driver capabilities that the SQL of these files uses, as a `where` clause, to
/// an impl over `SqlStore<D>` (`#[apply(driver_bounds!)]`): Rust does not carry one impl's
/// bounds over to another, and every impl here needs them. Both dialects meet them all.
macro_rules! driver_bounds {
    ($(#[$attr:meta])* impl<D: Dialect> SqlStore<D> $body:tt) => {
        driver_bounds!(@ [$(#[$attr])*] [] $body);
    };
    ($(#[$attr:meta])* impl<D: Dialect> $store:ident for SqlStore<D> $body:tt) => {
        driver_bounds!(@ [$(#[$attr])*] [$store for] $body);
    };
    (@ [$($attr:tt)*] [$($store:tt)*] { $($body:tt)* }) => {
        $($attr)*
        impl<D: Dialect> $($store)* SqlStore<D>
        where
            for<'c> &'c mut $crate::store::sql::Conn<D>: ::sqlx::Executor<'c, Database = D::Db>,
            <D::Db as ::sqlx::Database>::Arguments: ::sqlx::IntoArguments<D::Db>,
            for<'q> ::uuid::Uuid: ::sqlx::Encode<'q, D::Db> + ::sqlx::Type<D::Db>,
            // With these, a row of typed ids and plain columns (`(UserId, String, i64)`)
            // decodes as one of UUIDs does.
            for<'r> ::uuid::Uuid: ::sqlx::Decode<'r, D::Db>,
            for<'r> i64: ::sqlx::Decode<'r, D::Db>,
            for<'r> String: ::sqlx::Decode<'r, D::Db>,
            usize: ::sqlx::ColumnIndex<<D::Db as ::sqlx::Database>::Row>,
            // The `Option<Uuid>` bound below would otherwise be the only one Rust tries
            // for an optional typed id.
            for<'q> Option<::ferry_proto::UserId>: ::sqlx::Encode<'q, D::Db>,
            for<'q> Option<::ferry_proto::ConversationId>: ::sqlx::Encode<'q, D::Db>,
            for<'q> Option<::ferry_proto::MessageId>: ::sqlx::Encode<'q, D::Db>,
            for<'q> Option<::ferry_proto::PictureId>: ::sqlx::Encode<'q, D::Db>,
            for<'r> (::ferry_proto::UserId, Option<::ferry_proto::PictureId>): $crate::store::sql::Row<'r, D>,
            for<'q> i64: ::sqlx::Encode<'q, D::Db> + ::sqlx::Type<D::Db>,
            for<'q> bool: ::sqlx::Encode<'q, D::Db> + ::sqlx::Type<D::Db>,
            for<'q> String: ::sqlx::Encode<'q, D::Db> + ::sqlx::Type<D::Db>,
            for<'q> Vec<u8>: ::sqlx::Encode<'q, D::Db> + ::sqlx::Type<D::Db>,
            for<'q> Option<String>: ::sqlx::Encode<'q, D::Db>,
            for<'q> Option<::uuid::Uuid>: ::sqlx::Encode<'q, D::Db>,
            for<'q> Option<i64>: ::sqlx::Encode<'q, D::Db>,
            for<'q> Option<Vec<u8>>: ::sqlx::Encode<'q, D::Db>,
            for<'r> (i64,): $crate::store::sql::Row<'r, D>,
            for<'r> (String,): $crate::store::sql::Row<'r, D>,
            for<'r> (::uuid::Uuid,): $crate::store::sql::Row<'r, D>,
            for<'r> (i64, i64): $crate::store::sql::Row<'r, D>,
            for<'r> (i64, i64, i64): $crate::store::sql::Row<'r, D>,
            for<'r> (i64, i64, i64, i64): $crate::store::sql::Row<'r, D>,
            for<'r> (i64, i64, String): $crate::store::sql::Row<'r, D>,
            for<'r> (String, String): $crate::store::sql::Row<'r, D>,
            for<'r> (::uuid::Uuid, ::uuid::Uuid): $crate::store::sql::Row<'r, D>,
            for<'r> (::uuid::Uuid, String): $crate::store::sql::Row<'r, D>,
            for<'r> (::uuid::Uuid, String, i64): $crate::store::sql::Row<'r, D>,
            for<'r> $crate::store::rows::TargetRow: $crate::store::sql::Row<'r, D>,
            for<'r> $crate::store::rows::UserRow: $crate::store::sql::Row<'r, D>,
            for<'r> $crate::store::rows::LoginRow: $crate::store::sql::Row<'r, D>,
            for<'r> $crate::store::rows::LoginByRow: $crate::store::sql::Row<'r, D>,
            for<'r> $crate::store::rows::AccountRow: $crate::store::sql::Row<'r, D>,
            for<'r> $crate::store::rows::SessionRow: $crate::store::sql::Row<'r, D>,
            for<'r> $crate::store::Leftover: $crate::store::sql::Row<'r, D>,
            for<'r> $crate::store::rows::RefreshRow: $crate::store::sql::Row<'r, D>,
            for<'r> $crate::store::rows::MessageRow: $crate::store::sql::Row<'r, D>,
            for<'r> $crate::store::rows::ConversationRow: $crate::store::sql::Row<'r, D>,
            for<'r> $crate::store::rows::MemberRow: $crate::store::sql::Row<'r, D>,
            for<'r> $crate::store::rows::ContactRow: $crate::store::sql::Row<'r, D>,
            for<'r> $crate::store::rows::UploadRow: $crate::store::sql::Row<'r, D>,
            for<'r> $crate::store::safety::Block: $crate::store::sql::Row<'r, D>,
            for<'r> $crate::store::DigestDue: $crate::store::sql::Row<'r, D>,
            for<'r> $crate::store::MissedMessage: $crate::store::sql::Row<'r, D>,
            for<'r> $crate::store::sql::admin::AccountViewRow: $crate::store::sql::Row<'r, D>,
            for<'r> $crate::store::sql::admin::ReportRow: $crate::store::sql::Row<'r, D>,
            for<'r> $crate::store::sql::admin::AuditRow: $crate::store::sql::Row<'r, D>,
            for<'r> $crate::store::OwnFile: $crate::store::sql::Row<'r, D>,
            for<'r> $crate::store::sql::mls::KeyPackageRow: $crate::store::sql::Row<'r, D>,
            for<'r> $crate::store::sql::mls::CommitRow: $crate::store::sql::Row<'r, D>,
            for<'r> $crate::store::sql::mls::GroupRow: $crate::store::sql::Row<'r, D>,
            for<'r> $crate::store::sql::mls::WelcomeRow: $crate::store::sql::Row<'r, D>,
            for<'r> $crate::store::sql::notes::NoteRow: $crate::store::sql::Row<'r, D>,
            for<'q> ::ferry_proto::ReportId: ::sqlx::Encode<'q, D::Db> + ::sqlx::Type<D::Db>,
        {
            $($body)*
        }
    };
}

mod accounts;
pub(crate) mod admin;
mod conversations;
mod digest;
mod export;
mod files;
mod mail_tokens;
mod messages;
pub(crate) mod mls;
pub(crate) mod notes;
mod pictures;
mod presence;
mod retention;
mod safety;

#[apply(driver_bounds!)]
impl<D: Dialect> SqlStore<D> {
    /// Accepts `user`'s message request in a conversation because they sent in it, in the
    /// send's transaction.
    pub(crate) async fn accept_by_sending(
        conn: &mut Conn<D>,
        conversation_id: ConversationId,
        user: UserId,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE members SET state = 'accepted' \
             WHERE conversation_id = $1 AND user_id = $2 AND state = 'request'",
        )
        .bind(conversation_id)
        .bind(user)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    /// Stamps the conversation with this transaction's `/sync` version.
    pub(crate) async fn mark_changed(
        conn: &mut Conn<D>,
        conversation_id: ConversationId,
    ) -> StoreResult<()> {
        Self::advance_clock(conn).await?;
        sqlx::query(AssertSqlSafe(format!(
            "UPDATE conversations SET change_version = {} WHERE id = $1",
            D::CHANGE_VERSION
        )))
        .bind(conversation_id)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    /// Stamps every conversation `user` is in with this transaction's `/sync` version:
    /// their profile changed, and a device catching up finds it in those conversations'
    /// members.
    pub(crate) async fn mark_shown_in(conn: &mut Conn<D>, user: UserId) -> StoreResult<()> {
        Self::advance_clock(conn).await?;
        // Their rows are locked in id order first, as every multi-row writer does (a send
        // batch among them): an UPDATE locks rows in the order it scans them, and two
        // orders can deadlock on Postgres.
        let mut lock = QueryBuilder::new(
            "SELECT c.id FROM conversations c \
             WHERE c.id IN (SELECT conversation_id FROM members WHERE user_id = ",
        );
        lock.push_bind(user)
            .push(") ORDER BY c.id ")
            .push(D::lock("c"));
        lock.build().execute(&mut *conn).await?;
        sqlx::query(AssertSqlSafe(format!(
            "UPDATE conversations SET change_version = {} \
             WHERE id IN (SELECT conversation_id FROM members WHERE user_id = $1)",
            D::CHANGE_VERSION
        )))
        .bind(user)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    pub(super) async fn advance_clock(conn: &mut Conn<D>) -> StoreResult<()> {
        if let Some(advance) = D::ADVANCE_CLOCK {
            sqlx::query(advance).execute(&mut *conn).await?;
        }
        Ok(())
    }
}

#[apply(driver_bounds!)]
#[async_trait]
impl<D: Dialect> Store for SqlStore<D> {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.readers).await?;
        Ok(())
    }

    async fn close(&self) {
        self.readers.close().await;
        self.writer.close().await;
    }
}
