//! Receiving an upload with a size cap (413 past it): streamed into a blob-store temp file while
//! hashed, never held whole in memory. The cap is the tightest of the daemon's limit and the
//! group's quotas (its largest upload, what is left of its stored bytes).

use std::io::Write;
use std::pin::Pin;

use axum::body::{Body, Bytes, HttpBody};
use axum::http::HeaderMap;
use axum::http::header::CONTENT_LENGTH;

use crate::server::app::AppState;
use crate::server::error::ApiError;
use crate::store::blobs::{BlobStore, BlobWriter, CasError};
use crate::store::digest::{Digest, Hasher};
use crate::store::quota::stored_bytes;

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

/// The most bytes one upload may have, and the limit that says so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cap {
    pub bytes: u64,
    pub by: String,
}

impl Cap {
    fn exceeded(&self) -> ApiError {
        ApiError::too_large(self.bytes, &self.by)
    }
}

/// The cap of an upload by `group`: `configured` (the daemon's limit, named
/// `by`), its `upload-bytes` quota, and what is left of its `store-bytes`.
pub async fn upload_cap(
    app: &AppState,
    group: &str,
    configured: u64,
    by: &str,
) -> Result<Cap, ApiError> {
    let quota = app.config.quota_for(group);
    let mut cap = Cap {
        bytes: configured,
        by: by.to_owned(),
    };
    let mut tighten = |bytes: u64, by: String| {
        if bytes < cap.bytes {
            cap = Cap { bytes, by };
        }
    };
    if let Some(n) = quota.upload_bytes {
        tighten(n, format!("group `{group}`'s upload-bytes quota"));
    }
    if let Some(limit) = quota.store_bytes {
        let used = stored_bytes(app.store.state(), group).await?;
        tighten(
            limit.saturating_sub(used),
            format!("what is left of group `{group}`'s store-bytes quota ({used} of {limit} used)"),
        );
    }
    Ok(cap)
}

/// 413 at once when the declared length is over the cap.
fn check_declared(headers: &HeaderMap, cap: &Cap) -> Result<(), ApiError> {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(n) if n > cap.bytes => Err(cap.exceeded()),
        _ => Ok(()),
    }
}

/// An upload received into a temp file of the blob store, hashed as it
/// arrived, not yet visible under its digest.
pub struct Received {
    pub digest: Digest,
    pub size: u64,
    /// Its first bytes (at most 8), to tell a component from anything else.
    pub head: Vec<u8>,
    writer: BlobWriter,
}

impl Received {
    /// Makes it durable and visible under its digest (the fsyncs run off the async threads).
    pub async fn commit(self) -> Result<(Digest, u64), ApiError> {
        let Received { digest, writer, .. } = self;
        tokio::task::spawn_blocking(move || {
            writer
                .commit_as(digest)
                .map_err(|e| ApiError::internal(e.to_string()))
        })
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
    }
}

/// Streams the body to disk (a blob-store temp file) while hashing it,
/// holding one chunk in memory at a time; 413 past `cap`. Dropping the
/// result without `commit` removes the temp file.
pub async fn receive(
    blobs: &BlobStore,
    headers: &HeaderMap,
    mut body: Body,
    cap: &Cap,
) -> Result<Received, ApiError> {
    check_declared(headers, cap)?;
    let internal = |e: CasError| ApiError::internal(e.to_string());
    let mut writer = blobs.unhashed_writer().map_err(internal)?;
    let mut hasher = Hasher::default();
    let mut head = Vec::with_capacity(8);
    while let Some(chunk) = next_chunk(&mut body).await {
        let chunk = chunk?;
        if hasher.len() + chunk.len() as u64 > cap.bytes {
            return Err(cap.exceeded());
        }
        let room = 8 - head.len();
        head.extend_from_slice(&chunk[..room.min(chunk.len())]);
        hasher.update(&chunk);
        writer
            .write_all(&chunk)
            .map_err(|e| ApiError::internal(format!("writing the upload: {e}")))?;
    }
    let (digest, size) = hasher.finish();
    Ok(Received {
        digest,
        size,
        head,
        writer,
    })
}
