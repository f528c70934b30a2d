//! Reading an upload body with a size cap (413 past it), into memory or straight into the blob store.

use std::io::Write;
use std::pin::Pin;

use axum::body::{Body, Bytes, HttpBody};
use axum::http::HeaderMap;
use axum::http::header::CONTENT_LENGTH;

use crate::cas::{BlobStore, CasError};
use crate::digest::Digest;
use crate::server::error::ApiError;

/// The next data frame of a body (trailers are skipped).
async fn next_chunk(body: &mut Body) -> Option<Result<Bytes, ApiError>> {
    loop {
        let frame = std::future::poll_fn(|cx| Pin::new(&mut *body).poll_frame(cx)).await?;
        match frame {
            Ok(f) => {
                if let Ok(data) = f.into_data() {
                    return Some(Ok(data));
                }
            }
            Err(e) => {
                return Some(Err(ApiError::bad_request(format!(
                    "reading the request body: {e}"
                ))));
            }
        }
    }
}

/// 413 at once when the declared length is over the limit.
fn check_declared(headers: &HeaderMap, limit: u64) -> Result<(), ApiError> {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(n) if n > limit => Err(ApiError::too_large(limit)),
        _ => Ok(()),
    }
}

/// The whole body, refusing more than `limit` bytes.
pub async fn read_limited(
    headers: &HeaderMap,
    mut body: Body,
    limit: u64,
) -> Result<Vec<u8>, ApiError> {
    check_declared(headers, limit)?;
    let mut out = Vec::new();
    while let Some(chunk) = next_chunk(&mut body).await {
        let chunk = chunk?;
        if (out.len() + chunk.len()) as u64 > limit {
            return Err(ApiError::too_large(limit));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// Streams the body into the blob store; nothing is visible unless all of it
/// arrives within `limit`. Returns the digest and size.
pub async fn store_limited(
    blobs: &BlobStore,
    headers: &HeaderMap,
    mut body: Body,
    limit: u64,
) -> Result<(Digest, u64), ApiError> {
    check_declared(headers, limit)?;
    let internal = |e: CasError| ApiError::internal(e.to_string());
    let mut writer = blobs.writer().map_err(internal)?;
    while let Some(chunk) = next_chunk(&mut body).await {
        let chunk = chunk?;
        if writer.len() + chunk.len() as u64 > limit {
            return Err(ApiError::too_large(limit));
        }
        writer
            .write_all(&chunk)
            .map_err(|e| ApiError::internal(format!("writing the blob: {e}")))?;
    }
    // The commit fsyncs: off the async threads.
    tokio::task::spawn_blocking(move || writer.commit().map_err(internal))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
}
