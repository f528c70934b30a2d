//! The consensus stage's params.

/// What to do with a heterozygous genotype.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Heterozygous {
    /// Leave the reference.
    Skip,
    /// SNVs get the IUPAC ambiguity code of their alleles; other hets are skipped.
    Iupac,
    /// Apply the first non-reference allele of the genotype.
    Alt,
}

/// Settings for [`crate::consensus`] (the stage's params).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct ConsensusParams {
    /// Output record name; `{contig}` and `{sample}` are replaced.
    pub name_template: String,
    pub heterozygous: Heterozygous,
    /// With a depth input, positions with less depth become `N`.
    pub min_depth: i64,
    /// Most reference bases loaded.
    pub max_reference_bases: i64,
    /// Most bytes read from each input after decompression.
    pub max_input_bytes: i64,
}

impl Default for ConsensusParams {
    fn default() -> ConsensusParams {
        ConsensusParams {
            name_template: "{contig}".into(),
            heterozygous: Heterozygous::Skip,
            min_depth: 10,
            max_reference_bases: 250_000_000,
            max_input_bytes: 64 << 30,
        }
    }
}
