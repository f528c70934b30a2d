//! The local executor: tasks run in this process, one after another, through the same path as `petri exec`.

use std::sync::Arc;

use crate::executor::exec::{ExecReport, execute};
use crate::executor::outcome::TaskOutcome;
use crate::stage::petri::Petri;
use crate::store::digest::Digest;
use crate::store::state::StateStore;

/// Runs tasks in this process.
#[derive(Clone)]
pub struct LocalExecutor {
    petri: Arc<Petri>,
    state: StateStore,
}

/// A task that ended on this host.
#[derive(Debug, Clone)]
pub struct LocalEnd {
    pub task: Digest,
    pub outcome: TaskOutcome,
    /// The record, when the task ran to its end.
    pub report: Option<ExecReport>,
    /// Why it could not run, when it did not.
    pub error: Option<String>,
}

impl LocalExecutor {
    pub fn new(petri: Arc<Petri>, state: StateStore) -> LocalExecutor {
        LocalExecutor { petri, state }
    }

    /// Runs task `digest` to its end.
    pub async fn run(&self, digest: &Digest) -> LocalEnd {
        match execute(&self.petri, &self.state, digest).await {
            Ok(done) => LocalEnd {
                task: *digest,
                outcome: TaskOutcome::Exited { exit: done.exit() },
                report: Some(done.report()),
                error: None,
            },
            Err(e) => LocalEnd {
                task: *digest,
                outcome: TaskOutcome::Exited { exit: e.exit() },
                report: None,
                error: Some(e.to_string()),
            },
        }
    }
}
