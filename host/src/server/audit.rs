//! The audit log: an append-only, hash-chained record of every state-changing call — who (token
//! name, id and group), what (route and target), when, and why (`X-Petri-Reason`).
//!
//! Entry `n` stores `prev_hash` (entry `n-1`'s hash; 64 zeros for the first)
//! and `hash = SHA-256(prev_hash || canonical entry)`, the canonical entry
//! being the JSON of its fields in a fixed order. Editing an entry breaks its
//! hash; removing one breaks the next entry's link; [`verify`] finds the first
//! break. Every successful (2xx) POST, PUT, PATCH or DELETE under a route is
//! recorded by [`record`], a layer, so a new route cannot forget to be.
//! Removing the newest entries leaves a valid shorter chain: the head of
//! every append also goes to an anchor file outside the database (`anchor`),
//! which `petri audit verify` checks.

use std::sync::{Arc, Mutex};

use axum::extract::{FromRequestParts, MatchedPath, RawPathParams, Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use super::app::AppState;
use super::auth::Caller;
use super::error::ApiError;
use crate::store::daemon::ServerStore;
use crate::store::digest::Digest;
use crate::store::state::StateError;

/// The request header that carries why a change is made (optional).
pub const REASON_HEADER: &str = "x-petri-reason";

/// The longest reason kept (characters).
const MAX_REASON: usize = 1000;

/// The `prev_hash` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What an entry says, before it is chained.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewAuditEntry {
    /// Who: `token NAME (ID)`, or `cli:USER` for a local command.
    pub actor: String,
    /// The actor's research group (`-` for a local command).
    pub group: String,
    /// What: the route (`POST /v1/runs/{id}/cancel`) or command.
    pub action: String,
    /// The run, module, blob, instrument or token acted on.
    pub target: String,
    /// Why, when given.
    pub reason: String,
    /// The outcome (`HTTP 201`, …).
    pub detail: String,
}

/// One stored entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct AuditEntry {
    pub seq: i64,
    /// RFC 3339.
    pub at: String,
    pub actor: String,
    pub group: String,
    pub action: String,
    pub target: String,
    pub reason: String,
    pub detail: String,
    pub prev_hash: String,
    pub hash: String,
}

/// The hashed part of an entry, in its fixed field order.
#[derive(Serialize)]
struct Canonical<'a> {
    seq: i64,
    at: &'a str,
    actor: &'a str,
    group: &'a str,
    action: &'a str,
    target: &'a str,
    reason: &'a str,
    detail: &'a str,
}

/// `SHA-256(prev_hash || canonical entry)`, hex.
fn entry_hash(prev_hash: &str, seq: i64, at: &str, e: &NewAuditEntry) -> String {
    let canonical = Canonical {
        seq,
        at,
        actor: &e.actor,
        group: &e.group,
        action: &e.action,
        target: &e.target,
        reason: &e.reason,
        detail: &e.detail,
    };
    // Serialising strings and an integer cannot fail.
    let json = serde_json::to_vec(&canonical).unwrap_or_default();
    let mut bytes = prev_hash.as_bytes().to_vec();
    bytes.extend_from_slice(&json);
    Digest::of(&bytes).to_hex()
}

type EntryTuple = (
    i64,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
);

fn entry(t: EntryTuple) -> AuditEntry {
    AuditEntry {
        seq: t.0,
        at: t.1,
        actor: t.2,
        group: t.3,
        action: t.4,
        target: t.5,
        reason: t.6,
        detail: t.7,
        prev_hash: t.8,
        hash: t.9,
    }
}

/// Appends an entry, chained to the newest one, in one write transaction
/// holding the log's lock: the write lock on SQLite, a table lock on
/// PostgreSQL (where daemons sharing the database would otherwise read the
/// same head and collide on its successor). Appenders go one at a time;
/// readers are not blocked.
pub async fn append(store: &ServerStore, e: &NewAuditEntry) -> Result<AuditEntry, StateError> {
    let db = store.state().db();
    let mut tx = db.begin_exclusive("api_audit").await?;
    let last: Option<(i64, String)> =
        sqlx::query_as("SELECT seq, hash FROM api_audit ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&mut *tx)
            .await?;
    let (seq, prev_hash) = last.map_or((1, GENESIS.to_owned()), |(s, h)| (s + 1, h));
    let at = super::now();
    let hash = entry_hash(&prev_hash, seq, &at, e);
    sqlx::query(
        "INSERT INTO api_audit (seq, at, actor, grp, action, target, reason, detail, prev_hash, hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(seq)
    .bind(&at)
    .bind(&e.actor)
    .bind(&e.group)
    .bind(&e.action)
    .bind(&e.target)
    .bind(&e.reason)
    .bind(&e.detail)
    .bind(&prev_hash)
    .bind(&hash)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(AuditEntry {
        seq,
        at,
        actor: e.actor.clone(),
        group: e.group.clone(),
        action: e.action.clone(),
        target: e.target.clone(),
        reason: e.reason.clone(),
        detail: e.detail.clone(),
        prev_hash,
        hash,
    })
}

/// Up to `limit` entries after `after` (a seq), oldest first.
pub async fn list(
    store: &ServerStore,
    after: i64,
    limit: i64,
) -> Result<Vec<AuditEntry>, StateError> {
    let rows: Vec<EntryTuple> = sqlx::query_as(
        "SELECT seq, at, actor, grp, action, target, reason, detail, prev_hash, hash
         FROM api_audit WHERE seq > $1 ORDER BY seq LIMIT $2",
    )
    .bind(after)
    .bind(limit)
    .fetch_all(store.state().pool())
    .await?;
    Ok(rows.into_iter().map(entry).collect())
}

/// What walking the chain found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every entry links to the one before and matches its hash.
    Intact { entries: u64, head: String },
    /// The first entry that does not: `seq`, and what is wrong.
    Broken { seq: i64, problem: String },
}

/// Checks one entry against the one before it (`prev`: its seq and hash).
fn check(prev: (i64, &str), e: &AuditEntry) -> Result<(), Verdict> {
    let broken = |seq, problem: String| Err(Verdict::Broken { seq, problem });
    if e.seq != prev.0 + 1 {
        return broken(
            prev.0 + 1,
            format!(
                "entry {} is missing (removed): the log goes from {} to {}",
                prev.0 + 1,
                prev.0,
                e.seq
            ),
        );
    }
    if e.prev_hash != prev.1 {
        return broken(
            e.seq,
            format!(
                "entry {}'s prev_hash does not match entry {}'s hash: an entry was removed or rewritten",
                e.seq, prev.0
            ),
        );
    }
    let new = NewAuditEntry {
        actor: e.actor.clone(),
        group: e.group.clone(),
        action: e.action.clone(),
        target: e.target.clone(),
        reason: e.reason.clone(),
        detail: e.detail.clone(),
    };
    if entry_hash(&e.prev_hash, e.seq, &e.at, &new) != e.hash {
        return broken(
            e.seq,
            format!(
                "entry {} was edited: its contents do not match its hash",
                e.seq
            ),
        );
    }
    Ok(())
}

/// Walks the whole chain, oldest first, stopping at the first break.
pub async fn verify(store: &ServerStore) -> Result<Verdict, StateError> {
    let mut prev = (0, GENESIS.to_owned());
    let mut entries = 0;
    loop {
        let page = list(store, prev.0, 1000).await?;
        if page.is_empty() {
            return Ok(Verdict::Intact {
                entries,
                head: prev.1,
            });
        }
        for e in page {
            if let Err(verdict) = check((prev.0, &prev.1), &e) {
                return Ok(verdict);
            }
            entries += 1;
            prev = (e.seq, e.hash);
        }
    }
}

/// Where the [`Caller`] extractor leaves who called, for [`record`].
#[derive(Debug, Clone, Default)]
pub struct CallerSlot(Arc<Mutex<Option<Caller>>>);

impl CallerSlot {
    pub fn fill(&self, caller: &Caller) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(caller.clone());
    }

    fn take(&self) -> Option<Caller> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

/// What a handler created (a blob's or module's digest), for [`record`]:
/// put in the response's extensions.
#[derive(Debug, Clone)]
pub struct AuditTarget(pub String);

fn changes_state(method: &Method) -> bool {
    [Method::POST, Method::PUT, Method::PATCH, Method::DELETE].contains(method)
}

/// The request's `X-Petri-Reason`, trimmed and capped.
fn reason(req: &Request) -> String {
    req.headers()
        .get(REASON_HEADER)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_owned())
        .map(|r| r.chars().take(MAX_REASON).collect())
        .unwrap_or_default()
}

/// The target: what the handler named, else the new resource's `Location`
/// (a submitted run), else the route's path parameters.
fn target(response: &Response, params: &[String]) -> String {
    if let Some(AuditTarget(t)) = response.extensions().get::<AuditTarget>() {
        return t.clone();
    }
    if let Some(location) = response
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
    {
        return location.rsplit('/').next().unwrap_or_default().to_owned();
    }
    params.join("/")
}

/// The layer recording every successful state-changing call. An entry that
/// cannot be written turns the answer into a 500 (the change is not
/// silently unaudited).
pub async fn record(State(app): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    if !changes_state(req.method()) {
        return next.run(req).await;
    }
    let (mut parts, body) = req.into_parts();
    let route = parts
        .extensions
        .get::<MatchedPath>()
        .map_or_else(|| parts.uri.path().to_owned(), |m| m.as_str().to_owned());
    let action = format!("{} {route}", parts.method);
    let params: Vec<String> = RawPathParams::from_request_parts(&mut parts, &app)
        .await
        .map(|p| p.iter().map(|(_, v)| v.to_owned()).collect())
        .unwrap_or_default();
    let slot = CallerSlot::default();
    parts.extensions.insert(slot.clone());
    let req = Request::from_parts(parts, body);
    let why = reason(&req);
    let response = next.run(req).await;
    if !response.status().is_success() {
        return response;
    }
    let caller = slot.take();
    let e = NewAuditEntry {
        actor: caller.as_ref().map_or_else(
            || "anonymous".to_owned(),
            |c| format!("token {} ({})", c.name, c.token_id),
        ),
        group: caller.map_or_else(|| "-".to_owned(), |c| c.group),
        action,
        target: target(&response, &params),
        reason: why,
        detail: format!("HTTP {}", response.status().as_u16()),
    };
    match append(&app.store, &e).await {
        Ok(entry) => {
            let anchor = app.config.audit_anchor();
            if let Err(err) = super::anchor::note(&anchor, &entry) {
                eprintln!(
                    "petri serve: anchoring audit entry {} in {}: {err}",
                    entry.seq,
                    anchor.display()
                );
            }
            response
        }
        Err(err) => ApiError::internal(format!(
            "the change was made but could not be written to the audit log: {err}"
        ))
        .into_response(),
    }
}
