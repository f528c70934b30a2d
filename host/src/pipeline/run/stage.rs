//! One stage of a run: reuse a cached result (verified) or execute it, then apply its policy.
use std::sync::Arc;
use std::time::SystemTime;

use super::commits::{Commits, Known};
use super::recover::{ask_recover, with_changes};
use super::remote::{Attempted, Remote};
use super::skips::skipped_stage;
use crate::error::Error;
use crate::pipeline::plan::{DecisionKind, PlanStage};
use crate::pipeline::record::{Attempt, CacheUse, RunStage, StageStatus};
use crate::provenance::{Outcome, PortData, StageRecord};
use crate::schedule::{Priority, Span};
use crate::stage::bindings::Decision;
use crate::stage::failure::Failure;
use crate::stage::limits::Limits;
use crate::stage::params::RawParam;
use crate::stage::petri::{InputSource, Petri, RunRequest};
use crate::store::digest::Digest;
use crate::store::lease::epoch_ms;
use crate::store::quota::{Exhausted, Grant, Quota, QuotaKind};
use crate::store::state::{StageRows, StateStore};

/// The cache key of a stage execution: everything its outputs are a function of.
pub fn cache_key(petri: &Petri, stage: &PlanStage, inputs: &[(String, Digest)]) -> Digest {
    let key = serde_json::json!([
        "petri stage cache v1",
        stage.module.digest,
        stage.params.digest(),
        inputs,
        petri.profile_id(),
    ]);
    Digest::of(key.to_string().as_bytes())
}

pub(super) fn decision_kind(d: &Decision) -> DecisionKind {
    match d {
        Decision::Retry => DecisionKind::Retry,
        Decision::RetryWith(_) => DecisionKind::RetryWith,
        Decision::Skip => DecisionKind::Skip,
        Decision::Salvage => DecisionKind::Salvage,
        Decision::Abort => DecisionKind::Abort,
    }
}

/// How a stage is executed, and how its result may be reused and committed.
pub(super) struct Commit {
    /// Run it even when a cached result exists.
    pub(super) no_cache: bool,
    /// Where the execution's seal and cache entry wait for the run's next
    /// group commit (which checks the daemon's claim on the run).
    pub(super) commits: Arc<Commits>,
    /// The run's group quotas: each attempt is granted its fuel and output
    /// bytes from them first.
    pub(super) quota: Option<Quota>,
    /// Where attempts run: `None` in this process (`Petri::run_deferred`),
    /// else as Slurm jobs.
    pub(super) remote: Option<Remote>,
    /// The sample's priority and its slack when the stage started (a Slurm
    /// job's nice value).
    pub(super) priority: Priority,
    pub(super) slack: Option<Span>,
}

/// Runs one stage with its policy, or reuses a cached result.
pub(super) async fn exec_stage(
    petri: &Arc<Petri>,
    state: &StateStore,
    sample: &str,
    stage: &PlanStage,
    wired: Vec<(String, Digest, String)>,
    commit: &Commit,
) -> Result<RunStage, Error> {
    let inputs: Vec<(String, Digest)> = wired.iter().map(|(p, d, _)| (p.clone(), *d)).collect();
    let key = cache_key(petri, stage, &inputs);
    let mut result = skipped_stage(sample, stage, String::new());
    result.reason = None;
    result.cache_key = Some(key);

    if !commit.no_cache
        && let Some((hit, seal)) = cached_record(petri, state, &key, &commit.commits).await?
    {
        result.status = StageStatus::Succeeded;
        result.cache = CacheUse::Hit;
        result.record_id = Some(hit.id.clone());
        result.record_sha256 = Some(seal);
        result.inputs = hit.inputs.clone();
        result.outputs = hit.outputs.clone();
        result.fuel_used = hit.fuel_used;
        return Ok(result);
    }

    result.cache = CacheUse::Miss;
    let mut params: Vec<(String, RawParam)> = match stage.params.to_json() {
        serde_json::Value::Object(m) => {
            m.into_iter().map(|(k, v)| (k, RawParam::Json(v))).collect()
        }
        _ => Vec::new(),
    };
    let mut fuel = stage.policy.fuel;
    let mut attempt = 1;
    loop {
        let grant = match grant(commit.quota.as_ref(), fuel).await? {
            Ok(grant) => grant,
            Err(exhausted) => {
                result.status = StageStatus::Failed;
                result.reason = Some(format!("not started: {exhausted}"));
                break;
            }
        };
        let request = RunRequest {
            params: params.clone(),
            inputs: inputs
                .iter()
                .map(|(p, d)| (p.clone(), InputSource::Blob(*d)))
                .collect(),
            limits: granted_limits(fuel, stage.policy.wall_clock_secs, grant.as_ref()),
            attempt,
        };
        let (record, seal) = match run_attempt(petri, commit, sample, stage, request).await? {
            Attempted::Record(record, seal) => (*record, seal),
            Attempted::Unrecorded(reason) => {
                // No record, so no fuel is known to have been used.
                if let (Some(quota), Some(grant)) = (&commit.quota, &grant) {
                    quota.settle(grant, 0).await?;
                }
                result.status = StageStatus::Failed;
                result.reason = Some(reason);
                break;
            }
        };
        if let (Some(quota), Some(grant)) = (&commit.quota, &grant) {
            quota.settle(grant, record.fuel_used).await?;
        }
        result.record_id = Some(record.id.clone());
        result.record_sha256 = Some(seal);
        result.inputs = record.inputs.clone();
        result.fuel_used = record.fuel_used;
        let failure = match &record.outcome {
            Outcome::Succeeded { .. } => {
                result.attempts.push(Attempt {
                    record_id: record.id.clone(),
                    record_sha256: Some(seal),
                    outcome: "succeeded".into(),
                    decision: None,
                });
                result.status = StageStatus::Succeeded;
                result.outputs = record.outputs.clone();
                // Reusable once the group commit has made outputs and record durable.
                commit.commits.push(StageRows {
                    record_id: record.id.clone(),
                    seal: seal.to_hex(),
                    cache_key: Some(key.to_hex()),
                });
                break;
            }
            Outcome::Failed { failure } => failure.clone(),
        };
        commit.commits.push(StageRows {
            record_id: record.id.clone(),
            seal: seal.to_hex(),
            cache_key: None,
        });
        // A budget a group quota cut is the quota's failure: no retry.
        if let Some(cut) = quota_cut(&failure, grant.as_ref()) {
            result.attempts.push(Attempt {
                record_id: record.id.clone(),
                record_sha256: Some(seal),
                outcome: failure.to_string(),
                decision: Some("abort: group quota".into()),
            });
            result.status = StageStatus::Failed;
            result.reason = Some(format!("{failure}: {cut}"));
            break;
        }
        // Ask the stage (stage errors) or apply the host rule (fuel), then check the policy.
        let proposed = match &failure {
            Failure::Stage { error } => {
                match ask_recover(petri, stage, error, attempt, &params).await {
                    Ok(decision) => decision,
                    // The hook is stage code: its failure ends this stage, not the run.
                    Err(hook) => {
                        result.attempts.push(Attempt {
                            record_id: record.id.clone(),
                            record_sha256: Some(seal),
                            outcome: failure.to_string(),
                            decision: Some(format!("abort: {hook}")),
                        });
                        result.status = StageStatus::Failed;
                        result.reason = Some(format!("{failure}; then {hook}"));
                        break;
                    }
                }
            }
            Failure::FuelExhausted { .. } if stage.policy.fuel_growth > 1 => Decision::Retry,
            _ => Decision::Abort,
        };
        let kind = decision_kind(&proposed);
        let allowed = kind == DecisionKind::Abort || stage.policy.allow.contains(&kind);
        let retrying = matches!(kind, DecisionKind::Retry | DecisionKind::RetryWith);
        let note = if !allowed {
            format!("{kind:?} proposed but not allowed by policy: abort").to_lowercase()
        } else if retrying && attempt >= stage.policy.max_attempts {
            format!(
                "{kind:?} proposed but max-attempts ({}) reached: abort",
                stage.policy.max_attempts
            )
            .to_lowercase()
        } else {
            serde_json::to_value(kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default()
        };
        result.attempts.push(Attempt {
            record_id: record.id.clone(),
            record_sha256: Some(seal),
            outcome: failure.to_string(),
            decision: Some(note),
        });
        match (allowed, proposed) {
            (true, Decision::Retry) if attempt < stage.policy.max_attempts => {
                if matches!(failure, Failure::FuelExhausted { .. }) {
                    fuel = fuel.saturating_mul(stage.policy.fuel_growth);
                }
            }
            (true, Decision::RetryWith(changed)) if attempt < stage.policy.max_attempts => {
                params = with_changes(&params, &changed);
            }
            (true, Decision::Salvage) => {
                result.status = StageStatus::Salvaged;
                result.outputs = record.partial_outputs.clone();
                result.reason = Some(format!("partial outputs salvaged after: {failure}"));
                break;
            }
            (true, Decision::Skip) => {
                result.status = StageStatus::Skipped;
                result.reason = Some(format!(
                    "skipped by the stage's recover hook after: {failure}"
                ));
                break;
            }
            _ => {
                result.status = StageStatus::Failed;
                result.reason = Some(failure.to_string());
                break;
            }
        }
        attempt += 1;
    }
    Ok(result)
}

/// Runs one attempt in this process, or on Slurm through `remote`.
async fn run_attempt(
    petri: &Arc<Petri>,
    commit: &Commit,
    sample: &str,
    stage: &PlanStage,
    request: RunRequest,
) -> Result<Attempted, Error> {
    match &commit.remote {
        None => {
            let (record, seal) = petri.run_deferred(&stage.module, request).await?;
            Ok(Attempted::Record(Box::new(record), seal))
        }
        Some(remote) => {
            remote
                .attempt(
                    petri,
                    sample,
                    stage,
                    &request,
                    (commit.priority, commit.slack),
                )
                .await
        }
    }
}

/// Reserves an attempt's fuel and output bytes from the run's quotas (none:
/// no quotas, nothing to reserve).
async fn grant(
    quota: Option<&Quota>,
    fuel: u64,
) -> Result<Result<Option<Grant>, Exhausted>, Error> {
    let Some(quota) = quota else {
        return Ok(Ok(None));
    };
    Ok(quota
        .grant(fuel, epoch_ms(SystemTime::now()))
        .await?
        .map(Some))
}

/// An attempt's limits: the stage's policy, cut to what its quotas granted.
fn granted_limits(fuel: u64, wall_clock_secs: u64, grant: Option<&Grant>) -> Limits {
    let defaults = Limits::default();
    Limits {
        fuel: grant.map_or(fuel, |g| g.fuel),
        total_output_bytes: grant.map_or(defaults.total_output_bytes, |g| {
            g.output_bytes.min(defaults.total_output_bytes)
        }),
        wall_clock_secs,
        ..defaults
    }
}

/// Why `failure` is the quota's and not the stage's: it ran out of fuel or
/// output room that a group quota had cut.
fn quota_cut(failure: &Failure, grant: Option<&Grant>) -> Option<String> {
    let grant = grant?;
    match failure {
        Failure::FuelExhausted { .. } => grant
            .fuel_bound
            .map(|kind| format!("the group's {kind} quota granted only {} fuel", grant.fuel)),
        Failure::TotalOutputLimit { .. }
            if grant.output_bytes < Limits::default().total_output_bytes =>
        {
            Some(format!(
                "the group's {} quota left only {} bytes",
                QuotaKind::StoreBytes,
                grant.output_bytes
            ))
        }
        _ => None,
    }
}

/// The record behind a cache entry (and its seal), if the record is the one
/// sealed when it was written and its outputs are all still stored and
/// intact. Each output is re-hashed (one SHA-256 pass over the outputs per
/// hit): a tampered or damaged output or record is never reused; the entry is
/// forgotten and the stage runs again, which stores (heals) the right bytes.
/// An entry this run has made but not yet committed (`commits`) is found
/// first, and checked the same way; a key the run found without an entry
/// when it started (and has made none for since) is not looked up again.
pub(super) async fn cached_record(
    petri: &Arc<Petri>,
    state: &StateStore,
    key: &Digest,
    commits: &Commits,
) -> Result<Option<(StageRecord, Digest)>, Error> {
    let (id, seal, committed) = match commits.known(&key.to_hex()) {
        Known::Pending { record_id, seal } => (record_id, Some(seal), false),
        Known::Absent => return Ok(None),
        Known::Unknown => {
            let Some(id) = state.cached(&key.to_hex()).await? else {
                return Ok(None);
            };
            let seal = state.seal_of(&id).await?;
            (id, seal, true)
        }
    };
    let seal = seal.and_then(|s| s.parse::<Digest>().ok());
    let p = petri.clone();
    let usable = tokio::task::spawn_blocking(move || {
        let seal = seal?;
        let record = p.records().load_sealed(&id, &seal).ok()?;
        let intact = matches!(record.outcome, Outcome::Succeeded { .. })
            && record
                .outputs
                .iter()
                .all(|o: &PortData| p.blobs().verify(&o.sha256).unwrap_or(false));
        intact.then_some((record, seal))
    })
    .await
    .map_err(|e| Error::State(e.to_string()))?;
    if usable.is_none() && committed {
        state.forget(&key.to_hex()).await?;
    }
    Ok(usable)
}
