//! `/ui/modules`: the modules the session may see (the API's list) and the registry — each
//! name's current version and digest and every registration of it, oldest first.

use std::fmt::Write;
use std::sync::Arc;

use axum::extract::State;
use axum::response::Html;

use super::layout::{bytes, escape, page, table};
use super::session::{Session, UiError};
use crate::server::app::AppState;
use crate::server::error::ApiError;
use crate::server::routes::modules::list_modules;

fn mono(text: &str) -> String {
    format!("<span class=\"mono\">{}</span>", escape(text))
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
            let forced = if r.forced { " (forced)" } else { "" };
            let _ = write!(
                history,
                "<div>{} {} → {}{forced}</div>",
                escape(&r.added_at),
                escape(&r.version),
                mono(&format!("sha256:{}", r.sha256))
            );
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
        "<h2>Registered names</h2><p class=\"note\">What <code>module = \"NAME\"</code> resolves to now, and every registration of the name.</p>{}\
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
