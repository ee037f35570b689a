//! [`MailTokenStore`]: the one-time tokens the server mails (to confirm an address, set
//! a new password, turn missed-message mail off), kept hashed: made, counted for the
//! hourly limits, used once, and forgotten once expired.

use async_trait::async_trait;
use ferry_proto::{Timestamp, UserId};

use super::StoreResult;

/// The mailed tokens' part of the store.
#[async_trait]
pub trait MailTokenStore: Send + Sync {
    /// Stores a mailed one-time token (hashed).
    async fn create_mail_token(&self, token: &MailToken) -> StoreResult<()>;
    /// How many tokens of `purpose` were made for `user` since `since`.
    async fn mail_tokens_since(
        &self,
        user: UserId,
        purpose: MailPurpose,
        since: Timestamp,
    ) -> StoreResult<u64>;
    /// Uses a token once: its user and address if it is known, of `purpose`, unused and
    /// not expired (it is used from then on); `None` otherwise.
    async fn use_mail_token(
        &self,
        hash: &[u8],
        purpose: MailPurpose,
        now: Timestamp,
    ) -> StoreResult<Option<(UserId, Option<String>)>>;
    /// Forgets the mailed tokens that expired before `before`: how many. (Callers keep
    /// the last hour's, which the hourly mail limits count.)
    async fn forget_spent_mail_tokens(&self, before: Timestamp) -> StoreResult<u64>;
}

/// What a mailed token is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MailPurpose {
    /// Confirms an address.
    VerifyEmail,
    /// Sets a new password.
    ResetPassword,
    /// Turns missed-message mail off (the link in every digest).
    Unsubscribe,
}

impl MailPurpose {
    /// Its name in the databases.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::VerifyEmail => "verify_email",
            Self::ResetPassword => "reset_password",
            Self::Unsubscribe => "unsubscribe",
        }
    }
}

/// A one-time token about to be mailed.
#[derive(Clone, Debug)]
pub struct MailToken {
    /// SHA-256 of the token; the token itself goes only into the mail.
    pub hash: Vec<u8>,
    /// Whose.
    pub user: UserId,
    /// For what.
    pub purpose: MailPurpose,
    /// The address a confirmation is for.
    pub email: Option<String>,
    /// When it was made.
    pub created_at: Timestamp,
    /// When it stops working.
    pub expires_at: Timestamp,
}
