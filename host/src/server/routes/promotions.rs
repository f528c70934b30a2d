//! `/v1/modules/{name}/promotions`, `/rollbacks` and `/history`: moving a registered name
//! after shadow runs, moving it back, and how it moved.
//!
//! The registry is the admin's catalogue, shared by every group (no group
//! owns a name), so moving a name is admin-only, as registering one is; any
//! token may read a name's history, as it may use the name. A move is a 2xx
//! POST, so the audit layer records it (`X-Petri-Reason` is its reason) with
//! the name, both digests and the report's digest as its target; a refused
//! promotion (409) changes nothing and is not recorded.
//!
//! The shadow executions' fuel is charged to the promoting token's group
//! (its `fuel-per-day` quota, and `fuel-per-run` over the whole promotion);
//! a quota with nothing left answers 429 `quota_exhausted` and nothing moves.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::pipeline::{
    Promote, PromoteError, Promotion, Require, ShadowReport, Verdict, promote, rollback,
};
use crate::server::app::AppState;
use crate::server::audit::AuditTarget;
use crate::server::auth::Caller;
use crate::server::error::{ApiError, ErrorBody};
use crate::server::extract::{Json as JsonBody, Path};
use crate::server::worker::metered_quota;
use crate::store::digest::Digest;
use crate::store::registry::{Registration, RegistryError};

/// What a promotion demands of its shadow runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RequireView {
    /// Every shadowed execution has the same outputs, outcome and metrics.
    Identical,
}

/// A promotion to make.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PromotionRequest {
    /// The candidate module (`sha256:<hex>`), uploaded with POST /v1/modules.
    #[schema(pattern = "^(sha256:)?[0-9a-fA-F]{64}$")]
    pub candidate: String,
    /// How many of the name's latest executions to shadow (default 10).
    #[serde(default = "default_shadow", deserialize_with = "whole_number")]
    #[schema(value_type = u32)]
    pub shadow: usize,
    #[serde(default)]
    pub require: Option<RequireView>,
}

fn default_shadow() -> usize {
    10
}

/// A count given as any JSON number with no fraction (`3` or `3.0`: JSON
/// does not tell them apart, and neither does the schema's `integer`).
fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    let n = serde_json::Number::deserialize(d)?;
    n.as_u64()
        .or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(f))
                .map(|f| f as u64)
        })
        .and_then(|u| usize::try_from(u).ok())
        .ok_or_else(|| serde::de::Error::custom(format!("{n} is not a whole number")))
}

/// A rollback: to the previous module, or to `to` from the name's history.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackRequest {
    #[serde(default)]
    #[schema(pattern = "^(sha256:)?[0-9a-fA-F]{64}$")]
    pub to: Option<String>,
}

/// One registration of a name.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegistrationView {
    pub version: String,
    pub sha256: String,
    /// RFC 3339; empty before history was kept.
    pub added_at: String,
    pub forced: bool,
    /// `registered`, `promoted` or `rolled-back`.
    pub kind: String,
    /// A promotion's shadow report (a blob).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<String>,
}

impl From<&Registration> for RegistrationView {
    fn from(r: &Registration) -> RegistrationView {
        RegistrationView {
            version: r.version.clone(),
            sha256: r.sha256.to_hex(),
            added_at: r.added_at.clone(),
            forced: r.forced,
            kind: r.kind.as_str().to_owned(),
            report: r.report.map(|d| d.to_hex()),
        }
    }
}

/// A name's current module and every registration, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryView {
    pub name: String,
    pub version: String,
    pub sha256: String,
    pub history: Vec<RegistrationView>,
}

/// A promotion's report and whether the name moved.
#[derive(Debug, Serialize, ToSchema)]
pub struct PromotionView {
    pub moved: bool,
    /// The registration made when the name moved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registration: Option<RegistrationView>,
    /// The report, also kept as this blob.
    pub report_sha256: String,
    pub report: ShadowReport,
}

/// What a 409 from a promotion carries: the report `require` refused, or an
/// error (the candidate is already current, or the name moved meanwhile).
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum PromotionConflict {
    Refused(Box<PromotionView>),
    // Built by `ApiError`'s response; named here so the document says both shapes.
    #[allow(dead_code)]
    Error(ErrorBody),
}

fn admin_only(caller: &Caller) -> Result<(), ApiError> {
    if caller.admin {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        "only an admin token may move a registered name",
    ))
}

fn digest(field: &str, given: &str) -> Result<Digest, ApiError> {
    given
        .parse()
        .map_err(|e| ApiError::bad_request(format!("{field}: {e}")))
}

fn api_error(e: PromoteError) -> ApiError {
    let message = e.to_string();
    match e {
        PromoteError::Registry(RegistryError::Unknown(_)) | PromoteError::NotInHistory { .. } => {
            ApiError::not_found(message)
        }
        PromoteError::Registry(RegistryError::Moved { .. })
        | PromoteError::AlreadyCurrent { .. }
        | PromoteError::NothingToRollBack { .. } => ApiError::conflict(message),
        PromoteError::Candidate { .. } | PromoteError::OtherStage { .. } => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_candidate",
            message,
        ),
        PromoteError::Quota(_) => {
            ApiError::new(StatusCode::TOO_MANY_REQUESTS, "quota_exhausted", message)
        }
        PromoteError::Registry(_) | PromoteError::Shadow(_) | PromoteError::Store(_) => {
            ApiError::internal(message)
        }
    }
}

/// Shadows the name's latest executions with the candidate, then moves the
/// name (admins). With `require: identical`, any difference (or nothing to
/// compare) answers 409 with the report, and the name stays.
#[utoipa::path(post, path = "/v1/modules/{name}/promotions", tag = "modules",
    params(("name" = String, Path, description = "Registered module name")),
    request_body = PromotionRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Promoted: the report and the new registration", body = PromotionView),
        (status = 400, description = "Not a promotion request", body = ErrorBody),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 403, description = "Not an admin token", body = ErrorBody),
        (status = 404, description = "No such name", body = ErrorBody),
        (status = 409, description = "Refused by `require` (the report; the name did not move), or the candidate is already current or the name moved meanwhile (an error)", body = PromotionConflict),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not application/json", body = ErrorBody),
        (status = 422, description = "The candidate is missing, not a stage, or another stage", body = ErrorBody),
        (status = 429, description = "Rate limited, or the group's fuel quota has nothing left for the shadow runs (`quota_exhausted`; the name did not move)", body = ErrorBody)))]
pub async fn promote_module(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
    JsonBody(request): JsonBody<PromotionRequest>,
) -> Result<Response, ApiError> {
    admin_only(&caller)?;
    let p = Promote {
        name: name.clone(),
        candidate: digest("candidate", &request.candidate)?,
        shadow: request.shadow,
        require: match request.require {
            Some(RequireView::Identical) => Require::Identical,
            None => Require::Nothing,
        },
    };
    let registry = app.registry();
    let charged_as = format!("promotion-{}", uuid::Uuid::now_v7());
    let quota = metered_quota(&app, &caller.group, &charged_as);
    let Promotion {
        report,
        report_sha256,
        verdict,
    } = promote(&app.petri, app.store.state(), &registry, &p, quota.as_ref())
        .await
        .map_err(api_error)?;
    let (status, registration) = match &verdict {
        Verdict::Moved(r) => (StatusCode::CREATED, Some(RegistrationView::from(r))),
        Verdict::Refused => (StatusCode::CONFLICT, None),
    };
    let target = format!(
        "{name} sha256:{} -> sha256:{} (report sha256:{report_sha256})",
        report.current, report.candidate
    );
    let view = PromotionView {
        moved: registration.is_some(),
        registration,
        report_sha256: report_sha256.to_hex(),
        report,
    };
    let mut response = match status {
        StatusCode::CONFLICT => {
            (status, Json(PromotionConflict::Refused(Box::new(view)))).into_response()
        }
        _ => (status, Json(view)).into_response(),
    };
    response.extensions_mut().insert(AuditTarget(target));
    Ok(response)
}

/// Moves the name back to the module it pointed to before (or `to`, from its
/// history) (admins).
#[utoipa::path(post, path = "/v1/modules/{name}/rollbacks", tag = "modules",
    params(("name" = String, Path, description = "Registered module name")),
    request_body = RollbackRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Rolled back: the new registration", body = RegistrationView),
        (status = 400, description = "Not a rollback request", body = ErrorBody),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 403, description = "Not an admin token", body = ErrorBody),
        (status = 404, description = "No such name, or `to` is not in its history", body = ErrorBody),
        (status = 409, description = "Nothing earlier to roll back to, already there, or moved meanwhile", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not application/json", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody)))]
pub async fn rollback_module(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
    JsonBody(request): JsonBody<RollbackRequest>,
) -> Result<Response, ApiError> {
    admin_only(&caller)?;
    let to = request.to.as_deref().map(|d| digest("to", d)).transpose()?;
    let (from, moved) = rollback(&app.registry(), &name, to)
        .await
        .map_err(api_error)?;
    let target = format!("{name} sha256:{from} -> sha256:{}", moved.sha256);
    let mut response = (StatusCode::CREATED, Json(RegistrationView::from(&moved))).into_response();
    response.extensions_mut().insert(AuditTarget(target));
    Ok(response)
}

/// A registered name's registrations, promotions and rollbacks, oldest first.
#[utoipa::path(get, path = "/v1/modules/{name}/history", tag = "modules",
    params(("name" = String, Path, description = "Registered module name")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The history", body = HistoryView),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 404, description = "No such name", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody)))]
pub async fn module_history(
    State(app): State<Arc<AppState>>,
    _caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<HistoryView>, ApiError> {
    let named = app
        .registry()
        .history(&name)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no module is registered as `{name}`")))?;
    Ok(Json(HistoryView {
        name: named.entry.name,
        version: named.entry.version,
        sha256: named.entry.sha256.to_hex(),
        history: named.history.iter().map(RegistrationView::from).collect(),
    }))
}
