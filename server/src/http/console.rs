//! `/admin/`: the operators' web console, a page of its own built with the rest of the UI
//! (`ui/console.html` into `ui/dist-console`) and embedded in the binary. It signs in
//! through the public API and acts through the admin API (`crate::http::admin`), so it
//! holds no power of its own: to anyone who is not an administrator it is a sign-in form
//! that leads nowhere. Its answers forbid framing and every origin but this one.

use axum::extract::Path;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use rust_embed::Embed;

use crate::error::Error;

/// The console's built files (an empty set when the UI was not built before the server:
/// the page then says how to build it).
#[derive(Embed)]
#[folder = "../ui/dist-console/"]
#[allow_missing = true]
struct Page;

/// The page's entry, as Vite names it after `console.html`.
const ENTRY: &str = "console.html";

/// Where the page may load from and talk to: this server only.
const POLICY: &str = "default-src 'self'; connect-src 'self'; img-src 'self' data: blob:; \
     style-src 'self' 'unsafe-inline'; script-src 'self'; frame-ancestors 'none'; \
     base-uri 'none'; form-action 'self'";

/// `/admin`: to the console's address with its slash, which its relative links need.
pub async fn bare() -> Response {
    (StatusCode::PERMANENT_REDIRECT, [(LOCATION, "/admin/")]).into_response()
}

/// `/admin/`: the console's page.
pub async fn index() -> Response {
    file(ENTRY).unwrap_or_else(|| {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            [(CONTENT_TYPE, "text/plain; charset=utf-8")],
            "The admin console was not built into this server: run `npm --prefix ui run build`, \
             then build the server again.",
        )
            .into_response()
    })
}

/// `/admin/{*path}`: one of the page's files (scripts, styles, icons).
pub async fn asset(Path(path): Path<String>) -> Result<Response, Error> {
    file(&path).ok_or_else(|| Error::not_found("file"))
}

/// A built file with its type and the headers every answer of the console carries.
fn file(path: &str) -> Option<Response> {
    let found = Page::get(path)?;
    let content_type = found.metadata.mimetype().to_owned();
    // The files keep their names from one build to the next (vite.console.config.ts):
    // a browser asks again each time, so an upgraded server is never shown stale.
    let mut response = (
        [
            (CONTENT_TYPE, content_type),
            (CACHE_CONTROL, "no-cache".to_owned()),
        ],
        found.data.into_owned(),
    )
        .into_response();
    let headers = response.headers_mut();
    for (name, value) in [
        ("content-security-policy", POLICY),
        ("x-frame-options", "DENY"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
    ] {
        headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    Some(response)
}
