//! Tasks: one stage of one sample's DAG, and the states it goes through.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::fuel::Prediction;
use super::time::{Span, Timestamp};

/// A task's id: its submission order, which also breaks ties between equal priorities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TaskId(pub u64);

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// One stage of a sample's DAG, as submitted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskSpec {
    /// The stage id, unique within the sample.
    pub stage: String,
    /// What fuel history is kept under (the executor uses the module digest).
    pub module: String,
    /// The instrument class it needs ([`super::COMPUTE`] for plain compute).
    pub class: String,
    /// Stages of the same sample that must finish first.
    pub after: Vec<String>,
}

impl TaskSpec {
    pub fn new(
        stage: impl Into<String>,
        module: impl Into<String>,
        class: impl Into<String>,
    ) -> TaskSpec {
        TaskSpec {
            stage: stage.into(),
            module: module.into(),
            class: class.into(),
            after: Vec::new(),
        }
    }

    pub fn after(mut self, stage: impl Into<String>) -> TaskSpec {
        self.after.push(stage.into());
        self
    }
}

/// Where a task is in its life.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum TaskState {
    /// Some stage it depends on has not finished.
    Waiting,
    /// In the queue.
    Ready,
    Running {
        instrument: String,
        started: Timestamp,
        /// 1 for the first start, +1 per re-queue.
        attempt: u32,
    },
    Done {
        instrument: String,
        finished: Timestamp,
    },
    Failed,
    /// A stage it depends on failed.
    Skipped,
}

impl TaskState {
    pub fn name(&self) -> &'static str {
        match self {
            TaskState::Waiting => "waiting",
            TaskState::Ready => "ready",
            TaskState::Running { .. } => "running",
            TaskState::Done { .. } => "done",
            TaskState::Failed => "failed",
            TaskState::Skipped => "skipped",
        }
    }

    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            TaskState::Done { .. } | TaskState::Failed | TaskState::Skipped
        )
    }
}

/// A task as the scheduler holds it.
#[derive(Debug, Clone)]
pub struct Task {
    pub id: TaskId,
    pub stage: String,
    pub module: String,
    pub class: String,
    pub deps: Vec<TaskId>,
    pub succs: Vec<TaskId>,
    pub state: TaskState,
    /// Predicted duration of this stage.
    pub predicted: Prediction,
    /// Predicted remaining work of the sample from this stage on: its own
    /// duration plus the longest chain of stages after it.
    pub tail: Span,
    /// When it last entered the queue's order (kept across re-queues).
    pub ready_at: Option<Timestamp>,
    pub attempts: u32,
    pub(crate) sample: usize,
    pub(crate) class_ix: usize,
    pub(crate) key: i64,
    pub(crate) deps_left: u32,
}
