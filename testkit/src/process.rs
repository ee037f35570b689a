//! [`ServerProcess`]: the real `ferry-server` binary in its own process, for tests that
//! kill it with SIGKILL mid-work. It gets the same settings as the in-process server,
//! turned into the environment variables the binary reads (server/src/config.rs).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use ferry_server::Config;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::server::Served;
use crate::wait::within;

/// A `ferry-server` process.
pub struct ServerProcess {
    child: Child,
    /// Where it listens (read from its start-up line, as it may bind port 0).
    pub addr: SocketAddr,
}

/// A binary of this workspace, built by `cargo test --workspace` next to the directory
/// of the running test executable (for a crate whose tests cannot name it with
/// `CARGO_BIN_EXE_…`, as it is another crate's).
pub fn workspace_binary(name: &str) -> PathBuf {
    // Integration tests live in target/<profile>/deps; the binaries in target/<profile>.
    let exe = std::env::current_exe().expect("test executable");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    // On Windows (the client suites run under Wine, scripts/cross.sh) it is `name.exe`.
    let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "{} is missing: run `cargo test --workspace`",
        path.display()
    );
    path
}

impl ServerProcess {
    /// Starts `binary` with `config`'s database, directory, secret, limits, heartbeat,
    /// blob store and `bind` address, and waits until it listens.
    pub async fn start(binary: &Path, config: &Config) -> Self {
        let mut command = Command::new(binary);
        if let Some(url) = &config.database_url {
            command.env("DATABASE_URL", url);
        }
        if let Some(secret) = &config.jwt_secret {
            command.env("FERRY_JWT_SECRET", secret);
        }
        if let Some(path) = &config.jwt_secret_file {
            command.env("FERRY_JWT_SECRET_FILE", path);
        }
        if let Some(url) = &config.nats_url {
            command
                .env("FERRY_NATS_URL", url)
                .env("FERRY_NATS_SUBJECT", &config.nats_subject);
        }
        // Files: a cluster's nodes share one S3 bucket.
        let files = [
            ("FERRY_FILES", &config.files),
            ("FERRY_S3_ENDPOINT", &config.s3_endpoint),
            ("FERRY_S3_REGION", &config.s3_region),
            ("FERRY_S3_ACCESS_KEY_ID", &config.s3_access_key_id),
            ("FERRY_S3_SECRET_ACCESS_KEY", &config.s3_secret_access_key),
        ];
        for (name, value) in files {
            if let Some(value) = value {
                command.env(name, value);
            }
        }
        let mut child = command
            .env("FERRY_BIND", config.bind.to_string())
            .env("FERRY_DATA_DIR", &config.data_dir)
            .env("FERRY_SEND_RATE", config.send_rate_per_sec.to_string())
            .env("FERRY_SEND_BURST", config.send_burst.to_string())
            .env("FERRY_FRAME_RATE", config.frame_rate_per_sec.to_string())
            .env(
                "FERRY_MEMBERSHIP_RATE",
                config.membership_rate_per_min.to_string(),
            )
            .env("FERRY_LOGIN_RATE", config.login_rate_per_min.to_string())
            .env(
                "FERRY_AUTH_RATE_PER_IP",
                config.auth_rate_per_ip_per_min.to_string(),
            )
            .env("FERRY_HEARTBEAT_SECS", config.heartbeat_secs.to_string())
            .env(
                "FERRY_PRESENCE_GRACE_SECS",
                config.presence_grace_secs.to_string(),
            )
            .env("FERRY_DB_POOL", config.db_pool.to_string())
            .env(
                "FERRY_MAX_CONNECTIONS_PER_IP",
                config.max_connections_per_ip.to_string(),
            )
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn ferry-server");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let addr = within("the server to listen", async {
            while let Some(line) = lines.next_line().await.expect("read stdout") {
                if let Some(rest) = line.strip_prefix("Ferry server listening on http://") {
                    let addr = rest.split_whitespace().next().expect("address");
                    return addr.parse().expect("socket address");
                }
            }
            panic!("ferry-server exited before listening");
        })
        .await;
        // Keep reading its output, so that its logs never meet a closed pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self { child, addr }
    }

    /// SIGKILL, and wait until the process is gone.
    pub async fn kill(mut self) {
        self.child.start_kill().expect("SIGKILL");
        within("process exit", self.child.wait())
            .await
            .expect("wait");
    }
}

impl Served for ServerProcess {
    fn addr(&self) -> SocketAddr {
        self.addr
    }
}
