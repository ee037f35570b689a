//! [`CommandError`]: what a failed command returns to the UI, with the client core's
//! [`ErrorKind`] so that the UI branches on a typed value (exported to TypeScript) and
//! never on text.

use ferry_client::{ClientError, ErrorKind, LocalErrorKind};
use ferry_proto::ErrorCode;
use serde::Serialize;

use crate::opening::NotOpened;

/// A failed command.
#[derive(Debug, Serialize, thiserror::Error)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[error("{message}")]
pub struct CommandError {
    /// For the UI's logic.
    pub kind: ErrorKind,
    /// For people.
    pub message: String,
}

impl From<ClientError> for CommandError {
    fn from(e: ClientError) -> Self {
        Self {
            kind: e.kind(),
            message: e.to_string(),
        }
    }
}

impl From<NotOpened> for CommandError {
    fn from(e: NotOpened) -> Self {
        let kind = match e {
            NotOpened::MayRunCode { .. } => ErrorKind::Code(ErrorCode::Forbidden),
            NotOpened::NoApplication { .. } | NotOpened::Failed(_) => {
                ErrorKind::Local(LocalErrorKind::NoApplication)
            }
        };
        Self {
            kind,
            message: e.to_string(),
        }
    }
}

impl CommandError {
    /// Something on this computer failed (the system refused, a file could not be
    /// written), said for people.
    pub fn local(message: String) -> Self {
        Self {
            kind: ErrorKind::Local(LocalErrorKind::LocalStorage),
            message,
        }
    }

    /// No one is signed in on this device.
    pub fn signed_out() -> Self {
        Self {
            kind: ErrorKind::Local(LocalErrorKind::SignedOut),
            message: "not signed in".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_error_carries_its_kind_and_text() {
        let e = CommandError::from(ClientError::Invalid("the message is empty".into()));
        assert_eq!(
            serde_json::to_value(&e).expect("serialize"),
            serde_json::json!({ "kind": "invalid_request", "message": "the message is empty" })
        );
    }

    #[test]
    fn a_file_not_opened_says_why_in_a_kind_of_its_own() {
        let json = |e: NotOpened| serde_json::to_value(CommandError::from(e)).expect("serialize");
        assert_eq!(
            json(NotOpened::NoApplication {
                kind: ".xyz".into()
            }),
            serde_json::json!({
                "kind": "no_application",
                "message": "No application on this computer opens .xyz files; save it instead",
            })
        );
        assert_eq!(
            json(NotOpened::may_run_code("setup.exe"))["kind"],
            "forbidden"
        );
    }
}
