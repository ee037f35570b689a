//! [`CommandError`]: what a failed command returns to the UI, with a stable code so that
//! the UI never matches on message text.

use serde::Serialize;

/// A failed command.
#[derive(Debug, Serialize, thiserror::Error)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[error("{message}")]
pub struct CommandError {
    /// For the UI's logic: `offline`, `signed_out`, `invalid_credentials`, …
    pub code: String,
    /// For people.
    pub message: String,
}

impl From<ferry_client::ClientError> for CommandError {
    fn from(e: ferry_client::ClientError) -> Self {
        Self {
            code: e.code().to_owned(),
            message: e.to_string(),
        }
    }
}

impl CommandError {
    /// No one is signed in on this device.
    pub fn signed_out() -> Self {
        Self {
            code: "signed_out".into(),
            message: "not signed in".into(),
        }
    }
}
