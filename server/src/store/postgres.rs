//! [`PgStore`]: the production store on Postgres.
//!
//! Seqs are allocated by `UPDATE conversations SET last_seq = last_seq + 1 … RETURNING`,
//! which takes the conversation's row lock until commit, so commit order is seq order and
//! a reader never sees seq n+1 before n. Transactions that touch a member row and its
//! conversation always lock the conversation first, so they cannot deadlock.
//!
//! `/sync` versions are transaction ids: every change stamps its conversation with
//! `pg_current_xact_id()`, and each page's horizon is the xmin of its own snapshot (every
//! transaction below it has finished and is visible). `SyncCursor::after_page` turns that
//! into cursors that always make progress and never skip a change that committed late;
//! changes at or above a pass's floor may come again, as `/sync`'s at-least-once contract
//! allows.

use std::collections::HashMap;

use async_trait::async_trait;
use ferry_proto::{Conversation, Message, Timestamp, User};
use sqlx::postgres::{PgConnection, PgPool, PgPoolOptions};
use uuid::Uuid;

use super::rows::{ContactRow, ConversationRow, MemberRow, MessageRow, UserRow, assemble};
use super::{
    ActivityCursor, Append, Contact, Mark, NewMessage, NewUser, RefreshGrant, Rotation, Store,
    StoreError, StoreResult, SyncBatch, SyncCursor, Watermarks, advanced, direct_key, like_prefix,
    same_or_conflict, stored,
};

/// The Postgres store.
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects to `url` (`postgres://…`) and migrates the database.
    pub async fn open(url: &str, max_connections: u32) -> StoreResult<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .connect(url)
            .await?;
        sqlx::migrate!("../migrations/postgres").run(&pool).await?;
        Ok(Self { pool })
    }
}

async fn load(
    conn: &mut PgConnection,
    viewer: Uuid,
    convs: Vec<ConversationRow>,
) -> StoreResult<Vec<Conversation>> {
    if convs.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Uuid> = convs.iter().map(|c| c.id).collect();
    let members: Vec<MemberRow> = sqlx::query_as(concat!(
        "SELECT ",
        member_columns!(),
        " FROM members m JOIN users u ON u.id = m.user_id \
          WHERE m.conversation_id = ANY($1) ORDER BY m.joined_at, u.username"
    ))
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?;
    let last: Vec<MessageRow> = sqlx::query_as(
        "SELECT m.id, m.conversation_id, m.seq, m.sender_id, m.body, m.created_at \
         FROM messages m JOIN conversations c ON c.id = m.conversation_id AND m.seq = c.last_seq \
         WHERE c.id = ANY($1)",
    )
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?;
    assemble(viewer, convs, members, last)
}

/// Stamps the conversation with this transaction's id (see the module docs).
async fn mark_changed(conn: &mut PgConnection, conversation_id: Uuid) -> StoreResult<()> {
    sqlx::query(
        "UPDATE conversations SET change_version = pg_current_xact_id()::text::bigint \
         WHERE id = $1",
    )
    .bind(conversation_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn users_exist(conn: &mut PgConnection, users: &[Uuid]) -> StoreResult<bool> {
    let mut wanted = users.to_vec();
    wanted.sort_unstable();
    wanted.dedup();
    let found: i64 = sqlx::query_scalar("SELECT count(*) FROM users WHERE id = ANY($1)")
        .bind(&wanted)
        .fetch_one(&mut *conn)
        .await?;
    Ok(found == wanted.len() as i64)
}

async fn insert_members(
    conn: &mut PgConnection,
    conversation_id: Uuid,
    users: &[Uuid],
    role: &str,
    now: Timestamp,
) -> StoreResult<()> {
    // New members start with nothing unread: watermarks at the current last seq.
    sqlx::query(
        "INSERT INTO members (conversation_id, user_id, role, read_seq, delivered_seq, joined_at) \
         SELECT c.id, u, $3, c.last_seq, c.last_seq, $4 FROM conversations c, unnest($2::uuid[]) AS u \
         WHERE c.id = $1 \
         ON CONFLICT (conversation_id, user_id) DO NOTHING",
    )
    .bind(conversation_id)
    .bind(users)
    .bind(role)
    .bind(now.as_millis())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

async fn message_by_id(conn: &mut PgConnection, id: Uuid) -> StoreResult<Option<Message>> {
    let row: Option<MessageRow> = sqlx::query_as(
        "SELECT id, conversation_id, seq, sender_id, body, created_at FROM messages WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.map(Message::from))
}

impl PgStore {
    /// The insert half of [`Store::append`]; a unique violation means the same id was
    /// stored concurrently, which the caller resolves by reading it back.
    async fn try_append(&self, new: &NewMessage) -> Result<Append, StoreError> {
        let mut tx = self.pool.begin().await?;
        if let Some(existing) = message_by_id(&mut tx, new.id).await? {
            return Ok(same_or_conflict(existing, new));
        }
        // Takes the conversation's row lock until commit: seq order is commit order.
        let seq: Option<i64> = sqlx::query_scalar(
            "UPDATE conversations SET last_seq = last_seq + 1, \
             updated_at = GREATEST(updated_at, $2), \
             change_version = pg_current_xact_id()::text::bigint \
             WHERE id = $1 RETURNING last_seq",
        )
        .bind(new.conversation_id)
        .bind(new.created_at.as_millis())
        .fetch_optional(&mut *tx)
        .await?;
        // Membership is checked under that lock, so a removal that committed while this
        // send waited for it is seen (dropping `tx` rolls the seq back).
        let member: Option<i32> =
            sqlx::query_scalar("SELECT 1 FROM members WHERE conversation_id = $1 AND user_id = $2")
                .bind(new.conversation_id)
                .bind(new.sender_id)
                .fetch_optional(&mut *tx)
                .await?;
        let (Some(seq), Some(_)) = (seq, member) else {
            return Ok(Append::NotMember);
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
            "UPDATE members SET read_seq = GREATEST(read_seq, $3), \
             delivered_seq = GREATEST(delivered_seq, $3) \
             WHERE conversation_id = $1 AND user_id = $2",
        )
        .bind(new.conversation_id)
        .bind(new.sender_id)
        .bind(seq)
        .execute(&mut *tx)
        .await?;
        let members: Vec<Uuid> =
            sqlx::query_scalar("SELECT user_id FROM members WHERE conversation_id = $1")
                .bind(new.conversation_id)
                .fetch_all(&mut *tx)
                .await?;
        tx.commit().await?;
        Ok(Append::Stored {
            message: stored(new, seq),
            members,
        })
    }
}

impl PgStore {
    /// [`Store::append_batch`] in a constant number of statements, whatever the batch's
    /// size: it is the round trips and the commit, not the rows, that cost.
    async fn try_append_batch(&self, batch: &[NewMessage]) -> StoreResult<Vec<Append>> {
        let mut tx = self.pool.begin().await?;
        // Plan this batch's statements afresh. A generic plan cached while `conversations`
        // and `members` were small scans them whole for ever after, and every batch
        // leaves dead row versions behind in both, so those scans grow until autovacuum
        // runs (B5: 400 conversations grew to 400 pages, and scanning them was most of
        // Postgres's time). Planned now, with the batch's ids and the tables' real size,
        // the statements use the primary keys.
        sqlx::query("SET LOCAL plan_cache_mode = force_custom_plan")
            .execute(&mut *tx)
            .await?;
        let ids: Vec<Uuid> = batch.iter().map(|m| m.id).collect();
        let existing: Vec<MessageRow> = sqlx::query_as(
            "SELECT id, conversation_id, seq, sender_id, body, created_at FROM messages \
             WHERE id = ANY($1)",
        )
        .bind(&ids)
        .fetch_all(&mut *tx)
        .await?;
        let mut known: HashMap<Uuid, Message> = existing
            .into_iter()
            .map(|row| (row.id, Message::from(row)))
            .collect();
        let mut conversations: Vec<Uuid> = batch.iter().map(|m| m.conversation_id).collect();
        conversations.sort_unstable();
        conversations.dedup();
        // Row locks until commit, taken in id order (as any multi-row writer must): seq
        // order is commit order, and membership read after them is current.
        let locked: Vec<(Uuid, i64)> = sqlx::query_as(
            "SELECT id, last_seq FROM conversations WHERE id = ANY($1) ORDER BY id FOR UPDATE",
        )
        .bind(&conversations)
        .fetch_all(&mut *tx)
        .await?;
        let mut last_seq: HashMap<Uuid, i64> = locked.into_iter().collect();
        let member_rows: Vec<(Uuid, Uuid)> = sqlx::query_as(
            "SELECT conversation_id, user_id FROM members WHERE conversation_id = ANY($1)",
        )
        .bind(&conversations)
        .fetch_all(&mut *tx)
        .await?;
        let mut members: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
        for (conversation, user) in member_rows {
            members.entry(conversation).or_default().push(user);
        }

        let mut appends = Vec::with_capacity(batch.len());
        let mut inserted: Vec<(&NewMessage, i64)> = Vec::new();
        for new in batch {
            if let Some(existing) = known.get(&new.id) {
                appends.push(same_or_conflict(existing.clone(), new));
                continue;
            }
            let is_member = members
                .get(&new.conversation_id)
                .is_some_and(|m| m.contains(&new.sender_id));
            let Some(last) = last_seq.get_mut(&new.conversation_id).filter(|_| is_member) else {
                appends.push(Append::NotMember);
                continue;
            };
            *last += 1;
            let message = stored(new, *last);
            // A repeat of this id later in the batch is an idempotent resend.
            known.insert(new.id, message.clone());
            inserted.push((new, *last));
            appends.push(Append::Stored {
                message,
                members: members[&new.conversation_id].clone(),
            });
        }
        if inserted.is_empty() {
            return Ok(appends);
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
        let mut heads: HashMap<Uuid, (i64, i64)> = HashMap::new();
        // Per (conversation, sender): sending means having read everything up to it.
        let mut senders: HashMap<(Uuid, Uuid), i64> = HashMap::new();
        for (new, seq) in &inserted {
            let head = heads.entry(new.conversation_id).or_insert((0, i64::MIN));
            *head = (head.0.max(*seq), head.1.max(new.created_at.as_millis()));
            let mark = senders
                .entry((new.conversation_id, new.sender_id))
                .or_insert(0);
            *mark = (*mark).max(*seq);
        }
        let (head_ids, head_values): (Vec<Uuid>, Vec<(i64, i64)>) = heads.into_iter().unzip();
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
        let (pairs, marks): (Vec<(Uuid, Uuid)>, Vec<i64>) = senders.into_iter().unzip();
        let (mark_conversations, mark_users): (Vec<Uuid>, Vec<Uuid>) = pairs.into_iter().unzip();
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
        tx.commit().await?;
        Ok(appends)
    }
}

/// The columns of messages to insert, one array each (for `UNNEST`).
#[derive(Default)]
struct MessageColumns {
    ids: Vec<Uuid>,
    conversations: Vec<Uuid>,
    seqs: Vec<i64>,
    senders: Vec<Uuid>,
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

#[async_trait]
impl Store for PgStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
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
        .execute(&self.pool)
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
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| (r.user.into(), r.password_hash)))
    }

    async fn user(&self, id: Uuid) -> StoreResult<Option<User>> {
        let row: Option<UserRow> = sqlx::query_as(
            "SELECT id, username, display_name, created_at FROM users WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(User::from))
    }

    async fn search_users(&self, prefix: &str, limit: u32) -> StoreResult<Vec<User>> {
        let rows: Vec<UserRow> = sqlx::query_as(
            "SELECT id, username, display_name, created_at FROM users \
             WHERE username LIKE lower($1) ESCAPE '\\' OR lower(display_name) LIKE lower($1) ESCAPE '\\' \
             ORDER BY username LIMIT $2",
        )
        .bind(like_prefix(prefix))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
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
        let mut tx = self.pool.begin().await?;
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
        let mut tx = self.pool.begin().await?;
        // FOR UPDATE: two concurrent uses of one token are serialised; the second sees
        // `used_at` set and is treated as reuse.
        let row: Option<Row> = sqlx::query_as(
            "SELECT r.session_id, r.expires_at, r.used_at, s.revoked_at, s.user_id \
             FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id \
             WHERE r.token_hash = $1 FOR UPDATE OF r",
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
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn active_sessions(&self, sessions: &[Uuid]) -> StoreResult<Vec<Uuid>> {
        Ok(
            sqlx::query_scalar("SELECT id FROM sessions WHERE id = ANY($1) AND revoked_at IS NULL")
                .bind(sessions)
                .fetch_all(&self.pool)
                .await?,
        )
    }

    async fn direct_conversation(
        &self,
        me: Uuid,
        other: Uuid,
        new_id: Uuid,
        now: Timestamp,
    ) -> StoreResult<(Uuid, bool)> {
        let key = direct_key(me, other);
        let mut tx = self.pool.begin().await?;
        if !users_exist(&mut tx, &[other]).await? {
            return Err(StoreError::UnknownUser);
        }
        // A concurrent create of the same pair waits on the unique key, then does nothing.
        let created: Option<Uuid> = sqlx::query_scalar(
            "INSERT INTO conversations (id, kind, title, direct_key, created_at, updated_at, change_version) \
             VALUES ($1, 'direct', NULL, $2, $3, $3, pg_current_xact_id()::text::bigint) \
             ON CONFLICT (direct_key) DO NOTHING RETURNING id",
        )
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
        insert_members(&mut tx, new_id, &[me, other], "member", now).await?;
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
        let mut tx = self.pool.begin().await?;
        if !users_exist(&mut tx, members).await? {
            return Err(StoreError::UnknownUser);
        }
        sqlx::query(
            "INSERT INTO conversations (id, kind, title, direct_key, created_at, updated_at, change_version) \
             VALUES ($1, 'group', $2, NULL, $3, $3, pg_current_xact_id()::text::bigint)",
        )
        .bind(id)
        .bind(title)
        .bind(now.as_millis())
        .execute(&mut *tx)
        .await?;
        insert_members(&mut tx, id, &[owner], "owner", now).await?;
        insert_members(&mut tx, id, members, "member", now).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn conversation(&self, viewer: Uuid, id: Uuid) -> StoreResult<Option<Conversation>> {
        let mut tx = self
            .pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await?;
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
        let mut tx = self
            .pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await?;
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
                .fetch_all(&self.pool)
                .await?,
        )
    }

    async fn add_members(
        &self,
        conversation_id: Uuid,
        users: &[Uuid],
        now: Timestamp,
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        if !users_exist(&mut tx, users).await? {
            return Err(StoreError::UnknownUser);
        }
        // Conversation first (lock order), then the member rows.
        sqlx::query("UPDATE conversations SET updated_at = GREATEST(updated_at, $2) WHERE id = $1")
            .bind(conversation_id)
            .bind(now.as_millis())
            .execute(&mut *tx)
            .await?;
        mark_changed(&mut tx, conversation_id).await?;
        insert_members(&mut tx, conversation_id, users, "member", now).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn remove_member(
        &self,
        conversation_id: Uuid,
        user: Uuid,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT id FROM conversations WHERE id = $1 FOR UPDATE")
            .bind(conversation_id)
            .execute(&mut *tx)
            .await?;
        let removed =
            sqlx::query("DELETE FROM members WHERE conversation_id = $1 AND user_id = $2")
                .bind(conversation_id)
                .bind(user)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                > 0;
        if removed {
            sqlx::query(
                "UPDATE conversations SET updated_at = GREATEST(updated_at, $2) WHERE id = $1",
            )
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
        match self.try_append(new).await {
            Err(StoreError::Database(e)) if is_unique_violation(&e) => {
                // The same id was committed by a concurrent send in the meantime.
                let mut conn = self.pool.acquire().await?;
                match message_by_id(&mut conn, new.id).await? {
                    Some(existing) => Ok(same_or_conflict(existing, new)),
                    None => Err(StoreError::Database(e)),
                }
            }
            other => other,
        }
    }

    async fn append_batch(&self, batch: &[NewMessage]) -> StoreResult<Vec<Append>> {
        // A unique violation (the same id committed meanwhile by another node) fails the
        // whole batch; the committer then stores its messages one by one.
        self.try_append_batch(batch).await
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
        .fetch_all(&self.pool)
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
        .fetch_all(&self.pool)
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
        let mut tx = self.pool.begin().await?;
        // Lock order: conversation, then member row (as in append).
        let last_seq: Option<i64> =
            sqlx::query_scalar("SELECT last_seq FROM conversations WHERE id = $1 FOR UPDATE")
                .bind(conversation_id)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(last_seq) = last_seq else {
            return Ok(None);
        };
        let marks: Option<(i64, i64)> = sqlx::query_as(
            "SELECT read_seq, delivered_seq FROM members \
             WHERE conversation_id = $1 AND user_id = $2 FOR UPDATE",
        )
        .bind(conversation_id)
        .bind(user)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((read_seq, delivered_seq)) = marks else {
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
        let mut tx = self
            .pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await?;
        let xmin: i64 =
            sqlx::query_scalar("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
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
        // Every transaction below xmin has finished and is visible to this snapshot.
        let cursor = SyncCursor::after_page(since, xmin, last);
        let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
        let conversations = load(&mut tx, viewer, rows).await?;
        let messages = if messages == 0 || ids.is_empty() {
            Vec::new()
        } else {
            let rows: Vec<MessageRow> = sqlx::query_as(
                "SELECT m.id, m.conversation_id, m.seq, m.sender_id, m.body, m.created_at \
                 FROM unnest($1::uuid[]) AS c(id) CROSS JOIN LATERAL ( \
                   SELECT * FROM messages WHERE conversation_id = c.id \
                   ORDER BY seq DESC LIMIT $2) m \
                 ORDER BY m.conversation_id, m.seq",
            )
            .bind(&ids)
            .bind(i64::from(messages))
            .fetch_all(&mut *tx)
            .await?;
            rows.into_iter().map(Message::from).collect()
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
        let rows: Vec<ContactRow> = sqlx::query_as(
            "SELECT DISTINCT me.user_id, u.id, u.last_seen_at FROM members me \
             JOIN members other ON other.conversation_id = me.conversation_id \
             JOIN users u ON u.id = other.user_id \
             WHERE me.user_id = ANY($1) AND other.user_id <> me.user_id",
        )
        .bind(users)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(Contact::from).collect())
    }

    async fn set_last_seen(&self, user: Uuid, at: Timestamp) -> StoreResult<()> {
        sqlx::query("UPDATE users SET last_seen_at = $2 WHERE id = $1")
            .bind(user)
            .bind(at.as_millis())
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
