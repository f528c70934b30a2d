//! `/v1/runs`: submit (validated whole before it is accepted, durable before the 202), get,
//! list, cancel, logs and provenance. A group sees only its own runs: others are 404.

use std::collections::HashSet;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::pipeline::{RunRecord, prov_json, ro_crate_metadata, validate_source};
use crate::server::app::AppState;
use crate::server::auth::Caller;
use crate::server::error::{ApiError, ErrorBody};
use crate::server::extract::{Json as JsonBody, Path, Query};
use crate::server::views::{
    Accepted, EventView, LogPage, LogView, OutputsView, ProvFormat, ProvQuery, RunErrorView,
    RunPage, RunQuery, RunStatus, RunSummary, RunView, StageView, SubmitRun,
};
use crate::server::{now, workspace};
use crate::store::daemon::{RunFilter, RunRow};
use crate::store::digest::Digest;

fn summary(row: &RunRow) -> RunSummary {
    RunSummary {
        id: row.id.clone(),
        group: row.group.clone(),
        status: row.status,
        pipeline: row.pipeline.clone(),
        description: row.description.clone(),
        priority: row.priority.clone(),
        submitted_at: row.submitted_at.clone(),
        started_at: row.started_at.clone(),
        finished_at: row.finished_at.clone(),
        root: row.root.clone(),
    }
}

/// The caller's run, or 404 (whether it does not exist or belongs to another group).
pub(crate) async fn visible_run(
    app: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<RunRow, ApiError> {
    match app.store.run(id).await? {
        Some(row) if caller.sees(&row.group) => Ok(row),
        _ => Err(ApiError::not_found(format!("no run {id}"))),
    }
}

pub(crate) async fn run_view(app: &AppState, row: RunRow) -> Result<RunView, ApiError> {
    let stages = app
        .store
        .stages(&row.id)
        .await?
        .iter()
        .filter_map(|s| serde_json::from_str::<StageView>(s).ok())
        .collect();
    let events = events(app, &row.id).await?;
    let error = row
        .error
        .as_deref()
        .and_then(|e| serde_json::from_str::<RunErrorView>(e).ok());
    Ok(RunView {
        summary: summary(&row),
        record_id: row.record_id.clone(),
        recoveries: row.recoveries,
        stages,
        events,
        error,
    })
}

async fn events(app: &AppState, id: &str) -> Result<Vec<EventView>, ApiError> {
    Ok(app
        .store
        .events(id)
        .await?
        .into_iter()
        .map(|(at, kind, detail)| EventView { at, kind, detail })
        .collect())
}

/// Submits a run. The pipeline (and sheet) are validated whole first: every
/// problem comes back at once as a 422 with its file, line and column, and
/// nothing is queued. A valid run is stored durably, then answered 202; the
/// worker takes it up (PENDING → VALIDATING → RUNNING → COMPLETED | FAILED).
#[utoipa::path(post, path = "/v1/runs", tag = "runs",
    request_body = SubmitRun,
    security(("bearer" = [])),
    responses(
        (status = 202, description = "Accepted and durable", body = Accepted),
        (status = 400, description = "Malformed request", body = ErrorBody),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 403, description = "A priority (of the run or a sample) this token was not granted", body = ErrorBody),
        (status = 413, description = "Larger than max-body-bytes", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "Invalid pipeline, sheet or files: every problem, located", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody)))]
pub async fn submit_run(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    JsonBody(request): JsonBody<SubmitRun>,
) -> Result<Response, ApiError> {
    let accepted = submit(&app, &caller, request).await?;
    Ok(answer(StatusCode::ACCEPTED, accepted))
}

/// A NUL byte in a run's text fields is refused (422, naming the field):
/// none has a use for one, and PostgreSQL's `text` and `jsonb` cannot hold it.
/// (`files` names are checked with the other path rules.)
fn refuse_nul(request: &SubmitRun) -> Result<(), ApiError> {
    let fields = [
        ("description", Some(&request.description)),
        ("pipeline", request.pipeline.as_ref()),
        ("samples", request.samples.as_ref()),
    ];
    for (field, text) in fields {
        if text.is_some_and(|t| t.contains('\0')) {
            return Err(ApiError::invalid(
                format!("`{field}` contains a NUL byte"),
                vec![crate::server::error::ProblemBody {
                    file: field.into(),
                    line: 0,
                    column: 0,
                    message: "a NUL byte is not allowed here".into(),
                    hint: None,
                }],
            ));
        }
    }
    Ok(())
}

/// Validates `request` whole and queues it as `caller`'s run (the body of
/// `POST /v1/runs`, and of a trigger's delivery).
pub(crate) async fn submit(
    app: &AppState,
    caller: &Caller,
    request: SubmitRun,
) -> Result<Accepted, ApiError> {
    caller.may_claim(request.priority)?;
    refuse_nul(&request)?;
    let pipeline_text = match (&request.pipeline, &request.pipeline_sha256) {
        (Some(text), None) => text.clone(),
        (None, Some(sha)) => {
            let digest: Digest = sha.trim_start_matches("sha256:").parse().map_err(
                |e: crate::store::digest::ParseDigestError| {
                    ApiError::invalid(
                        "bad pipeline reference",
                        vec![crate::server::error::ProblemBody {
                            file: "pipeline_sha256".into(),
                            line: 0,
                            column: 0,
                            message: e.to_string(),
                            hint: None,
                        }],
                    )
                },
            )?;
            if !may_use(app, caller, &digest).await? {
                return Err(ApiError::invalid(
                    "unknown pipeline",
                    vec![crate::server::error::ProblemBody {
                        file: "pipeline_sha256".into(),
                        line: 0,
                        column: 0,
                        message: format!("no uploaded blob sha256:{digest}"),
                        hint: Some("upload the pipeline file with POST /v1/blobs".into()),
                    }],
                ));
            }
            let bytes = app
                .petri
                .blobs()
                .read(&digest)
                .map_err(|e| ApiError::internal(e.to_string()))?;
            String::from_utf8(bytes)
                .map_err(|_| ApiError::bad_request("the pipeline file is not UTF-8"))?
        }
        _ => {
            return Err(ApiError::invalid(
                "give exactly one of `pipeline` (TOML text) and `pipeline_sha256`",
                vec![crate::server::error::ProblemBody {
                    file: "pipeline".into(),
                    line: 0,
                    column: 0,
                    message: "give exactly one of `pipeline` and `pipeline_sha256`".into(),
                    hint: None,
                }],
            ));
        }
    };
    // Which blobs the request names that this group may use.
    let mut usable = HashSet::new();
    for d in workspace::named_digests(&request, &pipeline_text) {
        if may_use(app, caller, &d).await? {
            usable.insert(d);
        }
    }
    let resolved = workspace::resolve(&request, pipeline_text, &|d| usable.contains(d))
        .map_err(|ps| ApiError::invalid(format!("the run has {} problem(s)", ps.len()), ps))?;

    let id = uuid::Uuid::now_v7().to_string();
    let plan = match validate_source(&app.petri, resolved.source()).await {
        Ok(plan) => plan,
        Err(diagnostics) => {
            let ps = workspace::problems(&diagnostics);
            return Err(ApiError::invalid(
                format!(
                    "{} problem(s) in the pipeline; nothing was queued",
                    ps.len()
                ),
                ps,
            ));
        }
    };
    caller.may_claim_samples(plan.samples.iter().map(|s| s.priority.as_str()))?;
    let row = RunRow {
        id: id.clone(),
        group: caller.group.clone(),
        status: RunStatus::Pending,
        pipeline: plan.name.clone(),
        description: request.description.clone(),
        priority: request.priority.as_str().into(),
        request: serde_json::to_string(&request).map_err(|e| ApiError::internal(e.to_string()))?,
        submitted_at: now(),
        started_at: None,
        finished_at: None,
        record_id: None,
        root: None,
        error: None,
        recoveries: 0,
    };
    let detail = format!("by a token of group {}", caller.group);
    app.store
        .insert_run(&row, request.priority.tier(), &detail)
        .await?;
    app.queue.notify_one();
    Ok(Accepted {
        url: format!("/v1/runs/{id}"),
        id,
        status: RunStatus::Pending,
    })
}

/// `accepted` as the answer, with the run's URL as its `Location`.
pub(super) fn answer(status: StatusCode, accepted: Accepted) -> Response {
    let location = HeaderValue::from_str(&accepted.url).ok();
    let mut response = (status, Json(accepted)).into_response();
    if let Some(v) = location {
        response.headers_mut().insert(header::LOCATION, v);
    }
    response
}

/// The `sha256 = "…"` values a pipeline's inputs declare.
async fn may_use(app: &AppState, caller: &Caller, d: &Digest) -> Result<bool, ApiError> {
    if !app.petri.blobs().contains(d) {
        return Ok(false);
    }
    Ok(caller.admin || app.store.owns_blob(&caller.group, &d.to_hex()).await?)
}

/// A run: status, every stage of every sample (status, cache, fuel, outputs,
/// attempts and recovery decisions), events and errors.
#[utoipa::path(get, path = "/v1/runs/{id}", tag = "runs",
    params(("id" = String, Path, description = "Run id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The run", body = RunView),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 404, description = "No such run for this group", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody)))]
pub async fn get_run(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<RunView>, ApiError> {
    let row = visible_run(&app, &caller, &id).await?;
    Ok(Json(run_view(&app, row).await?))
}

/// Runs, newest first, filtered and paginated. A non-admin sees only its group's runs.
#[utoipa::path(get, path = "/v1/runs", tag = "runs",
    params(RunQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of runs", body = RunPage),
        (status = 400, description = "Bad query", body = ErrorBody),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody)))]
pub async fn list_runs(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Query(q): Query<RunQuery>,
) -> Result<Json<RunPage>, ApiError> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::bad_request("limit must be between 1 and 500"));
    }
    let group = match (caller.admin, q.group) {
        (true, g) => g,
        (false, Some(g)) if g != caller.group => {
            return Ok(Json(RunPage {
                runs: Vec::new(),
                next_cursor: None,
            }));
        }
        (false, _) => Some(caller.group.clone()),
    };
    let status = match q
        .status
        .map(|s| s.to_ascii_uppercase().parse::<RunStatus>())
    {
        None => None,
        Some(Ok(status)) => Some(status),
        Some(Err(_)) => {
            return Ok(Json(RunPage {
                runs: Vec::new(),
                next_cursor: None,
            }));
        }
    };
    let filter = RunFilter {
        group,
        status,
        pipeline: q.pipeline,
        before: q.cursor,
        after: None,
        limit: limit + 1,
    };
    let mut rows = app.store.runs(&filter).await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next_cursor = if more {
        rows.last().map(|r| r.id.clone())
    } else {
        None
    };
    Ok(Json(RunPage {
        runs: rows.iter().map(summary).collect(),
        next_cursor,
    }))
}

/// Cancels a run that has not finished: a queued run never starts; a running
/// one stops its stages (completed stages stay committed).
#[utoipa::path(post, path = "/v1/runs/{id}/cancel", tag = "runs",
    params(("id" = String, Path, description = "Run id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Cancelled", body = RunView),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 404, description = "No such run for this group", body = ErrorBody),
        (status = 409, description = "The run already finished", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody)))]
pub async fn cancel_run(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<RunView>, ApiError> {
    let row = visible_run(&app, &caller, &id).await?;
    let cancelled = app
        .store
        .transition(
            &id,
            &[
                RunStatus::Pending,
                RunStatus::Validating,
                RunStatus::Running,
            ],
            RunStatus::Cancelled,
            Some(("cancelled", "cancelled by request")),
            &now(),
            None,
        )
        .await?;
    if !cancelled {
        return Err(ApiError::conflict(format!(
            "run {id} already finished ({})",
            row.status
        )));
    }
    // A run being executed stops at its next await (its stages are aborted).
    app.cancel_running(&id);
    let row = visible_run(&app, &caller, &id).await?;
    Ok(Json(run_view(&app, row).await?))
}

/// The stage logs of a run (every line each stage logged, with its stdout and
/// stderr), and the run's events.
#[utoipa::path(get, path = "/v1/runs/{id}/logs", tag = "runs",
    params(("id" = String, Path, description = "Run id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Log lines and events", body = LogPage),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 404, description = "No such run for this group", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody)))]
pub async fn run_logs(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<LogPage>, ApiError> {
    let row = visible_run(&app, &caller, &id).await?;
    let view = run_view(&app, row).await?;
    let mut lines = Vec::new();
    for s in &view.stages {
        for a in &s.attempts {
            let seal = app.store.state().seal_of(&a.record_id).await?;
            let Some(seal) = seal.and_then(|s| s.parse::<Digest>().ok()) else {
                continue;
            };
            let Ok(rec) = app.petri.records().load_sealed(&a.record_id, &seal) else {
                continue;
            };
            let Ok(bytes) = app.petri.blobs().read(&rec.log.sha256) else {
                continue;
            };
            for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                if let Ok(line) = serde_json::from_slice(line) {
                    lines.push(LogView {
                        sample: s.sample.clone(),
                        stage: s.stage.clone(),
                        record_id: a.record_id.clone(),
                        line,
                    });
                }
            }
        }
    }
    Ok(Json(LogPage {
        lines,
        events: view.events,
    }))
}

/// The run record of a visible run: 404 for another group's, 409 until it
/// has one, and served only as sealed when it was written.
pub(super) async fn sealed_record(
    app: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<RunRecord, ApiError> {
    let row = visible_run(app, caller, id).await?;
    let record_id = row.record_id.ok_or_else(|| {
        ApiError::conflict(format!("run {id} has no record yet ({})", row.status))
    })?;
    let seal = app
        .store
        .state()
        .seal_of(&record_id)
        .await?
        .and_then(|s| s.parse::<Digest>().ok());
    seal.ok_or_else(|| format!("run record {record_id} has no seal"))
        .and_then(|seal| {
            app.petri
                .records()
                .load_run_sealed(&record_id, &seal)
                .map_err(|e| e.to_string())
        })
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "integrity", e))
}

/// The outputs of the run's succeeded stages, with the format each module
/// declares (the file extension `petri export` uses). 409 until the run has a record.
#[utoipa::path(get, path = "/v1/runs/{id}/outputs", tag = "runs",
    params(("id" = String, Path, description = "Run id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The outputs", body = OutputsView),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 404, description = "No such run for this group", body = ErrorBody),
        (status = 409, description = "The run has no record yet", body = ErrorBody),
        (status = 500, description = "The run record or a module no longer matches its digest (`integrity`)", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody)))]
pub async fn outputs(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<OutputsView>, ApiError> {
    let record = sealed_record(&app, &caller, &id).await?;
    let outputs = crate::pipeline::outputs(&app.petri, &record)
        .await
        .map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "integrity",
                e.to_string(),
            )
        })?;
    Ok(Json(OutputsView {
        run_id: id,
        outputs,
    }))
}

/// The run's provenance: the petri run record (`json`), W3C PROV-JSON
/// (`prov`) or the RO-Crate metadata (`ro-crate`; its data entities are
/// artifacts by digest). 409 until the run has a record.
#[utoipa::path(get, path = "/v1/runs/{id}/provenance", tag = "runs",
    params(("id" = String, Path, description = "Run id"), ProvQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The provenance document", body = Object),
        (status = 400, description = "Bad query", body = ErrorBody),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 404, description = "No such run for this group", body = ErrorBody),
        (status = 409, description = "The run has no record yet", body = ErrorBody),
        (status = 500, description = "The run record no longer matches its seal (`integrity`); it is not served", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody)))]
pub async fn provenance(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<ProvQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let record = sealed_record(&app, &caller, &id).await?;
    let internal = |e: String| ApiError::internal(e);
    let doc = match q.format.unwrap_or_default() {
        ProvFormat::Json => serde_json::to_value(&record).map_err(|e| internal(e.to_string()))?,
        ProvFormat::Prov => prov_json(&app.petri, &record),
        // The metadata alone: serving it copies no blob.
        ProvFormat::RoCrate => ro_crate_metadata(&app.petri, &record),
    };
    Ok(Json(doc))
}
