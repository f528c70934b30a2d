//! `POST /v1/runs/{id}/verify`: re-executes a sealed run from the blob store
//! (`petri verify`) and says whether every stage reproduced, for the run's own group only.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use super::runs::sealed_record;
use crate::pipeline::{Mismatch, StageStatus, verify_run};
use crate::server::app::AppState;
use crate::server::auth::Caller;
use crate::server::error::{ApiError, ErrorBody};
use crate::server::extract::Path;

/// What re-executing a run found.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VerifyView {
    pub run_id: String,
    /// Every succeeded stage reproduced byte for byte, with the same fuel.
    pub verified: bool,
    /// Stages re-executed.
    pub stages: usize,
    /// What differs (sample, stage, what, port, expected, got).
    #[schema(value_type = Vec<Object>)]
    pub mismatches: Vec<Mismatch>,
}

/// The re-execution of the run `id` as `caller` (the API's and the dashboard's).
pub(crate) async fn verify(
    app: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<VerifyView, ApiError> {
    let record = sealed_record(app, caller, id).await?;
    let mismatches = verify_run(&app.petri, &record).await?;
    Ok(VerifyView {
        run_id: id.to_owned(),
        verified: mismatches.is_empty(),
        stages: record
            .stages
            .iter()
            .filter(|s| s.status == StageStatus::Succeeded)
            .count(),
        mismatches,
    })
}

/// Re-executes every succeeded stage of the run from its recorded module,
/// params and input blobs, and compares outputs and fuel (`petri verify`).
/// 409 until the run has a record.
#[utoipa::path(post, path = "/v1/runs/{id}/verify", tag = "runs", operation_id = "verify_run",
    params(("id" = String, Path, description = "Run id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "What re-executing found", body = VerifyView),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 404, description = "No such run for this group", body = ErrorBody),
        (status = 409, description = "The run has no record yet", body = ErrorBody),
        (status = 500, description = "The run record no longer matches its seal (`integrity`)", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody)))]
pub async fn verify_run_route(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<VerifyView>, ApiError> {
    Ok(Json(verify(&app, &caller, &id).await?))
}
