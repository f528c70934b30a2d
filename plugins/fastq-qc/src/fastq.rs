//! A strict, streaming FASTQ reader (plain or gzip) with bounded line length.
//!
//! Hand-written rather than noodles-fastq because QC needs two things that
//! reader does not give: a hard cap on line length (a gzip bomb of one endless
//! line must not exhaust memory) and errors that name the record number.

use std::io::{BufRead, Read};

use petri_sdk::genomics::{InputError, decompressed};

use crate::QcError;

/// One FASTQ record; `qual` is Phred+33 text.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Record {
    /// Header line without the leading `@`.
    pub header: Vec<u8>,
    pub seq: Vec<u8>,
    pub qual: Vec<u8>,
}

impl Record {
    /// The read name: the header up to the first whitespace, without a `/1` or `/2` suffix.
    pub fn name(&self) -> &[u8] {
        let end = self
            .header
            .iter()
            .position(|b| b.is_ascii_whitespace())
            .unwrap_or(self.header.len());
        let name = &self.header[..end];
        match name {
            [rest @ .., b'/', b'1' | b'2'] => rest,
            _ => name,
        }
    }
}

/// Limits that keep hostile input from exhausting memory or time.
#[derive(Debug, Clone, Copy)]
pub struct ReadLimits {
    /// Longest line accepted, in bytes.
    pub max_line: usize,
    /// Most bytes of FASTQ text (after decompression) accepted per input.
    pub max_bytes: u64,
}

/// Reads FASTQ records from a port.
pub struct FastqReader {
    inner: Box<dyn BufRead>,
    port: String,
    limits: ReadLimits,
    record: u64,
    line: Vec<u8>,
}

impl FastqReader {
    /// Wraps `source`, decompressing it if it starts with the gzip magic bytes.
    pub fn new(
        source: impl Read + 'static,
        port: &str,
        limits: ReadLimits,
    ) -> Result<FastqReader, QcError> {
        let inner =
            decompressed(source, limits.max_bytes).map_err(|e| InputError::from_io(port, 0, e))?;
        Ok(FastqReader {
            inner,
            port: port.to_owned(),
            limits,
            record: 0,
            line: Vec::new(),
        })
    }

    /// Number of the record most recently returned (1-based).
    pub fn record_number(&self) -> u64 {
        self.record
    }

    fn malformed(&self, what: impl Into<String>) -> QcError {
        QcError::Malformed {
            port: self.port.clone(),
            record: self.record,
            message: what.into(),
        }
    }

    /// Reads one line into `self.line` (without `\n` or `\r\n`); false at end of input.
    fn next_line(&mut self) -> Result<bool, QcError> {
        self.line.clear();
        let cap = self.limits.max_line as u64 + 2;
        let n = (&mut self.inner)
            .take(cap)
            .read_until(b'\n', &mut self.line)
            .map_err(|e| InputError::from_io(&self.port, self.record, e))?;
        if n == 0 {
            return Ok(false);
        }
        if self.line.last() == Some(&b'\n') {
            self.line.pop();
            if self.line.last() == Some(&b'\r') {
                self.line.pop();
            }
        }
        if self.line.len() > self.limits.max_line {
            return Err(self.malformed(format!(
                "line longer than max-read-length ({} bytes)",
                self.limits.max_line
            )));
        }
        Ok(true)
    }

    /// The next record, or `None` at the end of input.
    pub fn next_record(&mut self, rec: &mut Record) -> Result<bool, QcError> {
        // Skip blank lines between records (and at the end).
        loop {
            if !self.next_line()? {
                return Ok(false);
            }
            if !self.line.is_empty() {
                break;
            }
        }
        self.record += 1;
        let Some(header) = self.line.strip_prefix(b"@") else {
            let got = String::from_utf8_lossy(&self.line[..self.line.len().min(20)]).into_owned();
            return Err(self.malformed(format!("header must start with '@', found `{got}`")));
        };
        rec.header.clear();
        rec.header.extend_from_slice(header);
        if !self.next_line()? {
            return Err(self.malformed("truncated record: sequence line missing"));
        }
        if let Some(bad) = self
            .line
            .iter()
            .find(|b| !b.is_ascii_alphabetic() && **b != b'*' && **b != b'.')
        {
            return Err(self.malformed(format!("invalid sequence character {:?}", *bad as char)));
        }
        rec.seq.clear();
        rec.seq.extend(self.line.iter().map(u8::to_ascii_uppercase));
        if !self.next_line()? {
            return Err(self.malformed("truncated record: '+' line missing"));
        }
        if !self.line.starts_with(b"+") {
            return Err(self.malformed("third line must start with '+'"));
        }
        if !self.next_line()? {
            return Err(self.malformed("truncated record: quality line missing"));
        }
        if self.line.len() != rec.seq.len() {
            return Err(self.malformed(format!(
                "quality length {} differs from sequence length {}",
                self.line.len(),
                rec.seq.len()
            )));
        }
        if let Some(bad) = self.line.iter().find(|q| !(33..=126).contains(*q)) {
            return Err(self.malformed(format!(
                "quality character {bad:#04x} outside Phred+33 range"
            )));
        }
        rec.qual.clear();
        rec.qual.extend_from_slice(&self.line);
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: ReadLimits = ReadLimits {
        max_line: 1000,
        max_bytes: 1 << 20,
    };

    fn read_all(text: &'static [u8]) -> Result<Vec<Record>, QcError> {
        let mut r = FastqReader::new(text, "reads", LIMITS)?;
        let mut out = Vec::new();
        let mut rec = Record::default();
        while r.next_record(&mut rec)? {
            out.push(rec.clone());
        }
        Ok(out)
    }

    fn malformed_at(text: &'static [u8]) -> (u64, String) {
        match read_all(text) {
            Err(QcError::Malformed {
                record, message, ..
            }) => (record, message),
            other => panic!("expected malformed, got {other:?}"),
        }
    }

    #[test]
    fn reads_records_and_names() {
        let recs = read_all(b"@r1/1 extra\nACGT\n+\nIIII\n\n@r2\nacgn\n+r2\n!!!!\n").unwrap();
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[0].name(), b"r1");
        assert_eq!(recs[1].seq, b"ACGN");
    }

    #[test]
    fn errors_name_the_record() {
        assert_eq!(malformed_at(b"@a\nAC\n+\nII\n@b\nACG\n+\nII\n").0, 2);
        assert!(
            malformed_at(b"@a\nAC\n+\nII\nb\nAC\n+\nII\n")
                .1
                .contains("'@'")
        );
        assert!(
            malformed_at(b"@a\nA C\n+\nI I\n")
                .1
                .contains("sequence character")
        );
        assert!(malformed_at(b"@a\nAC\n-\nII\n").1.contains("'+'"));
        assert!(malformed_at(b"@a\nAC\n+\n").1.contains("truncated"));
        assert!(malformed_at(b"@a\nAC\n+\nI\x7f\n").1.contains("Phred"));
    }

    #[test]
    fn long_lines_are_refused_without_buffering_them() {
        let mut text = b"@a\n".to_vec();
        text.extend(std::iter::repeat_n(b'A', 5000));
        let mut r = FastqReader::new(std::io::Cursor::new(text), "reads", LIMITS).unwrap();
        let err = r.next_record(&mut Record::default()).unwrap_err();
        assert!(err.to_string().contains("max-read-length"), "{err}");
    }

    #[test]
    fn gzip_is_detected_and_capped() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        for _ in 0..100_000 {
            gz.write_all(b"@r\nACGT\n+\nIIII\n").unwrap();
        }
        let bytes = gz.finish().unwrap();
        let mut r = FastqReader::new(std::io::Cursor::new(bytes), "reads", LIMITS).unwrap();
        let mut rec = Record::default();
        let err = loop {
            match r.next_record(&mut rec) {
                Ok(true) => continue,
                Ok(false) => panic!("cap not hit"),
                Err(e) => break e,
            }
        };
        assert!(err.to_string().contains("max-input-bytes"), "{err}");
    }
}
