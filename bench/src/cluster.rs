//! [`Nodes`] of Ferry on one database, for the cluster scenarios (B8, B11): started
//! with `FERRY_NATS_URL` pointing at a NATS of the scenario's own, killed and started
//! again one at a time, their CPU summed over every life (what a killed node used is
//! kept), and the ports a scenario uses, all derived from `--addr`.

use std::net::SocketAddr;

use anyhow::Context;

use crate::target::{Server, Usage};
use crate::wire::Target;

/// The ports of a cluster scenario, from the port of `--addr` (P): nodes on P+1…, their
/// proxies on P+11…, NATS on P+20, Postgres on P+21.
pub struct Ports {
    base: u16,
}

impl Ports {
    pub fn new(addr: &str) -> anyhow::Result<Self> {
        let addr: SocketAddr = addr.parse().context("--addr is ip:port")?;
        anyhow::ensure!(
            addr.ip().is_loopback(),
            "cluster scenarios run on loopback only"
        );
        Ok(Self { base: addr.port() })
    }

    pub fn node(&self, i: usize) -> String {
        format!("127.0.0.1:{}", self.base + 1 + i as u16)
    }

    pub fn proxy(&self, i: usize) -> String {
        format!("127.0.0.1:{}", self.base + 11 + i as u16)
    }

    pub fn nats(&self) -> u16 {
        self.base + 20
    }

    pub fn postgres(&self) -> u16 {
        self.base + 21
    }
}

/// Ferry's nodes of one cluster.
pub struct Nodes {
    pub addrs: Vec<String>,
    url: String,
    env: Vec<(&'static str, String)>,
    /// `None` while a node is down.
    nodes: Vec<Option<Server>>,
    /// CPU seconds of the nodes' lives that ended.
    spent_cpu: f64,
}

impl Nodes {
    /// Starts a node on each of `addrs` against database `url`, one after the other (the
    /// first migrates it), all on the bus at `nats_url` (none: a single node on its
    /// local bus).
    pub async fn start(
        addrs: Vec<String>,
        url: &str,
        nats_url: Option<String>,
        subject: &str,
    ) -> anyhow::Result<Self> {
        let mut env = Vec::new();
        if let Some(nats) = nats_url {
            env.push(("FERRY_NATS_URL", nats));
            env.push(("FERRY_NATS_SUBJECT", subject.to_owned()));
        }
        let mut nodes = Self {
            addrs,
            url: url.to_owned(),
            env,
            nodes: Vec::new(),
            spent_cpu: 0.0,
        };
        for i in 0..nodes.addrs.len() {
            nodes.nodes.push(None);
            nodes.start_node(i).await?;
        }
        Ok(nodes)
    }

    /// Starts node `i` (down) and waits until it is ready.
    pub async fn start_node(&mut self, i: usize) -> anyhow::Result<()> {
        let server = Server::start_with(Target::Ferry, &self.addrs[i], &self.url, 1, &self.env)
            .await
            .with_context(|| format!("node {i}"))?;
        self.nodes[i] = Some(server);
        Ok(())
    }

    /// SIGKILLs node `i`.
    pub async fn kill(&mut self, i: usize) {
        if let Some(mut server) = self.nodes[i].take() {
            self.spent_cpu += server.usage().cpu_secs;
            server.kill().await;
        }
    }

    /// CPU over every life of every node, and the memory of those up now.
    pub fn usage(&self) -> Usage {
        let mut total = Usage {
            cpu_secs: self.spent_cpu,
            rss_bytes: 0,
        };
        for server in self.nodes.iter().flatten() {
            let u = server.usage();
            total.cpu_secs += u.cpu_secs;
            total.rss_bytes += u.rss_bytes;
        }
        total
    }

    pub async fn stop(mut self) {
        for i in 0..self.nodes.len() {
            self.kill(i).await;
        }
    }
}
