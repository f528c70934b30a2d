//! Bearer tokens: creation (only the SHA-256 is stored), and the [`Caller`] every `/v1/` route
//! requires, bound to one research group (or admin), rate limited per token.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use rand::TryRngCore;

use super::app::AppState;
use super::error::{ApiError, ServerError};
use super::store::{ServerStore, TokenRow};
use crate::digest::Digest;

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
    if !valid_group(group) {
        return Err(ServerError::Config {
            path: "--group".into(),
            message: format!("group `{group}` may only use letters, digits, `-`, `_` and `.`"),
        });
    }
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| std::io::Error::other(format!("the OS random source failed: {e}")))?;
    let token = format!("{TOKEN_PREFIX}{}", hex::encode(bytes));
    store
        .add_token(&token_digest(&token), name, group, admin, &super::now())
        .await?;
    Ok(token)
}

/// Group names: what may appear in a URL query and a log line unescaped.
pub fn valid_group(group: &str) -> bool {
    !group.is_empty()
        && group.len() <= 64
        && group
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Who is calling: the token's group and whether it is an admin.
#[derive(Debug, Clone)]
pub struct Caller {
    pub group: String,
    pub admin: bool,
}

impl Caller {
    /// Whether the caller may see something belonging to `group`.
    pub fn sees(&self, group: &str) -> bool {
        self.admin || self.group == group
    }
}

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &Arc<AppState>,
    ) -> Result<Caller, ApiError> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .ok_or_else(|| ApiError::unauthorized("missing `Authorization: Bearer <token>`"))?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ApiError::unauthorized("the Authorization header is not `Bearer <token>`")
            })?;
        let digest = token_digest(token);
        let row: TokenRow = match app.known_token(&digest) {
            Some(row) => row,
            None => {
                let row = app
                    .store
                    .token(&digest)
                    .await?
                    .ok_or_else(|| ApiError::unauthorized("unknown token"))?;
                app.remember_token(&digest, &row);
                row
            }
        };
        if let Err(wait) = app.limiter.check(&digest) {
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
            return Err(e);
        }
        Ok(Caller {
            group: row.group,
            admin: row.admin,
        })
    }
}
