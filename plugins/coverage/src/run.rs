//! The whole stage as one function over `Read`/`Write`: parse the SAM header,
//! accumulate depth record by record, write the TSV and the JSON summary.

use std::io::{self, Read, Write};

use noodles_sam as sam;
use petri_sdk::genomics::{InputError, decompressed};

use crate::depth::DepthCounter;
use crate::error::{ALIGNMENTS, CoverageError};
use crate::params::CoverageParams;
use crate::summary::CoverageSummary;
use crate::tsv::write_depth;

/// Reads SAM (plain or gzip) from `sam`, writes the depth TSV to `depth` and
/// the JSON summary to `summary`; returns the summary. `progress` is called
/// with the number of records read every 65,536 records.
pub fn coverage(
    params: &CoverageParams,
    sam: impl Read + 'static,
    mut depth: impl Write,
    mut summary: impl Write,
    mut progress: impl FnMut(u64),
) -> Result<CoverageSummary, CoverageError> {
    let cap = params.max_input_bytes.max(0) as u64;
    let source = decompressed(sam, cap).map_err(|e| InputError::from_io(ALIGNMENTS, 0, e))?;
    let mut reader = sam::io::Reader::new(source);
    let header = read_header(&mut reader)?;
    let mut counter = DepthCounter::new(&header, params)?;
    let mut record = sam::Record::default();
    let mut n = 0u64;
    loop {
        let next = n + 1;
        let read = reader.read_record(&mut record).map_err(|e| {
            if e.kind() == io::ErrorKind::InvalidData || e.kind() == io::ErrorKind::UnexpectedEof {
                CoverageError::malformed(next, format!("not a SAM record: {e}"))
            } else {
                InputError::from_io(ALIGNMENTS, next, e).into()
            }
        })?;
        if read == 0 {
            break;
        }
        n = next;
        counter.add(&header, &record, n)?;
        if n.is_multiple_of(1 << 16) {
            progress(n);
        }
    }
    let result = CoverageSummary::new(&counter.contigs, counter.counts, params);
    write_depth(&counter.contigs, &mut depth).map_err(|e| InputError::from_io("depth", n, e))?;
    let json = serde_json::to_vec_pretty(&result)
        .map_err(|e| InputError::from_io("summary", n, io::Error::other(e)))?;
    summary
        .write_all(&json)
        .and_then(|()| summary.write_all(b"\n"))
        .and_then(|()| summary.flush())
        .map_err(|e| InputError::from_io("summary", n, e))?;
    Ok(result)
}

fn read_header<R: io::BufRead>(
    reader: &mut sam::io::Reader<R>,
) -> Result<sam::Header, CoverageError> {
    let head = reader
        .get_mut()
        .fill_buf()
        .map_err(|e| InputError::from_io(ALIGNMENTS, 0, e))?;
    if head.starts_with(b"BAM\x01") {
        return Err(CoverageError::malformed(
            0,
            "this is BAM, not SAM: convert it with `samtools view -h`",
        ));
    }
    reader.read_header().map_err(|e| {
        if e.kind() == io::ErrorKind::InvalidData {
            CoverageError::malformed(0, format!("invalid SAM header: {e}"))
        } else {
            InputError::from_io(ALIGNMENTS, 0, e).into()
        }
    })
}
