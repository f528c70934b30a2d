//! The run record: a pipeline run as a Merkle DAG of stage executions and the edges between them.

use serde::{Deserialize, Serialize};

use crate::provenance::{PortData, StageRecord};
use crate::store::digest::Digest;
use crate::store::records::{RecordError, RecordStore};

/// Format tag of [`RunRecord`].
pub const RUN_SCHEMA: &str = "petri.run-record/v1";

/// One pipeline run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub schema: String,
    pub id: String,
    pub pipeline: PipelineRef,
    /// The sample sheet, when the run fanned out over one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub samples: Option<SheetRef>,
    /// Every sample and how it decays (one `default` sample without a sheet).
    #[serde(default)]
    pub sample_info: Vec<super::samples::Sample>,
    /// The sweep's combinations: each one's params and the stages it ran as.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub combinations: Vec<super::sweep::Combination>,
    pub inputs: Vec<RunInput>,
    pub stages: Vec<RunStage>,
    pub edges: Vec<Edge>,
    /// SHA-256 over the deterministic content of the run (pipeline digest,
    /// inputs, every stage's module, params, input and output digests and fuel,
    /// and the edges): two honest runs of the same pipeline on the same
    /// inputs have the same root, whatever their ids and times.
    pub root: Digest,
    /// `completed` when every stage succeeded, else `failed`.
    pub status: String,
    pub started_at: String,
    pub finished_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PipelineRef {
    pub name: String,
    pub file: String,
    pub sha256: Digest,
}

/// The sample sheet a run used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SheetRef {
    pub file: String,
    pub sha256: Digest,
}

/// A pipeline-level input as ingested into the blob store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunInput {
    pub sample: String,
    pub name: String,
    pub path: String,
    pub sha256: Digest,
    pub size: u64,
}

/// Where one stage of one sample is, or how it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum StageStatus {
    /// Waiting for its inputs or a place (daemon views only).
    Pending,
    /// Executing (daemon views only).
    Running,
    Succeeded,
    Failed,
    Skipped,
    /// Its outputs are the partial outputs of a failed attempt; downstream
    /// stages run on them only if its policy says so.
    Salvaged,
}

/// Whether a stage's outputs came from the stage cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CacheUse {
    /// Outputs reused.
    Hit,
    /// It ran.
    Miss,
    /// It did not run.
    None,
}

impl StageStatus {
    /// Its name in records and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            StageStatus::Pending => "pending",
            StageStatus::Running => "running",
            StageStatus::Succeeded => "succeeded",
            StageStatus::Failed => "failed",
            StageStatus::Skipped => "skipped",
            StageStatus::Salvaged => "salvaged",
        }
    }
}

impl CacheUse {
    /// Its name in records and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            CacheUse::Hit => "hit",
            CacheUse::Miss => "miss",
            CacheUse::None => "none",
        }
    }
}

impl std::fmt::Display for StageStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Display for CacheUse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Lets tests compare with the names records and the API use.
impl PartialEq<&str> for StageStatus {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<&str> for CacheUse {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// What happened to one stage of one sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunStage {
    pub sample: String,
    pub stage: String,
    pub name: String,
    pub version: String,
    pub module_sha256: Digest,
    pub params_sha256: Digest,
    pub status: StageStatus,
    pub cache: CacheUse,
    pub cache_key: Option<Digest>,
    /// The stage record that produced the outputs (for a hit: the original run's).
    pub record_id: Option<String>,
    /// The SHA-256 of the stage record's file: it is checked against this
    /// before it is served or exported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_sha256: Option<Digest>,
    pub inputs: Vec<PortData>,
    pub outputs: Vec<PortData>,
    pub fuel_used: u64,
    /// The instrument the scheduler ran it on (absent if it did not run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instrument: Option<String>,
    /// Every execution attempt and the decision taken after it.
    pub attempts: Vec<Attempt>,
    /// Times the stage was stopped and re-queued because its instrument went
    /// down or into maintenance (not failures: nothing of those runs is kept).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub preemptions: Vec<Preemption>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One execution of a stage within a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    pub record_id: String,
    /// The SHA-256 of the attempt's stage record file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_sha256: Option<Digest>,
    pub outcome: String,
    /// The decision after a failure (`retry`, `retry-with`, `skip`, `abort`…) and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<String>,
}

/// A stage stopped mid-run by its instrument and re-queued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preemption {
    pub instrument: String,
    pub reason: String,
    /// When (RFC 3339).
    pub at: String,
}

/// Which bytes fed which input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Edge {
    pub sample: String,
    /// `inputs.<name>` or `<stage>.<port>`.
    pub from: String,
    pub to_stage: String,
    pub to_port: String,
    pub sha256: Digest,
}

impl RunRecord {
    /// Computes the Merkle root over the deterministic content.
    pub fn compute_root(&self) -> Digest {
        let stages: Vec<_> = self
            .stages
            .iter()
            .map(|s| {
                let leaf = serde_json::json!([
                    s.sample,
                    s.stage,
                    s.module_sha256,
                    s.params_sha256,
                    s.status,
                    s.inputs,
                    s.outputs,
                    s.fuel_used
                ]);
                Digest::of(leaf.to_string().as_bytes())
            })
            .collect();
        let inputs: Vec<_> = self
            .inputs
            .iter()
            .map(|i| (&i.sample, &i.name, i.sha256))
            .collect();
        let sheet = self.samples.as_ref().map(|s| s.sha256);
        let top = serde_json::json!([self.pipeline.sha256, sheet, inputs, stages, self.edges]);
        Digest::of(top.to_string().as_bytes())
    }
}

impl RunStage {
    /// The stage record behind this entry, checked against the seal the run
    /// record holds for it (records of runs from before seals load as they are).
    pub fn load_record(&self, records: &RecordStore) -> Result<StageRecord, RecordError> {
        let id = self.record_id.as_deref().unwrap_or_default();
        records.read(id, self.record_sha256.as_ref())
    }
}

/// Loads the run record `id` (or unique prefix) checked against the seal
/// `state` kept when it was written. `Ok((record, false))`: the record has no
/// seal (written before seals existed).
pub async fn load_sealed_run(
    records: &RecordStore,
    state: &crate::store::state::StateStore,
    id: &str,
) -> Result<(RunRecord, bool), crate::error::Error> {
    let (id, seal) = records.find(state, id).await?;
    Ok((records.read(&id, seal.as_ref())?, seal.is_some()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_and_cache_names_are_their_json_names() {
        let statuses = [
            (StageStatus::Pending, "pending"),
            (StageStatus::Running, "running"),
            (StageStatus::Succeeded, "succeeded"),
            (StageStatus::Failed, "failed"),
            (StageStatus::Skipped, "skipped"),
            (StageStatus::Salvaged, "salvaged"),
        ];
        for (status, name) in statuses {
            assert_eq!(
                (status.as_str(), status.to_string()),
                (name, name.to_owned())
            );
            assert_eq!(serde_json::to_value(status).unwrap(), name);
        }
        for (cache, name) in [
            (CacheUse::Hit, "hit"),
            (CacheUse::Miss, "miss"),
            (CacheUse::None, "none"),
        ] {
            assert_eq!(cache.as_str(), name);
            assert_eq!(serde_json::to_value(cache).unwrap(), name);
        }
    }
}
