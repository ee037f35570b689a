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

use std::collections::HashSet;
use std::future::Future;

use async_trait::async_trait;
use ferry_proto::{
    ChangeKind, Conversation, MAX_REACTIONS_PER_MESSAGE, MAX_REACTIONS_PER_USER, MemberState,
    Message, Timestamp, User,
};
use sqlx::{
    AssertSqlSafe, Database, Encode, Executor, FromRow, IntoArguments, Pool, QueryBuilder, Type,
};
use uuid::Uuid;

use super::rows::{
    ContactRow, ConversationRow, LoginRow, MemberRow, MessageRow, RefreshRow, TargetRow, UploadRow,
    UserRow, assemble, member_state,
};
use super::{
    ActivityCursor, Append, Contact, Latest, Mark, NewMessage, NewReport, NewUser, RefreshGrant,
    Refusal, Rotation, Seat, Store, StoreError, StoreResult, SyncBatch, SyncCursor, Watermarks,
    advanced, check_send, direct_key, same_or_conflict, stored,
};

/// How long after a refresh token's first use it may come back without counting as a
/// stolen copy, provided the token it was exchanged for was never presented: the answer
/// to a refresh can be lost on a flaky network, and the client then retries with the
/// token it still holds (reuse detection would otherwise sign it out).
const REFRESH_RETRY_GRACE_MS: i64 = 30_000;

/// Reads message rows one at a time into `out` while their bodies fit in `left` bytes;
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
        let Some(rest) = left.checked_sub(row.body.len()) else {
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

    /// A statement that takes a lock on a pair of users (`$1`, their direct key) until
    /// commit, so that a new direct conversation and a block between the two are one
    /// after the other (`None` when the single writer already serialises every write).
    const LOCK_PAIR: Option<&'static str>;

    /// The clause that locks the rows read from `alias` until commit ("" when the single
    /// writer already serialises every write).
    fn lock(alias: &str) -> String;

    /// Pushes the condition "`column` is one of `ids`".
    fn push_in(query: &mut QueryBuilder<Self::Db>, column: &str, ids: &[Uuid]);

    /// Stores a batch inside the caller's write transaction, as if each message were
    /// appended in turn ([`Store::append_batch`]).
    fn append_batch<'a>(
        tx: &'a mut Conn<Self>,
        batch: &'a [NewMessage],
    ) -> impl Future<Output = StoreResult<Vec<Append>>> + Send + 'a;

    /// The `latest` messages of each of `conversations`, ascending by seq within each,
    /// read in the caller's transaction one row at a time, so that reading stops (and
    /// holds no more) once their bodies reach `latest.max_bytes`.
    fn latest_messages<'a>(
        conn: &'a mut Conn<Self>,
        conversations: &'a [Uuid],
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

/// A row-locking `SELECT`: `sql` followed by the dialect's lock clause.
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

fn locked(sql: &str, lock: String) -> AssertSqlSafe<String> {
    // Only this module's SQL and the dialect's clause, never data, go into the text.
    AssertSqlSafe(format!("{sql} {lock}"))
}

/// The unique-key violation that a concurrent insert of the same key causes.
fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

impl<D: Dialect> SqlStore<D>
where
    for<'c> &'c mut Conn<D>: Executor<'c, Database = D::Db>,
    <D::Db as Database>::Arguments: IntoArguments<D::Db>,
    for<'q> Uuid: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> i64: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> String: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<String>: Encode<'q, D::Db>,
    for<'q> Option<Uuid>: Encode<'q, D::Db>,
    for<'q> Vec<u8>: Encode<'q, D::Db> + Type<D::Db>,
    for<'r> (i64,): FromRow<'r, <D::Db as Database>::Row>,
    for<'r> (Uuid,): FromRow<'r, <D::Db as Database>::Row>,
    for<'r> (i64, i64): FromRow<'r, <D::Db as Database>::Row>,
    for<'r> (String, String): FromRow<'r, <D::Db as Database>::Row>,
    for<'r> (i64, i64, i64, i64): FromRow<'r, <D::Db as Database>::Row>,
    for<'r> (Uuid, String, i64): FromRow<'r, <D::Db as Database>::Row>,
    for<'r> (Uuid, String): FromRow<'r, <D::Db as Database>::Row>,
    for<'r> (Uuid, Uuid): FromRow<'r, <D::Db as Database>::Row>,
    for<'r> (i64, i64, String): FromRow<'r, <D::Db as Database>::Row>,
    for<'r> TargetRow: FromRow<'r, <D::Db as Database>::Row>,
    for<'r> UserRow: FromRow<'r, <D::Db as Database>::Row>,
    for<'r> LoginRow: FromRow<'r, <D::Db as Database>::Row>,
    for<'r> RefreshRow: FromRow<'r, <D::Db as Database>::Row>,
    for<'r> MessageRow: FromRow<'r, <D::Db as Database>::Row>,
    for<'r> ConversationRow: FromRow<'r, <D::Db as Database>::Row>,
    for<'r> MemberRow: FromRow<'r, <D::Db as Database>::Row>,
    for<'r> ContactRow: FromRow<'r, <D::Db as Database>::Row>,
    for<'q> Option<i64>: Encode<'q, D::Db>,
    for<'r> (String,): FromRow<'r, <D::Db as Database>::Row>,
    for<'r> UploadRow: FromRow<'r, <D::Db as Database>::Row>,
{
    /// Accepts `user`'s message request in a conversation because they sent in it, in the
    /// send's transaction.
    pub(crate) async fn accept_by_sending(
        conn: &mut Conn<D>,
        conversation_id: Uuid,
        user: Uuid,
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
    pub(crate) async fn mark_changed(conn: &mut Conn<D>, conversation_id: Uuid) -> StoreResult<()> {
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

    async fn advance_clock(conn: &mut Conn<D>) -> StoreResult<()> {
        if let Some(advance) = D::ADVANCE_CLOCK {
            sqlx::query(advance).execute(&mut *conn).await?;
        }
        Ok(())
    }

    /// Loads members and last messages of `convs` and assembles what `viewer` sees.
    async fn load(
        conn: &mut Conn<D>,
        viewer: Uuid,
        convs: Vec<ConversationRow>,
    ) -> StoreResult<Vec<Conversation>> {
        if convs.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<Uuid> = convs.iter().map(|c| c.id).collect();
        let mut members = QueryBuilder::new(concat!(
            "SELECT ",
            member_columns!(),
            " FROM members m JOIN users u ON u.id = m.user_id WHERE "
        ));
        D::push_in(&mut members, "m.conversation_id", &ids);
        members.push(" ORDER BY m.joined_at, u.username");
        let members: Vec<MemberRow> = members.build_query_as().fetch_all(&mut *conn).await?;
        // The newest message, changes skipped: a reaction is no preview.
        let mut last = QueryBuilder::new(concat!(
            "SELECT ",
            message_columns!(m),
            " FROM messages m JOIN conversations c ON c.id = m.conversation_id \
              AND m.seq = (SELECT max(x.seq) FROM messages x \
                           WHERE x.conversation_id = c.id AND x.change_kind IS NULL) \
              WHERE "
        ));
        D::push_in(&mut last, "c.id", &ids);
        let last: Vec<MessageRow> = last.build_query_as().fetch_all(&mut *conn).await?;
        // Whoever the viewer blocked or was blocked by shares no watermarks with them,
        // in groups too.
        let apart: Vec<(Uuid, Uuid)> = sqlx::query_as(
            "SELECT blocker_id, blocked_id FROM blocks WHERE blocker_id = $1 OR blocked_id = $1",
        )
        .bind(viewer)
        .fetch_all(&mut *conn)
        .await?;
        let apart: HashSet<Uuid> = apart
            .into_iter()
            .map(|(a, b)| if a == viewer { b } else { a })
            .collect();
        assemble(viewer, convs, members, last, &apart)
    }

    /// Locks a user's row until commit.
    async fn lock_user(conn: &mut Conn<D>, user: Uuid) -> StoreResult<()> {
        sqlx::query(locked(
            "SELECT u.id FROM users u WHERE u.id = $1",
            D::lock("u"),
        ))
        .bind(user)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    /// How many cluster nodes hold a socket of `user`.
    async fn nodes_holding(conn: &mut Conn<D>, user: Uuid) -> StoreResult<i64> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM node_users WHERE user_id = $1")
                .bind(user)
                .fetch_one(&mut *conn)
                .await?,
        )
    }

    async fn users_exist(conn: &mut Conn<D>, users: &[Uuid]) -> StoreResult<bool> {
        let mut wanted = users.to_vec();
        wanted.sort_unstable();
        wanted.dedup();
        if wanted.is_empty() {
            return Ok(true);
        }
        let mut count = QueryBuilder::new("SELECT count(*) FROM users WHERE ");
        D::push_in(&mut count, "id", &wanted);
        let (found,): (i64,) = count.build_query_as().fetch_one(&mut *conn).await?;
        Ok(found == wanted.len() as i64)
    }

    /// Takes the lock of the pair `key` (a direct key) until commit, where the dialect
    /// needs one.
    async fn lock_pair(conn: &mut Conn<D>, key: &str) -> StoreResult<()> {
        if let Some(lock) = D::LOCK_PAIR {
            sqlx::query(lock)
                .bind(key.to_owned())
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }

    /// Whether `user` blocked any of `others` or was blocked by one.
    async fn any_block(conn: &mut Conn<D>, user: Uuid, others: &[Uuid]) -> StoreResult<bool> {
        if others.is_empty() {
            return Ok(false);
        }
        let mut query = QueryBuilder::new("SELECT count(*) FROM blocks WHERE (blocker_id = ");
        query.push_bind(user).push(" AND ");
        D::push_in(&mut query, "blocked_id", others);
        query
            .push(") OR (blocked_id = ")
            .push_bind(user)
            .push(" AND ");
        D::push_in(&mut query, "blocker_id", others);
        query.push(")");
        let (found,): (i64,) = query.build_query_as().fetch_one(&mut *conn).await?;
        Ok(found > 0)
    }

    /// Inserts members with `role`. With an `inviter`, each new member is accepted if
    /// they and the inviter both accepted a conversation they share (they know each
    /// other), else it is a message request to them; without one they are accepted.
    async fn insert_members(
        conn: &mut Conn<D>,
        conversation_id: Uuid,
        users: &[Uuid],
        role: &str,
        inviter: Option<Uuid>,
        now: Timestamp,
    ) -> StoreResult<()> {
        if users.is_empty() {
            return Ok(());
        }
        // New members start with nothing unread: watermarks at the current last seq.
        let mut insert = QueryBuilder::new(
            "INSERT INTO members (conversation_id, user_id, role, read_seq, delivered_seq, joined_at, state) \
             SELECT c.id, u.id, ",
        );
        insert
            .push_bind(role.to_owned())
            .push(", c.last_seq, c.last_seq, ")
            .push_bind(now.as_millis())
            .push(", ");
        match inviter {
            None => {
                insert.push("'accepted'");
            }
            Some(inviter) => {
                insert
                    .push(
                        "CASE WHEN EXISTS (SELECT 1 FROM members a JOIN members b \
                         ON b.conversation_id = a.conversation_id \
                         WHERE a.user_id = u.id AND a.state = 'accepted' \
                         AND b.state = 'accepted' AND b.user_id = ",
                    )
                    .push_bind(inviter)
                    .push(") THEN 'accepted' ELSE 'request' END");
            }
        }
        insert
            .push(" FROM conversations c, users u WHERE c.id = ")
            .push_bind(conversation_id)
            .push(" AND ");
        D::push_in(&mut insert, "u.id", users);
        insert.push(" ON CONFLICT (conversation_id, user_id) DO NOTHING");
        insert.build().execute(&mut *conn).await?;
        Ok(())
    }

    /// The members of a conversation with their states and read watermarks.
    async fn seats_in(conn: &mut Conn<D>, conversation_id: Uuid) -> StoreResult<Vec<Seat>> {
        let rows: Vec<(Uuid, String, i64)> = sqlx::query_as(
            "SELECT user_id, state, read_seq FROM members WHERE conversation_id = $1",
        )
        .bind(conversation_id)
        .fetch_all(&mut *conn)
        .await?;
        rows.into_iter()
            .map(|(user, state, read_seq)| {
                Ok(Seat {
                    user,
                    state: member_state(&state)?,
                    read_seq,
                })
            })
            .collect()
    }

    /// Sets `user`'s state in the direct conversation between `user` and `other` where it
    /// is `from`: the conversation, if that changed it.
    async fn set_direct_state(
        conn: &mut Conn<D>,
        user: Uuid,
        other: Uuid,
        from: MemberState,
        to: MemberState,
    ) -> StoreResult<Option<Uuid>> {
        let id: Option<Uuid> = sqlx::query_scalar(locked(
            "SELECT c.id FROM conversations c WHERE c.direct_key = $1",
            D::lock("c"),
        ))
        .bind(direct_key(user, other))
        .fetch_optional(&mut *conn)
        .await?;
        let Some(id) = id else {
            return Ok(None);
        };
        let changed: Option<Uuid> = sqlx::query_scalar(
            "UPDATE members SET state = $4 WHERE conversation_id = $1 AND user_id = $2 AND state = $3 \
             RETURNING user_id",
        )
        .bind(id)
        .bind(user)
        .bind(from.as_str().to_owned())
        .bind(to.as_str().to_owned())
        .fetch_optional(&mut *conn)
        .await?;
        if changed.is_none() {
            return Ok(None);
        }
        Self::mark_changed(conn, id).await?;
        Ok(Some(id))
    }

    /// Stores a batch that holds replies or changes. Order matters only within a
    /// conversation, so the conversations without a reply or change keep the dialect's
    /// batch path, all in one call; in the others, runs of plain messages go through
    /// that path and each reply or change through [`Self::append_special`], in the
    /// batch's order (a change may name a message stored just before it). An id used in
    /// two conversations is a conflict whichever is stored first.
    async fn append_mixed(conn: &mut Conn<D>, batch: &[NewMessage]) -> StoreResult<Vec<Append>> {
        // Every conversation of the batch is locked first, in id order, in one statement
        // (as any multi-row writer must, so that Postgres transactions cannot deadlock);
        // the calls below then find their locks held.
        let mut conversations: Vec<Uuid> = batch.iter().map(|m| m.conversation_id).collect();
        conversations.sort_unstable();
        conversations.dedup();
        let mut lock = QueryBuilder::new("SELECT c.id FROM conversations c WHERE ");
        D::push_in(&mut lock, "c.id", &conversations);
        lock.push(" ORDER BY c.id ").push(D::lock("c"));
        lock.build().execute(&mut *conn).await?;

        let careful: std::collections::HashSet<Uuid> = batch
            .iter()
            .filter(|m| !m.is_plain())
            .map(|m| m.conversation_id)
            .collect();
        let (slow, fast): (Vec<usize>, Vec<usize>) =
            (0..batch.len()).partition(|&i| careful.contains(&batch[i].conversation_id));
        let mut appends: Vec<Option<Append>> = vec![None; batch.len()];
        if !fast.is_empty() {
            let plain: Vec<NewMessage> = fast.iter().map(|&i| batch[i].clone()).collect();
            for (i, append) in fast.iter().zip(D::append_batch(&mut *conn, &plain).await?) {
                appends[*i] = Some(append);
            }
        }
        let mut rest = &slow[..];
        while let Some(&first) = rest.first() {
            if batch[first].is_plain() {
                let run = rest.iter().take_while(|&&i| batch[i].is_plain()).count();
                let plain: Vec<NewMessage> =
                    rest[..run].iter().map(|&i| batch[i].clone()).collect();
                for (i, append) in rest[..run]
                    .iter()
                    .zip(D::append_batch(&mut *conn, &plain).await?)
                {
                    appends[*i] = Some(append);
                }
                rest = &rest[run..];
            } else {
                appends[first] = Some(Self::append_special(&mut *conn, &batch[first]).await?);
                rest = &rest[1..];
            }
        }
        Ok(appends
            .into_iter()
            .map(|a| a.expect("every message of the batch was stored or refused"))
            .collect())
    }

    /// Stores one reply or change, checking the rules about the message it names and
    /// applying what a change does to it, all under the conversation's lock (held by
    /// the caller): concurrent edits resolve in seq order, the last one wins.
    async fn append_special(conn: &mut Conn<D>, new: &NewMessage) -> StoreResult<Append> {
        if let Some(existing) = Self::message_by_id(conn, new.id).await? {
            return Ok(same_or_conflict(existing, new));
        }
        let place: Option<(String, String)> = sqlx::query_as(
            "SELECT m.role, c.kind FROM members m JOIN conversations c ON c.id = m.conversation_id \
             WHERE m.conversation_id = $1 AND m.user_id = $2",
        )
        .bind(new.conversation_id)
        .bind(new.sender_id)
        .fetch_optional(&mut *conn)
        .await?;
        let Some((role, kind)) = place else {
            return Ok(Append::NotMember);
        };
        let seats = Self::seats_in(conn, new.conversation_id).await?;
        let accepts = match check_send(
            seats.iter().map(|s| (s.user, s.state.as_str())),
            new.sender_id,
        ) {
            Ok(accepts) => accepts,
            Err(refused) => return Ok(refused.into()),
        };
        if let Some(parent) = new.reply_to {
            match Self::target(conn, new.conversation_id, parent).await? {
                None => return Ok(Append::Refused(Refusal::NoSuchMessage)),
                Some(t) if t.change_kind.is_some() => {
                    return Ok(Append::Refused(Refusal::NotAMessage));
                }
                Some(_) => {}
            }
        }
        let attachments = match Self::uploads_to_attach(conn, new).await? {
            Ok(attachments) => attachments,
            Err(refusal) => return Ok(Append::Refused(refusal)),
        };
        if let Some(change) = &new.change {
            let Some(target) = Self::target(conn, new.conversation_id, change.target).await? else {
                return Ok(Append::Refused(Refusal::NoSuchMessage));
            };
            let author = target.sender_id == new.sender_id;
            let group_owner = role == "owner" && kind == "group";
            let refusal = match change.kind {
                _ if target.change_kind.is_some() => Some(Refusal::NotAMessage),
                ChangeKind::Edit if !author => Some(Refusal::NotAllowed),
                ChangeKind::Delete if !author && !group_owner => Some(Refusal::NotAllowed),
                ChangeKind::Edit | ChangeKind::React | ChangeKind::Unreact
                    if target.deleted_at.is_some() =>
                {
                    Some(Refusal::Deleted)
                }
                ChangeKind::Edit
                    if new.edit_window_ms.is_some_and(|window| {
                        new.created_at.as_millis() - target.created_at > window
                    }) =>
                {
                    Some(Refusal::TooLate)
                }
                ChangeKind::React => Self::reaction_room(conn, new).await?,
                _ => None,
            };
            if let Some(refusal) = refusal {
                return Ok(Append::Refused(refusal));
            }
        }
        // A reply is a message: it moves the conversation's activity; a change does not
        // (a reaction does not bring a conversation to the top of the list).
        let activity = if new.change.is_none() {
            new.created_at.as_millis()
        } else {
            i64::MIN
        };
        // The seq, the activity and the `/sync` version in one statement.
        Self::advance_clock(conn).await?;
        let seq: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
            "UPDATE conversations SET last_seq = last_seq + 1, updated_at = {}(updated_at, $2), \
             change_version = {} WHERE id = $1 RETURNING last_seq",
            D::GREATEST,
            D::CHANGE_VERSION
        )))
        .bind(new.conversation_id)
        .bind(activity)
        .fetch_one(&mut *conn)
        .await?;
        let change = new.change.as_ref();
        let attachments_json = (!attachments.is_empty())
            .then(|| serde_json::to_string(&attachments).expect("attachments serialize"));
        sqlx::query(
            "INSERT INTO messages (id, conversation_id, seq, sender_id, body, created_at, \
             reply_to, change_kind, target, emoji, attachments) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(new.id)
        .bind(new.conversation_id)
        .bind(seq)
        .bind(new.sender_id)
        .bind(new.body.clone())
        .bind(new.created_at.as_millis())
        .bind(new.reply_to)
        .bind(change.map(|c| c.kind.as_str().to_owned()))
        .bind(change.map(|c| c.target))
        .bind(change.and_then(|c| c.emoji.clone()))
        .bind(attachments_json)
        .execute(&mut *conn)
        .await?;
        if !new.attachments.is_empty() {
            let mut attach = QueryBuilder::new("UPDATE uploads SET conversation_id = ");
            attach
                .push_bind(new.conversation_id)
                .push(", message_id = ")
                .push_bind(new.id)
                .push(" WHERE ");
            D::push_in(&mut attach, "id", &new.attachments);
            attach.build().execute(&mut *conn).await?;
        }
        if let Some(change) = change {
            Self::apply_change(conn, new, change, seq).await?;
        }
        // Sending anything means the sender has read and stored everything up to it.
        sqlx::query(AssertSqlSafe(format!(
            "UPDATE members SET read_seq = {g}(read_seq, $3), delivered_seq = {g}(delivered_seq, $3) \
             WHERE conversation_id = $1 AND user_id = $2",
            g = D::GREATEST
        )))
        .bind(new.conversation_id)
        .bind(new.sender_id)
        .bind(seq)
        .execute(&mut *conn)
        .await?;
        let mut message = stored(new, seq);
        message.attachments = attachments;
        if accepts {
            Self::accept_by_sending(conn, new.conversation_id, new.sender_id).await?;
        }
        Ok(Append::Stored {
            message,
            members: seats.iter().map(|s| s.user).collect(),
            accepted: accepts,
        })
    }

    /// The uploads a message names, as attachments in its order, if each is a stored
    /// upload of the sender's that no message carries yet.
    async fn uploads_to_attach(
        conn: &mut Conn<D>,
        new: &NewMessage,
    ) -> StoreResult<Result<Vec<ferry_proto::Attachment>, Refusal>> {
        if new.attachments.is_empty() {
            return Ok(Ok(Vec::new()));
        }
        let mut query = QueryBuilder::new(concat!(
            "SELECT ",
            upload_columns!(),
            " FROM uploads WHERE "
        ));
        D::push_in(&mut query, "id", &new.attachments);
        // Locked until the send commits: a second send naming the same upload (from
        // another conversation, so under another lock) waits, then finds it sent.
        query.push(" ");
        query.push(D::lock("uploads"));
        let rows: Vec<UploadRow> = query.build_query_as().fetch_all(&mut *conn).await?;
        let attachments: Option<Vec<ferry_proto::Attachment>> = new
            .attachments
            .iter()
            .map(|id| {
                rows.iter()
                    .find(|r| r.id == *id && r.owner_id == new.sender_id && r.message_id.is_none())
                    .and_then(UploadRow::attachment)
            })
            .collect();
        Ok(attachments.ok_or(Refusal::NoSuchUpload))
    }

    /// The message `id` of `conversation`, as a change or a reply sees it.
    async fn target(
        conn: &mut Conn<D>,
        conversation: Uuid,
        id: Uuid,
    ) -> StoreResult<Option<TargetRow>> {
        Ok(sqlx::query_as(
            "SELECT sender_id, change_kind, created_at, deleted_at FROM messages \
             WHERE id = $1 AND conversation_id = $2",
        )
        .bind(id)
        .bind(conversation)
        .fetch_optional(&mut *conn)
        .await?)
    }

    /// Whether one more reaction fits on the message: an emoji the sender already put
    /// there always does (it changes nothing); otherwise the caps on distinct emoji per
    /// message and per sender apply.
    async fn reaction_room(conn: &mut Conn<D>, new: &NewMessage) -> StoreResult<Option<Refusal>> {
        let Some(change) = &new.change else {
            return Ok(None);
        };
        let (on_message, by_sender, emoji_there, mine): (i64, i64, i64, i64) = sqlx::query_as(
            "SELECT count(DISTINCT emoji), count(DISTINCT CASE WHEN user_id = $2 THEN emoji END), \
             count(CASE WHEN emoji = $3 THEN 1 END), \
             count(CASE WHEN emoji = $3 AND user_id = $2 THEN 1 END) \
             FROM reactions WHERE message_id = $1",
        )
        .bind(change.target)
        .bind(new.sender_id)
        .bind(change.emoji.clone().unwrap_or_default())
        .fetch_one(&mut *conn)
        .await?;
        let full = mine == 0
            && ((emoji_there == 0 && on_message >= MAX_REACTIONS_PER_MESSAGE as i64)
                || by_sender >= MAX_REACTIONS_PER_USER as i64);
        Ok(full.then_some(Refusal::TooManyReactions))
    }

    /// What a stored change does to the message it names.
    async fn apply_change(
        conn: &mut Conn<D>,
        new: &NewMessage,
        change: &ferry_proto::Change,
        seq: i64,
    ) -> StoreResult<()> {
        let emoji = change.emoji.clone().unwrap_or_default();
        match change.kind {
            ChangeKind::Edit => {
                sqlx::query(
                    "UPDATE messages SET body = $2, edited_at = $3, edit_seq = $4 WHERE id = $1",
                )
                .bind(change.target)
                .bind(new.body.clone())
                .bind(new.created_at.as_millis())
                .bind(seq)
                .execute(&mut *conn)
                .await?;
            }
            ChangeKind::Delete => {
                // The text goes from the server: the message's, and every edit's.
                sqlx::query(
                    "UPDATE messages SET body = '', attachments = NULL, \
                     deleted_at = COALESCE(deleted_at, $2) WHERE id = $1",
                )
                .bind(change.target)
                .bind(new.created_at.as_millis())
                .execute(&mut *conn)
                .await?;
                // Its files go too: the blobs once nothing else names them (the sweeper).
                let files: Vec<String> = sqlx::query_scalar(
                    "DELETE FROM uploads WHERE message_id = $1 RETURNING sha256",
                )
                .bind(change.target)
                .fetch_all(&mut *conn)
                .await?;
                for sha256 in files {
                    super::uploads::orphan::<D>(&mut *conn, &sha256, new.created_at.as_millis())
                        .await?;
                }
                sqlx::query(
                    "UPDATE messages SET body = '' WHERE target = $1 AND change_kind = 'edit'",
                )
                .bind(change.target)
                .execute(&mut *conn)
                .await?;
                sqlx::query("DELETE FROM reactions WHERE message_id = $1")
                    .bind(change.target)
                    .execute(&mut *conn)
                    .await?;
            }
            ChangeKind::React => {
                sqlx::query(
                    "INSERT INTO reactions (message_id, user_id, emoji) VALUES ($1, $2, $3) \
                     ON CONFLICT DO NOTHING",
                )
                .bind(change.target)
                .bind(new.sender_id)
                .bind(emoji)
                .execute(&mut *conn)
                .await?;
            }
            ChangeKind::Unreact => {
                sqlx::query(
                    "DELETE FROM reactions WHERE message_id = $1 AND user_id = $2 AND emoji = $3",
                )
                .bind(change.target)
                .bind(new.sender_id)
                .bind(emoji)
                .execute(&mut *conn)
                .await?;
            }
        }
        Ok(())
    }

    async fn message_by_id(conn: &mut Conn<D>, id: Uuid) -> StoreResult<Option<Message>> {
        let row: Option<MessageRow> = sqlx::query_as(concat!(
            "SELECT ",
            message_columns!(),
            " FROM messages WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
        Ok(row.map(Message::from))
    }
}

// The bounds of the inherent impl above, again: Rust does not carry an impl's `where`
// over to another impl, and both need every driver capability the SQL uses.
#[async_trait]
impl<D: Dialect> Store for SqlStore<D>
where
    for<'c> &'c mut Conn<D>: Executor<'c, Database = D::Db>,
    <D::Db as Database>::Arguments: IntoArguments<D::Db>,
    for<'q> Uuid: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> i64: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> String: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<String>: Encode<'q, D::Db>,
    for<'q> Option<Uuid>: Encode<'q, D::Db>,
    for<'q> Vec<u8>: Encode<'q, D::Db> + Type<D::Db>,
    for<'r> (i64,): FromRow<'r, <D::Db as Database>::Row>,
    for<'r> (Uuid,): FromRow<'r, <D::Db as Database>::Row>,
    for<'r> (i64, i64, i64): FromRow<'r, <D::Db as Database>::Row>,
    for<'r> (i64, i64): FromRow<'r, <D::Db as Database>::Row>,
    for<'r> (String, String): FromRow<'r, <D::Db as Database>::Row>,
    for<'r> (i64, i64, i64, i64): FromRow<'r, <D::Db as Database>::Row>,
    for<'r> (Uuid, String, i64): FromRow<'r, <D::Db as Database>::Row>,
    for<'r> (Uuid, String): FromRow<'r, <D::Db as Database>::Row>,
    for<'r> (Uuid, Uuid): FromRow<'r, <D::Db as Database>::Row>,
    for<'r> (i64, i64, String): FromRow<'r, <D::Db as Database>::Row>,
    for<'r> TargetRow: FromRow<'r, <D::Db as Database>::Row>,
    for<'r> UserRow: FromRow<'r, <D::Db as Database>::Row>,
    for<'r> LoginRow: FromRow<'r, <D::Db as Database>::Row>,
    for<'r> RefreshRow: FromRow<'r, <D::Db as Database>::Row>,
    for<'r> MessageRow: FromRow<'r, <D::Db as Database>::Row>,
    for<'r> ConversationRow: FromRow<'r, <D::Db as Database>::Row>,
    for<'r> MemberRow: FromRow<'r, <D::Db as Database>::Row>,
    for<'r> ContactRow: FromRow<'r, <D::Db as Database>::Row>,
    for<'q> Option<i64>: Encode<'q, D::Db>,
    for<'r> (String,): FromRow<'r, <D::Db as Database>::Row>,
    for<'r> UploadRow: FromRow<'r, <D::Db as Database>::Row>,
{
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.readers).await?;
        Ok(())
    }

    async fn create_user(&self, new: &NewUser) -> StoreResult<()> {
        let u = &new.user;
        let result = sqlx::query(
            "INSERT INTO users (id, username, display_name, password_hash, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(u.id)
        .bind(&u.username)
        .bind(&u.display_name)
        .bind(&new.password_hash)
        .bind(u.created_at.as_millis())
        .execute(&self.writer)
        .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => Err(StoreError::UsernameTaken),
            Err(e) => Err(e.into()),
        }
    }

    async fn login_record(&self, username: &str) -> StoreResult<Option<(User, String)>> {
        let row: Option<LoginRow> = sqlx::query_as(
            "SELECT id, username, display_name, created_at, password_hash FROM users \
             WHERE username = $1",
        )
        .bind(username.to_owned())
        .fetch_optional(&self.readers)
        .await?;
        Ok(row.map(|r| (r.user.into(), r.password_hash)))
    }

    async fn user(&self, id: Uuid) -> StoreResult<Option<User>> {
        let row: Option<UserRow> = sqlx::query_as(
            "SELECT id, username, display_name, created_at FROM users WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.readers)
        .await?;
        Ok(row.map(User::from))
    }

    async fn search_users(&self, prefix: &str, limit: u32) -> StoreResult<Vec<User>> {
        let rows: Vec<UserRow> = sqlx::query_as(D::SEARCH_USERS)
            .bind(prefix.to_owned())
            .bind(i64::from(limit))
            .fetch_all(&self.readers)
            .await?;
        Ok(rows.into_iter().map(User::from).collect())
    }

    async fn create_session(
        &self,
        session_id: Uuid,
        user_id: Uuid,
        device_name: Option<&str>,
        grant: &RefreshGrant,
        now: Timestamp,
    ) -> StoreResult<()> {
        let mut tx = self.write().await?;
        sqlx::query(
            "INSERT INTO sessions (id, user_id, device_name, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(session_id)
        .bind(user_id)
        .bind(device_name.map(str::to_owned))
        .bind(now.as_millis())
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, session_id, expires_at) VALUES ($1, $2, $3)",
        )
        .bind(&grant.token_hash)
        .bind(session_id)
        .bind(grant.expires_at.as_millis())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn rotate_refresh(
        &self,
        presented_hash: &[u8],
        next: &RefreshGrant,
        now: Timestamp,
    ) -> StoreResult<Rotation> {
        let presented = presented_hash.to_vec();
        let mut tx = self.write().await?;
        // Locked: two concurrent uses of one token are serialised; the second sees
        // `used_at` set and is a retry (within the grace window) or reuse.
        let row: Option<RefreshRow> = sqlx::query_as(locked(
            "SELECT r.session_id, r.expires_at, r.used_at, r.replaced_by, \
             (n.used_at IS NOT NULL) AS successor_used, s.revoked_at, s.user_id \
             FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id \
             LEFT JOIN refresh_tokens n ON n.token_hash = r.replaced_by \
             WHERE r.token_hash = $1",
            D::lock("r"),
        ))
        .bind(&presented)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(Rotation::Invalid);
        };
        if row.revoked_at.is_some() {
            return Ok(Rotation::Invalid);
        }
        let lost = row.replaced_by.as_ref().filter(|_| {
            !row.successor_used
                && row
                    .used_at
                    .is_some_and(|used| now.as_millis() - used <= REFRESH_RETRY_GRACE_MS)
        });
        if let Some(lost) = lost {
            // The answer to its first use was lost (the client never presented the
            // successor): that successor is withdrawn, and the token exchanged again.
            sqlx::query("DELETE FROM refresh_tokens WHERE token_hash = $1")
                .bind(lost)
                .execute(&mut *tx)
                .await?;
        } else if row.used_at.is_some() {
            // A used token came back: someone holds a copy. End the whole session.
            sqlx::query("UPDATE sessions SET revoked_at = $2 WHERE id = $1")
                .bind(row.session_id)
                .bind(now.as_millis())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            return Ok(Rotation::Reused {
                session_id: row.session_id,
            });
        }
        if row.expires_at <= now.as_millis() {
            return Ok(Rotation::Invalid);
        }
        // A retry keeps the first use's time: the grace window does not slide.
        sqlx::query(
            "UPDATE refresh_tokens SET used_at = COALESCE(used_at, $2), replaced_by = $3 \
             WHERE token_hash = $1",
        )
        .bind(&presented)
        .bind(now.as_millis())
        .bind(&next.token_hash)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, session_id, expires_at) VALUES ($1, $2, $3)",
        )
        .bind(&next.token_hash)
        .bind(row.session_id)
        .bind(next.expires_at.as_millis())
        .execute(&mut *tx)
        .await?;
        let user: UserRow = sqlx::query_as(
            "SELECT id, username, display_name, created_at FROM users WHERE id = $1",
        )
        .bind(row.user_id)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Rotation::Rotated {
            user: user.into(),
            session_id: row.session_id,
        })
    }

    async fn revoke_session(&self, session_id: Uuid, now: Timestamp) -> StoreResult<()> {
        sqlx::query("UPDATE sessions SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
            .bind(session_id)
            .bind(now.as_millis())
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn active_sessions(&self, sessions: &[Uuid]) -> StoreResult<Vec<Uuid>> {
        if sessions.is_empty() {
            return Ok(Vec::new());
        }
        let mut query = QueryBuilder::new("SELECT id FROM sessions WHERE ");
        D::push_in(&mut query, "id", sessions);
        query.push(" AND revoked_at IS NULL");
        let rows: Vec<(Uuid,)> = query.build_query_as().fetch_all(&self.readers).await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    async fn forget_ended_sessions(&self, now: Timestamp) -> StoreResult<u64> {
        let mut tx = self.write().await?;
        sqlx::query(
            "DELETE FROM refresh_tokens WHERE expires_at <= $1 \
             OR session_id IN (SELECT id FROM sessions WHERE revoked_at IS NOT NULL)",
        )
        .bind(now.as_millis())
        .execute(&mut *tx)
        .await?;
        // A session and its first token are stored in one transaction, so a session with
        // no token left has ended rather than not begun.
        let gone: Vec<(Uuid,)> = sqlx::query_as(
            "DELETE FROM sessions WHERE revoked_at IS NOT NULL \
             OR NOT EXISTS (SELECT 1 FROM refresh_tokens r WHERE r.session_id = sessions.id) \
             RETURNING id",
        )
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(gone.len() as u64)
    }

    async fn direct_conversation(
        &self,
        me: Uuid,
        other: Uuid,
        new_id: Uuid,
        now: Timestamp,
    ) -> StoreResult<(Uuid, bool)> {
        let key = direct_key(me, other);
        let mut tx = self.write().await?;
        if !Self::users_exist(&mut tx, &[other]).await? {
            return Err(StoreError::UnknownUser);
        }
        // A block between the two commits before this or sees what this made.
        Self::lock_pair(&mut tx, &key).await?;
        let existing: Option<Uuid> =
            sqlx::query_scalar("SELECT id FROM conversations WHERE direct_key = $1")
                .bind(&key)
                .fetch_optional(&mut *tx)
                .await?;
        if let Some(id) = existing {
            return Ok((id, false));
        }
        if Self::any_block(&mut tx, me, &[other]).await? {
            return Err(StoreError::Blocked);
        }
        Self::advance_clock(&mut tx).await?;
        // A concurrent create of the same pair waits on the unique key, then does nothing.
        let created: Option<Uuid> = sqlx::query_scalar(AssertSqlSafe(format!(
            "INSERT INTO conversations (id, kind, title, direct_key, created_at, updated_at, change_version) \
             VALUES ($1, 'direct', NULL, $2, $3, $3, {}) \
             ON CONFLICT (direct_key) DO NOTHING RETURNING id",
            D::CHANGE_VERSION
        )))
        .bind(new_id)
        .bind(&key)
        .bind(now.as_millis())
        .fetch_optional(&mut *tx)
        .await?;
        if created.is_none() {
            let id: Uuid = sqlx::query_scalar("SELECT id FROM conversations WHERE direct_key = $1")
                .bind(&key)
                .fetch_one(&mut *tx)
                .await?;
            return Ok((id, false));
        }
        Self::insert_members(&mut tx, new_id, &[me], "member", None, now).await?;
        Self::insert_members(&mut tx, new_id, &[other], "member", Some(me), now).await?;
        tx.commit().await?;
        Ok((new_id, true))
    }

    async fn create_group(
        &self,
        id: Uuid,
        owner: Uuid,
        title: &str,
        members: &[Uuid],
        now: Timestamp,
    ) -> StoreResult<()> {
        let mut tx = self.write().await?;
        if !Self::users_exist(&mut tx, members).await? {
            return Err(StoreError::UnknownUser);
        }
        if Self::any_block(&mut tx, owner, members).await? {
            return Err(StoreError::Blocked);
        }
        Self::advance_clock(&mut tx).await?;
        sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO conversations (id, kind, title, direct_key, created_at, updated_at, change_version) \
             VALUES ($1, 'group', $2, NULL, $3, $3, {})",
            D::CHANGE_VERSION
        )))
        .bind(id)
        .bind(title.to_owned())
        .bind(now.as_millis())
        .execute(&mut *tx)
        .await?;
        Self::insert_members(&mut tx, id, &[owner], "owner", None, now).await?;
        Self::insert_members(&mut tx, id, members, "member", Some(owner), now).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn conversation(&self, viewer: Uuid, id: Uuid) -> StoreResult<Option<Conversation>> {
        let mut tx = self.read().await?;
        let rows: Vec<ConversationRow> = sqlx::query_as(concat!(
            "SELECT ",
            conversation_columns!(),
            " FROM conversations c JOIN members me ON me.conversation_id = c.id AND me.user_id = $1 \
              WHERE c.id = $2"
        ))
        .bind(viewer)
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
        Ok(Self::load(&mut tx, viewer, rows).await?.pop())
    }

    async fn conversations(
        &self,
        viewer: Uuid,
        before: Option<ActivityCursor>,
        limit: u32,
    ) -> StoreResult<Vec<Conversation>> {
        let before = before.unwrap_or(ActivityCursor {
            updated_at: i64::MAX,
            id: Uuid::max(),
        });
        let mut tx = self.read().await?;
        let rows: Vec<ConversationRow> = sqlx::query_as(concat!(
            "SELECT ",
            conversation_columns!(),
            " FROM conversations c JOIN members me ON me.conversation_id = c.id AND me.user_id = $1 \
              WHERE (c.updated_at, c.id) < ($2, $3) \
              ORDER BY c.updated_at DESC, c.id DESC LIMIT $4"
        ))
        .bind(viewer)
        .bind(before.updated_at)
        .bind(before.id)
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await?;
        Self::load(&mut tx, viewer, rows).await
    }

    async fn seats(&self, conversation_id: Uuid) -> StoreResult<Vec<Seat>> {
        let mut conn = self.readers.acquire().await?;
        Self::seats_in(&mut conn, conversation_id).await
    }

    async fn add_members(
        &self,
        conversation_id: Uuid,
        by: Uuid,
        users: &[Uuid],
        now: Timestamp,
    ) -> StoreResult<()> {
        let mut tx = self.write().await?;
        if !Self::users_exist(&mut tx, users).await? {
            return Err(StoreError::UnknownUser);
        }
        if Self::any_block(&mut tx, by, users).await? {
            return Err(StoreError::Blocked);
        }
        // Conversation first (lock order), then the member rows.
        sqlx::query(AssertSqlSafe(format!(
            "UPDATE conversations SET updated_at = {}(updated_at, $2) WHERE id = $1",
            D::GREATEST
        )))
        .bind(conversation_id)
        .bind(now.as_millis())
        .execute(&mut *tx)
        .await?;
        Self::mark_changed(&mut tx, conversation_id).await?;
        Self::insert_members(&mut tx, conversation_id, users, "member", Some(by), now).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn remove_member(
        &self,
        conversation_id: Uuid,
        user: Uuid,
        now: Timestamp,
    ) -> StoreResult<Option<i64>> {
        let mut tx = self.write().await?;
        // Conversation first (lock order), then the member rows.
        let last_seq: Option<i64> = sqlx::query_scalar(locked(
            "SELECT c.last_seq FROM conversations c WHERE c.id = $1",
            D::lock("c"),
        ))
        .bind(conversation_id)
        .fetch_optional(&mut *tx)
        .await?;
        let removed: Option<Uuid> = sqlx::query_scalar(
            "DELETE FROM members WHERE conversation_id = $1 AND user_id = $2 RETURNING user_id",
        )
        .bind(conversation_id)
        .bind(user)
        .fetch_optional(&mut *tx)
        .await?;
        if removed.is_some() {
            sqlx::query(AssertSqlSafe(format!(
                "UPDATE conversations SET updated_at = {}(updated_at, $2) WHERE id = $1",
                D::GREATEST
            )))
            .bind(conversation_id)
            .bind(now.as_millis())
            .execute(&mut *tx)
            .await?;
            // A group is never left without an owner: the longest-standing member takes over.
            sqlx::query(
                "UPDATE members SET role = 'owner' WHERE conversation_id = $1 AND user_id = \
                 (SELECT user_id FROM members WHERE conversation_id = $1 \
                  ORDER BY joined_at, user_id LIMIT 1) \
                 AND NOT EXISTS \
                 (SELECT 1 FROM members WHERE conversation_id = $1 AND role = 'owner')",
            )
            .bind(conversation_id)
            .execute(&mut *tx)
            .await?;
            Self::mark_changed(&mut tx, conversation_id).await?;
        }
        tx.commit().await?;
        Ok(removed.and(last_seq))
    }

    async fn accept(&self, conversation_id: Uuid, user: Uuid) -> StoreResult<Option<MemberState>> {
        let mut tx = self.write().await?;
        // Conversation first (lock order), then the member row.
        sqlx::query(locked(
            "SELECT c.id FROM conversations c WHERE c.id = $1",
            D::lock("c"),
        ))
        .bind(conversation_id)
        .execute(&mut *tx)
        .await?;
        let state: Option<String> = sqlx::query_scalar(
            "SELECT state FROM members WHERE conversation_id = $1 AND user_id = $2",
        )
        .bind(conversation_id)
        .bind(user)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(state) = state.as_deref().map(member_state).transpose()? else {
            return Ok(None);
        };
        if state == MemberState::Request {
            sqlx::query(
                "UPDATE members SET state = 'accepted' WHERE conversation_id = $1 AND user_id = $2",
            )
            .bind(conversation_id)
            .bind(user)
            .execute(&mut *tx)
            .await?;
            Self::mark_changed(&mut tx, conversation_id).await?;
        }
        tx.commit().await?;
        Ok(Some(state))
    }

    async fn block(
        &self,
        blocker: Uuid,
        blocked: Uuid,
        now: Timestamp,
    ) -> StoreResult<Option<Uuid>> {
        let mut tx = self.write().await?;
        if !Self::users_exist(&mut tx, &[blocked]).await? {
            return Err(StoreError::UnknownUser);
        }
        let key = direct_key(blocker, blocked);
        // A direct conversation being made between the two commits before this, or sees
        // the block.
        Self::lock_pair(&mut tx, &key).await?;
        let direct: Option<(Uuid, String)> = sqlx::query_as(locked(
            "SELECT c.id, m.state FROM conversations c \
             JOIN members m ON m.conversation_id = c.id AND m.user_id = $2 \
             WHERE c.direct_key = $1",
            D::lock("c"),
        ))
        .bind(&key)
        .bind(blocker)
        .fetch_optional(&mut *tx)
        .await?;
        // What the blocker's state was, for unblocking to restore: a request declined by
        // a block is a request again afterwards, not a conversation accepted.
        let before = match &direct {
            Some((_, state)) if state == MemberState::Request.as_str() => MemberState::Request,
            _ => MemberState::Accepted,
        };
        let new: Option<Uuid> = sqlx::query_scalar(
            "INSERT INTO blocks (blocker_id, blocked_id, created_at, direct_state) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (blocker_id, blocked_id) DO NOTHING \
             RETURNING blocker_id",
        )
        .bind(blocker)
        .bind(blocked)
        .bind(now.as_millis())
        .bind(before.as_str().to_owned())
        .fetch_optional(&mut *tx)
        .await?;
        let changed = match direct {
            Some((id, _)) if new.is_some() => {
                sqlx::query(
                    "UPDATE members SET state = 'blocked' WHERE conversation_id = $1 AND user_id = $2",
                )
                .bind(id)
                .bind(blocker)
                .execute(&mut *tx)
                .await?;
                Self::mark_changed(&mut tx, id).await?;
                Some(id)
            }
            _ => None,
        };
        tx.commit().await?;
        Ok(changed)
    }

    async fn unblock(&self, blocker: Uuid, blocked: Uuid) -> StoreResult<Option<Uuid>> {
        let mut tx = self.write().await?;
        Self::lock_pair(&mut tx, &direct_key(blocker, blocked)).await?;
        let before: Option<String> = sqlx::query_scalar(
            "DELETE FROM blocks WHERE blocker_id = $1 AND blocked_id = $2 RETURNING direct_state",
        )
        .bind(blocker)
        .bind(blocked)
        .fetch_optional(&mut *tx)
        .await?;
        let changed = match before {
            Some(state) => {
                Self::set_direct_state(
                    &mut tx,
                    blocker,
                    blocked,
                    MemberState::Blocked,
                    member_state(&state)?,
                )
                .await?
            }
            None => None,
        };
        tx.commit().await?;
        Ok(changed)
    }

    async fn blocks_among(&self, conversation_id: Uuid) -> StoreResult<Vec<(Uuid, Uuid)>> {
        Ok(sqlx::query_as(
            "SELECT b.blocker_id, b.blocked_id FROM blocks b \
             JOIN members m1 ON m1.user_id = b.blocker_id AND m1.conversation_id = $1 \
             JOIN members m2 ON m2.user_id = b.blocked_id AND m2.conversation_id = $1",
        )
        .bind(conversation_id)
        .fetch_all(&self.readers)
        .await?)
    }

    async fn shared_conversations(&self, a: Uuid, b: Uuid) -> StoreResult<Vec<Uuid>> {
        Ok(sqlx::query_scalar(
            "SELECT ma.conversation_id FROM members ma JOIN members mb \
             ON mb.conversation_id = ma.conversation_id AND mb.user_id = $2 \
             WHERE ma.user_id = $1",
        )
        .bind(a)
        .bind(b)
        .fetch_all(&self.readers)
        .await?)
    }

    async fn blocked_users(&self, blocker: Uuid) -> StoreResult<Vec<User>> {
        let rows: Vec<UserRow> = sqlx::query_as(
            "SELECT u.id, u.username, u.display_name, u.created_at FROM blocks b \
             JOIN users u ON u.id = b.blocked_id WHERE b.blocker_id = $1 \
             ORDER BY b.created_at DESC, u.username",
        )
        .bind(blocker)
        .fetch_all(&self.readers)
        .await?;
        Ok(rows.into_iter().map(User::from).collect())
    }

    async fn report(&self, report: &NewReport) -> StoreResult<bool> {
        let stored: Option<Uuid> = sqlx::query_scalar(
            "INSERT INTO reports (id, reporter_id, reported_id, conversation_id, message_id, reason, created_at) \
             SELECT $1, $2, $3, $4, $5, $6, $7 WHERE $5 IS NULL OR EXISTS \
             (SELECT 1 FROM messages WHERE id = $5 AND conversation_id = $4 AND sender_id = $3) \
             RETURNING id",
        )
        .bind(report.id)
        .bind(report.reporter)
        .bind(report.reported)
        .bind(report.conversation_id)
        .bind(report.message_id)
        .bind(&report.reason)
        .bind(report.created_at.as_millis())
        .fetch_optional(&self.writer)
        .await?;
        Ok(stored.is_some())
    }

    async fn append(&self, new: &NewMessage) -> StoreResult<Append> {
        match self.append_batch(std::slice::from_ref(new)).await {
            Ok(mut appends) => Ok(appends.pop().expect("one result per message")),
            Err(StoreError::Database(e)) if is_unique_violation(&e) => {
                // The same id was committed by a concurrent send in the meantime.
                let mut conn = self.readers.acquire().await?;
                match Self::message_by_id(&mut conn, new.id).await? {
                    Some(existing) => Ok(same_or_conflict(existing, new)),
                    None => Err(StoreError::Database(e)),
                }
            }
            Err(e) => Err(e),
        }
    }

    async fn append_batch(&self, batch: &[NewMessage]) -> StoreResult<Vec<Append>> {
        // A unique violation (the same id committed meanwhile by another node) fails the
        // whole batch; the committer then stores its messages one by one.
        let mut tx = self.write().await?;
        let appends = if batch.iter().all(NewMessage::is_plain) {
            D::append_batch(&mut tx, batch).await?
        } else {
            Self::append_mixed(&mut tx, batch).await?
        };
        tx.commit().await?;
        Ok(appends)
    }

    async fn messages_after(
        &self,
        conversation_id: Uuid,
        after_seq: i64,
        limit: u32,
    ) -> StoreResult<Vec<Message>> {
        let rows: Vec<MessageRow> = sqlx::query_as(concat!(
            "SELECT ",
            message_columns!(),
            " FROM messages WHERE conversation_id = $1 AND seq > $2 ORDER BY seq LIMIT $3"
        ))
        .bind(conversation_id)
        .bind(after_seq)
        .bind(i64::from(limit))
        .fetch_all(&self.readers)
        .await?;
        Ok(rows.into_iter().map(Message::from).collect())
    }

    async fn messages_before(
        &self,
        conversation_id: Uuid,
        before_seq: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<Message>> {
        let mut rows: Vec<MessageRow> = sqlx::query_as(concat!(
            "SELECT ",
            message_columns!(),
            " FROM messages WHERE conversation_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3"
        ))
        .bind(conversation_id)
        .bind(before_seq.unwrap_or(i64::MAX))
        .bind(i64::from(limit))
        .fetch_all(&self.readers)
        .await?;
        rows.reverse();
        Ok(rows.into_iter().map(Message::from).collect())
    }

    async fn changes_after(&self, conversation_id: Uuid, after_seq: i64) -> StoreResult<Vec<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT seq FROM messages WHERE conversation_id = $1 AND seq > $2 \
             AND change_kind IS NOT NULL ORDER BY seq",
        )
        .bind(conversation_id)
        .bind(after_seq)
        .fetch_all(&self.readers)
        .await?)
    }

    async fn advance(
        &self,
        conversation_id: Uuid,
        user: Uuid,
        mark: Mark,
        seq: i64,
    ) -> StoreResult<Option<(Watermarks, bool)>> {
        let mut tx = self.write().await?;
        // Lock order: conversation, then member row (as in append).
        let last_seq: Option<i64> = sqlx::query_scalar(locked(
            "SELECT c.last_seq FROM conversations c WHERE c.id = $1",
            D::lock("c"),
        ))
        .bind(conversation_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(last_seq) = last_seq else {
            return Ok(None);
        };
        let marks: Option<(i64, i64, String)> = sqlx::query_as(locked(
            "SELECT m.read_seq, m.delivered_seq, m.state FROM members m \
             WHERE m.conversation_id = $1 AND m.user_id = $2",
            D::lock("m"),
        ))
        .bind(conversation_id)
        .bind(user)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((read_seq, delivered_seq, state)) = marks else {
            return Ok(None);
        };
        let (marks, moved) = advanced(
            Watermarks {
                read_seq,
                delivered_seq,
            },
            mark,
            seq,
            last_seq,
        );
        if moved {
            sqlx::query(
                "UPDATE members SET read_seq = $3, delivered_seq = $4 \
                 WHERE conversation_id = $1 AND user_id = $2",
            )
            .bind(conversation_id)
            .bind(user)
            .bind(marks.read_seq)
            .bind(marks.delivered_seq)
            .execute(&mut *tx)
            .await?;
            if member_state(&state)? == MemberState::Accepted {
                Self::mark_changed(&mut tx, conversation_id).await?;
            } else {
                // Only their own devices may see it move: a conversation marked changed
                // for everyone would tell a stranger when their request was delivered
                // and read.
                Self::advance_clock(&mut tx).await?;
                sqlx::query(AssertSqlSafe(format!(
                    "UPDATE members SET own_version = {} \
                     WHERE conversation_id = $1 AND user_id = $2",
                    D::CHANGE_VERSION
                )))
                .bind(conversation_id)
                .bind(user)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(Some((marks, moved)))
    }

    async fn sync(
        &self,
        viewer: Uuid,
        since: Option<SyncCursor>,
        limit: u32,
        latest: Latest,
    ) -> StoreResult<SyncBatch> {
        let position = since.unwrap_or(SyncCursor::START);
        // One snapshot: the horizon and the rows agree.
        let mut tx = self.read().await?;
        let horizon: i64 = sqlx::query_scalar(D::SYNC_HORIZON)
            .fetch_one(&mut *tx)
            .await?;
        let mut rows: Vec<ConversationRow> = sqlx::query_as(concat!(
            "SELECT ",
            conversation_columns!(),
            " FROM conversations c JOIN members me ON me.conversation_id = c.id AND me.user_id = $1 \
              WHERE (CASE WHEN me.own_version > c.change_version THEN me.own_version \
                     ELSE c.change_version END, c.id) > ($2, $3) \
              ORDER BY CASE WHEN me.own_version > c.change_version THEN me.own_version \
                       ELSE c.change_version END, c.id LIMIT $4"
        ))
        .bind(viewer)
        .bind(position.version)
        .bind(position.id)
        .bind(i64::from(limit) + 1)
        .fetch_all(&mut *tx)
        .await?;
        let has_more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let last = rows
            .last()
            .filter(|_| has_more)
            .map(|r| (r.change_version, r.id));
        let cursor = SyncCursor::after_page(since, horizon, last);
        let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
        let conversations = Self::load(&mut tx, viewer, rows).await?;
        let messages = if latest.per_conversation == 0 || latest.max_bytes == 0 || ids.is_empty() {
            Vec::new()
        } else {
            D::latest_messages(&mut tx, &ids, latest).await?
        };
        tx.commit().await?;
        Ok(SyncBatch {
            conversations,
            cursor,
            has_more,
            messages,
        })
    }

    async fn contacts(&self, users: &[Uuid]) -> StoreResult<Vec<Contact>> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let mut query = QueryBuilder::new(
            "SELECT DISTINCT me.user_id, u.id, u.last_seen_at FROM members me \
             JOIN members other ON other.conversation_id = me.conversation_id \
             JOIN users u ON u.id = other.user_id WHERE ",
        );
        D::push_in(&mut query, "me.user_id", users);
        query.push(
            " AND other.user_id <> me.user_id AND me.state = 'accepted' AND other.state = 'accepted' \
             AND NOT EXISTS (SELECT 1 FROM blocks b WHERE \
             (b.blocker_id = me.user_id AND b.blocked_id = other.user_id) OR \
             (b.blocker_id = other.user_id AND b.blocked_id = me.user_id))",
        );
        let rows: Vec<ContactRow> = query.build_query_as().fetch_all(&self.readers).await?;
        Ok(rows.into_iter().map(Contact::from).collect())
    }

    async fn set_last_seen(&self, user: Uuid, at: Timestamp) -> StoreResult<()> {
        sqlx::query("UPDATE users SET last_seen_at = $2 WHERE id = $1")
            .bind(user)
            .bind(at.as_millis())
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn renew_node(&self, node: Uuid, until: Timestamp) -> StoreResult<bool> {
        let mut tx = self.write().await?;
        let renewed: Option<Uuid> =
            sqlx::query_scalar("UPDATE nodes SET expires_at = $2 WHERE id = $1 RETURNING id")
                .bind(node)
                .bind(until.as_millis())
                .fetch_optional(&mut *tx)
                .await?;
        let renewed = renewed.is_some();
        if !renewed {
            sqlx::query("INSERT INTO nodes (id, expires_at) VALUES ($1, $2)")
                .bind(node)
                .bind(until.as_millis())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(renewed)
    }

    async fn node_joined(&self, node: Uuid, user: Uuid) -> StoreResult<bool> {
        let mut tx = self.write().await?;
        // The user's row serialises their presence changes across nodes, so exactly one
        // node sees each transition.
        Self::lock_user(&mut tx, user).await?;
        sqlx::query(
            "INSERT INTO node_users (node_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(node)
        .bind(user)
        .execute(&mut *tx)
        .await?;
        let nodes = Self::nodes_holding(&mut tx, user).await?;
        tx.commit().await?;
        Ok(nodes == 1)
    }

    async fn node_left(&self, node: Uuid, user: Uuid) -> StoreResult<bool> {
        let mut tx = self.write().await?;
        Self::lock_user(&mut tx, user).await?;
        sqlx::query("DELETE FROM node_users WHERE node_id = $1 AND user_id = $2")
            .bind(node)
            .bind(user)
            .execute(&mut *tx)
            .await?;
        let nodes = Self::nodes_holding(&mut tx, user).await?;
        tx.commit().await?;
        Ok(nodes == 0)
    }

    async fn online_users(&self, users: &[Uuid]) -> StoreResult<Vec<Uuid>> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let mut query = QueryBuilder::new("SELECT DISTINCT user_id FROM node_users WHERE ");
        D::push_in(&mut query, "user_id", users);
        let rows: Vec<(Uuid,)> = query.build_query_as().fetch_all(&self.readers).await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    async fn drop_nodes(&self, now: Timestamp, node: Option<Uuid>) -> StoreResult<Vec<Uuid>> {
        let mut tx = self.write().await?;
        // Whoever deletes a node's row handles its users: two nodes reaping at once
        // never both announce the same user offline.
        let gone: Vec<(Uuid,)> =
            sqlx::query_as("DELETE FROM nodes WHERE expires_at < $1 OR id = $2 RETURNING id")
                .bind(now.as_millis())
                // No node has the nil id.
                .bind(node.unwrap_or(Uuid::nil()))
                .fetch_all(&mut *tx)
                .await?;
        let gone: Vec<Uuid> = gone.into_iter().map(|(id,)| id).collect();
        if gone.is_empty() {
            tx.commit().await?;
            return Ok(Vec::new());
        }
        let mut query = QueryBuilder::new("DELETE FROM node_users WHERE ");
        D::push_in(&mut query, "node_id", &gone);
        query.push(" RETURNING user_id");
        let mut users: Vec<Uuid> = query
            .build_query_as::<(Uuid,)>()
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .map(|(id,)| id)
            .collect();
        users.sort_unstable();
        users.dedup();
        let mut offline = Vec::with_capacity(users.len());
        for user in users {
            // Locked as in node_joined, so a join elsewhere is counted or waits.
            Self::lock_user(&mut tx, user).await?;
            let nodes = Self::nodes_holding(&mut tx, user).await?;
            if nodes == 0 {
                offline.push(user);
            }
        }
        tx.commit().await?;
        Ok(offline)
    }
}
