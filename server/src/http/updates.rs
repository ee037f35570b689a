//! The desktop app's update feed: the files of `FERRY_UPDATES_DIR` under `/updates/`, as
//! they are. An operator publishes an update by putting the updater's manifest
//! (`latest.json`) and the signed bundles it names there (docs/operations.md); the app
//! checks `/updates/latest.json` on the server it is signed in to. The files are public
//! (an app checks before anyone signs in, and a bundle is no secret): what makes an update
//! trustworthy is its signature, which the app checks against the key it was built with,
//! not where it came from. Every node of a cluster serves the same directory.

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use axum::routing::get;
use ferry_proto::ErrorCode;
use tower_http::services::ServeDir;

use crate::error::Error;
use crate::state::App;

/// The routes under `/updates/`: the directory's files, or, with none configured, an
/// answer that says so.
pub fn routes(dir: Option<&std::path::Path>) -> Router<App> {
    match dir {
        Some(dir) => Router::new()
            .nest_service(
                "/updates",
                ServeDir::new(dir).not_found_service(get(no_such_file).with_state(())),
            )
            .layer(axum::middleware::map_response(always_revalidate)),
        None => Router::new()
            .route("/updates", get(none_published))
            .route("/updates/{*path}", get(none_published)),
    }
}

/// The manifest changes in place when an update is published: a cache between the app
/// and the server must ask again each time rather than hide the new one for hours.
async fn always_revalidate(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

async fn no_such_file() -> Error {
    Error::new(ErrorCode::NotFound, "no such update file on this server")
}

async fn none_published() -> Error {
    Error::new(
        ErrorCode::NotFound,
        "this server publishes no app updates (FERRY_UPDATES_DIR is not set)",
    )
}
