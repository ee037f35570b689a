//! S3-compatible storage for the blob store's tests: [`S3Server`] is a `moto_server`
//! process (moto, from PyPI; `scripts/test.sh` installs it) on a loopback port of the
//! test's own, with one bucket made for it, killed on drop. [`s3_config`] points a
//! server's configuration at it.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::process::Stdio;

use ferry_server::Config;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use uuid::Uuid;

use crate::wait::within;

/// A `moto_server` of the test's own.
pub struct S3Server {
    _child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl S3Server {
    /// Starts one on a free port and waits until it is ready.
    pub async fn start() -> Self {
        let addr = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|l| l.local_addr())
            .expect("a free port");
        let mut child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &addr.port().to_string()])
            .stderr(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("moto_server (scripts/test.sh installs moto[server] with pip)");
        // Werkzeug says where it runs on stderr (some versions on stdout).
        let mut err = BufReader::new(child.stderr.take().expect("stderr")).lines();
        let mut out = BufReader::new(child.stdout.take().expect("stdout")).lines();
        within("moto_server to be ready", async {
            loop {
                let line = tokio::select! {
                    line = err.next_line() => line,
                    line = out.next_line() => line,
                };
                match line.expect("read moto_server's log") {
                    Some(line) if line.contains("Running on") => return,
                    Some(_) => {}
                    None => panic!("moto_server exited before it was ready"),
                }
            }
        })
        .await;
        tokio::spawn(async move { while let Ok(Some(_)) = err.next_line().await {} });
        tokio::spawn(async move { while let Ok(Some(_)) = out.next_line().await {} });
        Self {
            _child: child,
            addr,
        }
    }

    /// `http://host:port`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Makes a new bucket and returns its name.
    pub async fn bucket(&self) -> String {
        let name = format!("ferry-{}", Uuid::new_v4().simple());
        let response = reqwest::Client::new()
            .put(format!("{}/{name}", self.endpoint()))
            .send()
            .await
            .expect("moto answers");
        assert!(
            response.status().is_success(),
            "bucket: {}",
            response.status()
        );
        name
    }
}

/// Points `config`'s blob store at a new bucket of `s3`.
pub async fn s3_config(config: &mut Config, s3: &S3Server) {
    config.files = Some(format!("s3://{}", s3.bucket().await));
    config.s3_endpoint = Some(s3.endpoint());
    config.s3_region = Some("us-east-1".into());
    config.s3_access_key_id = Some("ferry-test".into());
    config.s3_secret_access_key = Some("ferry-test-secret".into());
}
