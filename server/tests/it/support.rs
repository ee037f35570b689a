//! Test harness: the shared test kit (databases that clean up after themselves, the server
//! on port 0 in process or as its binary), and small REST and WebSocket clients that fail
//! the test with a timeout instead of hanging.

#![allow(dead_code)]

use std::future::Future;
use std::time::Duration;

use ferry_proto::{ClientFrame, ConversationId, MessageId, ServerFrame, Tokens, UserId};
use futures_util::{SinkExt, StreamExt};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message as WsMessage};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use uuid::Uuid;

pub use ferry_testkit::{
    Backend, JWT_SECRET, Served, ServerProcess, TestDb, TestServer, test_config,
};

/// How long any single expected event may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(15);

/// Every test user's password.
pub const PASSWORD: &str = "correct horse battery";

/// Awaits `f`, failing the test if it takes longer than [`WAIT`].
pub async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    ferry_testkit::within_for(WAIT, what, f).await
}

/// Generates one test per backend from `async fn name(backend: Backend)`.
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::support::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::support::Backend::Postgres).await;
                }
            )*
        }
    };
}
pub(crate) use on_both;

/// The real `ferry-server` binary of this crate, started on `db` (for tests that SIGKILL
/// it).
pub async fn server_process(db: &TestDb) -> ServerProcess {
    ServerProcess::start(
        std::path::Path::new(env!("CARGO_BIN_EXE_ferry-server")),
        &test_config(db),
    )
    .await
}

/// A signed-in user with a REST client.
#[derive(Clone)]
pub struct User {
    pub http: reqwest::Client,
    pub base: String,
    pub ws_url: String,
    pub tokens: Tokens,
}

impl User {
    pub fn id(&self) -> UserId {
        self.tokens.user.id
    }

    pub async fn register(server: &impl Served, username: &str) -> Self {
        let http = reqwest::Client::new();
        let response = http
            .post(server.api("/auth/register"))
            .json(&json!({"username": username, "password": PASSWORD, "display_name": username}))
            .send()
            .await
            .expect("register request");
        assert_eq!(
            response.status(),
            StatusCode::CREATED,
            "register {username}"
        );
        let tokens: Tokens = response.json().await.expect("tokens");
        Self::with_tokens(server, tokens)
    }

    /// Another device of the same account (a new session).
    pub async fn login(server: &impl Served, username: &str) -> Self {
        let http = reqwest::Client::new();
        let response = http
            .post(server.api("/auth/login"))
            .json(&json!({"username": username, "password": PASSWORD}))
            .send()
            .await
            .expect("login request");
        assert_eq!(response.status(), StatusCode::OK, "login {username}");
        Self::with_tokens(server, response.json().await.expect("tokens"))
    }

    pub fn with_tokens(server: &impl Served, tokens: Tokens) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: server.api(""),
            ws_url: server.ws_url(),
            tokens,
        }
    }

    /// The same user against another (restarted) server.
    pub fn on(&self, server: &impl Served) -> Self {
        Self::with_tokens(server, self.tokens.clone())
    }

    /// Any request; returns the status and the JSON body (`null` when empty).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{}", self.base, path))
            .bearer_auth(&self.tokens.access_token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status();
        let text = response.text().await.expect("body");
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("non-JSON body: {text}"))
        };
        (status, value)
    }

    /// A request that must succeed; returns the typed body.
    pub async fn ok<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> T {
        let (status, value) = self.call(method.clone(), path, body).await;
        assert!(status.is_success(), "{method} {path} → {status}: {value}");
        serde_json::from_value(value).expect("typed body")
    }

    /// A request that must fail with `expected`: its HTTP status and protocol error code.
    pub async fn refused(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        expected: (StatusCode, &str),
    ) {
        let (status, value) = self.call(method.clone(), path, body).await;
        let code = value["error"]["code"].as_str();
        assert_eq!(
            (status, code),
            (expected.0, Some(expected.1)),
            "{method} {path}: {value}"
        );
    }

    /// A request that must answer 204 No Content.
    pub async fn no_content(&self, method: Method, path: &str, body: Option<Value>) {
        let (status, value) = self.call(method.clone(), path, body).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{method} {path}: {value}");
    }

    pub async fn direct_with(&self, other: &User) -> ferry_proto::Conversation {
        self.ok(
            Method::POST,
            "/conversations",
            Some(json!({"kind": "direct", "member_ids": [other.id()]})),
        )
        .await
    }

    /// Accepts a message request (`POST /conversations/{id}/accept`).
    pub async fn accept(&self, conversation: ConversationId) -> ferry_proto::Conversation {
        self.ok(
            Method::POST,
            &format!("/conversations/{conversation}/accept"),
            None,
        )
        .await
    }

    pub async fn group(&self, title: &str, members: &[&User]) -> ferry_proto::Conversation {
        let ids: Vec<UserId> = members.iter().map(|m| m.id()).collect();
        self.ok(
            Method::POST,
            "/conversations",
            Some(json!({"kind": "group", "title": title, "member_ids": ids})),
        )
        .await
    }

    /// Sends over REST and returns the stored message.
    pub async fn send_rest(
        &self,
        conversation: ConversationId,
        body: &str,
    ) -> ferry_proto::Message {
        self.ok(
            Method::POST,
            &format!("/conversations/{conversation}/messages"),
            Some(json!({"id": Uuid::now_v7(), "body": body})),
        )
        .await
    }

    /// Every message of a conversation, paging forward.
    pub async fn history(&self, conversation: ConversationId) -> Vec<ferry_proto::Message> {
        let mut all = Vec::new();
        let mut after = 0;
        loop {
            let page: ferry_proto::MessagePage = self
                .ok(
                    Method::GET,
                    &format!("/conversations/{conversation}/messages?after_seq={after}&limit=500"),
                    None,
                )
                .await;
            after = page.messages.last().map_or(after, |m| m.seq);
            all.extend(page.messages);
            if !page.has_more {
                return all;
            }
        }
    }

    pub async fn ws(&self) -> Ws {
        Ws::connect(&self.ws_url, &self.tokens.access_token).await
    }

    /// A socket that asked for `members` frames (`?features=members`).
    pub async fn ws_with_members(&self) -> Ws {
        let url = format!("{}?features=members", self.ws_url);
        Ws::connect(&url, &self.tokens.access_token).await
    }
}

/// Alice and Bob, signed up, and the direct conversation between them, which Bob accepted
/// (most tests' cast: people who know each other; `requests.rs` tests strangers).
pub async fn alice_and_bob(server: &impl Served) -> (User, User, ConversationId) {
    let alice = User::register(server, "alice").await;
    let bob = User::register(server, "bob").await;
    let conv = alice.direct_with(&bob).await.id;
    bob.accept(conv).await;
    (alice, bob, conv)
}

type Stream = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A socket upgraded by hand over raw TCP, for tests of clients that misbehave (never
/// answer pings, never read), which a WebSocket library would not let them do.
pub async fn raw_upgrade(server: &TestServer, token: &str) -> TcpStream {
    use tokio::io::AsyncWriteExt;
    let mut tcp = TcpStream::connect(server.addr).await.expect("connect");
    let request = format!(
        "GET /api/v1/ws HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Authorization: Bearer {token}\r\n\r\n",
        server.addr
    );
    tcp.write_all(request.as_bytes()).await.expect("write");
    tcp
}

/// A WebSocket client that has read its `welcome`.
pub struct Ws {
    pub stream: Stream,
    pub welcome: ServerFrame,
}

/// Opens a socket, returning the HTTP error of a refused upgrade.
pub async fn try_ws(url: &str, token: Option<&str>) -> Result<Stream, tungstenite::Error> {
    let mut request = url.into_client_request().expect("request");
    if let Some(token) = token {
        request.headers_mut().insert(
            "authorization",
            format!("Bearer {token}").parse().expect("header"),
        );
    }
    tokio_tungstenite::connect_async(request)
        .await
        .map(|(s, _)| s)
}

impl Ws {
    pub async fn connect(url: &str, token: &str) -> Self {
        let stream = within("ws connect", try_ws(url, Some(token)))
            .await
            .expect("ws upgrade");
        let mut ws = Self {
            stream,
            welcome: ServerFrame::Pong,
        };
        ws.welcome = ws.next().await;
        assert!(
            matches!(ws.welcome, ServerFrame::Welcome { .. }),
            "first frame: {:?}",
            ws.welcome
        );
        ws
    }

    pub async fn send(&mut self, frame: &ClientFrame) {
        self.send_text(&serde_json::to_string(frame).expect("encode"))
            .await;
    }

    pub async fn send_text(&mut self, text: &str) {
        self.stream
            .send(WsMessage::Text(text.into()))
            .await
            .expect("ws send");
    }

    /// The next protocol frame (control frames skipped).
    pub async fn next(&mut self) -> ServerFrame {
        within("a frame", async {
            loop {
                match self.stream.next().await {
                    Some(Ok(WsMessage::Text(text))) => {
                        return serde_json::from_str(&text)
                            .unwrap_or_else(|e| panic!("bad frame {text}: {e}"));
                    }
                    Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => continue,
                    other => panic!("expected a frame, got {other:?}"),
                }
            }
        })
        .await
    }

    /// The next frame that matches `pick`, skipping others (presence and the like).
    pub async fn expect(&mut self, what: &str, pick: impl Fn(&ServerFrame) -> bool) -> ServerFrame {
        within(what, async {
            loop {
                let frame = self.next().await;
                if pick(&frame) {
                    return frame;
                }
            }
        })
        .await
    }

    /// The frames that come before the answer to a `ping`: everything the server queued
    /// for this socket before it read the ping.
    pub async fn until_pong(&mut self) -> Vec<ServerFrame> {
        self.send(&ClientFrame::Ping).await;
        self.until(|f| *f == ServerFrame::Pong).await
    }

    /// The frames that come before the first one that matches `pick` (which is read too).
    pub async fn until(&mut self, pick: impl Fn(&ServerFrame) -> bool) -> Vec<ServerFrame> {
        let mut before = Vec::new();
        loop {
            match self.next().await {
                frame if pick(&frame) => return before,
                frame => before.push(frame),
            }
        }
    }

    /// Waits for the server to close the socket and returns its close frame.
    pub async fn closed(&mut self) -> Option<CloseFrame> {
        within("close", async {
            loop {
                match self.stream.next().await {
                    Some(Ok(WsMessage::Close(frame))) => return frame,
                    Some(Ok(_)) => continue,
                    Some(Err(_)) | None => return None,
                }
            }
        })
        .await
    }

    pub fn send_frame(id: MessageId, conversation: ConversationId, body: &str) -> ClientFrame {
        ClientFrame::Send {
            message: ferry_proto::OutgoingMessage::text(id, conversation, body),
        }
    }
}

/// Waits until `count` users are within the presence grace on `server`.
pub async fn departing_users_are(server: &impl Served, count: u64) {
    // `/metrics` says nothing when it moves: look again at a gentle pace.
    let mut look = tokio::time::interval(Duration::from_millis(20));
    within("the departures", async {
        while ferry_testkit::metric_at(server.addr(), "ferry_departing_users").await != count {
            look.tick().await;
        }
    })
    .await;
}
