//! What can go wrong while aligning, and how it maps onto the stage's error kinds.

use petri_sdk::StageError;
use petri_sdk::genomics::{InputError, ReferenceError};

/// An alignment failure; FASTQ problems name the port and the 1-based record.
#[derive(Debug, thiserror::Error)]
pub enum AlignError {
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    /// An input over a limit, or a port that could not be read or written.
    #[error(transparent)]
    Input(#[from] InputError),
    #[error("{port}: record {record}: {message}")]
    MalformedFastq {
        port: String,
        record: u64,
        message: String,
    },
    #[error("{port}: record {record}: read of {len} bases exceeds max-read-length ({max})")]
    ReadTooLong {
        port: String,
        record: u64,
        len: usize,
        max: usize,
    },
    #[error("mates out of sync at record {record}: {message}")]
    MatesOutOfSync { record: u64, message: String },
    #[error("{0}")]
    InvalidParams(String),
}

impl AlignError {
    /// An I/O error while reading `port`; hitting the input cap is a limit,
    /// and invalid or truncated text becomes [`AlignError::MalformedFastq`].
    pub(crate) fn read(port: &str, record: u64, e: std::io::Error) -> AlignError {
        match InputError::from_io(port, record, e) {
            InputError::Io {
                port,
                record,
                source,
            } if matches!(
                source.kind(),
                std::io::ErrorKind::InvalidData | std::io::ErrorKind::UnexpectedEof
            ) =>
            {
                AlignError::MalformedFastq {
                    port,
                    record,
                    message: format!("invalid or truncated record: {source}"),
                }
            }
            e => AlignError::Input(e),
        }
    }

    /// An I/O error while writing `port`.
    pub(crate) fn write(port: &str, e: std::io::Error) -> AlignError {
        AlignError::Input(InputError::Io {
            port: port.to_owned(),
            record: 0,
            source: e,
        })
    }

    /// The stage error kind of this error.
    pub fn kind(&self) -> &'static str {
        match self {
            AlignError::Reference(_) => "invalid-reference",
            AlignError::Input(e) => e.kind(),
            AlignError::MalformedFastq { .. } => "malformed-fastq",
            AlignError::ReadTooLong { .. } => "read-too-long",
            AlignError::MatesOutOfSync { .. } => "mates-out-of-sync",
            AlignError::InvalidParams(_) => "invalid-params",
        }
    }
}

impl From<AlignError> for StageError {
    fn from(e: AlignError) -> StageError {
        let message = e.to_string();
        let kind = e.kind();
        let at = |port: String, record: u64| (port, (record > 0).then_some(record));
        let (port, record) = match e {
            AlignError::Reference(r) => return StageError::from(r),
            AlignError::Input(e) => return StageError::from(e),
            AlignError::MalformedFastq { port, record, .. }
            | AlignError::ReadTooLong { port, record, .. } => at(port, record),
            AlignError::MatesOutOfSync { record, .. } => at("mates".to_owned(), record),
            AlignError::InvalidParams(_) => return StageError::new(kind, message),
        };
        StageError::new(kind, message).at(port, record)
    }
}
