//! `/ui/modules`: the modules the session may see (the API's list) and the registry — each
//! name's current version and digest and every registration of it, oldest first, with how it
//! became current (registered, promoted, rolled back) and a promotion's shadow results.

use std::fmt::Write;
use std::sync::Arc;

use axum::extract::State;
use axum::response::Html;

use super::layout::{bytes, escape, page, table};
use super::session::{Session, UiError};
use crate::pipeline::ShadowReport;
use crate::server::app::AppState;
use crate::server::error::ApiError;
use crate::server::routes::modules::list_modules;
use crate::store::digest::Digest;
use crate::store::registry::Registration;

fn mono(text: &str) -> String {
    format!("<span class=\"mono\">{}</span>", escape(text))
}

/// One registration: when, how, which version and digest; a promotion's
/// shadow results (read from its report blob).
fn registration(app: &AppState, r: &Registration) -> String {
    let forced = if r.forced { " (forced)" } else { "" };
    let mut line = format!(
        "{} <span class=\"kind\">{}</span> {} → {}{forced}",
        escape(&r.added_at),
        escape(r.kind.as_str()),
        escape(&r.version),
        mono(&format!("sha256:{}", r.sha256))
    );
    if let Some(report) = r.report {
        line.push_str(&shadow(app, &report));
    }
    line
}

/// A shadow report in one line: how many executions were identical, of how many compared.
fn shadow(app: &AppState, report: &Digest) -> String {
    let read = app
        .petri
        .blobs()
        .read(report)
        .ok()
        .and_then(|b| serde_json::from_slice::<ShadowReport>(&b).ok());
    let Some(read) = read else {
        return format!(
            " <span class=\"note\">shadow report {} not readable</span>",
            mono(&format!("sha256:{report}"))
        );
    };
    let same = read.executions.iter().filter(|e| e.identical).count();
    let (class, verdict) = if read.identical {
        ("succeeded", "identical")
    } else {
        ("failed", "differs")
    };
    format!(
        " — shadow: <span class=\"st {class}\" data-shadow=\"{verdict}\">{verdict}</span> \
         {same} of {} execution(s) identical, report {}",
        read.executions.len(),
        mono(&format!("sha256:{report}"))
    )
}

/// The modules page.
pub async fn modules(
    State(app): State<Arc<AppState>>,
    session: Session,
) -> Result<Html<String>, UiError> {
    let registry = app
        .registry()
        .list_with_history()
        .await
        .map_err(ApiError::from)?;
    let mut names = Vec::new();
    for m in &registry {
        let mut history = String::new();
        for r in &m.history {
            let _ = write!(history, "<div>{}</div>", registration(&app, r));
        }
        names.push(vec![
            escape(&m.entry.name),
            escape(&m.entry.version),
            mono(&format!("sha256:{}", m.entry.sha256)),
            history,
        ]);
    }
    let uploaded = list_modules(State(app.clone()), session.caller.clone()).await?;
    let rows: Vec<Vec<String>> = uploaded
        .0
        .iter()
        .map(|m| {
            vec![
                escape(&m.name),
                escape(&m.version),
                bytes(m.size),
                escape(&m.uploaded_at),
                mono(&m.reference),
            ]
        })
        .collect();
    let none = if rows.is_empty() {
        "<p class=\"note\">None uploaded through the API (<code>POST /v1/modules</code>); names registered with <code>petri plugin add</code> are above.</p>"
    } else {
        ""
    };
    let body = format!(
        "<h2>Registered names</h2><p class=\"note\">What <code>module = \"NAME\"</code> resolves to now, and every registration of the name: registered, promoted (with its shadow runs' verdict) or rolled back.</p>{}\
         <h2>Uploaded modules</h2>{none}{}",
        table(
            "registry",
            &["Name", "Version", "Digest", "History"],
            &names
        ),
        table(
            "uploaded",
            &["Name", "Version", "Size", "Uploaded", "Reference"],
            &rows
        )
    );
    Ok(Html(page(&session, "/ui/modules", "Modules", &body)))
}
