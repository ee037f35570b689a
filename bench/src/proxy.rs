//! [`Proxy`]: a TCP proxy of the bench's own between the clients and one server node
//! (loopback only), which cuts connections on demand ([`Proxy::cut`]): both sides are
//! reset (RST, no FIN, no close frame), as when a network path dies. `tc netem` is not
//! available here, and a proxy also cuts the REST catch-ups' connections, which a
//! client's own cut of its socket (B7) does not.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use ferry_bench::rng::Rng;

use crate::lock;

/// One proxy: a listener, its live connections, and how many it cut.
pub struct Proxy {
    pub addr: SocketAddr,
    /// Each live connection's cut switch, by number.
    live: Arc<Mutex<HashMap<u64, oneshot::Sender<()>>>>,
    pub cuts: Arc<AtomicU64>,
    accept: JoinHandle<()>,
}

impl Proxy {
    /// Listens on `listen` and forwards every connection to `upstream`.
    pub async fn start(listen: &str, upstream: SocketAddr) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(listen)
            .await
            .with_context(|| format!("proxy on {listen}"))?;
        let addr = listener.local_addr()?;
        let live: Arc<Mutex<HashMap<u64, oneshot::Sender<()>>>> = Arc::default();
        let cuts = Arc::new(AtomicU64::new(0));
        let accept = {
            let live = live.clone();
            tokio::spawn(async move {
                let mut next = 0u64;
                // Ends when the proxy is dropped (the task is aborted).
                while let Ok((client, _)) = listener.accept().await {
                    next += 1;
                    let number = next;
                    let (cut, cut_rx) = oneshot::channel();
                    lock(&live).insert(number, cut);
                    let live = live.clone();
                    tokio::spawn(async move {
                        forward(client, upstream, cut_rx).await;
                        lock(&live).remove(&number);
                    });
                }
            })
        };
        Ok(Self {
            addr,
            live,
            cuts,
            accept,
        })
    }

    /// Cuts each live connection with probability `share` (0 to 1); how many.
    pub fn cut(&self, share: f64, rng: &mut Rng) -> u64 {
        let threshold = (share.clamp(0.0, 1.0) * 1_000_000.0) as usize;
        let mut live = lock(&self.live);
        let chosen: Vec<u64> = live
            .keys()
            .copied()
            .filter(|_| rng.below(1_000_000) < threshold)
            .collect();
        let mut cut = 0;
        for number in chosen {
            if let Some(switch) = live.remove(&number)
                && switch.send(()).is_ok()
            {
                cut += 1;
            }
        }
        self.cuts.fetch_add(cut, Ordering::Relaxed);
        cut
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        // Every live connection goes with it.
        lock(&self.live).clear();
    }
}

/// Copies both ways until either side ends, or until cut (then both are reset).
async fn forward(mut client: TcpStream, upstream: SocketAddr, cut: oneshot::Receiver<()>) {
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        // The node is down: the client sees its connection refused, late.
        let _ = client.set_zero_linger();
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
        cut = cut => {
            // A dropped switch (the proxy going away) ends the connection the same way.
            let _ = cut;
            let _ = client.set_zero_linger();
            let _ = server.set_zero_linger();
        }
    }
}
