//! The accept loop, in place of `axum::serve`, which runs hyper without a timer: a client
//! that sends half a request head could hold its connection (and a graceful shutdown)
//! for ever. Here every connection's request heads must arrive within
//! `FERRY_HEADER_TIMEOUT_SECS` (an idle keep-alive connection waiting for its next head
//! too), connections are capped in all and per client place ([`Admission`]; an IPv6 /64
//! is one place), and shutdown stops accepting, lets requests in flight finish and gives
//! up on the rest after `FERRY_SHUTDOWN_GRACE_SECS`. Upgraded WebSockets leave hyper's
//! count when they upgrade: their own tasks close them with 1001 (`ws.rs`).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::config::Config;
use crate::limits::source;

/// Open connections, in all and per client place, within their caps (0: no cap).
pub struct Admission {
    open: Mutex<(usize, HashMap<IpAddr, usize>)>,
    max_total: usize,
    max_per_place: usize,
}

/// A connection's place in the counts, given back when it closes.
pub struct Slot {
    admission: Arc<Admission>,
    place: IpAddr,
}

impl Admission {
    /// Caps from the configuration.
    pub fn new(max_total: usize, max_per_place: usize) -> Arc<Self> {
        Arc::new(Self {
            open: Mutex::new((0, HashMap::new())),
            max_total,
            max_per_place,
        })
    }

    /// A slot for a connection from `ip`, or `None` when a cap is reached.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<Slot> {
        let place = source(ip);
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let here = open.1.get(&place).copied().unwrap_or(0);
        if (self.max_total > 0 && open.0 >= self.max_total)
            || (self.max_per_place > 0 && here >= self.max_per_place)
        {
            return None;
        }
        open.0 += 1;
        open.1.insert(place, here + 1);
        Some(Slot {
            admission: self.clone(),
            place,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self
            .admission
            .open
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        open.0 = open.0.saturating_sub(1);
        if let Some(n) = open.1.get_mut(&self.place) {
            *n -= 1;
            if *n == 0 {
                open.1.remove(&self.place);
            }
        }
    }
}

/// Serves `router` on `listener` until `shutdown` is cancelled, then drains (see the
/// module's comment).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    config: &Config,
    shutdown: CancellationToken,
) {
    let admission = Admission::new(config.max_connections, config.max_connections_per_ip);
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(config.header_timeout_secs.max(1)));
    // HTTP/2 WebSockets need the CONNECT protocol (as axum::serve enables it).
    builder
        .http2()
        .timer(TokioTimer::new())
        .enable_connect_protocol();
    let graceful = GracefulShutdown::new();
    loop {
        let (tcp, peer) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, say: back off a little rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Some(slot) = admission.admit(peer.ip()) else {
            tracing::debug!(%peer, "connection refused: too many open");
            continue;
        };
        // Nagle off: a socket's frames are small and each is written as soon as it is
        // ready; with it on, a frame behind an unacknowledged one waited for the client's
        // delayed ACK, up to 40 ms (B4).
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::warn!(error = %e, "could not set TCP_NODELAY on a connection");
        }
        let service = router
            .clone()
            .map_request(move |request: Request<Incoming>| {
                let mut request = request.map(Body::new);
                request
                    .extensions_mut()
                    .insert(ConnectInfo::<SocketAddr>(peer));
                request
            });
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(tcp), TowerToHyperService::new(service))
            .into_owned();
        let watched = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = watched.await {
                tracing::trace!(error = %e, "connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    let grace = Duration::from_secs(config.shutdown_grace_secs);
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            ?grace,
            "requests still open at the end of the shutdown grace: dropped"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_count_in_all_and_per_place() {
        let admission = Admission::new(3, 2);
        let a: IpAddr = "10.0.0.1".parse().expect("ip");
        let b: IpAddr = "2001:db8::1".parse().expect("ip");
        let b_again: IpAddr = "2001:db8::ffff".parse().expect("ip");
        let first = admission.admit(a).expect("room");
        let _second = admission.admit(a).expect("room");
        assert!(admission.admit(a).is_none(), "two per place");
        let _third = admission.admit(b).expect("room");
        assert!(admission.admit(b_again).is_none(), "three in all");
        drop(first);
        assert!(
            admission.admit(b_again).is_some(),
            "a slot given back is free again"
        );
    }
}
