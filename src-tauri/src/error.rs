//! [`CommandError`]: what a failed command returns to the UI, with an [`ErrorKind`] so
//! that the UI branches on a typed value (exported to TypeScript) and never on text.

use ferry_client::{ApiError, ClientError};
use ferry_proto::ErrorCode;
use serde::Serialize;

/// Why a command failed, for the UI's logic: the protocol's codes plus the local ones.
///
/// Built from the client's error variants by an exhaustive match, so a new variant or
/// protocol code fails to compile here instead of reaching the UI as an unknown string.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Bad input (from the server, or refused here before sending).
    InvalidRequest,
    /// The server refused the session's token.
    Unauthorized,
    /// Wrong username or password.
    InvalidCredentials,
    /// Not allowed.
    Forbidden,
    /// No such conversation, message or user.
    NotFound,
    /// The id is taken by something different.
    Conflict,
    /// The username is taken.
    UsernameTaken,
    /// Too large.
    TooLarge,
    /// Too many requests; try later.
    RateLimited,
    /// The server (or, for Tauri's own failures, the app) cannot serve now.
    Unavailable,
    /// A fault on the server's side.
    Internal,
    /// The server cannot be reached.
    Offline,
    /// The server answered something this app does not understand.
    Protocol,
    /// The local database or data directory failed.
    LocalStorage,
    /// The OS keyring failed.
    Keyring,
    /// No one is signed in on this device.
    SignedOut,
}

impl From<ErrorCode> for ErrorKind {
    fn from(code: ErrorCode) -> Self {
        match code {
            ErrorCode::InvalidRequest => Self::InvalidRequest,
            ErrorCode::Unauthorized => Self::Unauthorized,
            ErrorCode::InvalidCredentials => Self::InvalidCredentials,
            ErrorCode::Forbidden => Self::Forbidden,
            ErrorCode::NotFound => Self::NotFound,
            ErrorCode::Conflict => Self::Conflict,
            ErrorCode::UsernameTaken => Self::UsernameTaken,
            ErrorCode::TooLarge => Self::TooLarge,
            ErrorCode::RateLimited => Self::RateLimited,
            ErrorCode::Unavailable => Self::Unavailable,
            ErrorCode::Internal => Self::Internal,
        }
    }
}

impl From<&ClientError> for ErrorKind {
    fn from(e: &ClientError) -> Self {
        match e {
            ClientError::Api(ApiError::Server { code, .. }) => (*code).into(),
            ClientError::Api(ApiError::Network(_)) | ClientError::Offline(_) => Self::Offline,
            ClientError::Api(ApiError::Protocol(_)) => Self::Protocol,
            ClientError::Store(_) | ClientError::Io(_) => Self::LocalStorage,
            ClientError::Tokens(_) => Self::Keyring,
            ClientError::SignedOut => Self::SignedOut,
            ClientError::Invalid(_) => Self::InvalidRequest,
            ClientError::NotFound(_) => Self::NotFound,
        }
    }
}

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

impl From<ferry_client::ClientError> for CommandError {
    fn from(e: ferry_client::ClientError) -> Self {
        Self {
            kind: ErrorKind::from(&e),
            message: e.to_string(),
        }
    }
}

impl CommandError {
    /// No one is signed in on this device.
    pub fn signed_out() -> Self {
        Self {
            kind: ErrorKind::SignedOut,
            message: "not signed in".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kinds serialize to exactly the codes the client core gives for programs, so
    /// the typed enum changed no value the UI sees.
    #[test]
    fn kinds_serialize_as_the_client_codes() {
        let server = |code| {
            ClientError::Api(ApiError::Server {
                code,
                message: "m".into(),
                retry_after_ms: None,
            })
        };
        let errors = [
            server(ErrorCode::InvalidRequest),
            server(ErrorCode::Unauthorized),
            server(ErrorCode::InvalidCredentials),
            server(ErrorCode::Forbidden),
            server(ErrorCode::NotFound),
            server(ErrorCode::Conflict),
            server(ErrorCode::UsernameTaken),
            server(ErrorCode::TooLarge),
            server(ErrorCode::RateLimited),
            server(ErrorCode::Unavailable),
            server(ErrorCode::Internal),
            ClientError::Api(ApiError::Network("refused".into())),
            ClientError::Api(ApiError::Protocol("garbage".into())),
            ClientError::Offline("stopped".into()),
            ClientError::Io(std::io::Error::other("disk")),
            ClientError::SignedOut,
            ClientError::Invalid("empty".into()),
            ClientError::NotFound("conversation"),
        ];
        for e in errors {
            let kind = serde_json::to_value(ErrorKind::from(&e)).expect("serialize");
            assert_eq!(kind, serde_json::json!(e.code()), "{e:?}");
        }
    }

    #[test]
    fn a_command_error_carries_its_kind_and_text() {
        let e = CommandError::from(ClientError::Invalid("the message is empty".into()));
        assert_eq!(
            serde_json::to_value(&e).expect("serialize"),
            serde_json::json!({ "kind": "invalid_request", "message": "the message is empty" })
        );
    }
}
