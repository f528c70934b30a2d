//! Pairing: insert-size bounds estimated from confident pairs, choice of the mate
//! alignments that form a proper (FR, in-bounds) pair, and mapping qualities.

use crate::map::Aln;

/// Pairs needed before the insert-size distribution is trusted.
const MIN_PAIRS: usize = 10;
/// Score given up by choosing two alignments that do not pair (as bwa mem's -U).
pub const UNPAIRED_PENALTY: i32 = 17;
/// MAPQ per point of score between the best and the second-best hit.
const MAPQ_PER_POINT: i32 = 6;
/// Highest MAPQ.
const MAX_MAPQ: i32 = 60;

/// Insert sizes accepted for a proper pair, and where they came from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InsertBounds {
    pub lo: i64,
    pub hi: i64,
    /// Pairs the estimate used (0: the `max-insert` fallback).
    pub pairs: u64,
    pub mean: f64,
    pub sd: f64,
}

/// The insert size (outer distance) if `a` and `b` face each other (FR) on one contig.
pub fn fr_insert(a: &Aln, b: &Aln) -> Option<i64> {
    if a.contig != b.contig || a.rev == b.rev {
        return None;
    }
    let (f, r) = if a.rev { (b, a) } else { (a, b) };
    let insert = r.end() as i64 - f.pos as i64;
    (insert > 0).then_some(insert)
}

/// Integer square root (floor).
fn isqrt(v: u128) -> u128 {
    if v < 2 {
        return v;
    }
    let mut x = v;
    let mut y = x.div_ceil(2);
    while y < x {
        x = y;
        y = (x + v / x) / 2;
    }
    x
}

/// Bounds from the inserts of uniquely placed FR pairs (bwa mem's rule: quartiles ± 3 IQR,
/// widened to mean ± 4 SD, outliers beyond 2 IQR ignored), capped at `max_insert`.
pub fn estimate(mut inserts: Vec<i64>, max_insert: i64) -> InsertBounds {
    inserts.retain(|&v| v <= max_insert);
    let fallback = InsertBounds {
        lo: 1,
        hi: max_insert,
        pairs: 0,
        mean: 0.0,
        sd: 0.0,
    };
    if inserts.len() < MIN_PAIRS {
        return fallback;
    }
    inserts.sort_unstable();
    let n = inserts.len();
    let (p25, p75) = (inserts[n / 4], inserts[(3 * n) / 4]);
    let iqr = p75 - p25;
    let kept: Vec<i64> = inserts
        .into_iter()
        .filter(|&v| v >= p25 - 2 * iqr && v <= p75 + 2 * iqr)
        .collect();
    if kept.is_empty() {
        return fallback;
    }
    let count = kept.len() as i128;
    let sum: i128 = kept.iter().map(|&v| i128::from(v)).sum();
    let mean_i = (sum + count / 2) / count;
    let ss: i128 = kept
        .iter()
        .map(|&v| (i128::from(v) - mean_i) * (i128::from(v) - mean_i))
        .sum();
    let sd_i = isqrt((ss / count) as u128) as i64;
    let mean_i = mean_i as i64;
    let lo = (p25 - 3 * iqr).min(mean_i - 4 * sd_i).max(1);
    let hi = (p75 + 3 * iqr).max(mean_i + 4 * sd_i).min(max_insert);
    let mean = sum as f64 / count as f64;
    let var = kept
        .iter()
        .map(|&v| (v as f64 - mean) * (v as f64 - mean))
        .sum::<f64>()
        / count as f64;
    InsertBounds {
        lo,
        hi: hi.max(lo),
        pairs: kept.len() as u64,
        mean,
        sd: var.sqrt(),
    }
}

/// Whether `a` and `b` form a proper pair under `bounds`.
pub fn is_proper(a: &Aln, b: &Aln, bounds: &InsertBounds) -> bool {
    fr_insert(a, b).is_some_and(|v| v >= bounds.lo && v <= bounds.hi)
}

/// MAPQ of `score` against the best competing score `sub`.
fn mapq_from(score: i32, sub: Option<i32>) -> u8 {
    match sub {
        None => MAX_MAPQ as u8,
        Some(s) => ((score - s) * MAPQ_PER_POINT).clamp(0, MAX_MAPQ) as u8,
    }
}

/// MAPQ and XS (best other score) of candidate `i` of `alns`.
pub fn single_mapq(alns: &[Aln], i: usize) -> (u8, Option<i32>) {
    let sub = alns
        .iter()
        .enumerate()
        .filter(|&(j, _)| j != i)
        .map(|(_, a)| a.score)
        .max();
    (mapq_from(alns[i].score, sub), sub)
}

/// The alignments chosen for a pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PairChoice {
    pub a: Option<usize>,
    pub b: Option<usize>,
    pub proper: bool,
    pub mapq_a: u8,
    pub mapq_b: u8,
}

/// Chooses among the candidates of both mates (each sorted best first): the best proper pair
/// unless two unpaired alignments score more than [`UNPAIRED_PENALTY`] better.
pub fn choose(a: &[Aln], b: &[Aln], bounds: &InsertBounds) -> PairChoice {
    let mut best: Option<(i32, usize, usize)> = None;
    let mut second: Option<i32> = None;
    for (i, x) in a.iter().enumerate() {
        for (j, y) in b.iter().enumerate() {
            if !is_proper(x, y, bounds) {
                continue;
            }
            let s = x.score + y.score;
            match best {
                Some((bs, _, _)) if s <= bs => second = Some(second.map_or(s, |v| v.max(s))),
                _ => {
                    if let Some((bs, _, _)) = best {
                        second = Some(second.map_or(bs, |v| v.max(bs)));
                    }
                    best = Some((s, i, j));
                }
            }
        }
    }
    let single = |alns: &[Aln]| (!alns.is_empty()).then_some(0);
    let unpaired = a.first().map_or(0, |x| x.score) + b.first().map_or(0, |y| y.score);
    match best {
        Some((s, i, j)) if s >= unpaired - UNPAIRED_PENALTY => {
            let q_pe = i32::from(mapq_from(s, second));
            let (qa, _) = single_mapq(a, i);
            let (qb, _) = single_mapq(b, j);
            let lift = |q: u8| (i32::from(q).max(q_pe.min(i32::from(q) + 40))) as u8;
            PairChoice {
                a: Some(i),
                b: Some(j),
                proper: true,
                mapq_a: lift(qa),
                mapq_b: lift(qb),
            }
        }
        _ => {
            let (ia, ib) = (single(a), single(b));
            PairChoice {
                a: ia,
                b: ib,
                proper: false,
                mapq_a: ia.map_or(0, |i| single_mapq(a, i).0),
                mapq_b: ib.map_or(0, |i| single_mapq(b, i).0),
            }
        }
    }
}
