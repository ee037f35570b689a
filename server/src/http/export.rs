//! `GET /account/export`: the caller's data export as a tar archive (`crate::export`),
//! streamed with its exact length, so a download shows real progress.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use ferry_proto::ErrorBody;
use ferry_proto::endpoints::{self, Endpoint};

use futures_util::StreamExt;

use crate::auth::Caller;
use crate::error::{Error, Result};
use crate::export;
use crate::state::App;

/// How long someone asks to wait when the node's exports are all taken.
const BUSY: std::time::Duration = std::time::Duration::from_secs(60);

/// Everything the server holds about the caller: their account, sessions, blocks, the
/// conversations they are in, every entry they wrote, and their files.
#[utoipa::path(get, path = endpoints::ExportAccount::PATH, tag = "account", security(("bearer" = [])),
    responses((status = 200, description = "the archive (docs/protocol.md, \"Exporting one's data\")",
        content_type = "application/x-tar"),
        (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn export_account(State(app): State<App>, caller: Caller) -> Result<Response> {
    // Held until the archive is sent (or the download dropped).
    let turn = app
        .exports
        .clone()
        .try_acquire_owned()
        .map_err(|_| Error::RateLimited(BUSY))?;
    let archive = export::plan(&app, &caller).await?;
    tracing::info!(user_id = %caller.user_id, bytes = archive.size, "a data export");
    let (size, name) = (archive.size, archive.file_name.clone());
    let bytes = export::stream(app.files.clone(), archive).map(move |piece| {
        let _turn = &turn;
        piece
    });
    let mut response = Body::from_stream(bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-tar"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    if let Ok(disposition) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, disposition);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
