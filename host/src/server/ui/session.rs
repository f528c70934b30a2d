//! The dashboard's session: the login form's bearer token kept in an HttpOnly, SameSite=Strict
//! cookie scoped to `/ui`, the CSRF token every state-changing form carries, and [`UiError`].
//!
//! The cookie holds the token itself, not a server-side session id: every
//! request authenticates it exactly as the API does (so a revoked or expired
//! token stops working in the dashboard when it stops in the API), daemons
//! sharing a database need no shared session table, and nothing is stored.
//! Script cannot read it (HttpOnly) and other sites' requests do not carry
//! it (SameSite=Strict). The CSRF token is the HMAC-SHA256 of a fixed label
//! under the session's token: only a page served to the session holds it.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::header::{COOKIE, LOCATION, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};

use super::layout::error_page;
use crate::server::app::AppState;
use crate::server::audit::CallerSlot;
use crate::server::auth::{Caller, authenticate_token, token_digest};
use crate::server::error::ApiError;
use crate::server::signature::{is_signed, sign};

/// The session cookie's name.
const COOKIE_NAME: &str = "petri_session";

/// What the CSRF token signs.
const CSRF_LABEL: &[u8] = b"petri-ui-csrf";

/// A signed-in operator.
pub struct Session {
    pub caller: Caller,
    /// The hidden `csrf` field of this session's forms.
    pub csrf: String,
    /// The SHA-256 of the session's token (the event stream re-checks it).
    pub digest: String,
    token: String,
}

impl Session {
    /// 403 unless `csrf` is this session's CSRF token.
    pub fn check_csrf(&self, csrf: &str) -> Result<(), UiError> {
        if is_signed(self.token.as_bytes(), CSRF_LABEL, csrf) {
            return Ok(());
        }
        Err(UiError::Api(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "the form's CSRF token is missing or wrong; reload the page and try again",
        )))
    }
}

/// A form with only the CSRF field.
#[derive(Debug, serde::Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    pub csrf: String,
}

/// The session token in the request's cookies.
fn cookie_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().strip_prefix(COOKIE_NAME)?.strip_prefix('='))
        .find(|t| !t.is_empty())
}

/// Checks `token` as the API would; the session it opens.
pub async fn open(app: &AppState, token: &str) -> Result<Session, ApiError> {
    let caller = authenticate_token(app, token).await?;
    Ok(Session {
        caller,
        csrf: sign(token.as_bytes(), CSRF_LABEL),
        digest: token_digest(token),
        token: token.to_owned(),
    })
}

/// Tokens petri issues are `petri_` and hex: nothing a cookie must quote.
fn cookie_safe(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= 200
        && token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// `[ui]` in the daemon's config.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct UiConfig {
    /// Mark the session cookie `Secure`, so browsers send it over HTTPS
    /// only: for a daemon behind a TLS proxy (off by default, as the
    /// daemon itself speaks plain HTTP and a `Secure` cookie would never
    /// come back to it over `http://`).
    pub secure_cookie: bool,
}

/// The `Set-Cookie` value that opens a session with `token` (`Secure` if `config` says so).
pub fn login_cookie(token: &str, config: &UiConfig) -> Option<String> {
    let secure = if config.secure_cookie { "; Secure" } else { "" };
    cookie_safe(token)
        .then(|| format!("{COOKIE_NAME}={token}; Path=/ui; HttpOnly; SameSite=Strict{secure}"))
}

/// A 303 to `to` that also ends the session.
pub fn logout(to: &str) -> Response {
    let cookie = format!("{COOKIE_NAME}=; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=0");
    (
        StatusCode::SEE_OTHER,
        [(SET_COOKIE, cookie), (LOCATION, to.to_owned())],
    )
        .into_response()
}

impl FromRequestParts<Arc<AppState>> for Session {
    type Rejection = UiError;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &Arc<AppState>,
    ) -> Result<Session, UiError> {
        let token = cookie_token(&parts.headers).ok_or(UiError::Login)?;
        let session = open(app, token).await.map_err(|e| match e.status {
            StatusCode::UNAUTHORIZED => UiError::Login,
            _ => UiError::Api(e),
        })?;
        // State-changing forms are in the audit log like the API's calls.
        if let Some(slot) = parts.extensions.get::<CallerSlot>() {
            slot.fill(&session.caller);
        }
        Ok(session)
    }
}

/// A dashboard request's failure: to the login form (no, revoked or expired
/// token), or an error page with the API's status and message.
#[derive(Debug)]
pub enum UiError {
    Login,
    Api(ApiError),
}

impl From<ApiError> for UiError {
    fn from(e: ApiError) -> UiError {
        UiError::Api(e)
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        match self {
            UiError::Login => logout("/ui/login"),
            UiError::Api(e) => (e.status, Html(error_page(e.status, &e.message))).into_response(),
        }
    }
}
