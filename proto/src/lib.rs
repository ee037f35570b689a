//! Ferry's wire contract, version 1: the serde types of every REST body and WebSocket
//! frame, the error codes, and the limits both sides check.
//!
//! This crate is types and pure validation only (no I/O, no runtime), so the server, the
//! client core, the CLI and tools all agree on one definition. The main types are
//! [`Message`], [`Conversation`], [`ClientFrame`] and [`ServerFrame`]; [`ErrorCode`] maps
//! each failure to its HTTP status. Unknown fields are ignored on input, as the protocol
//! requires, which is serde's default.

mod account;
mod admin;
pub mod endpoints;
mod error;
mod frames;
mod ids;
mod limits;
#[cfg(feature = "media")]
pub mod media;
pub mod mentions;
pub mod mls;
pub mod notes;
mod objects;
mod rest;
mod send;
mod time;

pub use account::{
    Account, AccountDeletion, AccountSettings, EmailChange, EmailVerification, ExportManifest,
    ExportPart, ExportedFile, PasswordChange, PasswordReset, PasswordResetRequest, PictureChange,
    ProfileChange, SessionInfo,
};
pub use admin::{
    AdminReport, AdminUser, AdminUserQuery, AuditEntry, AuditQuery, OperatorReason, ReportDecision,
    ReportOutcome, ReportQuery, ReportState, Retention, RetentionChange,
};
pub use error::{ApiError, ErrorBody, ErrorCode};
pub use frames::{ClientFrame, Feature, OutgoingMessage, ServerFrame};
pub use ids::{
    ConversationId, DeviceId, MessageId, NoteId, PictureId, ReportId, SessionId, UploadId, UserId,
    WelcomeId,
};
pub use limits::{
    BodyError, ChangeError, DEFAULT_MAX_FILE_BYTES, DEFAULT_PAGE_LIMIT, MAX_ATTACHMENTS,
    MAX_BODY_CHARS, MAX_EMOJI_CHARS, MAX_FILE_NAME_CHARS, MAX_FRAME_BYTES, MAX_IMAGE_PIXELS,
    MAX_PAGE_LIMIT, MAX_REACTIONS_PER_MESSAGE, MAX_REACTIONS_PER_USER, MAX_SYNC_MESSAGES,
    MAX_SYNC_WAIT_SECS, PICTURE_SIDE, PREVIEW_MAX_SIDE, PasswordError, REPORT_MAX_COPIES,
    REPORT_REASON_MAX_CHARS, SYNC_MESSAGE_BYTES, TITLE_MAX_CHARS, UPLOAD_CHUNK_BYTES,
    USER_SEARCH_MAX_LIMIT, USER_SEARCH_MIN_CHARS, UploadError, UsernameError, clean_file_name,
    has_control, is_bidi_control, normalize_username, validate_body, validate_change,
    validate_password, validate_upload,
};
pub use objects::{
    Attachment, Change, ChangeKind, Conversation, ConversationKind, Member, MemberState, Message,
    NotifyLevel, Presence, Role, Tokens, User, UserStatus,
};
pub use rest::{
    AddMembers, ConversationPage, CreateConversation, HistoryQuery, ListQuery, LoginRequest,
    MessagePage, NewReport, NewUpload, Notifications, RefreshRequest, RegisterRequest,
    ReportReceipt, ReportedCopy, SendMessage, SyncPage, SyncQuery, Upload, UserSearchQuery,
    Watermark,
};
pub use send::{SendError, Sending};
pub use time::Timestamp;

/// The REST base path of protocol version 1.
pub const API_BASE: &str = "/api/v1";
/// The `aud` claim of every access token.
pub const TOKEN_AUDIENCE: &str = "ferry";

/// WebSocket close codes with a meaning in the protocol.
pub mod close {
    /// Server going away: reconnect with backoff.
    pub const GOING_AWAY: u16 = 1001;
    /// Policy violation.
    pub const POLICY: u16 = 1008;
    /// A frame over [`crate::MAX_FRAME_BYTES`].
    pub const TOO_BIG: u16 = 1009;
    /// Token expired or session revoked: refresh, then reconnect.
    pub const TOKEN_EXPIRED: u16 = 4001;
    /// Too many frames: reconnect after a delay.
    pub const TOO_MANY_FRAMES: u16 = 4029;
}
