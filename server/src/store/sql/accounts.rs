//! [`AccountStore`] in SQL: accounts, and sessions with their rotating refresh tokens.

use async_trait::async_trait;
use ferry_proto::{Timestamp, User};
use macro_rules_attribute::apply;
use sqlx::QueryBuilder;
use uuid::Uuid;

use super::{Dialect, SqlStore, is_unique_violation, locked};
use crate::store::rows::{LoginRow, RefreshRow, UserRow};
use crate::store::{AccountStore, NewUser, RefreshGrant, Rotation, StoreError, StoreResult};

/// How long after a refresh token's first use it may come back without counting as a
/// stolen copy, provided the token it was exchanged for was never presented: the answer
/// to a refresh can be lost on a flaky network, and the client then retries with the
/// token it still holds (reuse detection would otherwise sign it out).
const REFRESH_RETRY_GRACE_MS: i64 = 30_000;

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
}
