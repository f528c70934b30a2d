//! `/healthz` (the process answers), `/readyz` (recovery done, not draining) and `/metrics`.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;

use crate::server::app::AppState;
use crate::server::auth::authenticate;
use crate::server::error::{ApiError, ErrorBody};
use crate::server::views::Health;

fn health(status: &str) -> Json<Health> {
    Json(Health {
        status: status.to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
    })
}

/// Liveness: the daemon answers.
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, description = "Alive", body = Health)))]
pub async fn healthz() -> Json<Health> {
    health("ok")
}

/// Readiness: interrupted runs were requeued and the daemon is not shutting down.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses(
        (status = 200, description = "Ready", body = Health),
        (status = 503, description = "Starting or draining", body = Health)))]
pub async fn readyz(State(app): State<Arc<AppState>>) -> (StatusCode, Json<Health>) {
    if app.is_ready() {
        (StatusCode::OK, health("ready"))
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, health("unavailable"))
    }
}

/// Prometheus metrics: `petri_runs{status}`, `petri_queue_depth`,
/// `petri_stage_duration_seconds`, `petri_stage_fuel_total`,
/// `petri_stage_cache_total{result}`, `petri_stages_total{status}`,
/// `petri_http_rate_limited_total`, and the scheduler's gauges. Nothing
/// per research group unless the scrape sends an admin token
/// (`Authorization: Bearer`): then also `petri_group_runs{group,status}`.
#[utoipa::path(get, path = "/metrics", tag = "health",
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "Prometheus text exposition", body = String, content_type = "text/plain"),
        (status = 401, description = "A token was sent that is unknown, revoked or expired", body = ErrorBody),
        (status = 429, description = "Rate limited (a token was sent)", body = ErrorBody),
        (status = 500, description = "The store failed", body = ErrorBody)))]
pub async fn metrics(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    // Anonymous scrapes are fine; a token that is sent must be good.
    let admin = if headers.contains_key(header::AUTHORIZATION) {
        authenticate(&app, &headers).await?.admin
    } else {
        false
    };
    let mut text = app.metrics.render(&app.store, &app.dispatcher).await?;
    if admin {
        text.push_str(&app.metrics.render_groups(&app.store).await?);
    }
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    ))
}
