//! Operations endpoints at the root: `/healthz` (alive), `/readyz` (database reachable
//! and migrated; says whether the cluster bus is connected), `/metrics` (Prometheus
//! text).

use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::response::IntoResponse;
use ferry_proto::ErrorCode;
use serde_json::json;

use crate::error::{Error, Result};
use crate::http::extract::Json;
use crate::state::App;

/// The process is up.
pub async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// The database answers (migrations ran before the listener opened; a good answer
/// stands for [`crate::state::READY_FOR`]). A node cut off from the cluster bus is still
/// ready, as it serves its own sockets, and says so in `bus`: taking every node out of a
/// load balancer because NATS is down would turn a degraded cluster into a dead one.
pub async fn readyz(State(app): State<App>) -> Result<Json<serde_json::Value>> {
    let ready = || Json(json!({"status": "ready", "bus": app.announce.status()}));
    if app.readiness.fresh() {
        return Ok(ready());
    }
    app.metrics.readiness_pings.inc();
    match app.store.ping().await {
        Ok(()) => {
            app.readiness.answered();
            Ok(ready())
        }
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            Err(Error::new(
                ErrorCode::Unavailable,
                "the database is not reachable",
            ))
        }
    }
}

/// Prometheus text exposition; with `FERRY_OPS_TOKEN` set, only for a request bearing it
/// (the figures tell who is online and how busy the server is).
pub async fn metrics(State(app): State<App>, headers: HeaderMap) -> Result<impl IntoResponse> {
    if let Some(token) = &app.config.ops_token {
        let given = headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        // Compared in constant time: the answer must not tell how much of a guess was
        // right.
        let same = given.len() == token.len()
            && given
                .bytes()
                .zip(token.bytes())
                .fold(0u8, |diff, (a, b)| diff | (a ^ b))
                == 0;
        if !same {
            return Err(Error::unauthorized("/metrics needs the operations token"));
        }
    }
    Ok((
        [(
            CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        app.metrics.render(),
    ))
}
