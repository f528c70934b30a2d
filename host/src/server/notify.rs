//! Notifications: `[notifications]` in the daemon's config (the hosts a group's webhooks may
//! point at, retries, timeout), the check of a subscription's URL, and the delivery loop that
//! POSTs due deliveries from the outbox, signed, and records each attempt.
//!
//! ```toml
//! [notifications]
//! hosts = ["127.0.0.1", "lims.lab.example"]   # none: no group can subscribe
//! retry-secs = 30        # the first retry's delay; each next one doubles (capped at 6 h)
//! max-attempts = 8       # then the delivery has failed for good
//! timeout-secs = 10      # per attempt: connect, send, answer
//! ca-file = "/etc/petri/lab-ca.pem"   # optional: also trust this CA for https
//! ```
//!
//! `https://` URLs are checked against the system's trusted roots (read once
//! at start, as OpenSSL finds them: `SSL_CERT_FILE`, `SSL_CERT_DIR`, the
//! distribution's bundle) plus the certificates of `ca-file` (a lab's
//! internal CA); a receiver whose certificate chains to neither gets no
//! delivery, and the attempt records why. A tenant names the URL, so the
//! daemon POSTs only to `http://` or `https://` URLs whose host is listed, with no user info, and follows no redirect; the host is
//! checked again before every attempt, so removing it from the list stops
//! its pending deliveries (failed for good). A delivery carries
//! `X-Petri-Signature: sha256=<hex HMAC-SHA256 of the body>` under the
//! subscription's secret, `X-Petri-Delivery` (its id: the same on every
//! attempt, for the receiver to deduplicate) and `X-Petri-Event`. Delivery
//! is at least once: a daemon killed after the receiver answered and before
//! the answer was recorded sends that delivery again when its claim lapses.
//! See docs/server.md, "Notifications".

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::http::Uri;
use serde::Deserialize;
use tokio::task::JoinSet;
use ureq::tls::{Certificate, RootCerts, TlsConfig, TlsProvider};

use super::app::AppState;
use super::metrics;
use super::now;
use super::signature::{SIGNATURE_HEADER, sign};
use crate::store::notifications::{Attempted, Due, Next, Notifications};
use crate::store::state::StateError;

/// The header carrying a delivery's id.
pub const DELIVERY_HEADER: &str = "x-petri-delivery";
/// The header carrying a delivery's event (`completed`, `failed`, `attention`).
pub const EVENT_HEADER: &str = "x-petri-event";

/// How often the outbox is read for due deliveries.
const POLL: Duration = Duration::from_millis(500);
/// The most deliveries one daemon attempts at once.
const BATCH: i64 = 16;
/// The longest wait between two attempts.
const MAX_DELAY_SECS: u64 = 6 * 3600;
/// The longest URL a subscription may have.
const MAX_URL: usize = 2048;

/// `[notifications]`, as configured.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct NotifyConfig {
    /// The hosts (names or IP addresses, as written in a URL) notifications
    /// may be sent to.
    pub hosts: Vec<String>,
    /// Seconds before the first retry; each next one waits twice as long.
    pub retry_secs: u64,
    /// Attempts before a delivery has failed for good.
    pub max_attempts: u32,
    /// Seconds one attempt may take.
    pub timeout_secs: u64,
    /// PEM certificates trusted for `https://` besides the system's roots.
    pub ca_file: Option<PathBuf>,
}

impl Default for NotifyConfig {
    fn default() -> NotifyConfig {
        NotifyConfig {
            hosts: Vec::new(),
            retry_secs: 30,
            max_attempts: 8,
            timeout_secs: 10,
            ca_file: None,
        }
    }
}

impl NotifyConfig {
    /// Checks the values a file may have set wrong.
    pub fn check(&self) -> Result<(), String> {
        if self.retry_secs == 0 {
            return Err("notifications.retry-secs must be at least 1".into());
        }
        if self.max_attempts == 0 {
            return Err("notifications.max-attempts must be at least 1".into());
        }
        if self.timeout_secs == 0 {
            return Err("notifications.timeout-secs must be at least 1".into());
        }
        Ok(())
    }

    /// Why the daemon will not POST to `url`, if it will not: neither
    /// `http://` nor `https://`, user info, or a host not in `hosts`.
    pub fn refuse(&self, url: &str) -> Option<String> {
        if url.len() > MAX_URL {
            return Some(format!("longer than {MAX_URL} characters"));
        }
        let uri: Uri = match url.parse() {
            Ok(uri) => uri,
            Err(e) => return Some(format!("not a URL: {e}")),
        };
        if !matches!(uri.scheme_str(), Some("http" | "https")) {
            return Some("must be an http:// or https:// URL".into());
        }
        let Some(authority) = uri.authority() else {
            return Some("has no host".into());
        };
        if authority.as_str().contains('@') {
            return Some("may not carry user info".into());
        }
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        if self.hosts.iter().any(|h| h.eq_ignore_ascii_case(host)) {
            return None;
        }
        Some(format!(
            "host `{host}` is not in the daemon's [notifications] hosts (an operator adds it)"
        ))
    }

    /// How long a claim on a delivery lasts: past the attempt's timeout.
    fn lease_ms(&self) -> i64 {
        i64::try_from((2 * self.timeout_secs + 5) * 1000).unwrap_or(i64::MAX)
    }

    /// When a delivery that failed its `attempts`-th attempt at `now_ms` is
    /// tried next, or none: it has failed for good.
    fn retry_at(&self, attempts: i64, now_ms: i64) -> Option<i64> {
        if attempts >= i64::from(self.max_attempts) {
            return None;
        }
        let doublings = u32::try_from(attempts.saturating_sub(1)).unwrap_or(u32::MAX);
        let delay = self
            .retry_secs
            .saturating_mul(2u64.saturating_pow(doublings))
            .min(MAX_DELAY_SECS);
        Some(now_ms.saturating_add(i64::try_from(delay * 1000).unwrap_or(i64::MAX)))
    }
}

/// The HTTP client deliveries are POSTed with: no redirects, the attempt's
/// timeout, and TLS trusting the system's roots plus `ca-file`.
#[derive(Clone)]
pub struct Sender {
    agent: ureq::Agent,
}

impl Sender {
    /// Reads the trusted roots; an unreadable `ca-file`, or one without a
    /// certificate, is an error naming it.
    pub fn new(config: &NotifyConfig) -> Result<Sender, String> {
        let mut roots = system_roots();
        if let Some(path) = &config.ca_file {
            roots.extend(ca_file(path)?);
        }
        let tls = TlsConfig::builder()
            .provider(TlsProvider::Rustls)
            .root_certs(RootCerts::from(roots))
            .build();
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(config.timeout_secs)))
            .max_redirects(0)
            .max_redirects_will_error(false)
            .tls_config(tls)
            .build()
            .into();
        Ok(Sender { agent })
    }
}

/// The system's trusted roots (none if it has none: then only `ca-file`'s
/// are trusted, and the daemon says so).
fn system_roots() -> Vec<Certificate<'static>> {
    let found = rustls_native_certs::load_native_certs();
    for e in &found.errors {
        eprintln!("petri serve: notifications: reading the system's TLS roots: {e}");
    }
    if found.certs.is_empty() {
        eprintln!("petri serve: notifications: no system TLS roots found");
    }
    found
        .certs
        .iter()
        .map(|c| Certificate::from_der(c.as_ref()).to_owned())
        .collect()
}

/// The certificates of a PEM file.
fn ca_file(path: &std::path::Path) -> Result<Vec<Certificate<'static>>, String> {
    let named = |why: String| format!("notifications.ca-file {}: {why}", path.display());
    let pem = std::fs::read(path).map_err(|e| named(e.to_string()))?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        if let ureq::tls::PemItem::Certificate(c) = item.map_err(|e| named(e.to_string()))? {
            certs.push(c);
        }
    }
    if certs.is_empty() {
        return Err(named("no PEM certificate in it".into()));
    }
    Ok(certs)
}

/// Delivers due notifications with `sender` until the daemon stops.
pub async fn run(app: Arc<AppState>, sender: Sender) {
    let outbox = app.store.state().notifications();
    loop {
        if let Err(e) = deliver_due(&app, &outbox, &sender).await {
            eprintln!("petri serve: notifications: {e}");
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = app.stopping.cancelled() => return,
        }
    }
}

/// Claims the due deliveries and attempts each, at once.
async fn deliver_due(
    app: &Arc<AppState>,
    outbox: &Notifications,
    sender: &Sender,
) -> Result<(), StateError> {
    let config = &app.config.notifications;
    let now_ms = app.store.state().now_ms().await?;
    let due = outbox
        .claim_due(&app.node, now_ms, now_ms + config.lease_ms(), BATCH)
        .await?;
    let mut attempts = JoinSet::new();
    for d in due {
        let (app, outbox, sender) = (app.clone(), outbox.clone(), sender.clone());
        attempts.spawn(async move { attempt(&app, &outbox, &sender, d).await });
    }
    while let Some(done) = attempts.join_next().await {
        if let Ok(Err(e)) = done {
            eprintln!("petri serve: notifications: {e}");
        }
    }
    Ok(())
}

/// One attempt at `due`, recorded.
async fn attempt(
    app: &AppState,
    outbox: &Notifications,
    sender: &Sender,
    due: Due,
) -> Result<(), StateError> {
    let config = &app.config.notifications;
    let refused = config.refuse(&due.url);
    let sent = match &refused {
        Some(why) => Err(format!("not sent: the URL {why}")),
        None => {
            let (due, agent) = (due.clone(), sender.agent.clone());
            tokio::task::spawn_blocking(move || post(&agent, &due))
                .await
                .unwrap_or_else(|e| Err(format!("the attempt stopped: {e}")))
        }
    };
    let attempts = due.attempts + 1;
    let now_ms = app.store.state().now_ms().await?;
    let attempted = match sent {
        Ok(status) if (200..300).contains(&status) => Attempted {
            status: Some(status),
            error: None,
            next: Next::Delivered,
        },
        answer => {
            let (status, error) = match answer {
                Ok(status) => (Some(status), None),
                Err(e) => (None, Some(e)),
            };
            let next = match config.retry_at(attempts, now_ms) {
                Some(at) if refused.is_none() => Next::RetryAt(at),
                _ => Next::GiveUp,
            };
            Attempted {
                status,
                error,
                next,
            }
        }
    };
    metrics::notification_delivery(match attempted.next {
        Next::Delivered => "delivered",
        Next::RetryAt(_) => "retried",
        Next::GiveUp => "failed",
    });
    outbox.record(&due, &attempted, &now()).await?;
    Ok(())
}

/// POSTs `due`'s payload, signed; the receiver's status, or why there was none.
fn post(agent: &ureq::Agent, due: &Due) -> Result<u16, String> {
    let body = due.payload.as_bytes();
    agent
        .post(&due.url)
        .header("content-type", "application/json")
        .header(SIGNATURE_HEADER, sign(due.secret.as_bytes(), body))
        .header(DELIVERY_HEADER, due.id.to_string())
        .header(EVENT_HEADER, due.event.as_str())
        .send(body)
        .map(|r| r.status().as_u16())
        .map_err(|e| match tls_error(&e) {
            Some(tls) => {
                format!("TLS: {tls} (trusted: the system's roots and [notifications] ca-file)")
            }
            None => e.to_string(),
        })
}

/// The TLS error behind `e`, if it is one (a handshake's comes wrapped in I/O).
fn tls_error(e: &ureq::Error) -> Option<&rustls::Error> {
    match e {
        ureq::Error::Rustls(tls) => Some(tls),
        ureq::Error::Io(io) => io.get_ref()?.downcast_ref(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> NotifyConfig {
        NotifyConfig {
            hosts: vec!["127.0.0.1".into(), "LIMS.lab.example".into(), "::1".into()],
            ..NotifyConfig::default()
        }
    }

    #[test]
    fn only_http_and_https_urls_to_listed_hosts_are_allowed() {
        let c = config();
        for ok in [
            "http://127.0.0.1:9000/hook",
            "http://lims.lab.example/petri?x=1",
            "http://[::1]:80/",
            "https://lims.lab.example/",
        ] {
            assert_eq!(c.refuse(ok), None, "{ok}");
        }
        for (bad, why) in [
            ("http://169.254.169.254/latest", "not in"),
            ("http://localhost/", "not in"),
            ("https://localhost/", "not in"),
            ("ftp://127.0.0.1/", "http://"),
            ("http://user@127.0.0.1/", "user info"),
            ("/relative", "http://"),
            ("http://lims.lab.example.evil.org/", "not in"),
        ] {
            let refused = c.refuse(bad).unwrap_or_default();
            assert!(refused.contains(why), "{bad}: {refused}");
        }
        assert!(
            NotifyConfig::default()
                .refuse("http://127.0.0.1/")
                .is_some()
        );
    }

    #[test]
    fn retries_back_off_exponentially_then_give_up() {
        let c = NotifyConfig {
            retry_secs: 2,
            max_attempts: 4,
            ..NotifyConfig::default()
        };
        assert_eq!(c.retry_at(1, 0), Some(2_000));
        assert_eq!(c.retry_at(2, 0), Some(4_000));
        assert_eq!(c.retry_at(3, 1), Some(8_001));
        assert_eq!(c.retry_at(4, 0), None);
        let capped = NotifyConfig {
            max_attempts: 100,
            ..c
        };
        assert_eq!(capped.retry_at(60, 0), Some(6 * 3600 * 1000));
        assert!(toml::from_str::<NotifyConfig>("hosts = []\nbogus = 1").is_err());
    }

    #[test]
    fn a_ca_file_that_is_missing_or_holds_no_certificate_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        for (path, why) in [
            (dir.path().join("missing.pem"), "No such file"),
            (empty, "no PEM certificate"),
        ] {
            let config = NotifyConfig {
                ca_file: Some(path.clone()),
                ..config()
            };
            let Err(e) = Sender::new(&config) else {
                panic!("{} accepted", path.display());
            };
            assert!(
                e.contains(&path.display().to_string()) && e.contains(why),
                "{e}"
            );
        }
    }
}
