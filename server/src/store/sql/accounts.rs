//! [`AccountStore`] in SQL: accounts, and sessions with their rotating refresh tokens.

use async_trait::async_trait;
use ferry_proto::{SessionId, Timestamp, User, UserId};
use macro_rules_attribute::apply;
use sqlx::QueryBuilder;
use uuid::Uuid;

use super::{Dialect, SqlStore, is_unique_violation, locked};
use crate::store::rows::{AccountRow, LoginByRow, LoginRow, RefreshRow, SessionRow, UserRow};
use crate::store::{
    AccountRecord, AccountStore, Leftover, NewSession, NewUser, RefreshGrant, Rotation,
    SessionRecord, StoreError, StoreResult,
};

/// How long after a refresh token's first use it may come back without counting as a
/// stolen copy, provided the token it was exchanged for was never presented: the answer
/// to a refresh can be lost on a flaky network, and the client then retries with the
/// token it still holds (reuse detection would otherwise sign it out).
const REFRESH_RETRY_GRACE_MS: i64 = 30_000;

/// How long an ended session's row outlives its end: well past the nodes' look at the
/// sessions ended since the last (`crate::background`), which closes their sockets.
const ENDED_SESSIONS_KEPT_MS: i64 = 10 * 60 * 1000;

#[apply(driver_bounds!)]
#[async_trait]
impl<D: Dialect> AccountStore for SqlStore<D> {
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
        let row: Option<LoginRow> = sqlx::query_as(concat!(
            "SELECT ",
            user_columns!(),
            ", password_hash FROM users WHERE username = $1"
        ))
        .bind(username.to_owned())
        .fetch_optional(&self.readers)
        .await?;
        Ok(row.map(|r| (r.user.into(), r.password_hash)))
    }

    async fn user(&self, id: UserId) -> StoreResult<Option<User>> {
        let row: Option<UserRow> = sqlx::query_as(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE id = $1"
        ))
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
        session: &NewSession<'_>,
        grant: &RefreshGrant,
        now: Timestamp,
    ) -> StoreResult<()> {
        let mut tx = self.write().await?;
        // The account's row locked and read again: a suspension or a deletion that
        // committed while the password was being checked refuses the session, and one
        // that comes after waits for it and then ends it.
        let usable: Option<UserId> = sqlx::query_scalar(locked(
            "SELECT u.id FROM users u WHERE u.id = $1 AND u.suspended_at IS NULL \
             AND u.deleted_at IS NULL",
            D::lock("u"),
        ))
        .bind(session.user)
        .fetch_optional(&mut *tx)
        .await?;
        if usable.is_none() {
            return Err(StoreError::AccountClosed);
        }
        sqlx::query(
            "INSERT INTO sessions (id, user_id, device_name, created_at, last_used_at, last_place) \
             VALUES ($1, $2, $3, $4, $4, $5)",
        )
        .bind(session.id)
        .bind(session.user)
        .bind(session.device_name.map(str::to_owned))
        .bind(now.as_millis())
        .bind(session.place.map(str::to_owned))
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, session_id, expires_at) VALUES ($1, $2, $3)",
        )
        .bind(&grant.token_hash)
        .bind(session.id)
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
        let user: UserRow = sqlx::query_as(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE id = $1"
        ))
        .bind(row.user_id)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Rotation::Rotated {
            user: user.into(),
            session_id: row.session_id,
        })
    }

    async fn revoke_session(&self, session_id: SessionId, now: Timestamp) -> StoreResult<()> {
        sqlx::query("UPDATE sessions SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
            .bind(session_id)
            .bind(now.as_millis())
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn active_sessions(&self, sessions: &[SessionId]) -> StoreResult<Vec<SessionId>> {
        if sessions.is_empty() {
            return Ok(Vec::new());
        }
        let mut query = QueryBuilder::new("SELECT id FROM sessions WHERE ");
        D::push_in(&mut query, "id", sessions);
        query.push(" AND revoked_at IS NULL");
        let rows: Vec<(Uuid,)> = query.build_query_as().fetch_all(&self.readers).await?;
        Ok(rows.into_iter().map(|(id,)| SessionId(id)).collect())
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
        Self::forget_ended_devices(&mut tx, now).await?;
        // A session and its first token are stored in one transaction, so a session with
        // no token left has ended rather than not begun. One that ended lately stays a
        // while, for the nodes' look at sessions ended since (`sessions_ended_since`).
        let gone: Vec<(Uuid,)> = sqlx::query_as(
            "DELETE FROM sessions WHERE revoked_at < $1 \
             OR (revoked_at IS NULL \
             AND NOT EXISTS (SELECT 1 FROM refresh_tokens r WHERE r.session_id = sessions.id)) \
             RETURNING id",
        )
        .bind(now.as_millis() - ENDED_SESSIONS_KEPT_MS)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(gone.len() as u64)
    }

    async fn account(&self, id: UserId) -> StoreResult<Option<AccountRecord>> {
        let row: Option<AccountRow> = sqlx::query_as(concat!(
            "SELECT ",
            user_columns!(),
            ", password_hash, email, email_verified_at, admin, missed_message_mail, dnd_until \
             FROM users WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.readers)
        .await?;
        Ok(row.map(AccountRecord::from))
    }

    async fn set_display_name(&self, id: UserId, name: &str) -> StoreResult<Option<User>> {
        let mut tx = self.write().await?;
        let row: Option<UserRow> = sqlx::query_as(concat!(
            "UPDATE users SET display_name = $2 WHERE id = $1 AND deleted_at IS NULL RETURNING ",
            user_columns!()
        ))
        .bind(id)
        .bind(name.to_owned())
        .fetch_optional(&mut *tx)
        .await?;
        if row.is_some() {
            Self::mark_shown_in(&mut tx, id).await?;
        }
        tx.commit().await?;
        Ok(row.map(User::from))
    }

    async fn set_password(
        &self,
        id: UserId,
        password_hash: &str,
        now: Timestamp,
    ) -> StoreResult<()> {
        let mut tx = self.write().await?;
        sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1 AND deleted_at IS NULL")
            .bind(id)
            .bind(password_hash.to_owned())
            .execute(&mut *tx)
            .await?;
        // Marked used rather than deleted: the rows still count against the hourly limit.
        sqlx::query(
            "UPDATE mail_tokens SET used_at = $2 \
             WHERE user_id = $1 AND purpose = 'reset_password' AND used_at IS NULL",
        )
        .bind(id)
        .bind(now.as_millis())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn set_do_not_disturb(&self, id: UserId, until: Option<Timestamp>) -> StoreResult<()> {
        sqlx::query("UPDATE users SET dnd_until = $2 WHERE id = $1")
            .bind(id)
            .bind(until.map(Timestamp::as_millis))
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn set_missed_message_mail(&self, id: UserId, on: bool) -> StoreResult<()> {
        sqlx::query("UPDATE users SET missed_message_mail = $2 WHERE id = $1")
            .bind(id)
            .bind(on)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn set_email(&self, id: UserId, email: Option<&str>, now: Timestamp) -> StoreResult<()> {
        let mut tx = self.write().await?;
        sqlx::query(
            "UPDATE users SET email = $2, email_verified_at = NULL \
             WHERE id = $1 AND deleted_at IS NULL",
        )
        .bind(id)
        .bind(email.map(str::to_owned))
        .execute(&mut *tx)
        .await?;
        // A confirmation mailed for an earlier address confirms nothing now. Marked used
        // rather than deleted: deleted, they would no longer count against the hourly
        // limit, and changing the address again and again would mail without end.
        sqlx::query(
            "UPDATE mail_tokens SET used_at = $2 WHERE user_id = $1 \
             AND purpose = 'verify_email' AND used_at IS NULL",
        )
        .bind(id)
        .bind(now.as_millis())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn user_by_login(&self, login: &str) -> StoreResult<Option<(User, Option<String>)>> {
        let row: Option<LoginByRow> = sqlx::query_as(concat!(
            "SELECT ",
            user_columns!(),
            ", CASE WHEN email_verified_at IS NOT NULL THEN email END AS email FROM users \
             WHERE (username = $1 OR (email_verified_at IS NOT NULL AND lower(email) = lower($2))) \
             AND deleted_at IS NULL AND suspended_at IS NULL"
        ))
        .bind(login.to_ascii_lowercase())
        .bind(login.to_owned())
        .fetch_optional(&self.readers)
        .await?;
        Ok(row.map(|r| (r.user.into(), r.email)))
    }

    async fn confirm_email(&self, user: UserId, email: &str, now: Timestamp) -> StoreResult<bool> {
        let result: Result<Option<(UserId,)>, _> = sqlx::query_as(
            "UPDATE users SET email_verified_at = $3 WHERE id = $1 AND email = $2 \
             AND deleted_at IS NULL RETURNING id",
        )
        .bind(user)
        .bind(email.to_owned())
        .bind(now.as_millis())
        .fetch_optional(&self.writer)
        .await;
        match result {
            Ok(done) => Ok(done.is_some()),
            Err(e) if is_unique_violation(&e) => Err(StoreError::EmailTaken),
            Err(e) => Err(e.into()),
        }
    }

    async fn sessions_of(&self, user: UserId) -> StoreResult<Vec<SessionRecord>> {
        let rows: Vec<SessionRow> = sqlx::query_as(
            "SELECT id, device_name, created_at, last_used_at, last_place FROM sessions \
             WHERE user_id = $1 AND revoked_at IS NULL ORDER BY last_used_at DESC, id",
        )
        .bind(user)
        .fetch_all(&self.readers)
        .await?;
        Ok(rows.into_iter().map(SessionRecord::from).collect())
    }

    async fn touch_session(
        &self,
        session: SessionId,
        now: Timestamp,
        place: Option<&str>,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE sessions SET last_used_at = $2, last_place = COALESCE($3, last_place) \
             WHERE id = $1",
        )
        .bind(session)
        .bind(now.as_millis())
        .bind(place.map(str::to_owned))
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn end_sessions(
        &self,
        user: UserId,
        only: Option<SessionId>,
        except: Option<SessionId>,
        now: Timestamp,
    ) -> StoreResult<Vec<SessionId>> {
        let mut query = QueryBuilder::new("UPDATE sessions SET revoked_at = ");
        query
            .push_bind(now.as_millis())
            .push(" WHERE revoked_at IS NULL AND user_id = ")
            .push_bind(user);
        if let Some(only) = only {
            query.push(" AND id = ").push_bind(only);
        }
        if let Some(except) = except {
            query.push(" AND id <> ").push_bind(except);
        }
        query.push(" RETURNING id");
        let rows: Vec<(SessionId,)> = query.build_query_as().fetch_all(&self.writer).await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    async fn close_account(
        &self,
        user: UserId,
        now: Timestamp,
        hold: Timestamp,
    ) -> StoreResult<Vec<SessionId>> {
        let mut tx = self.write().await?;
        sqlx::query(
            "UPDATE users SET deleted_at = $2, username_held_until = $3, password_hash = '', \
             email = NULL, email_verified_at = NULL, display_name = 'Deleted user', picture = NULL \
             WHERE id = $1 AND deleted_at IS NULL",
        )
        .bind(user)
        .bind(now.as_millis())
        .bind(hold.as_millis())
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM mail_tokens WHERE user_id = $1")
            .bind(user)
            .execute(&mut *tx)
            .await?;
        Self::mark_shown_in(&mut tx, user).await?;
        let ended: Vec<(SessionId,)> = sqlx::query_as(
            "UPDATE sessions SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL \
             RETURNING id",
        )
        .bind(user)
        .bind(now.as_millis())
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(ended.into_iter().map(|(id,)| id).collect())
    }

    async fn free_held_usernames(&self, now: Timestamp) -> StoreResult<u64> {
        let held: Vec<(UserId,)> = sqlx::query_as(
            "SELECT id FROM users WHERE deleted_at IS NOT NULL AND username_held_until < $1",
        )
        .bind(now.as_millis())
        .fetch_all(&self.readers)
        .await?;
        for (id,) in &held {
            // 40 characters: longer than any username registration accepts, so the
            // account keeps a name nobody can take.
            sqlx::query("UPDATE users SET username = $2, username_held_until = NULL WHERE id = $1")
                .bind(*id)
                .bind(format!("deleted-{}", id.as_uuid().simple()))
                .execute(&self.writer)
                .await?;
        }
        Ok(held.len() as u64)
    }

    async fn accounts_to_erase(&self) -> StoreResult<Vec<UserId>> {
        let rows: Vec<(UserId,)> = sqlx::query_as(
            "SELECT id FROM users WHERE deleted_at IS NOT NULL AND erased_at IS NULL",
        )
        .fetch_all(&self.readers)
        .await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    async fn leftovers(&self, user: UserId, limit: u32) -> StoreResult<Vec<Leftover>> {
        // Every conversation, those the user left too: a scan of the messages once per
        // round of a deletion (rare), where an index on senders would cost every message
        // sent.
        let mut rows: Vec<Leftover> = sqlx::query_as(
            "SELECT conversation_id, id AS target, CAST(NULL AS TEXT) AS emoji FROM messages \
             WHERE sender_id = $1 AND change_kind IS NULL AND deleted_at IS NULL \
             ORDER BY conversation_id, seq LIMIT $2",
        )
        .bind(user)
        .bind(i64::from(limit))
        .fetch_all(&self.readers)
        .await?;
        if rows.len() < limit as usize {
            let reactions: Vec<Leftover> = sqlx::query_as(
                "SELECT m.conversation_id, r.message_id AS target, r.emoji FROM reactions r \
                 JOIN messages m ON m.id = r.message_id WHERE r.user_id = $1 \
                 ORDER BY r.message_id, r.emoji LIMIT $2",
            )
            .bind(user)
            .bind(i64::from(limit) - rows.len() as i64)
            .fetch_all(&self.readers)
            .await?;
            rows.extend(reactions);
        }
        Ok(rows)
    }

    async fn mark_erased(&self, user: UserId, now: Timestamp) -> StoreResult<()> {
        sqlx::query("UPDATE users SET erased_at = $2 WHERE id = $1")
            .bind(user)
            .bind(now.as_millis())
            .execute(&self.writer)
            .await?;
        Ok(())
    }
}
