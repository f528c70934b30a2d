//! The consensus stage's typed errors and their mapping to stage error kinds.

use petri_sdk::StageError;
use petri_sdk::genomics::{InputError, ReferenceError};

/// Port names.
pub const REFERENCE: &str = "reference";
pub const VARIANTS: &str = "variants";
pub const DEPTH: &str = "depth";
pub const CONSENSUS: &str = "consensus";

/// What can go wrong. `record` is the 1-based VCF data record (0: the header);
/// `line` the 1-based line of the depth TSV.
#[derive(Debug, thiserror::Error)]
pub enum ConsensusError {
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    #[error("{VARIANTS}: record {record}: {message}")]
    Mismatch { record: u64, message: String },
    #[error("{VARIANTS}: record {record}: {message}")]
    Unsorted { record: u64, message: String },
    #[error("{VARIANTS}: record {record}: {message}")]
    MalformedVcf { record: u64, message: String },
    #[error("{DEPTH}: line {line}: {message}")]
    MalformedDepth { line: u64, message: String },
    /// An input over a limit, or a port that could not be read or written.
    #[error(transparent)]
    Input(#[from] InputError),
}

impl ConsensusError {
    pub(crate) fn vcf(record: u64, message: impl Into<String>) -> ConsensusError {
        ConsensusError::MalformedVcf {
            record,
            message: message.into(),
        }
    }
}

/// `reference-mismatch`, `unsorted-input`, `malformed-vcf`, `malformed-depth`,
/// `invalid-reference`, `limit-exceeded` or `io`, at the port and record
/// (record 0, the header, included).
impl From<ConsensusError> for StageError {
    fn from(e: ConsensusError) -> StageError {
        let message = e.to_string();
        match e {
            ConsensusError::Reference(r) => StageError::from(r),
            ConsensusError::Mismatch { record, .. } => {
                StageError::new("reference-mismatch", message).at(VARIANTS, Some(record))
            }
            ConsensusError::Unsorted { record, .. } => {
                StageError::new("unsorted-input", message).at(VARIANTS, Some(record))
            }
            ConsensusError::MalformedVcf { record, .. } => {
                StageError::new("malformed-vcf", message).at(VARIANTS, Some(record))
            }
            ConsensusError::MalformedDepth { line, .. } => {
                StageError::new("malformed-depth", message).at(DEPTH, Some(line))
            }
            ConsensusError::Input(e) => StageError {
                record: Some(e.record()),
                ..StageError::from(e)
            },
        }
    }
}
