//! Shadow runs: a candidate module re-executed on the exact inputs of a module's latest executions, compared.
//!
//! The executions shadowed are the stage records the stage cache names
//! (what runs produced, newest first), whose module is the current one. Each
//! is re-run with the candidate on the same input blobs (streamed from the
//! store, each checked against its digest), the same canonical params and
//! the same limits, through [`Petri::run_sealed`]: an ordinary execution of a
//! pure function, whose record is sealed and kept (no stage-cache entry is
//! written). Outputs are compared by digest, the report's metrics by value.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::Error;
use crate::provenance::{Outcome, StageRecord};
use crate::stage::bindings::{MetricValue, Report};
use crate::stage::petri::{LoadedStage, Petri, RunRequest};
use crate::store::digest::Digest;
use crate::store::records::RecordError;
use crate::store::state::{StateError, StateStore};

/// How many cache entries are read per page while looking for executions.
const PAGE: i64 = 200;

/// What a shadow run found, per execution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ShadowReport {
    pub name: String,
    /// The module the name points to (whose executions were shadowed).
    #[schema(value_type = String)]
    pub current: Digest,
    #[schema(value_type = String)]
    pub candidate: Digest,
    /// The candidate's manifest version.
    pub candidate_version: String,
    /// How many executions were asked for.
    pub requested: usize,
    pub executions: Vec<ShadowRun>,
    /// At least one execution was compared and every one was identical.
    pub identical: bool,
}

/// One execution and its shadow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ShadowRun {
    /// The stage record shadowed (of the current module).
    pub record: String,
    /// The candidate's stage record, when it ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shadow_record: Option<String>,
    /// Every output port of either execution.
    pub outputs: Vec<OutputDiff>,
    pub fuel: FuelDiff,
    /// Only the metrics whose value differs (or that one side lacks).
    pub metrics: Vec<MetricDiff>,
    /// Why the candidate did not succeed: its failure, or why it could not run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Same outcome, same output digests, same metrics.
    pub identical: bool,
}

/// One output port on both sides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OutputDiff {
    pub port: String,
    #[schema(value_type = Option<String>)]
    pub current: Option<Digest>,
    #[schema(value_type = Option<String>)]
    pub candidate: Option<Digest>,
    pub equal: bool,
}

/// Fuel on both sides (reported, not part of identity).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FuelDiff {
    pub current: u64,
    pub candidate: Option<u64>,
}

/// A report metric whose value differs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MetricDiff {
    pub name: String,
    pub current: Option<MetricView>,
    pub candidate: Option<MetricView>,
}

/// A metric's typed value (a non-finite float is JSON `null`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum MetricView {
    Integer(i64),
    Float(f64),
    Text(String),
}

impl MetricView {
    fn of(v: &MetricValue) -> MetricView {
        match v {
            MetricValue::Integer(i) => MetricView::Integer(*i),
            MetricValue::Float(f) => MetricView::Float(*f),
            MetricValue::Text(t) => MetricView::Text(t.clone()),
        }
    }

    /// Equality with floats compared bit for bit (NaN equals NaN).
    fn same(&self, other: &MetricView) -> bool {
        match (self, other) {
            (MetricView::Float(a), MetricView::Float(b)) => a.to_bits() == b.to_bits(),
            _ => self == other,
        }
    }
}

/// Why executions could not be found.
#[derive(Debug, thiserror::Error)]
pub enum ShadowError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Record(#[from] RecordError),
}

/// The latest `n` succeeded executions of `module` the stage cache names,
/// newest first (fewer when there are not that many).
pub async fn latest_executions(
    petri: &Petri,
    state: &StateStore,
    module: &Digest,
    n: usize,
) -> Result<Vec<StageRecord>, ShadowError> {
    let mut found = Vec::new();
    let mut before = String::new();
    while found.len() < n {
        let page = state.cached_records(&before, PAGE).await?;
        let Some((last, _)) = page.last() else {
            break;
        };
        before = last.clone();
        for (id, seal) in page {
            // A seal that is not a digest was edited by hand: that record is not shadowed.
            let Ok(seal) = seal.parse::<Digest>() else {
                continue;
            };
            let record = petri.records().load_sealed(&id, &seal)?;
            let succeeded = matches!(record.outcome, Outcome::Succeeded { .. });
            if record.module.sha256 == *module && succeeded && found.len() < n {
                found.push(record);
            }
        }
    }
    Ok(found)
}

/// Re-runs `candidate` on `old`'s inputs, params and limits (its fuel cut to
/// `fuel`, what a quota granted, if less), seals its record in `state`, and
/// compares.
pub async fn shadow(
    petri: &Petri,
    state: &StateStore,
    candidate: &LoadedStage,
    old: &StageRecord,
    fuel: Option<u64>,
) -> ShadowRun {
    let ran = run(petri, state, candidate, old, fuel).await;
    let new = ran.as_ref().ok();
    let error = match &ran {
        Ok(r) => match &r.outcome {
            Outcome::Succeeded { .. } => None,
            Outcome::Failed { failure } => Some(failure.to_string()),
        },
        Err(e) => Some(e.to_string()),
    };
    let outputs = outputs(old, new);
    let metrics = metrics(report(old), new.and_then(report));
    let identical = error.is_none() && metrics.is_empty() && outputs.iter().all(|o| o.equal);
    ShadowRun {
        record: old.id.clone(),
        shadow_record: new.map(|r| r.id.clone()),
        outputs,
        fuel: FuelDiff {
            current: old.fuel_used,
            candidate: new.map(|r| r.fuel_used),
        },
        metrics,
        error,
        identical,
    }
}

async fn run(
    petri: &Petri,
    state: &StateStore,
    candidate: &LoadedStage,
    old: &StageRecord,
    fuel: Option<u64>,
) -> Result<StageRecord, Error> {
    let mut request = RunRequest {
        attempt: 1,
        ..RunRequest::replaying(old)
    };
    if let Some(fuel) = fuel {
        request.limits.fuel = request.limits.fuel.min(fuel);
    }
    let (record, seal) = petri.run_sealed(candidate, request).await?;
    state.seal(&record.id, &seal.to_hex()).await?;
    Ok(record)
}

fn report(record: &StageRecord) -> Option<&Report> {
    match &record.outcome {
        Outcome::Succeeded { report } => Some(report),
        Outcome::Failed { .. } => None,
    }
}

fn outputs(old: &StageRecord, new: Option<&StageRecord>) -> Vec<OutputDiff> {
    let mut ports: BTreeMap<&str, (Option<Digest>, Option<Digest>)> = BTreeMap::new();
    for p in &old.outputs {
        ports.entry(&p.port).or_default().0 = Some(p.sha256);
    }
    for p in new.map_or(&[][..], |r| &r.outputs) {
        ports.entry(&p.port).or_default().1 = Some(p.sha256);
    }
    ports
        .into_iter()
        .map(|(port, (current, candidate))| OutputDiff {
            port: port.to_owned(),
            current,
            candidate,
            equal: current == candidate,
        })
        .collect()
}

fn metrics(old: Option<&Report>, new: Option<&Report>) -> Vec<MetricDiff> {
    let by_name = |r: Option<&Report>| -> BTreeMap<String, MetricView> {
        r.map_or(&[][..], |r| &r.metrics)
            .iter()
            .map(|m| (m.name.clone(), MetricView::of(&m.value)))
            .collect()
    };
    let (old, mut new) = (by_name(old), by_name(new));
    let mut out = Vec::new();
    for (name, current) in old {
        let candidate = new.remove(&name);
        if !candidate.as_ref().is_some_and(|c| c.same(&current)) {
            out.push(MetricDiff {
                name,
                current: Some(current),
                candidate,
            });
        }
    }
    out.extend(new.into_iter().map(|(name, candidate)| MetricDiff {
        name,
        current: None,
        candidate: Some(candidate),
    }));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stage::bindings::Metric;

    fn report(metrics: &[(&str, MetricValue)]) -> Report {
        Report {
            metrics: metrics
                .iter()
                .map(|(name, value)| Metric {
                    name: (*name).to_owned(),
                    value: value.clone(),
                    unit: String::new(),
                })
                .collect(),
        }
    }

    #[test]
    fn only_differing_metrics_are_listed_nan_equal_to_itself() {
        let old = report(&[
            ("n", MetricValue::Integer(3)),
            ("nan", MetricValue::Float(f64::NAN)),
            ("gone", MetricValue::Text("x".into())),
            ("tag", MetricValue::Text("00".into())),
        ]);
        let new = report(&[
            ("n", MetricValue::Integer(3)),
            ("nan", MetricValue::Float(f64::NAN)),
            ("tag", MetricValue::Text("01".into())),
            ("new", MetricValue::Integer(1)),
        ]);
        let diff = metrics(Some(&old), Some(&new));
        let names: Vec<&str> = diff.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["gone", "tag", "new"]);
        assert_eq!(diff[1].candidate, Some(MetricView::Text("01".into())));
        assert!(metrics(Some(&old), Some(&old)).is_empty());
    }
}
