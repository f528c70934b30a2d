//! Executing a validated plan: ingest inputs, run ready stages concurrently, reuse cached results,
//! apply each stage's recovery policy, and write the run record.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::task::{AbortHandle, JoinSet};
use tokio_util::sync::CancellationToken;

use crate::dispatcher::{Dispatcher, Order, fuel_history};
use crate::error::Error;
use crate::executor::Executor;
use crate::pipeline::plan::{Plan, PlanStage, Wire};
use crate::pipeline::record::{
    CacheUse, Edge, PipelineRef, Preemption, RUN_SCHEMA, RunRecord, RunStage, SheetRef, StageStatus,
};
use crate::pipeline::samples::Sample;
use crate::schedule::{Instrument, Priority, ScheduleError, TaskId, TaskSpec, Timestamp};
use crate::stage::petri::Petri;
use crate::store::digest::Digest;
use crate::store::lease::Fence;
use crate::store::places::Places;
use crate::store::quota::Quota;
use crate::store::state::StateStore;

mod commits;
mod inputs;
mod probe;
mod recover;
mod remote;
mod skips;
mod stage;

use commits::Commits;
use inputs::{ingest_inputs, wiring};
use skips::{Skips, continues, skipped_stage};
pub use stage::cache_key;
use stage::{Commit, exec_stage};

/// Stages a run's own scheduler lets run at once on Slurm (each is a job;
/// the cluster decides when it starts).
const SLURM_SLOTS: usize = 1000;

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
    /// The claim a daemon holds on this run: every stage cache entry and the
    /// run record's commit check it, and are refused once another daemon
    /// has taken the run over. `None`: the run is this process's alone.
    pub fence: Option<Fence>,
    /// Places on instruments shared with other daemons: a stage takes one
    /// in the database before it runs (`None`: this process's scheduler
    /// alone bounds each instrument).
    pub places: Option<Places>,
    /// The run's group quotas (fuel per run and per day, store bytes): every
    /// attempt is granted its fuel and output room from them before it
    /// starts. `None`: no quotas.
    pub quota: Option<Quota>,
    /// Where stages execute: `None` or `Local`, in this process
    /// (`Petri::run_sealed`); `Slurm`, each attempt as a `petri exec` job
    /// (a fan-out's ready stages batched into job arrays, see `remote.rs`).
    pub executor: Option<Executor>,
    /// Stops the run when cancelled (`petri run` on SIGINT or SIGTERM): its
    /// running stages are dropped, their Slurm jobs `scancel`ed, and
    /// [`run_plan`] returns [`Error::Interrupted`]. The run is not recorded
    /// as finished: running it again resumes it.
    pub interrupt: Option<CancellationToken>,
    /// Once cancelled, stages dropped with the run leave their Slurm jobs
    /// running (the daemon passes its shutdown: a checkpointed run
    /// re-attaches to its jobs when it resumes). `None`: dropped stages
    /// always cancel their jobs.
    pub keep_jobs: Option<CancellationToken>,
}

impl std::fmt::Debug for RunOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunOptions")
            .field("no_cache", &self.no_cache)
            .field("instruments", &self.instruments)
            .field(
                "executor",
                &match &self.executor {
                    Some(Executor::Slurm(_)) => "slurm",
                    _ => "local",
                },
            )
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
            // On Slurm the cluster's scheduler bounds what runs at once.
            let slots = match &options.executor {
                Some(Executor::Slurm(_)) => SLURM_SLOTS,
                _ => std::thread::available_parallelism().map_or(2, |n| n.get()),
            };
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
            s.profile()
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

    let remote = match &options.executor {
        Some(Executor::Slurm(slurm)) => Some(remote::Remote::start(
            slurm.clone(),
            state.jobs(),
            &run_id,
            options.keep_jobs.clone(),
        )),
        _ => None,
    };
    let absent = match options.no_cache {
        true => HashSet::new(),
        false => probe::absent_keys(&petri, state, plan, &samples, &inputs).await?,
    };
    let commits =
        Arc::new(Commits::new(petri.clone(), state.clone(), options.fence.clone()).absent(absent));
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
                        // Checked when the run joined the scheduler (`profile`).
                        let priority = sample.priority.parse().unwrap_or(Priority::Normal);
                        let (petri, state, stage, sample, task) = (
                            petri.clone(),
                            state.clone(),
                            stage.clone(),
                            sample.id.clone(),
                            a.task,
                        );
                        let commit = Commit {
                            no_cache: options.no_cache,
                            commits: commits.clone(),
                            quota: options.quota.clone(),
                            remote: remote
                                .as_ref()
                                .filter(|(r, _)| r.runs(&stage))
                                .map(|(r, _)| r.clone()),
                            priority,
                            slack: a.slack,
                        };
                        let (places, instrument) = (options.places.clone(), a.instrument.clone());
                        let job = running.spawn(async move {
                            let place = take_place(places, &instrument, &sample, &stage.id).await;
                            let r = match place {
                                Ok(_place) => {
                                    exec_stage(&petri, &state, &sample, &stage, wired, &commit)
                                        .await
                                }
                                Err(e) => Err(e),
                            };
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
            () = sleep_for(commits.due_in()) => {
                commits.flush().await?;
                continue;
            }
            () = cancelled(options.interrupt.as_ref()) => None,
        };
        if options
            .interrupt
            .as_ref()
            .is_some_and(CancellationToken::is_cancelled)
        {
            let stopped = interrupted(running, remote).await;
            // What finished is kept: resuming reuses it.
            commits.flush().await?;
            return Err(stopped);
        }
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
        let goes_on = stage.status == StageStatus::Succeeded
            || (stage.status == StageStatus::Salvaged && continues(plan, &stage.stage));
        let metered = (stage.cache == CacheUse::Miss).then_some(stage.fuel_used);
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
    let status = if stages.iter().all(|s| s.status == StageStatus::Succeeded) {
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
        combinations: plan.combinations.clone(),
        inputs,
        stages,
        edges,
        root: Digest::of(b""),
        status: status.to_owned(),
        started_at,
        finished_at: now(),
    };
    record.root = record.compute_root();
    // Every stage's blobs durable and its rows committed before the run
    // record that names them.
    commits.flush().await?;
    let seal = petri.records().save_run(&record)?;
    state
        .add_fuel_observations(&dispatcher.drain_fuel())
        .await?;
    state
        .finish_run(
            &run_id,
            status,
            &record.finished_at,
            &seal.to_hex(),
            options.fence.as_ref(),
        )
        .await?;
    Ok(record)
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

/// Waits until `token` is cancelled, or forever.
async fn cancelled(token: Option<&CancellationToken>) {
    match token {
        Some(token) => token.cancelled().await,
        None => std::future::pending().await,
    }
}

/// Stops an interrupted run: drops every running stage (their jobs are
/// cancelled as they drop) and waits for the batcher's last cancels.
async fn interrupted<T: 'static>(
    mut running: JoinSet<T>,
    remote: Option<(remote::Remote, tokio::task::JoinHandle<()>)>,
) -> Error {
    running.abort_all();
    while running.join_next().await.is_some() {}
    let cancelled_jobs = match remote {
        Some((remote, batcher)) => remote.finish(batcher).await,
        None => 0,
    };
    Error::Interrupted { cancelled_jobs }
}

/// Sleeps for `wait`, or forever.
async fn sleep_for(wait: Option<Duration>) {
    match wait {
        Some(wait) => tokio::time::sleep(wait).await,
        None => std::future::pending().await,
    }
}

/// A place on a shared instrument for one stage (none if not shared).
async fn take_place(
    places: Option<Places>,
    instrument: &str,
    sample: &str,
    stage: &str,
) -> Result<Option<crate::store::places::Place>, Error> {
    match places {
        Some(p) => Ok(p.take(instrument, &format!("{sample}/{stage}")).await?),
        None => Ok(None),
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
