//! Stage attempts on Slurm: each attempt is a stored `Task`, submitted in short batches (one job array per module and resources), followed to its end, and `scancel`ed when its stage is dropped.
//!
//! The run's stage futures each hand a [`Submission`] to one batcher
//! ([`Remote`]); it collects what arrives within [`BATCH_WINDOW`] of the first
//! and submits it with one `SlurmExecutor::submit`, which groups tasks of
//! equal (partition, resources, nice) into one array: ready stages of one
//! module across samples reach Slurm as one `sbatch --array`. Each stage then
//! waits for its own job; a stage future dropped before its job ended (the
//! run cancelled or interrupted, the stage preempted) cancels the job,
//! unless the daemon is stopping: then the job goes on and the resumed run
//! re-attaches to it.
//!
//! Every job is recorded in the state database as soon as sbatch names it
//! (`store/jobs.rs`). An attempt first looks there for a job of the same
//! run, sample, stage and task that was not given up: a run resumed after a
//! daemon restart follows that job (or reads the end it reached while no
//! daemon watched) instead of submitting the task again. Every array is
//! named `petri-RUN_ID`, so a job whose owner died between sbatch and its
//! row is found in Slurm (`SlurmExecutor::named_jobs`) and adopted.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::error::Error;
use crate::executor::slurm::priority;
use crate::executor::{Recovery, SlurmExecutor, SlurmJob, Submission, Task};
use crate::pipeline::plan::PlanStage;
use crate::provenance::StageRecord;
use crate::schedule::{Priority, Span};
use crate::stage::params::RawParam;
use crate::stage::petri::{InputSource, Petri, RunRequest};
use crate::store::digest::Digest;
use crate::store::jobs::{JobId, JobOwner, Jobs, TrackedState};
use crate::store::lease::epoch_ms;

/// How long the batcher waits for more submissions after the first of a batch.
pub const BATCH_WINDOW: Duration = Duration::from_millis(200);

/// How many times one attempt's task is submitted again after its job was
/// lost (node failure, preemption, vanished) before the stage fails.
pub const MAX_REQUEUES: u32 = 3;

/// How one attempt on Slurm ended.
pub(super) enum Attempted {
    /// `petri exec` ran it to its end: the sealed record (success or a
    /// failure the stage's policy handles).
    Record(Box<StageRecord>, Digest),
    /// It ended without a record (a host failure, Slurm's time or memory
    /// limit, lost too often, cancelled): the stage fails for this reason.
    Unrecorded(String),
}

/// A submission waiting for the next batch, and where its job goes.
struct Pending {
    submission: Submission,
    reply: oneshot::Sender<Result<SlurmJob, String>>,
}

/// The Slurm executor of one run, with its batcher.
#[derive(Clone)]
pub(super) struct Remote {
    slurm: Arc<SlurmExecutor>,
    queue: mpsc::UnboundedSender<Pending>,
    /// Where the run's jobs are recorded.
    jobs: Jobs,
    run_id: String,
    /// Once cancelled, a dropped stage leaves its job running (the daemon is
    /// stopping; the resumed run re-attaches to it).
    keep_jobs: Option<CancellationToken>,
    /// Jobs cancelled because their stage was dropped.
    cancelled: Arc<AtomicUsize>,
    /// Jobs of this run that Slurm knows and no row records, by task: read
    /// once, before the run's first submission (see [`Remote::adopt`]).
    orphans: Arc<tokio::sync::Mutex<Option<Orphans>>>,
}

/// Unrecorded jobs by task, oldest first.
type Orphans = HashMap<Digest, Vec<SlurmJob>>;

impl Remote {
    /// Starts the batcher (a tokio task that ends with the last `Remote`;
    /// its handle is returned to wait for its last cancels).
    pub(super) fn start(
        slurm: SlurmExecutor,
        jobs: Jobs,
        run_id: &str,
        keep_jobs: Option<CancellationToken>,
    ) -> (Remote, tokio::task::JoinHandle<()>) {
        let slurm = Arc::new(slurm.named(&format!("petri-{run_id}")));
        let cancelled = Arc::new(AtomicUsize::new(0));
        let (queue, rx) = mpsc::unbounded_channel();
        let batcher = tokio::spawn(batcher(slurm.clone(), rx, cancelled.clone()));
        let remote = Remote {
            slurm,
            queue,
            jobs,
            run_id: run_id.to_owned(),
            keep_jobs,
            cancelled,
            orphans: Arc::default(),
        };
        (remote, batcher)
    }

    /// Whether `stage` runs as a job (its instrument class goes to Slurm)
    /// or in this process.
    pub(super) fn runs(&self, stage: &PlanStage) -> bool {
        self.slurm.runs_class(&stage.instrument)
    }

    /// Once every stage holding a clone is gone: waits for the batcher's
    /// last cancels; how many jobs were cancelled because their stage was
    /// dropped.
    pub(super) async fn finish(self, batcher: tokio::task::JoinHandle<()>) -> usize {
        let cancelled = self.cancelled.clone();
        drop(self);
        let _ = batcher.await;
        cancelled.load(Ordering::SeqCst)
    }

    /// Runs one attempt of `stage` for `sample` as a Slurm job: builds and
    /// stores its task, re-attaches to a job of this run that already runs
    /// it or submits it at the sample's `priority` and slack, again
    /// after a lost job or an operator's `scancel` up to [`MAX_REQUEUES`]
    /// times, and reads its sealed record.
    pub(super) async fn attempt(
        &self,
        petri: &Arc<Petri>,
        sample: &str,
        stage: &PlanStage,
        request: &RunRequest,
        (priority, slack): (Priority, Option<Span>),
    ) -> Result<Attempted, Error> {
        let measured = Instant::now();
        let task = task_of(petri, stage, request);
        let digest = task
            .store(petri.blobs())
            .map_err(|e| Error::State(e.to_string()))?;
        let mut submission = Submission::new(digest, &task);
        submission.class = Some(stage.instrument.clone());
        submission.priority = priority;
        submission.slack = slack;
        let owner = JobOwner {
            run_id: self.run_id.clone(),
            sample: sample.to_owned(),
            stage: stage.id.clone(),
            attempt: request.attempt,
            task: digest,
        };
        let mut attached = match self.jobs.attachable(&owner).await? {
            Some(t) => Some(SlurmJob {
                task: digest,
                array_job: t.id.array_job,
                index: t.id.index,
            }),
            None => self.adopt(&owner).await?,
        };
        let mut requeues = 0;
        loop {
            let end = self
                .run_once(&owner, attached.take(), submission.clone(), measured)
                .await?;
            let state = if matches!(end.recovery(), Recovery::Requeue | Recovery::Stop) {
                TrackedState::Requeued
            } else {
                TrackedState::Ended
            };
            self.jobs.set(job_id(&end.job), state).await?;
            match end.recovery() {
                Recovery::Record => return self.record(petri, &end),
                // A cancel petri makes drops this future before the job's end
                // is seen: a cancel seen here is an operator's `scancel` (or
                // petri's, of a job a resumed run re-attached to), and the
                // task goes back to the cluster like a lost job.
                Recovery::Requeue | Recovery::Stop if requeues < MAX_REQUEUES => requeues += 1,
                Recovery::Requeue | Recovery::Stop => {
                    return Ok(Attempted::Unrecorded(format!(
                        "slurm job {} lost or cancelled ({:?}) {} times; not resubmitted again",
                        end.job.id(),
                        end.outcome,
                        MAX_REQUEUES + 1
                    )));
                }
                Recovery::Fail(kind) => {
                    return Ok(Attempted::Unrecorded(format!(
                        "slurm job {} ended without a record: {kind} ({:?})",
                        end.job.id(),
                        end.outcome
                    )));
                }
            }
        }
    }

    /// The newest job of this run that runs `owner`'s task but that no row
    /// records (sbatch named it, then its owner died before writing the
    /// row), recorded now: followed instead of submitting the task again.
    async fn adopt(&self, owner: &JobOwner) -> Result<Option<SlurmJob>, Error> {
        let mut orphans = self.orphans.lock().await;
        if orphans.is_none() {
            *orphans = Some(self.unrecorded().await?);
        }
        let Some(job) = orphans
            .as_mut()
            .and_then(|o| o.get_mut(&owner.task))
            .and_then(Vec::pop)
        else {
            return Ok(None);
        };
        let now = epoch_ms(SystemTime::now());
        self.jobs.submitted(owner, job_id(&job), now).await?;
        Ok(Some(job))
    }

    /// This run's jobs in Slurm that no row records, by task.
    async fn unrecorded(&self) -> Result<Orphans, Error> {
        let recorded: HashSet<JobId> = self
            .jobs
            .of_run(&self.run_id)
            .await?
            .into_iter()
            .map(|t| t.id)
            .collect();
        let named = self
            .slurm
            .named_jobs()
            .await
            .map_err(|e| Error::State(format!("looking for this run's slurm jobs: {e}")))?;
        let mut orphans = Orphans::new();
        for job in named {
            if !recorded.contains(&job_id(&job)) {
                orphans.entry(job.task).or_default().push(job);
            }
        }
        Ok(orphans)
    }

    /// Follows `attached`, or submits through the batcher (recording the
    /// job), and waits for the job's end; the job is cancelled if this
    /// future is dropped first.
    async fn run_once(
        &self,
        owner: &JobOwner,
        attached: Option<SlurmJob>,
        mut submission: Submission,
        measured: Instant,
    ) -> Result<crate::executor::SlurmEnd, Error> {
        let fresh = attached.is_none();
        let (priority, slack) = (submission.priority, submission.slack);
        let job = match attached {
            Some(job) => job,
            None => {
                submission.slack = slack_now(slack, measured);
                self.submit(submission).await?
            }
        };
        let mut guard = CancelOnDrop {
            remote: self,
            job: Some(job.clone()),
        };
        if fresh {
            let now = epoch_ms(SystemTime::now());
            self.jobs.submitted(owner, job_id(&job), now).await?;
        }
        // While the job waits in Slurm's queue its slack shrinks: its nice follows.
        let nice = || Some(priority::nice(priority, slack_now(slack, measured)));
        let end = self
            .slurm
            .wait_renicing(std::slice::from_ref(&job), nice)
            .await
            .map_err(|e| Error::State(format!("following slurm job {}: {e}", job.id())))?;
        guard.job = None;
        end.into_iter()
            .next()
            .ok_or_else(|| Error::State(format!("slurm job {}: no end", job.id())))
    }

    /// Hands `submission` to the batcher; the job sbatch named for it.
    async fn submit(&self, submission: Submission) -> Result<SlurmJob, Error> {
        let (reply, job) = oneshot::channel();
        self.queue
            .send(Pending { submission, reply })
            .map_err(|_| Error::State("the slurm batcher has stopped".into()))?;
        job.await
            .map_err(|_| Error::State("the slurm batcher has stopped".into()))?
            .map_err(|e| Error::State(format!("submitting to slurm: {e}")))
    }

    /// The sealed record a job's report names.
    fn record(&self, petri: &Petri, end: &crate::executor::SlurmEnd) -> Result<Attempted, Error> {
        let Some(report) = &end.report else {
            return Ok(Attempted::Unrecorded(format!(
                "slurm job {} ended ({:?}) but its report is not in {}",
                end.job.id(),
                end.outcome,
                self.slurm.output_path(&end.job).display()
            )));
        };
        let record = petri.records().load_sealed(&report.record, &report.seal)?;
        Ok(Attempted::Record(Box::new(record), report.seal))
    }
}

/// Cancels a job still running when its stage's future is dropped, unless
/// the run's jobs are to be kept (the daemon is stopping).
struct CancelOnDrop<'a> {
    remote: &'a Remote,
    job: Option<SlurmJob>,
}

impl Drop for CancelOnDrop<'_> {
    fn drop(&mut self) {
        let keep = self
            .remote
            .keep_jobs
            .as_ref()
            .is_some_and(CancellationToken::is_cancelled);
        if let Some(job) = self.job.take()
            && !keep
        {
            self.remote.slurm.cancel_blocking(&[job]);
            self.remote.cancelled.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// `slack`, as it was at `measured`, now: it shrinks while the stage waits.
fn slack_now(slack: Option<Span>, measured: Instant) -> Option<Span> {
    let waited = i64::try_from(measured.elapsed().as_millis()).unwrap_or(i64::MAX);
    slack.map(|s| Span(s.0.saturating_sub(waited)))
}

fn job_id(job: &SlurmJob) -> JobId {
    JobId {
        array_job: job.array_job,
        index: job.index,
    }
}

/// The task of one attempt: the same module, params, inputs, limits and
/// attempt `run_sealed` would be given, under this host's engine profile.
fn task_of(petri: &Petri, stage: &PlanStage, request: &RunRequest) -> Task {
    let params: BTreeMap<String, serde_json::Value> = request
        .params
        .iter()
        .map(|(name, value)| {
            let value = match value {
                RawParam::Json(v) => v.clone(),
                RawParam::Text(t) => serde_json::Value::String(t.clone()),
            };
            (name.clone(), value)
        })
        .collect();
    let inputs: BTreeMap<String, Digest> = request
        .inputs
        .iter()
        .filter_map(|(port, source)| match source {
            InputSource::Blob(d) => Some((port.clone(), *d)),
            // The run loop hands stages blobs only (inputs are ingested first).
            InputSource::Path(_) => None,
        })
        .collect();
    Task::new(
        stage.module.digest,
        params,
        inputs,
        request.limits,
        request.attempt,
        petri.profile_id(),
    )
}

/// Collects submissions for [`BATCH_WINDOW`] after the first of each batch,
/// then submits them at once (one array per partition, resources and nice).
async fn batcher(
    slurm: Arc<SlurmExecutor>,
    mut rx: mpsc::UnboundedReceiver<Pending>,
    cancelled: Arc<AtomicUsize>,
) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        let deadline = tokio::time::Instant::now() + BATCH_WINDOW;
        while let Ok(Some(next)) = tokio::time::timeout_at(deadline, rx.recv()).await {
            batch.push(next);
        }
        let submissions: Vec<Submission> = batch.iter().map(|p| p.submission.clone()).collect();
        match slurm.submit(&submissions).await {
            Ok(jobs) => {
                for (pending, job) in batch.into_iter().zip(jobs) {
                    // Its stage was dropped while the batch was collected.
                    if let Err(Ok(job)) = pending.reply.send(Ok(job)) {
                        let _ = slurm.cancel(&[job]).await;
                        cancelled.fetch_add(1, Ordering::SeqCst);
                    }
                }
            }
            Err(e) => {
                for pending in batch {
                    let _ = pending.reply.send(Err(e.to_string()));
                }
            }
        }
    }
}
