//! Per-position depth arrays for every @SQ contig, filled one SAM record at a
//! time (input order does not matter), with `samtools depth -a -J` semantics.

use noodles_sam::alignment::record::Flags;
use noodles_sam::alignment::record::cigar::op::Kind;
use noodles_sam::{self as sam, Header};
use petri_sdk::genomics::InputError;

use crate::error::CoverageError;
use crate::params::CoverageParams;

/// One reference sequence and its depth at each position (0-based index).
#[derive(Debug, Clone)]
pub struct ContigDepth {
    pub name: String,
    pub depth: Vec<u32>,
}

/// Why records were or were not counted.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct RecordCounts {
    /// Every record read.
    pub total: u64,
    /// Records that added to the depth.
    pub counted: u64,
    pub unmapped: u64,
    pub secondary: u64,
    pub qc_fail: u64,
    pub duplicate: u64,
    pub low_mapping_quality: u64,
    /// Mapped records without CIGAR (`*`): they cover nothing.
    pub no_cigar: u64,
}

/// Accumulates depth over all contigs of a SAM header.
#[derive(Debug)]
pub struct DepthCounter {
    pub contigs: Vec<ContigDepth>,
    pub counts: RecordCounts,
    min_mapping_quality: u8,
    /// Lowest accepted quality character (Phred + 33).
    min_quality_char: u16,
    count_deletions: bool,
    /// Last contig name seen and its index (SAM is usually grouped by contig).
    last_name: Vec<u8>,
    last_index: Option<usize>,
    /// Reused CIGAR buffer: (kind, length).
    ops: Vec<(Kind, usize)>,
}

/// The flags samtools depth skips by default.
fn skip_reason(flags: Flags, counts: &mut RecordCounts) -> bool {
    if flags.is_unmapped() {
        counts.unmapped += 1;
    } else if flags.is_secondary() {
        counts.secondary += 1;
    } else if flags.is_qc_fail() {
        counts.qc_fail += 1;
    } else if flags.is_duplicate() {
        counts.duplicate += 1;
    } else {
        return false;
    }
    true
}

impl DepthCounter {
    /// Depth arrays sized from the header's @SQ lengths, at most
    /// `params.max_reference_bases` positions in total.
    pub fn new(header: &Header, params: &CoverageParams) -> Result<DepthCounter, CoverageError> {
        let refs = header.reference_sequences();
        if refs.is_empty() {
            return Err(CoverageError::malformed(
                0,
                "the header has no @SQ lines: reference lengths are needed for depth \
                 (produce SAM with `samtools view -h` or an aligner's full header)",
            ));
        }
        let max = params.max_reference_bases.max(0) as u64;
        let total: u64 = refs.values().map(|r| r.length().get() as u64).sum();
        if total > max {
            return Err(CoverageError::Input(InputError::limit(
                crate::error::ALIGNMENTS,
                0,
                format!("the @SQ lines total {total} bases, more than max-reference-bases ({max})"),
            )));
        }
        let contigs = refs
            .iter()
            .map(|(name, r)| ContigDepth {
                name: String::from_utf8_lossy(name).into_owned(),
                depth: vec![0; r.length().get()],
            })
            .collect();
        Ok(DepthCounter {
            contigs,
            counts: RecordCounts::default(),
            min_mapping_quality: params.min_mapping_quality.clamp(0, 255) as u8,
            min_quality_char: params.min_base_quality.clamp(0, 1000) as u16 + 33,
            count_deletions: params.count_deletions,
            last_name: Vec::new(),
            last_index: None,
            ops: Vec::new(),
        })
    }

    fn contig_index(&mut self, header: &Header, name: &[u8]) -> Option<usize> {
        if self.last_index.is_some() && self.last_name == name {
            return self.last_index;
        }
        let i = header.reference_sequences().get_index_of(name)?;
        self.last_name.clear();
        self.last_name.extend_from_slice(name);
        self.last_index = Some(i);
        Some(i)
    }

    /// Adds one record (`n` is its 1-based number, for errors).
    pub fn add(&mut self, header: &Header, rec: &sam::Record, n: u64) -> Result<(), CoverageError> {
        let bad = |m: String| CoverageError::malformed(n, m);
        self.counts.total += 1;
        let flags = rec.flags().map_err(|e| bad(format!("invalid FLAG: {e}")))?;
        let contig = match rec.reference_sequence_name() {
            None => None,
            Some(name) => Some(self.contig_index(header, name).ok_or_else(|| {
                bad(format!(
                    "RNAME `{name}` is not a reference sequence of the header (@SQ)"
                ))
            })?),
        };
        if skip_reason(flags, &mut self.counts) {
            return Ok(());
        }
        let Some(contig) = contig else {
            // samtools skips records without a reference (tid < 0).
            self.counts.unmapped += 1;
            return Ok(());
        };
        let mapq = match rec.mapping_quality() {
            None => 255,
            Some(q) => u8::from(q.map_err(|e| bad(format!("invalid MAPQ: {e}")))?),
        };
        if mapq < self.min_mapping_quality {
            self.counts.low_mapping_quality += 1;
            return Ok(());
        }
        let start = match rec.alignment_start() {
            Some(Ok(p)) => usize::from(p) - 1,
            Some(Err(e)) => return Err(bad(format!("invalid POS: {e}"))),
            None => return Err(bad("a mapped record has POS 0".into())),
        };
        self.ops.clear();
        for op in rec.cigar().iter() {
            let op = op.map_err(|e| bad(format!("invalid CIGAR: {e}")))?;
            self.ops.push((op.kind(), op.len()));
        }
        if self.ops.is_empty() {
            self.counts.no_cigar += 1;
            return Ok(());
        }
        let (ref_len, query_len) = spans(&self.ops);
        let seq_len = rec.sequence().len();
        let qual = rec.quality_scores();
        let qual = qual.as_ref();
        if seq_len > 0 && query_len != seq_len {
            return Err(bad(format!(
                "CIGAR covers {query_len} read bases but SEQ has {seq_len}"
            )));
        }
        if !qual.is_empty() && qual.len() != seq_len {
            return Err(bad(format!(
                "QUAL has {} scores but SEQ has {seq_len} bases",
                qual.len()
            )));
        }
        let end = start.saturating_add(ref_len);
        let length = self.contigs[contig].depth.len();
        if end > length {
            return Err(bad(format!(
                "alignment {}..{} runs past the end of `{}` (length {length})",
                start + 1,
                end,
                self.contigs[contig].name,
            )));
        }
        let depth = &mut self.contigs[contig].depth;
        self.counts.counted += 1;
        let min_q = self.min_quality_char;
        // A base passes if it has no quality (SEQ or QUAL `*`) or quality ≥ min.
        let pass = |q: usize| min_q <= 33 || qual.get(q).is_none_or(|&c| u16::from(c) >= min_q);
        let (mut r, mut q) = (start, 0usize);
        for &(kind, len) in &self.ops {
            match kind {
                Kind::Match | Kind::SequenceMatch | Kind::SequenceMismatch => {
                    if min_q <= 33 || qual.is_empty() {
                        for d in &mut depth[r..r + len] {
                            *d = d.saturating_add(1);
                        }
                    } else {
                        for (d, &c) in depth[r..r + len].iter_mut().zip(&qual[q..q + len]) {
                            *d = d.saturating_add(u32::from(u16::from(c) >= min_q));
                        }
                    }
                    r += len;
                    q += len;
                }
                Kind::Deletion => {
                    // Like samtools depth -J: a deletion takes the quality of
                    // the read base that follows it.
                    if self.count_deletions && pass(q) {
                        for d in &mut depth[r..r + len] {
                            *d = d.saturating_add(1);
                        }
                    }
                    r += len;
                }
                Kind::Skip => r += len,
                Kind::Insertion | Kind::SoftClip => q += len,
                Kind::HardClip | Kind::Pad => {}
            }
        }
        Ok(())
    }
}

/// Reference and query lengths of a CIGAR.
fn spans(ops: &[(Kind, usize)]) -> (usize, usize) {
    let (mut r, mut q) = (0usize, 0usize);
    for &(kind, len) in ops {
        if kind.consumes_reference() {
            r = r.saturating_add(len);
        }
        if kind.consumes_read() {
            q = q.saturating_add(len);
        }
    }
    (r, q)
}
