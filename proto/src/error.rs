//! Error codes and the error body shared by REST and WebSocket failures.

use serde::{Deserialize, Serialize};

/// What went wrong, for programs. Each code has one HTTP status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Malformed or invalid input (400).
    InvalidRequest,
    /// Missing, bad or expired token (401).
    Unauthorized,
    /// Wrong username or password (401).
    InvalidCredentials,
    /// Known to the caller but not allowed (403).
    Forbidden,
    /// No such thing, or not visible to the caller (404).
    NotFound,
    /// A route that exists, asked with a method it does not take (405; addition to v1:
    /// the answer's `Allow` header lists the methods it takes).
    MethodNotAllowed,
    /// The id is taken by something different (409).
    Conflict,
    /// The username is taken (409).
    UsernameTaken,
    /// Body, frame or text too large (413).
    TooLarge,
    /// The user's files would take more than their storage quota (413; addition to v1).
    QuotaExceeded,
    /// A file's bytes are not of the media type it declared (415; addition to v1).
    MediaMismatch,
    /// An image too large in pixels to be decoded safely (422; addition to v1).
    ImageTooLarge,
    /// Slow down; see `retry_after_ms` (429).
    RateLimited,
    /// Temporarily unable to serve (503).
    Unavailable,
    /// A fault on the server's side (500).
    Internal,
}

impl ErrorCode {
    /// The HTTP status that carries this code on REST.
    pub const fn http_status(self) -> u16 {
        match self {
            Self::InvalidRequest => 400,
            Self::Unauthorized | Self::InvalidCredentials => 401,
            Self::Forbidden => 403,
            Self::NotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::Conflict | Self::UsernameTaken => 409,
            Self::TooLarge | Self::QuotaExceeded => 413,
            Self::MediaMismatch => 415,
            Self::ImageTooLarge => 422,
            Self::RateLimited => 429,
            Self::Unavailable => 503,
            Self::Internal => 500,
        }
    }

    /// Whether a client should try the same request again later.
    pub const fn is_transient(self) -> bool {
        matches!(self, Self::RateLimited | Self::Unavailable | Self::Internal)
    }
}

/// `{"code", "message"}`: a failure, for programs and for people.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiError {
    /// For programs.
    pub code: ErrorCode,
    /// For people.
    pub message: String,
    /// With `rate_limited`: how long to wait before trying again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

/// The body of every failed REST call: `{"error": {"code", "message"}}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// What failed.
    pub error: ApiError,
}
