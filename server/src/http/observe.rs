//! Middleware that observes every request once: latency by route template into the
//! metrics, one structured log line, and the internal cause of any 5xx (logged here and
//! nowhere else, so it is logged exactly once and never sent).

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;

use crate::error::InternalCause;
use crate::metrics::RequestLabels;
use crate::state::App;

/// A fixed set of method labels: any other method would add a series per distinct name.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Records and logs one request.
pub async fn observe(State(app): State<App>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(request.method());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    let labels = RequestLabels {
        method: method.to_owned(),
        route: route.clone(),
        status,
    };
    app.metrics
        .requests
        .get_or_create(&labels)
        .observe(elapsed.as_secs_f64());
    if let Some(InternalCause(cause)) = response.extensions().get::<InternalCause>() {
        tracing::error!(method, route, status, cause = &**cause, "request failed");
    } else {
        let elapsed_ms = elapsed.as_millis() as u64;
        tracing::debug!(method, route, status, elapsed_ms, "request");
    }
    response
}
