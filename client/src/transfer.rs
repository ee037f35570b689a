//! History transfer between one user's devices (issue 31): what the app and the CLI call.
//! A new device asks by itself (see the engine's `e2e::transfer`); the asks of other
//! devices wait here for the person to send the history or dismiss them, since only they
//! can tell their own new device from one someone else signed in.

use ferry_proto::SessionId;

use crate::store::HistoryRequest;
use crate::{Client, ClientError, engine};

impl Client {
    /// The asks of this user's other devices for the history this device holds, oldest
    /// first.
    pub fn history_requests(&self) -> Result<Vec<HistoryRequest>, ClientError> {
        Ok(self.shared.store.history_requests()?)
    }

    /// Sends the history of the encrypted conversations this device and `device` share to
    /// `device`, which asked for it: how many entries went. Refused when no such ask
    /// waits, when that device is in none of this device's groups yet, or when its ask is
    /// not signed by its key.
    pub async fn send_history(&self, device: SessionId) -> Result<usize, ClientError> {
        engine::send_history(&self.shared, device).await
    }

    /// Forgets `device`'s ask without answering it; whether there was one.
    pub fn dismiss_history_request(&self, device: SessionId) -> Result<bool, ClientError> {
        engine::dismiss_history_request(&self.shared, device)
    }

    /// Asks this user's other devices again for the history they hold (a new ask, which
    /// replaces this device's last): how many devices were asked.
    pub async fn ask_for_history(&self) -> Result<usize, ClientError> {
        Ok(engine::ask_for_history(&self.shared).await?)
    }
}
