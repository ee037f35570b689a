//! [`Error`]: the one error type of the HTTP and WebSocket layers, mapped to the
//! protocol's error codes. Internal causes are kept in the response's extensions and
//! logged once by the middleware in `http::observe`; clients only ever see the code and
//! a message written for people.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ferry_proto::{ApiError, ErrorBody, ErrorCode};

use crate::store::StoreError;

/// A failed request.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A failure the client can act on.
    #[error("{code:?}: {message}")]
    Client {
        /// For programs.
        code: ErrorCode,
        /// For people.
        message: String,
    },
    /// Too many requests; retry after the given time.
    #[error("rate limited for {0:?}")]
    RateLimited(Duration),
    /// A fault on our side; the cause is logged, never sent.
    #[error("internal: {0}")]
    Internal(String),
    /// The database is unreachable.
    #[error("unavailable: {0}")]
    Unavailable(String),
}

/// The internal cause of a 5xx, carried to the logging middleware.
#[derive(Clone, Debug)]
pub struct InternalCause(pub Arc<str>);

impl Error {
    /// A client error with a message for people.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::Client {
            code,
            message: message.into(),
        }
    }
    /// 400 `invalid_request`.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, message)
    }
    /// 404 `not_found`.
    pub fn not_found(what: &str) -> Self {
        Self::new(ErrorCode::NotFound, format!("{what} not found"))
    }
    /// 401 `unauthorized`.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthorized, message)
    }
    /// 403 `forbidden`.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }

    /// The code and message a client may see.
    pub fn to_api(&self) -> ApiError {
        match self {
            Self::Client { code, message } => ApiError {
                code: *code,
                message: message.clone(),
                retry_after_ms: None,
            },
            Self::RateLimited(wait) => ApiError {
                code: ErrorCode::RateLimited,
                message: "too many requests; slow down".into(),
                retry_after_ms: Some(wait.as_millis().max(1) as u64),
            },
            Self::Internal(_) => ApiError {
                code: ErrorCode::Internal,
                message: "something went wrong on the server".into(),
                retry_after_ms: None,
            },
            Self::Unavailable(_) => ApiError {
                code: ErrorCode::Unavailable,
                message: "the server cannot reach its database; try again shortly".into(),
                retry_after_ms: None,
            },
        }
    }

    /// The same failure for another waiter on one query (a batch's commit or lookup):
    /// what each client sees is unchanged, the cause is kept as text.
    pub fn copy(&self) -> Self {
        match self {
            Self::Client { code, message } => Self::new(*code, message.clone()),
            Self::RateLimited(wait) => Self::RateLimited(*wait),
            Self::Internal(cause) => Self::Internal(cause.clone()),
            Self::Unavailable(cause) => Self::Unavailable(cause.clone()),
        }
    }

    /// The internal cause to log, if any.
    pub fn cause(&self) -> Option<&str> {
        match self {
            Self::Internal(cause) | Self::Unavailable(cause) => Some(cause),
            _ => None,
        }
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::UsernameTaken => {
                Self::new(ErrorCode::UsernameTaken, "that username is taken")
            }
            StoreError::UnknownUser => Self::not_found("user"),
            StoreError::EmailTaken => Self::new(
                ErrorCode::Conflict,
                "another account already confirmed that address",
            ),
            StoreError::Blocked => {
                Self::forbidden("one of you blocked the other: no new conversation between you")
            }
            StoreError::AccountClosed => {
                Self::forbidden("this account is suspended by the server's operators, or deleted")
            }
            StoreError::Database(
                sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed,
            ) => Self::Unavailable(e.to_string()),
            ref timeout if timeout.timed_out() => Self::Unavailable(e.to_string()),
            other => Self::Internal(other.to_string()),
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let api = self.to_api();
        let status = StatusCode::from_u16(api.code.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let retry_after = api.retry_after_ms.map(|ms| ms.div_ceil(1000).max(1));
        let mut response = (status, axum::Json(ErrorBody { error: api })).into_response();
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if let Some(cause) = self.cause() {
            response
                .extensions_mut()
                .insert(InternalCause(cause.into()));
        }
        response
    }
}

/// Shorthand for handler results.
pub type Result<T, E = Error> = std::result::Result<T, E>;
