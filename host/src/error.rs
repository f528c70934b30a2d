//! The host library's error type: everything that stops petri before or around a run.
//!
//! A stage that fails is not an `Error`: that is a recorded [`crate::Failure`].

use std::fmt;
use std::io;
use std::path::PathBuf;

use serde::Serialize;

use crate::stage::compiled::CacheError;
use crate::stage::failure::Failure;
use crate::store::blobs::CasError;
use crate::store::records::RecordError;

/// One problem with a run request, located by the field it concerns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// What the problem is about, such as "param `min-length`" or "input `reads`".
    pub field: String,
    pub problem: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.problem)
    }
}

impl From<crate::store::state::StateError> for Error {
    fn from(e: crate::store::state::StateError) -> Error {
        match e {
            crate::store::state::StateError::LeaseLost { .. } => Error::LeaseLost(e.to_string()),
            e => Error::State(e.to_string()),
        }
    }
}

fn list(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("  - {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("{path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error(transparent)]
    Store(#[from] CasError),
    #[error(transparent)]
    Cache(#[from] CacheError),
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error("setting up the engine: {0:#}")]
    Engine(wasmtime::Error),
    #[error("the component cannot be instantiated by petri: {0:#}")]
    Instantiate(wasmtime::Error),
    #[error("the stage's `describe` failed: {0}")]
    Describe(Failure),
    #[error("the stage's `recover` failed: {0}")]
    Recover(Failure),
    #[error("the stage's manifest is invalid: {0}")]
    Manifest(String),
    #[error("{0}")]
    State(String),
    /// Another daemon took over the run this process was executing: it
    /// stops, having committed nothing more.
    #[error("{0}")]
    LeaseLost(String),
    #[error("the run request has {} problem(s):\n{}", .0.len(), list(.0))]
    Request(Vec<Problem>),
    /// The run was interrupted (`RunOptions::interrupt`): its running
    /// stages were stopped and their batch jobs cancelled; nothing was
    /// recorded as finished, so running it again resumes it.
    #[error(
        "the run was interrupted: its running stages were stopped and {cancelled_jobs} Slurm job(s) cancelled; run it again to resume"
    )]
    Interrupted { cancelled_jobs: usize },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::state::StateError;

    #[test]
    fn a_lost_lease_stays_distinct_from_other_state_errors() {
        let lost = StateError::LeaseLost {
            run: "r1".into(),
            held: 3,
            current: Some(4),
        };
        let shown = lost.to_string();
        match Error::from(lost) {
            Error::LeaseLost(message) => assert_eq!(message, shown),
            other => panic!("{other:?}"),
        }
        let url = StateError::Url("mysql://x".into());
        match Error::from(url) {
            Error::State(message) => assert_eq!(
                message,
                "database URL `mysql://x`: expected postgres://… or sqlite:PATH"
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_bad_request_lists_every_problem() {
        let e = Error::Request(vec![
            Problem {
                field: "param `x`".into(),
                problem: "unknown param".into(),
            },
            Problem {
                field: "input `reads`".into(),
                problem: "missing".into(),
            },
        ]);
        assert_eq!(
            e.to_string(),
            "the run request has 2 problem(s):\n  - param `x`: unknown param\n  - input `reads`: missing"
        );
    }
}
