//! `/v1/usage`: what the caller's research group has used against its quotas.

use std::sync::Arc;
use std::time::SystemTime;

use axum::Json;
use axum::extract::State;

use crate::server::app::AppState;
use crate::server::auth::Caller;
use crate::server::error::{ApiError, ErrorBody};
use crate::server::views::{QuotaView, UsageView};
use crate::store::lease::epoch_ms;
use crate::store::quota::{fuel_today, stored_bytes};

/// The caller's group: fuel its stages used in the last 24 hours, the bytes
/// it stores, and its quotas (absent: no limit).
#[utoipa::path(get, path = "/v1/usage", tag = "usage",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The group's usage and quotas", body = UsageView),
        (status = 401, description = "No, unknown, revoked or expired token", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody)))]
pub async fn usage(
    State(app): State<Arc<AppState>>,
    caller: Caller,
) -> Result<Json<UsageView>, ApiError> {
    Ok(Json(usage_of(&app, &caller.group).await?))
}

/// `group`'s usage and quotas (the API's and the dashboard's).
pub(crate) async fn usage_of(app: &AppState, group: &str) -> Result<UsageView, ApiError> {
    let state = app.store.state();
    let quota = app.config.quota_for(group);
    Ok(UsageView {
        fuel_today: fuel_today(state, group, epoch_ms(SystemTime::now())).await?,
        stored_bytes: stored_bytes(state, group).await?,
        group: group.to_owned(),
        quota: QuotaView {
            fuel_per_run: quota.fuel_per_run,
            fuel_per_day: quota.fuel_per_day,
            store_bytes: quota.store_bytes,
            upload_bytes: quota.upload_bytes,
        },
    })
}
