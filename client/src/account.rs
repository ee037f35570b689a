//! Where an account's files live on this device: one folder per account under the data
//! directory, named for the server and the user ([`AccountDir`]), holding the account's
//! database and the lock its processes refresh tokens under. The file `current-account`
//! in the data directory names the folder to resume; signing out renames it to
//! `last-account` (what a sign-in form proposes) and keeps the folder, so signing in
//! again finds the history. Credentials are filed in the token store under
//! [`account_key`], never in these folders, and so is the key the folder's database is
//! encrypted with (under the folder's name).

use std::io;
use std::path::{Path, PathBuf};

use ferry_proto::UserId;

use crate::error::ClientError;
use crate::store::{DatabaseKey, LocalStore, StoreError, is_plaintext, set_aside};
use crate::tokens::TokenStore;

/// The file in the data directory that names the account to resume.
const CURRENT: &str = "current-account";
/// The file that names the account signed out of last (not resumed; proposed).
const LAST: &str = "last-account";
/// The account's database, in its folder.
const DATABASE: &str = "ferry.db";
/// The lock that processes of one account refresh tokens under (see `session`).
const REFRESH_LOCK: &str = "refresh.lock";
/// The lock that processes of one account open its database under (see `open_store`).
const DATABASE_LOCK: &str = "database.lock";

/// The token store's key for an account: unique per server and user.
pub(crate) fn account_key(server_url: &str, user: UserId) -> String {
    format!("{server_url}#{user}")
}

/// One account's folder under the data directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AccountDir {
    /// The folder's name, as `current-account` records it.
    name: String,
    path: PathBuf,
}

impl AccountDir {
    /// The folder for this server and user.
    pub(crate) fn new(data_dir: &Path, server_url: &str, user: UserId) -> Self {
        Self::named(data_dir, dir_name(server_url, user))
    }

    fn named(data_dir: &Path, name: String) -> Self {
        let path = data_dir.join(&name);
        Self { name, path }
    }

    /// The folder last made current under `data_dir`, if any.
    pub(crate) fn current(data_dir: &Path) -> io::Result<Option<Self>> {
        Self::read(data_dir, CURRENT)
    }

    /// The folder of the account used last under `data_dir`: the current one, else the
    /// one signed out of last.
    pub(crate) fn last(data_dir: &Path) -> io::Result<Option<Self>> {
        match Self::current(data_dir)? {
            Some(dir) => Ok(Some(dir)),
            None => Self::read(data_dir, LAST),
        }
    }

    fn read(data_dir: &Path, file: &str) -> io::Result<Option<Self>> {
        match std::fs::read_to_string(data_dir.join(file)) {
            Ok(name) => Ok(Some(Self::named(data_dir, name.trim().to_owned()))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Creates the folder and makes it the one to resume.
    pub(crate) fn create_current(&self, data_dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(&self.path)?;
        std::fs::write(data_dir.join(CURRENT), &self.name)
    }

    /// No account is to be resumed any more (the folder stays, and is remembered as the
    /// last one).
    pub(crate) fn forget_current(data_dir: &Path) -> io::Result<()> {
        std::fs::rename(data_dir.join(CURRENT), data_dir.join(LAST))
    }

    /// The folder itself.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The account's database.
    pub(crate) fn database(&self) -> PathBuf {
        self.path.join(DATABASE)
    }

    /// The lock its processes refresh tokens under.
    pub(crate) fn refresh_lock(&self) -> PathBuf {
        self.path.join(REFRESH_LOCK)
    }

    /// The account's database, if it has one that this device can open: with its key
    /// from `tokens`, or with a new key for a database from before encryption (which is
    /// rewritten encrypted). `None` when there is none, or when its key is gone.
    pub(crate) fn existing_store(
        &self,
        tokens: &dyn TokenStore,
    ) -> Result<Option<LocalStore>, ClientError> {
        self.open_store(tokens, false)
    }

    /// The account's database for a sign-in: as [`Self::existing_store`] finds it, else a
    /// new one. One that no key opens any more (the keyring lost it) is set aside, kept
    /// beside the new one, which catches up from the server: what was end-to-end
    /// encrypted before does not come back (there is no history transfer yet).
    pub(crate) fn store_for_sign_in(
        &self,
        tokens: &dyn TokenStore,
    ) -> Result<LocalStore, ClientError> {
        Ok(self
            .open_store(tokens, true)?
            .expect("signing in always opens a database"))
    }

    fn open_store(
        &self,
        tokens: &dyn TokenStore,
        signing_in: bool,
    ) -> Result<Option<LocalStore>, ClientError> {
        let path = self.database();
        if !signing_in && !path.exists() {
            return Ok(None);
        }
        // The app and the CLI may open one account at once: under this lock only one
        // makes the key or rewrites a plaintext database, and the others find its work.
        let _lock = self.lock_database()?;
        let there = std::fs::metadata(&path).is_ok_and(|m| m.len() > 0);
        if !there && !signing_in {
            return Ok(None);
        }
        if let Some(key) = tokens.database_key(&self.name)? {
            return match LocalStore::open(&path, &key) {
                Err(StoreError::WrongKey) if signing_in => {
                    self.set_aside_unreadable()?;
                    Ok(Some(LocalStore::open(&path, &key)?))
                }
                Err(StoreError::WrongKey) => {
                    tracing::warn!(
                        "the keyring's key does not open the local database: sign in to start a new one"
                    );
                    Ok(None)
                }
                opened => Ok(Some(opened?)),
            };
        }
        if there && !is_plaintext(&path)? {
            if !signing_in {
                tracing::warn!(
                    "the local database's key is gone from the keyring: sign in to start a new one"
                );
                return Ok(None);
            }
            self.set_aside_unreadable()?;
        }
        let key = DatabaseKey::generate()?;
        tokens.save_database_key(&self.name, &key)?;
        Ok(Some(LocalStore::open(&path, &key)?))
    }

    fn lock_database(&self) -> io::Result<std::fs::File> {
        std::fs::create_dir_all(&self.path)?;
        let file = std::fs::File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.path.join(DATABASE_LOCK))?;
        file.lock()?;
        Ok(file)
    }

    fn set_aside_unreadable(&self) -> io::Result<()> {
        let aside = set_aside(&self.database())?;
        tracing::warn!(
            kept = %aside.display(),
            "no key this device holds opens the local database: starting a new one"
        );
        Ok(())
    }
}

/// A folder name for an account: readable, and unique per server and user.
fn dir_name(server_url: &str, user: UserId) -> String {
    let host: String = server_url
        .split("://")
        .last()
        .unwrap_or(server_url)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{host}-{user}")
}

/// The account directory under `data_dir` that `resume` would open (for tools and tests).
pub fn current_account_dir(data_dir: &Path) -> Option<PathBuf> {
    AccountDir::current(data_dir)
        .ok()
        .flatten()
        .map(|dir| dir.path().to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_names_are_readable_and_per_server_and_user() {
        let user = UserId::default();
        assert_eq!(
            dir_name("https://chat.example.com:8443", user),
            format!("chat.example.com_8443-{user}")
        );
        assert_ne!(
            dir_name("http://a:1", user),
            dir_name("http://a:1", UserId(uuid::Uuid::max()))
        );
        assert_eq!(
            account_key("http://a:1", user),
            format!("http://a:1#{user}")
        );
    }

    #[test]
    fn the_current_account_is_remembered_and_forgotten() {
        let data = tempfile::tempdir().expect("temp dir");
        assert_eq!(AccountDir::current(data.path()).expect("read"), None);
        assert_eq!(current_account_dir(data.path()), None);
        let dir = AccountDir::new(data.path(), "http://127.0.0.1:8080", UserId::default());
        dir.create_current(data.path()).expect("create");
        assert!(dir.path().is_dir());
        assert_eq!(
            AccountDir::current(data.path()).expect("read"),
            Some(dir.clone())
        );
        assert_eq!(
            current_account_dir(data.path()).as_deref(),
            Some(dir.path())
        );
        assert_eq!(dir.database(), dir.path().join("ferry.db"));
        AccountDir::forget_current(data.path()).expect("forget");
        assert_eq!(current_account_dir(data.path()), None);
        assert!(dir.path().is_dir(), "the history stays");
        assert_eq!(
            AccountDir::last(data.path()).expect("read"),
            Some(dir.clone()),
            "a sign-in form proposes it"
        );
    }

    /// The app and the CLI signing in to one account at once, each in its own thread
    /// here (the lock is a file lock, which two opens of the file contend for as two
    /// processes do): both end with the one key that opens the one database, and nothing
    /// is set aside. Without the lock, both make a key and one sets the other's aside.
    #[test]
    fn two_processes_opening_one_account_at_once_share_one_key() {
        use std::sync::{Arc, Barrier};

        use crate::tokens::MemoryTokens;

        for _ in 0..8 {
            let data = tempfile::tempdir().expect("temp dir");
            let dir = AccountDir::new(data.path(), "http://127.0.0.1:8080", UserId::default());
            let tokens = Arc::new(MemoryTokens::default());
            let start = Arc::new(Barrier::new(2));
            let opened: Vec<_> = (0..2)
                .map(|_| {
                    let (dir, tokens, start) = (dir.clone(), tokens.clone(), start.clone());
                    std::thread::spawn(move || {
                        start.wait();
                        dir.store_for_sign_in(&*tokens).map(drop)
                    })
                })
                .collect();
            for process in opened {
                process.join().expect("no panic").expect("opened");
            }
            let names: Vec<_> = std::fs::read_dir(dir.path())
                .expect("read the folder")
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            assert!(
                !names.iter().any(|n| n.contains("unreadable")),
                "nothing set aside: {names:?}"
            );
            let key = tokens
                .database_key(&dir.name)
                .expect("the token store")
                .expect("a key");
            LocalStore::open(&dir.database(), &key).expect("the key opens the database");
        }
    }
}
