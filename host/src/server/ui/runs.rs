//! `/ui/runs`: the runs the session may see, newest first, filtered by group, status and
//! pipeline (the API's `GET /v1/runs`, so scoped exactly as it is).

use std::sync::Arc;

use axum::extract::State;
use axum::response::Html;
use serde::Deserialize;

use super::layout::{badge, escape, link, page, table};
use super::session::{Session, UiError};
use crate::server::app::AppState;
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
    let found = list_runs(State(app), session.caller.clone(), Query(query)).await?;
    let rows: Vec<Vec<String>> = found
        .0
        .runs
        .iter()
        .map(|r| {
            vec![
                link(&format!("/ui/runs/{}", r.id), &r.id),
                badge(r.status.as_str(), &format!("status-{}", r.id)),
                escape(&r.pipeline),
                escape(&r.group),
                escape(&r.description),
                escape(&r.submitted_at),
                escape(r.finished_at.as_deref().unwrap_or("")),
            ]
        })
        .collect();
    let headers = [
        "Run",
        "Status",
        "Pipeline",
        "Group",
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
    Ok(Html(page(&session, "/ui/runs", "Runs", &body)))
}
