//! Reading (pairs of) FASTQ records into memory with noodles-fastq, checking each record.

use std::io::{BufRead, Read};

use petri_sdk::genomics::{InputError, decompressed};

use crate::AlignError;

/// One read as given: name without `/1` `/2`, upper-case bases, Phred+33 qualities.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Read1 {
    pub name: Vec<u8>,
    pub seq: Vec<u8>,
    pub qual: Vec<u8>,
}

/// A FASTQ input port read record by record.
pub struct FastqInput {
    reader: noodles_fastq::io::Reader<Box<dyn BufRead>>,
    port: String,
    record: u64,
    max_len: usize,
    buf: noodles_fastq::Record,
}

/// The read name: up to the first whitespace, without a trailing `/1` or `/2`.
pub fn read_name(raw: &[u8]) -> &[u8] {
    let end = raw
        .iter()
        .position(|b| b.is_ascii_whitespace())
        .unwrap_or(raw.len());
    match &raw[..end] {
        [rest @ .., b'/', b'1' | b'2'] if !rest.is_empty() => rest,
        name => name,
    }
}

impl FastqInput {
    /// Opens `source` (plain or gzip), reading at most `max_bytes` of FASTQ text.
    pub fn new(
        source: impl Read + 'static,
        port: &str,
        max_bytes: u64,
        max_len: usize,
    ) -> Result<FastqInput, AlignError> {
        let inner = decompressed(source, max_bytes).map_err(|e| AlignError::read(port, 0, e))?;
        Ok(FastqInput {
            reader: noodles_fastq::io::Reader::new(inner),
            port: port.to_owned(),
            record: 0,
            max_len,
            buf: noodles_fastq::Record::default(),
        })
    }

    /// The port this input reads.
    pub fn port(&self) -> &str {
        &self.port
    }

    fn malformed(&self, message: impl Into<String>) -> AlignError {
        AlignError::MalformedFastq {
            port: self.port.clone(),
            record: self.record,
            message: message.into(),
        }
    }

    /// The next record, or `None` at the end of the input.
    pub fn next_read(&mut self) -> Result<Option<Read1>, AlignError> {
        let n = self
            .reader
            .read_record(&mut self.buf)
            .map_err(|e| AlignError::read(&self.port, self.record + 1, e))?;
        if n == 0 {
            return Ok(None);
        }
        self.record += 1;
        let name = read_name(self.buf.name()).to_vec();
        if name.is_empty() {
            return Err(self.malformed("record has no name"));
        }
        if let Some(bad) = name
            .iter()
            .find(|b| !(b'!'..=b'~').contains(*b) || **b == b'@')
        {
            return Err(self.malformed(format!("read name contains {:?}", *bad as char)));
        }
        let seq = self.buf.sequence();
        if seq.len() > self.max_len {
            return Err(AlignError::ReadTooLong {
                port: self.port.clone(),
                record: self.record,
                len: seq.len(),
                max: self.max_len,
            });
        }
        if let Some(bad) = seq.iter().find(|b| !b.is_ascii_alphabetic() && **b != b'.') {
            return Err(self.malformed(format!("invalid sequence character {:?}", *bad as char)));
        }
        let qual = self.buf.quality_scores();
        if qual.len() != seq.len() {
            return Err(self.malformed(format!(
                "quality length {} differs from sequence length {}",
                qual.len(),
                seq.len()
            )));
        }
        if let Some(bad) = qual.iter().find(|q| !(33..=126).contains(*q)) {
            return Err(self.malformed(format!(
                "quality character {bad:#04x} outside Phred+33 range"
            )));
        }
        let seq = seq
            .iter()
            .map(|&b| {
                if b == b'.' {
                    b'N'
                } else {
                    b.to_ascii_uppercase()
                }
            })
            .collect();
        Ok(Some(Read1 {
            name,
            seq,
            qual: qual.to_vec(),
        }))
    }
}

/// Reads all reads (and mates, in lockstep), at most `max_reads` reads in total.
pub fn read_all(
    mut reads: FastqInput,
    mut mates: Option<FastqInput>,
    max_reads: u64,
) -> Result<(Vec<Read1>, Vec<Read1>), AlignError> {
    let mut r1 = Vec::new();
    let mut r2 = Vec::new();
    let per = if mates.is_some() { 2 } else { 1 };
    loop {
        let a = reads.next_read()?;
        let b = match mates.as_mut() {
            Some(m) => m.next_read()?,
            None => None,
        };
        let record = r1.len() as u64 + 1;
        let Some(a) = a else {
            if b.is_some() {
                return Err(AlignError::MatesOutOfSync {
                    record,
                    message: "`mates` has more records than `reads`".into(),
                });
            }
            break;
        };
        if mates.is_some() {
            let Some(b) = b else {
                return Err(AlignError::MatesOutOfSync {
                    record,
                    message: "`mates` has fewer records than `reads`".into(),
                });
            };
            if a.name != b.name {
                return Err(AlignError::MatesOutOfSync {
                    record,
                    message: format!(
                        "read `{}` is paired with mate `{}`",
                        String::from_utf8_lossy(&a.name),
                        String::from_utf8_lossy(&b.name)
                    ),
                });
            }
            r2.push(b);
        }
        r1.push(a);
        if (r1.len() as u64) * per > max_reads {
            return Err(AlignError::Input(InputError::limit(
                reads.port(),
                record,
                format!("more than max-reads ({max_reads}) reads to hold for sorting"),
            )));
        }
    }
    Ok((r1, r2))
}
