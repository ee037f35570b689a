//! Extractors that answer bad input in the protocol's error shape: `Json`, `Query` and
//! `Path` as axum's, with every rejection turned into `invalid_request` (or `too_large`
//! for an oversize body) instead of axum's plain-text answers.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ferry_proto::ErrorCode;
use serde::Serialize;

use crate::error::Error;

/// JSON body in, JSON body out.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(Error))]
pub struct Json<T>(pub T);

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
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
