//! The pileup window: for each reference position still open, the depth, the
//! likelihood sums of the high-quality bases seen (A, C, G, T), of the reads
//! spanning the position and the next one, and of the indel events anchored at
//! the position (left-normalised against the reference as they are added).

use noodles_sam::alignment::record::cigar::op::Kind;

use crate::model::{MAX_PHRED, Obs, Tables};
use crate::sam::Alignment;

/// An indel anchored after a reference base.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Indel {
    /// Deletion of this many reference bases after the anchor.
    Del(u32),
    /// Insertion of these (upper-case) bases after the anchor.
    Ins(Vec<u8>),
}

/// One indel allele and the reads that show it.
#[derive(Debug, Clone)]
pub struct Event {
    pub indel: Indel,
    pub obs: Obs,
}

/// All that is known about one reference position.
#[derive(Debug, Default, Clone)]
pub struct Column {
    /// Reads covering the position with a base or a deletion (set when the column leaves the window).
    pub depth: u32,
    /// High-quality bases A, C, G, T.
    pub bases: [Obs; 4],
    /// Reads with a deletion over this position.
    pub gap: Obs,
    /// Reads covering this position and the next, so they could show an indel
    /// anchored here (set when the column leaves the window).
    pub junction: Obs,
    /// Indel events anchored here, in order of first sight.
    pub events: Vec<Event>,
    /// Change of depth from the previous position.
    depth_delta: i64,
    /// Change of the junction sums from the previous position.
    junction_delta: Delta,
}

/// A signed [`Obs`], for running sums over positions.
#[derive(Debug, Default, Clone, Copy)]
struct Delta {
    n: i64,
    matched: f64,
    mismatched: f64,
    het: f64,
}

impl Delta {
    fn add(&mut self, o: &Obs, sign: i64) {
        let f = sign as f64;
        self.n += sign * i64::from(o.n);
        self.matched += f * o.matched;
        self.mismatched += f * o.mismatched;
        self.het += f * o.het;
    }

    fn add_delta(&mut self, d: &Delta) {
        self.n += d.n;
        self.matched += d.matched;
        self.mismatched += d.mismatched;
        self.het += d.het;
        if self.n <= 0 {
            // Nothing open: drop rounding residue so it cannot drift.
            *self = Delta::default();
        }
    }

    fn obs(&self) -> Obs {
        Obs {
            n: u32::try_from(self.n).unwrap_or(0),
            matched: self.matched,
            mismatched: self.mismatched,
            het: self.het,
        }
    }
}

/// Base code 0..4 for A, C, G, T (either case), 4 otherwise.
pub fn base_code(b: u8) -> usize {
    match b {
        b'A' | b'a' => 0,
        b'C' | b'c' => 1,
        b'G' | b'g' => 2,
        b'T' | b't' => 3,
        _ => 4,
    }
}

/// Settings of the pileup.
#[derive(Debug, Clone, Copy)]
pub struct PileupSettings {
    pub min_base_quality: u8,
    pub indel_quality: u8,
    pub max_depth: u32,
}

/// The open positions of one contig. Depth and junction counts are kept as
/// changes at the ends of covered stretches and summed as columns leave, so
/// a read costs one update per base plus a few per CIGAR operation.
#[derive(Debug, Default)]
pub struct Window {
    /// Reference contig index.
    pub contig: usize,
    /// Position of `cols[head]` (0-based).
    pub start: u64,
    cols: Vec<Column>,
    head: usize,
    depth: i64,
    junction: Delta,
}

/// Phred quality used for bases whose SAM QUAL is `*`.
const MISSING_QUALITY: u8 = 20;
/// Popped columns kept before the vector is compacted.
const COMPACT_AFTER: usize = 4096;

/// One covered stretch of a read (positions relative to the read start):
/// depth and junction changes at its ends.
fn close_stretch(cols: &mut [Column], first: usize, last: usize, obs: &Obs) {
    cols[first].depth_delta += 1;
    cols[last + 1].depth_delta -= 1;
    if last > first {
        cols[first].junction_delta.add(obs, 1);
        cols[last].junction_delta.add(obs, -1);
    }
}

impl Window {
    pub fn new(contig: usize, start: u64) -> Window {
        Window {
            contig,
            start,
            ..Window::default()
        }
    }

    pub fn is_empty(&self) -> bool {
        self.head == self.cols.len()
    }

    /// Removes and returns the leftmost open position, if any.
    pub fn pop(&mut self) -> Option<(u64, Column)> {
        let col = self.cols.get_mut(self.head)?;
        let mut col = std::mem::take(col);
        self.head += 1;
        if self.head == self.cols.len() {
            self.cols.clear();
            self.head = 0;
        } else if self.head >= COMPACT_AFTER && self.head * 2 >= self.cols.len() {
            self.cols.drain(..self.head);
            self.head = 0;
        }
        let pos = self.start;
        self.start += 1;
        self.depth += col.depth_delta;
        self.junction.add_delta(&col.junction_delta);
        col.depth = u32::try_from(self.depth).unwrap_or(0);
        col.junction = self.junction.obs();
        Some((pos, col))
    }

    /// Leftmost open position, or `None` when no position is open.
    pub fn first(&self) -> Option<u64> {
        (!self.is_empty()).then_some(self.start)
    }

    /// Starts the window at `pos` if it holds nothing.
    pub fn restart_at(&mut self, pos: u64) {
        if self.is_empty() && pos > self.start {
            self.start = pos;
        }
    }

    /// Depth at `pos >= self.start`.
    fn depth_at(&self, pos: u64) -> i64 {
        let upto = self.head + (pos - self.start) as usize;
        let end = (upto + 1).min(self.cols.len());
        self.depth
            + self.cols[self.head.min(end)..end]
                .iter()
                .map(|c| c.depth_delta)
                .sum::<i64>()
    }

    /// The columns from `from` to `to` inclusive (`from >= self.start`), created as needed.
    fn span_mut(&mut self, from: u64, to: u64) -> &mut [Column] {
        let a = self.head + (from - self.start) as usize;
        let b = self.head + (to - self.start) as usize;
        if b >= self.cols.len() {
            self.cols.resize_with(b + 1, Column::default);
        }
        &mut self.cols[a..=b]
    }

    /// Adds a read (`self.start <= aln.start < reference.len()`); false if it
    /// was dropped because its start position already has `max_depth` reads.
    pub fn add(
        &mut self,
        aln: &Alignment,
        reference: &[u8],
        t: &Tables,
        s: &PileupSettings,
    ) -> bool {
        if self.depth_at(aln.start) >= i64::from(s.max_depth) {
            return false;
        }
        let len = reference.len() as u64;
        let span: u64 = aln
            .cigar
            .iter()
            .filter(|op| {
                matches!(
                    op.kind(),
                    Kind::Match
                        | Kind::SequenceMatch
                        | Kind::SequenceMismatch
                        | Kind::Deletion
                        | Kind::Skip
                )
            })
            .map(|op| op.len() as u64)
            .sum();
        // Covered positions are clipped to the contig: rel < limit.
        let limit = ((aln.start + span).min(len) - aln.start) as usize;
        let base_cap = aln.mapq.min(63);
        let indel_obs = t.indel[usize::from(aln.mapq.min(s.indel_quality)).min(MAX_PHRED)];
        let origin = aln.start as usize;
        let cols = self.span_mut(aln.start, aln.start + limit as u64);
        let mut rp = 0usize; // relative to aln.start
        let mut qp = 0usize;
        // The covered stretch being built: (first, last) relative positions.
        let mut stretch: Option<(usize, usize)> = None;
        // Relative position of the aligned base just before the current op.
        let mut anchor: Option<usize> = None;
        // An insertion waits for the next aligned base, so the read spans its anchor junction.
        let mut pending: Option<(usize, usize, usize)> = None;
        for op in aln.cigar {
            let n = op.len();
            match op.kind() {
                Kind::Match | Kind::SequenceMatch | Kind::SequenceMismatch => {
                    if let Some((a, from, to)) = pending.take() {
                        let ins = aln.seq[from..to].to_ascii_uppercase();
                        add_event(cols, origin, a, Indel::Ins(ins), &indel_obs, reference);
                    }
                    let stop = (rp + n).min(limit);
                    if rp < stop {
                        stretch = Some((stretch.map_or(rp, |st| st.0), stop - 1));
                    }
                    for i in rp..stop {
                        let c = aln.seq[qp + i - rp];
                        let b = if c == b'=' {
                            base_code(reference[origin + i])
                        } else {
                            base_code(c)
                        };
                        if b == 4 {
                            continue;
                        }
                        let bq = aln
                            .qual
                            .get(qp + i - rp)
                            .map_or(MISSING_QUALITY, |q| q - 33);
                        if bq < s.min_base_quality {
                            continue;
                        }
                        cols[i].bases[b].add(&t.base[usize::from(bq.min(base_cap))]);
                    }
                    rp += n;
                    qp += n;
                    anchor = (rp <= limit).then(|| rp - 1);
                }
                Kind::Insertion => {
                    pending = anchor.map(|a| (a, qp, qp + n));
                    anchor = None;
                    qp += n;
                }
                Kind::Deletion => {
                    pending = None;
                    if let Some(a) = anchor
                        && a + n < limit
                    {
                        add_event(cols, origin, a, Indel::Del(n as u32), &indel_obs, reference);
                    }
                    let stop = (rp + n).min(limit);
                    if rp < stop {
                        stretch = Some((stretch.map_or(rp, |st| st.0), stop - 1));
                    }
                    for col in &mut cols[rp.min(stop)..stop] {
                        col.gap.add(&indel_obs);
                    }
                    rp += n;
                    anchor = None;
                }
                Kind::Skip => {
                    if let Some((first, last)) = stretch.take() {
                        close_stretch(cols, first, last, &indel_obs);
                    }
                    pending = None;
                    rp += n;
                    anchor = None;
                }
                Kind::SoftClip => {
                    pending = None;
                    qp += n;
                    anchor = None;
                }
                Kind::HardClip | Kind::Pad => {}
            }
        }
        if let Some((first, last)) = stretch {
            close_stretch(cols, first, last, &indel_obs);
        }
        true
    }
}

/// Adds an indel anchored at relative position `a` of `cols` (which start at
/// reference position `origin`), shifted left as far as the reference allows
/// without leaving the read.
fn add_event(
    cols: &mut [Column],
    origin: usize,
    mut a: usize,
    mut indel: Indel,
    obs: &Obs,
    reference: &[u8],
) {
    match &mut indel {
        Indel::Del(n) => {
            let n = *n as usize;
            while a > 0 && reference[origin + a] == reference[origin + a + n] {
                a -= 1;
            }
        }
        Indel::Ins(seq) => {
            while a > 0 && seq.last() == Some(&reference[origin + a]) {
                seq.rotate_right(1);
                a -= 1;
            }
        }
    }
    let col = &mut cols[a];
    match col.events.iter_mut().find(|e| e.indel == indel) {
        Some(e) => e.obs.add(obs),
        None => col.events.push(Event { indel, obs: *obs }),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use noodles_sam::alignment::record::cigar::Op;

    fn aln<'a>(start: u64, cigar: &'a [Op], seq: &'a [u8]) -> Alignment<'a> {
        Alignment {
            contig: 0,
            start,
            mapq: 60,
            cigar,
            seq,
            qual: b"",
        }
    }

    const S: PileupSettings = PileupSettings {
        min_base_quality: 13,
        indel_quality: 40,
        max_depth: 250,
    };

    #[test]
    fn indels_are_left_normalised() {
        let reference = b"GCAAAAT";
        let t = Tables::new();
        let mut w = Window::new(0, 0);
        // Deleting the last A of the run (anchor 4) shifts to anchor 1 (C).
        let cigar = [
            Op::new(Kind::Match, 5),
            Op::new(Kind::Deletion, 1),
            Op::new(Kind::Match, 1),
        ];
        assert!(w.add(&aln(0, &cigar, b"GCAAAT"), reference, &t, &S));
        // Inserting an A after the run shifts the same way.
        let cigar = [
            Op::new(Kind::Match, 6),
            Op::new(Kind::Insertion, 1),
            Op::new(Kind::Match, 1),
        ];
        assert!(w.add(&aln(0, &cigar, b"GCAAAAAT"), reference, &t, &S));
        let (_, c0) = w.pop().unwrap();
        assert!(c0.events.is_empty());
        let (p, c1) = w.pop().unwrap();
        assert_eq!(p, 1);
        let kinds: Vec<_> = c1.events.iter().map(|e| e.indel.clone()).collect();
        assert_eq!(kinds, vec![Indel::Del(1), Indel::Ins(b"A".to_vec())]);
        assert_eq!(c1.junction.n, 2);
        assert_eq!(c1.depth, 2);
        assert_eq!(c1.bases[1].n, 2, "bases with QUAL `*` count as Q20");
    }
}
