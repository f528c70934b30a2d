//! [`CallError`]: everything that can go wrong, each naming its port and record.

use petri_sdk::StageError;
use petri_sdk::genomics::{InputError, ReferenceError};

/// What can go wrong while calling variants. `record` is the 1-based SAM
/// alignment record (0: the header).
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    /// An input over a limit, or a port that could not be read or written.
    #[error(transparent)]
    Input(#[from] InputError),
    #[error("{port}: header does not match the reference: {message}")]
    ReferenceMismatch { port: String, message: String },
    #[error("{port}: record {record}: not coordinate-sorted: {message}")]
    Unsorted {
        port: String,
        record: u64,
        message: String,
    },
    #[error("{port}: record {record}: {message}")]
    MalformedSam {
        port: String,
        record: u64,
        message: String,
    },
}

impl CallError {
    /// The error's kind in the manifest.
    pub fn kind(&self) -> &'static str {
        match self {
            CallError::Reference(_) => "invalid-reference",
            CallError::Input(e) => e.kind(),
            CallError::ReferenceMismatch { .. } => "reference-mismatch",
            CallError::Unsorted { .. } => "unsorted-input",
            CallError::MalformedSam { .. } => "malformed-sam",
        }
    }
}

impl From<CallError> for StageError {
    fn from(e: CallError) -> StageError {
        let kind = e.kind();
        let message = e.to_string();
        let (port, record) = match e {
            // The SDK maps its errors to their own kinds (limit, io, invalid).
            CallError::Reference(r) => return StageError::from(r),
            CallError::Input(e) => return StageError::from(e),
            CallError::ReferenceMismatch { port, .. } => (port, 0),
            CallError::Unsorted { port, record, .. }
            | CallError::MalformedSam { port, record, .. } => (port, record),
        };
        StageError::new(kind, message).at(port, (record > 0).then_some(record))
    }
}
