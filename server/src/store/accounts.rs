//! [`AccountStore`]: users, their sessions, passwords, email addresses (the mailed
//! one-time tokens that confirm them and reset passwords are `mail_tokens`'s) and
//! closing an account. A session is opened with its first
//! refresh token; each refresh uses a token once and stores the next, and a token that
//! comes back after use ends its session (a stolen copy, unless it is a retry within the
//! grace the SQL allows).

use async_trait::async_trait;
use ferry_proto::{ConversationId, MessageId, SessionId, Timestamp, User, UserId};

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
        session_id: SessionId,
    },
    /// The token had been used before: the session is now revoked.
    Reused {
        /// The revoked session.
        session_id: SessionId,
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
    async fn user(&self, id: UserId) -> StoreResult<Option<User>>;
    /// Users whose username or display name starts with `prefix` (case-insensitive).
    async fn search_users(&self, prefix: &str, limit: u32) -> StoreResult<Vec<User>>;
    /// Opens a session with its first refresh token, from `place` (a network address).
    async fn create_session(
        &self,
        session: &NewSession<'_>,
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
    async fn revoke_session(&self, session_id: SessionId, now: Timestamp) -> StoreResult<()>;
    /// Those of `sessions` that exist and are not revoked (one query for many: a
    /// reconnect storm checks thousands at once, see `crate::coalesce`).
    async fn active_sessions(&self, sessions: &[SessionId]) -> StoreResult<Vec<SessionId>>;
    /// Deletes refresh tokens expired by `now`, and the sessions that ended: revoked, or
    /// with no refresh token left (its access tokens expired long before its last
    /// refresh token did). Returns how many sessions went.
    async fn forget_ended_sessions(&self, now: Timestamp) -> StoreResult<u64>;

    /// What only the user sees of their account, with their password hash.
    async fn account(&self, id: UserId) -> StoreResult<Option<AccountRecord>>;
    /// Renames a user; `None` if there is no such (live) user.
    async fn set_display_name(&self, id: UserId, name: &str) -> StoreResult<Option<User>>;
    /// Stores a new password hash, and voids the reset codes not yet used: one mailed
    /// for the old password must not set another after it changed.
    async fn set_password(
        &self,
        id: UserId,
        password_hash: &str,
        now: Timestamp,
    ) -> StoreResult<()>;
    /// Stores whether missed messages are mailed.
    async fn set_missed_message_mail(&self, id: UserId, on: bool) -> StoreResult<()>;
    /// Sets do-not-disturb until `until` (`None`: off).
    async fn set_do_not_disturb(&self, id: UserId, until: Option<Timestamp>) -> StoreResult<()>;
    /// Sets (unconfirmed) or removes the address; unconfirmed tokens for another address
    /// stop working (marked used at `now`: they still count against the hourly limit).
    async fn set_email(&self, id: UserId, email: Option<&str>, now: Timestamp) -> StoreResult<()>;
    /// The live user a login names: a username, or a confirmed address (any case), with
    /// that address.
    async fn user_by_login(&self, login: &str) -> StoreResult<Option<(User, Option<String>)>>;
    /// Marks `email` confirmed for `user` if it is still their address:
    /// [`StoreError::EmailTaken`] if another account confirmed it first. `false` if the
    /// address changed meanwhile.
    async fn confirm_email(&self, user: UserId, email: &str, now: Timestamp) -> StoreResult<bool>;
    /// The user's sessions that are not ended, newest use first.
    async fn sessions_of(&self, user: UserId) -> StoreResult<Vec<SessionRecord>>;
    /// Records that a session was used now, from `place`.
    async fn touch_session(
        &self,
        session: SessionId,
        now: Timestamp,
        place: Option<&str>,
    ) -> StoreResult<()>;
    /// Ends `user`'s live sessions, all of them or `only` one, `except` one: the ended
    /// ones (whose sockets must close).
    async fn end_sessions(
        &self,
        user: UserId,
        only: Option<SessionId>,
        except: Option<SessionId>,
        now: Timestamp,
    ) -> StoreResult<Vec<SessionId>>;
    /// Closes an account: its sessions end (returned), its password, address and name
    /// are erased (it shows as "Deleted user"), and its username is held until `hold`.
    async fn close_account(
        &self,
        user: UserId,
        now: Timestamp,
        hold: Timestamp,
    ) -> StoreResult<Vec<SessionId>>;
    /// Frees the usernames of deleted accounts held until before `now`.
    async fn free_held_usernames(&self, now: Timestamp) -> StoreResult<u64>;
    /// Deleted accounts whose messages and reactions are not all deleted yet.
    async fn accounts_to_erase(&self) -> StoreResult<Vec<UserId>>;
    /// What a deleted account still has in conversations, at most `limit`: its messages
    /// not deleted yet, then its reactions.
    async fn leftovers(&self, user: UserId, limit: u32) -> StoreResult<Vec<Leftover>>;
    /// Records that nothing of a deleted account is left to delete.
    async fn mark_erased(&self, user: UserId, now: Timestamp) -> StoreResult<()>;
}

/// A message of a deleted account (no `emoji`), or its reaction to a message (`emoji`).
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct Leftover {
    /// Where.
    pub conversation_id: ConversationId,
    /// The message written, or reacted to.
    pub target: MessageId,
    /// The reaction's emoji.
    pub emoji: Option<String>,
}

/// A session about to be opened.
#[derive(Clone, Copy, Debug)]
pub struct NewSession<'a> {
    /// Its id.
    pub id: SessionId,
    /// Whose.
    pub user: UserId,
    /// What the device calls itself.
    pub device_name: Option<&'a str>,
    /// The network address it came from.
    pub place: Option<&'a str>,
}

/// What only the user sees of their account.
#[derive(Clone, Debug)]
pub struct AccountRecord {
    /// The public part.
    pub user: User,
    /// Argon2id PHC string; empty once the account is deleted.
    pub password_hash: String,
    /// The address, confirmed or not.
    pub email: Option<String>,
    /// When it was confirmed.
    pub email_verified_at: Option<Timestamp>,
    /// Administers the server.
    pub admin: bool,
    /// Mail a digest of missed messages.
    pub missed_message_mail: bool,
    /// Do not disturb until then.
    pub dnd_until: Option<Timestamp>,
}

impl AccountRecord {
    /// The account as its owner sees it (`GET /account`, and a data export).
    pub fn view(&self) -> ferry_proto::Account {
        ferry_proto::Account {
            user: self.user.clone(),
            email: self.email.clone(),
            email_verified: self.email_verified_at.is_some(),
            admin: self.admin,
            settings: ferry_proto::AccountSettings {
                missed_message_mail: Some(self.missed_message_mail),
                do_not_disturb_until: Some(self.dnd_until),
            },
        }
    }
}

/// A live session as its user sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRecord {
    /// Its id.
    pub id: SessionId,
    /// What the device calls itself.
    pub device_name: Option<String>,
    /// When it signed in.
    pub created_at: Timestamp,
    /// When it was last used.
    pub last_used_at: Timestamp,
    /// Where from, last.
    pub last_place: Option<String>,
}

impl SessionRecord {
    /// The session as its user sees it; `current` is the one asking.
    pub fn view(self, current: SessionId) -> ferry_proto::SessionInfo {
        ferry_proto::SessionInfo {
            current: self.id == current,
            id: self.id,
            device_name: self.device_name,
            created_at: self.created_at,
            last_used_at: self.last_used_at,
            last_place: self.last_place,
        }
    }
}
