//! The stage's params ([`CallParams`]) and the genotype ploidy they choose.

use serde::Deserialize;

/// Genotype model: one allele per sample (viruses, default) or two.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Ploidy {
    Haploid,
    Diploid,
}

impl Ploidy {
    pub fn as_str(self) -> &'static str {
        match self {
            Ploidy::Haploid => "haploid",
            Ploidy::Diploid => "diploid",
        }
    }
}

/// Caller settings (the stage's params; field names are the param names).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct CallParams {
    pub ploidy: Ploidy,
    pub min_mapping_quality: i64,
    pub min_base_quality: i64,
    pub max_depth: i64,
    pub prior: f64,
    pub indel_quality: i64,
    pub min_qual: f64,
    pub min_depth: i64,
    pub sample: String,
    pub include_supplementary: bool,
    pub max_input_bytes: i64,
    pub max_reference_bases: i64,
    pub max_read_span: i64,
}

impl Default for CallParams {
    fn default() -> CallParams {
        CallParams {
            ploidy: Ploidy::Haploid,
            min_mapping_quality: 0,
            min_base_quality: 13,
            max_depth: 250,
            prior: 1.1e-3,
            indel_quality: 40,
            min_qual: 20.0,
            min_depth: 3,
            sample: String::new(),
            include_supplementary: false,
            max_input_bytes: 64 << 30,
            max_reference_bases: 4 << 30,
            max_read_span: 1 << 20,
        }
    }
}

impl CallParams {
    /// The params as a command line, for the `##petri-call-variantsCommand` header line.
    pub fn command_line(&self) -> String {
        format!(
            "call-variants ploidy={} min-mapping-quality={} min-base-quality={} max-depth={} \
             prior={:e} indel-quality={} min-qual={} min-depth={} sample={} include-supplementary={}",
            self.ploidy.as_str(),
            self.min_mapping_quality,
            self.min_base_quality,
            self.max_depth,
            self.prior,
            self.indel_quality,
            self.min_qual,
            self.min_depth,
            if self.sample.is_empty() {
                "-"
            } else {
                &self.sample
            },
            self.include_supplementary,
        )
    }
}
