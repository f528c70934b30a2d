//! `/ui/runs`: the runs the session may see, newest first, filtered by group, status and
//! pipeline (the API's `GET /v1/runs`, so scoped exactly as it is), with the trigger that
//! submitted each; `live.js` keeps statuses and triggers current and, unfiltered, adds new runs.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Html;
use serde::Deserialize;

use super::layout::{badge, escape, framed, link, table};
use super::session::{Session, UiError};
use crate::server::app::AppState;
use crate::server::error::ApiError;
use crate::server::extract::Query;
use crate::server::routes::runs::list_runs;
use crate::server::views::{RunQuery, RunStatus};

/// The filter form's fields (empty: any).
#[derive(Debug, Default, Deserialize)]
pub struct Filter {
    #[serde(default)]
    group: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    pipeline: String,
}

fn some(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

fn form(f: &Filter, admin: bool) -> String {
    let mut options = String::from("<option value=\"\">any</option>");
    for s in RunStatus::ALL {
        let selected = if f.status.eq_ignore_ascii_case(s.as_str()) {
            " selected"
        } else {
            ""
        };
        options.push_str(&format!("<option{selected}>{s}</option>"));
    }
    let group = if admin {
        format!(
            "<label>group <input name=\"group\" value=\"{}\"></label>",
            escape(&f.group)
        )
    } else {
        String::new()
    };
    format!(
        "<form method=\"get\" action=\"/ui/runs\" id=\"filter\">{group}\
         <label>status <select name=\"status\">{options}</select></label>\
         <label>pipeline <input name=\"pipeline\" value=\"{}\"></label><button>Filter</button></form>",
        escape(&f.pipeline)
    )
}

/// The runs page.
pub async fn runs(
    State(app): State<Arc<AppState>>,
    session: Session,
    Query(f): Query<Filter>,
) -> Result<Html<String>, UiError> {
    let query = RunQuery {
        group: some(&f.group),
        status: some(&f.status),
        pipeline: some(&f.pipeline),
        limit: Some(200),
        cursor: None,
    };
    let found = list_runs(State(app.clone()), session.caller.clone(), Query(query)).await?;
    let deliveries = app.store.state().deliveries();
    let mut rows = Vec::with_capacity(found.0.runs.len());
    for r in &found.0.runs {
        let trigger = deliveries.of_run(&r.id).await.map_err(ApiError::from)?;
        rows.push(vec![
            link(&format!("/ui/runs/{}", r.id), &r.id),
            badge(r.status.as_str(), &format!("status-{}", r.id)),
            escape(&r.pipeline),
            escape(&r.group),
            trigger_cell(&r.id, trigger.as_ref().map(|t| t.0.as_str())),
            escape(&r.description),
            escape(&r.submitted_at),
            escape(r.finished_at.as_deref().unwrap_or("")),
        ]);
    }
    let headers = [
        "Run",
        "Status",
        "Pipeline",
        "Group",
        "Trigger",
        "Description",
        "Submitted",
        "Finished",
    ];
    let body = format!(
        "{}<p class=\"note\">{} run(s), newest first.</p>{}",
        form(&f, session.caller.admin),
        rows.len(),
        table("runs", &headers, &rows)
    );
    // New runs are added live only where no filter could exclude them.
    let unfiltered = [&f.group, &f.status, &f.pipeline]
        .iter()
        .all(|v| v.trim().is_empty());
    let script = format!(
        "<script src=\"/ui/static/live.js\" data-runs=\"{}\"></script>",
        if unfiltered { "all" } else { "shown" }
    );
    Ok(Html(framed(&session, "/ui/runs", "Runs", &body, &script)))
}

/// The Trigger cell of run `id`: the trigger's name (a webhook trigger's, or
/// `watch:NAME`), empty for a run a person submitted.
fn trigger_cell(id: &str, trigger: Option<&str>) -> String {
    format!(
        "<span class=\"mono\" data-trigger=\"{}\">{}</span>",
        escape(id),
        escape(trigger.unwrap_or(""))
    )
}
