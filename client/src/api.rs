//! [`Api`]: the REST half of the protocol (sign-in, catch-up, history, fallback send), with
//! failures sorted into what is worth retrying ([`ApiError::is_transient`]) and what is not.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use ferry_proto::endpoints::{self, Endpoint};
use ferry_proto::{
    AddMembers, Conversation, ConversationKind, CreateConversation, ErrorBody, ErrorCode,
    HistoryQuery, LoginRequest, Message, MessagePage, NewReport, NewUpload, OutgoingMessage,
    RefreshRequest, RegisterRequest, ReportReceipt, SendMessage, SyncPage, SyncQuery, Tokens,
    Upload, User, UserSearchQuery, Watermark,
};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

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

/// A REST client for one server. Clones share one connection pool.
#[derive(Clone)]
pub struct Api {
    http: Arc<RwLock<reqwest::Client>>,
    base: String,
}

/// How long one chunk of an upload may take.
const FILE_TIMEOUT: Duration = Duration::from_secs(120);
/// How long one download may take (it resumes from where it stopped after).
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(30 * 60);

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
        })
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

    async fn call<T: DeserializeOwned>(&self, request: RequestBuilder) -> Result<T, ApiError> {
        let bytes = self
            .call_raw(request)
            .await?
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

    /// Sends a request; a success is handed back unread (a file's bytes), a failure is
    /// read as the protocol's error.
    async fn call_raw(&self, request: RequestBuilder) -> Result<reqwest::Response, ApiError> {
        let response = request
            .send()
            .await
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
    fn to<E: Endpoint>(&self, args: &[Uuid], token: Option<&str>) -> RequestBuilder {
        let method = match E::METHOD {
            endpoints::Method::Get => Method::GET,
            endpoints::Method::Post => Method::POST,
            endpoints::Method::Put => Method::PUT,
            endpoints::Method::Patch => Method::PATCH,
            endpoints::Method::Delete => Method::DELETE,
        };
        let builder = self
            .http()
            .request(method, format!("{}{}", self.base, E::path(args)));
        match token {
            Some(token) => builder.bearer_auth(token),
            None => builder,
        }
    }

    /// Calls endpoint `E`, which takes nothing but its path.
    async fn call_to<E>(&self, args: &[Uuid], token: &str) -> Result<E::Response, ApiError>
    where
        E: Endpoint<Request = ()>,
        E::Response: DeserializeOwned,
    {
        self.call(self.to::<E>(args, Some(token))).await
    }

    /// Calls endpoint `E` with `request`: the JSON body of a `POST`, `PUT` or `PATCH`, the
    /// query of a `GET` or `DELETE`.
    async fn send_to<E>(
        &self,
        args: &[Uuid],
        token: Option<&str>,
        request: &E::Request,
    ) -> Result<E::Response, ApiError>
    where
        E: Endpoint,
        E::Request: Serialize,
        E::Response: DeserializeOwned,
    {
        let builder = self.to::<E>(args, token);
        self.call(match E::METHOD {
            endpoints::Method::Get | endpoints::Method::Delete => builder.query(request),
            _ => builder.json(request),
        })
        .await
    }

    /// `POST /auth/register`.
    pub async fn register(
        &self,
        username: &str,
        password: &str,
        display_name: &str,
    ) -> Result<Tokens, ApiError> {
        let body = RegisterRequest {
            username: username.into(),
            password: password.into(),
            display_name: display_name.into(),
        };
        self.send_to::<endpoints::Register>(&[], None, &body).await
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
        self.send_to::<endpoints::Login>(&[], None, &body).await
    }

    /// `POST /auth/refresh`.
    pub async fn refresh(&self, refresh_token: &str) -> Result<Tokens, ApiError> {
        let body = RefreshRequest {
            refresh_token: refresh_token.into(),
        };
        self.send_to::<endpoints::Refresh>(&[], None, &body).await
    }

    /// `POST /auth/logout`.
    pub async fn logout(&self, token: &str) -> Result<(), ApiError> {
        self.call_to::<endpoints::Logout>(&[], token).await
    }

    /// `GET /presence`.
    pub async fn presence(&self, token: &str) -> Result<Vec<ferry_proto::Presence>, ApiError> {
        self.call_to::<endpoints::ContactsPresence>(&[], token)
            .await
    }

    /// `GET /me`.
    pub async fn me(&self, token: &str) -> Result<User, ApiError> {
        self.call_to::<endpoints::Me>(&[], token).await
    }

    /// `GET /users?q=`.
    pub async fn search_users(&self, token: &str, prefix: &str) -> Result<Vec<User>, ApiError> {
        let query = UserSearchQuery {
            q: prefix.into(),
            limit: None,
        };
        self.send_to::<endpoints::SearchUsers>(&[], Some(token), &query)
            .await
    }

    /// `POST /conversations` (direct).
    pub async fn direct(&self, token: &str, other: Uuid) -> Result<Conversation, ApiError> {
        let body = CreateConversation {
            kind: ConversationKind::Direct,
            title: None,
            member_ids: vec![other],
        };
        self.send_to::<endpoints::CreateConversation>(&[], Some(token), &body)
            .await
    }

    /// `POST /conversations` (group).
    pub async fn group(
        &self,
        token: &str,
        title: &str,
        members: &[Uuid],
    ) -> Result<Conversation, ApiError> {
        let body = CreateConversation {
            kind: ConversationKind::Group,
            title: Some(title.into()),
            member_ids: members.to_vec(),
        };
        self.send_to::<endpoints::CreateConversation>(&[], Some(token), &body)
            .await
    }

    /// `POST /conversations/{id}/members`.
    pub async fn add_members(
        &self,
        token: &str,
        conversation: Uuid,
        users: &[Uuid],
    ) -> Result<Conversation, ApiError> {
        let body = AddMembers {
            user_ids: users.to_vec(),
        };
        self.send_to::<endpoints::AddMembers>(&[conversation], Some(token), &body)
            .await
    }

    /// `DELETE /conversations/{id}/members/{user}`.
    pub async fn remove_member(
        &self,
        token: &str,
        conversation: Uuid,
        user: Uuid,
    ) -> Result<(), ApiError> {
        self.call_to::<endpoints::RemoveMember>(&[conversation, user], token)
            .await
    }

    /// `POST /conversations/{id}/accept` (addition to v1): accepts a message request.
    pub async fn accept(&self, token: &str, conversation: Uuid) -> Result<Conversation, ApiError> {
        self.call_to::<endpoints::Accept>(&[conversation], token)
            .await
    }

    /// `PUT /blocks/{user}` or `DELETE /blocks/{user}` (additions to v1).
    pub async fn set_blocked(
        &self,
        token: &str,
        user: Uuid,
        blocked: bool,
    ) -> Result<(), ApiError> {
        if blocked {
            self.call_to::<endpoints::Block>(&[user], token).await
        } else {
            self.call_to::<endpoints::Unblock>(&[user], token).await
        }
    }

    /// `GET /blocks` (addition to v1): whom this user blocked.
    pub async fn blocked(&self, token: &str) -> Result<Vec<User>, ApiError> {
        self.call_to::<endpoints::Blocked>(&[], token).await
    }

    /// `POST /reports` (addition to v1).
    pub async fn report(&self, token: &str, report: &NewReport) -> Result<ReportReceipt, ApiError> {
        self.send_to::<endpoints::Report>(&[], Some(token), report)
            .await
    }

    /// `GET /sync?since=&limit=&messages=`: with the latest `messages` of each
    /// conversation (an addition of this server; docs/protocol.md).
    pub async fn sync(
        &self,
        token: &str,
        since: Option<&str>,
        messages: u32,
        wait_secs: u32,
    ) -> Result<SyncPage, ApiError> {
        let query = SyncQuery {
            since: since.map(Into::into),
            limit: Some(500),
            messages: Some(messages),
            wait: (wait_secs > 0).then_some(wait_secs),
        };
        let mut request = self.to::<endpoints::Sync>(&[], Some(token)).query(&query);
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
        token: &str,
        conversation: Uuid,
        after_seq: i64,
        limit: u32,
    ) -> Result<MessagePage, ApiError> {
        let query = HistoryQuery {
            after_seq: Some(after_seq),
            before_seq: None,
            limit: Some(limit),
        };
        self.send_to::<endpoints::History>(&[conversation], Some(token), &query)
            .await
    }

    /// `GET /conversations/{id}`.
    pub async fn conversation(
        &self,
        token: &str,
        conversation: Uuid,
    ) -> Result<Conversation, ApiError> {
        self.call_to::<endpoints::GetConversation>(&[conversation], token)
            .await
    }

    /// `POST /conversations/{id}/messages`: the fallback send (of a message or a change).
    pub async fn send(&self, token: &str, message: &OutgoingMessage) -> Result<Message, ApiError> {
        let body = SendMessage {
            id: message.id,
            body: message.body.clone(),
            reply_to: message.reply_to,
            change: message.change.clone(),
            attachments: message.attachments.clone(),
        };
        self.send_to::<endpoints::Send>(&[message.conversation_id], Some(token), &body)
            .await
    }

    /// `POST /uploads`: declares a file about to be uploaded.
    pub async fn create_upload(&self, token: &str, upload: &NewUpload) -> Result<Upload, ApiError> {
        self.send_to::<endpoints::CreateUpload>(&[], Some(token), upload)
            .await
    }

    /// `GET /uploads/{id}`: where an upload stands.
    pub async fn upload(&self, token: &str, id: Uuid) -> Result<Upload, ApiError> {
        self.call_to::<endpoints::UploadStatus>(&[id], token).await
    }

    /// `PATCH /uploads/{id}`: the next chunk, starting at `offset`.
    pub async fn upload_chunk(
        &self,
        token: &str,
        id: Uuid,
        offset: u64,
        chunk: Vec<u8>,
    ) -> Result<Upload, ApiError> {
        let request = self
            .to::<endpoints::AppendChunk>(&[id], Some(token))
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
    pub async fn cancel_upload(&self, token: &str, id: Uuid) -> Result<(), ApiError> {
        let request = self.to::<endpoints::CancelUpload>(&[id], Some(token));
        self.call_raw(request).await.map(drop)
    }

    /// `GET /attachments/{id}` from byte `start` on: the response, to stream.
    pub async fn download(
        &self,
        token: &str,
        id: Uuid,
        start: u64,
    ) -> Result<reqwest::Response, ApiError> {
        let mut request = self
            .to::<endpoints::Download>(&[id], Some(token))
            .timeout(DOWNLOAD_TIMEOUT);
        if start > 0 {
            request = request.header(reqwest::header::RANGE, format!("bytes={start}-"));
        }
        self.call_raw(request).await
    }

    /// `GET /attachments/{id}/thumbnail`: an image's preview.
    pub async fn thumbnail(&self, token: &str, id: Uuid) -> Result<Vec<u8>, ApiError> {
        let request = self.to::<endpoints::Thumbnail>(&[id], Some(token));
        let response = self.call_raw(request).await?;
        let bytes = response
            .bytes()
            .await
            .map_err(|e| ApiError::Network(without_url(&e)))?;
        Ok(bytes.to_vec())
    }

    /// `POST /conversations/{id}/delivered`.
    pub async fn delivered(
        &self,
        token: &str,
        conversation: Uuid,
        seq: i64,
    ) -> Result<(), ApiError> {
        self.send_to::<endpoints::Delivered>(&[conversation], Some(token), &Watermark { seq })
            .await
    }

    /// `POST /conversations/{id}/read`.
    pub async fn read(&self, token: &str, conversation: Uuid, seq: i64) -> Result<(), ApiError> {
        self.send_to::<endpoints::Read>(&[conversation], Some(token), &Watermark { seq })
            .await
    }
}

/// What went wrong with a request, for people: the innermost cause ("Connection refused"),
/// or the error itself ("operation timed out").
fn without_url(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "no answer in time".to_owned();
    }
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    let text = cause.to_string();
    match e.url() {
        Some(url) => text.replace(url.as_str(), "the server"),
        None => text,
    }
}
