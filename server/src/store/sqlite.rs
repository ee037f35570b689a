//! [`SqliteStore`]: the embedded store, so that a server runs with nothing installed.
//!
//! SQLite allows one writer at a time, so the store keeps one writing connection (every
//! write transaction queues for it, `BEGIN IMMEDIATE`) and a pool of readers on WAL
//! snapshots. That single writer is also this store's "conversation lock": seqs and the
//! `sync_clock` version are allocated in commit order by construction. Commits use
//! `synchronous=FULL`, so an acknowledged message survives a power cut, not only a crash.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use ferry_proto::{Conversation, Message, Timestamp, User};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, SqliteConnection};
use uuid::Uuid;

use super::rows::{ContactRow, ConversationRow, MemberRow, MessageRow, UserRow, assemble};
use super::{
    ActivityCursor, Append, Contact, Mark, NewMessage, NewUser, RefreshGrant, Rotation, Store,
    StoreError, StoreResult, SyncBatch, SyncCursor, Watermarks, advanced, direct_key, like_prefix,
    same_or_conflict, stored,
};

/// The embedded SQLite store.
#[derive(Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    readers: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `url` (`sqlite://path`) and migrates it.
    pub async fn open(url: &str) -> StoreResult<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("../migrations/sqlite").run(&writer).await?;
        let readers = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.read_only(true))
            .await?;
        Ok(Self { writer, readers })
    }
}

/// `$1, $2, …` for a dynamic `IN` list; only placeholders, never data, go into the SQL.
fn placeholders(n: usize) -> String {
    (1..=n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Loads members and last messages of `convs` and assembles what `viewer` sees.
async fn load(
    conn: &mut SqliteConnection,
    viewer: Uuid,
    convs: Vec<ConversationRow>,
) -> StoreResult<Vec<Conversation>> {
    if convs.is_empty() {
        return Ok(Vec::new());
    }
    let list = placeholders(convs.len());
    let members_sql = format!(
        concat!(
            "SELECT ",
            member_columns!(),
            " FROM members m JOIN users u ON u.id = m.user_id \
              WHERE m.conversation_id IN ({}) ORDER BY m.joined_at, u.username"
        ),
        list
    );
    let mut members = sqlx::query_as::<_, MemberRow>(AssertSqlSafe(members_sql));
    for c in &convs {
        members = members.bind(c.id);
    }
    let members = members.fetch_all(&mut *conn).await?;
    let last_sql = format!(
        "SELECT m.id, m.conversation_id, m.seq, m.sender_id, m.body, m.created_at \
         FROM messages m JOIN conversations c ON c.id = m.conversation_id AND m.seq = c.last_seq \
         WHERE c.id IN ({list})"
    );
    let mut last = sqlx::query_as::<_, MessageRow>(AssertSqlSafe(last_sql));
    for c in &convs {
        last = last.bind(c.id);
    }
    let last = last.fetch_all(&mut *conn).await?;
    assemble(viewer, convs, members, last)
}

/// Advances the sync clock and stamps the conversation with it (inside the writer's
/// transaction, so versions follow commit order).
async fn mark_changed(conn: &mut SqliteConnection, conversation_id: Uuid) -> StoreResult<()> {
    sqlx::query("UPDATE sync_clock SET version = version + 1 WHERE only_row = 1")
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "UPDATE conversations SET change_version = (SELECT version FROM sync_clock) \
         WHERE id = $1",
    )
    .bind(conversation_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Stores one message inside the caller's write transaction.
async fn append_in(tx: &mut SqliteConnection, new: &NewMessage) -> StoreResult<Append> {
    let existing: Option<MessageRow> = sqlx::query_as(
        "SELECT id, conversation_id, seq, sender_id, body, created_at FROM messages WHERE id = $1",
    )
    .bind(new.id)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(row) = existing {
        return Ok(same_or_conflict(row.into(), new));
    }
    let member: Option<i64> =
        sqlx::query_scalar("SELECT 1 FROM members WHERE conversation_id = $1 AND user_id = $2")
            .bind(new.conversation_id)
            .bind(new.sender_id)
            .fetch_optional(&mut *tx)
            .await?;
    if member.is_none() {
        return Ok(Append::NotMember);
    }
    let seq: i64 = sqlx::query_scalar(
        "UPDATE conversations SET last_seq = last_seq + 1, updated_at = max(updated_at, $2) \
         WHERE id = $1 RETURNING last_seq",
    )
    .bind(new.conversation_id)
    .bind(new.created_at.as_millis())
    .fetch_one(&mut *tx)
    .await?;
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
    mark_changed(&mut *tx, new.conversation_id).await?;
    let members: Vec<Uuid> =
        sqlx::query_scalar("SELECT user_id FROM members WHERE conversation_id = $1")
            .bind(new.conversation_id)
            .fetch_all(&mut *tx)
            .await?;
    Ok(Append::Stored {
        message: stored(new, seq),
        members,
    })
}

async fn users_exist(conn: &mut SqliteConnection, users: &[Uuid]) -> StoreResult<bool> {
    for id in users {
        let found: Option<i64> = sqlx::query_scalar("SELECT 1 FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
        if found.is_none() {
            return Ok(false);
        }
    }
    Ok(true)
}

async fn insert_members(
    conn: &mut SqliteConnection,
    conversation_id: Uuid,
    users: &[Uuid],
    role: &str,
    now: Timestamp,
) -> StoreResult<()> {
    for user in users {
        // New members start with nothing unread: watermarks at the current last seq.
        sqlx::query(
            "INSERT INTO members (conversation_id, user_id, role, read_seq, delivered_seq, joined_at) \
             SELECT $1, $2, $3, last_seq, last_seq, $4 FROM conversations WHERE id = $1 \
             ON CONFLICT (conversation_id, user_id) DO NOTHING",
        )
        .bind(conversation_id)
        .bind(user)
        .bind(role)
        .bind(now.as_millis())
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

#[async_trait]
impl Store for SqliteStore {
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
        #[derive(sqlx::FromRow)]
        struct Row {
            #[sqlx(flatten)]
            user: UserRow,
            password_hash: String,
        }
        let row: Option<Row> = sqlx::query_as(
            "SELECT id, username, display_name, created_at, password_hash FROM users \
             WHERE username = $1",
        )
        .bind(username)
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
        // SQLite's LIKE is case-insensitive for ASCII; lower() covers the rest.
        let rows: Vec<UserRow> = sqlx::query_as(
            "SELECT id, username, display_name, created_at FROM users \
             WHERE username LIKE $1 ESCAPE '\\' OR lower(display_name) LIKE lower($1) ESCAPE '\\' \
             ORDER BY username LIMIT $2",
        )
        .bind(like_prefix(prefix))
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
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query(
            "INSERT INTO sessions (id, user_id, device_name, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(session_id)
        .bind(user_id)
        .bind(device_name)
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
        #[derive(sqlx::FromRow)]
        struct Row {
            session_id: Uuid,
            expires_at: i64,
            used_at: Option<i64>,
            revoked_at: Option<i64>,
            user_id: Uuid,
        }
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let row: Option<Row> = sqlx::query_as(
            "SELECT r.session_id, r.expires_at, r.used_at, s.revoked_at, s.user_id \
             FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id WHERE r.token_hash = $1",
        )
        .bind(presented_hash)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(Rotation::Invalid);
        };
        if row.revoked_at.is_some() {
            return Ok(Rotation::Invalid);
        }
        if row.used_at.is_some() {
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
        sqlx::query("UPDATE refresh_tokens SET used_at = $2 WHERE token_hash = $1")
            .bind(presented_hash)
            .bind(now.as_millis())
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
        let sql = format!(
            "SELECT id FROM sessions WHERE id IN ({}) AND revoked_at IS NULL",
            placeholders(sessions.len())
        );
        let mut query = sqlx::query_scalar(AssertSqlSafe(sql));
        for id in sessions {
            query = query.bind(id);
        }
        Ok(query.fetch_all(&self.readers).await?)
    }

    async fn direct_conversation(
        &self,
        me: Uuid,
        other: Uuid,
        new_id: Uuid,
        now: Timestamp,
    ) -> StoreResult<(Uuid, bool)> {
        let key = direct_key(me, other);
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let existing: Option<Uuid> =
            sqlx::query_scalar("SELECT id FROM conversations WHERE direct_key = $1")
                .bind(&key)
                .fetch_optional(&mut *tx)
                .await?;
        if let Some(id) = existing {
            return Ok((id, false));
        }
        if !users_exist(&mut tx, &[other]).await? {
            return Err(StoreError::UnknownUser);
        }
        sqlx::query(
            "INSERT INTO conversations (id, kind, title, direct_key, created_at, updated_at, change_version) \
             VALUES ($1, 'direct', NULL, $2, $3, $3, 0)",
        )
        .bind(new_id)
        .bind(&key)
        .bind(now.as_millis())
        .execute(&mut *tx)
        .await?;
        insert_members(&mut tx, new_id, &[me, other], "member", now).await?;
        mark_changed(&mut tx, new_id).await?;
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
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        if !users_exist(&mut tx, members).await? {
            return Err(StoreError::UnknownUser);
        }
        sqlx::query(
            "INSERT INTO conversations (id, kind, title, direct_key, created_at, updated_at, change_version) \
             VALUES ($1, 'group', $2, NULL, $3, $3, 0)",
        )
        .bind(id)
        .bind(title)
        .bind(now.as_millis())
        .execute(&mut *tx)
        .await?;
        insert_members(&mut tx, id, &[owner], "owner", now).await?;
        insert_members(&mut tx, id, members, "member", now).await?;
        mark_changed(&mut tx, id).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn conversation(&self, viewer: Uuid, id: Uuid) -> StoreResult<Option<Conversation>> {
        let mut tx = self.readers.begin().await?;
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
        Ok(load(&mut tx, viewer, rows).await?.pop())
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
        let mut tx = self.readers.begin().await?;
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
        load(&mut tx, viewer, rows).await
    }

    async fn member_ids(&self, conversation_id: Uuid) -> StoreResult<Vec<Uuid>> {
        Ok(
            sqlx::query_scalar("SELECT user_id FROM members WHERE conversation_id = $1")
                .bind(conversation_id)
                .fetch_all(&self.readers)
                .await?,
        )
    }

    async fn add_members(
        &self,
        conversation_id: Uuid,
        users: &[Uuid],
        now: Timestamp,
    ) -> StoreResult<()> {
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        if !users_exist(&mut tx, users).await? {
            return Err(StoreError::UnknownUser);
        }
        insert_members(&mut tx, conversation_id, users, "member", now).await?;
        sqlx::query("UPDATE conversations SET updated_at = max(updated_at, $2) WHERE id = $1")
            .bind(conversation_id)
            .bind(now.as_millis())
            .execute(&mut *tx)
            .await?;
        mark_changed(&mut tx, conversation_id).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn remove_member(
        &self,
        conversation_id: Uuid,
        user: Uuid,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let removed =
            sqlx::query("DELETE FROM members WHERE conversation_id = $1 AND user_id = $2")
                .bind(conversation_id)
                .bind(user)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                > 0;
        if removed {
            sqlx::query("UPDATE conversations SET updated_at = max(updated_at, $2) WHERE id = $1")
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
            mark_changed(&mut tx, conversation_id).await?;
        }
        tx.commit().await?;
        Ok(removed)
    }

    async fn append(&self, new: &NewMessage) -> StoreResult<Append> {
        let mut appends = self.append_batch(std::slice::from_ref(new)).await?;
        Ok(appends.pop().expect("one result per message"))
    }

    async fn append_batch(&self, batch: &[NewMessage]) -> StoreResult<Vec<Append>> {
        // One transaction, so one fsync, for the whole batch. There is no network between
        // the statements, so each message is stored as if alone; a repeated id within the
        // batch finds the copy stored a moment before.
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let mut appends = Vec::with_capacity(batch.len());
        for new in batch {
            appends.push(append_in(&mut tx, new).await?);
        }
        tx.commit().await?;
        Ok(appends)
    }

    async fn messages_after(
        &self,
        conversation_id: Uuid,
        after_seq: i64,
        limit: u32,
    ) -> StoreResult<Vec<Message>> {
        let rows: Vec<MessageRow> = sqlx::query_as(
            "SELECT id, conversation_id, seq, sender_id, body, created_at FROM messages \
             WHERE conversation_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
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
        let mut rows: Vec<MessageRow> = sqlx::query_as(
            "SELECT id, conversation_id, seq, sender_id, body, created_at FROM messages \
             WHERE conversation_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3",
        )
        .bind(conversation_id)
        .bind(before_seq.unwrap_or(i64::MAX))
        .bind(i64::from(limit))
        .fetch_all(&self.readers)
        .await?;
        rows.reverse();
        Ok(rows.into_iter().map(Message::from).collect())
    }

    async fn advance(
        &self,
        conversation_id: Uuid,
        user: Uuid,
        mark: Mark,
        seq: i64,
    ) -> StoreResult<Option<(Watermarks, bool)>> {
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let before: Option<(i64, i64, i64)> = sqlx::query_as(
            "SELECT m.read_seq, m.delivered_seq, c.last_seq FROM members m \
             JOIN conversations c ON c.id = m.conversation_id \
             WHERE m.conversation_id = $1 AND m.user_id = $2",
        )
        .bind(conversation_id)
        .bind(user)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((read_seq, delivered_seq, last_seq)) = before else {
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
            mark_changed(&mut tx, conversation_id).await?;
        }
        tx.commit().await?;
        Ok(Some((marks, moved)))
    }

    async fn sync(
        &self,
        viewer: Uuid,
        since: Option<SyncCursor>,
        limit: u32,
        messages: u32,
    ) -> StoreResult<SyncBatch> {
        let position = since.unwrap_or(SyncCursor::START);
        // One read transaction: the clock and the rows come from the same snapshot.
        let mut tx = self.readers.begin().await?;
        let clock: i64 = sqlx::query_scalar("SELECT version FROM sync_clock WHERE only_row = 1")
            .fetch_one(&mut *tx)
            .await?;
        let mut rows: Vec<ConversationRow> = sqlx::query_as(concat!(
            "SELECT ",
            conversation_columns!(),
            " FROM conversations c JOIN members me ON me.conversation_id = c.id AND me.user_id = $1 \
              WHERE (c.change_version, c.id) > ($2, $3) \
              ORDER BY c.change_version, c.id LIMIT $4"
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
        // One writer: every version up to this snapshot's clock is committed and visible.
        let cursor = SyncCursor::after_page(since, clock + 1, last);
        // The conversations whose latest messages were asked for.
        let ids: Vec<Uuid> = match messages {
            0 => Vec::new(),
            _ => rows.iter().map(|r| r.id).collect(),
        };
        let conversations = load(&mut tx, viewer, rows).await?;
        let mut latest = Vec::new();
        // One indexed read per conversation: SQLite is in process, so a query costs no
        // round trip, and a window over whole conversations would read every message.
        for id in &ids {
            let mut rows: Vec<MessageRow> = sqlx::query_as(
                "SELECT id, conversation_id, seq, sender_id, body, created_at FROM messages \
                 WHERE conversation_id = $1 ORDER BY seq DESC LIMIT $2",
            )
            .bind(id)
            .bind(i64::from(messages))
            .fetch_all(&mut *tx)
            .await?;
            rows.reverse();
            latest.extend(rows.into_iter().map(Message::from));
        }
        Ok(SyncBatch {
            conversations,
            cursor,
            has_more,
            messages: latest,
        })
    }

    async fn contacts(&self, users: &[Uuid]) -> StoreResult<Vec<Contact>> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT DISTINCT me.user_id, u.id, u.last_seen_at FROM members me \
             JOIN members other ON other.conversation_id = me.conversation_id \
             JOIN users u ON u.id = other.user_id \
             WHERE me.user_id IN ({}) AND other.user_id <> me.user_id",
            placeholders(users.len())
        );
        let mut query = sqlx::query_as::<_, ContactRow>(AssertSqlSafe(sql));
        for id in users {
            query = query.bind(id);
        }
        let rows = query.fetch_all(&self.readers).await?;
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
}
