//! `/ui/runs/{id}`: one run — summary, the DAG with live stage states, a timeline per
//! instrument, attempts and recovery decisions, outputs, logs and events — and the run's
//! report, provenance, downloads and verification through the API's own handlers. Another
//! group's run is the same 404 as a missing one.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;

use super::dag;
use super::layout::{badge, bytes, csrf_field, escape, framed, link, page, table};
use super::session::{CsrfForm, Session, UiError};
use crate::server::app::AppState;
use crate::server::error::ApiError;
use crate::server::extract::{Form, Path, Query};
use crate::server::routes::runs::{provenance as api_provenance, run_logs, run_view, visible_run};
use crate::server::routes::{artifacts, events, report as api_report, verify as api_verify};
use crate::server::views::{ProvQuery, RunView, StageView, SubmitRun};
use crate::store::daemon::RunRow;
use crate::store::digest::Digest;

/// The pipeline file the run was submitted with (text, or the uploaded blob).
fn pipeline_text(app: &AppState, row: &RunRow) -> String {
    let Ok(request) = serde_json::from_str::<SubmitRun>(&row.request) else {
        return String::new();
    };
    if let Some(text) = request.pipeline {
        return text;
    }
    request
        .pipeline_sha256
        .and_then(|sha| sha.trim_start_matches("sha256:").parse::<Digest>().ok())
        .and_then(|d| app.petri.blobs().read(&d).ok())
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// The run summary; `trigger`: the delivery that started it (trigger, received at).
fn summary(run: &RunView, trigger: Option<&(String, String)>) -> String {
    let s = &run.summary;
    let mut dl = String::from("<dl id=\"summary\">");
    let _ = write!(
        dl,
        "<dt>Status</dt><dd>{}</dd>",
        badge(s.status.as_str(), "run")
    );
    let fields = [
        ("Pipeline", s.pipeline.as_str()),
        ("Group", &s.group),
        ("Description", &s.description),
        ("Priority", &s.priority),
        ("Submitted", &s.submitted_at),
        ("Started", s.started_at.as_deref().unwrap_or("")),
        ("Finished", s.finished_at.as_deref().unwrap_or("")),
    ];
    for (k, v) in fields {
        let _ = write!(dl, "<dt>{k}</dt><dd>{}</dd>", escape(v));
    }
    if let Some((name, received_at)) = trigger {
        let _ = write!(
            dl,
            "<dt>Trigger</dt><dd id=\"trigger\"><span class=\"mono\">{}</span>, delivered {}</dd>",
            escape(name),
            escape(received_at)
        );
    }
    let _ = write!(dl, "<dt>Recoveries</dt><dd>{}</dd></dl>", run.recoveries);
    if let Some(e) = &run.error {
        let _ = write!(
            dl,
            "<p class=\"err\" id=\"run-error\">{}</p>",
            escape(&e.message)
        );
        for p in &e.problems {
            let _ = write!(
                dl,
                "<p class=\"err\">{}:{}: {}</p>",
                escape(&p.file),
                p.line,
                escape(&p.message)
            );
        }
    }
    dl
}

/// Record, root, the modules by digest, the report and provenance links, and the verify form.
fn provenance(session: &Session, run: &RunView) -> String {
    let id = &run.summary.id;
    let Some(record) = &run.record_id else {
        return "<p class=\"note\" id=\"provenance\">The run has no record yet: provenance, the report and verification come when it ends.</p>".into();
    };
    let mut modules: BTreeMap<&str, String> = BTreeMap::new();
    for s in &run.stages {
        modules.insert(&s.module_sha256, format!("{}@{}", s.module, s.version));
    }
    let rows: Vec<Vec<String>> = modules
        .iter()
        .map(|(sha, name)| {
            vec![
                escape(name),
                format!("<span class=\"mono\">sha256:{}</span>", escape(sha)),
            ]
        })
        .collect();
    format!(
        "<dl id=\"provenance\"><dt>Run record</dt><dd class=\"mono\">{}</dd><dt>Merkle root</dt><dd class=\"mono\">{}</dd></dl>{}\
         <p>{} · {} · <form class=\"inline\" method=\"post\" action=\"/ui/runs/{}/verify\">{}<button id=\"verify\">Verify (re-execute)</button></form></p>",
        escape(record),
        escape(run.summary.root.as_deref().unwrap_or("")),
        table("modules", &["Module", "Digest"], &rows),
        link(&format!("/ui/runs/{id}/report"), "Report"),
        link(&format!("/ui/runs/{id}/provenance"), "Provenance (JSON)"),
        escape(id),
        csrf_field(session)
    )
}

/// Stages grouped by the instrument they ran on, as bars on one time axis.
fn timeline(stages: &[StageView]) -> String {
    let times: Vec<(f64, f64)> = stages
        .iter()
        .filter_map(|s| {
            let start = humantime::parse_rfc3339(s.started_at.as_deref()?).ok()?;
            let end = s
                .finished_at
                .as_deref()
                .and_then(|t| humantime::parse_rfc3339(t).ok())
                .unwrap_or_else(std::time::SystemTime::now);
            let secs = |t: std::time::SystemTime| {
                t.duration_since(std::time::UNIX_EPOCH)
                    .map_or(0.0, |d| d.as_secs_f64())
            };
            Some((secs(start), secs(end)))
        })
        .collect();
    let t0 = times.iter().map(|t| t.0).fold(f64::MAX, f64::min);
    let t1 = times.iter().map(|t| t.1).fold(f64::MIN, f64::max);
    let span = (t1 - t0).max(1e-3);
    let mut by_instrument: BTreeMap<&str, Vec<Vec<String>>> = BTreeMap::new();
    for s in stages {
        let bar = match (s.started_at.as_deref(), times.is_empty()) {
            (Some(start), false) => {
                let start = humantime::parse_rfc3339(start).map_or(t0, |t| {
                    t.duration_since(std::time::UNIX_EPOCH)
                        .map_or(t0, |d| d.as_secs_f64())
                });
                let end = s
                    .finished_at
                    .as_deref()
                    .and_then(|t| humantime::parse_rfc3339(t).ok())
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(t1, |d| d.as_secs_f64());
                let left = (start - t0) / span * 100.0;
                let width = ((end - start) / span * 100.0).max(0.5);
                format!(
                    "<div style=\"width:24em;background:#f4f4f4\"><div class=\"{}\" style=\"margin-left:{left:.1}%;width:{width:.1}%;height:.8em\"></div></div>",
                    s.status.as_str()
                )
            }
            _ => String::new(),
        };
        by_instrument
            .entry(s.instrument.as_deref().unwrap_or("(none yet)"))
            .or_default()
            .push(vec![
                escape(&s.sample),
                escape(&s.stage),
                badge(s.status.as_str(), &format!("{}/{}", s.sample, s.stage)),
                escape(s.started_at.as_deref().unwrap_or("")),
                escape(s.finished_at.as_deref().unwrap_or("")),
                bar,
            ]);
    }
    let headers = ["Sample", "Stage", "State", "Started", "Finished", "When"];
    let mut out = String::from("<div id=\"timeline\">");
    for (instrument, rows) in &by_instrument {
        let _ = write!(out, "<h3>{}</h3>", escape(instrument));
        out.push_str(&table(&format!("timeline-{instrument}"), &headers, rows));
    }
    out.push_str("</div>");
    out
}

fn attempts(stages: &[StageView]) -> String {
    let rows: Vec<Vec<String>> = stages
        .iter()
        .flat_map(|s| {
            s.attempts.iter().enumerate().map(move |(n, a)| {
                vec![
                    escape(&s.sample),
                    escape(&s.stage),
                    (n + 1).to_string(),
                    escape(&a.outcome),
                    escape(a.decision.as_deref().unwrap_or("")),
                    format!("<span class=\"mono\">{}</span>", escape(&a.record_id)),
                ]
            })
        })
        .collect();
    let headers = [
        "Sample",
        "Stage",
        "Attempt",
        "Outcome",
        "Recovery decision",
        "Record",
    ];
    table("attempts", &headers, &rows)
}

fn outputs(stages: &[StageView]) -> String {
    let rows: Vec<Vec<String>> = stages
        .iter()
        .flat_map(|s| {
            s.outputs.iter().map(move |o| {
                vec![
                    escape(&s.sample),
                    escape(&s.stage),
                    escape(&o.port),
                    bytes(o.size),
                    link(&format!("/ui/artifacts/{}", o.sha256), "download"),
                    format!("<span class=\"mono\">sha256:{}</span>", escape(&o.sha256)),
                ]
            })
        })
        .collect();
    let headers = ["Sample", "Stage", "Port", "Size", "", "Digest"];
    table("outputs", &headers, &rows)
}

/// The newest log lines shown.
const LOG_LINES: usize = 300;

async fn logs(app: &Arc<AppState>, session: &Session, id: &str) -> Result<String, UiError> {
    let page = run_logs(
        State(app.clone()),
        session.caller.clone(),
        Path(id.to_owned()),
    )
    .await?;
    let lines = &page.0.lines;
    let text = |v: &serde_json::Value, k: &str| match &v[k] {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    };
    let rows: Vec<Vec<String>> = lines
        .iter()
        .skip(lines.len().saturating_sub(LOG_LINES))
        .map(|l| {
            vec![
                escape(&l.sample),
                escape(&l.stage),
                escape(&text(&l.line, "level")),
                escape(&text(&l.line, "message")),
            ]
        })
        .collect();
    let events: Vec<Vec<String>> = page
        .0
        .events
        .iter()
        .map(|e| vec![escape(&e.at), escape(&e.kind), escape(&e.detail)])
        .collect();
    Ok(format!(
        "{}<h2>Events</h2>{}",
        table("logs", &["Sample", "Stage", "Level", "Message"], &rows),
        table("events", &["At", "Kind", "Detail"], &events)
    ))
}

/// The run page.
pub async fn run(
    State(app): State<Arc<AppState>>,
    session: Session,
    Path(id): Path<String>,
) -> Result<Html<String>, UiError> {
    let row = visible_run(&app, &session.caller, &id).await?;
    let pipeline = pipeline_text(&app, &row);
    let view = run_view(&app, row).await?;
    let trigger = app
        .store
        .state()
        .deliveries()
        .of_run(&id)
        .await
        .map_err(ApiError::from)?;
    let mut body = summary(&view, trigger.as_ref());
    body.push_str("<p class=\"note\" id=\"live-note\"></p>");
    let sections = [
        ("DAG", dag::render(&pipeline, &view.stages)),
        ("Timeline by instrument", timeline(&view.stages)),
        ("Attempts and recovery decisions", attempts(&view.stages)),
        ("Outputs", outputs(&view.stages)),
        ("Provenance", provenance(&session, &view)),
        ("Logs", logs(&app, &session, &id).await?),
    ];
    for (title, html) in sections {
        let _ = write!(body, "<h2>{title}</h2>{html}");
    }
    let script = format!(
        "<script src=\"/ui/static/live.js\" data-run=\"{}\"></script>",
        escape(&id)
    );
    let title = format!("Run {id}");
    Ok(Html(framed(&session, "/ui/runs", &title, &body, &script)))
}

/// `POST /ui/runs/{id}/verify`: re-executes the run and shows what was found.
pub async fn verify(
    State(app): State<Arc<AppState>>,
    session: Session,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Html<String>, UiError> {
    session.check_csrf(&form.csrf)?;
    let found = api_verify::verify(&app, &session.caller, &id).await?;
    let verdict = if found.verified {
        format!(
            "<p id=\"verdict\" class=\"st COMPLETED\">Verified: {} stage(s) reproduced byte for byte, same fuel.</p>",
            found.stages
        )
    } else {
        format!(
            "<p id=\"verdict\" class=\"st FAILED\">Did not verify: {} mismatch(es).</p>",
            found.mismatches.len()
        )
    };
    let rows: Vec<Vec<String>> = found
        .mismatches
        .iter()
        .map(|m| vec![escape(&m.to_string())])
        .collect();
    let body = format!(
        "{verdict}{}<p>{}</p>",
        table("mismatches", &["Mismatch"], &rows),
        link(&format!("/ui/runs/{id}"), "Back to the run")
    );
    Ok(Html(page(
        &session,
        "/ui/runs",
        &format!("Verify run {id}"),
        &body,
    )))
}

/// `/ui/runs/{id}/report`: the API's report page (with its query).
pub async fn report(
    State(app): State<Arc<AppState>>,
    session: Session,
    Path(id): Path<String>,
    query: Query<api_report::ReportQuery>,
) -> Result<Response, UiError> {
    Ok(api_report::run_report(State(app), session.caller, Path(id), query).await?)
}

/// `/ui/runs/{id}/provenance`: the API's run record (JSON).
pub async fn provenance_json(
    State(app): State<Arc<AppState>>,
    session: Session,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    let doc = api_provenance(
        State(app),
        session.caller,
        Path(id),
        Query(ProvQuery::default()),
    )
    .await?;
    Ok(doc.into_response())
}

/// `/ui/artifacts/{sha256}`: the API's download, for the session.
pub async fn artifact(
    State(app): State<Arc<AppState>>,
    session: Session,
    Path(sha256): Path<String>,
    headers: HeaderMap,
) -> Result<Response, UiError> {
    Ok(artifacts::get_artifact(State(app), session.caller, Path(sha256), headers).await?)
}

/// `/ui/events?run=ID` query.
#[derive(Debug, Deserialize)]
pub struct EventsQuery {
    run: Option<String>,
}

/// `/ui/events`: the API's event stream, for the session (its page's script).
pub async fn stream(
    State(app): State<Arc<AppState>>,
    session: Session,
    Query(q): Query<EventsQuery>,
) -> Result<Response, UiError> {
    let sse = events::stream(app, session.caller, session.digest, q.run).await?;
    Ok(sse.into_response())
}
