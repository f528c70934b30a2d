//! Signing in (a bearer token through the login form, checked as the API checks it) and out.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::{LOCATION, SET_COOKIE};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;

use super::layout::login_page;
use super::session::{self, CsrfForm, Session, UiError};
use crate::server::app::AppState;
use crate::server::extract::Form;

/// The sign-in form.
pub async fn form() -> Html<String> {
    Html(login_page(None))
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    token: String,
}

/// `POST /ui/login`: a token that works opens a session (303 to the runs);
/// an unknown, revoked or expired one is refused (401, the form again).
pub async fn login(State(app): State<Arc<AppState>>, Form(form): Form<LoginForm>) -> Response {
    let token = form.token.trim();
    let refused =
        |message: &str| (StatusCode::UNAUTHORIZED, Html(login_page(Some(message)))).into_response();
    let Some(cookie) = session::login_cookie(token, &app.config.ui) else {
        return refused("that is not a petri token");
    };
    match session::open(&app, token).await {
        Ok(_) => (
            StatusCode::SEE_OTHER,
            [(SET_COOKIE, cookie), (LOCATION, "/ui/runs".to_owned())],
        )
            .into_response(),
        Err(e) => refused(&e.message),
    }
}

/// `POST /ui/logout`: ends the session (the cookie is cleared).
pub async fn logout(session: Session, Form(form): Form<CsrfForm>) -> Result<Response, UiError> {
    session.check_csrf(&form.csrf)?;
    Ok(session::logout("/ui/login"))
}
