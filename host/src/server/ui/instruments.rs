//! `/ui/instruments`: every instrument's state, capacity, stages on it now and maintenance
//! calendar; admins change the state and add maintenance windows through the API's own code.

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::Arc;

use axum::extract::State;
use axum::response::Html;
use serde::Deserialize;

use super::layout::{csrf_field, escape, page, table};
use super::session::{Session, UiError};
use crate::pipeline::StageStatus;
use crate::server::app::AppState;
use crate::server::error::ApiError;
use crate::server::extract::{Form, Path};
use crate::server::routes::instruments::{
    InstrumentView, MaintenanceRequest, StateName, add_window, change_state,
};
use crate::server::views::{RunStatus, StageView};
use crate::store::daemon::RunFilter;

/// Stages running now on each instrument, across every running run (counts only).
async fn in_use(app: &AppState) -> Result<HashMap<String, u32>, ApiError> {
    let filter = RunFilter {
        group: None,
        status: Some(RunStatus::Running),
        pipeline: None,
        before: None,
        after: None,
        limit: 1000,
    };
    let mut busy = HashMap::new();
    for run in app.store.runs(&filter).await? {
        for detail in app.store.stages(&run.id).await? {
            let Ok(s) = serde_json::from_str::<StageView>(&detail) else {
                continue;
            };
            if let (StageStatus::Running, Some(i)) = (s.status, s.instrument) {
                *busy.entry(i).or_insert(0) += 1;
            }
        }
    }
    Ok(busy)
}

fn admin_forms(session: &Session, name: &str) -> String {
    let name = escape(name);
    let csrf = csrf_field(session);
    let states: String = ["up", "down", "draining"]
        .iter()
        .map(|s| format!("<option>{s}</option>"))
        .collect();
    format!(
        "<form method=\"post\" action=\"/ui/instruments/{name}/state\" data-form=\"state\">{csrf}\
         <select name=\"state\">{states}</select><button>Set state</button></form>\
         <form method=\"post\" action=\"/ui/instruments/{name}/maintenance\" data-form=\"maintenance\">{csrf}\
         <input name=\"start\" placeholder=\"start (RFC 3339)\" size=\"20\">\
         <input name=\"end\" placeholder=\"end (RFC 3339)\" size=\"20\">\
         <input name=\"note\" placeholder=\"note\" size=\"12\"><button>Add maintenance</button></form>"
    )
}

fn calendar(i: &InstrumentView) -> String {
    let mut out = String::new();
    for w in &i.maintenance {
        let _ = write!(out, "<div>{} – {}", escape(&w.start), escape(&w.end));
        if let Some(every) = &w.every {
            let _ = write!(out, ", every {}", escape(every));
        }
        if let Some(until) = &w.until {
            let _ = write!(out, " until {}", escape(until));
        }
        if !w.note.is_empty() {
            let _ = write!(out, " ({})", escape(&w.note));
        }
        out.push_str("</div>");
    }
    if out.is_empty() {
        out.push_str("<span class=\"note\">none</span>");
    }
    out
}

async fn render(app: &AppState, session: &Session, notice: &str) -> Result<Html<String>, UiError> {
    let all = app.store.instruments().await.map_err(ApiError::from)?;
    let busy = in_use(app).await?;
    let rows: Vec<Vec<String>> = all
        .iter()
        .map(InstrumentView::from)
        .map(|i| {
            let used = busy.get(&i.name).copied().unwrap_or(0);
            let percent = f64::from(used) / f64::from(i.capacity.max(1)) * 100.0;
            let mut row = vec![
                escape(&i.name),
                escape(&i.class),
                format!(
                    "<span class=\"st {}\" data-key=\"state-{}\">{}</span>",
                    escape(&i.state),
                    escape(&i.name),
                    escape(&i.state)
                ),
                i.capacity.to_string(),
                format!("{used} of {} ({percent:.0}%)", i.capacity),
                calendar(&i),
            ];
            if session.caller.admin {
                row.push(admin_forms(session, &i.name));
            }
            row
        })
        .collect();
    let mut headers = vec![
        "Instrument",
        "Class",
        "State",
        "Capacity",
        "In use now",
        "Maintenance",
    ];
    if session.caller.admin {
        headers.push("Change (admins)");
    }
    let notice = if notice.is_empty() {
        String::new()
    } else {
        format!(
            "<p id=\"notice\" class=\"st COMPLETED\">{}</p>",
            escape(notice)
        )
    };
    let empty = if rows.is_empty() {
        "<p class=\"note\">No instruments: the daemon runs every stage on its worker slots (configure them with <code>--instruments</code>).</p>"
    } else {
        ""
    };
    let body = format!("{notice}{empty}{}", table("instruments", &headers, &rows));
    Ok(Html(page(session, "/ui/instruments", "Instruments", &body)))
}

/// The instruments page.
pub async fn instruments(
    State(app): State<Arc<AppState>>,
    session: Session,
) -> Result<Html<String>, UiError> {
    render(&app, &session, "").await
}

/// The state form.
#[derive(Debug, Deserialize)]
pub struct StateForm {
    #[serde(default)]
    csrf: String,
    state: StateName,
}

/// `POST /ui/instruments/{name}/state` (admins).
pub async fn set_state(
    State(app): State<Arc<AppState>>,
    session: Session,
    Path(name): Path<String>,
    Form(form): Form<StateForm>,
) -> Result<Html<String>, UiError> {
    session.check_csrf(&form.csrf)?;
    let i = change_state(&app, &session.caller, &name, form.state).await?;
    render(&app, &session, &format!("{} is now {}", i.name, i.state)).await
}

/// The maintenance form.
#[derive(Debug, Deserialize)]
pub struct MaintenanceForm {
    #[serde(default)]
    csrf: String,
    start: String,
    end: String,
    #[serde(default)]
    note: String,
}

/// `POST /ui/instruments/{name}/maintenance` (admins).
pub async fn add_maintenance(
    State(app): State<Arc<AppState>>,
    session: Session,
    Path(name): Path<String>,
    Form(form): Form<MaintenanceForm>,
) -> Result<Html<String>, UiError> {
    session.check_csrf(&form.csrf)?;
    let request = MaintenanceRequest {
        start: form.start,
        end: form.end,
        note: form.note,
    };
    let i = add_window(&app, &session.caller, &name, request).await?;
    render(&app, &session, &format!("maintenance added to {}", i.name)).await
}
