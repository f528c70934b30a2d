//! The `alignments` port: a streaming SAM reader (noodles-sam) that checks the
//! header against the reference, checks coordinate order record by record,
//! validates each record, and yields only the alignments the pileup uses.

use std::io::{self, BufRead, Read};

use noodles_sam::{
    self as sam,
    alignment::record::cigar::{Op, op::Kind},
    header::record::value::map::{header::tag as hd_tag, read_group::tag as rg_tag},
};
use petri_sdk::genomics::{InputError, Reference, decompressed};

use crate::error::CallError;
use crate::params::CallParams;

pub(crate) const PORT: &str = "alignments";

/// One usable alignment, borrowed from the reader's buffers.
#[derive(Debug)]
pub struct Alignment<'a> {
    /// Index of the contig in the reference.
    pub contig: usize,
    /// 0-based leftmost reference position.
    pub start: u64,
    /// Mapping quality (255 when unavailable).
    pub mapq: u8,
    pub cigar: &'a [Op],
    /// Read bases as in SAM (may be lower case or `=`).
    pub seq: &'a [u8],
    /// Phred+33 qualities, or empty when SAM has `*`.
    pub qual: &'a [u8],
}

/// Why records were not used.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct SkipCounts {
    pub unmapped: u64,
    pub secondary: u64,
    pub supplementary: u64,
    pub qc_fail: u64,
    pub duplicate: u64,
    pub low_mapping_quality: u64,
    pub no_sequence: u64,
}

/// Reads the `alignments` port.
pub struct SamInput {
    reader: sam::io::Reader<Box<dyn BufRead>>,
    header: sam::Header,
    /// SAM @SQ index → reference contig index.
    to_reference: Vec<usize>,
    record: sam::Record,
    cigar: Vec<Op>,
    seq: Vec<u8>,
    qual: Vec<u8>,
    number: u64,
    /// (SAM contig index, position) of the previous placed record; `None` index once unplaced records began.
    last: Option<(usize, u64)>,
    unplaced_seen: bool,
    min_mapq: i64,
    include_supplementary: bool,
    max_span: u64,
    pub skipped: SkipCounts,
}

impl SamInput {
    /// Reads and checks the header.
    pub fn new(
        source: impl Read + 'static,
        reference: &Reference,
        params: &CallParams,
    ) -> Result<SamInput, CallError> {
        let max_bytes = params.max_input_bytes.max(0) as u64;
        let inner = decompressed(source, max_bytes).map_err(|e| InputError::from_io(PORT, 0, e))?;
        let mut reader = sam::io::Reader::new(inner);
        let header = reader.read_header().map_err(|e| {
            if e.kind() == io::ErrorKind::InvalidData {
                malformed(0, format!("invalid header: {e}"))
            } else {
                InputError::from_io(PORT, 0, e).into()
            }
        })?;
        let sort_order = header
            .header()
            .and_then(|hd| hd.other_fields().get(&hd_tag::SORT_ORDER));
        if sort_order.is_some_and(|so| so.as_slice() == b"queryname") {
            return Err(CallError::Unsorted {
                port: PORT.into(),
                record: 0,
                message: "header declares SO:queryname; coordinate order is needed".into(),
            });
        }
        let to_reference = match_reference(&header, reference)?;
        Ok(SamInput {
            reader,
            header,
            to_reference,
            record: sam::Record::default(),
            cigar: Vec::new(),
            seq: Vec::new(),
            qual: Vec::new(),
            number: 0,
            last: None,
            unplaced_seen: false,
            min_mapq: params.min_mapping_quality,
            include_supplementary: params.include_supplementary,
            max_span: params.max_read_span.max(1) as u64,
            skipped: SkipCounts::default(),
        })
    }

    /// Whether SAM contig `i` is reference contig `i` for all `i`.
    pub fn same_order(&self) -> bool {
        self.to_reference.iter().enumerate().all(|(i, &r)| i == r)
    }

    /// The sample named by the first @RG SM tag, if any.
    pub fn sample(&self) -> Option<String> {
        self.header.read_groups().values().find_map(|rg| {
            rg.other_fields()
                .get(&rg_tag::SAMPLE)
                .map(|sm| String::from_utf8_lossy(sm.as_slice()).into_owned())
        })
    }

    /// SAM records read so far.
    pub fn records(&self) -> u64 {
        self.number
    }

    /// The next usable alignment, or `None` at the end of input.
    pub fn next_alignment(&mut self) -> Result<Option<Alignment<'_>>, CallError> {
        loop {
            let n = self.reader.read_record(&mut self.record).map_err(|e| {
                let at = self.number + 1;
                if e.kind() == io::ErrorKind::InvalidData
                    || e.kind() == io::ErrorKind::UnexpectedEof
                {
                    malformed(at, format!("invalid record: {e}"))
                } else {
                    InputError::from_io(PORT, at, e).into()
                }
            })?;
            if n == 0 {
                return Ok(None);
            }
            self.number += 1;
            if self.check_record()? {
                break;
            }
        }
        let contig_sam = match self.record.reference_sequence_id(&self.header) {
            Some(Ok(i)) => i,
            // check_record accepted only placed records.
            _ => return Ok(None),
        };
        let start = match self.record.alignment_start() {
            Some(Ok(p)) => usize::from(p) as u64 - 1,
            _ => return Ok(None),
        };
        let mapq = match self.record.mapping_quality() {
            Some(Ok(q)) => u8::from(q),
            _ => 255,
        };
        Ok(Some(Alignment {
            contig: self.to_reference[contig_sam],
            start,
            mapq,
            cigar: &self.cigar,
            seq: &self.seq,
            qual: &self.qual,
        }))
    }

    /// Validates the current record and checks its order; true if the pileup uses it.
    fn check_record(&mut self) -> Result<bool, CallError> {
        let at = self.number;
        let r = &self.record;
        let flags = r
            .flags()
            .map_err(|e| malformed(at, format!("invalid FLAG: {e}")))?;
        let contig = match r.reference_sequence_id(&self.header) {
            None => None,
            Some(Ok(i)) => Some(i),
            Some(Err(_)) => {
                let name = r
                    .reference_sequence_name()
                    .map(|n| n.to_string())
                    .unwrap_or_default();
                return Err(malformed(at, format!("RNAME `{name}` is not an @SQ line")));
            }
        };
        let pos = match r.alignment_start() {
            None => None,
            Some(Ok(p)) => Some(usize::from(p) as u64 - 1),
            Some(Err(e)) => return Err(malformed(at, format!("invalid POS: {e}"))),
        };
        // Order: placed records by (contig, position), then unplaced ones.
        match (contig, pos) {
            (Some(c), Some(p)) => {
                if self.unplaced_seen {
                    return Err(
                        self.unsorted("a placed record follows unplaced records (RNAME `*`)")
                    );
                }
                if self.last.is_some_and(|last| (c, p) < last) {
                    let name = r
                        .reference_sequence_name()
                        .map(|n| n.to_string())
                        .unwrap_or_default();
                    return Err(self.unsorted(&format!(
                        "{name}:{} comes after an earlier record at a later position",
                        p + 1
                    )));
                }
                self.last = Some((c, p));
            }
            (Some(_), None) => {}
            (None, _) => self.unplaced_seen = true,
        }
        let mapq = match r.mapping_quality() {
            None => None,
            Some(Ok(q)) => Some(u8::from(q)),
            Some(Err(e)) => return Err(malformed(at, format!("invalid MAPQ: {e}"))),
        };
        self.cigar.clear();
        for op in r.cigar().iter() {
            let op = op.map_err(|e| malformed(at, format!("invalid CIGAR: {e}")))?;
            self.cigar.push(op);
        }
        let skipped = &mut self.skipped;
        if flags.is_unmapped() || contig.is_none() || pos.is_none() || self.cigar.is_empty() {
            skipped.unmapped += 1;
            return Ok(false);
        }
        if flags.is_secondary() {
            skipped.secondary += 1;
            return Ok(false);
        }
        if flags.is_supplementary() && !self.include_supplementary {
            skipped.supplementary += 1;
            return Ok(false);
        }
        if flags.is_qc_fail() {
            skipped.qc_fail += 1;
            return Ok(false);
        }
        if flags.is_duplicate() {
            skipped.duplicate += 1;
            return Ok(false);
        }
        if i64::from(mapq.unwrap_or(255)) < self.min_mapq {
            skipped.low_mapping_quality += 1;
            return Ok(false);
        }
        let seq = r.sequence();
        if seq.is_empty() {
            skipped.no_sequence += 1;
            return Ok(false);
        }
        let (mut query_len, mut span) = (0u64, 0u64);
        for op in &self.cigar {
            let len = op.len() as u64;
            match op.kind() {
                Kind::Match | Kind::SequenceMatch | Kind::SequenceMismatch => {
                    query_len += len;
                    span += len;
                }
                Kind::Insertion | Kind::SoftClip => query_len += len,
                Kind::Deletion | Kind::Skip => span += len,
                Kind::HardClip | Kind::Pad => {}
            }
        }
        if query_len != seq.len() as u64 {
            return Err(malformed(
                at,
                format!(
                    "CIGAR covers {query_len} read bases but SEQ has {}",
                    seq.len()
                ),
            ));
        }
        if let Some(bad) = seq
            .as_ref()
            .iter()
            .find(|b| !(b.is_ascii_alphabetic() || **b == b'=' || **b == b'.'))
        {
            return Err(malformed(
                at,
                format!("invalid SEQ character {:?}", *bad as char),
            ));
        }
        let qual = r.quality_scores();
        if !qual.is_empty() {
            if qual.len() != seq.len() {
                return Err(malformed(
                    at,
                    format!(
                        "QUAL has {} scores but SEQ has {} bases",
                        qual.len(),
                        seq.len()
                    ),
                ));
            }
            if let Some(bad) = qual.as_ref().iter().find(|q| !(33..=126).contains(*q)) {
                return Err(malformed(
                    at,
                    format!("QUAL character {bad:#04x} outside Phred+33 range"),
                ));
            }
        }
        self.seq.clear();
        self.seq.extend_from_slice(seq.as_ref());
        self.qual.clear();
        self.qual.extend_from_slice(qual.as_ref());
        if span > self.max_span {
            return Err(CallError::Input(InputError::limit(
                PORT,
                at,
                format!(
                    "alignment spans {span} bp, more than max-read-span ({})",
                    self.max_span
                ),
            )));
        }
        Ok(true)
    }

    fn unsorted(&self, message: &str) -> CallError {
        CallError::Unsorted {
            port: PORT.into(),
            record: self.number,
            message: message.into(),
        }
    }
}

fn malformed(record: u64, message: String) -> CallError {
    CallError::MalformedSam {
        port: PORT.into(),
        record,
        message,
    }
}

/// Checks that @SQ lines name exactly the reference's contigs with the same
/// lengths; returns the SAM → reference index map.
fn match_reference(header: &sam::Header, reference: &Reference) -> Result<Vec<usize>, CallError> {
    let mismatch = |message: String| CallError::ReferenceMismatch {
        port: PORT.into(),
        message,
    };
    let sqs = header.reference_sequences();
    if sqs.is_empty() {
        return Err(mismatch("no @SQ lines".into()));
    }
    let mut map = Vec::with_capacity(sqs.len());
    for (name, sq) in sqs {
        let name = String::from_utf8_lossy(name.as_slice()).into_owned();
        let Some((i, contig)) = reference.get(&name) else {
            return Err(mismatch(format!("@SQ `{name}` is not in the reference")));
        };
        let len = usize::from(sq.length());
        if len != contig.seq.len() {
            return Err(mismatch(format!(
                "@SQ `{name}` has LN:{len} but the reference contig has {} bases",
                contig.seq.len()
            )));
        }
        map.push(i);
    }
    if let Some(missing) = reference
        .contigs
        .iter()
        .find(|c| !sqs.contains_key(c.name.as_bytes()))
    {
        return Err(mismatch(format!(
            "reference contig `{}` has no @SQ line",
            missing.name
        )));
    }
    Ok(map)
}
