//! The HTTP surface: the REST routes of `/api/v1` (collected with their OpenAPI
//! descriptions, the admin API among them), the WebSocket upgrade, the operations
//! endpoints, the admin console's page, the desktop app's update feed, and the layers
//! every request passes: panic catching, body limit, timeout, observation.

pub mod account;
pub mod admin;
pub mod auth;
pub mod console;
pub mod conversations;
pub mod document;
pub mod export;
pub mod extract;
pub mod files;
pub mod limit;
pub mod messages;
pub mod mls;
pub mod notes;
pub mod observe;
pub mod ops;
pub mod picture;
pub mod recovery;
pub mod safety;
pub mod sync;
pub mod updates;
pub mod users;

use std::sync::Arc;
use std::time::Duration;

use axum::error_handling::HandleErrorLayer;
use axum::extract::DefaultBodyLimit;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{BoxError, Router, middleware};
use ferry_proto::endpoints::SOCKET;
use ferry_proto::{API_BASE, ErrorCode};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::Error;
use crate::state::App;
use crate::ws;

#[derive(OpenApi)]
#[openapi(
    info(title = "Ferry", version = "1", description = "Ferry chat protocol v1 (REST part)"),
    modifiers(&BearerAuth),
    components(schemas(ferry_proto::ClientFrame, ferry_proto::ServerFrame))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The `/api/v1` routes and the OpenAPI document that describes them.
fn api() -> (Router<App>, utoipa::openapi::OpenApi) {
    let v1 = OpenApiRouter::new()
        .routes(routes!(auth::register))
        .routes(routes!(auth::login))
        .routes(routes!(auth::refresh))
        .routes(routes!(auth::logout))
        .routes(routes!(users::me, account::update_profile))
        .routes(routes!(account::account))
        .routes(routes!(account::update_settings))
        .routes(routes!(account::change_password))
        .routes(routes!(account::change_email))
        .routes(routes!(account::sessions))
        .routes(routes!(account::end_session))
        .routes(routes!(account::delete_account))
        .routes(routes!(recovery::verify_email))
        .routes(routes!(recovery::forgot_password))
        .routes(routes!(recovery::reset_password))
        .routes(routes!(users::search))
        .routes(routes!(conversations::create, conversations::list))
        .routes(routes!(conversations::get))
        .routes(routes!(conversations::add_members))
        .routes(routes!(conversations::remove_member))
        .routes(routes!(conversations::accept))
        .routes(routes!(conversations::set_notifications))
        .routes(routes!(safety::list))
        .routes(routes!(safety::block, safety::unblock))
        .routes(routes!(safety::report))
        .routes(routes!(messages::history, messages::send))
        .routes(routes!(messages::read))
        .routes(routes!(messages::delivered))
        .routes(routes!(sync::sync))
        .routes(routes!(sync::list))
        .routes(routes!(admin::users))
        .routes(routes!(admin::user))
        .routes(routes!(admin::suspend))
        .routes(routes!(admin::reactivate))
        .routes(routes!(admin::reports))
        .routes(routes!(admin::decide))
        .routes(routes!(admin::remove_message))
        .routes(routes!(admin::audit))
        .routes(routes!(admin::set_retention))
        .routes(routes!(mls::publish_key_packages, mls::key_package_stock))
        .routes(routes!(mls::claim_key_packages))
        .routes(routes!(mls::signed_in_devices))
        .routes(routes!(mls::group_info))
        .routes(routes!(mls::welcomes))
        .routes(routes!(mls::drop_welcome))
        .routes(routes!(notes::leave_note, notes::notes))
        .routes(routes!(notes::drop_note));
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .nest(ferry_proto::API_BASE, v1)
        .split_for_parts()
}

/// The routes whose bodies and answers are large and long, and their part of the OpenAPI
/// document: files (`/uploads`, `/attachments`), the account's export, pictures, and an
/// encrypted group's commits.
fn large_api() -> (Router<App>, utoipa::openapi::OpenApi) {
    let v1 = OpenApiRouter::new()
        .routes(routes!(files::create))
        .routes(routes!(files::status, files::append, files::cancel))
        .routes(routes!(files::download))
        .routes(routes!(files::thumbnail))
        // Long too: it reads all of a person's data before its answer begins.
        .routes(routes!(export::export_account))
        // A picture is decoded and made small before the answer.
        .routes(routes!(picture::set_picture, picture::remove_picture))
        .routes(routes!(picture::picture))
        // The commit that makes a group, or adds many devices to it, carries each added
        // device's key package, its secrets in the welcome and its leaf in the tree of
        // both the welcome and the group info: about 1 KiB a device (1.3 in base64), ~1.3
        // MiB for a group of the most members (the log's pages carry such commits too).
        .routes(routes!(mls::commit, mls::commits));
    OpenApiRouter::new()
        .nest(ferry_proto::API_BASE, v1)
        .split_for_parts()
}

/// How long one file request may take: a chunk of 4 MiB at 150 kB/s, or a whole
/// preview made; a download's body streams on after its answer began, unbounded.
const FILE_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

async fn unknown_route() -> Error {
    Error::new(ErrorCode::NotFound, "no such route")
}

async fn method_not_allowed(uri: axum::http::Uri) -> Error {
    // The admin API does not tell that an address of its exists, even by its methods.
    if uri.path().starts_with(&format!("{API_BASE}/admin/")) {
        return unknown_route().await;
    }
    Error::new(
        ErrorCode::MethodNotAllowed,
        "this route does not take that method",
    )
}

async fn timed_out(_: BoxError) -> Error {
    Error::new(
        ErrorCode::Unavailable,
        "the request took too long; try again",
    )
}

/// The whole HTTP application.
pub fn router(app: App) -> Router {
    let (api, mut openapi) = api();
    let (large_api, large_openapi) = large_api();
    openapi.merge(large_openapi);
    let openapi = Arc::new(document::document(&openapi, &app.config));
    let core = Router::new()
        .merge(api)
        .route(&format!("{API_BASE}{SOCKET}"), get(ws::upgrade))
        .route(
            "/api/v1/openapi.json",
            get(move || {
                let openapi = openapi.clone();
                async move { axum::Json(openapi).into_response() }
            }),
        )
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        // The operators' console (console.rs); it acts through `/api/v1/admin`.
        .route("/admin", get(console::bare))
        .route("/admin/", get(console::index))
        .route("/admin/{*path}", get(console::asset))
        // The pages the links in mail open (recovery.rs).
        .route(
            "/account/verify-email",
            get(recovery::verify_page).post(recovery::verify_posted),
        )
        .route(
            "/account/reset-password",
            get(recovery::reset_page).post(recovery::reset_posted),
        )
        .route(
            "/account/unsubscribe",
            get(recovery::unsubscribe_page).post(recovery::unsubscribe_posted),
        )
        .layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(timed_out))
                .timeout(Duration::from_secs(app.config.request_timeout_secs.max(1))),
        )
        .layer(DefaultBodyLimit::max(limit::MAX_REQUEST_BYTES))
        .layer(middleware::from_fn(limit::reject_oversize));
    let large = large_api
        .layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(timed_out))
                .timeout(
                    FILE_REQUEST_TIMEOUT
                        .max(Duration::from_secs(app.config.request_timeout_secs.max(1))),
                ),
        )
        // A chunk, and room for a JSON declaration.
        .layer(DefaultBodyLimit::max(
            ferry_proto::UPLOAD_CHUNK_BYTES as usize + limit::MAX_REQUEST_BYTES,
        ));
    // Outside the request timeout: a bundle of tens of MiB takes what the link takes.
    let updates = updates::routes(app.config.updates_dir.as_deref());
    Router::new()
        .merge(core)
        .merge(large)
        .merge(updates)
        .fallback(unknown_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(
            app.clone(),
            observe::observe,
        ))
        .layer(CatchPanicLayer::custom(|_| {
            Error::Internal("handler panicked".into()).into_response()
        }))
        .with_state(app)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use ferry_proto::{API_BASE, endpoints};

    /// The routes (documented as routed, by utoipa-axum) are exactly `proto`'s endpoints:
    /// a route the client cannot name, or an endpoint nothing serves, fails here.
    #[test]
    fn the_routes_are_the_endpoints() {
        let (_, mut openapi) = super::api();
        openapi.merge(super::large_api().1);
        let mut routed = BTreeSet::new();
        for (path, item) in &openapi.paths.paths {
            let path = path.strip_prefix(API_BASE).expect("under the API base");
            for (method, operation) in [
                ("GET", &item.get),
                ("POST", &item.post),
                ("PUT", &item.put),
                ("PATCH", &item.patch),
                ("DELETE", &item.delete),
            ] {
                if operation.is_some() {
                    routed.insert((method, path.to_owned()));
                }
            }
        }
        let listed: BTreeSet<_> = endpoints::ALL
            .iter()
            .map(|(method, path)| (method.as_str(), (*path).to_owned()))
            .collect();
        assert_eq!(routed, listed);
    }

    /// A schema's name as `endpoints` writes the type: `User`, or `Vec<User>`.
    fn schema_name(schema: &serde_json::Value) -> String {
        match schema["$ref"].as_str() {
            Some(reference) => reference.rsplit('/').next().unwrap_or_default().to_owned(),
            None if schema["type"] == "array" => format!("Vec<{}>", schema_name(&schema["items"])),
            None => panic!("a schema that is neither a type nor an array: {schema}"),
        }
    }

    /// The document names the body and the answer that each handler's signature takes
    /// from its endpoint: utoipa's attributes repeat those types beside the signature,
    /// and here they cannot drift apart. (A `GET`'s query is a parameter list, not named.)
    #[test]
    fn the_document_names_the_endpoints_types() {
        let (_, mut openapi) = super::api();
        openapi.merge(super::large_api().1);
        let doc = serde_json::to_value(&openapi).expect("JSON");
        for (method, path, request, response) in endpoints::SHAPES {
            let written = |ty: &str| ty.replace(' ', "").replace("crate::", "");
            let operation =
                &doc["paths"][format!("{API_BASE}{path}")][method.as_str().to_lowercase()];
            let body = operation.pointer("/requestBody/content/application~1json/schema");
            if *method != endpoints::Method::Get {
                assert_eq!(
                    body.map(schema_name),
                    (written(request) != "()").then(|| written(request)),
                    "{method:?} {path}: its request body"
                );
            }
            let answers: Vec<String> = operation["responses"]
                .as_object()
                .expect("responses")
                .iter()
                .filter(|(status, _)| status.starts_with('2'))
                .filter_map(|(_, answer)| answer.pointer("/content/application~1json/schema"))
                .map(schema_name)
                .collect();
            let expected = written(response);
            if expected == "()" {
                assert!(answers.is_empty(), "{method:?} {path} answers {answers:?}");
            } else {
                assert!(
                    !answers.is_empty() && answers.iter().all(|a| *a == expected),
                    "{method:?} {path} answers {answers:?}, its endpoint {expected}"
                );
            }
        }
    }
}
