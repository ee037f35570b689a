//! Persistence: the [`Store`] trait, made of one trait per domain (accounts, operators,
//! conversations, missed-message digests, data exports, safety, messages, MLS
//! delivery, notes between a user's devices, profile pictures, presence, retention,
//! files), and its one implementation (`sql::SqlStore`), generic over a dialect: Postgres for production
//! (`postgres`) and SQLite for a server that runs with nothing installed (`sqlite`). Both
//! pass one conformance suite (`server/tests/it/store.rs`); `lib.rs`'s `open_store` picks one.
//!
//! Every method is one transaction. The guarantees of the protocol that live here:
//! a message id is stored at most once, seqs are allocated inside the inserting
//! transaction under the conversation's lock (so commit order is seq order), and
//! watermarks only move forward.

use async_trait::async_trait;

#[macro_use]
mod rows;
mod accounts;
mod admin;
mod conversations;
mod digest;
mod export;
mod mail_tokens;
mod messages;
pub mod mls;
pub mod notes;
mod pictures;
pub(crate) mod postgres;
mod presence;
mod retention;
mod safety;
mod sql;
pub(crate) mod sqlite;
pub mod uploads;

pub use accounts::{
    AccountRecord, AccountStore, Leftover, NewSession, NewUser, RefreshGrant, Rotation,
    SessionRecord,
};
pub use admin::{AdminStore, Audit, Decided, ReportRecord};
pub use conversations::{ConversationStore, Seat, SyncBatch, direct_key};
pub use digest::{DigestDue, DigestStore, MissedMessage};
pub use export::{ExportStore, OwnFile};
pub use mail_tokens::{MailPurpose, MailToken, MailTokenStore};
pub use messages::{
    Append, Authority, Latest, Mark, MessageStore, NewMessage, Refusal, Sealed, Watermarks,
};
use messages::{advanced, same_or_conflict, stored};
pub(crate) use messages::{check_send, sealing_refusal};
pub use mls::MlsStore;
pub use notes::NoteStore;
pub use pictures::PictureStore;
pub use presence::{Contact, PresenceStore};
pub use retention::{RetentionStore, Trimmed};
pub use rows::{ActivityCursor, SyncCursor, UploadRow, hide_receipts};
pub use safety::{Block, NewReport, SafetyStore};
pub use uploads::FileStore;

/// A failure of the database layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The username is already registered.
    #[error("username taken")]
    UsernameTaken,
    /// A user named in the request does not exist.
    #[error("unknown user")]
    UnknownUser,
    /// The database failed; the cause is logged, never shown to clients.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// Migrations failed at start-up.
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored value could not be read back (a bug or a hand-edited database).
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// One of the users blocked the other: no new conversation between them.
    #[error("blocked")]
    Blocked,
    /// Another account already confirmed this email address.
    #[error("email taken")]
    EmailTaken,
    /// The account was suspended or deleted: it gets no new session.
    #[error("account suspended or deleted")]
    AccountClosed,
}

/// Longest wait for a pooled connection: well under the 15 s request timeout, so that a
/// saturated pool answers `unavailable` (retry) while the request can still say so,
/// and a socket's frame handler never waits for the database without end (sqlx's
/// default is 30 s).
pub const POOL_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Longest a Postgres statement may run, lock waits included: a socket handler's query
/// stuck behind a lock gives up with an error instead of holding its frame for ever.
/// (SQLite's lock waits are bounded by its busy timeout.)
pub const STATEMENT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

impl StoreError {
    /// Postgres cancelled a statement that ran past [`STATEMENT_TIMEOUT`] (mostly a wait
    /// for a lock): the database is overloaded, and trying again later may work.
    pub fn timed_out(&self) -> bool {
        matches!(self, Self::Database(sqlx::Error::Database(e)) if e.code().as_deref() == Some("57014"))
    }
}

/// Shorthand for store results.
pub type StoreResult<T> = Result<T, StoreError>;

/// The server's database: every domain's part, and whether it answers. Both
/// implementations must behave identically; the conformance suite is the definition.
#[async_trait]
pub trait Store:
    AccountStore
    + AdminStore
    + ConversationStore
    + DigestStore
    + ExportStore
    + MailTokenStore
    + SafetyStore
    + MessageStore
    + MlsStore
    + NoteStore
    + PictureStore
    + PresenceStore
    + RetentionStore
    + FileStore
    + Send
    + Sync
    + 'static
{
    /// The database answers (for `/readyz`).
    async fn ping(&self) -> StoreResult<()>;

    /// Closes every connection, waiting for each to end. A process must do this before
    /// it exits: SQLite's connections each run on a thread of their own, and one still
    /// closing while the process exits can crash it (the likely cause of a segfault in
    /// such a thread that failed a `ferry-server admin` command once; not reproduced).
    async fn close(&self);
}
