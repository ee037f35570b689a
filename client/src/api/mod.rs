//! [`Api`]: the REST half of the protocol (sign-in, catch-up, history, fallback send), with
//! failures sorted into what is worth retrying ([`ApiError::is_transient`]) and what is not.
//! An `Api` carries its own authority: none (sign-in and refresh), a fixed token (tools,
//! benchmarks), or the signed-in session (a [`Credential`]), whose token it keeps fresh itself (a call
//! refused with 401 refreshes once and is tried again), so no caller handles tokens. The
//! account's own calls are in `account.rs`.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use ferry_proto::endpoints::{self, Endpoint};
use ferry_proto::{
    AddMembers, Conversation, ConversationId, ConversationKind, CreateConversation, ErrorBody,
    ErrorCode, HistoryQuery, LoginRequest, Message, MessagePage, NewReport, NewUpload,
    Notifications, NotifyLevel, OutgoingMessage, RefreshRequest, RegisterRequest, ReportReceipt,
    SendMessage, SyncPage, SyncQuery, Tokens, Upload, UploadId, User, UserId, UserSearchQuery,
    Watermark,
};
use futures_util::future::BoxFuture;
use reqwest::{Method, RequestBuilder, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::tokens::TokenError;

mod account;
mod mls;
mod network;

use network::{closed_under_it, without_url};

/// A REST call failed.
#[derive(Clone, Debug, thiserror::Error)]
pub enum ApiError {
    /// The server answered with an error.
    #[error("{message}")]
    Server {
        /// For programs.
        code: ErrorCode,
        /// For people (from the server).
        message: String,
        /// With `rate_limited`: when to try again.
        retry_after_ms: Option<u64>,
    },
    /// The server could not be reached (or the connection broke).
    #[error("cannot reach the server: {0}")]
    Network(String),
    /// The server answered something this client does not understand.
    #[error("unexpected answer from the server: {0}")]
    Protocol(String),
}

impl ApiError {
    /// Worth trying again later (network trouble, overload, server faults).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Network(_) => true,
            Self::Server { code, .. } => code.is_transient(),
            Self::Protocol(_) => false,
        }
    }

    /// The protocol code, when the server gave one.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Self::Server { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// Why no usable token could be had.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The session ended (signed out, revoked, or its refresh token was refused).
    #[error("signed out")]
    SignedOut,
    /// The server could not be asked (network trouble or a server fault).
    #[error(transparent)]
    Api(#[from] ApiError),
    /// The credential store failed.
    #[error(transparent)]
    Tokens(#[from] TokenError),
}

/// Where a signed-in [`Api`] gets its token: the account's `Session` (session.rs), which
/// keeps the credentials and refreshes them under the account's lock.
pub(crate) trait Credential: Send + Sync {
    /// A valid access token, refreshed first if it is about to expire.
    fn token(&self) -> BoxFuture<'_, Result<String, SessionError>>;
    /// A new access token, now: the server refused the last one.
    fn fresh_token(&self) -> BoxFuture<'_, Result<String, SessionError>>;
}

/// A REST client for one server. Clones share one connection pool.
#[derive(Clone)]
pub struct Api {
    http: Arc<RwLock<reqwest::Client>>,
    base: String,
    authority: Authority,
}

/// Whose calls these are.
#[derive(Clone)]
enum Authority {
    /// Nobody's: only the calls that sign in (register, login, refresh) succeed.
    Anonymous,
    /// A fixed access token, used as it is (tools and benchmarks).
    Token(Arc<str>),
    /// The signed-in session: its current token, refreshed before expiry or on a 401.
    Session(Arc<dyn Credential>),
}

/// How long one chunk of an upload may take.
const FILE_TIMEOUT: Duration = Duration::from_secs(120);
/// How long one download may take (it resumes from where it stopped after).
pub(crate) const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(30 * 60);

fn http_client() -> Result<reqwest::Client, ApiError> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(20))
        .build()
        .map_err(|e| ApiError::Protocol(e.to_string()))
}

impl Api {
    /// A client for the server at `server_url` (`http(s)://host:port`).
    pub fn new(server_url: &str) -> Result<Self, ApiError> {
        Ok(Self {
            http: Arc::new(RwLock::new(http_client()?)),
            base: format!("{}/api/v1", server_url.trim_end_matches('/')),
            authority: Authority::Anonymous,
        })
    }

    /// The same server and connections, calling with `token` as it is.
    pub fn with_token(&self, token: &str) -> Self {
        Self {
            authority: Authority::Token(token.into()),
            ..self.clone()
        }
    }

    /// The same server and connections, calling as `session`.
    pub(crate) fn with_session(&self, session: Arc<dyn Credential>) -> Self {
        Self {
            authority: Authority::Session(session),
            ..self.clone()
        }
    }

    /// Drops every pooled connection. When the socket turned out dead, pooled HTTP
    /// connections to the same server most likely are too, and a request on one of them
    /// would hang until its timeout instead of failing fast on a fresh connection.
    pub fn reset_connections(&self) {
        if let Ok(fresh) = http_client() {
            *self.http.write().unwrap_or_else(|p| p.into_inner()) = fresh;
        }
    }

    fn http(&self) -> reqwest::Client {
        self.http.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Sends a request as this `Api`'s authority; a success is handed back unread (a
    /// file's bytes), a failure is read as the protocol's error. As a session, a 401 means
    /// the token ran out early (the server restarted its clock, or another device signed
    /// this one out): refresh once and try again.
    async fn authorised(&self, request: RequestBuilder) -> Result<reqwest::Response, SessionError> {
        match &self.authority {
            Authority::Anonymous => Ok(self.answer(request).await?),
            Authority::Token(token) => Ok(self.answer(request.bearer_auth(token)).await?),
            Authority::Session(session) => {
                let again = request.try_clone();
                let token = session.token().await?;
                match (self.answer(request.bearer_auth(token)).await, again) {
                    (
                        Err(ApiError::Server {
                            code: ErrorCode::Unauthorized,
                            ..
                        }),
                        Some(again),
                    ) => {
                        let fresh = session.fresh_token().await?;
                        Ok(self.answer(again.bearer_auth(fresh)).await?)
                    }
                    (answer, _) => Ok(answer?),
                }
            }
        }
    }

    /// Sends a request and reads its JSON answer.
    async fn call<T: DeserializeOwned>(&self, request: RequestBuilder) -> Result<T, SessionError> {
        Ok(read_json(self.authorised(request).await?).await?)
    }

    /// Sends a request with no token (signing in) and reads its JSON answer.
    async fn call_anonymous<T: DeserializeOwned>(
        &self,
        request: RequestBuilder,
    ) -> Result<T, ApiError> {
        read_json(self.answer(request).await?).await
    }

    /// Sends a request as it is; a success is handed back unread, a failure is read as the
    /// protocol's error. A GET or HEAD whose connection was closed under it before any
    /// answer goes once more, on a new connection, as RFC 9112 (§9.3.1) allows: a server
    /// closes a kept-alive connection it finds idle (Ferry's after 10 s), and a request
    /// sent on it at that moment meets the close.
    async fn answer(&self, request: RequestBuilder) -> Result<reqwest::Response, ApiError> {
        let (client, request) = request.build_split();
        let request = request.map_err(|e| ApiError::Network(without_url(&e)))?;
        let again = if request.method().is_safe() {
            request.try_clone()
        } else {
            None
        };
        let response = match (client.execute(request).await, again) {
            (Err(e), Some(again)) if closed_under_it(&e) => {
                tracing::debug!(error = %without_url(&e), "the connection closed under a request; sending it again");
                client.execute(again).await
            }
            (sent, _) => sent,
        }
        .map_err(|e| ApiError::Network(without_url(&e)))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        match response.json::<ErrorBody>().await {
            Ok(body) => Err(ApiError::Server {
                code: body.error.code,
                message: body.error.message,
                retry_after_ms: body.error.retry_after_ms,
            }),
            Err(_) if status == StatusCode::BAD_GATEWAY || status.is_server_error() => {
                Err(ApiError::Server {
                    code: ErrorCode::Unavailable,
                    message: format!("the server answered {status}"),
                    retry_after_ms: None,
                })
            }
            Err(_) => Err(ApiError::Protocol(format!(
                "status {status} without an error body"
            ))),
        }
    }

    /// A request to endpoint `E`, with `args` in its path's parameters.
    fn to<E: Endpoint>(&self, params: E::Params) -> RequestBuilder {
        let method = match E::METHOD {
            endpoints::Method::Get => Method::GET,
            endpoints::Method::Post => Method::POST,
            endpoints::Method::Put => Method::PUT,
            endpoints::Method::Patch => Method::PATCH,
            endpoints::Method::Delete => Method::DELETE,
        };
        self.http()
            .request(method, format!("{}{}", self.base, E::path(params)))
    }

    /// Calls endpoint `E`, which takes nothing but its path.
    async fn call_to<E>(&self, params: E::Params) -> Result<E::Response, SessionError>
    where
        E: Endpoint<Request = ()>,
        E::Response: DeserializeOwned,
    {
        self.call(self.to::<E>(params)).await
    }

    /// Calls endpoint `E` with `request`: the JSON body of a `POST`, `PUT` or `PATCH`, the
    /// query of a `GET` or `DELETE`.
    async fn send_to<E>(
        &self,
        params: E::Params,
        request: &E::Request,
    ) -> Result<E::Response, SessionError>
    where
        E: Endpoint,
        E::Request: Serialize,
        E::Response: DeserializeOwned,
    {
        self.call(with_request::<E>(self.to::<E>(params), request))
            .await
    }

    /// Calls endpoint `E` with `request` and no token (the calls that sign in).
    async fn send_anonymous<E>(&self, request: &E::Request) -> Result<E::Response, ApiError>
    where
        E: Endpoint<Params = ()>,
        E::Request: Serialize,
        E::Response: DeserializeOwned,
    {
        self.call_anonymous(with_request::<E>(self.to::<E>(()), request))
            .await
    }

    /// `POST /auth/register`.
    pub async fn register(&self, request: &RegisterRequest) -> Result<Tokens, ApiError> {
        self.send_anonymous::<endpoints::Register>(request).await
    }

    /// `POST /auth/login`.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        device: Option<&str>,
    ) -> Result<Tokens, ApiError> {
        let body = LoginRequest {
            username: username.into(),
            password: password.into(),
            device_name: device.map(Into::into),
        };
        self.send_anonymous::<endpoints::Login>(&body).await
    }

    /// `POST /auth/refresh`.
    pub async fn refresh(&self, refresh_token: &str) -> Result<Tokens, ApiError> {
        let body = RefreshRequest {
            refresh_token: refresh_token.into(),
        };
        self.send_anonymous::<endpoints::Refresh>(&body).await
    }

    /// `POST /auth/logout`.
    pub async fn logout(&self) -> Result<(), SessionError> {
        self.call_to::<endpoints::Logout>(()).await
    }

    /// `GET /presence`.
    pub async fn presence(&self) -> Result<Vec<ferry_proto::Presence>, SessionError> {
        self.call_to::<endpoints::ContactsPresence>(()).await
    }

    /// `GET /me`.
    pub async fn me(&self) -> Result<User, SessionError> {
        self.call_to::<endpoints::Me>(()).await
    }

    /// `GET /users?q=`.
    pub async fn search_users(&self, prefix: &str) -> Result<Vec<User>, SessionError> {
        let query = UserSearchQuery {
            q: prefix.into(),
            limit: None,
        };
        self.send_to::<endpoints::SearchUsers>((), &query).await
    }

    /// `POST /conversations` (direct).
    pub async fn direct(&self, other: UserId) -> Result<Conversation, SessionError> {
        let body = CreateConversation {
            kind: ConversationKind::Direct,
            title: None,
            member_ids: vec![other],
        };
        self.send_to::<endpoints::CreateConversation>((), &body)
            .await
    }

    /// `POST /conversations` (group).
    pub async fn group(
        &self,
        title: &str,
        members: &[UserId],
    ) -> Result<Conversation, SessionError> {
        let body = CreateConversation {
            kind: ConversationKind::Group,
            title: Some(title.into()),
            member_ids: members.to_vec(),
        };
        self.send_to::<endpoints::CreateConversation>((), &body)
            .await
    }

    /// `POST /conversations/{id}/members`.
    pub async fn add_members(
        &self,
        conversation: ConversationId,
        users: &[UserId],
    ) -> Result<Conversation, SessionError> {
        let body = AddMembers {
            user_ids: users.to_vec(),
        };
        self.send_to::<endpoints::AddMembers>((conversation,), &body)
            .await
    }

    /// `DELETE /conversations/{id}/members/{user}`.
    pub async fn remove_member(
        &self,
        conversation: ConversationId,
        user: UserId,
    ) -> Result<(), SessionError> {
        self.call_to::<endpoints::RemoveMember>((conversation, user))
            .await
    }

    /// `POST /conversations/{id}/accept` (addition to v1): accepts a message request.
    pub async fn accept(&self, conversation: ConversationId) -> Result<Conversation, SessionError> {
        self.call_to::<endpoints::Accept>((conversation,)).await
    }

    /// `PUT /conversations/{id}/notifications` (addition to v1).
    pub async fn set_notifications(
        &self,
        conversation: ConversationId,
        level: NotifyLevel,
    ) -> Result<Conversation, SessionError> {
        self.send_to::<endpoints::SetNotifications>((conversation,), &Notifications { level })
            .await
    }

    /// `PUT /blocks/{user}` or `DELETE /blocks/{user}` (additions to v1).
    pub async fn set_blocked(&self, user: UserId, blocked: bool) -> Result<(), SessionError> {
        if blocked {
            self.call_to::<endpoints::Block>((user,)).await
        } else {
            self.call_to::<endpoints::Unblock>((user,)).await
        }
    }

    /// `GET /blocks` (addition to v1): whom this user blocked.
    pub async fn blocked(&self) -> Result<Vec<User>, SessionError> {
        self.call_to::<endpoints::Blocked>(()).await
    }

    /// `POST /reports` (addition to v1).
    pub async fn report(&self, report: &NewReport) -> Result<ReportReceipt, SessionError> {
        self.send_to::<endpoints::Report>((), report).await
    }

    /// `GET /sync?since=&limit=&messages=`: with the latest `messages` of each
    /// conversation (an addition of this server; docs/protocol.md).
    pub async fn sync(
        &self,
        since: Option<&str>,
        messages: u32,
        wait_secs: u32,
    ) -> Result<SyncPage, SessionError> {
        let query = SyncQuery {
            since: since.map(Into::into),
            limit: Some(500),
            messages: Some(messages),
            wait: (wait_secs > 0).then_some(wait_secs),
        };
        let mut request = self.to::<endpoints::Sync>(()).query(&query);
        if wait_secs > 0 {
            // A long-poll: the server may hold the answer that long, so the call may
            // take longer than the usual limit.
            request = request.timeout(Duration::from_secs(u64::from(wait_secs) + 20));
        }
        self.call(request).await
    }

    /// `GET /conversations/{id}/messages?after_seq=&limit=`.
    pub async fn messages_after(
        &self,
        conversation: ConversationId,
        after_seq: i64,
        limit: u32,
    ) -> Result<MessagePage, SessionError> {
        let query = HistoryQuery {
            after_seq: Some(after_seq),
            before_seq: None,
            limit: Some(limit),
        };
        self.send_to::<endpoints::History>((conversation,), &query)
            .await
    }

    /// `GET /conversations/{id}`.
    pub async fn conversation(
        &self,
        conversation: ConversationId,
    ) -> Result<Conversation, SessionError> {
        self.call_to::<endpoints::GetConversation>((conversation,))
            .await
    }

    /// `POST /conversations/{id}/messages`: the fallback send (of a message or a change).
    pub async fn send(&self, message: &OutgoingMessage) -> Result<Message, SessionError> {
        let body = SendMessage {
            id: message.id,
            body: message.body.clone(),
            reply_to: message.reply_to,
            change: message.change.clone(),
            attachments: message.attachments.clone(),
            sealed: message.sealed.clone(),
        };
        self.send_to::<endpoints::Send>((message.conversation_id,), &body)
            .await
    }

    /// `POST /uploads`: declares a file about to be uploaded.
    pub async fn create_upload(&self, upload: &NewUpload) -> Result<Upload, SessionError> {
        self.send_to::<endpoints::CreateUpload>((), upload).await
    }

    /// `GET /uploads/{id}`: where an upload stands.
    pub async fn upload(&self, id: UploadId) -> Result<Upload, SessionError> {
        self.call_to::<endpoints::UploadStatus>((id,)).await
    }

    /// `PATCH /uploads/{id}`: the next chunk, starting at `offset`.
    pub async fn upload_chunk(
        &self,
        id: UploadId,
        offset: u64,
        chunk: Vec<u8>,
    ) -> Result<Upload, SessionError> {
        let request = self
            .to::<endpoints::AppendChunk>((id,))
            .header("upload-offset", offset)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/offset+octet-stream",
            )
            // A chunk is 4 MiB: more than the usual 20 s on a slow link.
            .timeout(FILE_TIMEOUT)
            .body(chunk);
        self.call(request).await
    }

    /// `DELETE /uploads/{id}`: cancels an upload no message carries.
    pub async fn cancel_upload(&self, id: UploadId) -> Result<(), SessionError> {
        let request = self.to::<endpoints::CancelUpload>((id,));
        self.authorised(request).await.map(drop)
    }

    /// `GET /attachments/{id}` from byte `start` on: the response, to stream.
    pub async fn download(
        &self,
        id: UploadId,
        start: u64,
    ) -> Result<reqwest::Response, SessionError> {
        let mut request = self
            .to::<endpoints::Download>((id,))
            .timeout(DOWNLOAD_TIMEOUT);
        if start > 0 {
            request = request.header(reqwest::header::RANGE, format!("bytes={start}-"));
        }
        self.authorised(request).await
    }

    /// `GET /attachments/{id}/thumbnail`: an image's preview.
    pub async fn thumbnail(&self, id: UploadId) -> Result<Vec<u8>, SessionError> {
        let request = self.to::<endpoints::Thumbnail>((id,));
        let response = self.authorised(request).await?;
        let bytes = response.bytes().await;
        Ok(bytes
            .map_err(|e| ApiError::Network(without_url(&e)))?
            .to_vec())
    }

    /// `POST /conversations/{id}/delivered`.
    pub async fn delivered(
        &self,
        conversation: ConversationId,
        seq: i64,
    ) -> Result<(), SessionError> {
        self.send_to::<endpoints::Delivered>((conversation,), &Watermark { seq })
            .await
    }

    /// `POST /conversations/{id}/read`.
    pub async fn read(&self, conversation: ConversationId, seq: i64) -> Result<(), SessionError> {
        self.send_to::<endpoints::Read>((conversation,), &Watermark { seq })
            .await
    }
}

/// `request` with endpoint `E`'s request: the JSON body of a `POST`, `PUT` or `PATCH`, the
/// query of a `GET` or `DELETE`.
fn with_request<E>(builder: RequestBuilder, request: &E::Request) -> RequestBuilder
where
    E: Endpoint,
    E::Request: Serialize,
{
    match E::METHOD {
        endpoints::Method::Get | endpoints::Method::Delete => builder.query(request),
        _ => builder.json(request),
    }
}

/// A successful answer's JSON body (an empty one reads as `null`).
async fn read_json<T: DeserializeOwned>(response: reqwest::Response) -> Result<T, ApiError> {
    let bytes = response
        .bytes()
        .await
        .map_err(|e| ApiError::Network(without_url(&e)))?;
    let body = if bytes.is_empty() {
        b"null".as_slice()
    } else {
        &bytes
    };
    serde_json::from_slice(body).map_err(|e| ApiError::Protocol(e.to_string()))
}
