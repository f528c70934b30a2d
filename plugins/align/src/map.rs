//! Placing one read: k-mer seeds on both strands, clustering of seed diagonals, and banded
//! alignment of each promising cluster; also mate rescue inside an expected window.

use petri_sdk::genomics::Reference;

use crate::cigar::{Op, ref_len};
use crate::dp::Dp;
use crate::index::{KmerIndex, code, for_each_kmer};
use crate::params::{AlignParams, Scoring, clamp};

/// Most seed clusters aligned per read.
const MAX_CANDIDATES: usize = 8;

/// One alignment of a read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aln {
    pub contig: usize,
    /// 0-based leftmost reference position of the first aligned base.
    pub pos: u64,
    pub rev: bool,
    pub ops: Vec<Op>,
    /// Alignment score (SAM AS).
    pub score: i32,
}

impl Aln {
    /// One past the last reference base covered.
    pub fn end(&self) -> u64 {
        self.pos + ref_len(&self.ops) as u64
    }

    fn overlaps(&self, o: &Aln) -> bool {
        if self.contig != o.contig || self.rev != o.rev {
            return false;
        }
        let lo = self.pos.max(o.pos);
        let hi = self.end().min(o.end());
        let shorter = (self.end() - self.pos).min(o.end() - o.pos);
        hi > lo && 2 * (hi - lo) >= shorter
    }
}

/// A cluster of seed hits on nearby diagonals.
#[derive(Debug, Clone, Copy)]
struct Cluster {
    rev: bool,
    dmin: i64,
    dmax: i64,
    seeds: u32,
    /// A reference position (global) of one seed, to find the contig.
    sample: u64,
}

/// The read mapper: the reference, its index and scratch space.
pub struct Mapper {
    codes: Vec<Vec<u8>>,
    index: KmerIndex,
    sc: Scoring,
    band: i64,
    max_hits: usize,
    min_score: i32,
    /// Smallest score of a rescued mate: a seed's worth of matches (as bwa mem), or less.
    rescue_min_score: i32,
    dp: Dp,
    hits: Vec<(i64, u32)>,
    clusters: Vec<Cluster>,
}

/// Base codes of the reverse complement of `codes`.
pub fn revcomp_codes(codes: &[u8]) -> Vec<u8> {
    codes
        .iter()
        .rev()
        .map(|&c| if c > 3 { 4 } else { 3 - c })
        .collect()
}

impl Mapper {
    /// Indexes `reference` for `params`.
    pub fn new(reference: &Reference, params: &AlignParams) -> Mapper {
        let codes = reference
            .contigs
            .iter()
            .map(|c| c.seq.iter().map(|&b| code(b)).collect())
            .collect();
        Mapper {
            codes,
            index: KmerIndex::build(reference, params.seed_len()),
            sc: params.scoring(),
            band: clamp(params.band, 1, 500),
            max_hits: clamp(params.max_seed_hits, 1, 1 << 30) as usize,
            min_score: clamp(params.min_score, 0, i64::from(i32::MAX)) as i32,
            rescue_min_score: clamp(params.min_score, 0, i64::from(i32::MAX))
                .min(params.seed_len() as i64 * clamp(params.match_score, 1, 100))
                as i32,
            dp: Dp::default(),
            hits: Vec::new(),
            clusters: Vec::new(),
        }
    }

    /// The scoring in use.
    pub fn scoring(&self) -> &Scoring {
        &self.sc
    }

    fn seed_clusters(&mut self, q: &[u8], rev: bool) {
        self.hits.clear();
        let (index, hits, max_hits) = (&self.index, &mut self.hits, self.max_hits);
        for_each_kmer(q, index.k(), |i, kmer| {
            let found = index.lookup(kmer);
            if found.len() <= max_hits {
                hits.extend(found.iter().map(|&g| (i64::from(g) - i as i64, i as u32)));
            }
        });
        self.hits.sort_unstable();
        let mut cur: Option<Cluster> = None;
        for &(d, i) in &self.hits {
            match cur.as_mut() {
                Some(c) if d - c.dmax <= self.band && d - c.dmin <= 4 * self.band => {
                    c.dmax = d;
                    c.seeds += 1;
                }
                _ => {
                    if let Some(c) = cur.take() {
                        self.clusters.push(c);
                    }
                    cur = Some(Cluster {
                        rev,
                        dmin: d,
                        dmax: d,
                        seeds: 1,
                        sample: (d + i64::from(i)) as u64,
                    });
                }
            }
        }
        if let Some(c) = cur {
            self.clusters.push(c);
        }
    }

    /// Candidate alignments of the read `seq` (letters), best first, at most one per locus.
    pub fn map_read(&mut self, seq: &[u8]) -> Vec<Aln> {
        let fwd: Vec<u8> = seq.iter().map(|&b| code(b)).collect();
        let rev = revcomp_codes(&fwd);
        self.clusters.clear();
        self.seed_clusters(&fwd, false);
        self.seed_clusters(&rev, true);
        self.clusters.sort_by(|a, b| {
            b.seeds
                .cmp(&a.seeds)
                .then(a.rev.cmp(&b.rev))
                .then(a.dmin.cmp(&b.dmin))
        });
        let best = self.clusters.first().map_or(0, |c| c.seeds);
        let chosen: Vec<Cluster> = self
            .clusters
            .iter()
            .filter(|c| c.seeds * 4 >= best)
            .take(MAX_CANDIDATES)
            .copied()
            .collect();
        let mut alns = Vec::new();
        for c in chosen {
            let q = if c.rev { &rev } else { &fwd };
            let (contig, _) = self.index.locate(c.sample);
            let off = self.index.start(contig) as i64;
            if c.dmin == c.dmax
                && let Some(a) = self.ungapped(q, contig, c.dmin - off, c.rev)
            {
                alns.push(a);
                continue;
            }
            let (lo, hi) = (c.dmin - off - self.band, c.dmax - off + self.band);
            if let Some(a) = self.align_window(q, contig, lo, hi, c.rev, self.min_score) {
                alns.push(a);
            }
        }
        dedupe(alns)
    }

    /// The alignment of `q` at `contig` position `d` without gaps or clips, if it provably is
    /// what the banded alignment would find: its shortfall from a perfect score is smaller
    /// than any gap (open + extend) or clip (penalty + one base) could be.
    fn ungapped(&self, q: &[u8], contig: usize, d: i64, rev: bool) -> Option<Aln> {
        let t = &self.codes[contig];
        let start = usize::try_from(d).ok()?;
        let window = t.get(start..start + q.len())?;
        let sc = &self.sc;
        let limit = (sc.clip + sc.matched).min(sc.gap_open + sc.gap_extend);
        let mut deficit = 0;
        for (&a, &b) in q.iter().zip(window) {
            if a > 3 || b > 3 {
                deficit += sc.matched + sc.ambiguous;
            } else if a != b {
                deficit += sc.matched + sc.mismatch;
            }
            if deficit >= limit {
                return None;
            }
        }
        let score = q.len() as i32 * sc.matched - deficit;
        (score >= self.min_score).then(|| Aln {
            contig,
            pos: start as u64,
            rev,
            ops: vec![Op {
                kind: crate::cigar::OpKind::Match,
                len: q.len(),
            }],
            score,
        })
    }

    /// Aligns `q` on `contig` within local diagonals `lo..=hi` (read start positions).
    fn align_window(
        &mut self,
        q: &[u8],
        contig: usize,
        lo: i64,
        hi: i64,
        rev: bool,
        min_score: i32,
    ) -> Option<Aln> {
        let t = &self.codes[contig];
        let ws = lo.max(0);
        let we = (hi + q.len() as i64).min(t.len() as i64);
        if we <= ws {
            return None;
        }
        let hit = self
            .dp
            .align(q, &t[ws as usize..we as usize], lo - ws, hi - ws, &self.sc)?;
        (hit.score >= min_score).then(|| Aln {
            contig,
            pos: ws as u64 + hit.t_start as u64,
            rev,
            ops: hit.ops,
            score: hit.score,
        })
    }

    /// Looks for the read `seq` on strand `rev` with its first aligned base in
    /// `start_lo..=start_hi` of `contig` (mate rescue); the score must reach
    /// min(min-score, k × match-score), like bwa mem's rescue.
    pub fn rescue(
        &mut self,
        seq: &[u8],
        contig: usize,
        start_lo: i64,
        start_hi: i64,
        rev: bool,
    ) -> Option<Aln> {
        let fwd: Vec<u8> = seq.iter().map(|&b| code(b)).collect();
        let q = if rev { revcomp_codes(&fwd) } else { fwd };
        let min = self.rescue_min_score;
        self.align_window(
            &q,
            contig,
            start_lo - self.band,
            start_hi + self.band,
            rev,
            min,
        )
    }

    /// Number of contigs.
    pub fn contig_len(&self, contig: usize) -> usize {
        self.codes[contig].len()
    }
}

/// Sorts best first (ties: contig, position, strand) and drops alignments overlapping a better one.
pub fn dedupe(mut alns: Vec<Aln>) -> Vec<Aln> {
    alns.sort_by(|a, b| {
        b.score
            .cmp(&a.score)
            .then(a.contig.cmp(&b.contig))
            .then(a.pos.cmp(&b.pos))
            .then(a.rev.cmp(&b.rev))
    });
    let mut kept: Vec<Aln> = Vec::with_capacity(alns.len());
    for a in alns {
        if !kept.iter().any(|k| k.overlaps(&a)) {
            kept.push(a);
        }
    }
    kept
}
