//! Executing a validated plan: ingest inputs, run ready stages concurrently, reuse cached results,
//! apply each stage's recovery policy, and write the run record.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::task::{AbortHandle, JoinSet};

use super::dispatcher::{Dispatcher, Order, fuel_history};
use super::plan::{DecisionKind, Plan, PlanStage, Wire};
use super::record::{
    Attempt, Edge, PipelineRef, Preemption, RUN_SCHEMA, RunInput, RunRecord, RunStage, SheetRef,
};
use super::samples::Sample;
use crate::bindings::Decision;
use crate::digest::Digest;
use crate::error::{Error, Problem};
use crate::failure::Failure;
use crate::limits::Limits;
use crate::params::{ParamSet, RawParam};
use crate::provenance::{Outcome, PortData, StageRecord};
use crate::runner::{InputSource, Petri, RunRequest};
use crate::schedule::{
    Instrument, SampleProfile, ScheduleError, TaskId, TaskSpec, TaskState, Timestamp,
};
use crate::state::StateStore;

/// The one sample of a run without a sample sheet.
pub const DEFAULT_SAMPLE: &str = "default";

/// Something that happened to a stage of a run, reported as it happens.
#[derive(Debug, Clone, Copy)]
pub enum RunEvent<'a> {
    /// The scheduler started the stage on an instrument.
    Started {
        sample: &'a str,
        stage: &'a str,
        instrument: &'a str,
        attempt: u32,
    },
    /// The stage was stopped and put back in the queue (its instrument went
    /// down or into maintenance); it starts again from its inputs.
    Preempted {
        sample: &'a str,
        stage: &'a str,
        instrument: &'a str,
        reason: &'a str,
    },
    /// The stage ended: succeeded, failed, skipped or salvaged.
    Ended(&'a RunStage),
}

/// Called with each [`RunEvent`] (progress displays, the daemon's run view).
pub type EventCallback = Arc<dyn Fn(RunEvent<'_>) + Send + Sync>;

/// How to run a pipeline.
#[derive(Clone, Default)]
pub struct RunOptions {
    /// Run every stage even when a cached result exists.
    pub no_cache: bool,
    /// Called as stages start, are preempted and end.
    pub on_event: Option<EventCallback>,
    /// The instruments calendar stages are scheduled onto. `None`: every
    /// instrument class the pipeline names is one instrument with as many
    /// places as there are worker slots.
    pub instruments: Option<Vec<Instrument>>,
    /// The scheduler shared with other runs of this process (the daemon's),
    /// whose instruments and worker slots they all share; `instruments` is
    /// then ignored. Its owner changes instruments while runs go on
    /// ([`Dispatcher::set_instruments`]): an instrument going down, or a
    /// maintenance window beginning, stops the stages running on it and
    /// re-queues them; completed stages are kept. `None`: this run has a
    /// scheduler of its own.
    pub dispatcher: Option<Dispatcher>,
    /// Who the run belongs to (the daemon: the token's group); with a shared
    /// dispatcher's fair share, one owner never holds every place.
    pub owner: Option<String>,
}

impl std::fmt::Debug for RunOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunOptions")
            .field("no_cache", &self.no_cache)
            .field("instruments", &self.instruments)
            .finish_non_exhaustive()
    }
}

impl RunOptions {
    fn emit(&self, event: RunEvent<'_>) {
        if let Some(cb) = &self.on_event {
            cb(event);
        }
    }
}

fn now() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

/// The cache key of a stage execution: everything its outputs are a function of.
pub fn cache_key(petri: &Petri, stage: &PlanStage, inputs: &[(String, Digest)]) -> Digest {
    let key = serde_json::json!([
        "petri stage cache v1",
        stage.module.digest,
        stage.params.digest(),
        inputs,
        petri.profile().id(),
    ]);
    Digest::of(key.to_string().as_bytes())
}

/// Runs `plan` for every sample and returns its run record (also saved in
/// the data dir). Stages are started by the [`Scheduler`]: clinical and
/// urgent samples first, then by slack to their decay deadline, each on a
/// free instrument of its class that is up and not in maintenance, at most
/// one per worker slot at a time. A run with the same
/// pipeline, sample sheet and inputs that was interrupted is resumed under its id.
pub async fn run_plan(
    petri: Arc<Petri>,
    state: &StateStore,
    plan: &Plan,
    options: &RunOptions,
) -> Result<RunRecord, Error> {
    let started_at = now();
    // The pipeline file and sample sheet are provenance: keep the exact bytes
    // that were validated (never a re-read, which could differ).
    let texts = std::iter::once(Some(&plan.texts.pipeline)).chain([plan.texts.sheet.as_ref()]);
    for text in texts.flatten() {
        petri.blobs().put(text.as_bytes())?;
    }
    // Refuse a stage no instrument can run before the run is started.
    let dispatcher = match &options.dispatcher {
        Some(shared) => shared.clone(),
        None => {
            // Predictions come from the fuel of past runs on this data dir.
            let slots = std::thread::available_parallelism().map_or(2, |n| n.get());
            Dispatcher::new(
                options.instruments.clone(),
                u32::try_from(slots).unwrap_or(u32::MAX),
                fuel_history(state).await?,
            )?
        }
    };
    dispatcher.admit(plan)?;
    let mut samples: Vec<&Sample> = plan.samples.iter().collect();
    samples.sort_by_key(|s| s.priority == "normal");
    let inputs = ingest_inputs(&petri, plan, &samples).await?;
    let sheet_digest = plan.sample_sheet.as_ref().map(|(_, d)| *d);
    let run_key = Digest::of(
        serde_json::json!([plan.file_sha256, sheet_digest, inputs])
            .to_string()
            .as_bytes(),
    );
    let run_id = match state.unfinished_run(&run_key.to_hex()).await? {
        Some(id) => id,
        None => uuid::Uuid::now_v7().to_string(),
    };
    state
        .start_run(&run_id, &run_key.to_hex(), &plan.name, &started_at)
        .await?;

    // Work items are (sample, stage) in sample-priority then topological order;
    // the run record lists stages in this order.
    let work: Vec<(&Sample, &PlanStage)> = samples
        .iter()
        .flat_map(|s| plan.stages.iter().map(move |st| (*s, st)))
        .collect();
    // One DAG per sample, all submitted at the same instant; task → work item.
    let profiles = samples
        .iter()
        .map(|s| {
            SampleProfile::from_sheet(s)
                .map(|p| p.owned_by(options.owner.clone()))
                .map_err(schedule_error)
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let specs: Vec<TaskSpec> = plan.stages.iter().map(task_spec).collect();
    let mut member = dispatcher.join(profiles, &specs, Timestamp::now())?;
    let mut item_of: HashMap<TaskId, usize> = HashMap::new();
    for (s, ids) in member.tasks.iter().enumerate() {
        for (k, id) in ids.iter().enumerate() {
            item_of.insert(*id, s * plan.stages.len() + k);
        }
    }
    // Sample id → its id in the (possibly shared) scheduler.
    let sample_keys: HashMap<String, String> = samples
        .iter()
        .map(|s| s.id.clone())
        .zip(member.sample_ids.iter().cloned())
        .collect();

    let mut results: HashMap<(String, String), RunStage> = HashMap::new();
    let mut running = JoinSet::new();
    let mut flight = InFlight::default();
    // With a shared dispatcher, instruments can come back (its owner changes
    // them): work waiting for one waits. Otherwise it is recorded as never run.
    let can_change = options.dispatcher.is_some();
    let skips = Skips {
        options,
        plan,
        inputs: &inputs,
        dispatcher: &dispatcher,
        sample_keys: &sample_keys,
    };
    while results.len() < work.len() {
        let now = Timestamp::now();
        let wakeup = dispatcher
            .wakeup(now)
            .map(|t| Duration::from_millis(u64::try_from((t - now).0).unwrap_or(0).max(1)));
        // Nothing runs, nothing was ordered and nothing will be: the rest
        // waits for instruments that are down or draining for good.
        if running.is_empty() && member.inbox.is_empty() && wakeup.is_none() && !can_change {
            break;
        }
        let joined = tokio::select! {
            order = member.inbox.recv() => {
                match order {
                    Some(Order::Start(a)) => {
                        let Some(&item) = item_of.get(&a.task) else {
                            return Err(Error::State(format!(
                                "the scheduler started unknown task {}",
                                a.task
                            )));
                        };
                        let (sample, stage) = work[item];
                        let (wired, blocked) = wiring(plan, stage, &sample.id, &results, &inputs);
                        if let Some(reason) = blocked {
                            let skipped = skipped_stage(&sample.id, stage, reason);
                            skips.record(&skipped);
                            results.insert((sample.id.clone(), stage.id.clone()), skipped);
                            dispatcher.fail(a.task, Timestamp::now())?;
                            skips.after_failure(&sample.id, &mut results);
                            continue;
                        }
                        options.emit(RunEvent::Started {
                            sample: &sample.id,
                            stage: &stage.id,
                            instrument: &a.instrument,
                            attempt: a.attempt,
                        });
                        let (petri, state, stage, sample, no_cache, task) = (
                            petri.clone(),
                            state.clone(),
                            stage.clone(),
                            sample.id.clone(),
                            options.no_cache,
                            a.task,
                        );
                        let job = running.spawn(async move {
                            let r = exec_stage(&petri, &state, &sample, &stage, wired, no_cache)
                                .await;
                            (task, (sample, stage.id.clone()), r)
                        });
                        flight.started(a.task, a.instrument, job);
                    }
                    Some(Order::Stop { task, reason }) => {
                        flight.preempt(task, &reason, &work, &item_of, options);
                    }
                    // The dispatcher holds the sender while this run is a member.
                    None => break,
                }
                continue;
            }
            joined = running.join_next_with_id(), if !running.is_empty() => joined,
            () = sleep_for(wakeup) => {
                dispatcher.tick(Timestamp::now());
                continue;
            }
        };
        let (task, key, result) = match joined {
            None => continue,
            Some(Err(e)) if flight.cancelled.remove(&e.id()) => continue,
            Some(Err(e)) => return Err(Error::State(format!("stage task failed: {e}"))),
            // Preempted, but it ended before the abort took effect: it was
            // re-queued, and its next start reuses what it stored.
            Some(Ok((job, _))) if flight.cancelled.remove(&job) => continue,
            Some(Ok((_, out))) => out,
        };
        let mut stage = result?;
        (stage.instrument, stage.preemptions) = flight.ended(task);
        let now = Timestamp::now();
        options.emit(RunEvent::Ended(&stage));
        let goes_on = stage.status == "succeeded"
            || (stage.status == "salvaged" && continues(plan, &stage.stage));
        let metered = (stage.cache == "miss").then_some(stage.fuel_used);
        let sample = key.0.clone();
        results.insert(key, stage);
        if goes_on {
            dispatcher.complete(task, now, metered)?;
        } else {
            dispatcher.fail(task, now)?;
            skips.after_failure(&sample, &mut results);
        }
    }
    drop(member);
    // Whatever never ran: its instrument never became available.
    for (sample, stage) in &work {
        let k = (sample.id.clone(), stage.id.clone());
        if let std::collections::hash_map::Entry::Vacant(slot) = results.entry(k) {
            let reason = format!(
                "no instrument of class `{}` became available",
                stage.instrument
            );
            let skipped = skipped_stage(&sample.id, stage, reason);
            skips.record(&skipped);
            slot.insert(skipped);
        }
    }

    let mut stages = Vec::new();
    let mut edges = Vec::new();
    for (sample, s) in &work {
        let Some(r) = results.remove(&(sample.id.clone(), s.id.clone())) else {
            continue;
        };
        for (port, wire) in &s.inputs {
            let from = match wire {
                Wire::Input { name } => format!("inputs.{name}"),
                Wire::Stage { stage, port } => format!("{stage}.{port}"),
            };
            if let Some(d) = r.inputs.iter().find(|i| &i.port == port) {
                edges.push(Edge {
                    sample: sample.id.clone(),
                    from,
                    to_stage: s.id.clone(),
                    to_port: port.clone(),
                    sha256: d.sha256,
                });
            }
        }
        stages.push(r);
    }
    let status = if stages.iter().all(|s| s.status == "succeeded") {
        "completed"
    } else {
        "failed"
    };
    let mut record = RunRecord {
        schema: RUN_SCHEMA.to_owned(),
        id: run_id.clone(),
        pipeline: PipelineRef {
            name: plan.name.clone(),
            file: plan.file.display().to_string(),
            sha256: plan.file_sha256,
        },
        samples: plan.sample_sheet.as_ref().map(|(p, d)| SheetRef {
            file: p.display().to_string(),
            sha256: *d,
        }),
        sample_info: samples.iter().map(|s| (*s).clone()).collect(),
        inputs,
        stages,
        edges,
        root: Digest::of(b""),
        status: status.to_owned(),
        started_at,
        finished_at: now(),
    };
    record.root = record.compute_root();
    let seal = petri.records().save_run(&record)?;
    if let Ok(json) = serde_json::to_string(&dispatcher.fuel()) {
        state.save_fuel_model(&json).await?;
    }
    state
        .finish_run(&run_id, status, &record.finished_at, &seal.to_hex())
        .await?;
    Ok(record)
}

async fn ingest_inputs(
    petri: &Arc<Petri>,
    plan: &Plan,
    samples: &[&Sample],
) -> Result<Vec<RunInput>, Error> {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for sample in samples {
        for input in &plan.inputs {
            let Some(path) = sample.inputs.get(&input.name).cloned() else {
                continue;
            };
            let (sha256, size) = match plan.files.digest(&path) {
                // An uploaded file is a blob already: its bytes are checked
                // against this digest as they stream into the stage.
                Some(d) => (d, petri.blobs().size_of(&d)?),
                None => {
                    let p = petri.clone();
                    let path2 = path.clone();
                    tokio::task::spawn_blocking(move || p.blobs().put_file(&path2))
                        .await
                        .map_err(|e| Error::State(e.to_string()))??
                }
            };
            if let Some(expected) = input.sha256
                && expected != sha256
                && input.path.as_ref() == Some(&path)
            {
                problems.push(Problem {
                    field: format!("input `{}`", input.name),
                    problem: format!(
                        "{}: sha256 is {sha256}, the pipeline expects {expected}",
                        path.display()
                    ),
                });
            }
            out.push(RunInput {
                sample: sample.id.clone(),
                name: input.name.clone(),
                path: path.display().to_string(),
                sha256,
                size,
            });
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(Error::Request(problems))
    }
}

/// Stages running now: where, and how to stop them.
#[derive(Default)]
struct InFlight {
    /// Task → (instrument, its job).
    jobs: HashMap<TaskId, (String, AbortHandle)>,
    /// Jobs aborted by a preemption whose end is still to be collected.
    cancelled: HashSet<tokio::task::Id>,
    /// Preemptions so far, per task (they go into its run-record entry).
    notes: HashMap<TaskId, Vec<Preemption>>,
}

impl InFlight {
    fn started(&mut self, task: TaskId, instrument: String, job: AbortHandle) {
        self.jobs.insert(task, (instrument, job));
    }

    /// Stops the job of `task`, which the scheduler has already re-queued.
    fn preempt(
        &mut self,
        task: TaskId,
        reason: &str,
        work: &[(&Sample, &PlanStage)],
        item_of: &HashMap<TaskId, usize>,
        options: &RunOptions,
    ) {
        let Some((instrument, job)) = self.jobs.remove(&task) else {
            return;
        };
        job.abort();
        self.cancelled.insert(job.id());
        let Some((sample, stage)) = item_of.get(&task).and_then(|&i| work.get(i)) else {
            return;
        };
        options.emit(RunEvent::Preempted {
            sample: &sample.id,
            stage: &stage.id,
            instrument: &instrument,
            reason,
        });
        self.notes.entry(task).or_default().push(Preemption {
            instrument,
            reason: reason.to_owned(),
            at: now(),
        });
    }

    /// `task` ended: where it ran and its preemptions, for the run record.
    fn ended(&mut self, task: TaskId) -> (Option<String>, Vec<Preemption>) {
        let instrument = self.jobs.remove(&task).map(|(name, _)| name);
        (instrument, self.notes.remove(&task).unwrap_or_default())
    }
}

/// Sleeps for `wait`, or forever.
async fn sleep_for(wait: Option<Duration>) {
    match wait {
        Some(wait) => tokio::time::sleep(wait).await,
        None => std::future::pending().await,
    }
}

/// A scheduler refusal, as a host error.
fn schedule_error(e: ScheduleError) -> Error {
    Error::State(format!("scheduler: {e}"))
}

/// The scheduler's view of a plan stage: its module, instrument class and upstream stages.
fn task_spec(stage: &PlanStage) -> TaskSpec {
    let mut spec = TaskSpec::new(&stage.id, stage.module.digest.to_hex(), &stage.instrument);
    for (_, wire) in &stage.inputs {
        if let Wire::Stage { stage: up, .. } = wire
            && !spec.after.contains(up)
        {
            spec.after.push(up.clone());
        }
    }
    spec
}

/// Whether stages downstream of a salvaged `stage` run on its partial outputs.
fn continues(plan: &Plan, stage: &str) -> bool {
    plan.stages
        .iter()
        .any(|s| s.id == stage && s.policy.run_downstream_of_salvage)
}

/// A stage's inputs as (port, digest, source), or why it cannot run: a missing
/// sample input, or an upstream stage that did not succeed (or did not run).
fn wiring(
    plan: &Plan,
    stage: &PlanStage,
    sample: &str,
    results: &HashMap<(String, String), RunStage>,
    inputs: &[RunInput],
) -> (Vec<(String, Digest, String)>, Option<String>) {
    let mut wired = Vec::new();
    let mut blocked = None;
    let mut waiting = None;
    for (port, wire) in &stage.inputs {
        match wire {
            Wire::Input { name } => match inputs
                .iter()
                .find(|i| i.sample == sample && &i.name == name)
            {
                Some(i) => wired.push((port.clone(), i.sha256, format!("inputs.{name}"))),
                None => blocked = Some(format!("sample has no file for input `{name}`")),
            },
            Wire::Stage {
                stage: up,
                port: out,
            } => match results.get(&(sample.to_owned(), up.clone())) {
                None => waiting = Some(format!("upstream stage `{up}` did not run")),
                Some(r)
                    if r.status != "succeeded"
                        && !(r.status == "salvaged" && continues(plan, up)) =>
                {
                    blocked = Some(format!("upstream stage `{up}` {}", r.status))
                }
                Some(r) => match r.outputs.iter().find(|o| &o.port == out) {
                    Some(o) => wired.push((port.clone(), o.sha256, format!("{up}.{out}"))),
                    None => blocked = Some(format!("upstream stage `{up}` produced no `{out}`")),
                },
            },
        }
    }
    (wired, blocked.or(waiting))
}

/// Records stages that will not run.
struct Skips<'a> {
    options: &'a RunOptions,
    plan: &'a Plan,
    inputs: &'a [RunInput],
    dispatcher: &'a Dispatcher,
    /// Sample id → its id in the scheduler.
    sample_keys: &'a HashMap<String, String>,
}

impl Skips<'_> {
    fn record(&self, skipped: &RunStage) {
        self.options.emit(RunEvent::Ended(skipped));
    }

    /// After a stage of `sample` failed for good: records every stage the
    /// scheduler skipped because of it (in topological order, so each names
    /// the upstream stage that stopped it).
    fn after_failure(&self, sample: &str, results: &mut HashMap<(String, String), RunStage>) {
        let key = self.sample_keys.get(sample).map_or(sample, String::as_str);
        let skipped: Vec<String> = self.dispatcher.with(|scheduler| {
            scheduler
                .sample_tasks(key)
                .into_iter()
                .filter_map(|id| scheduler.task(id))
                .filter(|task| task.state == TaskState::Skipped)
                .map(|task| task.stage.clone())
                .collect()
        });
        for name in skipped {
            let key = (sample.to_owned(), name.clone());
            if results.contains_key(&key) {
                continue;
            }
            let Some(stage) = self.plan.stages.iter().find(|s| s.id == name) else {
                continue;
            };
            let (_, blocked) = wiring(self.plan, stage, sample, results, self.inputs);
            let reason = blocked.unwrap_or_else(|| "an upstream stage failed".into());
            let skipped = skipped_stage(sample, stage, reason);
            self.record(&skipped);
            results.insert(key, skipped);
        }
    }
}

fn skipped_stage(sample: &str, stage: &PlanStage, reason: String) -> RunStage {
    RunStage {
        sample: sample.to_owned(),
        stage: stage.id.clone(),
        name: stage.manifest.name.clone(),
        version: stage.manifest.version.clone(),
        module_sha256: stage.module.digest,
        params_sha256: stage.params.digest(),
        status: "skipped".into(),
        cache: "none".into(),
        cache_key: None,
        record_id: None,
        record_sha256: None,
        inputs: Vec::new(),
        outputs: Vec::new(),
        fuel_used: 0,
        instrument: None,
        attempts: Vec::new(),
        preemptions: Vec::new(),
        reason: Some(reason),
    }
}

fn decision_kind(d: &Decision) -> DecisionKind {
    match d {
        Decision::Retry => DecisionKind::Retry,
        Decision::RetryWith(_) => DecisionKind::RetryWith,
        Decision::Skip => DecisionKind::Skip,
        Decision::Salvage => DecisionKind::Salvage,
        Decision::Abort => DecisionKind::Abort,
    }
}

/// Runs one stage with its policy, or reuses a cached result.
async fn exec_stage(
    petri: &Arc<Petri>,
    state: &StateStore,
    sample: &str,
    stage: &PlanStage,
    wired: Vec<(String, Digest, String)>,
    no_cache: bool,
) -> Result<RunStage, Error> {
    let inputs: Vec<(String, Digest)> = wired.iter().map(|(p, d, _)| (p.clone(), *d)).collect();
    let key = cache_key(petri, stage, &inputs);
    let mut result = skipped_stage(sample, stage, String::new());
    result.reason = None;
    result.cache_key = Some(key);

    if !no_cache && let Some((hit, seal)) = cached_record(petri, state, &key).await? {
        result.status = "succeeded".into();
        result.cache = "hit".into();
        result.record_id = Some(hit.id.clone());
        result.record_sha256 = Some(seal);
        result.inputs = hit.inputs.clone();
        result.outputs = hit.outputs.clone();
        result.fuel_used = hit.fuel_used;
        return Ok(result);
    }

    result.cache = "miss".into();
    let mut params: Vec<(String, RawParam)> = match stage.params.to_json() {
        serde_json::Value::Object(m) => {
            m.into_iter().map(|(k, v)| (k, RawParam::Json(v))).collect()
        }
        _ => Vec::new(),
    };
    let mut fuel = stage.policy.fuel;
    let mut attempt = 1;
    loop {
        let request = RunRequest {
            params: params.clone(),
            inputs: inputs
                .iter()
                .map(|(p, d)| (p.clone(), InputSource::Blob(*d)))
                .collect(),
            limits: Limits {
                fuel,
                wall_clock_secs: stage.policy.wall_clock_secs,
                ..Limits::default()
            },
            attempt,
        };
        let (record, seal) = petri.run_sealed(&stage.module, request).await?;
        result.record_id = Some(record.id.clone());
        result.record_sha256 = Some(seal);
        result.inputs = record.inputs.clone();
        result.fuel_used = record.fuel_used;
        let failure = match &record.outcome {
            Outcome::Succeeded { .. } => {
                result.attempts.push(Attempt {
                    record_id: record.id.clone(),
                    record_sha256: Some(seal),
                    outcome: "succeeded".into(),
                    decision: None,
                });
                result.status = "succeeded".into();
                result.outputs = record.outputs.clone();
                // Outputs and record are durable: only now is the result reusable.
                state
                    .remember(&key.to_hex(), &record.id, &seal.to_hex())
                    .await?;
                break;
            }
            Outcome::Failed { failure } => failure.clone(),
        };
        state.seal(&record.id, &seal.to_hex()).await?;
        // Ask the stage (stage errors) or apply the host rule (fuel), then check the policy.
        let proposed = match &failure {
            Failure::Stage { error } => {
                match ask_recover(petri, stage, error, attempt, &params).await? {
                    Ok(decision) => decision,
                    // The hook is stage code: its failure ends this stage, not the run.
                    Err(hook) => {
                        result.attempts.push(Attempt {
                            record_id: record.id.clone(),
                            record_sha256: Some(seal),
                            outcome: failure.to_string(),
                            decision: Some(format!("abort: {hook}")),
                        });
                        result.status = "failed".into();
                        result.reason = Some(format!("{failure}; then {hook}"));
                        break;
                    }
                }
            }
            Failure::FuelExhausted { .. } if stage.policy.fuel_growth > 1 => Decision::Retry,
            _ => Decision::Abort,
        };
        let kind = decision_kind(&proposed);
        let allowed = kind == DecisionKind::Abort || stage.policy.allow.contains(&kind);
        let retrying = matches!(kind, DecisionKind::Retry | DecisionKind::RetryWith);
        let note = if !allowed {
            format!("{kind:?} proposed but not allowed by policy: abort").to_lowercase()
        } else if retrying && attempt >= stage.policy.max_attempts {
            format!(
                "{kind:?} proposed but max-attempts ({}) reached: abort",
                stage.policy.max_attempts
            )
            .to_lowercase()
        } else {
            serde_json::to_value(kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default()
        };
        result.attempts.push(Attempt {
            record_id: record.id.clone(),
            record_sha256: Some(seal),
            outcome: failure.to_string(),
            decision: Some(note),
        });
        match (allowed, proposed) {
            (true, Decision::Retry) if attempt < stage.policy.max_attempts => {
                if matches!(failure, Failure::FuelExhausted { .. }) {
                    fuel = fuel.saturating_mul(stage.policy.fuel_growth);
                }
            }
            (true, Decision::RetryWith(changed)) if attempt < stage.policy.max_attempts => {
                params = with_changes(&params, &changed);
            }
            (true, Decision::Salvage) => {
                result.status = "salvaged".into();
                result.outputs = record.partial_outputs.clone();
                result.reason = Some(format!("partial outputs salvaged after: {failure}"));
                break;
            }
            (true, Decision::Skip) => {
                result.status = "skipped".into();
                result.reason = Some(format!(
                    "skipped by the stage's recover hook after: {failure}"
                ));
                break;
            }
            _ => {
                result.status = "failed".into();
                result.reason = Some(failure.to_string());
                break;
            }
        }
        attempt += 1;
    }
    Ok(result)
}

/// `params` with a `retry-with` proposal's changes applied.
fn with_changes(
    params: &[(String, RawParam)],
    changed: &[crate::bindings::Param],
) -> Vec<(String, RawParam)> {
    let mut out = params.to_vec();
    for p in changed {
        let value = crate::params::value_to_json(&p.value);
        out.retain(|(n, _)| n != &p.name);
        out.push((p.name.clone(), RawParam::Json(value)));
    }
    out
}

/// The stage's `recover` proposal. The hook is stage code: one that traps,
/// runs out of fuel or memory, or proposes `retry-with` params its own
/// manifest rejects gives `Err(Failure::Hook)`, which fails this stage only.
async fn ask_recover(
    petri: &Petri,
    stage: &PlanStage,
    error: &crate::bindings::StageError,
    attempt: u32,
    params: &[(String, RawParam)],
) -> Result<Result<Decision, Failure>, Error> {
    let hook = |message: String| Failure::Hook {
        hook: "recover".into(),
        message,
    };
    let decision = match petri.recover(&stage.module, error, attempt).await {
        Ok(d) => d,
        Err(Error::Recover(f)) => return Ok(Err(hook(f.to_string()))),
        Err(Error::Instantiate(e)) => return Ok(Err(hook(format!("instantiating: {e:#}")))),
        Err(e) => return Err(e),
    };
    if let Decision::RetryWith(changed) = &decision
        && let Err(problems) =
            ParamSet::resolve(&stage.manifest.params, &with_changes(params, changed))
    {
        let list: Vec<String> = problems.iter().map(ToString::to_string).collect();
        return Ok(Err(hook(format!(
            "retry-with proposes invalid params: {}",
            list.join("; ")
        ))));
    }
    Ok(Ok(decision))
}

/// The record behind a cache entry (and its seal), if the record is the one
/// sealed when it was written and its outputs are all still stored and
/// intact. Each output is re-hashed (one SHA-256 pass over the outputs per
/// hit): a tampered or damaged output or record is never reused; the entry is
/// forgotten and the stage runs again, which stores (heals) the right bytes.
async fn cached_record(
    petri: &Arc<Petri>,
    state: &StateStore,
    key: &Digest,
) -> Result<Option<(StageRecord, Digest)>, Error> {
    let Some(id) = state.cached(&key.to_hex()).await? else {
        return Ok(None);
    };
    let seal = state
        .seal_of(&id)
        .await?
        .and_then(|s| s.parse::<Digest>().ok());
    let p = petri.clone();
    let usable = tokio::task::spawn_blocking(move || {
        let seal = seal?;
        let record = p.records().load_sealed(&id, &seal).ok()?;
        let intact = matches!(record.outcome, Outcome::Succeeded { .. })
            && record
                .outputs
                .iter()
                .all(|o: &PortData| p.blobs().verify(&o.sha256).unwrap_or(false));
        intact.then_some((record, seal))
    })
    .await
    .map_err(|e| Error::State(e.to_string()))?;
    if usable.is_none() {
        state.forget(&key.to_hex()).await?;
    }
    Ok(usable)
}
