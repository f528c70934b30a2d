//! `/v1/modules`: upload stage components (checked by loading them before they are kept),
//! list them, and show one's manifest. A group sees the modules it uploaded and the registered
//! catalogue; another group's unregistered module answers exactly as a missing one.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;

use super::blobs::Binary;
use super::body::{receive, upload_cap};
use crate::server::app::AppState;
use crate::server::audit::AuditTarget;
use crate::server::auth::Caller;
use crate::server::error::{ApiError, ErrorBody};
use crate::server::extract::{Path, Query};
use crate::server::now;
use crate::server::views::ModuleView;
use crate::stage::bindings::Manifest;
use crate::store::digest::Digest;
use crate::store::registry::{RegistryEntry, RegistryError};

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UploadQuery {
    /// Admins: also register the module under its manifest name (default true),
    /// so pipelines may write `module = "<name>"`.
    pub register: Option<bool>,
}

fn view(row: (String, String, String, i64, String, String)) -> ModuleView {
    let (sha256, name, version, size, manifest, uploaded_at) = row;
    ModuleView {
        reference: format!("sha256:{sha256}"),
        sha256,
        name,
        version,
        size: size.max(0) as u64,
        uploaded_at,
        manifest: serde_json::from_str(&manifest).unwrap_or_default(),
    }
}

fn invalid_module(message: String) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_module",
        format!("not a petri stage component: {message}"),
    )
}

/// Compiles the stored module and reads its manifest; bytes that are not a
/// stage are taken back out of the store unless they were there before.
async fn manifest_of(app: &AppState, digest: Digest, existed: bool) -> Result<Manifest, ApiError> {
    let petri = app.petri.clone();
    // Compiling is CPU-bound: off the async threads.
    let loaded = tokio::task::spawn_blocking(move || {
        let wasm = petri.blobs().read(&digest)?;
        petri.load(&wasm)
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?;
    let described = match loaded {
        Ok(stage) => app.petri.describe(&stage).await,
        Err(e) => Err(e),
    };
    described.map_err(|e| {
        if !existed {
            let _ = app.petri.blobs().remove(&digest);
        }
        invalid_module(e.to_string())
    })
}

/// Registers `name@version → digest` (admins); 409 when that name and
/// version already name other bytes.
async fn register(app: &AppState, manifest: &Manifest, digest: Digest) -> Result<(), ApiError> {
    let entry = RegistryEntry {
        name: manifest.name.clone(),
        version: manifest.version.clone(),
        sha256: digest,
    };
    match app.registry().add(entry).await {
        Ok(_) => Ok(()),
        Err(e @ RegistryError::Conflict { .. }) => Err(ApiError::conflict(format!(
            "stored as sha256:{digest} but not registered: {e}"
        ))),
        Err(e) => Err(e.into()),
    }
}

/// Uploads a stage component, streamed to disk while hashed. It is
/// compiled and its manifest read before it is kept; bytes that are not a
/// petri stage are refused (422) and not stored. Uploading the same bytes
/// again answers 200 with the same module.
#[utoipa::path(post, path = "/v1/modules", tag = "modules",
    params(UploadQuery),
    request_body(content = Binary, content_type = "application/octet-stream"),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Stored", body = ModuleView),
        (status = 200, description = "Already stored", body = ModuleView),
        (status = 400, description = "Bad query", body = ErrorBody),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 409, description = "Admins: its name and version are registered to other bytes (the module is stored, not registered)", body = ErrorBody),
        (status = 413, description = "Larger than max-module-bytes, max-upload-bytes or the group's upload-bytes or store-bytes quota", body = ErrorBody),
        (status = 422, description = "Not a petri stage component", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody)))]
pub async fn upload_module(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Query(query): Query<UploadQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let (limit, by) = if app.config.max_module_bytes < app.config.max_upload_bytes {
        (app.config.max_module_bytes, "max-module-bytes")
    } else {
        (app.config.max_upload_bytes, "max-upload-bytes")
    };
    let cap = upload_cap(&app, &caller.group, limit, by).await?;
    let received = receive(app.petri.blobs(), &headers, body, &cap).await?;
    if !received.head.starts_with(b"\0asm") {
        return Err(invalid_module(
            "the bytes do not begin with the WebAssembly magic `\\0asm`".into(),
        ));
    }
    let existed = app.petri.blobs().contains(&received.digest);
    let (digest, size) = received.commit().await?;
    let manifest = manifest_of(&app, digest, existed).await?;
    let json = serde_json::to_string(&manifest).map_err(|e| ApiError::internal(e.to_string()))?;
    let hex = digest.to_hex();
    let created = app
        .store
        .add_module(
            &hex,
            &manifest.name,
            &manifest.version,
            size as i64,
            &json,
            &now(),
        )
        .await?;
    app.store
        .own_blobs(&caller.group, &[(hex.clone(), size)])
        .await?;
    if caller.admin && query.register.unwrap_or(true) {
        register(&app, &manifest, digest).await?;
    }
    let row = app
        .store
        .modules(Some(&hex))
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::internal("the module vanished after it was stored"))?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let target = format!("sha256:{hex} ({}@{})", manifest.name, manifest.version);
    let mut response = (status, Json(view(row))).into_response();
    response.extensions_mut().insert(AuditTarget(target));
    Ok(response)
}

/// Every uploaded module.
#[utoipa::path(get, path = "/v1/modules", tag = "modules",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Modules", body = Vec<ModuleView>),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody)))]
pub async fn list_modules(
    State(app): State<Arc<AppState>>,
    caller: Caller,
) -> Result<Json<Vec<ModuleView>>, ApiError> {
    let mut out = Vec::new();
    for row in app.store.modules(None).await? {
        if sees_module(&app, &caller, &row.0).await? {
            out.push(view(row));
        }
    }
    Ok(Json(out))
}

/// A group sees the modules it uploaded and the registered catalogue (the
/// admin's: every module a name points or pointed to, which pipelines may
/// pin); another group's unregistered module is as absent as a missing one.
async fn sees_module(app: &AppState, caller: &Caller, hex: &str) -> Result<bool, ApiError> {
    if caller.admin || app.store.owns_blob(&caller.group, hex).await? {
        return Ok(true);
    }
    match hex.parse::<Digest>() {
        Ok(digest) => Ok(app.registry().ever_registered(&digest).await?),
        Err(_) => Ok(false),
    }
}

/// One module and its manifest.
#[utoipa::path(get, path = "/v1/modules/{sha256}", tag = "modules",
    params(("sha256" = String, Path, description = "The module's SHA-256 (hex)")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The module", body = ModuleView),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 404, description = "No such module", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody)))]
pub async fn get_module(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path(sha256): Path<String>,
) -> Result<Json<ModuleView>, ApiError> {
    let hex = sha256.trim_start_matches("sha256:").to_ascii_lowercase();
    if !sees_module(&app, &caller, &hex).await? {
        return Err(ApiError::not_found(format!("no module sha256:{hex}")));
    }
    app.store
        .modules(Some(&hex))
        .await?
        .into_iter()
        .next()
        .map(|r| Json(view(r)))
        .ok_or_else(|| ApiError::not_found(format!("no module sha256:{hex}")))
}
