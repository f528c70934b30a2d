//! `/v1/instruments`: the lab's instruments (shared by all groups), their
//! run-time state and maintenance windows. Any token may look; only admins
//! change them. State lives in SQLite, seeded from the configured calendar.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::schedule::{Instrument, InstrumentState, Timestamp, Window};
use crate::server::app::AppState;
use crate::server::auth::Caller;
use crate::server::error::{ApiError, ErrorBody};
use crate::server::extract::{Json as JsonBody, Path};

/// A maintenance window `[start, end)`; repeating every `every` until `until` when set.
#[derive(Debug, Serialize, ToSchema)]
pub struct WindowView {
    /// RFC 3339.
    pub start: String,
    pub end: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub every: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub note: String,
}

/// An instrument.
#[derive(Debug, Serialize, ToSchema)]
pub struct InstrumentView {
    pub name: String,
    /// What stages ask for in `resources.instrument`.
    pub class: String,
    /// Stages it runs at once.
    pub capacity: u32,
    /// `up`, `down` or `draining`.
    pub state: String,
    pub maintenance: Vec<WindowView>,
}

impl From<&Instrument> for InstrumentView {
    fn from(i: &Instrument) -> InstrumentView {
        InstrumentView {
            name: i.name.clone(),
            class: i.class.clone(),
            capacity: i.capacity,
            state: i.state.to_string(),
            maintenance: i
                .maintenance
                .iter()
                .map(|w| WindowView {
                    start: w.start.to_rfc3339(),
                    end: w.end.to_rfc3339(),
                    every: w.every.map(|s| s.to_string()),
                    until: w.until.map(Timestamp::to_rfc3339),
                    note: w.note.clone(),
                })
                .collect(),
        }
    }
}

/// An instrument state.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum StateName {
    Up,
    Down,
    Draining,
}

impl From<StateName> for InstrumentState {
    fn from(s: StateName) -> InstrumentState {
        match s {
            StateName::Up => InstrumentState::Up,
            StateName::Down => InstrumentState::Down,
            StateName::Draining => InstrumentState::Draining,
        }
    }
}

/// A new state.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StateRequest {
    pub state: StateName,
}

/// A new one-off maintenance window.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceRequest {
    /// RFC 3339 start.
    #[schema(format = DateTime)]
    pub start: String,
    /// RFC 3339 end, after `start`.
    #[schema(format = DateTime)]
    pub end: String,
    #[serde(default)]
    pub note: String,
}

fn admin_only(caller: &Caller) -> Result<(), ApiError> {
    if caller.admin {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        "only an admin token may change instruments",
    ))
}

async fn find(app: &AppState, name: &str) -> Result<Instrument, ApiError> {
    app.store
        .instruments()
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .into_iter()
        .find(|i| i.name == name)
        .ok_or_else(|| ApiError::not_found(format!("no instrument `{name}`")))
}

/// Stores a changed instrument, then hands every instrument to the runs
/// going on: a stage on an instrument that went down, or whose maintenance
/// began, is stopped and re-queued.
async fn save(app: &AppState, instrument: &Instrument) -> Result<(), ApiError> {
    let internal = |e: crate::store::state::StateError| ApiError::internal(e.to_string());
    app.store
        .put_instrument(instrument)
        .await
        .map_err(internal)?;
    let all = app.store.instruments().await.map_err(internal)?;
    app.dispatcher
        .set_instruments(&all)
        .map_err(|e| ApiError::internal(e.to_string()))
}

/// Lists the instruments.
#[utoipa::path(get, path = "/v1/instruments", tag = "instruments",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every instrument", body = Vec<InstrumentView>),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody)))]
pub async fn list_instruments(
    State(app): State<Arc<AppState>>,
    _caller: Caller,
) -> Result<Json<Vec<InstrumentView>>, ApiError> {
    let all = app
        .store
        .instruments()
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(Json(all.iter().map(InstrumentView::from).collect()))
}

/// Sets an instrument's state (admins): `down` takes it out of service,
/// `draining` lets it finish what it runs but start nothing new.
#[utoipa::path(put, path = "/v1/instruments/{name}/state", tag = "instruments",
    params(("name" = String, Path, description = "Instrument name")),
    request_body = StateRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The instrument", body = InstrumentView),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 403, description = "Not an admin token", body = ErrorBody),
        (status = 404, description = "No such instrument", body = ErrorBody),
        (status = 400, description = "Not a state request", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not application/json", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody)))]
pub async fn set_state(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
    JsonBody(request): JsonBody<StateRequest>,
) -> Result<Json<InstrumentView>, ApiError> {
    let instrument = change_state(&app, &caller, &name, request.state).await?;
    Ok(Json(InstrumentView::from(&instrument)))
}

/// Sets instrument `name`'s state as `caller` (an admin): the API's and the dashboard's.
pub(crate) async fn change_state(
    app: &AppState,
    caller: &Caller,
    name: &str,
    state: StateName,
) -> Result<Instrument, ApiError> {
    admin_only(caller)?;
    let mut instrument = find(app, name).await?;
    instrument.state = state.into();
    save(app, &instrument).await?;
    Ok(instrument)
}

/// Adds a one-off maintenance window (admins); no stage starts on the
/// instrument during it.
#[utoipa::path(post, path = "/v1/instruments/{name}/maintenance", tag = "instruments",
    params(("name" = String, Path, description = "Instrument name")),
    request_body = MaintenanceRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The instrument with the new window", body = InstrumentView),
        (status = 401, description = "No or unknown token", body = ErrorBody),
        (status = 403, description = "Not an admin token", body = ErrorBody),
        (status = 404, description = "No such instrument", body = ErrorBody),
        (status = 400, description = "Not a maintenance request", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not application/json", body = ErrorBody),
        (status = 422, description = "Times that do not parse, or end not after start", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody)))]
pub async fn add_maintenance(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
    JsonBody(request): JsonBody<MaintenanceRequest>,
) -> Result<(StatusCode, Json<InstrumentView>), ApiError> {
    let instrument = add_window(&app, &caller, &name, request).await?;
    Ok((StatusCode::CREATED, Json(InstrumentView::from(&instrument))))
}

/// Adds a maintenance window to instrument `name` as `caller` (an admin):
/// the API's and the dashboard's.
pub(crate) async fn add_window(
    app: &AppState,
    caller: &Caller,
    name: &str,
    request: MaintenanceRequest,
) -> Result<Instrument, ApiError> {
    admin_only(caller)?;
    let start = Timestamp::parse_rfc3339(&request.start)
        .map_err(|e| ApiError::invalid_field("start", e))?;
    let end =
        Timestamp::parse_rfc3339(&request.end).map_err(|e| ApiError::invalid_field("end", e))?;
    if end <= start {
        return Err(ApiError::invalid_field("end", "must be after start"));
    }
    let mut instrument = find(app, name).await?;
    let mut window = Window::once(start, end);
    window.note = request.note;
    instrument.maintenance.push(window);
    save(app, &instrument).await?;
    Ok(instrument)
}
