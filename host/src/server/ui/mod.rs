//! `/ui`: the operators' dashboard, server-rendered HTML served by the daemon itself (no
//! other server, nothing fetched from elsewhere; one small script of our own for live
//! states). Every page reads through the API's own handlers and store queries, so a session
//! sees exactly what its token sees through `/v1/`.
//!
//! One concept per file: `session` (the cookie, CSRF, errors), `login`, `layout` (the frame
//! and HTML pieces; escaping is the report's), then a file per page: `runs`, `run` (with
//! `dag`), `instruments`, `modules`, `usage`; `live.js` follows `/ui/events`.

mod dag;
mod instruments;
mod layout;
mod login;
mod modules;
mod run;
mod runs;
mod session;
mod usage;

pub use session::UiConfig;

use std::sync::Arc;

use axum::Router;
use axum::http::HeaderValue;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY, X_FRAME_OPTIONS,
};
use axum::middleware::map_response;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::server::app::AppState;

/// The page script, served from the binary.
const LIVE_JS: &str = include_str!("live.js");

async fn live_js() -> impl IntoResponse {
    ([(CONTENT_TYPE, "text/javascript; charset=utf-8")], LIVE_JS)
}

/// Only our own script runs (no inline script, no other origin), pages are
/// not framed by other sites, and nothing is cached or leaks its URL.
async fn harden(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
        ),
    );
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers
        .entry(CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

/// Every `/ui` route.
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/ui", get(|| async { Redirect::to("/ui/runs") }))
        .route("/ui/login", get(login::form).post(login::login))
        .route("/ui/logout", post(login::logout))
        .route("/ui/runs", get(runs::runs))
        .route("/ui/runs/{id}", get(run::run))
        .route("/ui/runs/{id}/verify", post(run::verify))
        .route("/ui/runs/{id}/report", get(run::report))
        .route("/ui/runs/{id}/provenance", get(run::provenance_json))
        .route("/ui/artifacts/{sha256}", get(run::artifact))
        .route("/ui/events", get(run::stream))
        .route("/ui/instruments", get(instruments::instruments))
        .route("/ui/instruments/{name}/state", post(instruments::set_state))
        .route(
            "/ui/instruments/{name}/maintenance",
            post(instruments::add_maintenance),
        )
        .route("/ui/modules", get(modules::modules))
        .route("/ui/usage", get(usage::usage))
        .route("/ui/static/live.js", get(live_js))
        .layer(map_response(harden))
}
