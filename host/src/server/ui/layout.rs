//! The dashboard's page frame (navigation, style, sign-out form) and small HTML pieces; every
//! piece of text goes through the report's [`escape`].

use std::fmt::Write;

use axum::http::StatusCode;

use super::session::Session;
pub use crate::pipeline::{escape, html_table as table};

const STYLE: &str = "body{font-family:sans-serif;margin:0;color:#222}\
header{background:#24425f;color:#fff;padding:.5em 1.5em;display:flex;gap:1.5em;align-items:center}\
header a{color:#fff;text-decoration:none}header a.on{text-decoration:underline}\
header .who{margin-left:auto;font-size:.85em}header form{display:inline}\
main{padding:1em 1.5em;max-width:1400px}h1{font-size:1.4em}h2{font-size:1.1em;border-bottom:1px solid #ccc}\
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}\
th,td{border:1px solid #ccc;padding:.2em .5em;text-align:left;vertical-align:top}th{background:#f0f0f0}\
.mono{font-family:monospace;word-break:break-all}.note{color:#555;font-size:.9em}\
.st{padding:.1em .4em;border-radius:3px;font-size:.85em;font-weight:bold}\
.PENDING,.pending,.VALIDATING{background:#eee;color:#555}.RUNNING,.running{background:#cfe3ff;color:#124}\
.COMPLETED,.succeeded{background:#cdeccd;color:#143}.FAILED,.failed{background:#f6cccc;color:#611}\
.CANCELLED,.skipped,.salvaged{background:#f3e6c4;color:#542}\
.up{background:#cdeccd;color:#143}.down{background:#f6cccc;color:#611}.draining{background:#f3e6c4;color:#542}\
.dag{display:flex;gap:1.5em;align-items:flex-start;overflow-x:auto}.col{display:flex;flex-direction:column;gap:.6em}\
.node{border:2px solid #999;border-radius:6px;padding:.4em .6em;min-width:9em;font-size:.85em}\
.node.running{border-color:#3a78d0}.node.succeeded{border-color:#3a9a3a}.node.failed{border-color:#c33}\
form.inline{display:inline}label{margin-right:.5em}input,select,button{font-size:.9em}\
.err{color:#a00}dl{display:grid;grid-template-columns:max-content auto;gap:.2em 1em}dt{font-weight:bold}dd{margin:0}";

/// The navigation entries: (path, label).
const NAV: [(&str, &str); 4] = [
    ("/ui/runs", "Runs"),
    ("/ui/instruments", "Instruments"),
    ("/ui/modules", "Modules"),
    ("/ui/usage", "Usage"),
];

fn document(title: &str, header: &str, body: &str, script: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>{} · petri</title><style>{STYLE}</style></head><body>{header}<main>{body}</main>{script}</body></html>\n",
        escape(title)
    )
}

/// A signed-in page: navigation (`active` marked), who is signed in, a
/// sign-out form, then `body` (HTML already escaped).
pub fn page(session: &Session, active: &str, title: &str, body: &str) -> String {
    framed(session, active, title, body, "")
}

/// [`page`] with a script (`/ui/static/…`) at the end of the body.
pub fn framed(session: &Session, active: &str, title: &str, body: &str, script: &str) -> String {
    let mut header = String::from("<header><strong>petri</strong>");
    for (href, label) in NAV {
        let on = if href == active { " class=\"on\"" } else { "" };
        let _ = write!(header, "<a href=\"{href}\"{on}>{label}</a>");
    }
    let who = &session.caller;
    let role = if who.admin { "admin" } else { "group" };
    let _ = write!(
        header,
        "<span class=\"who\" id=\"who\">{} ({role} {})</span>\
         <form method=\"post\" action=\"/ui/logout\">{}<button>Sign out</button></form></header>",
        escape(if who.name.is_empty() {
            &who.token_id
        } else {
            &who.name
        }),
        escape(&who.group),
        csrf_field(session)
    );
    let body = format!("<h1>{}</h1>{body}", escape(title));
    document(title, &header, &body, script)
}

/// The page of a failed request (its status and message).
pub fn error_page(status: StatusCode, message: &str) -> String {
    let header = "<header><strong>petri</strong><a href=\"/ui/runs\">Runs</a></header>";
    let body = format!(
        "<h1>{}</h1><p class=\"err\" id=\"error\">{}</p>",
        status.as_u16(),
        escape(message)
    );
    document(&status.to_string(), header, &body, "")
}

/// The sign-in page, with an error when the last attempt failed.
pub fn login_page(error: Option<&str>) -> String {
    let error = error.map_or_else(String::new, |e| {
        format!("<p class=\"err\" id=\"error\">{}</p>", escape(e))
    });
    let body = format!(
        "<h1>Sign in</h1>{error}<form method=\"post\" action=\"/ui/login\">\
         <label for=\"token\">API token</label><input type=\"password\" id=\"token\" name=\"token\" size=\"60\" autocomplete=\"off\">\
         <button>Sign in</button></form>\
         <p class=\"note\">The token an admin made with <code>petri token create</code>; it is kept in a cookie only this dashboard receives.</p>"
    );
    document(
        "Sign in",
        "<header><strong>petri</strong></header>",
        &body,
        "",
    )
}

/// The hidden CSRF field every state-changing form carries.
pub fn csrf_field(session: &Session) -> String {
    format!(
        "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        escape(&session.csrf)
    )
}

/// A status badge: its class is the status itself (a fixed word); `key`
/// names it for the page's script (`sample/stage`, or `run`).
pub fn badge(status: &str, key: &str) -> String {
    let status = escape(status);
    format!(
        "<span class=\"st {status}\" data-key=\"{}\">{status}</span>",
        escape(key)
    )
}

/// A link; `href` and `text` are escaped.
pub fn link(href: &str, text: &str) -> String {
    format!("<a href=\"{}\">{}</a>", escape(href), escape(text))
}

/// A byte count as people read it.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}
