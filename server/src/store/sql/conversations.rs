//! [`ConversationStore`] in SQL: direct conversations and groups, their members, and the
//! pages of changed conversations for `/sync`.

use ferry_proto::{
    Conversation, ConversationId, MemberState, NotifyLevel, Role, Timestamp, UserId,
};

use async_trait::async_trait;
use macro_rules_attribute::apply;
use sqlx::{AssertSqlSafe, QueryBuilder};
use std::collections::HashSet;
use uuid::Uuid;

use super::{Conn, Dialect, SqlStore, locked};
use crate::store::rows::{ConversationRow, MemberRow, assemble, member_state};
use crate::store::{
    ActivityCursor, ConversationStore, Latest, Seat, StoreError, StoreResult, SyncBatch,
    SyncCursor, direct_key,
};

#[apply(driver_bounds!)]
impl<D: Dialect> SqlStore<D> {
    /// Loads members and last messages of `convs` and assembles what `viewer` sees.
    pub(super) async fn load(
        conn: &mut Conn<D>,
        viewer: UserId,
        convs: Vec<ConversationRow>,
    ) -> StoreResult<Vec<Conversation>> {
        if convs.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<ConversationId> = convs.iter().map(|c| c.id).collect();
        let mut members = QueryBuilder::new(format!(
            "SELECT {} FROM {} WHERE ",
            member_columns!(),
            D::MEMBERS_WITH_USERS
        ));
        D::push_in(&mut members, "m.conversation_id", &ids);
        members.push(" ORDER BY m.joined_at, u.username");
        let members: Vec<MemberRow> = members.build_query_as().fetch_all(&mut *conn).await?;
        let last = D::last_messages(&mut *conn, &ids).await?;
        // Whoever the viewer blocked or was blocked by shares no watermarks with them,
        // in groups too.
        let apart: Vec<(UserId, UserId)> = sqlx::query_as(
            "SELECT blocker_id, blocked_id FROM blocks WHERE blocker_id = $1 OR blocked_id = $1",
        )
        .bind(viewer)
        .fetch_all(&mut *conn)
        .await?;
        let apart: HashSet<UserId> = apart
            .into_iter()
            .map(|(a, b)| if a == viewer { b } else { a })
            .collect();
        assemble(viewer, convs, members, last, &apart)
    }

    pub(super) async fn users_exist(conn: &mut Conn<D>, users: &[UserId]) -> StoreResult<bool> {
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
    pub(super) async fn lock_pair(conn: &mut Conn<D>, key: &str) -> StoreResult<()> {
        if let Some(lock) = D::LOCK_PAIR {
            sqlx::query(lock)
                .bind(key.to_owned())
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }

    /// Whether `user` blocked any of `others` or was blocked by one.
    pub(super) async fn any_block(
        conn: &mut Conn<D>,
        user: UserId,
        others: &[UserId],
    ) -> StoreResult<bool> {
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
    pub(super) async fn insert_members(
        conn: &mut Conn<D>,
        conversation_id: ConversationId,
        users: &[UserId],
        role: Role,
        inviter: Option<UserId>,
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
            .push_bind(role.as_str().to_owned())
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
    pub(super) async fn seats_in(
        conn: &mut Conn<D>,
        conversation_id: ConversationId,
    ) -> StoreResult<Vec<Seat>> {
        let rows: Vec<(UserId, String, i64)> = sqlx::query_as(
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
}

#[apply(driver_bounds!)]
#[async_trait]
impl<D: Dialect> ConversationStore for SqlStore<D> {
    async fn direct_conversation(
        &self,
        me: UserId,
        other: UserId,
        new_id: ConversationId,
        now: Timestamp,
    ) -> StoreResult<(ConversationId, bool)> {
        let key = direct_key(me, other);
        let mut tx = self.write().await?;
        if !Self::users_exist(&mut tx, &[other]).await? {
            return Err(StoreError::UnknownUser);
        }
        // A block between the two commits before this or sees what this made.
        Self::lock_pair(&mut tx, &key).await?;
        let existing: Option<ConversationId> =
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
            let id: ConversationId =
                sqlx::query_scalar("SELECT id FROM conversations WHERE direct_key = $1")
                    .bind(&key)
                    .fetch_one(&mut *tx)
                    .await?;
            return Ok((id, false));
        }
        Self::insert_members(&mut tx, new_id, &[me], Role::Member, None, now).await?;
        Self::insert_members(&mut tx, new_id, &[other], Role::Member, Some(me), now).await?;
        tx.commit().await?;
        Ok((new_id, true))
    }

    async fn create_group(
        &self,
        id: ConversationId,
        owner: UserId,
        title: &str,
        members: &[UserId],
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
        Self::insert_members(&mut tx, id, &[owner], Role::Owner, None, now).await?;
        Self::insert_members(&mut tx, id, members, Role::Member, Some(owner), now).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn conversation(
        &self,
        viewer: UserId,
        id: ConversationId,
    ) -> StoreResult<Option<Conversation>> {
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
        viewer: UserId,
        before: Option<ActivityCursor>,
        limit: u32,
    ) -> StoreResult<Vec<Conversation>> {
        let before = before.unwrap_or(ActivityCursor {
            updated_at: i64::MAX,
            id: ConversationId(Uuid::max()),
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

    async fn seats(&self, conversation_id: ConversationId) -> StoreResult<Vec<Seat>> {
        let mut conn = self.readers.acquire().await?;
        Self::seats_in(&mut conn, conversation_id).await
    }

    async fn add_members(
        &self,
        conversation_id: ConversationId,
        by: UserId,
        users: &[UserId],
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
        Self::insert_members(&mut tx, conversation_id, users, Role::Member, Some(by), now).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn remove_member(
        &self,
        conversation_id: ConversationId,
        user: UserId,
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
        let removed: Option<UserId> = sqlx::query_scalar(
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

    async fn accept(
        &self,
        conversation_id: ConversationId,
        user: UserId,
    ) -> StoreResult<Option<MemberState>> {
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

    async fn set_notifications(
        &self,
        conversation_id: ConversationId,
        user: UserId,
        level: NotifyLevel,
    ) -> StoreResult<bool> {
        let mut tx = self.write().await?;
        // Their own change, like a request's watermarks: only their devices see it in
        // `/sync`, and the others' copies of the conversation do not move.
        Self::advance_clock(&mut tx).await?;
        let changed: Option<UserId> = sqlx::query_scalar(AssertSqlSafe(format!(
            "UPDATE members SET notify = $3, own_version = {} \
             WHERE conversation_id = $1 AND user_id = $2 RETURNING user_id",
            D::CHANGE_VERSION
        )))
        .bind(conversation_id)
        .bind(user)
        .bind(level.as_str().to_owned())
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(changed.is_some())
    }

    async fn sync(
        &self,
        viewer: UserId,
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
        let ids: Vec<ConversationId> = rows.iter().map(|r| r.id).collect();
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
}
