//! Credentials: the [`TokenStore`] trait, the OS keyring behind it ([`KeyringTokens`]),
//! and an in-memory one for tests ([`MemoryTokens`]). Tokens are never written to the
//! SQLite file, a log line or an error message (`Credentials`' `Debug` hides them). The
//! same store keeps each account folder's [`DatabaseKey`], which outlives a sign-out as
//! the folder does (signing in again opens the same history).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ferry_proto::{SessionId, Timestamp};
use keyring_core::{CredentialStore, Error as KeyringError};
use serde::{Deserialize, Serialize};

use crate::store::DatabaseKey;

/// The keyring service name of every Ferry credential.
const SERVICE: &str = "ferry";

/// What a signed-in device holds.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    /// The session they belong to.
    pub session_id: SessionId,
    /// JWT for `Authorization: Bearer`.
    pub access_token: String,
    /// When the access token expires.
    pub access_expires_at: Timestamp,
    /// Single-use token for `/auth/refresh`.
    pub refresh_token: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("session_id", &self.session_id)
            .field("access_expires_at", &self.access_expires_at)
            .finish_non_exhaustive()
    }
}

impl From<&ferry_proto::Tokens> for Credentials {
    fn from(t: &ferry_proto::Tokens) -> Self {
        Self {
            session_id: t.session_id,
            access_token: t.access_token.clone(),
            access_expires_at: t.access_expires_at,
            refresh_token: t.refresh_token.clone(),
        }
    }
}

/// The credential store failed.
#[derive(Debug, thiserror::Error)]
#[error("credential store: {0}")]
pub struct TokenError(pub String);

/// Where credentials live, by account key (`server URL` + `#` + user id).
pub trait TokenStore: Send + Sync {
    /// The stored credentials, if any.
    fn load(&self, account: &str) -> Result<Option<Credentials>, TokenError>;
    /// Stores (replacing) credentials.
    fn save(&self, account: &str, credentials: &Credentials) -> Result<(), TokenError>;
    /// Forgets credentials (sign-out); forgetting nothing is fine.
    fn clear(&self, account: &str) -> Result<(), TokenError>;
    /// The key of the database in the account folder named `folder`, if one was filed.
    fn database_key(&self, folder: &str) -> Result<Option<DatabaseKey>, TokenError>;
    /// Files the key of the database in the account folder named `folder`.
    fn save_database_key(&self, folder: &str, key: &DatabaseKey) -> Result<(), TokenError>;
    /// Whether credentials can be stored now: asked before signing up or in, so that a
    /// locked or missing keyring stops the user before the server makes an account (or
    /// a session) this device could not keep.
    fn check(&self) -> Result<(), TokenError> {
        Ok(())
    }
}

/// Credentials in memory only: for tests and for a session that must not persist.
#[derive(Default)]
pub struct MemoryTokens {
    credentials: Mutex<HashMap<String, Credentials>>,
    database_keys: Mutex<HashMap<String, DatabaseKey>>,
}

impl MemoryTokens {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Credentials>> {
        self.credentials.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn keys(&self) -> std::sync::MutexGuard<'_, HashMap<String, DatabaseKey>> {
        self.database_keys.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl TokenStore for MemoryTokens {
    fn load(&self, account: &str) -> Result<Option<Credentials>, TokenError> {
        Ok(self.map().get(account).cloned())
    }
    fn save(&self, account: &str, credentials: &Credentials) -> Result<(), TokenError> {
        self.map().insert(account.to_owned(), credentials.clone());
        Ok(())
    }
    fn clear(&self, account: &str) -> Result<(), TokenError> {
        self.map().remove(account);
        Ok(())
    }
    fn database_key(&self, folder: &str) -> Result<Option<DatabaseKey>, TokenError> {
        Ok(self.keys().get(folder).cloned())
    }
    fn save_database_key(&self, folder: &str, key: &DatabaseKey) -> Result<(), TokenError> {
        self.keys().insert(folder.to_owned(), key.clone());
        Ok(())
    }
}

/// Credentials in the OS keyring: the Secret Service (e.g. GNOME Keyring) on Linux and
/// the BSDs, the login keychain on macOS, the Credential Manager on Windows. The backend
/// is chosen when compiling; everything above it is the same on every platform.
pub struct KeyringTokens {
    store: Arc<CredentialStore>,
}

impl KeyringTokens {
    /// Connects to the platform's keyring.
    pub fn new() -> Result<Self, TokenError> {
        Ok(Self {
            store: platform_store()?,
        })
    }

    fn entry(&self, account: &str) -> Result<keyring_core::Entry, TokenError> {
        self.store.build(SERVICE, account, None).map_err(describe)
    }
}

#[cfg(all(unix, not(target_os = "macos")))]
fn platform_store() -> Result<Arc<CredentialStore>, TokenError> {
    let store = zbus_secret_service_keyring_store::Store::new().map_err(describe)?;
    Ok(store)
}

#[cfg(target_os = "macos")]
fn platform_store() -> Result<Arc<CredentialStore>, TokenError> {
    // The login keychain: what an app that is not sandboxed uses, without the
    // entitlements that the data-protection keychain (`protected`) requires.
    let store = apple_native_keyring_store::keychain::Store::new().map_err(describe)?;
    Ok(store)
}

#[cfg(windows)]
fn platform_store() -> Result<Arc<CredentialStore>, TokenError> {
    // A generic credential per account; its blob (our JSON, stored as UTF-16) stays well
    // under the Credential Manager's 2,560-byte limit.
    let store = windows_native_keyring_store::Store::new().map_err(describe)?;
    Ok(store)
}

/// What the platform's keyring is, for the messages of [`describe`].
#[cfg(all(unix, not(target_os = "macos")))]
const KEYRING_HINT: &str = " (is a Secret Service such as GNOME Keyring running in this session?)";
#[cfg(target_os = "macos")]
const KEYRING_HINT: &str = " (the login keychain)";
#[cfg(windows)]
const KEYRING_HINT: &str = " (the Windows Credential Manager)";

fn describe(e: KeyringError) -> TokenError {
    TokenError(match e {
        KeyringError::NoStorageAccess(_) => {
            format!("the OS keyring is locked or not running{KEYRING_HINT}")
        }
        // No session bus, no keyring daemon, …: say what is needed, then the detail.
        KeyringError::PlatformFailure(detail) => {
            format!("the OS keyring cannot be reached{KEYRING_HINT}: {detail}")
        }
        other => other.to_string(),
    })
}

impl TokenStore for KeyringTokens {
    fn load(&self, account: &str) -> Result<Option<Credentials>, TokenError> {
        match self.entry(account)?.get_password() {
            Ok(json) => serde_json::from_str(&json)
                .map(Some)
                .map_err(|_| TokenError("stored credentials are unreadable".into())),
            Err(KeyringError::NoEntry) => Ok(None),
            Err(e) => Err(describe(e)),
        }
    }

    fn save(&self, account: &str, credentials: &Credentials) -> Result<(), TokenError> {
        let json = serde_json::to_string(credentials)
            .map_err(|_| TokenError("credentials could not be encoded".into()))?;
        self.entry(account)?.set_password(&json).map_err(describe)
    }

    fn clear(&self, account: &str) -> Result<(), TokenError> {
        match self.entry(account)?.delete_credential() {
            Ok(()) | Err(KeyringError::NoEntry) => Ok(()),
            Err(e) => Err(describe(e)),
        }
    }

    fn database_key(&self, folder: &str) -> Result<Option<DatabaseKey>, TokenError> {
        match self.entry(&database_entry(folder))?.get_password() {
            Ok(hex) => DatabaseKey::from_hex(&zeroize::Zeroizing::new(hex))
                .map(Some)
                .ok_or_else(|| TokenError("the stored database key is unreadable".into())),
            Err(KeyringError::NoEntry) => Ok(None),
            Err(e) => Err(describe(e)),
        }
    }

    fn save_database_key(&self, folder: &str, key: &DatabaseKey) -> Result<(), TokenError> {
        self.entry(&database_entry(folder))?
            .set_password(&key.to_hex())
            .map_err(describe)
    }

    /// Writes and deletes a probe entry: reading alone succeeds on some locked keyrings,
    /// and only a write asks the desktop to unlock one.
    fn check(&self) -> Result<(), TokenError> {
        // One probe per process: two processes signing up at once shared one entry, and
        // one's delete removed the item the other was writing ("No such interface … on
        // object …/collection/login/3" from GNOME Keyring, seen in the CLI tests).
        let probe = self.entry(&format!("{PROBE}-{}", std::process::id()))?;
        probe
            .set_password("ferry can store credentials here")
            .map_err(unusable)?;
        match probe.delete_credential() {
            Ok(()) | Err(KeyringError::NoEntry) => Ok(()),
            Err(e) => Err(unusable(e)),
        }
    }
}

/// The keyring's account name of a folder's database key: never an account key (which
/// holds `://`), nor the probe.
fn database_entry(folder: &str) -> String {
    format!("database-key {folder}")
}

/// The start of the account name of [`KeyringTokens::check`]'s probe, which ends with
/// the process id (never an account key, which holds `#`).
const PROBE: &str = "keyring-check";

/// A keyring that cannot take credentials, said so that the user knows what to do.
fn unusable(e: KeyringError) -> TokenError {
    let TokenError(why) = describe(e);
    TokenError(format!(
        "{why}. Ferry keeps your sign-in there: unlock the keyring (or start it), then try again"
    ))
}
