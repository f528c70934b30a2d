//! `GET /v1/artifacts/{sha256}`: a blob the caller's group uploaded or one of its runs read or
//! wrote, streamed, with single-range `Range` requests (206, 416).

use std::io::SeekFrom;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

use crate::server::app::AppState;
use crate::server::auth::Caller;
use crate::server::error::{ApiError, ErrorBody};
use crate::server::extract::Path;
use crate::store::digest::Digest;

/// A byte range, inclusive, within a blob of known size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    pub start: u64,
    pub end: u64,
}

/// A `Range` the blob cannot satisfy (answered 416).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unsatisfiable;

/// Parses `bytes=a-b`, `bytes=a-` or `bytes=-n` against `size`.
/// `Ok(None)`: no usable range header (serve everything, as RFC 9110 allows
/// for multiple ranges); `Err`: unsatisfiable.
pub fn parse_range(value: &str, size: u64) -> Result<Option<ByteRange>, Unsatisfiable> {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return Ok(None);
    };
    let (a, b) = (a.trim(), b.trim());
    let range = match (a.is_empty(), b.is_empty()) {
        (true, false) => {
            let n: u64 = b.parse().map_err(|_| Unsatisfiable)?;
            if n == 0 || size == 0 {
                return Err(Unsatisfiable);
            }
            ByteRange {
                start: size.saturating_sub(n),
                end: size - 1,
            }
        }
        (false, _) => {
            let start: u64 = a.parse().map_err(|_| Unsatisfiable)?;
            let end: u64 = if b.is_empty() {
                size.saturating_sub(1)
            } else {
                b.parse::<u64>()
                    .map_err(|_| Unsatisfiable)?
                    .min(size.saturating_sub(1))
            };
            if start >= size || end < start {
                return Err(Unsatisfiable);
            }
            ByteRange { start, end }
        }
        (true, true) => return Ok(None),
    };
    Ok(Some(range))
}

/// Downloads a blob by SHA-256, streamed; supports one `Range`.
#[utoipa::path(get, path = "/v1/artifacts/{sha256}", tag = "artifacts",
    params(
        ("sha256" = String, Path, description = "The blob's SHA-256 (hex)"),
        ("Range" = Option<String>, Header, description = "One range: `bytes=a-b`, `bytes=a-`, `bytes=-n`")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The bytes", body = super::blobs::Binary, content_type = "application/octet-stream"),
        (status = 206, description = "The requested range", body = super::blobs::Binary, content_type = "application/octet-stream"),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 404, description = "No such blob for this group", body = ErrorBody),
        (status = 416, description = "Range not satisfiable", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
        (status = 500, description = "The stored blob no longer matches its digest (`integrity`); nothing is served", body = ErrorBody)))]
pub async fn get_artifact(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path(sha256): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let not_found = || ApiError::not_found(format!("no artifact {sha256}"));
    let digest: Digest = sha256
        .trim_start_matches("sha256:")
        .parse()
        .map_err(|_| not_found())?;
    if !(caller.admin || app.store.owns_blob(&caller.group, &digest.to_hex()).await?) {
        return Err(not_found());
    }
    // Never serve bytes that are not what their name says: one SHA-256 pass
    // over the blob before the first byte goes out.
    let petri = app.petri.clone();
    let intact = tokio::task::spawn_blocking(move || petri.blobs().verify(&digest))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    match intact {
        Ok(true) => {}
        Ok(false) => {
            return Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "integrity",
                format!(
                    "artifact {sha256} is damaged on the server (its bytes no longer match its digest); it is not served"
                ),
            ));
        }
        Err(_) => return Err(not_found()),
    }
    // Served from the backend's local file (the directory backend); an
    // object-store backend would answer with a ranged GET instead.
    let path = app
        .petri
        .blobs()
        .local_path(&digest)
        .ok_or_else(|| ApiError::internal("this blob backend keeps no local files to serve"))?;
    let mut file = tokio::fs::File::open(&path)
        .await
        .map_err(|_| not_found())?;
    let size = file
        .metadata()
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .len();
    let range = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        Some(v) => match parse_range(v, size) {
            Ok(r) => r,
            Err(Unsatisfiable) => {
                let mut e = ApiError::new(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    "range_not_satisfiable",
                    format!("the blob has {size} bytes"),
                )
                .into_response();
                if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                    e.headers_mut().insert(header::CONTENT_RANGE, v);
                }
                return Ok(e);
            }
        },
        None => None,
    };
    let etag = format!("\"sha256:{}\"", digest.to_hex());
    let mut builder = Response::builder()
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::ETAG, etag)
        .header(header::CACHE_CONTROL, "private, immutable");
    let body = match range {
        Some(r) => {
            file.seek(SeekFrom::Start(r.start))
                .await
                .map_err(|e| ApiError::internal(e.to_string()))?;
            let len = r.end - r.start + 1;
            builder = builder
                .status(StatusCode::PARTIAL_CONTENT)
                .header(header::CONTENT_LENGTH, len)
                .header(
                    header::CONTENT_RANGE,
                    format!("bytes {}-{}/{size}", r.start, r.end),
                );
            Body::from_stream(ReaderStream::new(file.take(len)))
        }
        None => {
            builder = builder
                .status(StatusCode::OK)
                .header(header::CONTENT_LENGTH, size);
            Body::from_stream(ReaderStream::new(file))
        }
    };
    builder
        .body(body)
        .map_err(|e| ApiError::internal(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_against_the_size() {
        let r = |s, n| parse_range(s, n);
        assert_eq!(
            r("bytes=0-9", 100),
            Ok(Some(ByteRange { start: 0, end: 9 }))
        );
        assert_eq!(
            r("bytes=90-", 100),
            Ok(Some(ByteRange { start: 90, end: 99 }))
        );
        assert_eq!(
            r("bytes=-10", 100),
            Ok(Some(ByteRange { start: 90, end: 99 }))
        );
        assert_eq!(
            r("bytes=95-200", 100),
            Ok(Some(ByteRange { start: 95, end: 99 }))
        );
        assert_eq!(r("bytes=100-", 100), Err(Unsatisfiable));
        assert_eq!(r("bytes=5-1", 100), Err(Unsatisfiable));
        assert_eq!(r("bytes=0-1,5-6", 100), Ok(None));
        assert_eq!(r("items=0-1", 100), Ok(None));
    }
}
