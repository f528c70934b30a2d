//! Slurm job states (as `scontrol show job` and `squeue` print them) and the task outcome each end state means.

use std::fmt;
use std::str::FromStr;

use crate::executor::outcome::{LostCause, TaskOutcome, TimeLimit};

/// A Slurm job state (`JobState=` of `scontrol show job`, `%T` of `squeue`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobState {
    // Still going.
    Pending,
    Configuring,
    Running,
    /// Ended, processes still being cleaned up: the exit code may not be final.
    Completing,
    Suspended,
    /// Put back in the queue (by Slurm or an operator); it will run again.
    Requeued,
    RequeueHold,
    Resizing,
    Signaling,
    StageOut,
    Stopped,
    // Ended.
    Completed,
    Failed,
    Cancelled,
    Timeout,
    NodeFail,
    Preempted,
    OutOfMemory,
    BootFail,
    Deadline,
    /// A state this petri does not know; treated as still going.
    Other(String),
}

impl FromStr for JobState {
    type Err = std::convert::Infallible;

    /// Parses `CANCELLED`, `CANCELLED+`, `CANCELLED by 0` (sacct) alike.
    fn from_str(s: &str) -> Result<JobState, Self::Err> {
        let word = s
            .split_whitespace()
            .next()
            .unwrap_or("")
            .trim_end_matches('+');
        Ok(match word {
            "PENDING" | "PD" => JobState::Pending,
            "CONFIGURING" | "CF" => JobState::Configuring,
            "RUNNING" | "R" => JobState::Running,
            "COMPLETING" | "CG" => JobState::Completing,
            "SUSPENDED" | "S" => JobState::Suspended,
            "REQUEUED" | "RQ" | "REQUEUE_FED" | "RF" => JobState::Requeued,
            "REQUEUE_HOLD" | "RH" | "SPECIAL_EXIT" | "SE" | "RESV_DEL_HOLD" | "RD" => {
                JobState::RequeueHold
            }
            "RESIZING" | "RS" => JobState::Resizing,
            "SIGNALING" | "SI" => JobState::Signaling,
            "STAGE_OUT" | "SO" => JobState::StageOut,
            "STOPPED" | "ST" => JobState::Stopped,
            "COMPLETED" | "CD" => JobState::Completed,
            "FAILED" | "F" => JobState::Failed,
            "CANCELLED" | "CA" => JobState::Cancelled,
            "TIMEOUT" | "TO" => JobState::Timeout,
            "NODE_FAIL" | "NF" => JobState::NodeFail,
            "PREEMPTED" | "PR" => JobState::Preempted,
            "OUT_OF_MEMORY" | "OOM" => JobState::OutOfMemory,
            "BOOT_FAIL" | "BF" => JobState::BootFail,
            "DEADLINE" | "DL" => JobState::Deadline,
            other => JobState::Other(other.to_owned()),
        })
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            JobState::Pending => "PENDING",
            JobState::Configuring => "CONFIGURING",
            JobState::Running => "RUNNING",
            JobState::Completing => "COMPLETING",
            JobState::Suspended => "SUSPENDED",
            JobState::Requeued => "REQUEUED",
            JobState::RequeueHold => "REQUEUE_HOLD",
            JobState::Resizing => "RESIZING",
            JobState::Signaling => "SIGNALING",
            JobState::StageOut => "STAGE_OUT",
            JobState::Stopped => "STOPPED",
            JobState::Completed => "COMPLETED",
            JobState::Failed => "FAILED",
            JobState::Cancelled => "CANCELLED",
            JobState::Timeout => "TIMEOUT",
            JobState::NodeFail => "NODE_FAIL",
            JobState::Preempted => "PREEMPTED",
            JobState::OutOfMemory => "OUT_OF_MEMORY",
            JobState::BootFail => "BOOT_FAIL",
            JobState::Deadline => "DEADLINE",
            JobState::Other(s) => s,
        })
    }
}

impl JobState {
    /// Whether the job has ended (its state will not change again).
    pub fn is_final(&self) -> bool {
        self.outcome(0, 0).is_some()
    }

    /// The task outcome of an ended job with `ExitCode=exit_code:signal`;
    /// `None` while the job is still going.
    pub fn outcome(&self, exit_code: i32, signal: i32) -> Option<TaskOutcome> {
        Some(match self {
            // petri exec's own exit code says how the stage ended (0 succeeded,
            // 10–24 a recorded failure, 2/3 no record); anything else is a crash.
            JobState::Completed | JobState::Failed => TaskOutcome::of_exit(exit_code, signal),
            JobState::Cancelled => TaskOutcome::Cancelled,
            JobState::Timeout => TaskOutcome::TimedOut {
                limit: TimeLimit::Time,
            },
            JobState::Deadline => TaskOutcome::TimedOut {
                limit: TimeLimit::Deadline,
            },
            JobState::NodeFail => TaskOutcome::Lost {
                cause: LostCause::NodeFail,
            },
            JobState::BootFail => TaskOutcome::Lost {
                cause: LostCause::BootFail,
            },
            JobState::Preempted => TaskOutcome::Lost {
                cause: LostCause::Preempted,
            },
            JobState::OutOfMemory => TaskOutcome::OutOfMemory,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::JobState;
    use crate::executor::exit::ExitKind;
    use crate::executor::outcome::{LostCause, Recovery, TaskOutcome, TimeLimit};

    fn end(state: &str, code: i32, signal: i32) -> Option<TaskOutcome> {
        state.parse::<JobState>().unwrap().outcome(code, signal)
    }

    #[test]
    fn every_end_state_maps_to_its_outcome() {
        let exited = |exit| Some(TaskOutcome::Exited { exit });
        assert_eq!(end("COMPLETED", 0, 0), exited(ExitKind::Succeeded));
        assert_eq!(end("FAILED", 12, 0), exited(ExitKind::FuelExhausted));
        assert_eq!(end("FAILED", 13, 0), exited(ExitKind::Deadline));
        assert_eq!(end("FAILED", 3, 0), exited(ExitKind::EngineProfile));
        assert_eq!(
            end("FAILED", 127, 0),
            Some(TaskOutcome::Crashed {
                exit_code: 127,
                signal: 0
            })
        );
        assert_eq!(
            end("FAILED", 0, 9),
            Some(TaskOutcome::Crashed {
                exit_code: 0,
                signal: 9
            })
        );
        let lost = |cause| Some(TaskOutcome::Lost { cause });
        assert_eq!(end("NODE_FAIL", 0, 0), lost(LostCause::NodeFail));
        assert_eq!(end("BOOT_FAIL", 0, 0), lost(LostCause::BootFail));
        assert_eq!(end("PREEMPTED", 0, 15), lost(LostCause::Preempted));
        assert_eq!(
            end("TIMEOUT", 0, 15),
            Some(TaskOutcome::TimedOut {
                limit: TimeLimit::Time
            })
        );
        assert_eq!(
            end("DEADLINE", 0, 0),
            Some(TaskOutcome::TimedOut {
                limit: TimeLimit::Deadline
            })
        );
        assert_eq!(end("OUT_OF_MEMORY", 0, 9), Some(TaskOutcome::OutOfMemory));
        assert_eq!(end("CANCELLED", 0, 15), Some(TaskOutcome::Cancelled));
        assert_eq!(end("CANCELLED by 0", 0, 15), Some(TaskOutcome::Cancelled));
        assert_eq!(end("CANCELLED+", 0, 15), Some(TaskOutcome::Cancelled));
        assert_eq!(end("CA", 0, 0), Some(TaskOutcome::Cancelled));
        for going in [
            "PENDING",
            "RUNNING",
            "COMPLETING",
            "CONFIGURING",
            "SUSPENDED",
            "REQUEUED",
            "REQUEUE_HOLD",
            "SOMETHING_NEW",
        ] {
            assert_eq!(end(going, 0, 0), None, "{going}");
        }
    }

    #[test]
    fn each_outcome_says_what_to_do_next() {
        let r = |s: &str, code| end(s, code, 0).unwrap().recovery();
        assert_eq!(r("COMPLETED", 0), Recovery::Record);
        assert_eq!(r("FAILED", 10), Recovery::Record);
        assert_eq!(r("FAILED", 2), Recovery::Fail(ExitKind::Host));
        assert_eq!(r("NODE_FAIL", 0), Recovery::Requeue);
        assert_eq!(r("PREEMPTED", 0), Recovery::Requeue);
        assert_eq!(r("BOOT_FAIL", 0), Recovery::Requeue);
        assert_eq!(r("TIMEOUT", 0), Recovery::Fail(ExitKind::Deadline));
        assert_eq!(r("DEADLINE", 0), Recovery::Fail(ExitKind::Deadline));
        assert_eq!(r("OUT_OF_MEMORY", 0), Recovery::Fail(ExitKind::MemoryLimit));
        assert_eq!(r("CANCELLED", 0), Recovery::Stop);
        assert_eq!(r("FAILED", 127), Recovery::Fail(ExitKind::Host));
    }

    #[test]
    fn names_round_trip() {
        for s in [
            "PENDING",
            "RUNNING",
            "COMPLETED",
            "FAILED",
            "CANCELLED",
            "TIMEOUT",
            "NODE_FAIL",
            "PREEMPTED",
            "OUT_OF_MEMORY",
            "BOOT_FAIL",
            "DEADLINE",
        ] {
            assert_eq!(s.parse::<JobState>().unwrap().to_string(), s);
        }
    }
}
