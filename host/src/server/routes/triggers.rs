//! `POST /v1/triggers/{name}`: a signed webhook delivery (a LIMS, a submission portal) submits
//! the trigger's pipeline with the delivery's sample sheet; a replayed delivery starts nothing.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use utoipa::ToSchema;

use super::runs::{answer, submit};
use crate::server::app::AppState;
use crate::server::audit::CallerSlot;
use crate::server::auth::Caller;
use crate::server::error::{ApiError, ErrorBody};
use crate::server::extract::Path;
use crate::server::signature::{SIGNATURE_HEADER, is_signed};
use crate::server::trigger::TriggerConfig;
use crate::server::views::{Accepted, SheetFormat, SubmitRun};
use crate::server::{metrics, now};
use crate::store::triggers::Delivery;

/// What a delivery carries: the sample sheet (and the uploaded blobs its
/// paths name) for the trigger's pipeline.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TriggerDelivery {
    /// A sample sheet (text) to fan the trigger's pipeline out over.
    #[serde(default)]
    pub samples: Option<String>,
    #[serde(default)]
    pub samples_format: SheetFormat,
    /// Path as written in the pipeline or sheet → SHA-256 of a blob the
    /// trigger's group uploaded.
    #[serde(default)]
    pub files: BTreeMap<String, String>,
    #[serde(default)]
    pub description: String,
}

/// Submits trigger `name`'s pipeline with the delivery's sheet, as a run of
/// the trigger's group. The body must be signed: `X-Petri-Signature:
/// sha256=<hex HMAC-SHA256 of the body under the trigger's secret>`. The
/// same body delivered again answers 200 with the run the first started.
#[utoipa::path(post, path = "/v1/triggers/{name}", tag = "triggers",
    params(("name" = String, Path, description = "The trigger's name in the daemon's config")),
    request_body = TriggerDelivery,
    responses(
        (status = 202, description = "A run was submitted", body = Accepted),
        (status = 200, description = "A replay: the run this body started before", body = Accepted),
        (status = 400, description = "Not a delivery (JSON)", body = ErrorBody),
        (status = 401, description = "Missing or wrong signature", body = ErrorBody),
        (status = 404, description = "No such trigger", body = ErrorBody),
        (status = 409, description = "The same body is being submitted right now", body = ErrorBody),
        (status = 413, description = "Larger than max-body-bytes", body = ErrorBody),
        (status = 422, description = "Invalid sheet or files: every problem, located", body = ErrorBody)))]
pub async fn deliver(
    State(app): State<Arc<AppState>>,
    Path(name): Path<String>,
    slot: Option<axum::Extension<CallerSlot>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let config = app
        .config
        .triggers
        .get(&name)
        .ok_or_else(|| ApiError::not_found(format!("no trigger {name}")))?;
    if let Err(e) = check_signature(&name, config, &headers, &body) {
        metrics::trigger_delivery(&name, "unauthorized");
        return Err(e);
    }
    let delivery: TriggerDelivery = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("not a trigger delivery: {e}")))?;
    let caller = Caller {
        name: format!("trigger {name}"),
        token_id: "hmac".into(),
        group: config.group.clone(),
        admin: false,
        priorities: vec![config.priority],
    };
    if let Some(axum::Extension(slot)) = slot {
        slot.fill(&caller);
    }
    let digest = hex::encode(Sha256::digest(&body));
    let deliveries = app.store.state().deliveries();
    match deliveries.take(&name, &digest, &now()).await? {
        Delivery::Started { run_id } => {
            metrics::trigger_delivery(&name, "replayed");
            return replayed(&app, run_id).await;
        }
        Delivery::InFlight => {
            return Err(ApiError::conflict(
                "this delivery is being submitted by another request",
            ));
        }
        Delivery::New => {}
    }
    let submitted = match request(&name, config, delivery) {
        Ok(request) => submit(&app, &caller, request).await,
        Err(e) => Err(e),
    };
    match submitted {
        Ok(accepted) => {
            deliveries.started(&name, &digest, &accepted.id).await?;
            metrics::trigger_delivery(&name, "accepted");
            Ok(answer(StatusCode::ACCEPTED, accepted))
        }
        Err(e) => {
            deliveries.forget(&name, &digest).await?;
            metrics::trigger_delivery(&name, "refused");
            Err(e)
        }
    }
}

/// 401 unless the body carries its signature under the trigger's secret.
fn check_signature(
    name: &str,
    config: &TriggerConfig,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), ApiError> {
    let secret = std::fs::read(&config.secret_file).map_err(|e| {
        // The operator's mistake: logged with the path, answered without it.
        eprintln!(
            "petri serve: trigger {name}: reading its secret {}: {e}",
            config.secret_file.display()
        );
        ApiError::internal(format!("trigger {name} has no readable secret"))
    })?;
    let signature = headers
        .get(SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if is_signed(secret.trim_ascii(), body, signature) {
        Ok(())
    } else {
        Err(ApiError::unauthorized(format!(
            "the delivery is not signed with trigger {name}'s secret ({SIGNATURE_HEADER}: sha256=<hex HMAC-SHA256 of the body>)"
        )))
    }
}

/// The run a delivery asks for: the trigger's pipeline, the delivery's sheet.
fn request(
    name: &str,
    config: &TriggerConfig,
    delivery: TriggerDelivery,
) -> Result<SubmitRun, ApiError> {
    let pipeline = std::fs::read_to_string(&config.pipeline).map_err(|e| {
        eprintln!(
            "petri serve: trigger {name}: reading its pipeline {}: {e}",
            config.pipeline.display()
        );
        ApiError::internal(format!("trigger {name} has no readable pipeline"))
    })?;
    Ok(SubmitRun {
        pipeline: Some(pipeline),
        pipeline_sha256: None,
        samples: delivery.samples,
        samples_format: delivery.samples_format,
        files: delivery.files,
        description: delivery.description,
        priority: config.priority,
    })
}

/// The answer to a replay: the run the first delivery started, as it is now.
async fn replayed(app: &AppState, run_id: String) -> Result<Response, ApiError> {
    let status = app
        .store
        .run(&run_id)
        .await?
        .map(|row| row.status)
        .ok_or_else(|| ApiError::internal(format!("trigger run {run_id} is gone")))?;
    let accepted = Accepted {
        url: format!("/v1/runs/{run_id}"),
        id: run_id,
        status,
    };
    Ok(answer(StatusCode::OK, accepted))
}
