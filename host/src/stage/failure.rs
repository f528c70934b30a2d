//! Why a stage execution failed: the typed outcome of running guest code.

use serde::{Deserialize, Serialize};

use crate::stage::bindings::StageError;
use crate::stage::limits::LimitExceeded;
use crate::stage::sandbox::ForbiddenCall;
use crate::stage::streams::StreamAbort;

/// A failed stage execution. The host stays up after every one of these.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Failure {
    /// The stage returned an error of one of its declared kinds.
    #[error("stage error `{}`: {}{}", error.kind, error.message, location(error))]
    Stage { error: StageError },
    /// The fuel budget ran out.
    #[error("fuel exhausted: used {fuel_used} of a budget of {budget}")]
    FuelExhausted { fuel_used: u64, budget: u64 },
    #[error("memory limit exceeded: {message}")]
    MemoryLimit { message: String },
    #[error("wasm stack overflow (stack cap {max_wasm_stack} bytes)")]
    StackOverflow { max_wasm_stack: usize },
    #[error("output `{port}` exceeded its limit of {limit} bytes")]
    OutputLimit { port: String, limit: u64 },
    /// The outputs together exceeded `Limits::total_output_bytes`; `port`
    /// is the one being written when they did.
    #[error("outputs together exceeded their limit of {limit} bytes (writing `{port}`)")]
    TotalOutputLimit { port: String, limit: u64 },
    /// An input held more than `Limits::max_input_bytes`.
    #[error("input `{port}` exceeded max-input-bytes ({limit} bytes)")]
    InputLimit { port: String, limit: u64 },
    /// The stage returned an error of a kind its manifest does not declare:
    /// kept for the record, but not trusted as a stage error (no `recover`).
    #[error("stage error of undeclared kind `{}`: {}{}", error.kind, error.message, location(error))]
    UndeclaredError { error: StageError },
    /// An out-of-bounds memory access. Deep recursion in a Rust guest usually
    /// ends here: its shadow stack lives in linear memory and runs off the bottom.
    #[error("memory fault: {message}")]
    MemoryFault { message: String },
    /// The stage called something outside the petri sandbox.
    #[error("forbidden import `{import}` called")]
    ForbiddenImport { import: String },
    /// Any other trap, such as a guest panic (its message is in the log).
    #[error("trap: {message}")]
    Trap { message: String },
    /// The wall-clock safety net stopped it (epoch interruption): the stage
    /// ran longer than its limit, whatever fuel it had left.
    #[error("wall-clock limit of {seconds} s exceeded (fuel used so far {fuel_used})")]
    Deadline { seconds: u64, fuel_used: u64 },
    /// The host could not feed an input or store an output.
    #[error("host I/O: {message}")]
    HostIo { message: String },
    /// An input's bytes did not hash to the digest they were stored or
    /// declared under: the data was tampered with or corrupted on disk.
    #[error(
        "integrity: input `{port}` should be sha256:{expected} but its bytes hash to sha256:{actual}"
    )]
    Integrity {
        port: String,
        expected: String,
        actual: String,
    },
    /// A hook (`recover`) trapped, ran out of fuel or memory, or returned a
    /// decision the host cannot use: the stage's failure, never the host's.
    #[error("`{hook}` hook failed: {message}")]
    Hook { hook: String, message: String },
}

/// What an execution had and used when it trapped.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Spent {
    pub fuel_used: u64,
    pub budget: u64,
    pub wall_clock_secs: u64,
}

/// The innermost message of an error chain (without the wasm backtrace).
fn root_cause(error: &wasmtime::Error) -> String {
    error
        .chain()
        .last()
        .map(|e| e.to_string())
        .unwrap_or_else(|| error.to_string())
}

fn location(e: &StageError) -> String {
    match (&e.port, e.record) {
        (Some(p), Some(r)) => format!(" (port `{p}`, record {r})"),
        (Some(p), None) => format!(" (port `{p}`)"),
        (None, Some(r)) => format!(" (record {r})"),
        (None, None) => String::new(),
    }
}

impl Failure {
    /// Classifies an error returned by a guest call.
    pub(crate) fn from_trap(
        error: &wasmtime::Error,
        spent: Spent,
        max_wasm_stack: usize,
    ) -> Failure {
        let Spent {
            fuel_used,
            budget,
            wall_clock_secs,
        } = spent;
        if let Some(abort) = error.downcast_ref::<StreamAbort>() {
            return match abort {
                StreamAbort::OutputLimit { port, limit } => Failure::OutputLimit {
                    port: port.clone(),
                    limit: *limit,
                },
                StreamAbort::TotalOutputLimit { port, limit } => Failure::TotalOutputLimit {
                    port: port.clone(),
                    limit: *limit,
                },
                StreamAbort::InputLimit { port, limit } => Failure::InputLimit {
                    port: port.clone(),
                    limit: *limit,
                },
                other => Failure::HostIo {
                    message: other.to_string(),
                },
            };
        }
        if let Some(limit) = error.downcast_ref::<LimitExceeded>() {
            return Failure::MemoryLimit {
                message: limit.to_string(),
            };
        }
        if let Some(call) = error.downcast_ref::<ForbiddenCall>() {
            return Failure::ForbiddenImport {
                import: call.import.clone(),
            };
        }
        match error.downcast_ref::<wasmtime::Trap>() {
            Some(wasmtime::Trap::OutOfFuel) => Failure::FuelExhausted { fuel_used, budget },
            Some(wasmtime::Trap::Interrupt) => Failure::Deadline {
                seconds: wall_clock_secs,
                fuel_used,
            },
            Some(wasmtime::Trap::StackOverflow) => Failure::StackOverflow { max_wasm_stack },
            Some(wasmtime::Trap::MemoryOutOfBounds) => Failure::MemoryFault {
                message: root_cause(error),
            },
            Some(trap) => Failure::Trap {
                message: trap.to_string(),
            },
            None => Failure::Trap {
                message: root_cause(error),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPENT: Spent = Spent {
        fuel_used: 7,
        budget: 10,
        wall_clock_secs: 3,
    };

    fn stage_error(port: Option<&str>, record: Option<u64>) -> StageError {
        StageError {
            kind: "io".into(),
            message: "broken".into(),
            port: port.map(str::to_owned),
            record,
        }
    }

    #[test]
    fn a_stage_error_is_located_by_what_it_names() {
        let shown = |port, record| {
            Failure::Stage {
                error: stage_error(port, record),
            }
            .to_string()
        };
        assert_eq!(
            shown(Some("reads"), Some(4)),
            "stage error `io`: broken (port `reads`, record 4)"
        );
        assert_eq!(
            shown(Some("reads"), None),
            "stage error `io`: broken (port `reads`)"
        );
        assert_eq!(shown(None, Some(4)), "stage error `io`: broken (record 4)");
        assert_eq!(shown(None, None), "stage error `io`: broken");
        let undeclared = Failure::UndeclaredError {
            error: stage_error(Some("out"), None),
        };
        assert_eq!(
            undeclared.to_string(),
            "stage error of undeclared kind `io`: broken (port `out`)"
        );
    }

    #[test]
    fn a_stream_abort_that_is_no_limit_is_host_io() {
        let abort = StreamAbort::Output {
            port: "out".into(),
            source: std::io::Error::other("disk full"),
        };
        let failure = Failure::from_trap(&wasmtime::Error::new(abort), SPENT, 1 << 20);
        assert_eq!(
            failure,
            Failure::HostIo {
                message: "storing output `out`: disk full".into()
            }
        );
        let abort = StreamAbort::Input {
            port: "data".into(),
            source: std::io::Error::other("gone"),
        };
        let failure = Failure::from_trap(&wasmtime::Error::new(abort), SPENT, 1 << 20);
        assert_eq!(
            failure,
            Failure::HostIo {
                message: "reading input `data`: gone".into()
            }
        );
    }

    #[test]
    fn traps_are_classified_by_kind_and_anything_else_by_its_root_cause() {
        let trap = |t: wasmtime::Trap| Failure::from_trap(&wasmtime::Error::new(t), SPENT, 512);
        assert_eq!(
            trap(wasmtime::Trap::OutOfFuel),
            Failure::FuelExhausted {
                fuel_used: 7,
                budget: 10
            }
        );
        assert_eq!(
            trap(wasmtime::Trap::Interrupt),
            Failure::Deadline {
                seconds: 3,
                fuel_used: 7
            }
        );
        assert_eq!(
            trap(wasmtime::Trap::StackOverflow),
            Failure::StackOverflow {
                max_wasm_stack: 512
            }
        );
        assert_eq!(
            trap(wasmtime::Trap::UnreachableCodeReached),
            Failure::Trap {
                message: wasmtime::Trap::UnreachableCodeReached.to_string()
            }
        );
        let chained = wasmtime::Error::msg("the root").context("outer context");
        assert_eq!(
            Failure::from_trap(&chained, SPENT, 512),
            Failure::Trap {
                message: "the root".into()
            }
        );
    }
}
