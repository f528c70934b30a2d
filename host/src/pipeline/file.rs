//! The pipeline file: TOML as written by a bioinformatician, with the span of every value.
//!
//! ```toml
//! [pipeline]
//! name = "lambda-qc"
//!
//! [inputs.reads]
//! path = "../data/lambda/reads_1.fq.gz"   # relative to this file
//! format = "fastq"
//! sha256 = "aba7c356…"                     # optional: checked before anything runs
//!
//! [stages.qc]
//! module = "fastq-qc"                      # a registered name, a .wasm path, or sha256:<hex>
//! params = { min-length = 30 }
//! inputs = { reads = "inputs.reads" }      # or "<stage>.<output port>"
//! policy = { max-attempts = 2, fuel = 1_000_000_000_000, wall-clock-secs = 3600, allow = ["retry", "skip"] }
//! resources = { instrument = "compute" }
//! ```

use std::collections::BTreeMap;
use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;

/// A pipeline file as parsed, before any checks beyond syntax and shape.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineFile {
    #[serde(default)]
    pub pipeline: Meta,
    #[serde(default)]
    pub inputs: BTreeMap<Spanned<String>, Spanned<InputDecl>>,
    #[serde(default)]
    pub stages: BTreeMap<Spanned<String>, Spanned<StageDecl>>,
    /// Parameter sweep (`sweep.rs`): expanded into stages before validation.
    #[serde(default)]
    pub sweep: Option<Spanned<super::sweep::SweepDecl>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Meta {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
}

/// A pipeline-level input.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputDecl {
    /// A file, relative to the pipeline file. Without it, each sample in the
    /// sample sheet must give the file in a column named like the input; with
    /// it, such a column is optional (a sample's cell overrides the path).
    #[serde(default)]
    pub path: Option<Spanned<String>>,
    /// The data format (fastq, fasta, sam, vcf, json, tsv…); sniffed when absent.
    #[serde(default)]
    pub format: Option<Spanned<String>>,
    /// Expected SHA-256 of the file's bytes.
    #[serde(default)]
    pub sha256: Option<Spanned<String>>,
}

/// One stage of the pipeline.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageDecl {
    pub module: Spanned<String>,
    #[serde(default)]
    pub params: BTreeMap<Spanned<String>, Spanned<toml::Value>>,
    /// Input port → `inputs.<name>` or `<stage>.<output port>`.
    #[serde(default)]
    pub inputs: BTreeMap<Spanned<String>, Spanned<String>>,
    #[serde(default)]
    pub policy: Option<Spanned<PolicyDecl>>,
    #[serde(default)]
    pub resources: Option<Spanned<ResourcesDecl>>,
}

/// What may happen when the stage fails.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PolicyDecl {
    #[serde(default)]
    pub max_attempts: Option<Spanned<i64>>,
    #[serde(default)]
    pub fuel: Option<Spanned<i64>>,
    /// Decisions the stage's `recover` hook may take: retry, retry-with, skip, salvage, abort.
    #[serde(default)]
    pub allow: Option<Vec<Spanned<String>>>,
    /// Wall-clock seconds before an attempt is stopped (a safety net; fuel is the bound).
    #[serde(default)]
    pub wall_clock_secs: Option<Spanned<i64>>,
    /// Fuel multiplier for a retry after fuel exhaustion (deterministic).
    #[serde(default)]
    pub fuel_growth: Option<Spanned<i64>>,
    /// After a salvage: `skip` the stages downstream (default) or `run` them on
    /// the salvaged partial outputs.
    #[serde(default)]
    pub downstream_of_salvage: Option<Spanned<String>>,
}

/// What the stage needs to run on (used by the scheduler).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourcesDecl {
    #[serde(default)]
    pub instrument: Option<Spanned<String>>,
}

/// Parses TOML text; a syntax or shape error comes back with its byte span.
pub fn parse(text: &str) -> Result<PipelineFile, (String, Option<Range<usize>>)> {
    toml::from_str(text).map_err(|e| (e.message().to_owned(), e.span()))
}
