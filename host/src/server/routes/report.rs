//! `GET /v1/runs/{id}/report`: the run's report page (`petri report`) as
//! text/html, for the run's own group only (another group's run is a 404).

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;

use super::runs::sealed_record;
use crate::pipeline::{Direction, ReportOptions, report};
use crate::server::app::AppState;
use crate::server::auth::Caller;
use crate::server::error::{ApiError, ErrorBody};
use crate::server::extract::{Path, Query};

/// `GET /v1/runs/{id}/report` query: what the sweep plots show (as `petri report`'s options).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// Plot these report metrics over the sweep, comma-separated `STAGE.METRIC`
    /// (default: every numeric metric that differs between combinations).
    pub metrics: Option<String>,
    /// The best combination has the lowest value, not the highest.
    pub lower_is_better: Option<bool>,
}

impl ReportQuery {
    fn options(&self) -> ReportOptions {
        ReportOptions {
            metrics: self
                .metrics
                .iter()
                .flat_map(|m| m.split(','))
                .map(str::trim)
                .filter(|m| !m.is_empty())
                .map(str::to_owned)
                .collect(),
            best: if self.lower_is_better.unwrap_or(false) {
                Direction::Lower
            } else {
                Direction::Higher
            },
        }
    }
}

/// The run's report: one self-contained HTML page (provenance, stages,
/// sweep plots, timeline, genomics plots, overhead), every plot inline SVG.
/// 409 until the run has a record.
#[utoipa::path(get, path = "/v1/runs/{id}/report", tag = "runs",
    params(("id" = String, Path, description = "Run id"), ReportQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The report page", body = String, content_type = "text/html"),
        (status = 400, description = "Bad query", body = ErrorBody),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 404, description = "No such run for this group", body = ErrorBody),
        (status = 409, description = "The run has no record yet", body = ErrorBody),
        (status = 500, description = "The run record no longer matches its seal (`integrity`), or a plot could not be drawn", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody)))]
pub async fn run_report(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<ReportQuery>,
) -> Result<Response, ApiError> {
    let record = sealed_record(&app, &caller, &id).await?;
    let petri = app.petri.clone();
    let options = q.options();
    let html = tokio::task::spawn_blocking(move || {
        report(&record, petri.blobs(), petri.records(), &options)
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?
    .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response())
}
