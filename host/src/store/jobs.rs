//! Batch jobs a run submitted (`slurm_jobs`): written when the batch system names a job, read
//! when a resumed run (a restarted daemon) re-attaches to its stage's job instead of submitting
//! its task again.
//!
//! A row is one array task: which run, sample, stage and attempt it executes,
//! the task's digest, and a [`TrackedState`]. Resuming an attempt looks up the
//! newest job of the same (run, sample, stage, task) that was not given up
//! ([`TrackedState::Requeued`]): a job still running is followed again, and a
//! job that ended while no daemon watched gives its result once, from its
//! report, as if it had been followed all along.

use std::str::FromStr;

use super::digest::Digest;
use super::state::{StateError, StateStore};

/// What petri knows of a submitted job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackedState {
    /// Submitted; its end has not been seen (or its follower stopped).
    Submitted,
    /// Its end was the attempt's result (a record, or a failure without one).
    Ended,
    /// Lost or cancelled: its task was submitted again, or the attempt gave up.
    Requeued,
}

impl TrackedState {
    pub fn as_str(self) -> &'static str {
        match self {
            TrackedState::Submitted => "submitted",
            TrackedState::Ended => "ended",
            TrackedState::Requeued => "requeued",
        }
    }
}

impl FromStr for TrackedState {
    type Err = StateError;

    fn from_str(s: &str) -> Result<TrackedState, StateError> {
        match s {
            "submitted" => Ok(TrackedState::Submitted),
            "ended" => Ok(TrackedState::Ended),
            "requeued" => Ok(TrackedState::Requeued),
            other => Err(StateError::Sql(sqlx::Error::Decode(
                format!("slurm_jobs.state `{other}`").into(),
            ))),
        }
    }
}

/// The attempt a job executes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobOwner {
    pub run_id: String,
    pub sample: String,
    pub stage: String,
    pub attempt: u32,
    /// The task the job runs (its digest names the whole execution).
    pub task: Digest,
}

/// A job: array task `index` of array job `array_job`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct JobId {
    pub array_job: u64,
    pub index: u32,
}

/// One row of `slurm_jobs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackedJob {
    pub id: JobId,
    pub owner: JobOwner,
    pub state: TrackedState,
    pub submitted_ms: i64,
}

/// The jobs table of a state database.
#[derive(Debug, Clone)]
pub struct Jobs {
    state: StateStore,
}

type Row = (i64, i64, String, String, String, i64, String, String, i64);

impl Jobs {
    pub fn new(state: StateStore) -> Jobs {
        Jobs { state }
    }

    /// Records that `id` was submitted for `owner` at `now_ms`.
    pub async fn submitted(
        &self,
        owner: &JobOwner,
        id: JobId,
        now_ms: i64,
    ) -> Result<(), StateError> {
        sqlx::query(self.state.db().sql(
            "INSERT INTO slurm_jobs (array_job, array_index, run_id, sample, stage, attempt, task, state, submitted_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8::slurm_job_state, $9)
             ON CONFLICT (array_job, array_index) DO UPDATE SET
               run_id = excluded.run_id, sample = excluded.sample, stage = excluded.stage,
               attempt = excluded.attempt, task = excluded.task, state = excluded.state,
               submitted_ms = excluded.submitted_ms",
        ))
        .bind(i64::try_from(id.array_job).unwrap_or(i64::MAX))
        .bind(i64::from(id.index))
        .bind(&owner.run_id)
        .bind(&owner.sample)
        .bind(&owner.stage)
        .bind(i64::from(owner.attempt))
        .bind(owner.task.to_hex())
        .bind(TrackedState::Submitted.as_str())
        .bind(now_ms)
        .execute(self.state.pool())
        .await?;
        Ok(())
    }

    /// Sets the state of job `id`.
    pub async fn set(&self, id: JobId, state: TrackedState) -> Result<(), StateError> {
        sqlx::query(self.state.db().sql(
            "UPDATE slurm_jobs SET state = $1::slurm_job_state WHERE array_job = $2 AND array_index = $3",
        ))
            .bind(state.as_str())
            .bind(i64::try_from(id.array_job).unwrap_or(i64::MAX))
            .bind(i64::from(id.index))
            .execute(self.state.pool())
            .await?;
        Ok(())
    }

    /// The newest job of `owner`'s attempt that was not given up: the one a
    /// resumed attempt re-attaches to.
    pub async fn attachable(&self, owner: &JobOwner) -> Result<Option<TrackedJob>, StateError> {
        let row: Option<Row> = sqlx::query_as(self.state.db().sql(
            "SELECT array_job, array_index, run_id, sample, stage, attempt, task, CAST(state AS TEXT),
                    submitted_ms
             FROM slurm_jobs
             WHERE run_id = $1 AND sample = $2 AND stage = $3 AND task = $4
               AND state <> $5::slurm_job_state
             ORDER BY submitted_ms DESC, array_job DESC LIMIT 1",
        ))
            .bind(&owner.run_id)
            .bind(&owner.sample)
            .bind(&owner.stage)
            .bind(owner.task.to_hex())
            .bind(TrackedState::Requeued.as_str())
            .fetch_optional(self.state.pool())
            .await?;
        row.map(tracked).transpose()
    }

    /// Every job of run `run_id`, in submission order.
    pub async fn of_run(&self, run_id: &str) -> Result<Vec<TrackedJob>, StateError> {
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT array_job, array_index, run_id, sample, stage, attempt, task, CAST(state AS TEXT),
                    submitted_ms
             FROM slurm_jobs WHERE run_id = $1 ORDER BY submitted_ms, array_job, array_index",
        )
            .bind(run_id)
            .fetch_all(self.state.pool())
            .await?;
        rows.into_iter().map(tracked).collect()
    }
}

fn tracked(
    (array_job, index, run_id, sample, stage, attempt, task, state, submitted_ms): Row,
) -> Result<TrackedJob, StateError> {
    let decode = |what: &str| StateError::Sql(sqlx::Error::Decode(what.to_owned().into()));
    Ok(TrackedJob {
        id: JobId {
            array_job: u64::try_from(array_job).map_err(|_| decode("slurm_jobs.array_job"))?,
            index: u32::try_from(index).map_err(|_| decode("slurm_jobs.array_index"))?,
        },
        owner: JobOwner {
            run_id,
            sample,
            stage,
            attempt: u32::try_from(attempt).map_err(|_| decode("slurm_jobs.attempt"))?,
            task: task.parse().map_err(|_| decode("slurm_jobs.task"))?,
        },
        state: state.parse()?,
        submitted_ms,
    })
}
