//! The local database encrypted at rest: SQLCipher (through rusqlite's bundled build)
//! encrypts every page of the database and of its write-ahead log with a
//! [`DatabaseKey`], which the token store keeps in the OS keyring beside the account's
//! credentials, as Signal Desktop keeps its database key in the system's safe storage.
//! A database written before encryption is rewritten encrypted, once, when opened.
//!
//! What this protects: a copied data folder, a backup of it, a stolen disk with the user
//! signed out of the OS. What it does not: anything running as the user while the keyring
//! is unlocked can ask the keyring for the key, as it can for the credentials.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use rusqlite::{Connection, ErrorCode};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::{StoreError, StoreResult};

/// The first 16 bytes of every SQLite database that is not encrypted.
const PLAIN_HEADER: &[u8; 16] = b"SQLite format 3\0";

/// The key a device's database is encrypted with: 32 random bytes. `Debug` hides it, and
/// its bytes are wiped when it is dropped, so that freed memory (seen in a crash dump or a
/// swapped page) keeps less of it. SQLCipher wipes its own copies when the database closes;
/// the `PRAGMA key` statement's text, in rusqlite's and SQLite's memory, is not wiped.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct DatabaseKey([u8; 32]);

impl DatabaseKey {
    /// A key of these bytes: for tests and tools. A device's own key comes from
    /// [`Self::generate`].
    pub const fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// A new random key.
    pub fn generate() -> io::Result<Self> {
        // Filled in place: a local array moved into the key would leave a copy behind.
        let mut key = Self([0; 32]);
        getrandom::fill(&mut key.0).map_err(|e| io::Error::other(format!("no randomness: {e}")))?;
        Ok(key)
    }

    /// The key as 64 hexadecimal digits, as the keyring files it (wiped when dropped).
    pub fn to_hex(&self) -> Zeroizing<String> {
        // Through buffers of their final size, each wiped: `hex::encode` grows its string.
        let mut digits = Zeroizing::new([0u8; 64]);
        hex::encode_to_slice(self.0, &mut *digits).expect("two digits a byte");
        let mut hex = Zeroizing::new(String::with_capacity(64));
        hex.extend(digits.iter().map(|&d| char::from(d)));
        hex
    }

    /// A key from [`Self::to_hex`]'s form; `None` for anything else.
    pub fn from_hex(text: &str) -> Option<Self> {
        let mut key = Self([0; 32]);
        hex::decode_to_slice(text, &mut key.0).ok()?;
        Some(key)
    }

    /// The key as SQLCipher takes a raw key (`x'…'`): raw, because a random key needs no
    /// derivation from a passphrase (which would cost 256,000 PBKDF2 rounds per open).
    fn raw(&self) -> Zeroizing<String> {
        // A buffer of its final size: one that grew would leave its first one unwiped.
        let mut raw = Zeroizing::new(String::with_capacity(67));
        raw.push_str("x'");
        raw.push_str(&self.to_hex());
        raw.push('\'');
        raw
    }
}

impl std::fmt::Debug for DatabaseKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DatabaseKey(…)")
    }
}

/// Gives `conn` the key, and checks that it opens the database: SQLCipher reads nothing
/// until a first statement, so a wrong key shows only then.
pub(super) fn unlock(conn: &Connection, key: &DatabaseKey) -> StoreResult<()> {
    // SQLCipher (4.6 on) writes its own warnings to stderr, a wrong key's page checks
    // among them: they would land in the CLI's output before Ferry's own message. Every
    // failure also comes back as an error code, which Ferry reports; the log goes nowhere
    // (a setting of the process, not of this connection).
    conn.pragma_update(None, "cipher_log", "off")?;
    conn.pragma_update(None, "key", key.raw().as_str())?;
    match conn.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(())) {
        Err(e) if e.sqlite_error_code() == Some(ErrorCode::NotADatabase) => {
            Err(StoreError::WrongKey)
        }
        other => Ok(other?),
    }
}

/// Whether the database at `path` exists and is not encrypted (a database from before
/// Ferry encrypted them).
pub fn is_plaintext(path: &Path) -> io::Result<bool> {
    let mut header = [0u8; 16];
    match File::open(path).and_then(|mut f| f.read_exact(&mut header)) {
        Ok(()) => Ok(&header == PLAIN_HEADER),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::UnexpectedEof
            ) =>
        {
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// Rewrites the plaintext database at `path` encrypted with `key`, if it is one. The
/// caller holds the account's database lock, so no other Ferry process is doing the same.
///
/// The encrypted copy is made beside it, in one transaction that keeps other writers out
/// (one snapshot), and renamed over it once complete and on disk, so a crash leaves either
/// database whole. A plaintext database another process still has open is left alone,
/// with an error: what that process wrote after the copy would be lost.
pub(super) fn encrypt_plaintext(path: &Path, key: &DatabaseKey) -> StoreResult<()> {
    if !is_plaintext(path)? {
        return Ok(());
    }
    let copy = with_suffix(path, ".encrypting");
    let copy_name = copy
        .to_str()
        .ok_or_else(|| io::Error::other("the data folder's path is not UTF-8"))?;
    remove_if_there(&copy)?;
    export(&Connection::open(path)?, copy_name, &key.raw())?;
    // The last connection to close removes the log and its index: either still there
    // means another process has the database open.
    let (log, index) = (with_suffix(path, "-wal"), with_suffix(path, "-shm"));
    if log.exists() || index.exists() {
        remove_if_there(&copy)?;
        return Err(StoreError::InUse);
    }
    // Windows flushes only a file opened for writing.
    fs::OpenOptions::new().write(true).open(&copy)?.sync_all()?;
    fs::rename(&copy, path)?;
    if let Some(dir) = path.parent() {
        // The rename is durable once the folder is; not every platform can sync one.
        let _ = File::open(dir).and_then(|d| d.sync_all());
    }
    tracing::info!(database = %path.display(), "the local database is now encrypted at rest");
    Ok(())
}

/// Copies the database `conn` has open into a new one at `to`, under `key` (SQLCipher's
/// form; `''` for none), schema version included, in one transaction that keeps other
/// writers out (one snapshot).
fn export(conn: &Connection, to: &str, key: &str) -> rusqlite::Result<()> {
    conn.execute("ATTACH DATABASE ?1 AS exported KEY ?2", (to, key))?;
    conn.execute_batch("BEGIN IMMEDIATE")?;
    conn.query_row("SELECT sqlcipher_export('exported')", [], |_| Ok(()))?;
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    conn.pragma_update(Some("exported"), "user_version", version)?;
    conn.execute_batch("COMMIT")?;
    conn.execute("DETACH DATABASE exported", []).map(drop)
}

/// Moves a database no key opens out of the way, keeping it (the key is gone from the
/// keyring): a new database must start where it was. Its log goes first, so that a crash
/// half way never leaves an old log beside the new database, which would read it as its
/// own; the log's index is rebuilt from the log, so it is removed.
pub(crate) fn set_aside(path: &Path) -> io::Result<PathBuf> {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let aside = with_suffix(path, &format!(".unreadable-{stamp}"));
    let log = with_suffix(path, "-wal");
    if log.exists() {
        fs::rename(&log, with_suffix(&aside, "-wal"))?;
    }
    remove_if_there(&with_suffix(path, "-shm"))?;
    fs::rename(path, &aside)?;
    Ok(aside)
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn remove_if_there(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use ferry_proto::{ConversationId, MessageId, Timestamp, UserId};

    use super::*;
    use crate::store::LocalStore;

    const TEXT: &str = "a plaintext secret 12345";

    /// A database as Ferry wrote them before encryption: a store holding [`TEXT`],
    /// exported to a plaintext file at `to`, in WAL mode as the store keeps it.
    fn plaintext_database(to: &Path) {
        let dir = tempfile::tempdir().expect("dir");
        let (from, key) = (dir.path().join("from.db"), DatabaseKey::new([3; 32]));
        let store = LocalStore::open(&from, &key).expect("a store");
        store
            .compose(
                UserId::from_u128(1),
                MessageId::from_u128(2),
                ConversationId::from_u128(3),
                TEXT,
                None,
                Timestamp::now(),
            )
            .expect("compose");
        drop(store);
        let conn = Connection::open(&from).expect("open");
        unlock(&conn, &key).expect("unlock");
        export(&conn, &to.to_string_lossy(), "").expect("export");
        drop(conn);
        let plain = Connection::open(to).expect("open the plaintext copy");
        plain
            .pragma_update(None, "journal_mode", "WAL")
            .expect("WAL");
    }

    #[test]
    fn a_database_from_before_encryption_is_rewritten_encrypted_whole() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("ferry.db");
        plaintext_database(&path);
        assert!(is_plaintext(&path).expect("header"));
        assert!(ferry_testkit::holds(&fs::read(&path).expect("read"), TEXT));

        let key = DatabaseKey::generate().expect("a key");
        let store = LocalStore::open(&path, &key).expect("open and encrypt");
        let hits = store.search("secret", 10).expect("search");
        assert_eq!(hits.len(), 1, "the message came along: {hits:?}");
        drop(store);
        assert!(!is_plaintext(&path).expect("header"));
        assert!(!ferry_testkit::holds(&fs::read(&path).expect("read"), TEXT));
        assert!(!with_suffix(&path, ".encrypting").exists());
        // Opened again, it is the encrypted database, as it was.
        let store = LocalStore::open(&path, &key).expect("open again");
        assert_eq!(store.search("secret", 10).expect("search").len(), 1);
    }

    #[test]
    fn a_plaintext_database_a_crash_left_with_its_log_comes_across_with_the_log() {
        const LOGGED: &str = "written to the log only 55555";
        let dir = tempfile::tempdir().expect("dir");
        let first = dir.path().join("first.db");
        plaintext_database(&first);
        let writer = Connection::open(&first).expect("open");
        writer
            .execute("UPDATE messages SET body = ?1", [LOGGED])
            .expect("write");
        // The files as a crash leaves them: the change is in the log, not in the file.
        let path = dir.path().join("ferry.db");
        for suffix in ["", "-wal", "-shm"] {
            fs::copy(with_suffix(&first, suffix), with_suffix(&path, suffix)).expect("copy");
        }
        drop(writer);
        assert!(!ferry_testkit::holds(
            &fs::read(&path).expect("read"),
            LOGGED
        ));

        let store = LocalStore::open(&path, &DatabaseKey::new([5; 32])).expect("open");
        let body: String = store
            .read(|tx| tx.query_row("SELECT body FROM messages", [], |r| r.get(0)))
            .expect("read");
        assert_eq!(body, LOGGED);
        drop(store);
        for suffix in ["", "-wal", "-shm"] {
            let file = with_suffix(&path, suffix);
            if let Ok(bytes) = fs::read(&file) {
                assert!(!ferry_testkit::holds(&bytes, LOGGED), "{}", file.display());
            }
        }
    }

    #[test]
    fn a_plaintext_database_open_elsewhere_is_left_as_it_is() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("ferry.db");
        plaintext_database(&path);
        let elsewhere = Connection::open(&path).expect("another process's connection");
        elsewhere
            .query_row("SELECT count(*) FROM messages", [], |r| r.get::<_, i64>(0))
            .expect("read");

        let key = DatabaseKey::generate().expect("a key");
        assert!(matches!(
            LocalStore::open(&path, &key),
            Err(StoreError::InUse)
        ));
        assert!(is_plaintext(&path).expect("header"));
        assert!(!with_suffix(&path, ".encrypting").exists());
        drop(elsewhere);
        assert!(LocalStore::open(&path, &key).is_ok());
    }

    #[test]
    fn a_key_is_filed_and_read_back_as_hex_and_never_shown() {
        let key = DatabaseKey::generate().expect("a key");
        assert_eq!(DatabaseKey::from_hex(&key.to_hex()), Some(key.clone()));
        assert_eq!(DatabaseKey::from_hex("not hex"), None);
        // The form keyrings already hold: lowercase, and SQLCipher's raw key around it.
        let known = DatabaseKey::new([0xab; 32]);
        assert_eq!(*known.to_hex(), "ab".repeat(32));
        assert_eq!(*known.raw(), format!("x'{}'", "ab".repeat(32)));
        assert_eq!(format!("{key:?}"), "DatabaseKey(…)");
    }
}
