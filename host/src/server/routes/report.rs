//! `GET /v1/runs/{id}/report`: the run's report page (`petri report`) as
//! text/html, for the run's own group only (another group's run is a 404).

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::runs::sealed_record;
use crate::pipeline::{ReportOptions, report};
use crate::server::app::AppState;
use crate::server::auth::Caller;
use crate::server::error::{ApiError, ErrorBody};
use crate::server::extract::Path;

/// The run's report: one self-contained HTML page (provenance, stages,
/// sweep plots, timeline, genomics plots, overhead), every plot inline SVG.
/// 409 until the run has a record.
#[utoipa::path(get, path = "/v1/runs/{id}/report", tag = "runs",
    params(("id" = String, Path, description = "Run id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The report page", body = String, content_type = "text/html"),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 404, description = "No such run for this group", body = ErrorBody),
        (status = 409, description = "The run has no record yet", body = ErrorBody),
        (status = 500, description = "The run record no longer matches its seal (`integrity`), or a plot could not be drawn", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody)))]
pub async fn run_report(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let record = sealed_record(&app, &caller, &id).await?;
    let petri = app.petri.clone();
    let html = tokio::task::spawn_blocking(move || {
        report(
            &record,
            petri.blobs(),
            petri.records(),
            &ReportOptions::default(),
        )
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?
    .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response())
}
