//! `/ui/usage`: fuel in the last 24 hours, runs by status and bytes stored against the quotas,
//! for the session's group (an admin's: every group with runs), as `GET /v1/usage` reads them.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::response::Html;

use super::layout::{bytes, escape, page, table};
use super::session::{Session, UiError};
use crate::server::app::AppState;
use crate::server::error::ApiError;
use crate::server::routes::usage::usage_of;
use crate::server::views::RunStatus;

fn limit(value: u64, quota: Option<u64>, show: fn(u64) -> String) -> String {
    match quota {
        Some(q) => format!("{} of {}", show(value), show(q)),
        None => format!("{} (no quota)", show(value)),
    }
}

/// The usage page.
pub async fn usage(
    State(app): State<Arc<AppState>>,
    session: Session,
) -> Result<Html<String>, UiError> {
    let mut runs: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
    for (group, status, n) in app.store.count_by_group().await.map_err(ApiError::from)? {
        if session.caller.sees(&group) {
            runs.entry(group).or_default().insert(status, n);
        }
    }
    runs.entry(session.caller.group.clone()).or_default();
    let mut rows = Vec::new();
    for (group, counts) in &runs {
        let u = usage_of(&app, group).await?;
        let mut row = vec![
            escape(group),
            limit(u.fuel_today, u.quota.fuel_per_day, |n| n.to_string()),
            limit(u.stored_bytes, u.quota.store_bytes, bytes),
        ];
        for s in RunStatus::ALL {
            row.push(counts.get(s.as_str()).copied().unwrap_or(0).to_string());
        }
        rows.push(row);
    }
    let mut headers = vec!["Group", "Fuel, last 24 h", "Stored"];
    headers.extend(RunStatus::ALL.iter().map(|s| s.as_str()));
    let body = format!(
        "<p class=\"note\">Fuel granted or used by the group's stages in the last 24 hours (counted for groups with a fuel or store quota), the bytes of the blobs it owns, and its runs by status.</p>{}",
        table("usage", &headers, &rows)
    );
    Ok(Html(page(&session, "/ui/usage", "Group usage", &body)))
}
