//! `GET /v1/audit`: the audit log, for admins (`petri audit list` reads the same table).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;

use super::tokens::admin_only;
use crate::server::app::AppState;
use crate::server::audit;
use crate::server::auth::Caller;
use crate::server::error::{ApiError, ErrorBody};
use crate::server::extract::Query;
use crate::server::views::{AuditPage, AuditQuery};

/// Audit log entries, oldest first: who, what, when, why, and the hash chain.
#[utoipa::path(get, path = "/v1/audit", tag = "audit",
    params(AuditQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of entries", body = AuditPage),
        (status = 400, description = "Bad query", body = ErrorBody),
        (status = 401, description = "No, unknown, revoked or expired token", body = ErrorBody),
        (status = 403, description = "Not an admin token", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody)))]
pub async fn list_audit(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Query(q): Query<AuditQuery>,
) -> Result<Json<AuditPage>, ApiError> {
    admin_only(&caller, "read the audit log")?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request("limit must be between 1 and 1000"));
    }
    let after = q.after.unwrap_or(0);
    if after < 0 {
        return Err(ApiError::bad_request("after must be 0 or more"));
    }
    let mut entries = audit::list(&app.store, after, limit + 1).await?;
    let more = entries.len() as i64 > limit;
    entries.truncate(limit as usize);
    let next_after = if more {
        entries.last().map(|e| e.seq)
    } else {
        None
    };
    Ok(Json(AuditPage {
        entries,
        next_after,
    }))
}
