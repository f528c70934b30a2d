//! The HTTP routes, one file per resource, collected with their OpenAPI descriptions.

pub(crate) mod artifacts;
mod audit;
mod blobs;
mod body;
pub(crate) mod events;
mod health;
pub(crate) mod instruments;
pub(crate) mod modules;
mod notifications;
mod promotions;
pub(crate) mod report;
pub(crate) mod runs;
mod tokens;
mod triggers;
pub(crate) mod usage;
pub(crate) mod verify;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::middleware;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::app::AppState;
use super::audit::record;
use super::error::ApiError;
use super::openapi::ApiDoc;

pub use artifacts::{ByteRange, Unsatisfiable, parse_range};
pub(crate) use runs::submit;

/// Every route, and the OpenAPI document generated from their annotations.
pub fn router(app: Arc<AppState>) -> (Router, utoipa::openapi::OpenApi) {
    let limit = app.config.max_body_bytes;
    let (router, api) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(health::metrics))
        .routes(routes!(blobs::upload_blob))
        .routes(routes!(modules::upload_module, modules::list_modules))
        .routes(routes!(modules::get_module))
        .routes(routes!(promotions::promote_module))
        .routes(routes!(promotions::rollback_module))
        .routes(routes!(promotions::module_history))
        .routes(routes!(runs::submit_run, runs::list_runs))
        .routes(routes!(runs::get_run))
        .routes(routes!(runs::cancel_run))
        .routes(routes!(runs::run_logs))
        .routes(routes!(runs::provenance))
        .routes(routes!(runs::outputs))
        .routes(routes!(report::run_report))
        .routes(routes!(verify::verify_run_route))
        .routes(routes!(events::events))
        .routes(routes!(artifacts::get_artifact))
        .routes(routes!(instruments::list_instruments))
        .routes(routes!(instruments::set_state))
        .routes(routes!(instruments::add_maintenance))
        .routes(routes!(tokens::list_tokens))
        .routes(routes!(tokens::revoke_token))
        .routes(routes!(audit::list_audit))
        .routes(routes!(usage::usage))
        .routes(routes!(triggers::deliver))
        .routes(routes!(
            notifications::subscribe,
            notifications::list_subscriptions
        ))
        .routes(routes!(notifications::unsubscribe))
        .routes(routes!(notifications::deliveries))
        .split_for_parts();
    let router = router
        .merge(super::ui::router())
        .route_layer(middleware::from_fn_with_state(app.clone(), record))
        .fallback(|| async { ApiError::not_found("no such route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not take that method",
            )
        })
        .layer(DefaultBodyLimit::max(limit))
        .with_state(app);
    (router, api)
}
