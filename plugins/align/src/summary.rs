//! The JSON summary of an alignment run.

/// Counts over all reads (both mates counted).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct AlignSummary {
    pub reads_in: u64,
    pub paired: bool,
    pub pairs: u64,
    pub mapped: u64,
    pub unmapped: u64,
    /// mapped / reads_in, rounded to 4 decimals.
    pub mapped_fraction: f64,
    pub mapped_reverse: u64,
    pub mapq0: u64,
    pub with_indels: u64,
    pub soft_clipped: u64,
    pub properly_paired: u64,
    pub both_mates_mapped: u64,
    pub singletons: u64,
    /// Mates found by searching near their mapped mate.
    pub rescued: u64,
    /// Mean and standard deviation of |TLEN| over properly paired reads (2 decimals).
    pub mean_insert_size: f64,
    pub sd_insert_size: f64,
    /// Insert sizes accepted as proper, inclusive.
    pub insert_size_bounds: [i64; 2],
    /// Pairs the bounds were estimated from (0: `max-insert` was used).
    pub insert_size_estimated_from: u64,
    pub contigs: u64,
    pub reference_bases: u64,
}

/// `x` rounded to `digits` decimals.
pub fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}
