//! `POST /v1/blobs`: upload input files (or a pipeline file) by content, to name in a run;
//! streamed to disk while hashed.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::body::{receive, upload_cap};
use crate::server::app::AppState;
use crate::server::audit::AuditTarget;
use crate::server::auth::Caller;
use crate::server::error::{ApiError, ErrorBody};
use crate::server::views::BlobView;

/// Raw bytes of a file (`type: string, format: binary` in the document).
pub struct Binary;

impl utoipa::PartialSchema for Binary {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
            .min_length(Some(1))
            .into()
    }
}

impl utoipa::ToSchema for Binary {}

/// Stores a file in the blob store under its SHA-256 (idempotent) and lets
/// the caller's group use it in runs and download it.
#[utoipa::path(post, path = "/v1/blobs", tag = "blobs",
    request_body(content = Binary, content_type = "application/octet-stream"),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Stored", body = BlobView),
        (status = 200, description = "Already stored for this group", body = BlobView),
        (status = 400, description = "Unreadable body", body = ErrorBody),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 413, description = "Larger than max-upload-bytes or the group's upload-bytes or store-bytes quota", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody)))]
pub async fn upload_blob(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let cap = upload_cap(
        &app,
        &caller.group,
        app.config.max_upload_bytes,
        "max-upload-bytes",
    )
    .await?;
    let received = receive(app.petri.blobs(), &headers, body, &cap).await?;
    if received.size == 0 {
        return Err(ApiError::bad_request(
            "the body is empty: send the file's bytes",
        ));
    }
    let (digest, size) = received.commit().await?;
    let hex = digest.to_hex();
    let had = app.store.owns_blob(&caller.group, &hex).await?;
    app.store
        .own_blobs(&caller.group, &[(hex.clone(), size)])
        .await?;
    let status = if had {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    let mut response = (status, Json(BlobView { sha256: hex, size })).into_response();
    response
        .extensions_mut()
        .insert(AuditTarget(format!("sha256:{digest}")));
    Ok(response)
}
