//! The QC summary: counts and quality statistics before and after filtering.

use std::collections::BTreeMap;

use serde::Serialize;

/// Statistics over a set of reads.
#[derive(Debug, Default, Clone, Serialize)]
pub struct ReadStats {
    pub reads: u64,
    pub bases: u64,
    pub q20_bases: u64,
    pub q30_bases: u64,
    pub n_bases: u64,
    pub gc_bases: u64,
    /// Mean Phred quality over all bases.
    pub mean_quality: f64,
    /// Mean Phred quality at each read position (cycle), 1-based order.
    pub per_position_quality: Vec<f64>,
    /// Read length → number of reads.
    pub length_distribution: BTreeMap<usize, u64>,
    #[serde(skip)]
    quality_sum: u64,
    #[serde(skip)]
    position_sums: Vec<(u64, u64)>,
}

impl ReadStats {
    pub fn add(&mut self, seq: &[u8], qual: &[u8]) {
        self.reads += 1;
        self.bases += seq.len() as u64;
        *self.length_distribution.entry(seq.len()).or_default() += 1;
        if self.position_sums.len() < qual.len() {
            self.position_sums.resize(qual.len(), (0, 0));
        }
        for (i, &q) in qual.iter().enumerate() {
            let q = u64::from(q - 33);
            self.quality_sum += q;
            self.q20_bases += u64::from(q >= 20);
            self.q30_bases += u64::from(q >= 30);
            let slot = &mut self.position_sums[i];
            slot.0 += q;
            slot.1 += 1;
        }
        for &b in seq {
            self.n_bases += u64::from(b == b'N');
            self.gc_bases += u64::from(b == b'G' || b == b'C');
        }
    }

    /// Computes the means; call once after the last `add`.
    pub fn finish(&mut self) {
        self.mean_quality = round3(ratio(self.quality_sum, self.bases));
        self.per_position_quality = self
            .position_sums
            .iter()
            .map(|&(sum, n)| round3(ratio(sum, n)))
            .collect();
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Why reads were removed or shortened.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Filtering {
    pub too_short: u64,
    pub too_many_n: u64,
    pub adapter_trimmed_reads: u64,
    pub quality_trimmed_bases: u64,
    pub adapter_trimmed_bases: u64,
}

/// The JSON summary output.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Summary {
    pub paired: bool,
    /// Reads in and out count every mate; with pairs, a pair is kept only if both mates pass.
    pub before: ReadStats,
    pub after: ReadStats,
    pub filtering: Filtering,
    pub pairs_in: u64,
    pub pairs_out: u64,
}
