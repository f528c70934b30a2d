//! `/v1/tokens`: admins list API tokens (never their secrets) and revoke them, effective at once.

use std::sync::Arc;
use std::time::SystemTime;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::server::app::AppState;
use crate::server::audit::AuditTarget;
use crate::server::auth::Caller;
use crate::server::error::{ApiError, ErrorBody};
use crate::server::extract::Path;
use crate::server::now;
use crate::server::views::TokenView;
use crate::store::daemon::Revocation;

/// 403 unless the caller is an admin.
pub fn admin_only(caller: &Caller, what: &str) -> Result<(), ApiError> {
    if caller.admin {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        format!("only an admin token may {what}"),
    ))
}

/// Every token: id, name, group, admin, granted priorities, created,
/// expiry, revocation and state (admins).
#[utoipa::path(get, path = "/v1/tokens", tag = "tokens",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every token", body = Vec<TokenView>),
        (status = 401, description = "No, unknown, revoked or expired token", body = ErrorBody),
        (status = 403, description = "Not an admin token", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody)))]
pub async fn list_tokens(
    State(app): State<Arc<AppState>>,
    caller: Caller,
) -> Result<Json<Vec<TokenView>>, ApiError> {
    admin_only(&caller, "list tokens")?;
    let at = SystemTime::now();
    Ok(Json(
        app.store
            .tokens()
            .await?
            .iter()
            .map(|t| t.view(at))
            .collect(),
    ))
}

/// Revokes a token (admins), by id or by name when one token has it. It
/// stops working at once; the row stays, marked revoked. A token cannot
/// revoke itself (so an admin does not lock itself out by mistake). The reason goes
/// in `X-Petri-Reason` and into the audit log.
#[utoipa::path(post, path = "/v1/tokens/{id}/revoke", tag = "tokens",
    params(("id" = String, Path, description = "Token id (at least 8 hex digits) or name")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Revoked", body = TokenView),
        (status = 401, description = "No, unknown, revoked or expired token", body = ErrorBody),
        (status = 403, description = "Not an admin token", body = ErrorBody),
        (status = 404, description = "No such token", body = ErrorBody),
        (status = 409, description = "Already revoked, a name several tokens have, or the calling token itself", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody)))]
pub async fn revoke_token(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    admin_only(&caller, "revoke tokens")?;
    let outcome = app
        .store
        .revoke_token(&id, &now(), Some(&caller.token_id))
        .await?;
    // Whatever happened, no cached token outlives this call.
    app.forget_tokens();
    match outcome {
        Revocation::Revoked(row) => {
            let mut response = Json(row.view(SystemTime::now())).into_response();
            let target = AuditTarget(format!("token {} ({})", row.name, row.id));
            response.extensions_mut().insert(target);
            Ok(response)
        }
        Revocation::AlreadyRevoked(row) => Err(ApiError::conflict(format!(
            "token `{}` ({}) was already revoked at {}",
            row.name,
            row.id,
            row.revoked_at.unwrap_or_default()
        ))),
        Revocation::NotFound => Err(ApiError::not_found(format!("no token `{id}`"))),
        Revocation::Ambiguous(n) => Err(ApiError::conflict(format!(
            "{n} tokens are named `{id}`: revoke one by its id (GET /v1/tokens)"
        ))),
        Revocation::Spared(row) => Err(ApiError::conflict(format!(
            "token `{}` ({}) is the one making this call: revoke it with another admin token or `petri token revoke`",
            row.name, row.id
        ))),
    }
}
