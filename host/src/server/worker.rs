//! The run worker: takes PENDING runs from the store (most urgent, then oldest), validates and
//! executes each with the pipeline runner, and records stage status, events and the outcome.
//!
//! Crash safety comes from the layers below: a run is durable before it is
//! acknowledged; the runner commits a stage's outputs to the stage cache
//! exactly once, after they are durable; a run that was VALIDATING or RUNNING
//! when the daemon died goes back to PENDING at the next start and resumes
//! from its committed stages, ending with the digests of an uninterrupted run.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::app::AppState;
use super::error::ProblemBody;
use super::shutdown;
use super::views::{RunErrorView, RunStatus, StageView, SubmitRun};
use super::workspace;
use super::{metrics, now};
use crate::error::Error;
use crate::pipeline::{
    CacheUse, EventCallback, RunEvent, RunOptions, RunRecord, RunStage, Source, StageStatus,
    run_plan, validate_source,
};
use crate::schedule::Priority;
use crate::store::daemon::{Claim, Claimed, RunEnd, RunRow};
use crate::store::digest::Digest;
use crate::store::lease::Fence;
use crate::store::notifications::AttentionKind;
use crate::store::places::Places;
use crate::store::quota::{GroupQuota, Quota};
use crate::store::state::StateError;

/// Takes runs from the queue until shutdown, then drains.
pub async fn run_queue(app: Arc<AppState>) {
    let mut tasks: JoinSet<()> = JoinSet::new();
    loop {
        while tasks.len() < app.config.max_concurrent_runs && !app.stopping.is_cancelled() {
            match claim(&app).await {
                Ok(Some(claimed)) => {
                    let token = CancellationToken::new();
                    let fence = claimed.fence;
                    app.running
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(fence.run_id.clone(), (token.clone(), fence.clone()));
                    tasks.spawn(execute(app.clone(), fence, token));
                }
                Ok(None) => break,
                Err(e) => {
                    eprintln!("petri serve: taking a run from the queue: {e}");
                    break;
                }
            }
        }
        tokio::select! {
            _ = app.stopping.cancelled() => break,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            _ = app.queue.notified() => {}
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
    }
    let timeout = Duration::from_secs(app.config.drain_timeout_secs);
    let app2 = app.clone();
    let left = shutdown::drain(tasks, timeout, move || {
        for (token, _) in app2
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
        {
            token.cancel();
        }
    })
    .await;
    if left > 0 {
        eprintln!("petri serve: {left} run(s) checkpointed; they resume on the next start");
    }
}

/// Claims the next run for this daemon, with a lease of `lease-secs`.
async fn claim(app: &AppState) -> Result<Option<Claimed>, StateError> {
    let now_ms = app.store.state().now_ms().await?;
    let caps = |group: &str| app.config.runs_cap(group);
    let claim = Claim {
        owner: &app.node,
        now: &now(),
        now_ms,
        lease_until_ms: now_ms + lease_ms(app),
        per_group: app.config.runs_capped().then_some(&caps),
    };
    app.store.claim_next(&claim).await
}

fn lease_ms(app: &AppState) -> i64 {
    i64::try_from(app.config.lease_secs.saturating_mul(1_000)).unwrap_or(i64::MAX)
}

/// Renews the lease of every run this daemon executes, every third of the
/// lease, until shutdown. A run whose lease cannot be renewed — taken over
/// after this daemon stalled, or cancelled through any daemon — is stopped
/// here at once; its commits would be refused anyway.
pub async fn heartbeat(app: Arc<AppState>) {
    let every = Duration::from_millis(u64::try_from(lease_ms(&app) / 3).unwrap_or(1_000).max(100));
    loop {
        tokio::select! {
            _ = app.stopping.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        let held: Vec<(CancellationToken, Fence)> = app
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        let until = match app.store.state().now_ms().await {
            Ok(now) => now + lease_ms(&app),
            Err(e) => {
                eprintln!("petri serve: reading the database's clock: {e}");
                continue;
            }
        };
        for (token, fence) in held {
            match app.store.renew(&fence, until).await {
                Ok(true) => {
                    if let Err(e) = app.store.renew_places(&fence, until).await {
                        eprintln!("petri serve: renewing places of run {}: {e}", fence.run_id);
                    }
                }
                Ok(false) => {
                    eprintln!(
                        "petri serve: run {}: no longer ours (taken over or cancelled); stopping it",
                        fence.run_id
                    );
                    token.cancel();
                }
                Err(e) => eprintln!("petri serve: renewing run {}: {e}", fence.run_id),
            }
        }
    }
}

/// The run's places on the instruments every daemon shares (those in the
/// database), at its priority.
async fn places(app: &AppState, fence: &Fence, row: &RunRow) -> Result<Places, Error> {
    let capacity = app
        .store
        .instruments()
        .await?
        .into_iter()
        .map(|i| (i.name, i.capacity))
        .collect();
    let rank = row.priority.parse::<Priority>().map_or(0, Priority::tier);
    let lease = Duration::from_secs(app.config.lease_secs);
    Ok(Places::new(
        app.store.state().clone(),
        fence.clone(),
        rank,
        capacity,
        lease,
    ))
}

/// The run's group quotas, if its group has any on fuel or stored bytes.
fn quota(app: &AppState, row: &RunRow) -> Option<Quota> {
    metered_quota(app, &row.group, &row.id)
}

/// `group`'s quotas for the work `id` (a run, or a promotion's shadow runs),
/// if it has any on fuel or stored bytes.
pub fn metered_quota(app: &AppState, group: &str, id: &str) -> Option<Quota> {
    let limits = app.config.quota_for(group);
    let metered = GroupQuota {
        upload_bytes: None,
        concurrent_runs: None,
        ..limits
    };
    (metered != GroupQuota::default())
        .then(|| Quota::new(app.store.state().clone(), group, id, limits))
}

/// What ended a run's execution early.
enum Stopped {
    Cancelled,
    Checkpointed,
}

async fn execute(app: Arc<AppState>, fence: Fence, token: CancellationToken) {
    let id = fence.run_id.clone();
    match execute_run(&app, &fence, &token).await {
        Ok(()) => {}
        Err(Error::LeaseLost(e)) => eprintln!("petri serve: {e}"),
        Err(e) => {
            let error = RunErrorView {
                message: e.to_string(),
                problems: Vec::new(),
            };
            for from in [RunStatus::Validating, RunStatus::Running] {
                let _ = fail_run(&app, &fence, from, &error).await;
            }
        }
    }
    app.running
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&id);
    app.queue.notify_one();
}

/// Waits for `fut` unless the run is cancelled or checkpointed first.
async fn unless_stopped<T>(
    app: &AppState,
    token: &CancellationToken,
    fut: impl Future<Output = T>,
) -> Result<T, Stopped> {
    tokio::select! {
        r = fut => Ok(r),
        _ = token.cancelled() => Err(if app.stopping.is_cancelled() { Stopped::Checkpointed } else { Stopped::Cancelled }),
    }
}

async fn stopped(app: &AppState, fence: &Fence, how: Stopped) -> Result<(), Error> {
    let id = fence.run_id.as_str();
    match how {
        // The cancel request recorded the status and the event (or another
        // daemon holds the run now).
        Stopped::Cancelled => {}
        Stopped::Checkpointed => {
            let event = (
                "checkpointed",
                "stopped at shutdown; resumes from its completed stages on the next start",
            );
            app.store
                .transition(
                    id,
                    &[RunStatus::Validating, RunStatus::Running],
                    RunStatus::Pending,
                    Some(event),
                    &now(),
                    Some(fence),
                )
                .await?;
        }
    }
    Ok(())
}

/// The run's pipeline, sheet and files, from its stored request: exactly what
/// was checked when it was submitted.
pub fn prepare(app: &AppState, row: &RunRow) -> Result<Source, Error> {
    let request: SubmitRun = serde_json::from_str(&row.request)
        .map_err(|e| Error::State(format!("run {}: stored request: {e}", row.id)))?;
    let text = match (&request.pipeline, &request.pipeline_sha256) {
        (Some(t), _) => t.clone(),
        (None, Some(sha)) => {
            let digest = sha
                .trim_start_matches("sha256:")
                .parse()
                .map_err(|e| Error::State(format!("run {}: {e}", row.id)))?;
            String::from_utf8_lossy(&app.petri.blobs().read(&digest)?).into_owned()
        }
        (None, None) => return Err(Error::State(format!("run {} has no pipeline", row.id))),
    };
    // Ownership was checked at submission; here only presence matters.
    let blobs = app.petri.blobs();
    let resolved = workspace::resolve(&request, text, &|d| blobs.contains(d)).map_err(|ps| {
        Error::State(
            ps.iter()
                .map(|p| p.message.clone())
                .collect::<Vec<_>>()
                .join("; "),
        )
    })?;
    Ok(resolved.source())
}

async fn execute_run(
    app: &Arc<AppState>,
    fence: &Fence,
    token: &CancellationToken,
) -> Result<(), Error> {
    let id = fence.run_id.as_str();
    let Some(row) = app.store.run(id).await? else {
        return Ok(());
    };
    app.store
        .event(id, "validating", &app.node, &now(), Some(fence))
        .await?;
    let source = prepare(app, &row)?;
    let validated = unless_stopped(app, token, validate_source(&app.petri, source)).await;
    let plan = match validated {
        Err(how) => return stopped(app, fence, how).await,
        Ok(Err(diagnostics)) => {
            let error = RunErrorView {
                message: format!(
                    "{} problem(s) in the pipeline; nothing was run",
                    diagnostics.len()
                ),
                problems: workspace::problems(&diagnostics),
            };
            return fail_run(app, fence, RunStatus::Validating, &error).await;
        }
        Ok(Ok(plan)) => plan,
    };
    let detail = format!(
        "{} stage(s) × {} sample(s)",
        plan.stages.len(),
        plan.samples.len()
    );
    let event = Some(("running", detail.as_str()));
    if !app
        .store
        .transition(
            id,
            &[RunStatus::Validating],
            RunStatus::Running,
            event,
            &now(),
            Some(fence),
        )
        .await?
    {
        return Ok(()); // cancelled meanwhile
    }
    let mut views = HashMap::new();
    for sample in &plan.samples {
        for stage in &plan.stages {
            let view = StageView {
                sample: sample.id.clone(),
                stage: stage.id.clone(),
                module: stage.manifest.name.clone(),
                version: stage.manifest.version.clone(),
                module_sha256: stage.module.digest.to_hex(),
                status: StageStatus::Pending,
                cache: CacheUse::None,
                fuel_used: 0,
                record_id: None,
                reason: None,
                instrument: None,
                attempts: Vec::new(),
                outputs: Vec::new(),
                started_at: None,
                finished_at: None,
            };
            put_stage(app, fence, &view).await?;
            views.insert((view.sample.clone(), view.stage.clone()), view);
        }
    }

    // Stage events flow from the runner's callback to a task that stores them.
    let (tx, mut rx) = mpsc::unbounded_channel::<StageNote>();
    let writer = {
        let (app, fence, group) = (app.clone(), fence.clone(), row.group.clone());
        tokio::spawn(async move {
            while let Some(note) = rx.recv().await {
                let _ = note.store(&app, &fence, &group, &mut views).await;
            }
        })
    };
    let on_event: EventCallback = Arc::new(move |e: RunEvent<'_>| {
        let _ = tx.send(StageNote::from(e));
    });
    // Every run shares the daemon's scheduler (its instruments follow the API).
    let options = RunOptions {
        on_event: Some(on_event),
        dispatcher: Some(app.dispatcher.clone()),
        owner: Some(row.group.clone()),
        fence: Some(fence.clone()),
        places: Some(places(app, fence, &row).await?),
        quota: quota(app, &row),
        executor: super::slurm::for_group(&app.executor, &app.config.slurm, &row.group),
        // A run checkpointed at shutdown leaves its Slurm jobs running; it
        // re-attaches to them when it resumes.
        keep_jobs: Some(app.stopping.clone()),
        ..RunOptions::default()
    };
    let result = unless_stopped(
        app,
        token,
        run_plan(app.petri.clone(), app.store.state(), &plan, &options),
    )
    .await;
    drop(options);
    let _ = writer.await;
    match result {
        Err(how) => stopped(app, fence, how).await,
        Ok(Ok(record)) => completed(app, fence, &row, &record).await,
        Ok(Err(Error::Request(ps))) => {
            let error = RunErrorView {
                message: format!("the run has {} problem(s)", ps.len()),
                problems: ps.into_iter().map(ProblemBody::from).collect(),
            };
            fail_run(app, fence, RunStatus::Running, &error).await
        }
        Ok(Err(e)) => Err(e),
    }
}

/// Ends a run FAILED from status `from` with `error`, and records the event
/// (unless the run had already left `from`, e.g. by a cancel).
async fn fail_run(
    app: &AppState,
    fence: &Fence,
    from: RunStatus,
    error: &RunErrorView,
) -> Result<(), Error> {
    let json = serde_json::to_string(error).unwrap_or_default();
    let end = RunEnd {
        status: RunStatus::Failed,
        record_id: None,
        root: None,
        error: Some(&json),
        detail: &error.message,
        now: &now(),
    };
    app.store
        .finish(&fence.run_id, from, end, Some(fence))
        .await?;
    Ok(())
}

async fn put_stage(app: &AppState, fence: &Fence, view: &StageView) -> Result<(), Error> {
    let json = serde_json::to_string(view).map_err(|e| Error::State(e.to_string()))?;
    app.store
        .put_stage(&fence.run_id, &view.sample, &view.stage, &json, Some(fence))
        .await?;
    Ok(())
}

/// Stores a stage that ended, lets the group see its outputs, counts it.
/// A [`RunEvent`] the worker keeps: the stage's view and the run's events.
enum StageNote {
    Started {
        key: (String, String),
        instrument: String,
    },
    Preempted {
        key: (String, String),
        instrument: String,
        reason: String,
    },
    Ended(Box<RunStage>),
}

impl From<RunEvent<'_>> for StageNote {
    fn from(e: RunEvent<'_>) -> StageNote {
        match e {
            RunEvent::Started {
                sample,
                stage,
                instrument,
                ..
            } => StageNote::Started {
                key: (sample.to_owned(), stage.to_owned()),
                instrument: instrument.to_owned(),
            },
            RunEvent::Preempted {
                sample,
                stage,
                instrument,
                reason,
            } => StageNote::Preempted {
                key: (sample.to_owned(), stage.to_owned()),
                instrument: instrument.to_owned(),
                reason: reason.to_owned(),
            },
            RunEvent::Ended(stage) => StageNote::Ended(Box::new(stage.clone())),
        }
    }
}

impl StageNote {
    /// Stores the note: a started stage shows `running` with its start time;
    /// a preempted one goes back to `pending`, with a `preempted` event.
    async fn store(
        self,
        app: &AppState,
        fence: &Fence,
        group: &str,
        views: &mut HashMap<(String, String), StageView>,
    ) -> Result<(), Error> {
        let id = fence.run_id.as_str();
        match self {
            StageNote::Ended(stage) => {
                stage_ended(app, fence, group, &stage, true).await?;
                let Some(detail) = retries_exhausted(&stage) else {
                    return Ok(());
                };
                let kind = AttentionKind::RetriesExhausted.as_str();
                app.store
                    .event(id, kind, &detail, &now(), Some(fence))
                    .await?;
                Ok(())
            }
            StageNote::Started { key, instrument } => {
                let Some(view) = views.get_mut(&key) else {
                    return Ok(());
                };
                view.status = StageStatus::Running;
                view.instrument = Some(instrument);
                view.started_at = Some(now());
                put_stage(app, fence, view).await
            }
            StageNote::Preempted {
                key,
                instrument,
                reason,
            } => {
                if let Some(view) = views.get_mut(&key) {
                    view.status = StageStatus::Pending;
                    put_stage(app, fence, view).await?;
                }
                metrics::stage_preempted(&instrument);
                let detail = format!("{}/{} on `{instrument}`: {reason}", key.0, key.1);
                app.store
                    .event(
                        id,
                        AttentionKind::Preempted.as_str(),
                        &detail,
                        &now(),
                        Some(fence),
                    )
                    .await?;
                Ok(())
            }
        }
    }
}

/// Why `stage`, just ended, needs an operator's eye, if it does: it failed
/// after its policy retried it.
fn retries_exhausted(stage: &RunStage) -> Option<String> {
    let tried = stage.attempts.len();
    if stage.status != StageStatus::Failed || tried < 2 {
        return None;
    }
    let last = stage.attempts.last().map_or("", |a| a.outcome.as_str());
    Some(format!(
        "{}/{} failed after {tried} attempts: {last}",
        stage.sample, stage.stage
    ))
}

/// Stores the finished run: every stage, which blobs the group may fetch, the outcome.
async fn completed(
    app: &AppState,
    fence: &Fence,
    row: &RunRow,
    record: &RunRecord,
) -> Result<(), Error> {
    let mut digests = vec![record.pipeline.sha256];
    digests.extend(record.samples.iter().map(|s| s.sha256));
    digests.extend(record.inputs.iter().map(|i| i.sha256));
    own(app, &row.group, &digests).await?;
    for stage in &record.stages {
        stage_ended(app, fence, &row.group, stage, false).await?;
    }
    let status = if record.status == "completed" {
        RunStatus::Completed
    } else {
        RunStatus::Failed
    };
    let error = (status == RunStatus::Failed).then(|| {
        let failed: Vec<String> = record
            .stages
            .iter()
            .filter(|s| s.status != StageStatus::Succeeded)
            .map(|s| {
                format!(
                    "{}/{}: {}{}",
                    s.sample,
                    s.stage,
                    s.status,
                    s.reason
                        .as_deref()
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default()
                )
            })
            .collect();
        serde_json::to_string(&RunErrorView {
            message: failed.join("; "),
            problems: Vec::new(),
        })
        .unwrap_or_default()
    });
    let root = record.root.to_hex();
    let end = RunEnd {
        status,
        record_id: Some(&record.id),
        root: Some(&root),
        error: error.as_deref(),
        detail: &format!("run record {} root sha256:{root}", record.id),
        now: &now(),
    };
    app.store
        .finish(&row.id, RunStatus::Running, end, Some(fence))
        .await?;
    Ok(())
}

/// Stores a stage that ended: its view (times from its stage record) and
/// which blobs the run's group may fetch. `count` puts it in the metrics
/// (once per stage: not again when the finished run is stored whole).
async fn stage_ended(
    app: &AppState,
    fence: &Fence,
    group: &str,
    stage: &RunStage,
    count: bool,
) -> Result<(), Error> {
    let mut view = StageView::of(stage);
    let mut seconds = None;
    let record = stage
        .record_id
        .as_ref()
        .map(|_| stage.load_record(app.petri.records()));
    if let Some(Ok(rec)) = record {
        let times = (
            humantime::parse_rfc3339(&rec.started_at),
            humantime::parse_rfc3339(&rec.finished_at),
        );
        if let (Ok(a), Ok(b)) = times
            && stage.cache == CacheUse::Miss
        {
            seconds = b.duration_since(a).ok().map(|d| d.as_secs_f64());
        }
        view.started_at = Some(rec.started_at);
        view.finished_at = Some(rec.finished_at);
        own(app, group, &[rec.log.sha256]).await?;
    }
    if count {
        metrics::stage_ended(stage, seconds);
    }
    let digests: Vec<Digest> = stage
        .outputs
        .iter()
        .chain(&stage.inputs)
        .map(|o| o.sha256)
        .collect();
    own(app, group, &digests).await?;
    put_stage(app, fence, &view).await
}

/// Lets `group` fetch `digests` and counts their sizes toward its store
/// quota (a blob no longer stored counts 0).
async fn own(app: &AppState, group: &str, digests: &[Digest]) -> Result<(), Error> {
    let blobs = app.petri.blobs();
    let sized: Vec<(String, u64)> = digests
        .iter()
        .map(|d| (d.to_hex(), blobs.size_of(d).unwrap_or(0)))
        .collect();
    app.store.own_blobs(group, &sized).await?;
    Ok(())
}
