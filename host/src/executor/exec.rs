//! Executing a stored task on this host: what `petri exec TASK-DIGEST` does, and the local executor.

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::executor::exit::ExitKind;
use crate::executor::task::{Task, TaskError};
use crate::provenance::StageRecord;
use crate::stage::petri::Petri;
use crate::store::digest::Digest;
use crate::store::state::{StateError, StateStore};

/// A task executed to its end (succeeded or failed), its record sealed.
#[derive(Debug, Clone)]
pub struct Executed {
    pub task: Digest,
    pub record: StageRecord,
    /// SHA-256 of the record's bytes (a blob), indexed in the database.
    pub seal: Digest,
}

impl Executed {
    pub fn exit(&self) -> ExitKind {
        ExitKind::of_outcome(&self.record.outcome)
    }

    /// The one-line summary `petri exec --json` prints.
    pub fn report(&self) -> ExecReport {
        let exit = self.exit();
        ExecReport {
            task: self.task,
            record: self.record.id.clone(),
            seal: self.seal,
            exit,
            code: exit.code(),
        }
    }
}

/// What `petri exec --json` prints on one line, and what a batch executor
/// reads back from a job's output to find the record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecReport {
    pub task: Digest,
    /// The stage record's id.
    pub record: String,
    /// The record's seal (the SHA-256 of its blob).
    pub seal: Digest,
    pub exit: ExitKind,
    /// `exit` as the process exit code.
    pub code: u8,
}

/// Why a task could not be executed (no stage record was written).
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error(transparent)]
    Task(#[from] TaskError),
    #[error(
        "task {task} must run under engine profile {expected}, this petri's is {actual}; \
         run it with a petri built the same way (same wasmtime, ABI and settings)"
    )]
    EngineProfile {
        task: Digest,
        expected: Digest,
        actual: Digest,
    },
    #[error("task {task}: module {module}: {source}")]
    Module {
        task: Digest,
        module: Digest,
        source: Error,
    },
    #[error("task {task}: module bytes hash to {actual}, not to {module}")]
    ModuleTampered {
        task: Digest,
        module: Digest,
        actual: Digest,
    },
    #[error("task {task}: {source}")]
    Run { task: Digest, source: Error },
    #[error("task {task}: indexing record {record}: {source}")]
    Index {
        task: Digest,
        record: String,
        source: StateError,
    },
}

impl ExecError {
    /// The exit code kind of this error.
    pub fn exit(&self) -> ExitKind {
        match self {
            ExecError::EngineProfile { .. } => ExitKind::EngineProfile,
            ExecError::ModuleTampered { .. } => ExitKind::Integrity,
            _ => ExitKind::Host,
        }
    }
}

/// Loads task `digest` from `petri`'s store, checks its engine profile, runs
/// it through [`Petri::run_sealed`] (outputs and the sealed record go to the
/// store) and indexes the record in `state`.
pub async fn execute(
    petri: &Petri,
    state: &StateStore,
    digest: &Digest,
) -> Result<Executed, ExecError> {
    let task = Task::load(petri.blobs(), digest)?;
    let actual = petri.profile().id();
    if task.engine_profile_id != actual {
        return Err(ExecError::EngineProfile {
            task: *digest,
            expected: task.engine_profile_id,
            actual,
        });
    }
    let module = |source: Error| ExecError::Module {
        task: *digest,
        module: task.module,
        source,
    };
    let wasm = petri
        .blobs()
        .read(&task.module)
        .map_err(|e| module(Error::Store(e)))?;
    let actual = Digest::of(&wasm);
    if actual != task.module {
        return Err(ExecError::ModuleTampered {
            task: *digest,
            module: task.module,
            actual,
        });
    }
    let stage = petri.load(&wasm).map_err(module)?;
    let (record, seal) = petri
        .run_sealed(&stage, task.request())
        .await
        .map_err(|source| ExecError::Run {
            task: *digest,
            source,
        })?;
    state
        .seal(&record.id, &seal.to_hex())
        .await
        .map_err(|source| ExecError::Index {
            task: *digest,
            record: record.id.clone(),
            source,
        })?;
    Ok(Executed {
        task: *digest,
        record,
        seal,
    })
}
