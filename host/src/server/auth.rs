//! Bearer tokens: creation (only the SHA-256 is stored), and the [`Caller`] every `/v1/` route
//! requires, bound to one research group (or admin), rate limited per token.

use std::sync::Arc;

use std::time::SystemTime;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use rand::TryRngCore;

use super::app::AppState;
use super::audit::CallerSlot;
use super::error::{ApiError, ServerError};
use super::views::{Priority, TokenState};
use crate::store::daemon::{ServerStore, TokenRow, TokenSpec, parse_priority};
use crate::store::digest::Digest;

/// Prefix of every token petri issues (easy to spot in a leaked secret scan).
pub const TOKEN_PREFIX: &str = "petri_";

/// The SHA-256 (hex) under which a token is stored.
pub fn token_digest(token: &str) -> String {
    Digest::of(token.as_bytes()).to_hex()
}

/// Creates a token for `group` and stores its digest; the token itself is
/// returned once and never stored.
pub async fn create_token(
    store: &ServerStore,
    name: &str,
    group: &str,
    admin: bool,
) -> Result<String, ServerError> {
    let spec = TokenSpec {
        name: name.to_owned(),
        group: group.to_owned(),
        admin,
        ..TokenSpec::default()
    };
    create_token_with(store, &spec).await
}

/// Creates a token as `spec` says (grants, expiry); returns it once.
pub async fn create_token_with(
    store: &ServerStore,
    spec: &TokenSpec,
) -> Result<String, ServerError> {
    if !valid_group(&spec.group) {
        return Err(ServerError::Config {
            path: "--group".into(),
            message: format!(
                "group `{}` may only use letters, digits, `-`, `_` and `.`",
                spec.group
            ),
        });
    }
    let token = format!("{TOKEN_PREFIX}{}", random_hex()?);
    store
        .add_token(&token_digest(&token), spec, &super::now())
        .await?;
    Ok(token)
}

/// 32 bytes from the OS's random source, in hex: a token's or a signing secret's.
pub(crate) fn random_hex() -> std::io::Result<String> {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| std::io::Error::other(format!("the OS random source failed: {e}")))?;
    Ok(hex::encode(bytes))
}

/// Group names: what may appear in a URL query and a log line unescaped.
pub fn valid_group(group: &str) -> bool {
    !group.is_empty()
        && group.len() <= 64
        && group
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Who is calling: the token's name, id, group, grants and whether it is an admin.
#[derive(Debug, Clone)]
pub struct Caller {
    pub name: String,
    /// The token's id (a prefix of its SHA-256).
    pub token_id: String,
    pub group: String,
    pub admin: bool,
    /// Priorities above `normal` this token may claim.
    pub priorities: Vec<Priority>,
}

impl Caller {
    /// Whether the caller may see something belonging to `group`.
    pub fn sees(&self, group: &str) -> bool {
        self.admin || self.group == group
    }

    /// 403 unless the token was granted `priority` (`normal` needs no grant).
    pub fn may_claim(&self, priority: Priority) -> Result<(), ApiError> {
        if priority == Priority::Normal || self.priorities.contains(&priority) {
            return Ok(());
        }
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "this token may not submit `{}` work: an admin grants it per token (`petri token create --allow-priority {}`)",
                priority.as_str(),
                priority.as_str()
            ),
        ))
    }

    /// 403 unless every sample's priority (from the sheet) is granted too.
    pub fn may_claim_samples<'a>(
        &self,
        priorities: impl IntoIterator<Item = &'a str>,
    ) -> Result<(), ApiError> {
        for p in priorities {
            self.may_claim(parse_priority(p).unwrap_or_default())?;
        }
        Ok(())
    }
}

/// The bearer token of a request, or 401.
fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    let header = headers
        .get(AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthorized("missing `Authorization: Bearer <token>`"))?;
    header
        .to_str()
        .ok()
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::unauthorized("the Authorization header is not `Bearer <token>`"))
}

/// 401 for a revoked or expired token, saying which and since when.
fn check_live(row: &TokenRow) -> Result<(), ApiError> {
    let (what, at) = match row.state(SystemTime::now()) {
        TokenState::Active => return Ok(()),
        TokenState::Revoked => ("was revoked", row.revoked_at.as_deref()),
        TokenState::Expired => ("expired", row.expires_at.as_deref()),
    };
    Err(ApiError::unauthorized(format!(
        "token `{}` ({}) {what} at {}; ask an admin for a new one",
        row.name,
        row.id,
        at.unwrap_or_default()
    )))
}

/// The token's row: from the cache while it is fresh, else from SQLite
/// (so a revocation made by another process takes hold within the cache's
/// time to live).
async fn lookup(app: &AppState, digest: &str) -> Result<TokenRow, ApiError> {
    if let Some(row) = app.known_token(digest) {
        return Ok(row);
    }
    let row = app
        .store
        .token(digest)
        .await?
        .ok_or_else(|| ApiError::unauthorized("unknown token"))?;
    app.remember_token(digest, &row);
    Ok(row)
}

fn rate_limited(app: &AppState, wait: std::time::Duration) -> ApiError {
    metrics::counter!("petri_http_rate_limited_total").increment(1);
    let mut e = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        format!(
            "more than {} requests per second; retry after {:.1}s",
            app.config.rate_limit_per_second,
            wait.as_secs_f64()
        ),
    );
    e.retry_after = Some(wait.as_secs_f64().ceil().max(1.0) as u64);
    e
}

/// Resolves the request's bearer token to a [`Caller`]: 401 when missing,
/// unknown, revoked or expired; 429 past the token's rate limit.
pub async fn authenticate(app: &AppState, headers: &HeaderMap) -> Result<Caller, ApiError> {
    authenticate_token(app, bearer(headers)?).await
}

/// The bearer token of a request, or 401 (for the event stream, which
/// checks it again as it goes).
pub(crate) fn bearer_token(headers: &HeaderMap) -> Result<&str, ApiError> {
    bearer(headers)
}

/// Whether the token with SHA-256 `digest` still works (not revoked or
/// expired since the caller was authenticated): what a long-lived stream or
/// a dashboard session asks on the way.
pub(crate) async fn still_live(app: &AppState, digest: &str) -> bool {
    match lookup(app, digest).await {
        Ok(row) => check_live(&row).is_ok(),
        Err(_) => false,
    }
}

/// Resolves a token (from a header or the dashboard's session cookie) to a
/// [`Caller`], exactly as [`authenticate`] does.
pub(crate) async fn authenticate_token(app: &AppState, token: &str) -> Result<Caller, ApiError> {
    let digest = token_digest(token);
    let row = lookup(app, &digest).await?;
    check_live(&row)?;
    app.limiter
        .check(&digest)
        .map_err(|wait| rate_limited(app, wait))?;
    Ok(Caller {
        name: row.name,
        token_id: row.id,
        group: row.group,
        admin: row.admin,
        priorities: row.priorities,
    })
}

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &Arc<AppState>,
    ) -> Result<Caller, ApiError> {
        let caller = authenticate(app, &parts.headers).await?;
        if let Some(slot) = parts.extensions.get::<CallerSlot>() {
            slot.fill(&caller);
        }
        Ok(caller)
    }
}
