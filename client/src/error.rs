//! [`ClientError`]: how a client operation fails, and its [`ErrorKind`]: the protocol's
//! [`ErrorCode`] when the server (or this client, for the same reason) refused, or a
//! [`LocalErrorKind`] for what fails on this device. A kind serializes as one plain
//! string (`"rate_limited"`, `"offline"`), so a UI branches on a typed value and the
//! protocol's codes are listed once, in `ferry-proto`.

use ferry_proto::ErrorCode;
use serde::Serialize;

use crate::api::ApiError;
use crate::api::SessionError;
use crate::engine;
use crate::store::StoreError;
use crate::tokens::TokenError;

/// What kind of failure a [`ClientError`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(untagged)]
pub enum ErrorKind {
    /// Refused for a reason of the protocol's (by the server, or here before sending).
    Code(ErrorCode),
    /// Failed on this device.
    Local(LocalErrorKind),
}

/// What fails on this device rather than on the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum LocalErrorKind {
    /// The server cannot be reached.
    Offline,
    /// The server answered something this client does not understand.
    Protocol,
    /// The local database or data directory failed.
    LocalStorage,
    /// The OS keyring failed.
    Keyring,
    /// No one is signed in (or the session ended).
    SignedOut,
    /// No application on this device opens the file (the desktop app's Open); saving it
    /// still works.
    NoApplication,
}

/// A failure of a client operation, with its [`kind`](ClientError::kind) for programs.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server refused or could not be reached.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// The local database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The credential store failed.
    #[error(transparent)]
    Tokens(#[from] TokenError),
    /// Not signed in (or the session ended).
    #[error("not signed in")]
    SignedOut,
    /// Bad input, said for people.
    #[error("{0}")]
    Invalid(String),
    /// No such conversation, message or user here.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// Refused here by a rule the server would refuse it for too (only the author edits,
    /// a deleted message takes no changes…).
    #[error("{1}")]
    Refused(ErrorCode, &'static str),
    /// The server could not be reached for an operation that needs it.
    #[error("offline: {0}")]
    Offline(String),
    /// A file system operation on the data directory failed.
    #[error("data directory: {0}")]
    Io(#[from] std::io::Error),
}

impl ClientError {
    /// What kind of failure this is, for programs and UIs.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Api(ApiError::Server { code, .. }) => ErrorKind::Code(*code),
            Self::Api(ApiError::Network(_)) | Self::Offline(_) => {
                ErrorKind::Local(LocalErrorKind::Offline)
            }
            Self::Api(ApiError::Protocol(_)) => ErrorKind::Local(LocalErrorKind::Protocol),
            Self::Store(_) | Self::Io(_) => ErrorKind::Local(LocalErrorKind::LocalStorage),
            Self::Tokens(_) => ErrorKind::Local(LocalErrorKind::Keyring),
            Self::SignedOut => ErrorKind::Local(LocalErrorKind::SignedOut),
            // Refused here before anything was sent, for the reasons the server would give.
            Self::Invalid(_) => ErrorKind::Code(ErrorCode::InvalidRequest),
            Self::NotFound(_) => ErrorKind::Code(ErrorCode::NotFound),
            Self::Refused(code, _) => ErrorKind::Code(*code),
        }
    }
}

impl From<SessionError> for ClientError {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::SignedOut => Self::SignedOut,
            SessionError::Api(e) => Self::Api(e),
            SessionError::Tokens(e) => Self::Tokens(e),
        }
    }
}

impl From<engine::End> for ClientError {
    fn from(e: engine::End) -> Self {
        match e {
            engine::End::SignedOut => Self::SignedOut,
            engine::End::Stop => Self::Offline("stopped".into()),
            engine::End::Reconnect(_, reason) => Self::Offline(reason),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each failure's kind is one plain string: the protocol's code, or a local one.
    #[test]
    fn kinds_serialize_as_plain_codes() {
        let server = |code| {
            ClientError::Api(ApiError::Server {
                code,
                message: "m".into(),
                retry_after_ms: None,
            })
        };
        let cases = [
            (server(ErrorCode::InvalidRequest), "invalid_request"),
            (server(ErrorCode::Unauthorized), "unauthorized"),
            (server(ErrorCode::InvalidCredentials), "invalid_credentials"),
            (server(ErrorCode::Forbidden), "forbidden"),
            (server(ErrorCode::NotFound), "not_found"),
            (server(ErrorCode::Conflict), "conflict"),
            (server(ErrorCode::UsernameTaken), "username_taken"),
            (server(ErrorCode::TooLarge), "too_large"),
            (server(ErrorCode::RateLimited), "rate_limited"),
            (server(ErrorCode::Unavailable), "unavailable"),
            (server(ErrorCode::Internal), "internal"),
            (
                ClientError::Api(ApiError::Network("refused".into())),
                "offline",
            ),
            (
                ClientError::Api(ApiError::Protocol("garbage".into())),
                "protocol",
            ),
            (ClientError::Offline("stopped".into()), "offline"),
            (
                ClientError::Io(std::io::Error::other("disk")),
                "local_storage",
            ),
            (ClientError::Tokens(TokenError("locked".into())), "keyring"),
            (ClientError::SignedOut, "signed_out"),
            (ClientError::Invalid("empty".into()), "invalid_request"),
            (ClientError::NotFound("conversation"), "not_found"),
        ];
        for (error, code) in cases {
            let kind = serde_json::to_value(error.kind()).expect("serialize");
            assert_eq!(kind, serde_json::json!(code), "{error:?}");
        }
    }
}
