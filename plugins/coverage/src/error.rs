//! The coverage stage's typed errors and their mapping to stage error kinds.

use petri_sdk::StageError;
use petri_sdk::genomics::InputError;

/// The SAM input port.
pub const ALIGNMENTS: &str = "alignments";

/// What can go wrong while computing coverage. `record` is the 1-based SAM
/// record (0: the header).
#[derive(Debug, thiserror::Error)]
pub enum CoverageError {
    #[error("{ALIGNMENTS}: record {record}: {message}")]
    Malformed { record: u64, message: String },
    /// An input over a limit, or a port that could not be read or written.
    #[error(transparent)]
    Input(#[from] InputError),
}

impl CoverageError {
    pub(crate) fn malformed(record: u64, message: impl Into<String>) -> CoverageError {
        CoverageError::Malformed {
            record,
            message: message.into(),
        }
    }

    /// The 1-based record the error is at (0: the header or after the input).
    pub fn record(&self) -> u64 {
        match self {
            CoverageError::Malformed { record, .. } => *record,
            CoverageError::Input(e) => e.record(),
        }
    }
}

/// `malformed-sam`, `limit-exceeded` or `io`, located at the port and record
/// (record 0, the header, included).
impl From<CoverageError> for StageError {
    fn from(e: CoverageError) -> StageError {
        let message = e.to_string();
        let record = Some(e.record());
        match e {
            CoverageError::Malformed { .. } => {
                StageError::new("malformed-sam", message).at(ALIGNMENTS, record)
            }
            CoverageError::Input(e) => StageError {
                record,
                ..StageError::from(e)
            },
        }
    }
}
