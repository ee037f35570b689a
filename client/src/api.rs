//! [`Api`]: the REST half of the protocol (sign-in, catch-up, history, fallback send), with
//! failures sorted into what is worth retrying ([`ApiError::is_transient`]) and what is not.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use ferry_proto::{
    Conversation, ErrorBody, ErrorCode, LoginRequest, Message, MessagePage, NewReport, NewUpload,
    OutgoingMessage, RefreshRequest, RegisterRequest, ReportReceipt, SendMessage, SyncPage, Tokens,
    Upload, User,
};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;
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

    fn request(&self, method: Method, path: &str, token: Option<&str>) -> RequestBuilder {
        let builder = self.http().request(method, format!("{}{path}", self.base));
        match token {
            Some(token) => builder.bearer_auth(token),
            None => builder,
        }
    }

    async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        token: Option<&str>,
        body: &impl Serialize,
    ) -> Result<T, ApiError> {
        self.call(self.request(Method::POST, path, token).json(body))
            .await
    }

    async fn get<T: DeserializeOwned>(&self, path: &str, token: &str) -> Result<T, ApiError> {
        self.call(self.request(Method::GET, path, Some(token)))
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
        self.post("/auth/register", None, &body).await
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
        self.post("/auth/login", None, &body).await
    }

    /// `POST /auth/refresh`.
    pub async fn refresh(&self, refresh_token: &str) -> Result<Tokens, ApiError> {
        self.post(
            "/auth/refresh",
            None,
            &RefreshRequest {
                refresh_token: refresh_token.into(),
            },
        )
        .await
    }

    /// `POST /auth/logout`.
    pub async fn logout(&self, token: &str) -> Result<(), ApiError> {
        self.call::<serde_json::Value>(self.request(Method::POST, "/auth/logout", Some(token)))
            .await
            .map(drop)
    }

    /// `GET /presence`.
    pub async fn presence(&self, token: &str) -> Result<Vec<ferry_proto::Presence>, ApiError> {
        self.get("/presence", token).await
    }

    /// `GET /me`.
    pub async fn me(&self, token: &str) -> Result<User, ApiError> {
        self.get("/me", token).await
    }

    /// `GET /users?q=`.
    pub async fn search_users(&self, token: &str, prefix: &str) -> Result<Vec<User>, ApiError> {
        self.call(
            self.request(Method::GET, "/users", Some(token))
                .query(&[("q", prefix)]),
        )
        .await
    }

    /// `POST /conversations` (direct).
    pub async fn direct(&self, token: &str, other: Uuid) -> Result<Conversation, ApiError> {
        self.post(
            "/conversations",
            Some(token),
            &json!({"kind": "direct", "member_ids": [other]}),
        )
        .await
    }

    /// `POST /conversations` (group).
    pub async fn group(
        &self,
        token: &str,
        title: &str,
        members: &[Uuid],
    ) -> Result<Conversation, ApiError> {
        let body = json!({"kind": "group", "title": title, "member_ids": members});
        self.post("/conversations", Some(token), &body).await
    }

    /// `POST /conversations/{id}/members`.
    pub async fn add_members(
        &self,
        token: &str,
        conversation: Uuid,
        users: &[Uuid],
    ) -> Result<Conversation, ApiError> {
        let path = format!("/conversations/{conversation}/members");
        self.post(&path, Some(token), &json!({"user_ids": users}))
            .await
    }

    /// `DELETE /conversations/{id}/members/{user}`.
    pub async fn remove_member(
        &self,
        token: &str,
        conversation: Uuid,
        user: Uuid,
    ) -> Result<(), ApiError> {
        let path = format!("/conversations/{conversation}/members/{user}");
        self.call::<serde_json::Value>(self.request(Method::DELETE, &path, Some(token)))
            .await
            .map(drop)
    }

    /// `POST /conversations/{id}/accept` (addition to v1): accepts a message request.
    pub async fn accept(&self, token: &str, conversation: Uuid) -> Result<Conversation, ApiError> {
        let path = format!("/conversations/{conversation}/accept");
        self.post(&path, Some(token), &json!({})).await
    }

    /// `PUT /blocks/{user}` or `DELETE /blocks/{user}` (additions to v1).
    pub async fn set_blocked(
        &self,
        token: &str,
        user: Uuid,
        blocked: bool,
    ) -> Result<(), ApiError> {
        let method = if blocked { Method::PUT } else { Method::DELETE };
        let path = format!("/blocks/{user}");
        self.call::<serde_json::Value>(self.request(method, &path, Some(token)))
            .await
            .map(drop)
    }

    /// `GET /blocks` (addition to v1): whom this user blocked.
    pub async fn blocked(&self, token: &str) -> Result<Vec<User>, ApiError> {
        self.call(self.request(Method::GET, "/blocks", Some(token)))
            .await
    }

    /// `POST /reports` (addition to v1).
    pub async fn report(&self, token: &str, report: &NewReport) -> Result<ReportReceipt, ApiError> {
        self.post("/reports", Some(token), report).await
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
        let mut request = self.request(Method::GET, "/sync", Some(token)).query(&[
            ("limit", "500".to_string()),
            ("messages", messages.to_string()),
        ]);
        if let Some(since) = since {
            request = request.query(&[("since", since)]);
        }
        if wait_secs > 0 {
            // A long-poll: the server may hold the answer that long, so the call may
            // take longer than the usual limit.
            request = request
                .query(&[("wait", wait_secs.to_string())])
                .timeout(Duration::from_secs(u64::from(wait_secs) + 20));
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
        let path = format!("/conversations/{conversation}/messages");
        let query = [
            ("after_seq", after_seq.to_string()),
            ("limit", limit.to_string()),
        ];
        self.call(self.request(Method::GET, &path, Some(token)).query(&query))
            .await
    }

    /// `GET /conversations/{id}`.
    pub async fn conversation(
        &self,
        token: &str,
        conversation: Uuid,
    ) -> Result<Conversation, ApiError> {
        self.get(&format!("/conversations/{conversation}"), token)
            .await
    }

    /// `POST /conversations/{id}/messages`: the fallback send (of a message or a change).
    pub async fn send(&self, token: &str, message: &OutgoingMessage) -> Result<Message, ApiError> {
        let path = format!("/conversations/{}/messages", message.conversation_id);
        let body = SendMessage {
            id: message.id,
            body: message.body.clone(),
            reply_to: message.reply_to,
            change: message.change.clone(),
            attachments: message.attachments.clone(),
        };
        self.post(&path, Some(token), &body).await
    }

    /// `POST /uploads`: declares a file about to be uploaded.
    pub async fn create_upload(&self, token: &str, upload: &NewUpload) -> Result<Upload, ApiError> {
        self.post("/uploads", Some(token), upload).await
    }

    /// `GET /uploads/{id}`: where an upload stands.
    pub async fn upload(&self, token: &str, id: Uuid) -> Result<Upload, ApiError> {
        self.get(&format!("/uploads/{id}"), token).await
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
            .request(Method::PATCH, &format!("/uploads/{id}"), Some(token))
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
        let request = self.request(Method::DELETE, &format!("/uploads/{id}"), Some(token));
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
            .request(Method::GET, &format!("/attachments/{id}"), Some(token))
            .timeout(DOWNLOAD_TIMEOUT);
        if start > 0 {
            request = request.header(reqwest::header::RANGE, format!("bytes={start}-"));
        }
        self.call_raw(request).await
    }

    /// `GET /attachments/{id}/thumbnail`: an image's preview.
    pub async fn thumbnail(&self, token: &str, id: Uuid) -> Result<Vec<u8>, ApiError> {
        let request = self.request(
            Method::GET,
            &format!("/attachments/{id}/thumbnail"),
            Some(token),
        );
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
        let path = format!("/conversations/{conversation}/delivered");
        self.post::<serde_json::Value>(&path, Some(token), &json!({"seq": seq}))
            .await
            .map(drop)
    }

    /// `POST /conversations/{id}/read`.
    pub async fn read(&self, token: &str, conversation: Uuid, seq: i64) -> Result<(), ApiError> {
        let path = format!("/conversations/{conversation}/read");
        self.post::<serde_json::Value>(&path, Some(token), &json!({"seq": seq}))
            .await
            .map(drop)
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
