//! Extractors that answer bad input in the protocol's error shape: `Json`, `Query` and
//! `Path` as axum's, with every rejection turned into `invalid_request` (or `too_large`
//! for an oversize body) instead of axum's plain-text answers; and [`Takes`] and
//! [`Gives`], which type each handler's body or query and answer by its endpoint in
//! `ferry_proto::endpoints`, so a handler cannot take or give other types than the client
//! sends and expects.

use std::convert::Infallible;

use axum::body::{Body, Bytes};
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use ferry_proto::ErrorCode;
use ferry_proto::endpoints::Endpoint;
use futures_util::StreamExt;
use serde::Serialize;

use crate::error::Error;
use crate::limits::UserTurn;

/// What endpoint `E` takes: its JSON body, or its query.
pub type Takes<E> = <E as Endpoint>::Request;

/// What endpoint `E` answers on success.
pub type Gives<E> = <E as Endpoint>::Response;

/// The pieces a [`HeldJson`] body is handed out in.
const HELD_CHUNK: usize = 64 * 1024;

/// JSON body in, JSON body out.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(Error))]
pub struct Json<T>(pub T);

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// A JSON answer that keeps its turn at a large read ([`UserTurn`]) until it is sent:
/// serialised at once, then handed to hyper in 64 KiB pieces (it asks for the next only
/// as it writes), with the turn dropped with the last. So a client that reads slowly
/// holds up its own next large read, not the server's memory with finished pages.
pub struct HeldJson<T>(pub T, pub UserTurn);

impl<T: Serialize> IntoResponse for HeldJson<T> {
    fn into_response(self) -> Response {
        let HeldJson(value, turn) = self;
        let bytes = match serde_json::to_vec(&value) {
            Ok(bytes) => Bytes::from(bytes),
            Err(e) => return Error::Internal(format!("serialise an answer: {e}")).into_response(),
        };
        let pieces: Vec<Bytes> = (0..bytes.len())
            .step_by(HELD_CHUNK)
            .map(|at| bytes.slice(at..bytes.len().min(at + HELD_CHUNK)))
            .collect();
        let body = futures_util::stream::iter(pieces).map(move |piece| {
            // The stream owns the turn: it ends when hyper drops the finished body.
            let _turn = &turn;
            Ok::<_, Infallible>(piece)
        });
        (
            [(header::CONTENT_TYPE, "application/json")],
            Body::from_stream(body),
        )
            .into_response()
    }
}

/// A query string.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(Error))]
pub struct Query<T>(pub T);

/// Path parameters.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(Error))]
pub struct Path<T>(pub T);

impl From<JsonRejection> for Error {
    fn from(rejection: JsonRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Error::new(ErrorCode::TooLarge, "request body is too large")
        } else {
            Error::invalid(rejection.body_text())
        }
    }
}

impl From<QueryRejection> for Error {
    fn from(rejection: QueryRejection) -> Self {
        Error::invalid(rejection.body_text())
    }
}

impl From<PathRejection> for Error {
    fn from(rejection: PathRejection) -> Self {
        Error::invalid(rejection.body_text())
    }
}

/// A page size: the default when absent, never above the maximum, never zero.
pub fn page_limit(limit: Option<u32>) -> u32 {
    limit
        .unwrap_or(ferry_proto::DEFAULT_PAGE_LIMIT)
        .clamp(1, ferry_proto::MAX_PAGE_LIMIT)
}
