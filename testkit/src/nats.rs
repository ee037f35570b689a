//! NATS for cluster tests: [`nats_url`] is the machine's NATS (127.0.0.1:4222 unless
//! `FERRY_TEST_NATS_URL` says otherwise), shared by every test, each on its own subject
//! prefix ([`subject_prefix`]); [`NatsServer`] is a `nats-server` process of the test's
//! own, for tests that stop and restart it.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use uuid::Uuid;

use crate::wait::within;

/// The NATS that cluster tests share.
pub fn nats_url() -> String {
    std::env::var("FERRY_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

/// A subject prefix no other test uses, so that clusters sharing one NATS never hear
/// each other.
pub fn subject_prefix() -> String {
    format!("ferry-test-{}", Uuid::new_v4().simple())
}

/// A `nats-server` process on a loopback port of its own, killed on drop.
pub struct NatsServer {
    child: Option<Child>,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl NatsServer {
    /// Starts one on a free port and waits until it is ready.
    pub async fn start() -> Self {
        // Taken from the kernel, then handed to nats-server (which cannot say which port
        // it picked in a form easier to read than this).
        let addr = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|l| l.local_addr())
            .expect("a free port");
        let mut server = Self { child: None, addr };
        server.restart().await;
        server
    }

    /// `nats://…` of this server.
    pub fn url(&self) -> String {
        format!("nats://{}", self.addr)
    }

    /// Stops it at once (SIGKILL), as a crash would.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.start_kill().expect("SIGKILL nats-server");
            within("nats-server to exit", child.wait())
                .await
                .expect("wait");
        }
    }

    /// Starts it (again) on the same port and waits until it is ready.
    pub async fn restart(&mut self) {
        self.kill().await;
        let mut child = Command::new("nats-server")
            .args(["-a", "127.0.0.1", "-p", &self.addr.port().to_string()])
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("nats-server (scripts/test.sh installs it)");
        let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
        within("nats-server to be ready", async {
            while let Some(line) = lines.next_line().await.expect("read nats-server log") {
                if line.contains("Server is ready") {
                    return;
                }
            }
            panic!("nats-server exited before it was ready");
        })
        .await;
        // Keep draining its log so that it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        self.child = Some(child);
    }
}
