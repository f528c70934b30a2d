//! How a task ended on an executor: the typed outcome a stage's recovery policy sees.
//!
//! A task that `petri exec` ran to its end is [`TaskOutcome::Exited`]: its
//! exit kind (and the sealed record) say what the stage did. Everything else
//! is the batch system's doing: the job was lost with its node, timed out,
//! ran out of memory, was cancelled, or died in a way `petri exec` never
//! ends (a signal, a code outside its table).

use serde::{Deserialize, Serialize};

use crate::executor::exit::ExitKind;

/// How a task ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum TaskOutcome {
    /// `petri exec` ran to its end and exited with this kind.
    Exited { exit: ExitKind },
    /// The job did not fail, it was lost: run the same task again.
    Lost { cause: LostCause },
    /// The batch system's limit stopped it: its time limit (`TIMEOUT`) or the
    /// job's deadline (`DEADLINE`). petri's own wall-clock limit fires first
    /// (exit 13); this means the host around the stage overran.
    TimedOut { limit: TimeLimit },
    /// The batch system killed it for memory (`OUT_OF_MEMORY`).
    OutOfMemory,
    /// Cancelled (`scancel`), by petri or an operator.
    Cancelled,
    /// Ended in a way `petri exec` never ends: killed by `signal`, or an
    /// exit code outside its table (the binary missing on the node: 127).
    Crashed { exit_code: i32, signal: i32 },
}

/// Why a job was lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LostCause {
    /// Its node failed (`NODE_FAIL`).
    NodeFail,
    /// Its node never booted (`BOOT_FAIL`).
    BootFail,
    /// A higher-priority job took its place (`PREEMPTED`).
    Preempted,
    /// The batch system no longer knows the job (purged after `MinJobAge`,
    /// or its controller lost state) and it left no report.
    Vanished,
}

/// Which batch-system time limit stopped a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TimeLimit {
    /// The job's time limit (`--time`).
    Time,
    /// The job's deadline (`--deadline`).
    Deadline,
}

/// What the executor's caller does next with a task that ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovery {
    /// Read the sealed record: it is the stage's result (success, or a failure
    /// its policy handles as for a local run).
    Record,
    /// Submit the same task again; the attempt is not the stage's fault
    /// (compare the scheduler's re-queue of a preempted task).
    Requeue,
    /// No record: treat as this kind of failure under the stage's policy
    /// (`Deadline`, `MemoryLimit`, `Host`, `EngineProfile`, `Integrity`).
    Fail(ExitKind),
    /// Stop: the task was cancelled.
    Stop,
}

impl TaskOutcome {
    /// The outcome of a process that exited with `code`, or was killed by `signal` (non-zero).
    pub fn of_exit(code: i32, signal: i32) -> TaskOutcome {
        match ExitKind::from_code(code) {
            Some(exit) if signal == 0 => TaskOutcome::Exited { exit },
            _ => TaskOutcome::Crashed {
                exit_code: code,
                signal,
            },
        }
    }

    /// What to do next.
    pub fn recovery(&self) -> Recovery {
        match *self {
            TaskOutcome::Exited { exit } if exit.has_record() => Recovery::Record,
            TaskOutcome::Exited { exit } => Recovery::Fail(exit),
            TaskOutcome::Lost { .. } => Recovery::Requeue,
            TaskOutcome::TimedOut { .. } => Recovery::Fail(ExitKind::Deadline),
            TaskOutcome::OutOfMemory => Recovery::Fail(ExitKind::MemoryLimit),
            TaskOutcome::Cancelled => Recovery::Stop,
            TaskOutcome::Crashed { .. } => Recovery::Fail(ExitKind::Host),
        }
    }
}
