//! A reference genome read from FASTA (plain or gzip): contigs in file order,
//! bases upper-cased, and every problem reported with its port and record.

use std::collections::HashMap;
use std::io::{self, Read};

use noodles_fasta::{self as fasta, record::Definition};

use super::gzip::{decompressed, is_limit};
use crate::StageError;

/// One reference sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contig {
    /// The first word of the FASTA definition line.
    pub name: String,
    /// Upper-case IUPAC bases.
    pub seq: Vec<u8>,
}

/// A reference: its contigs in file order.
#[derive(Debug, Clone, Default)]
pub struct Reference {
    pub contigs: Vec<Contig>,
    by_name: HashMap<String, usize>,
}

/// Why a reference could not be loaded. `record` is the 1-based FASTA record.
#[derive(Debug, thiserror::Error)]
pub enum ReferenceError {
    #[error("{port}: no sequences (is this FASTA?)")]
    NoContigs { port: String },
    #[error("{port}: record {record}: contig `{name}` appears again (first at record {first})")]
    DuplicateContig {
        port: String,
        record: u64,
        name: String,
        first: u64,
    },
    #[error("{port}: record {record}: contig `{name}` has no bases")]
    EmptyContig {
        port: String,
        record: u64,
        name: String,
    },
    #[error(
        "{port}: record {record}: contig `{name}` position {position}: `{found}` is not a nucleotide code"
    )]
    InvalidBase {
        port: String,
        record: u64,
        name: String,
        position: u64,
        found: char,
    },
    #[error("{port}: record {record}: {message}")]
    Malformed {
        port: String,
        record: u64,
        message: String,
    },
    #[error("{port}: record {record}: reference exceeds {max} bases")]
    TooLarge { port: String, record: u64, max: u64 },
    #[error("{port}: record {record}: {source}")]
    Io {
        port: String,
        record: u64,
        source: io::Error,
    },
}

impl ReferenceError {
    /// The 1-based record the error is at (0: before the first record).
    pub fn record(&self) -> u64 {
        match self {
            ReferenceError::NoContigs { .. } => 0,
            ReferenceError::DuplicateContig { record, .. }
            | ReferenceError::EmptyContig { record, .. }
            | ReferenceError::InvalidBase { record, .. }
            | ReferenceError::Malformed { record, .. }
            | ReferenceError::TooLarge { record, .. }
            | ReferenceError::Io { record, .. } => *record,
        }
    }

    fn port(&self) -> &str {
        match self {
            ReferenceError::NoContigs { port }
            | ReferenceError::DuplicateContig { port, .. }
            | ReferenceError::EmptyContig { port, .. }
            | ReferenceError::InvalidBase { port, .. }
            | ReferenceError::Malformed { port, .. }
            | ReferenceError::TooLarge { port, .. }
            | ReferenceError::Io { port, .. } => port,
        }
    }
}

/// `invalid-reference`, `limit-exceeded` or `io`, at the port and record.
impl From<ReferenceError> for StageError {
    fn from(e: ReferenceError) -> StageError {
        let kind = match &e {
            ReferenceError::TooLarge { .. } => "limit-exceeded",
            ReferenceError::Io { source, .. } if is_limit(source) => "limit-exceeded",
            ReferenceError::Io { .. } => "io",
            _ => "invalid-reference",
        };
        let (port, record) = (e.port().to_owned(), e.record());
        StageError::new(kind, e.to_string()).at(port, (record > 0).then_some(record))
    }
}

/// Whether `b` (upper case) is an IUPAC nucleotide code.
pub fn is_nucleotide(b: u8) -> bool {
    matches!(
        b,
        b'A' | b'C'
            | b'G'
            | b'T'
            | b'U'
            | b'N'
            | b'R'
            | b'Y'
            | b'S'
            | b'W'
            | b'K'
            | b'M'
            | b'B'
            | b'D'
            | b'H'
            | b'V'
    )
}

impl Reference {
    /// Reads FASTA from `source` (gzip is detected), at most `max_bases` bases
    /// in total. Contig names must be unique and non-empty sequences.
    pub fn read(
        source: impl Read + 'static,
        port: &str,
        max_bases: u64,
    ) -> Result<Reference, ReferenceError> {
        let io_err = |record, source| ReferenceError::Io {
            port: port.to_owned(),
            record,
            source,
        };
        // The text of a FASTA is at most about its bases plus headers; cap it
        // generously so a gzip bomb stops early.
        let cap = max_bases.saturating_mul(2).saturating_add(1 << 20);
        let mut reader =
            fasta::io::Reader::new(decompressed(source, cap).map_err(|e| io_err(0, e))?);
        let mut reference = Reference::default();
        let mut total = 0u64;
        let mut definition = Definition::default();
        for record in 1u64.. {
            let n = reader.read_definition(&mut definition).map_err(|e| {
                if e.kind() == io::ErrorKind::InvalidData {
                    ReferenceError::Malformed {
                        port: port.to_owned(),
                        record,
                        message: format!("invalid definition line: {e}"),
                    }
                } else {
                    io_err(record, e)
                }
            })?;
            if n == 0 {
                break;
            }
            let name = String::from_utf8_lossy(definition.name()).into_owned();
            let mut seq = Vec::new();
            reader
                .read_sequence(&mut seq)
                .map_err(|e| io_err(record, e))?;
            if name.is_empty() {
                return Err(ReferenceError::Malformed {
                    port: port.to_owned(),
                    record,
                    message: "definition line has no name".into(),
                });
            }
            if let Some(&first) = reference.by_name.get(&name) {
                return Err(ReferenceError::DuplicateContig {
                    port: port.to_owned(),
                    record,
                    name,
                    first: first as u64 + 1,
                });
            }
            if seq.is_empty() {
                return Err(ReferenceError::EmptyContig {
                    port: port.to_owned(),
                    record,
                    name,
                });
            }
            seq.make_ascii_uppercase();
            if let Some(i) = seq.iter().position(|&b| !is_nucleotide(b)) {
                return Err(ReferenceError::InvalidBase {
                    port: port.to_owned(),
                    record,
                    name,
                    position: i as u64 + 1,
                    found: seq[i] as char,
                });
            }
            total += seq.len() as u64;
            if total > max_bases {
                return Err(ReferenceError::TooLarge {
                    port: port.to_owned(),
                    record,
                    max: max_bases,
                });
            }
            reference
                .by_name
                .insert(name.clone(), reference.contigs.len());
            reference.contigs.push(Contig { name, seq });
        }
        if reference.contigs.is_empty() {
            return Err(ReferenceError::NoContigs {
                port: port.to_owned(),
            });
        }
        Ok(reference)
    }

    /// The contig called `name` and its index in file order.
    pub fn get(&self, name: &str) -> Option<(usize, &Contig)> {
        let &i = self.by_name.get(name)?;
        Some((i, &self.contigs[i]))
    }

    /// Total bases over all contigs.
    pub fn total_len(&self) -> u64 {
        self.contigs.iter().map(|c| c.seq.len() as u64).sum()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn read(text: &str) -> Result<Reference, ReferenceError> {
        Reference::read(io::Cursor::new(text.as_bytes().to_vec()), "reference", 1000)
    }

    #[test]
    fn contigs_in_order_upper_cased() {
        let r = read(">chr1 first\nacgt\nNNAC\n>chr2\nGGGG\n").unwrap();
        assert_eq!(r.contigs.len(), 2);
        assert_eq!(r.contigs[0].seq, b"ACGTNNAC");
        assert_eq!(r.get("chr2").unwrap().0, 1);
        assert_eq!(r.total_len(), 12);
    }

    #[test]
    fn problems_name_the_record() {
        let e = read(">a\nAC\n>b\nGG\n>a\nTT\n").unwrap_err();
        assert!(
            matches!(
                e,
                ReferenceError::DuplicateContig {
                    record: 3,
                    first: 1,
                    ..
                }
            ),
            "{e}"
        );
        let e = read(">a\nAC\n>b\n>c\nGG\n").unwrap_err();
        assert!(
            matches!(e, ReferenceError::EmptyContig { record: 2, .. }),
            "{e}"
        );
        let e = read(">a\nAC\n>b\nGX\n").unwrap_err();
        assert!(
            matches!(
                e,
                ReferenceError::InvalidBase {
                    record: 2,
                    position: 2,
                    found: 'X',
                    ..
                }
            ),
            "{e}"
        );
        let e = read("ACGT\n").unwrap_err();
        assert!(
            matches!(e, ReferenceError::Malformed { record: 1, .. }),
            "{e}"
        );
        let e = read("").unwrap_err();
        assert!(matches!(e, ReferenceError::NoContigs { .. }), "{e}");
        let e = read(&format!(">a\n{}\n", "A".repeat(1001))).unwrap_err();
        assert!(matches!(e, ReferenceError::TooLarge { .. }), "{e}");
        let se = StageError::from(read(">a\nAC\n>a\nAC\n").unwrap_err());
        assert_eq!(
            (se.kind.as_str(), se.port.as_deref(), se.record),
            ("invalid-reference", Some("reference"), Some(2))
        );
    }
}
