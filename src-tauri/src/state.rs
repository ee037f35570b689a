//! [`Desktop`]: the app's state: the signed-in client (if any), where accounts live, and
//! what the window shows (for the notification rule).

use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use ferry_client::Client;
use serde::Serialize;

use crate::error::CommandError;
use crate::notify::Attention;

/// Shared by every command.
pub struct Desktop {
    /// The signed-in account, if any.
    pub client: RwLock<Option<Arc<Client>>>,
    /// Where account databases live.
    pub data_dir: PathBuf,
    /// What the window shows now.
    pub attention: Mutex<Attention>,
    /// The unread total the title, badge and tray show now.
    unread_total: AtomicI64,
}

/// Who is signed in and how the link is, for the first paint.
#[derive(Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct SessionView {
    /// The signed-in user, if any.
    pub user: Option<ferry_proto::User>,
    /// The link to the server.
    pub connection: ferry_client::ConnectionState,
    /// The account used last on this device, signed in or not: the sign-in form proposes
    /// its server and username.
    pub last_account: Option<KnownAccount>,
}

/// An account this device used: where, and who.
#[derive(Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct KnownAccount {
    /// Its server.
    pub server_url: String,
    /// Its username.
    pub username: String,
}

impl Desktop {
    /// Nobody signed in yet; accounts under `data_dir`.
    pub fn new(data_dir: PathBuf) -> Self {
        Self {
            client: RwLock::new(None),
            data_dir,
            attention: Mutex::new(Attention::default()),
            unread_total: AtomicI64::new(0),
        }
    }

    /// The signed-in client, or `signed_out`.
    pub fn client(&self) -> Result<Arc<Client>, CommandError> {
        self.client
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(CommandError::signed_out)
    }

    /// Replaces the signed-in account.
    pub fn set_client(&self, client: Option<Arc<Client>>) {
        *self.client.write().unwrap_or_else(|p| p.into_inner()) = client;
    }

    /// The unread total shown now.
    pub fn unread_total(&self) -> i64 {
        self.unread_total.load(Ordering::Relaxed)
    }

    /// Keeps the unread total shown now.
    pub fn set_unread_total(&self, total: i64) {
        self.unread_total.store(total, Ordering::Relaxed);
    }

    /// What the window shows now.
    pub fn attention(&self) -> Attention {
        *self.attention.lock().unwrap_or_else(|p| p.into_inner())
    }
}
