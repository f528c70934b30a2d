//! The JSON shapes of the REST API (requests and responses), as documented in `/openapi.json`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::ProblemBody;
use crate::pipeline::{CacheUse, RunStage, StageStatus};

pub use crate::schedule::Priority;

/// Where a submitted run is: queued, being checked, running, or ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum RunStatus {
    Pending,
    Validating,
    Running,
    Completed,
    Failed,
    Cancelled,
}

impl RunStatus {
    pub const ALL: [RunStatus; 6] = [
        RunStatus::Pending,
        RunStatus::Validating,
        RunStatus::Running,
        RunStatus::Completed,
        RunStatus::Failed,
        RunStatus::Cancelled,
    ];

    /// As stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Pending => "PENDING",
            RunStatus::Validating => "VALIDATING",
            RunStatus::Running => "RUNNING",
            RunStatus::Completed => "COMPLETED",
            RunStatus::Failed => "FAILED",
            RunStatus::Cancelled => "CANCELLED",
        }
    }

    /// Completed, failed or cancelled: it changes no more.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            RunStatus::Completed | RunStatus::Failed | RunStatus::Cancelled
        )
    }

    /// Being executed by a daemon (which holds its lease).
    pub fn in_progress(self) -> bool {
        matches!(self, RunStatus::Validating | RunStatus::Running)
    }
}

impl std::str::FromStr for RunStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<RunStatus, String> {
        RunStatus::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("`{s}` is not a run status"))
    }
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The sample sheet's format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SheetFormat {
    #[default]
    Tsv,
    Csv,
}

/// A run to submit. The pipeline is given as TOML text or as the SHA-256 of
/// an uploaded blob holding it. Files the pipeline (and sheet) name by
/// relative path come from uploaded blobs: listed in `files`, or, for a
/// pipeline input that declares its `sha256`, that blob.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitRun {
    /// The pipeline file (TOML text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline: Option<String>,
    /// Or: the SHA-256 of an uploaded blob holding the pipeline file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline_sha256: Option<String>,
    /// A sample sheet (text), to fan the pipeline out over its samples.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub samples: Option<String>,
    #[serde(default)]
    pub samples_format: SheetFormat,
    /// Path as written in the pipeline or sheet (relative to the pipeline
    /// file) → SHA-256 of an uploaded blob with its bytes.
    #[serde(default)]
    pub files: BTreeMap<String, String>,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub priority: Priority,
}

/// The answer to a submitted run (202).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Accepted {
    pub id: String,
    pub status: RunStatus,
    /// Where to poll.
    pub url: String,
}

/// A file's bytes as stored (uploads, outputs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PortView {
    pub port: String,
    pub sha256: String,
    pub size: u64,
}

/// One execution attempt of a stage and the recovery decision after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AttemptView {
    pub record_id: String,
    pub outcome: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<String>,
}

/// One stage of one sample within a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StageView {
    pub sample: String,
    pub stage: String,
    /// The stage module's manifest name and version.
    pub module: String,
    pub version: String,
    pub module_sha256: String,
    pub status: StageStatus,
    /// The instrument it runs (or last ran) on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instrument: Option<String>,
    pub cache: CacheUse,
    pub fuel_used: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub attempts: Vec<AttemptView>,
    pub outputs: Vec<PortView>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
}

impl StageView {
    pub fn of(s: &RunStage) -> StageView {
        StageView {
            sample: s.sample.clone(),
            stage: s.stage.clone(),
            module: s.name.clone(),
            version: s.version.clone(),
            module_sha256: s.module_sha256.to_hex(),
            status: s.status,
            cache: s.cache,
            fuel_used: s.fuel_used,
            record_id: s.record_id.clone(),
            reason: s.reason.clone(),
            instrument: s.instrument.clone(),
            attempts: s
                .attempts
                .iter()
                .map(|a| AttemptView {
                    record_id: a.record_id.clone(),
                    outcome: a.outcome.clone(),
                    decision: a.decision.clone(),
                })
                .collect(),
            outputs: s
                .outputs
                .iter()
                .map(|o| PortView {
                    port: o.port.clone(),
                    sha256: o.sha256.to_hex(),
                    size: o.size,
                })
                .collect(),
            started_at: None,
            finished_at: None,
        }
    }
}

/// Something that happened to a run (submitted, validating, running,
/// recovered after a restart, checkpointed at shutdown, cancelled, finished).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EventView {
    pub at: String,
    pub kind: String,
    pub detail: String,
}

/// Why a run failed outside its stages (validation, host error).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RunErrorView {
    pub message: String,
    #[serde(default)]
    pub problems: Vec<ProblemBody>,
}

/// A run in a list.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RunSummary {
    pub id: String,
    pub group: String,
    pub status: RunStatus,
    pub pipeline: String,
    pub description: String,
    pub priority: String,
    pub submitted_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// The run record's Merkle root, once the run has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root: Option<String>,
}

/// A run with every stage, event and error.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RunView {
    #[serde(flatten)]
    pub summary: RunSummary,
    /// The pipeline run record (`petri provenance`), once the run has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_id: Option<String>,
    /// Times the run was taken up again after the daemon stopped while it ran.
    pub recoveries: i64,
    pub stages: Vec<StageView>,
    pub events: Vec<EventView>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<RunErrorView>,
}

/// A finished run's outputs: what `petri export --url` publishes, each
/// downloadable at `/v1/artifacts/{sha256}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OutputsView {
    pub run_id: String,
    pub outputs: Vec<crate::pipeline::Output>,
}

/// A page of runs.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RunPage {
    pub runs: Vec<RunSummary>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Run list filters.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RunQuery {
    /// Only this research group's runs (admins; others only ever see their own).
    pub group: Option<String>,
    /// PENDING, VALIDATING, RUNNING, COMPLETED, FAILED or CANCELLED (any case;
    /// another value matches no run).
    pub status: Option<String>,
    /// The pipeline's name.
    pub pipeline: Option<String>,
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// From the previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// Provenance export format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ProvFormat {
    /// The petri run record.
    #[default]
    Json,
    /// W3C PROV-JSON.
    Prov,
    /// The RO-Crate metadata (Workflow Run Crate); data entities are artifacts by digest.
    RoCrate,
}

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ProvQuery {
    /// `json` (default), `prov` or `ro-crate`.
    #[param(inline)]
    pub format: Option<ProvFormat>,
}

/// A research group's usage against its quotas.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UsageView {
    pub group: String,
    /// Fuel the group's stages were granted or used in the last 24 hours
    /// (counted where the group has a fuel or store quota).
    pub fuel_today: u64,
    /// Bytes of the blobs the group owns (uploads, run inputs, outputs, logs).
    pub stored_bytes: u64,
    pub quota: QuotaView,
}

/// A group's quotas; an absent limit is none.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct QuotaView {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fuel_per_run: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fuel_per_day: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upload_bytes: Option<u64>,
}

/// A stored blob.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BlobView {
    pub sha256: String,
    pub size: u64,
}

/// An uploaded stage module.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ModuleView {
    pub sha256: String,
    pub name: String,
    pub version: String,
    pub size: u64,
    pub uploaded_at: String,
    /// Reference it from a pipeline as `module = "sha256:<hex>"` (or by name, if registered).
    pub reference: String,
    /// The manifest: params, ports, error kinds.
    #[schema(value_type = Object)]
    pub manifest: serde_json::Value,
}

/// One stage log line of a run.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LogView {
    pub sample: String,
    pub stage: String,
    pub record_id: String,
    /// The line as the stage logged it (level, message, fields).
    #[schema(value_type = Object)]
    pub line: serde_json::Value,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LogPage {
    pub lines: Vec<LogView>,
    pub events: Vec<EventView>,
}

/// Health and readiness.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Health {
    pub status: String,
    pub version: String,
}

/// Whether a token works.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TokenState {
    Active,
    Expired,
    Revoked,
}

/// An API token as admins see it: never the secret, nor its whole SHA-256.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TokenView {
    /// The first 12 hex digits of the token's SHA-256 (what `revoke` takes).
    pub id: String,
    pub name: String,
    pub group: String,
    pub admin: bool,
    /// Priorities above `normal` it may submit runs with.
    pub priorities: Vec<Priority>,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
    pub state: TokenState,
}

/// A page of the audit log, oldest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuditPage {
    pub entries: Vec<super::audit::AuditEntry>,
    /// Pass as `after` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_after: Option<i64>,
}

/// `GET /v1/audit` query.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Entries after this sequence number (default 0: from the start).
    #[param(minimum = 0)]
    pub after: Option<i64>,
    /// At most this many (1 to 1000, default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}
