//! [`AccountStore`]: users and their sessions. A session is opened with its first
//! refresh token; each refresh uses a token once and stores the next, and a token that
//! comes back after use ends its session (a stolen copy, unless it is a retry within the
//! grace the SQL allows).

use async_trait::async_trait;
use ferry_proto::{Timestamp, User};
use uuid::Uuid;

use super::StoreResult;

/// A user about to be created.
#[derive(Clone, Debug)]
pub struct NewUser {
    /// The public part.
    pub user: User,
    /// Argon2id PHC string.
    pub password_hash: String,
}

/// A refresh token as stored: its hash and expiry.
#[derive(Clone, Debug)]
pub struct RefreshGrant {
    /// SHA-256 of the token; the token itself is never stored.
    pub token_hash: Vec<u8>,
    /// When it stops working.
    pub expires_at: Timestamp,
}

/// What presenting a refresh token did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rotation {
    /// The token was valid and is now used; the new grant is stored.
    Rotated {
        /// Whose session.
        user: User,
        /// The session it belongs to.
        session_id: Uuid,
    },
    /// The token had been used before: the session is now revoked.
    Reused {
        /// The revoked session.
        session_id: Uuid,
    },
    /// Unknown, expired, or its session is revoked.
    Invalid,
}

/// The accounts' and sessions' part of the store.
#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Creates an account; [`StoreError::UsernameTaken`] if the name is in use.
    async fn create_user(&self, new: &NewUser) -> StoreResult<()>;
    /// The user and password hash for a (normalised) username.
    async fn login_record(&self, username: &str) -> StoreResult<Option<(User, String)>>;
    /// One user.
    async fn user(&self, id: Uuid) -> StoreResult<Option<User>>;
    /// Users whose username or display name starts with `prefix` (case-insensitive).
    async fn search_users(&self, prefix: &str, limit: u32) -> StoreResult<Vec<User>>;
    /// Opens a session with its first refresh token.
    async fn create_session(
        &self,
        session_id: Uuid,
        user_id: Uuid,
        device_name: Option<&str>,
        grant: &RefreshGrant,
        now: Timestamp,
    ) -> StoreResult<()>;
    /// Uses a refresh token once, storing `next` in its place.
    async fn rotate_refresh(
        &self,
        presented_hash: &[u8],
        next: &RefreshGrant,
        now: Timestamp,
    ) -> StoreResult<Rotation>;
    /// Ends a session: its refresh tokens and access tokens stop working.
    async fn revoke_session(&self, session_id: Uuid, now: Timestamp) -> StoreResult<()>;
    /// Those of `sessions` that exist and are not revoked (one query for many: a
    /// reconnect storm checks thousands at once, see `crate::coalesce`).
    async fn active_sessions(&self, sessions: &[Uuid]) -> StoreResult<Vec<Uuid>>;
    /// Deletes refresh tokens expired by `now`, and the sessions that ended: revoked, or
    /// with no refresh token left (its access tokens expired long before its last
    /// refresh token did). Returns how many sessions went.
    async fn forget_ended_sessions(&self, now: Timestamp) -> StoreResult<u64>;
}
