//! The exit codes of `petri exec`: each names one typed outcome of a task.
//!
//! | code | kind | meaning |
//! |---:|---|---|
//! | 0 | `succeeded` | the stage succeeded; outputs and record written |
//! | 2 | `host` | petri could not run the task (store, database, bad task, request refused) |
//! | 3 | `engine-profile` | the task names another engine profile than this petri's |
//! | 10 | `stage` | the stage returned an error of a declared kind |
//! | 11 | `undeclared-error` | the stage returned an error of an undeclared kind |
//! | 12 | `fuel-exhausted` | the fuel budget ran out |
//! | 13 | `deadline` | the wall-clock limit stopped it |
//! | 14 | `memory-limit` | linear memory or a table would grow past its limit |
//! | 15 | `memory-fault` | out-of-bounds memory access |
//! | 16 | `stack-overflow` | the wasm stack cap was hit |
//! | 17 | `output-limit` | one output exceeded its cap |
//! | 18 | `total-output-limit` | the outputs together exceeded their cap |
//! | 19 | `input-limit` | an input exceeded max-input-bytes |
//! | 20 | `forbidden-import` | the stage called something outside the sandbox |
//! | 21 | `trap` | any other trap (a guest panic) |
//! | 22 | `host-io` | the host could not feed an input or store an output |
//! | 23 | `integrity` | an input's bytes do not hash to their digest |
//! | 24 | `hook` | a `recover` hook failed |
//!
//! Codes 10–24 are failed executions with a sealed stage record (the record
//! says exactly what happened); 2 and 3 wrote no record. Codes stay below
//! 126 (the shell's own) and 128+n (death by signal n), and 1 is unused, so
//! a code petri did not choose is never mistaken for one it did.

use serde::{Deserialize, Serialize};

use crate::provenance::Outcome;
use crate::stage::failure::Failure;

/// How `petri exec` ended, as its exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExitKind {
    Succeeded,
    Host,
    EngineProfile,
    Stage,
    UndeclaredError,
    FuelExhausted,
    Deadline,
    MemoryLimit,
    MemoryFault,
    StackOverflow,
    OutputLimit,
    TotalOutputLimit,
    InputLimit,
    ForbiddenImport,
    Trap,
    HostIo,
    Integrity,
    Hook,
}

/// The kind's name as in JSON (`fuel-exhausted`).
impl std::fmt::Display for ExitKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        f.write_str(&name)
    }
}

impl ExitKind {
    /// Every kind, in code order.
    pub const ALL: [ExitKind; 18] = [
        ExitKind::Succeeded,
        ExitKind::Host,
        ExitKind::EngineProfile,
        ExitKind::Stage,
        ExitKind::UndeclaredError,
        ExitKind::FuelExhausted,
        ExitKind::Deadline,
        ExitKind::MemoryLimit,
        ExitKind::MemoryFault,
        ExitKind::StackOverflow,
        ExitKind::OutputLimit,
        ExitKind::TotalOutputLimit,
        ExitKind::InputLimit,
        ExitKind::ForbiddenImport,
        ExitKind::Trap,
        ExitKind::HostIo,
        ExitKind::Integrity,
        ExitKind::Hook,
    ];

    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            ExitKind::Succeeded => 0,
            ExitKind::Host => 2,
            ExitKind::EngineProfile => 3,
            ExitKind::Stage => 10,
            ExitKind::UndeclaredError => 11,
            ExitKind::FuelExhausted => 12,
            ExitKind::Deadline => 13,
            ExitKind::MemoryLimit => 14,
            ExitKind::MemoryFault => 15,
            ExitKind::StackOverflow => 16,
            ExitKind::OutputLimit => 17,
            ExitKind::TotalOutputLimit => 18,
            ExitKind::InputLimit => 19,
            ExitKind::ForbiddenImport => 20,
            ExitKind::Trap => 21,
            ExitKind::HostIo => 22,
            ExitKind::Integrity => 23,
            ExitKind::Hook => 24,
        }
    }

    /// The kind an exit code names; `None` for a code `petri exec` never uses.
    pub fn from_code(code: i32) -> Option<ExitKind> {
        ExitKind::ALL
            .into_iter()
            .find(|k| i32::from(k.code()) == code)
    }

    /// The kind of a stage's recorded outcome.
    pub fn of_outcome(outcome: &Outcome) -> ExitKind {
        match outcome {
            Outcome::Succeeded { .. } => ExitKind::Succeeded,
            Outcome::Failed { failure } => ExitKind::of_failure(failure),
        }
    }

    /// The kind of a failure.
    pub fn of_failure(failure: &Failure) -> ExitKind {
        match failure {
            Failure::Stage { .. } => ExitKind::Stage,
            Failure::UndeclaredError { .. } => ExitKind::UndeclaredError,
            Failure::FuelExhausted { .. } => ExitKind::FuelExhausted,
            Failure::Deadline { .. } => ExitKind::Deadline,
            Failure::MemoryLimit { .. } => ExitKind::MemoryLimit,
            Failure::MemoryFault { .. } => ExitKind::MemoryFault,
            Failure::StackOverflow { .. } => ExitKind::StackOverflow,
            Failure::OutputLimit { .. } => ExitKind::OutputLimit,
            Failure::TotalOutputLimit { .. } => ExitKind::TotalOutputLimit,
            Failure::InputLimit { .. } => ExitKind::InputLimit,
            Failure::ForbiddenImport { .. } => ExitKind::ForbiddenImport,
            Failure::Trap { .. } => ExitKind::Trap,
            Failure::HostIo { .. } => ExitKind::HostIo,
            Failure::Integrity { .. } => ExitKind::Integrity,
            Failure::Hook { .. } => ExitKind::Hook,
        }
    }

    /// Whether the execution wrote a sealed stage record.
    pub fn has_record(self) -> bool {
        !matches!(self, ExitKind::Host | ExitKind::EngineProfile)
    }
}

#[cfg(test)]
mod tests {
    use super::ExitKind;

    #[test]
    fn codes_are_distinct_and_round_trip() {
        let mut seen = std::collections::HashSet::new();
        for k in ExitKind::ALL {
            assert!(seen.insert(k.code()), "{k:?} reuses code {}", k.code());
            assert!(k.code() < 126 && k.code() != 1);
            assert_eq!(ExitKind::from_code(i32::from(k.code())), Some(k));
        }
        assert_eq!(ExitKind::from_code(1), None);
        assert_eq!(ExitKind::from_code(137), None);
    }
}
