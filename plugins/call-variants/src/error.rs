//! [`CallError`]: everything that can go wrong, each naming its port and record.

use petri_sdk::StageError;
use petri_sdk::genomics::ReferenceError;

/// What can go wrong while calling variants. `record` is the 1-based SAM
/// alignment record (0: the header).
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error(transparent)]
    Reference(#[from] ReferenceError),
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
    #[error("{port}: record {record}: {message}")]
    Limit {
        port: String,
        record: u64,
        message: String,
    },
    #[error("{port}: I/O error near record {record}: {source}")]
    Io {
        port: String,
        record: u64,
        source: std::io::Error,
    },
}

impl CallError {
    /// An I/O error; a hit of the input cap becomes a [`CallError::Limit`].
    pub(crate) fn io(port: &str, record: u64, e: std::io::Error) -> CallError {
        if e.to_string().contains(petri_sdk::genomics::LIMIT_MESSAGE) {
            return CallError::Limit {
                port: port.to_owned(),
                record,
                message: e.to_string(),
            };
        }
        CallError::Io {
            port: port.to_owned(),
            record,
            source: e,
        }
    }

    /// The error's kind in the manifest.
    pub fn kind(&self) -> &'static str {
        match self {
            CallError::Reference(_) => "invalid-reference",
            CallError::ReferenceMismatch { .. } => "reference-mismatch",
            CallError::Unsorted { .. } => "unsorted-input",
            CallError::MalformedSam { .. } => "malformed-sam",
            CallError::Limit { .. } => "limit-exceeded",
            CallError::Io { .. } => "io",
        }
    }
}

impl From<CallError> for StageError {
    fn from(e: CallError) -> StageError {
        let kind = e.kind();
        let message = e.to_string();
        let (port, record) = match e {
            // The SDK maps reference errors to their own kinds (limit, io, invalid).
            CallError::Reference(r) => return StageError::from(r),
            CallError::ReferenceMismatch { port, .. } => (port, 0),
            CallError::Unsorted { port, record, .. }
            | CallError::MalformedSam { port, record, .. }
            | CallError::Limit { port, record, .. }
            | CallError::Io { port, record, .. } => (port, record),
        };
        StageError::new(kind, message).at(port, (record > 0).then_some(record))
    }
}
