//! A run's results table: one row per (sample, sweep combination) with the
//! combination's params, the stages' report metrics, output digests, fuel and
//! execution time, read from the sealed run and stage records.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;

use super::record::{RunRecord, RunStage, StageStatus};
use super::sweep::Combination;
use crate::provenance::Outcome;
use crate::stage::bindings::MetricValue;
use crate::store::records::RecordStore;

/// Whether every stage of a row succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RowStatus {
    Completed,
    Failed,
}

/// One row: a sample under one combination (or the whole run without a sweep).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    pub sample: String,
    /// The combination id (`c01`…), empty without a sweep.
    pub combination: String,
    pub status: RowStatus,
    /// `stage.param` → value: the combination's params.
    pub params: BTreeMap<String, Value>,
    /// `stage.metric` → value, from each succeeded stage's report.
    pub metrics: BTreeMap<String, Value>,
    /// `stage.port` → SHA-256.
    pub outputs: BTreeMap<String, String>,
    /// Fuel of the stages' records, summed.
    pub fuel: u64,
    /// Execution seconds of the stages' records, summed (a cache hit counts
    /// the execution it reused).
    pub seconds: f64,
}

/// The rows of `run`: every sample × every combination, in run order.
/// `metrics` keeps only the named `stage.metric` columns (all when empty).
pub fn rows(run: &RunRecord, records: &RecordStore, metrics: &[String]) -> Vec<Row> {
    let lanes: Vec<Option<&Combination>> = if run.combinations.is_empty() {
        vec![None]
    } else {
        run.combinations.iter().map(Some).collect()
    };
    let samples: Vec<&str> = run.sample_info.iter().map(|s| s.id.as_str()).collect();
    let repeated: BTreeSet<&str> = run
        .combinations
        .iter()
        .flat_map(|c| c.stages.values().map(String::as_str))
        .collect();
    let mut out = Vec::with_capacity(samples.len() * lanes.len());
    for sample in samples {
        for combo in &lanes {
            let stages = run
                .stages
                .iter()
                .filter(|s| s.sample == sample && in_lane(&s.stage, *combo, &repeated));
            out.push(row(sample, *combo, stages, records, metrics));
        }
    }
    out
}

/// Whether executed stage `id` belongs to the lane of `combo`: a shared
/// stage belongs to every lane, a repeated one to its combination's only.
fn in_lane(id: &str, combo: Option<&Combination>, repeated: &BTreeSet<&str>) -> bool {
    !repeated.contains(id) || combo.is_some_and(|c| c.stages.values().any(|s| s == id))
}

/// The pipeline's name for executed stage `id` in `combo` (`call_c03` → `call`).
fn pipeline_stage<'a>(id: &'a str, combo: Option<&'a Combination>) -> &'a str {
    combo
        .and_then(|c| c.stages.iter().find(|(_, s)| *s == id))
        .map_or(id, |(name, _)| name.as_str())
}

fn row<'a>(
    sample: &str,
    combo: Option<&Combination>,
    stages: impl Iterator<Item = &'a RunStage>,
    records: &RecordStore,
    chosen: &[String],
) -> Row {
    let mut row = Row {
        sample: sample.to_owned(),
        combination: combo.map(|c| c.id.clone()).unwrap_or_default(),
        status: RowStatus::Completed,
        params: combo.map(|c| c.params.clone()).unwrap_or_default(),
        metrics: BTreeMap::new(),
        outputs: BTreeMap::new(),
        fuel: 0,
        seconds: 0.0,
    };
    for s in stages {
        let name = pipeline_stage(&s.stage, combo);
        if s.status != StageStatus::Succeeded {
            row.status = RowStatus::Failed;
        }
        for o in &s.outputs {
            row.outputs
                .insert(format!("{name}.{}", o.port), o.sha256.to_hex());
        }
        let Ok(record) = s.load_record(records) else {
            continue;
        };
        row.fuel += record.fuel_used;
        row.seconds += seconds(&record.started_at, &record.finished_at);
        if let Outcome::Succeeded { report } = &record.outcome {
            for m in &report.metrics {
                let key = format!("{name}.{}", m.name);
                if chosen.is_empty() || chosen.contains(&key) {
                    row.metrics.insert(key, metric(&m.value));
                }
            }
        }
    }
    row
}

fn metric(v: &MetricValue) -> Value {
    match v {
        MetricValue::Integer(i) => Value::from(*i),
        MetricValue::Float(f) if f.is_finite() => Value::from(*f),
        MetricValue::Float(f) => Value::from(f.to_string()),
        MetricValue::Text(t) => Value::from(t.clone()),
    }
}

fn seconds(start: &str, end: &str) -> f64 {
    let (Ok(a), Ok(b)) = (
        humantime::parse_rfc3339_weak(start),
        humantime::parse_rfc3339_weak(end),
    ) else {
        return 0.0;
    };
    b.duration_since(a).map_or(0.0, |d| d.as_secs_f64())
}

/// The column names of `rows`, in order: sample, combination, status, the
/// params, the metrics, fuel, seconds, the outputs.
pub fn columns(rows: &[Row]) -> Vec<String> {
    let union = |f: fn(&Row) -> Vec<&String>| -> BTreeSet<String> {
        rows.iter().flat_map(f).cloned().collect()
    };
    let mut cols: Vec<String> = ["sample", "combination", "status"].map(String::from).into();
    cols.extend(union(|r| r.params.keys().collect()));
    cols.extend(union(|r| r.metrics.keys().collect()));
    cols.extend(["fuel", "seconds"].map(String::from));
    cols.extend(union(|r| r.outputs.keys().collect()));
    cols
}

/// The value of column `col` in `row`, as table text (empty when absent).
pub fn cell(row: &Row, col: &str) -> String {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    match col {
        "sample" => row.sample.clone(),
        "combination" => row.combination.clone(),
        "status" => match row.status {
            RowStatus::Completed => "completed".to_owned(),
            RowStatus::Failed => "failed".to_owned(),
        },
        "fuel" => row.fuel.to_string(),
        "seconds" => format!("{:.3}", row.seconds),
        _ => row
            .params
            .get(col)
            .or_else(|| row.metrics.get(col))
            .map(text)
            .or_else(|| row.outputs.get(col).cloned())
            .unwrap_or_default(),
    }
}
