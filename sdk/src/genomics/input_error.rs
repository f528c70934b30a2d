//! [`InputError`]: a port that could not be read or written, or an input over
//! one of the stage's limits, named by port and record.

use std::io;

use super::gzip::is_limit;
use crate::StageError;

/// An I/O failure at a port, or an input over a limit. `record` is the 1-based
/// record the stage was at (0: before the first record, e.g. in a header).
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// The input exceeds `max-input-bytes` or another of the stage's limits.
    #[error("{port}: record {record}: {message}")]
    Limit {
        port: String,
        record: u64,
        message: String,
    },
    /// Reading an input or writing an output failed.
    #[error("{port}: I/O error near record {record}: {source}")]
    Io {
        port: String,
        record: u64,
        source: io::Error,
    },
}

impl InputError {
    /// An I/O error at `port`; hitting the cap of
    /// [`decompressed`](super::decompressed) becomes [`InputError::Limit`].
    pub fn from_io(port: &str, record: u64, e: io::Error) -> InputError {
        if is_limit(&e) {
            return InputError::limit(port, record, e.to_string());
        }
        InputError::Io {
            port: port.to_owned(),
            record,
            source: e,
        }
    }

    /// An input over a limit other than the byte cap.
    pub fn limit(port: &str, record: u64, message: impl Into<String>) -> InputError {
        InputError::Limit {
            port: port.to_owned(),
            record,
            message: message.into(),
        }
    }

    /// The 1-based record the error is at (0: before the first record).
    pub fn record(&self) -> u64 {
        match self {
            InputError::Limit { record, .. } | InputError::Io { record, .. } => *record,
        }
    }

    /// The port the error is at.
    pub fn port(&self) -> &str {
        match self {
            InputError::Limit { port, .. } | InputError::Io { port, .. } => port,
        }
    }

    /// The stage error kind: `limit-exceeded` or `io`.
    pub fn kind(&self) -> &'static str {
        match self {
            InputError::Limit { .. } => "limit-exceeded",
            InputError::Io { .. } => "io",
        }
    }
}

/// `limit-exceeded` or `io`, at the port and record (none for record 0).
impl From<InputError> for StageError {
    fn from(e: InputError) -> StageError {
        let (port, record) = (e.port().to_owned(), e.record());
        StageError::new(e.kind(), e.to_string()).at(port, (record > 0).then_some(record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::genomics::LIMIT_MESSAGE;

    #[test]
    fn the_cap_is_a_limit_other_errors_are_io() {
        let cap = io::Error::other(format!("{LIMIT_MESSAGE} (10 bytes)"));
        let e = InputError::from_io("reads", 3, cap);
        assert!(matches!(e, InputError::Limit { record: 3, .. }), "{e}");
        assert_eq!(
            e.to_string(),
            format!("reads: record 3: {LIMIT_MESSAGE} (10 bytes)")
        );
        let se = StageError::from(e);
        assert_eq!(
            (se.kind.as_str(), se.port.as_deref(), se.record),
            ("limit-exceeded", Some("reads"), Some(3))
        );

        let e = InputError::from_io("out", 0, io::Error::other("disk full"));
        assert_eq!(e.to_string(), "out: I/O error near record 0: disk full");
        let se = StageError::from(e);
        assert_eq!(
            (se.kind.as_str(), se.port.as_deref(), se.record),
            ("io", Some("out"), None)
        );
    }
}
