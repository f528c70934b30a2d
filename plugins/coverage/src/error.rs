//! The coverage stage's typed errors and their mapping to stage error kinds.

use std::io;

use petri_sdk::StageError;
use petri_sdk::genomics::LIMIT_MESSAGE;

/// The SAM input port.
pub const ALIGNMENTS: &str = "alignments";

/// What can go wrong while computing coverage. `record` is the 1-based SAM
/// record (0: the header).
#[derive(Debug, thiserror::Error)]
pub enum CoverageError {
    #[error("{ALIGNMENTS}: record {record}: {message}")]
    Malformed { record: u64, message: String },
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
        source: io::Error,
    },
}

impl CoverageError {
    pub(crate) fn malformed(record: u64, message: impl Into<String>) -> CoverageError {
        CoverageError::Malformed {
            record,
            message: message.into(),
        }
    }

    /// An I/O error on `port`; a hit of the input cap becomes [`CoverageError::Limit`].
    pub(crate) fn io(port: &str, record: u64, e: io::Error) -> CoverageError {
        if e.to_string().contains(LIMIT_MESSAGE) {
            return CoverageError::Limit {
                port: port.to_owned(),
                record,
                message: e.to_string(),
            };
        }
        CoverageError::Io {
            port: port.to_owned(),
            record,
            source: e,
        }
    }

    /// The 1-based record the error is at (0: the header or after the input).
    pub fn record(&self) -> u64 {
        match self {
            CoverageError::Malformed { record, .. }
            | CoverageError::Limit { record, .. }
            | CoverageError::Io { record, .. } => *record,
        }
    }
}

/// `malformed-sam`, `limit-exceeded` or `io`, located at the port and record.
impl From<CoverageError> for StageError {
    fn from(e: CoverageError) -> StageError {
        let message = e.to_string();
        let record = Some(e.record());
        match e {
            CoverageError::Malformed { .. } => {
                StageError::new("malformed-sam", message).at(ALIGNMENTS, record)
            }
            CoverageError::Limit { port, .. } => {
                StageError::new("limit-exceeded", message).at(port, record)
            }
            CoverageError::Io { port, .. } => StageError::new("io", message).at(port, record),
        }
    }
}
