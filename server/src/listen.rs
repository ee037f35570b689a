//! The accept loop, in place of `axum::serve`, which runs hyper without a timer: a client
//! that sends half a request head could hold its connection (and a graceful shutdown)
//! for ever. Here every connection is timed from its accept, as nginx times its own
//! (`client_header_timeout`, `keepalive_timeout`, `send_timeout`):
//! - a connection with no request in flight (one that never spoke, an HTTP/2 client that
//!   sent only its preface or a header block it never ends, an idle keep-alive or HTTP/2
//!   connection) is closed after `FERRY_HEADER_TIMEOUT_SECS` ([`Activity`]);
//! - a write that makes no progress for `FERRY_SEND_TIMEOUT_SECS` (a download or a socket
//!   whose client stopped reading) ends the connection ([`Stall`]).
//!
//! Connections are capped in all and per client place ([`Admission`]; an IPv6 /64 is one
//! place), and shutdown stops accepting, lets requests in flight finish and gives up on
//! the rest after `FERRY_SHUTDOWN_GRACE_SECS`. Upgraded WebSockets leave hyper's count
//! when they upgrade: their own tasks close them with 1001 (`ws/connection.rs`); their writes stay
//! bounded by [`Stall`].

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::Request;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use prometheus_client::metrics::gauge::Gauge;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::time::{Instant, Sleep};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
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

/// How long an idle connection told to close may take to do so before it is dropped.
const IDLE_CLOSE: Duration = Duration::from_secs(1);

/// Requests a connection has in flight (from the request's head to the end of its
/// answer's body), and a wake-up whenever that count changes.
#[derive(Default)]
struct Activity {
    in_flight: AtomicUsize,
    changed: Notify,
}

impl Activity {
    /// Returns once the connection has had no request in flight for `limit` in a row
    /// (counting from now: a new connection has none).
    async fn idle_for(&self, limit: Duration) {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            // Registered before the count is read, so a change in between is not missed.
            changed.as_mut().enable();
            if self.in_flight.load(Ordering::Acquire) == 0 {
                tokio::select! {
                    () = tokio::time::sleep(limit) => return,
                    () = changed => {}
                }
            } else {
                changed.await;
            }
        }
    }
}

/// Keeps its connection busy from a request's start until its answer is sent or dropped.
struct Busy(Arc<Activity>);

impl Busy {
    fn start(activity: &Arc<Activity>) -> Self {
        activity.in_flight.fetch_add(1, Ordering::AcqRel);
        activity.changed.notify_waiters();
        Self(activity.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
        self.0.changed.notify_waiters();
    }
}

/// An answer's body that keeps its connection [`Busy`] until it is sent: a download
/// streams long after its handler returned.
struct Tracked {
    body: Body,
    _busy: Busy,
}

impl hyper::body::Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// A connection's bytes, with writes that may not stall: a write (or flush) that makes
/// no progress for `limit` fails with `TimedOut`, which ends the connection, or the
/// WebSocket it was upgraded to.
struct Stall<T> {
    io: T,
    limit: Duration,
    /// Made at the first stall, reset at each new one.
    timer: Option<Pin<Box<Sleep>>>,
    /// Whether the last write was left pending (the timer runs).
    stalled: bool,
}

impl<T> Stall<T> {
    fn new(io: T, limit: Duration) -> Self {
        Self {
            io,
            limit,
            timer: None,
            stalled: false,
        }
    }

    fn guard<R>(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<R>>,
    ) -> Poll<io::Result<R>> {
        if polled.is_ready() {
            self.stalled = false;
            return polled;
        }
        let deadline = Instant::now() + self.limit;
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if !self.stalled {
            timer.as_mut().reset(deadline);
            self.stalled = true;
        }
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client stopped reading",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Stall<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Stall<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write(cx, buf);
        self.guard(cx, polled)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.guard(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.io).poll_flush(cx);
        self.guard(cx, polled)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.io).poll_shutdown(cx);
        self.guard(cx, polled)
    }
}

/// Serves `router` on `listener` until `shutdown` is cancelled, then drains (see the
/// module's comment).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    config: &Config,
    open: Gauge,
    shutdown: CancellationToken,
) {
    let admission = Admission::new(config.max_connections, config.max_connections_per_ip);
    let idle_limit = Duration::from_secs(config.header_timeout_secs.max(1));
    let send_limit = Duration::from_secs(config.send_timeout_secs.max(1));
    let grace = Duration::from_secs(config.shutdown_grace_secs);
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(idle_limit);
    // HTTP/2 WebSockets need the CONNECT protocol (as axum::serve enables it).
    builder
        .http2()
        .timer(TokioTimer::new())
        .enable_connect_protocol();
    let connections = TaskTracker::new();
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
        let activity = Arc::new(Activity::default());
        let service = {
            let (router, activity) = (router.clone(), activity.clone());
            tower::service_fn(move |request: Request<Incoming>| {
                let busy = Busy::start(&activity);
                let mut request = request.map(Body::new);
                request
                    .extensions_mut()
                    .insert(ConnectInfo::<SocketAddr>(peer));
                let answer = router.clone().oneshot(request);
                async move {
                    let response = answer.await?;
                    Ok::<_, Infallible>(
                        response.map(|body| Body::new(Tracked { body, _busy: busy })),
                    )
                }
            })
        };
        let connection = builder
            .serve_connection_with_upgrades(
                TokioIo::new(Stall::new(tcp, send_limit)),
                TowerToHyperService::new(service),
            )
            .into_owned();
        let shutdown = shutdown.clone();
        let open = open.clone();
        open.inc();
        connections.spawn(async move {
            let mut connection = std::pin::pin!(connection);
            let close_within = tokio::select! {
                result = connection.as_mut() => {
                    if let Err(e) = result {
                        tracing::trace!(error = %e, "connection ended with an error");
                    }
                    None
                }
                () = activity.idle_for(idle_limit) => Some(IDLE_CLOSE),
                () = shutdown.cancelled() => Some(grace),
            };
            if let Some(within) = close_within {
                // Finishes what is in flight (nothing, when idle), then closes; a client
                // that does not let it close is dropped.
                connection.as_mut().graceful_shutdown();
                if tokio::time::timeout(within, connection).await.is_err() {
                    tracing::debug!(%peer, "connection dropped: it did not close in time");
                }
            }
            drop(slot);
            open.dec();
        });
    }
    drop(listener);
    connections.close();
    if tokio::time::timeout(grace + IDLE_CLOSE, connections.wait())
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
