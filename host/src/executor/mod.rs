//! Where stage executions run: in this process (`local`) or as batch jobs on a Slurm cluster (`slurm`).
//!
//! The unit both run is a [`Task`] (`task.rs`): a stage execution fully
//! determined by content digests and stored as a blob, so its digest names it
//! and any host that sees the store can run it (`petri exec TASK-DIGEST`,
//! `exec.rs`). How it ended is a [`TaskOutcome`] (`outcome.rs`), the same
//! for every executor: `petri exec`'s exit code ([`ExitKind`], `exit.rs`) or
//! the batch system's end state, and what to do next ([`Recovery`]).
//!
//! The pipeline run loop picks one through `RunOptions::executor`: none or
//! `Local` is `Petri::run_sealed` in-process; `Slurm` runs each attempt as a
//! job (`pipeline/run/remote.rs`, `docs/slurm.md`).

pub mod exec;
pub mod exit;
pub mod local;
pub mod outcome;
pub mod slurm;
pub mod task;

pub use exec::{ExecError, ExecReport, Executed, execute};
pub use exit::ExitKind;
pub use local::{LocalEnd, LocalExecutor};
pub use outcome::{LostCause, Recovery, TaskOutcome, TimeLimit};
pub use slurm::{SlurmConfig, SlurmEnd, SlurmError, SlurmExecutor, SlurmJob, Submission};
pub use task::{TASK_SCHEMA, Task, TaskError};

use crate::store::digest::Digest;

/// An executor: where a run's stages execute (`RunOptions::executor`).
#[derive(Clone)]
pub enum Executor {
    Local(LocalExecutor),
    Slurm(SlurmExecutor),
}

/// How one task of a batch ended, whichever executor ran it.
#[derive(Debug, Clone)]
pub struct TaskEnd {
    pub task: Digest,
    pub outcome: TaskOutcome,
    /// The sealed record, when `petri exec` ran the task to its end.
    pub report: Option<ExecReport>,
}

impl Executor {
    /// Runs `batch` to its end (locally one after another; on Slurm as job
    /// arrays, all at once) and returns one end per submission, in order.
    pub async fn run(&self, batch: &[Submission]) -> Result<Vec<TaskEnd>, SlurmError> {
        match self {
            Executor::Local(local) => {
                let mut ends = Vec::with_capacity(batch.len());
                for s in batch {
                    let end = local.run(&s.task).await;
                    ends.push(TaskEnd {
                        task: end.task,
                        outcome: end.outcome,
                        report: end.report,
                    });
                }
                Ok(ends)
            }
            Executor::Slurm(slurm) => {
                let jobs = slurm.submit(batch).await?;
                Ok(slurm
                    .wait(&jobs)
                    .await?
                    .into_iter()
                    .map(|end| TaskEnd {
                        task: end.job.task,
                        outcome: end.outcome,
                        report: end.report,
                    })
                    .collect())
            }
        }
    }
}
