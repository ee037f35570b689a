//! Test harness: databases that clean up after themselves, a server on port 0, and small
//! REST and WebSocket clients that fail the test with a timeout instead of hanging.

#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use ferry_proto::{ClientFrame, ServerFrame, Tokens};
use ferry_server::Config;
use futures_util::{SinkExt, StreamExt};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message as WsMessage};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use uuid::Uuid;

/// How long any single expected event may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(15);
/// A fixed secret, so that a restarted server accepts the tokens it issued before.
pub const JWT_SECRET: &str = "ferry-test-secret-0123456789abcdef0123456789";

/// Awaits `f`, failing the test if it takes longer than [`WAIT`].
pub async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    match tokio::time::timeout(WAIT, f).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {WAIT:?} waiting for {what}"),
    }
}

/// Which database a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
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

/// A fresh database: a SQLite file in a temporary directory, or a new Postgres database
/// (dropped when this is dropped).
pub struct TestDb {
    pub url: String,
    pub dir: tempfile::TempDir,
    postgres: Option<(String, String)>,
}

/// The Postgres server the tests may create databases on.
pub fn postgres_admin_url() -> String {
    std::env::var("FERRY_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres:postgres@127.0.0.1:5432/postgres".into())
}

fn with_database(url: &str, name: &str) -> String {
    let base = url.rsplit_once('/').map_or(url, |(base, _)| base);
    format!("{base}/{name}")
}

impl TestDb {
    pub async fn new(backend: Backend) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        match backend {
            Backend::Sqlite => {
                let url = format!("sqlite://{}", dir.path().join("ferry.db").display());
                Self {
                    url,
                    dir,
                    postgres: None,
                }
            }
            Backend::Postgres => {
                let admin = postgres_admin_url();
                let name = format!("ferry_test_{}", Uuid::new_v4().simple());
                let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
                    .await
                    .unwrap_or_else(|e| {
                        panic!(
                            "Postgres is required for these tests (FERRY_TEST_DATABASE_URL, \
                             scripts/test.sh starts it): {e}"
                        )
                    });
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut conn)
                    .await
                    .expect("create test database");
                Self {
                    url: with_database(&admin, &name),
                    dir,
                    postgres: Some((admin, name)),
                }
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((admin, name)) = self.postgres.take() else {
            return;
        };
        // Drop runs inside the test's runtime; a separate thread with its own runtime may
        // block on the DROP.
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async {
                let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin).await?;
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&mut conn)
                .await?;
                Ok::<_, sqlx::Error>(())
            })
            .map_err(std::io::Error::other)
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("warning: could not drop a test database");
        }
    }
}

/// The configuration tests run with: generous rate limits (tests that check limits set
/// their own), a fixed secret, data in the test's directory.
pub fn test_config(db: &TestDb) -> Config {
    let mut config = Config::defaults();
    config.database_url = Some(db.url.clone());
    config.data_dir = db.dir.path().join("data");
    config.jwt_secret = Some(JWT_SECRET.into());
    config.send_rate_per_sec = 1_000_000;
    config.send_burst = 1_000_000;
    config.login_rate_per_min = 10_000;
    config.auth_rate_per_ip_per_min = 1_000_000;
    config.frame_rate_per_sec = 1_000_000;
    config.db_pool = 8;
    config
}

/// A server running in this process on 127.0.0.1:0.
pub struct TestServer {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), ferry_server::StartError>>,
}

impl TestServer {
    pub async fn start(db: &TestDb) -> Self {
        Self::start_with(test_config(db)).await
    }

    pub async fn start_with(config: Config) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(ferry_server::run(listener, config, async move {
            let _ = stopped.await;
        }));
        let server = Self {
            addr,
            stop: Some(stop),
            task,
        };
        // The listener is already bound, so this request waits in the backlog until the
        // store is open and migrated and the router serves.
        let ready = within("server start", reqwest::get(server.url("/readyz"))).await;
        assert_eq!(ready.expect("readyz").status(), StatusCode::OK);
        server
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn api(&self, path: &str) -> String {
        format!("http://{}/api/v1{}", self.addr, path)
    }

    /// Graceful stop: waits until the server has returned.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        within("server stop", &mut self.task)
            .await
            .expect("join")
            .expect("server ran cleanly");
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
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
    pub fn id(&self) -> Uuid {
        self.tokens.user.id
    }

    pub async fn register(server: &TestServer, username: &str) -> Self {
        let http = reqwest::Client::new();
        let response = http
            .post(server.api("/auth/register"))
            .json(&json!({"username": username, "password": "correct horse battery", "display_name": username}))
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
    pub async fn login(server: &TestServer, username: &str) -> Self {
        let http = reqwest::Client::new();
        let response = http
            .post(server.api("/auth/login"))
            .json(&json!({"username": username, "password": "correct horse battery"}))
            .send()
            .await
            .expect("login request");
        assert_eq!(response.status(), StatusCode::OK, "login {username}");
        Self::with_tokens(server, response.json().await.expect("tokens"))
    }

    pub fn with_tokens(server: &TestServer, tokens: Tokens) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: server.api(""),
            ws_url: format!("ws://{}/api/v1/ws", server.addr),
            tokens,
        }
    }

    /// The same user against another (restarted) server.
    pub fn on(&self, server: &TestServer) -> Self {
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

    pub async fn direct_with(&self, other: &User) -> ferry_proto::Conversation {
        self.ok(
            Method::POST,
            "/conversations",
            Some(json!({"kind": "direct", "member_ids": [other.id()]})),
        )
        .await
    }

    pub async fn group(&self, title: &str, members: &[&User]) -> ferry_proto::Conversation {
        let ids: Vec<Uuid> = members.iter().map(|m| m.id()).collect();
        self.ok(
            Method::POST,
            "/conversations",
            Some(json!({"kind": "group", "title": title, "member_ids": ids})),
        )
        .await
    }

    /// Sends over REST and returns the stored message.
    pub async fn send_rest(&self, conversation: Uuid, body: &str) -> ferry_proto::Message {
        self.ok(
            Method::POST,
            &format!("/conversations/{conversation}/messages"),
            Some(json!({"id": Uuid::now_v7(), "body": body})),
        )
        .await
    }

    /// Every message of a conversation, paging forward.
    pub async fn history(&self, conversation: Uuid) -> Vec<ferry_proto::Message> {
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

    pub fn send_frame(id: Uuid, conversation: Uuid, body: &str) -> ClientFrame {
        ClientFrame::Send {
            message: ferry_proto::OutgoingMessage {
                id,
                conversation_id: conversation,
                body: body.into(),
            },
        }
    }
}
