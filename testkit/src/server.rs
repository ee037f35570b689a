//! The server in the test's own process ([`TestServer`]): bound to an ephemeral loopback
//! port (or a given address, to come back on it after a stop), serving once `/readyz`
//! answers, stopped gracefully. [`test_config`] is what every suite starts it with, and
//! [`Served`] is what a test needs of any running server, in process or not: its address.

use std::net::SocketAddr;

use ferry_server::Config;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::database::TestDb;
use crate::wait::within;

/// A fixed secret, so that a restarted server accepts the tokens it issued before.
pub const JWT_SECRET: &str = "ferry-test-secret-0123456789abcdef0123456789";

/// The configuration tests run with: the test's database and directory, a fixed secret,
/// port 0, and rate limits no test reaches unless it sets its own (those that check a
/// limit do).
pub fn test_config(db: &TestDb) -> Config {
    let mut config = Config::defaults();
    config.bind = SocketAddr::from(([127, 0, 0, 1], 0));
    config.database_url = Some(db.url.clone());
    config.data_dir = db.dir.path().join("data");
    config.jwt_secret = Some(JWT_SECRET.into());
    config.send_rate_per_sec = 1_000_000;
    config.send_burst = 1_000_000;
    config.login_rate_per_min = 1_000_000;
    config.auth_rate_per_ip_per_min = 1_000_000;
    config.frame_rate_per_sec = 1_000_000;
    config.membership_rate_per_min = 1_000_000;
    // Every test's clients come from 127.0.0.1.
    config.max_connections_per_ip = 0;
    // Many tests run at once, each with its own pool, on one Postgres.
    config.db_pool = 8;
    // "Offline" at once when the last socket closes, as the tests that close one expect;
    // the grace has tests of its own.
    config.presence_grace_secs = 0;
    config
}

/// A running server, wherever it runs.
pub trait Served {
    /// Where it listens.
    fn addr(&self) -> SocketAddr;

    /// `http://host:port`.
    fn url(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// The URL of a REST path (`/auth/register` → `http://host:port/api/v1/auth/register`).
    fn api(&self, path: &str) -> String {
        format!("http://{}/api/v1{path}", self.addr())
    }

    /// The WebSocket endpoint.
    fn ws_url(&self) -> String {
        format!("ws://{}/api/v1/ws", self.addr())
    }
}

/// A server running in this process.
pub struct TestServer {
    /// Where it listens.
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), ferry_server::StartError>>,
}

impl TestServer {
    /// On `db` with [`test_config`], on port 0.
    pub async fn start(db: &TestDb) -> Self {
        Self::start_with(test_config(db)).await
    }

    /// With `config`, on port 0 (`config.bind` is not used).
    pub async fn start_with(config: Config) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        Self::serve(config, listener).await
    }

    /// With `config`, on `addr`: to come back on the same port after a stop.
    pub async fn start_at(config: Config, addr: SocketAddr) -> Self {
        let listener = TcpListener::bind(addr).await.expect("bind");
        Self::serve(config, listener).await
    }

    async fn serve(config: Config, listener: TcpListener) -> Self {
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
        let ready = within(
            "server start",
            reqwest::get(format!("{}/readyz", server.url())),
        )
        .await;
        let status = ready.expect("readyz").status();
        assert!(status.is_success(), "readyz answered {status}");
        server
    }

    /// Graceful stop: waits until the server has returned, and fails the test if it
    /// returned an error.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        within("server stop", &mut self.task)
            .await
            .expect("join")
            .expect("server ran cleanly");
    }

    /// GET requests the server has answered on `route` (a route template, from its own
    /// metrics).
    pub async fn requests(&self, route: &str) -> u64 {
        requests_at(self.addr, route).await
    }
}

impl Served for TestServer {
    fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The server's `/metrics` text.
async fn metrics_text(addr: SocketAddr) -> String {
    reqwest::get(format!("http://{addr}/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text")
}

/// GET requests the server at `addr` has answered on `route`, from its `/metrics`.
pub async fn requests_at(addr: SocketAddr, route: &str) -> u64 {
    metrics_text(addr)
        .await
        .lines()
        .filter(|l| l.starts_with("ferry_http_request_duration_seconds_count{"))
        .filter(|l| l.contains("method=\"GET\"") && l.contains(&format!("route=\"{route}\"")))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// The value of the unlabelled metric `name` (a counter's `…_total`, a gauge) of the
/// server at `addr`; 0 when absent.
pub async fn metric_at(addr: SocketAddr, name: &str) -> u64 {
    metrics_text(addr)
        .await
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0)
}
