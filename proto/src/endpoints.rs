//! Every REST address of protocol v1 as a type: its method, its path under
//! [`API_BASE`](crate::API_BASE) (with `{name}` for each parameter, as the server routes
//! it), what a call sends and what a success answers. The server routes and documents
//! each handler at its endpoint's path, the client core calls through the endpoint, and
//! a test of the server's holds its OpenAPI document against [`ALL`]: an address is
//! written once, and a request cannot be paired with another route's answer (zed's
//! `request_messages!` pairs its RPC requests and responses the same way).
//!
//! `Request` is the JSON body of a `POST`, `PUT` or `PATCH`, and the query of a `GET` or
//! `DELETE`; `()` when there is none. `Response` is the JSON of a success; `()` for
//! `204 No Content`. Callers name endpoints by their module (`endpoints::AddMembers`),
//! since two share their names with the bodies they send. Files (`/uploads`, `/attachments`) move raw bytes: their bodies are
//! the caller's, their JSON answers typed as any other.

use uuid::Uuid;

use crate::mls::{
    ClaimedKeyPackages, Commit, CommitPage, CommitQuery, DeviceQuery, GroupInfo, KeyPackageClaim,
    KeyPackageStock, KeyPackages, NewCommit, SignedInDevices, Welcome,
};
use crate::notes::{DeviceNote, NewDeviceNote};

use crate::{
    Account, AccountDeletion, AccountSettings, AdminReport, AdminUser, AdminUserQuery, AuditEntry,
    AuditQuery, Conversation, ConversationId, ConversationPage, EmailChange, EmailVerification,
    HistoryQuery, ListQuery, LoginRequest, Message, MessageId, MessagePage, NewReport, NewUpload,
    NoteId, OperatorReason, PasswordChange, PasswordReset, PasswordResetRequest, Presence,
    ProfileChange, RefreshRequest, RegisterRequest, ReportDecision, ReportId, ReportQuery,
    ReportReceipt, Retention, RetentionChange, SendMessage, SessionId, SessionInfo, SyncPage,
    SyncQuery, Tokens, Upload, UploadId, User, UserId, UserSearchQuery, Watermark, WelcomeId,
};

/// The WebSocket's path under `API_BASE`: a `GET` that upgrades, with the access token
/// as a bearer header and the asked features in its query ([`crate::Feature`]).
pub const SOCKET: &str = "/ws";

/// An HTTP method of the protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    /// `GET`.
    Get,
    /// `POST`.
    Post,
    /// `PUT`.
    Put,
    /// `PATCH`.
    Patch,
    /// `DELETE`.
    Delete,
}

impl Method {
    /// Its name, as HTTP writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
        }
    }
}

/// One REST address and what goes through it.
pub trait Endpoint {
    /// Its method.
    const METHOD: Method;
    /// Its path under `API_BASE`, with `{name}` for each parameter.
    const PATH: &'static str;
    /// The ids its path's parameters take, in order: `()`, `(ConversationId,)`,
    /// `(ConversationId, UserId)`. A path cannot be filled with an id of another kind.
    type Params: PathParams;
    /// What a call sends (see the module's opening).
    type Request;
    /// What a success answers.
    type Response;

    /// The path with `params` in its parameters' places.
    fn path(params: Self::Params) -> String {
        fill(Self::PATH, &params.values())
    }
}

/// The values of a path's parameters (every parameter of the protocol is an id).
pub trait PathParams {
    /// Each parameter's UUID, in order.
    fn values(self) -> Vec<Uuid>;
}

impl PathParams for () {
    fn values(self) -> Vec<Uuid> {
        Vec::new()
    }
}

impl<A: Into<Uuid>> PathParams for (A,) {
    fn values(self) -> Vec<Uuid> {
        vec![self.0.into()]
    }
}

impl<A: Into<Uuid>, B: Into<Uuid>> PathParams for (A, B) {
    fn values(self) -> Vec<Uuid> {
        vec![self.0.into(), self.1.into()]
    }
}

/// `template` with each `{name}` replaced by the next of `args`.
///
/// # Panics
/// When `args` does not hold one value per parameter: the endpoints below are written
/// with one id per parameter, which a test holds them to.
fn fill(template: &str, args: &[Uuid]) -> String {
    let mut path = String::with_capacity(template.len() + 36 * args.len());
    let mut args = args.iter();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let close = rest[open..].find('}').map_or(rest.len(), |c| open + c);
        let arg = args.next().expect("one value per path parameter");
        path.push_str(&rest[..open]);
        path.push_str(&arg.to_string());
        rest = rest.get(close + 1..).unwrap_or("");
    }
    assert!(args.next().is_none(), "more values than path parameters");
    path.push_str(rest);
    path
}

macro_rules! endpoints {
    ($($(#[$doc:meta])* $name:ident: $method:ident $path:literal ($($param:ty),*), $request:ty => $response:ty;)*) => {
        $(
            $(#[$doc])*
            #[derive(Clone, Copy, Debug)]
            pub struct $name;

            impl Endpoint for $name {
                const METHOD: Method = Method::$method;
                const PATH: &'static str = $path;
                type Params = ($($param,)*);
                type Request = $request;
                type Response = $response;
            }
        )*

        /// Every endpoint's method and path, for holding the server's routes against.
        pub const ALL: &[(Method, &str)] = &[$(($name::METHOD, $name::PATH)),*];

        /// Every endpoint's method, path, and its request and response types as written
        /// here, for holding the server's API document against.
        pub const SHAPES: &[(Method, &str, &str, &str)] = &[
            $(($name::METHOD, $name::PATH, stringify!($request), stringify!($response))),*
        ];

        /// Every endpoint's path and how many ids its parameters take, for holding each
        /// path's `{name}`s to its parameters.
        #[cfg(test)]
        const PARAMS: &[(&str, usize)] =
            &[$(($name::PATH, <[&str]>::len(&[$(stringify!($param)),*]))),*];
    };
}

endpoints! {
    /// Makes an account and signs it in.
    Register: Post "/auth/register" (), RegisterRequest => Tokens;
    /// Signs in: a new session.
    Login: Post "/auth/login" (), LoginRequest => Tokens;
    /// Trades a refresh token for new tokens.
    Refresh: Post "/auth/refresh" (), RefreshRequest => Tokens;
    /// Ends the caller's session.
    Logout: Post "/auth/logout" (), () => ();
    /// The caller.
    Me: Get "/me" (), () => User;
    /// Users by a prefix of their names.
    SearchUsers: Get "/users" (), UserSearchQuery => Vec<User>;
    /// The caller's contacts' presence (addition to v1).
    ContactsPresence: Get "/presence" (), () => Vec<Presence>;
    /// Creates a direct (idempotent per pair) or group conversation.
    CreateConversation: Post "/conversations" (), crate::CreateConversation => Conversation;
    /// The caller's conversations by activity.
    ListConversations: Get "/conversations" (), ListQuery => ConversationPage;
    /// One conversation.
    GetConversation: Get "/conversations/{id}" (ConversationId), () => Conversation;
    /// Adds members to a group.
    AddMembers: Post "/conversations/{id}/members" (ConversationId), crate::AddMembers => Conversation;
    /// Removes a member (the owner anyone, anyone themself).
    RemoveMember: Delete "/conversations/{id}/members/{user_id}" (ConversationId, UserId), () => ();
    /// Accepts a message request (addition to v1).
    Accept: Post "/conversations/{id}/accept" (ConversationId), () => Conversation;
    /// Sets the caller's notification level in a conversation (addition to v1).
    SetNotifications: Put "/conversations/{id}/notifications" (ConversationId), crate::Notifications => Conversation;
    /// A page of history.
    History: Get "/conversations/{id}/messages" (ConversationId), HistoryQuery => MessagePage;
    /// Sends a message or a change: the fallback of the socket's `send`.
    Send: Post "/conversations/{id}/messages" (ConversationId), SendMessage => Message;
    /// Moves the caller's read watermark.
    Read: Post "/conversations/{id}/read" (ConversationId), Watermark => ();
    /// Moves the caller's delivered watermark.
    Delivered: Post "/conversations/{id}/delivered" (ConversationId), Watermark => ();
    /// What changed since a cursor.
    Sync: Get "/sync" (), SyncQuery => SyncPage;
    /// Whom the caller blocked (addition to v1).
    Blocked: Get "/blocks" (), () => Vec<User>;
    /// Blocks a user (addition to v1).
    Block: Put "/blocks/{user_id}" (UserId), () => ();
    /// Unblocks a user (addition to v1).
    Unblock: Delete "/blocks/{user_id}" (UserId), () => ();
    /// Reports a user to the operators (addition to v1).
    Report: Post "/reports" (), NewReport => ReportReceipt;
    /// Declares a file about to be uploaded (addition to v1).
    CreateUpload: Post "/uploads" (), NewUpload => Upload;
    /// Where an upload stands.
    UploadStatus: Get "/uploads/{id}" (UploadId), () => Upload;
    /// The next chunk of an upload, raw bytes at an `Upload-Offset`.
    AppendChunk: Patch "/uploads/{id}" (UploadId), () => Upload;
    /// Cancels an upload no message carries.
    CancelUpload: Delete "/uploads/{id}" (UploadId), () => ();
    /// A file's bytes (ranges allowed).
    Download: Get "/attachments/{id}" (UploadId), () => ();
    /// An image's preview, as bytes.
    Thumbnail: Get "/attachments/{id}/thumbnail" (UploadId), () => ();
    /// Changes the caller's profile: their display name (addition to v1).
    UpdateProfile: Patch "/me" (), ProfileChange => User;
    /// The caller's own account: profile, email, role, settings (addition to v1).
    GetAccount: Get "/account" (), () => Account;
    /// Changes the caller's settings (addition to v1).
    UpdateSettings: Patch "/account/settings" (), AccountSettings => Account;
    /// Changes the password; other sessions end unless kept (addition to v1).
    ChangePassword: Post "/account/password" (), PasswordChange => ();
    /// Sets or removes the email address; a new one is confirmed by mail (addition to v1).
    ChangeEmail: Put "/account/email" (), EmailChange => Account;
    /// Where the caller is signed in (addition to v1).
    Sessions: Get "/account/sessions" (), () => Vec<SessionInfo>;
    /// Signs one of the caller's sessions out (addition to v1).
    EndSession: Delete "/account/sessions/{session_id}" (SessionId), () => ();
    /// Deletes the caller's account (addition to v1).
    DeleteAccount: Post "/account/delete" (), AccountDeletion => ();
    /// Everything the server holds about the caller, as one tar archive (addition to v1).
    ExportAccount: Get "/account/export" (), () => ();
    /// Sets the caller's profile picture from an upload (addition to v1).
    SetPicture: Put "/me/picture" (), crate::PictureChange => User;
    /// Removes the caller's profile picture (addition to v1).
    RemovePicture: Delete "/me/picture" (), () => User;
    /// A profile picture's bytes (addition to v1).
    Picture: Get "/pictures/{picture_id}" (crate::PictureId), () => ();
    /// Confirms an email address with the mailed token (addition to v1).
    VerifyEmail: Post "/auth/email/verify" (), EmailVerification => ();
    /// Mails a password reset link, if the login names an account with a confirmed
    /// address; the same answer either way (addition to v1).
    ForgotPassword: Post "/auth/password/forgot" (), PasswordResetRequest => ();
    /// Sets a new password with the mailed token (addition to v1).
    ResetPassword: Post "/auth/password/reset" (), PasswordReset => ();
    /// Accounts, for an operator (addition to v1; every `/admin` address answers 404 to
    /// anyone who is not an administrator, as an unknown address does).
    AdminUsers: Get "/admin/users" (), AdminUserQuery => Vec<AdminUser>;
    /// One account, for an operator.
    AdminUserDetail: Get "/admin/users/{user_id}" (UserId), () => AdminUser;
    /// Suspends an account: signed out everywhere at once, and no sign-in until reactivated.
    Suspend: Post "/admin/users/{user_id}/suspend" (UserId), OperatorReason => AdminUser;
    /// Lifts a suspension.
    Reactivate: Post "/admin/users/{user_id}/reactivate" (UserId), OperatorReason => AdminUser;
    /// The reports queue.
    AdminReports: Get "/admin/reports" (), ReportQuery => Vec<AdminReport>;
    /// Resolves or dismisses an open report.
    DecideReport: Post "/admin/reports/{report_id}/decision" (ReportId), ReportDecision => AdminReport;
    /// Removes a message for everyone, as an operator: it shows as removed by an
    /// administrator.
    RemoveMessage: Post "/admin/messages/{message_id}/remove" (MessageId), OperatorReason => ();
    /// The audit log of operators' actions.
    AuditLog: Get "/admin/audit" (), AuditQuery => Vec<AuditEntry>;
    /// Sets how long a conversation's messages are kept.
    SetRetention: Put "/admin/conversations/{conversation_id}/retention" (ConversationId), RetentionChange => Retention;
    /// Publishes key packages of the caller's device (addition to v1, end-to-end
    /// encryption: see docs/protocol.md).
    PublishKeyPackages: Post "/mls/key-packages" (), KeyPackages => KeyPackageStock;
    /// How many key packages the caller's device has waiting.
    GetKeyPackageStock: Get "/mls/key-packages" (), () => KeyPackageStock;
    /// Claims a key package of every device of some users.
    ClaimKeyPackages: Post "/mls/key-packages/claim" (), KeyPackageClaim => ClaimedKeyPackages;
    /// The signed-in devices of some users, using up nothing.
    ListDevices: Post "/mls/devices" (), DeviceQuery => SignedInDevices;
    /// Hands the server a group's next commit: accepted only in the group's current epoch.
    SubmitCommit: Post "/conversations/{id}/mls/commits" (ConversationId), NewCommit => Commit;
    /// A page of a group's commits, in epoch order.
    CommitLog: Get "/conversations/{id}/mls/commits" (ConversationId), CommitQuery => CommitPage;
    /// A group's info as its last commit left it.
    GetGroupInfo: Get "/conversations/{id}/mls/group-info" (ConversationId), () => GroupInfo;
    /// The welcomes waiting for the caller's device.
    Welcomes: Get "/mls/welcomes" (), () => Vec<Welcome>;
    /// Deletes a welcome the caller's device has used (or cannot use).
    DropWelcome: Delete "/mls/welcomes/{id}" (WelcomeId), () => ();
    /// Leaves a note for another signed-in device of the caller's user.
    LeaveNote: Post "/mls/notes" (), NewDeviceNote => DeviceNote;
    /// The notes waiting for the caller's device.
    Notes: Get "/mls/notes" (), () => Vec<DeviceNote>;
    /// Deletes a note the caller's device has read.
    DropNote: Delete "/mls/notes/{id}" (NoteId), () => ();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_takes_its_ids_in_order() {
        let (id, user) = (
            ConversationId(Uuid::from_u128(1)),
            UserId(Uuid::from_u128(2)),
        );
        assert_eq!(
            RemoveMember::path((id, user)),
            format!("/conversations/{id}/members/{user}")
        );
        assert_eq!(Me::path(()), "/me");
        assert_eq!(Read::path((id,)), format!("/conversations/{id}/read"));
    }

    #[test]
    fn every_path_has_one_id_per_parameter() {
        for (path, params) in PARAMS {
            assert_eq!(path.matches('{').count(), *params, "{path}");
        }
    }

    #[test]
    fn no_address_is_listed_twice() {
        let mut seen = std::collections::HashSet::new();
        assert!(ALL.iter().all(|e| seen.insert(*e)));
    }
}
