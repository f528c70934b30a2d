//! `GET /v1/events`: a Server-Sent Events stream of run status and stage state changes,
//! tenant-scoped like the runs API. Events are derived by polling the database, so every
//! daemon sharing it streams every change, whichever daemon made it.
//!
//! Each (re)connection first sends the current state of the caller's unfinished
//! runs (or of the one run asked for) and a `synced` event; then each change as
//! it is committed. A run a trigger started (a webhook delivery or a watched
//! folder) is preceded by a `trigger` event naming the delivery, once per
//! connection. Each time a run needs an operator's eye (a stage re-queued off
//! an instrument that went down, retries exhausted, the run recovered or
//! rescued after its daemon stopped) an `attention` event says why, typed;
//! those of a run already in the snapshot are sent with it, once per connection. Nothing is missed across a reconnect, so `Last-Event-ID`
//! is not needed and not read.

use std::collections::{HashMap, HashSet, VecDeque};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::pipeline::{CacheUse, StageStatus};
use crate::server::app::AppState;
use crate::server::auth::{Caller, authenticate_token, bearer_token, token_digest};
use crate::server::error::{ApiError, ErrorBody};
use crate::server::extract::Query;
use crate::server::views::{RunStatus, StageView};
use crate::store::daemon::{RunFilter, RunRow};
use crate::store::notifications::AttentionKind;

/// How often a stream reads the database for changes.
const POLL: Duration = Duration::from_millis(250);

/// Unfinished runs a stream follows at most (the newest, per status).
const MAX_RUNS: i64 = 500;

/// One change, as the `data` of an SSE event named after its `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StreamEvent {
    /// A run's status (on connect: its current one).
    Run {
        run_id: String,
        group: String,
        pipeline: String,
        status: RunStatus,
    },
    /// A stage of one sample: its state, where it runs and how many attempts it had.
    Stage {
        run_id: String,
        sample: String,
        stage: String,
        status: StageStatus,
        #[serde(skip_serializing_if = "Option::is_none")]
        instrument: Option<String>,
        attempts: usize,
        cache: CacheUse,
    },
    /// The trigger delivery that started a run: a webhook trigger's name, or
    /// `watch:NAME` for a watched folder; sent before that run's `run` event.
    Trigger {
        run_id: String,
        trigger: String,
        /// When the delivery arrived (RFC 3339).
        received_at: String,
    },
    /// A run needs an operator's eye (the `attention` notification's event).
    Attention {
        run_id: String,
        kind: AttentionKind,
        /// Which stage and why, in words.
        detail: String,
        /// When it happened (RFC 3339).
        at: String,
    },
    /// The current state has been sent; what follows are changes.
    Synced,
}

impl StreamEvent {
    fn name(&self) -> &'static str {
        match self {
            StreamEvent::Run { .. } => "run",
            StreamEvent::Stage { .. } => "stage",
            StreamEvent::Trigger { .. } => "trigger",
            StreamEvent::Attention { .. } => "attention",
            StreamEvent::Synced => "synced",
        }
    }

    fn sse(&self) -> Event {
        let data = serde_json::to_string(self).unwrap_or_default();
        Event::default().event(self.name()).data(data)
    }
}

/// `/v1/events` query.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventQuery {
    /// Only this run (its current state first, even when it has finished);
    /// 404 when the caller may not see it.
    pub run: Option<String>,
}

/// Live changes of the caller's runs as Server-Sent Events (`run`, `stage`,
/// `trigger`, `attention`, `synced`; each `data` is a [`StreamEvent`] as JSON). On connect: the
/// current state of the group's unfinished runs (an admin's: every group's),
/// then `synced`, then changes. The stream ends when the token is revoked or expires.
#[utoipa::path(get, path = "/v1/events", tag = "runs",
    params(EventQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "An SSE stream; each event's data is a StreamEvent", body = StreamEvent, content_type = "text/event-stream"),
        (status = 401, description = "No, unknown, revoked or expired token", body = ErrorBody),
        (status = 404, description = "`run` is no run of this group", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody)))]
pub async fn events(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<EventQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let token = bearer_token(&headers)?;
    let caller = authenticate_token(&app, token).await?;
    stream(app, caller, token_digest(token), q.run).await
}

/// The stream of `caller`'s changes (the API's and the dashboard's), while
/// the token with SHA-256 `digest` stays live.
pub(crate) async fn stream(
    app: Arc<AppState>,
    caller: Caller,
    digest: String,
    run: Option<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    if let Some(id) = &run {
        match app.store.run(id).await? {
            Some(row) if caller.sees(&row.group) => {}
            _ => return Err(ApiError::not_found(format!("no run {id}"))),
        }
    }
    let watch = Watch {
        app,
        caller,
        digest,
        only: run,
        runs: HashMap::new(),
        stages: HashMap::new(),
        triggered: HashSet::new(),
        noticed: HashSet::new(),
        newest: None,
        queue: VecDeque::new(),
        synced: false,
    };
    let events = futures_util::stream::unfold(watch, |mut w| async move {
        w.next().await.map(|e| (Ok(e.sse()), w))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

/// What a stage event reports, to tell a change from a repeat.
type StageState = (StageStatus, Option<String>, usize, CacheUse);

/// One stream's view of the runs it follows.
struct Watch {
    app: Arc<AppState>,
    caller: Caller,
    digest: String,
    /// The one run followed, if asked for.
    only: Option<String>,
    runs: HashMap<String, RunStatus>,
    /// (run, sample, stage) → what was last sent.
    stages: HashMap<(String, String, String), StageState>,
    /// Runs whose `trigger` event was sent.
    triggered: HashSet<String>,
    /// (run, at, kind, detail) of every `attention` event sent.
    noticed: HashSet<(String, String, String, String)>,
    /// The newest run id in scope when last polled: a run submitted after
    /// it is looked at even if it finished between two polls.
    newest: Option<String>,
    queue: VecDeque<StreamEvent>,
    synced: bool,
}

impl Watch {
    /// The next event; `None` ends the stream (the token stopped working,
    /// the database cannot be read, or the daemon is stopping: a draining
    /// daemon waits for open requests, so a stream must end).
    async fn next(&mut self) -> Option<StreamEvent> {
        loop {
            if let Some(e) = self.queue.pop_front() {
                return Some(e);
            }
            if self.synced {
                tokio::select! {
                    () = tokio::time::sleep(POLL) => {}
                    () = self.app.stopping.cancelled() => return None,
                }
            }
            if self.app.stopping.is_cancelled() {
                return None;
            }
            if !crate::server::auth::still_live(&self.app, &self.digest).await {
                return None;
            }
            self.poll().await.ok()?;
            if !self.synced {
                self.synced = true;
                self.queue.push_back(StreamEvent::Synced);
            }
        }
    }

    /// The runs to look at now: the unfinished ones in scope, and those
    /// followed before (to send how they ended).
    async fn current(&self) -> Result<Vec<RunRow>, ApiError> {
        let mut rows = Vec::new();
        if let Some(id) = &self.only {
            rows.extend(self.app.store.run(id).await?);
            return Ok(rows);
        }
        let group = (!self.caller.admin).then(|| self.caller.group.clone());
        if self.synced {
            // Every run since the last poll, whatever its status: one that
            // started and finished in between still gets its events.
            let filter = RunFilter {
                group: group.clone(),
                after: self.newest.clone(),
                limit: MAX_RUNS,
                ..RunFilter::default()
            };
            rows.extend(self.app.store.runs(&filter).await?);
        }
        for status in [
            RunStatus::Pending,
            RunStatus::Validating,
            RunStatus::Running,
        ] {
            let filter = RunFilter {
                group: group.clone(),
                status: Some(status),
                limit: MAX_RUNS,
                ..RunFilter::default()
            };
            for row in self.app.store.runs(&filter).await? {
                if !rows.iter().any(|r| r.id == row.id) {
                    rows.push(row);
                }
            }
        }
        for id in self.runs.keys() {
            if !rows.iter().any(|r| &r.id == id) {
                rows.extend(self.app.store.run(id).await?);
            }
        }
        Ok(rows)
    }

    /// Queues every change since the last poll.
    async fn poll(&mut self) -> Result<(), ApiError> {
        if !self.synced && self.only.is_none() {
            self.newest = self.newest_run().await?;
        }
        for row in self.current().await? {
            if self.newest.as_ref().is_none_or(|n| &row.id > n) {
                self.newest = Some(row.id.clone());
            }
            if !self.caller.sees(&row.group) {
                continue;
            }
            self.stage_changes(&row.id).await?;
            self.attention_of(&row.id).await?;
            if self.runs.get(&row.id) != Some(&row.status) {
                self.trigger_of(&row.id).await?;
                self.queue.push_back(StreamEvent::Run {
                    run_id: row.id.clone(),
                    group: row.group.clone(),
                    pipeline: row.pipeline.clone(),
                    status: row.status,
                });
            }
            // A finished run changes no more: forget it (the one run asked for stays).
            if row.status.is_final() && self.only.is_none() {
                self.runs.remove(&row.id);
                self.stages.retain(|k, _| k.0 != row.id);
                self.triggered.remove(&row.id);
                self.noticed.retain(|k| k.0 != row.id);
            } else {
                self.runs.insert(row.id.clone(), row.status);
            }
        }
        Ok(())
    }

    /// The newest run id in scope, of any status.
    async fn newest_run(&self) -> Result<Option<String>, ApiError> {
        let filter = RunFilter {
            group: (!self.caller.admin).then(|| self.caller.group.clone()),
            limit: 1,
            ..RunFilter::default()
        };
        Ok(self.app.store.runs(&filter).await?.pop().map(|r| r.id))
    }

    /// Queues the `trigger` event of run `run_id` if a delivery started it
    /// and it was not sent yet. Looked up with each change of the run's
    /// status: a delivery records its run just after submitting it, so a
    /// run first seen before that gets its event with its next change.
    async fn trigger_of(&mut self, run_id: &str) -> Result<(), ApiError> {
        if self.triggered.contains(run_id) {
            return Ok(());
        }
        let delivery = self.app.store.state().deliveries().of_run(run_id).await?;
        if let Some((trigger, received_at)) = delivery {
            self.triggered.insert(run_id.to_owned());
            self.queue.push_back(StreamEvent::Trigger {
                run_id: run_id.to_owned(),
                trigger,
                received_at,
            });
        }
        Ok(())
    }

    /// Queues the run's `attention` events not sent yet.
    async fn attention_of(&mut self, run_id: &str) -> Result<(), ApiError> {
        for (at, kind, detail) in self.app.store.events(run_id).await? {
            let Some(typed) = AttentionKind::parse(&kind) else {
                continue;
            };
            let key = (run_id.to_owned(), at, kind, detail);
            if self.noticed.contains(&key) {
                continue;
            }
            self.queue.push_back(StreamEvent::Attention {
                run_id: run_id.to_owned(),
                kind: typed,
                detail: key.3.clone(),
                at: key.1.clone(),
            });
            self.noticed.insert(key);
        }
        Ok(())
    }

    async fn stage_changes(&mut self, run_id: &str) -> Result<(), ApiError> {
        for detail in self.app.store.stages(run_id).await? {
            let Ok(s) = serde_json::from_str::<StageView>(&detail) else {
                continue;
            };
            let key = (run_id.to_owned(), s.sample.clone(), s.stage.clone());
            let state = (s.status, s.instrument.clone(), s.attempts.len(), s.cache);
            if self.stages.get(&key) == Some(&state) {
                continue;
            }
            self.stages.insert(key, state);
            self.queue.push_back(StreamEvent::Stage {
                run_id: run_id.to_owned(),
                sample: s.sample,
                stage: s.stage,
                status: s.status,
                instrument: s.instrument,
                attempts: s.attempts.len(),
                cache: s.cache,
            });
        }
        Ok(())
    }
}
