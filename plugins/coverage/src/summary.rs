//! The JSON summary: per contig and in total, length, mean and median depth
//! and breadth (fraction of positions) at each depth threshold.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::depth::{ContigDepth, RecordCounts};

/// Depths below this are counted in a dense array, the rest in a map.
const DENSE: usize = 1 << 16;

/// How many positions have each depth.
#[derive(Debug, Clone, Default)]
struct Histogram {
    dense: Vec<u64>,
    sparse: BTreeMap<u32, u64>,
    positions: u64,
    sum: u64,
    max: u32,
}

impl Histogram {
    fn add(&mut self, depth: &[u32]) {
        for &d in depth {
            let i = d as usize;
            if i < DENSE {
                if i >= self.dense.len() {
                    self.dense.resize(i + 1, 0);
                }
                self.dense[i] += 1;
            } else {
                *self.sparse.entry(d).or_default() += 1;
            }
            self.sum += u64::from(d);
            self.max = self.max.max(d);
        }
        self.positions += depth.len() as u64;
    }

    fn merge(&mut self, other: &Histogram) {
        if self.dense.len() < other.dense.len() {
            self.dense.resize(other.dense.len(), 0);
        }
        for (a, b) in self.dense.iter_mut().zip(&other.dense) {
            *a += b;
        }
        for (&d, &n) in &other.sparse {
            *self.sparse.entry(d).or_default() += n;
        }
        self.positions += other.positions;
        self.sum += other.sum;
        self.max = self.max.max(other.max);
    }

    /// Depths in ascending order with their position counts.
    fn iter(&self) -> impl Iterator<Item = (u32, u64)> + '_ {
        let dense = self
            .dense
            .iter()
            .enumerate()
            .filter(|&(_, &n)| n > 0)
            .map(|(d, &n)| (d as u32, n));
        dense.chain(self.sparse.iter().map(|(&d, &n)| (d, n)))
    }

    /// The `k`-th smallest depth (0-based); `k < positions`.
    fn kth(&self, k: u64) -> u32 {
        let mut seen = 0;
        for (d, n) in self.iter() {
            seen += n;
            if seen > k {
                return d;
            }
        }
        self.max
    }

    fn median(&self) -> f64 {
        match self.positions {
            0 => 0.0,
            n if n % 2 == 1 => f64::from(self.kth(n / 2)),
            n => (f64::from(self.kth(n / 2 - 1)) + f64::from(self.kth(n / 2))) / 2.0,
        }
    }

    /// Positions with depth ≥ `min`.
    fn at_least(&self, min: u32) -> u64 {
        let below: u64 = self
            .iter()
            .take_while(|&(d, _)| d < min)
            .map(|(_, n)| n)
            .sum();
        self.positions - below
    }
}

/// Breadth at one depth threshold.
#[derive(Debug, Clone, Serialize)]
pub struct Breadth {
    pub min_depth: u32,
    /// Positions with depth ≥ `min_depth`.
    pub positions: u64,
    /// `positions` / length, rounded to 6 decimals.
    pub fraction: f64,
}

/// Coverage statistics of one contig or of all of them.
#[derive(Debug, Clone, Serialize)]
pub struct ContigCoverage {
    /// The contig name (`null` for the total).
    pub name: Option<String>,
    pub length: u64,
    /// Sum of depths over all positions.
    pub bases: u64,
    /// Rounded to 3 decimals.
    pub mean_depth: f64,
    /// The middle depth (mean of the two middle ones for an even length).
    pub median_depth: f64,
    pub max_depth: u32,
    /// At ≥1× and at each threshold, ascending.
    pub breadth: Vec<Breadth>,
}

/// The JSON summary output.
#[derive(Debug, Clone, Serialize)]
pub struct CoverageSummary {
    pub min_mapping_quality: i64,
    pub min_base_quality: i64,
    pub count_deletions: bool,
    pub records: RecordCounts,
    pub contigs: Vec<ContigCoverage>,
    pub total: ContigCoverage,
}

fn round(x: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (x * scale).round() / scale
}

fn stats(name: Option<String>, h: &Histogram, thresholds: &[u32]) -> ContigCoverage {
    let frac = |n: u64| {
        if h.positions == 0 {
            0.0
        } else {
            round(n as f64 / h.positions as f64, 6)
        }
    };
    ContigCoverage {
        name,
        length: h.positions,
        bases: h.sum,
        mean_depth: round(
            if h.positions == 0 {
                0.0
            } else {
                h.sum as f64 / h.positions as f64
            },
            3,
        ),
        median_depth: h.median(),
        max_depth: h.max,
        breadth: thresholds
            .iter()
            .map(|&t| {
                let positions = h.at_least(t);
                Breadth {
                    min_depth: t,
                    positions,
                    fraction: frac(positions),
                }
            })
            .collect(),
    }
}

/// The thresholds to report: 1 and `requested`, deduplicated, ascending.
pub fn thresholds(requested: &[i64]) -> Vec<u32> {
    let mut t: Vec<u32> = requested
        .iter()
        .map(|&x| x.clamp(0, i64::from(u32::MAX)) as u32)
        .chain([1])
        .collect();
    t.sort_unstable();
    t.dedup();
    t
}

impl CoverageSummary {
    /// Summarises the filled depth arrays.
    pub fn new(
        contigs: &[ContigDepth],
        records: RecordCounts,
        params: &crate::CoverageParams,
    ) -> CoverageSummary {
        let thresholds = thresholds(&params.thresholds);
        let mut total = Histogram::default();
        let mut per_contig = Vec::with_capacity(contigs.len());
        for c in contigs {
            let mut h = Histogram::default();
            h.add(&c.depth);
            total.merge(&h);
            per_contig.push(stats(Some(c.name.clone()), &h, &thresholds));
        }
        CoverageSummary {
            min_mapping_quality: params.min_mapping_quality,
            min_base_quality: params.min_base_quality,
            count_deletions: params.count_deletions,
            records,
            contigs: per_contig,
            total: stats(None, &total, &thresholds),
        }
    }
}
