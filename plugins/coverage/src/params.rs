//! The coverage stage's params.

/// Settings for [`crate::coverage`] (the stage's params).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct CoverageParams {
    /// Records with a lower MAPQ are skipped (MAPQ 255, unknown, passes).
    pub min_mapping_quality: i64,
    /// Bases with a lower Phred quality do not count.
    pub min_base_quality: i64,
    /// A deleted reference base counts as covered (samtools depth -J).
    pub count_deletions: bool,
    /// Depths at which breadth is reported (≥1× is always reported).
    pub thresholds: Vec<i64>,
    /// Most reference positions (sum of @SQ LN) to hold depth for.
    pub max_reference_bases: i64,
    /// Most SAM bytes read after decompression.
    pub max_input_bytes: i64,
}

impl Default for CoverageParams {
    fn default() -> CoverageParams {
        CoverageParams {
            min_mapping_quality: 0,
            min_base_quality: 0,
            count_deletions: true,
            thresholds: vec![1, 10, 30],
            max_reference_bases: 20_000_000,
            max_input_bytes: 64 << 30,
        }
    }
}
