//! The daemon's errors: [`ServerError`] stops it from starting or serving; [`ApiError`] is
//! one HTTP request's failure, always answered as a JSON [`ErrorBody`].

use std::path::PathBuf;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::Error;
use crate::store::registry::RegistryError;
use crate::store::state::StateError;

/// Why the daemon cannot start or go on serving.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    #[error("config {path}: {message}")]
    Config { path: PathBuf, message: String },
    #[error("listening on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("serving HTTP: {0}")]
    Serve(std::io::Error),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Host(#[from] Error),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// One located problem with a request (a pipeline or sample sheet line, or a field).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ProblemBody {
    /// `pipeline.toml`, `samples.tsv`, or the request field concerned.
    pub file: String,
    /// 1-based; 0 when the problem has no place in the file.
    pub line: usize,
    pub column: usize,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

/// The body of every error response.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// Machine-readable: `unauthorized`, `not_found`, `invalid_request`,
    /// `invalid_pipeline`, `payload_too_large`, `rate_limited`, `conflict`,
    /// `range_not_satisfiable`, `method_not_allowed`, `integrity` (a stored blob no
    /// longer matches its digest; it is not served), `internal`.
    pub code: String,
    pub message: String,
    /// Every problem found (422 only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<ProblemBody>,
}

/// A failed request.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub problems: Vec<ProblemBody>,
    /// Seconds, for 429.
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            problems: Vec::new(),
            retry_after: None,
        }
    }
    pub fn not_found(what: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", what)
    }
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }
    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }
    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, "conflict", message)
    }
    /// 413: the body is over `limit` bytes, the limit `by` sets.
    pub fn too_large(limit: u64, by: &str) -> ApiError {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the request body is larger than {by} ({limit} bytes)"),
        )
    }
    /// 422: a request field with a value that cannot be used, named first.
    pub fn invalid_field(field: &str, message: impl std::fmt::Display) -> ApiError {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            format!("{field}: {message}"),
        )
    }
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }
    /// 422 with every problem.
    pub fn invalid(message: impl Into<String>, problems: Vec<ProblemBody>) -> ApiError {
        ApiError {
            problems,
            ..ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_pipeline",
                message,
            )
        }
    }
}

impl From<StateError> for ApiError {
    fn from(e: StateError) -> ApiError {
        ApiError::internal(e.to_string())
    }
}

impl From<RegistryError> for ApiError {
    fn from(e: RegistryError) -> ApiError {
        match e {
            e @ RegistryError::Conflict { .. } => ApiError::conflict(e.to_string()),
            other => ApiError::internal(other.to_string()),
        }
    }
}

/// A host request problem names a field, not a place in a file.
impl From<crate::error::Problem> for ProblemBody {
    fn from(p: crate::error::Problem) -> ProblemBody {
        ProblemBody {
            file: p.field,
            line: 0,
            column: 0,
            message: p.problem,
            hint: None,
        }
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> ApiError {
        match e {
            Error::Request(problems) => ApiError::invalid(
                format!("the request has {} problem(s)", problems.len()),
                problems.into_iter().map(ProblemBody::from).collect(),
            ),
            other => ApiError::internal(format!("{other:#}")),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message,
                problems: self.problems,
            },
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"petri\""),
            );
        }
        response
    }
}
