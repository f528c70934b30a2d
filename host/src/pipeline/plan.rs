//! A validated pipeline: every stage loaded and described, every wire checked, in run order.

use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;

use super::files::Files;
use crate::stage::bindings::Manifest;
use crate::stage::params::ParamSet;
use crate::stage::petri::LoadedStage;
use crate::store::digest::Digest;

/// Where a stage input's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "from", rename_all = "kebab-case")]
pub enum Wire {
    /// A pipeline-level input.
    Input { name: String },
    /// Another stage's output port.
    Stage { stage: String, port: String },
}

/// A decision a stage's `recover` hook may propose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DecisionKind {
    Retry,
    RetryWith,
    Skip,
    Salvage,
    Abort,
}

impl DecisionKind {
    pub const ALL: [(&'static str, DecisionKind); 5] = [
        ("retry", DecisionKind::Retry),
        ("retry-with", DecisionKind::RetryWith),
        ("skip", DecisionKind::Skip),
        ("salvage", DecisionKind::Salvage),
        ("abort", DecisionKind::Abort),
    ];
}

/// What may happen when a stage fails.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Policy {
    pub max_attempts: u32,
    pub fuel: u64,
    /// Wall-clock seconds per attempt (the safety net behind `fuel`).
    pub wall_clock_secs: u64,
    /// Multiplies the fuel budget on a retry after fuel exhaustion.
    pub fuel_growth: u64,
    pub allow: Vec<DecisionKind>,
    /// Whether downstream stages run on salvaged partial outputs.
    pub run_downstream_of_salvage: bool,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            max_attempts: 1,
            fuel: crate::stage::limits::Limits::default().fuel,
            wall_clock_secs: crate::stage::limits::Limits::default().wall_clock_secs,
            fuel_growth: 1,
            allow: vec![DecisionKind::Abort],
            run_downstream_of_salvage: false,
        }
    }
}

/// A pipeline-level input.
#[derive(Debug, Clone, Serialize)]
pub struct PlanInput {
    pub name: String,
    /// The file (absent: every sample gives it; present: the file of every
    /// sample whose sheet row gives none).
    pub path: Option<PathBuf>,
    pub format: String,
    pub sha256: Option<Digest>,
}

/// One stage, ready to run.
#[derive(Clone)]
pub struct PlanStage {
    pub id: String,
    pub module: Arc<LoadedStage>,
    pub manifest: Arc<Manifest>,
    pub params: ParamSet,
    /// (input port, source), in manifest order.
    pub inputs: Vec<(String, Wire)>,
    pub policy: Policy,
    pub instrument: String,
}

/// A validated pipeline; `stages` is in a topological order. Without a sample
/// sheet there is one sample, `default`, whose inputs are the declared paths.
#[derive(Clone)]
pub struct Plan {
    /// The sweep's combinations (none without a `[sweep]`).
    pub combinations: Vec<super::sweep::Combination>,
    pub samples: Vec<super::samples::Sample>,
    /// The sample sheet and the SHA-256 of its bytes, if one was given.
    pub sample_sheet: Option<(PathBuf, Digest)>,
    pub name: String,
    pub description: String,
    pub file: PathBuf,
    pub file_sha256: Digest,
    pub inputs: Vec<PlanInput>,
    pub stages: Vec<PlanStage>,
    /// The exact text that was checked: the run keeps these bytes, never a re-read.
    pub texts: Arc<Texts>,
    /// Where the inputs' files are.
    pub files: Arc<Files>,
}

/// The pipeline file's and the sample sheet's text.
#[derive(Debug)]
pub struct Texts {
    pub pipeline: String,
    pub sheet: Option<String>,
}
