//! [`LocalStore`]: the device's SQLite database, the single source of truth for the UI.
//!
//! One writing connection (every change is one `IMMEDIATE` transaction) and one reading
//! connection, both in WAL mode, so reads never wait for a write. Commits are
//! `synchronous=FULL`: once `send` returns, the message and its outbox entry survive a
//! crash or a power cut. The file is encrypted at rest ([`at_rest`]: SQLCipher, with a key
//! the OS keyring keeps). Tokens are never stored here (see `tokens`).
//!
//! The queries live by topic: [`conversations`] (as the server describes them), [`list`]
//! (the conversation list), [`messages`], [`compose`], [`outbox`], [`changes`] (edits, deletions, reactions), [`files`] (and the keys of
//! encrypted ones, [`file_keys`]) and [`search`], and
//! they all read messages through one read model, [`read`]. Writes that take in messages
//! report what they changed as [`Changes`], which the client announces. UUIDs are stored as
//! hyphenated text and times as Unix milliseconds.

mod at_rest;
mod changed;
mod changes;
mod compose;
mod conversations;
mod devices;
mod file_keys;
mod files;
mod list;
mod messages;
mod mls;
mod outbox;
mod quiet;
mod read;
mod schema;
mod search;
mod transfer;

use std::path::Path;
use std::str::FromStr;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, Row, Transaction, TransactionBehavior};

pub(crate) use at_rest::set_aside;
pub use at_rest::{DatabaseKey, is_plaintext};
pub use changed::{Changes, Shown};
pub use changes::ChangeRefusal;
pub use conversations::{MembersApplied, MembersChange};
pub use file_keys::{FileSecret, SealedUpload};
pub use files::{PendingUpload, PreparedFile, sealed_path};
pub use list::{ConversationSummary, ListPosition};
pub use messages::Confirmation;
pub use mls::MlsDevice;
pub use outbox::{Discard, Failed, OutboxItem};
pub(crate) use read::file_key;
pub use read::{LocalAttachment, LocalMessage, MemberView, MessageStatus, Quote, Reaction};
pub use search::{HIGHLIGHT_END, HIGHLIGHT_START, SearchHit};
pub use transfer::{HistoryAsk, HistoryRequest, OpenedEntry, OpenedFile, StoredHistoryRequest};

/// A failure of the local database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed.
    #[error("local database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The database was written by a newer version of Ferry.
    #[error("the local database is from a newer Ferry (schema {0})")]
    TooNew(i64),
    /// The key does not open the database.
    #[error("the local database cannot be read with this device's key")]
    WrongKey,
    /// A database from before encryption is open in another process, so it cannot be
    /// rewritten encrypted now.
    #[error("the local database is open in another Ferry: close it, then try again")]
    InUse,
    /// A file operation around the database failed.
    #[error("local database file: {0}")]
    File(#[from] std::io::Error),
}

/// Shorthand for store results.
pub type StoreResult<T> = Result<T, StoreError>;

/// The account a database belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountRecord {
    /// The server, as given at sign-in.
    pub server_url: String,
    /// Who.
    pub user: ferry_proto::User,
}

/// The device's database.
pub struct LocalStore {
    writer: Mutex<Connection>,
    reader: Mutex<Connection>,
}

fn lock(m: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    // A panic inside a closure leaves at most an uncommitted transaction, which rusqlite
    // rolls back on drop, so a poisoned connection is still consistent.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl LocalStore {
    /// Opens (creating and migrating if needed) the database at `path`, encrypted with
    /// `key`; one written before encryption is rewritten encrypted first.
    pub fn open(path: &Path, key: &DatabaseKey) -> StoreResult<Self> {
        at_rest::encrypt_plaintext(path, key)?;
        Self::open_with(path, |conn| at_rest::unlock(conn, key))
    }

    /// [`Self::open`] without encryption at rest: only for the benchmark that measures
    /// what encryption costs. SQLCipher with no key is plain SQLite.
    #[cfg(feature = "unencrypted-store-for-benchmarks")]
    pub fn open_unencrypted(path: &Path) -> StoreResult<Self> {
        Self::open_with(path, |_| Ok(()))
    }

    /// Opens the writing and the reading connection, each given its key by `unlock` before
    /// anything else is read.
    fn open_with(
        path: &Path,
        unlock: impl Fn(&Connection) -> StoreResult<()>,
    ) -> StoreResult<Self> {
        let mut writer = Connection::open(path)?;
        unlock(&writer)?;
        writer.busy_timeout(Duration::from_secs(10))?;
        writer.pragma_update(None, "journal_mode", "WAL")?;
        writer.pragma_update(None, "synchronous", "FULL")?;
        writer.pragma_update(None, "foreign_keys", "ON")?;
        migrate(&mut writer)?;
        let reader = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        unlock(&reader)?;
        reader.busy_timeout(Duration::from_secs(10))?;
        Ok(Self {
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
        })
    }

    /// Runs `f` in one write transaction.
    fn write<T>(&self, f: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<T>) -> StoreResult<T> {
        let mut conn = lock(&self.writer);
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let value = f(&tx)?;
        tx.commit()?;
        Ok(value)
    }

    /// Runs `f` on the reading connection, in one read transaction (one snapshot).
    fn read<T>(&self, f: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<T>) -> StoreResult<T> {
        let mut conn = lock(&self.reader);
        let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
        let value = f(&tx)?;
        tx.commit()?;
        Ok(value)
    }

    /// Records which account this database belongs to.
    pub fn set_account(&self, account: &AccountRecord) -> StoreResult<()> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO account (only_row, server_url, user_id, username, display_name) \
                 VALUES (1, ?1, ?2, ?3, ?4) ON CONFLICT (only_row) DO UPDATE SET \
                 server_url = excluded.server_url, user_id = excluded.user_id, \
                 username = excluded.username, display_name = excluded.display_name",
                (
                    &account.server_url,
                    account.user.id.to_string(),
                    &account.user.username,
                    &account.user.display_name,
                ),
            )?;
            conversations::upsert_user(tx, &account.user)?;
            Ok(())
        })
    }

    /// The account of this database, if one signed in.
    pub fn account(&self) -> StoreResult<Option<AccountRecord>> {
        self.read(|tx| {
            let row = tx.query_row(
                "SELECT a.server_url, a.user_id, a.username, a.display_name, \
                 COALESCE(u.created_at, 0), u.picture \
                 FROM account a LEFT JOIN users u ON u.id = a.user_id",
                [],
                |r| {
                    Ok(AccountRecord {
                        server_url: r.get(0)?,
                        user: ferry_proto::User {
                            id: id_at(r, 1)?,
                            username: r.get(2)?,
                            display_name: r.get(3)?,
                            created_at: ferry_proto::Timestamp::from_millis(r.get(4)?),
                            status: None,
                            picture: r.get::<_, Option<String>>(5)?.and_then(|p| p.parse().ok()),
                        },
                    })
                },
            );
            match row {
                Ok(a) => Ok(Some(a)),
                Err(rusqlite::Error::QueryReturnedNoRows) => Ok(None),
                Err(e) => Err(e),
            }
        })
    }

    /// The `/sync` cursor to resume from.
    pub fn sync_cursor(&self) -> StoreResult<Option<String>> {
        self.read(|tx| {
            tx.query_row("SELECT sync_cursor FROM account", [], |r| r.get(0))
                .or_else(|e| match e {
                    rusqlite::Error::QueryReturnedNoRows => Ok(None),
                    e => Err(e),
                })
        })
    }

    /// Saves the `/sync` cursor, once everything before it is applied.
    pub fn set_sync_cursor(&self, cursor: &str) -> StoreResult<()> {
        self.write(|tx| {
            tx.execute("UPDATE account SET sync_cursor = ?1", [cursor])
                .map(drop)
        })
    }
}

fn migrate(conn: &mut Connection) -> StoreResult<()> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let known = schema::MIGRATIONS.len() as i64;
    if version > known {
        return Err(StoreError::TooNew(version));
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    for (n, sql) in schema::MIGRATIONS.iter().enumerate().skip(version as usize) {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", n as i64 + 1)?;
    }
    tx.commit()?;
    Ok(())
}

/// Reads an id (a typed id, or a plain UUID) stored as text.
pub(crate) fn id_at<T: FromStr<Err = uuid::Error>>(
    row: &Row<'_>,
    idx: usize,
) -> rusqlite::Result<T> {
    let text: String = row.get(idx)?;
    text.parse().map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(e))
    })
}
