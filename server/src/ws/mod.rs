//! The WebSocket endpoint: authentication before the upgrade, then one task per socket
//! that reads the client's frames in order, writes the frames the hub queues for it,
//! pings every heartbeat period, and closes with the protocol's codes: 1001 on shutdown
//! or silence, 1008 when too slow or over the connection limit, 1009 for an oversize
//! frame, 4001 when the token expires or the session ends, 4029 for a frame flood.
//!
//! Sends are pipelined: each goes to the [`Committer`](crate::commit::Committer) as it is
//! read, and the socket reads on while it commits, so a client's outbox lands in a few
//! batches instead of one commit per message. Acks are written in send order. A
//! transient send failure fences its conversation on that socket
//! ([`SendFence`](crate::fence::SendFence)), keeping pipelined sends in order.
//!
//! This file is the upgrade (the query, the origin and the token); a socket's life after
//! it is `connection.rs`'s.

use axum::extract::rejection::QueryRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::http::header::ORIGIN;
use axum::response::Response;
use ferry_proto::{Feature, MAX_FRAME_BYTES};
use serde::Deserialize;

use crate::auth::{Caller, bearer};
use crate::error::Error;
use crate::state::App;

mod connection;

/// The upgrade's query: what the client asks of the socket beyond protocol v1.
#[derive(Debug, Default, Deserialize)]
pub struct SocketQuery {
    /// Features by name, separated by commas; names this server does not know are
    /// ignored, so a client may ask any server for what it can use.
    #[serde(default)]
    features: String,
}

impl SocketQuery {
    /// The asked features this server provides (all it knows), as `welcome` lists them.
    fn provided(&self) -> Vec<Feature> {
        Feature::parse_query(&self.features)
    }
}

/// `GET /api/v1/ws`: checks origin, token and connection count, then upgrades.
pub async fn upgrade(
    State(app): State<App>,
    headers: HeaderMap,
    query: Result<Query<SocketQuery>, QueryRejection>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, Error> {
    if !app.config.allowed_origins.is_empty()
        && let Some(origin) = headers.get(ORIGIN)
    {
        let allowed = origin
            .to_str()
            .is_ok_and(|o| app.config.allowed_origins.iter().any(|a| a == o));
        if !allowed {
            return Err(Error::forbidden("this origin may not open a socket"));
        }
    }
    let token = bearer(&headers).ok_or_else(|| Error::unauthorized("missing bearer token"))?;
    let caller = Caller::from_token(&app, token).await?;
    let Query(query) = query.map_err(|rejection| Error::invalid(rejection.body_text()))?;
    let features = query.provided();
    let ws = ws.map_err(|rejection| Error::invalid(rejection.body_text()))?;
    Ok(ws
        // Allocated at full size for every socket: 1 KiB holds a chat frame, and is
        // ~3 KiB less per idle connection than 4 KiB (B1 in docs/benchmarks.md).
        .read_buffer_size(1024)
        .write_buffer_size(4 * 1024)
        .max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .on_upgrade(move |socket| {
            let tracker = app.sockets.clone();
            tracker.track_future(connection::run(app, caller, features, socket))
        }))
}
