//! Golden cases kept beside a plugin, run through the real sandbox.
//!
//! A case is a directory `tests/golden/<case>/` with `case.toml` (params,
//! inputs as files in the case directory, optionally `fuel`, or a `[recover]`
//! table instead: an error and an attempt for the `recover` hook) and
//! `expected.toml` (status, failure kind, output digests, metrics, fuel,
//! decision: every field optional, only those present are checked), which
//! `petri plugin test --bless` writes from what the stage did.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::provenance::{Outcome, StageRecord};
use crate::stage::bindings::{Decision, MetricValue, StageError};
use crate::stage::limits::Limits;
use crate::stage::params::RawParam;
use crate::stage::petri::{InputSource, LoadedStage, Petri, RunRequest};

/// Where a plugin keeps its golden cases, under its directory.
pub const GOLDEN_DIR: &str = "tests/golden";

/// What a case runs (`case.toml`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct CaseSpec {
    /// Params by name, as in a pipeline file.
    #[serde(default)]
    pub params: BTreeMap<String, toml::Value>,
    /// Input ports → files, relative to the case directory.
    #[serde(default)]
    pub inputs: BTreeMap<String, PathBuf>,
    /// Fuel budget (default: `Limits::default().fuel`).
    pub fuel: Option<u64>,
    /// Ask the `recover` hook instead of running the stage.
    pub recover: Option<RecoverSpec>,
}

/// A stage error handed to the `recover` hook.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RecoverSpec {
    pub kind: String,
    #[serde(default)]
    pub message: String,
    pub port: Option<String>,
    pub record: Option<u64>,
    #[serde(default = "first_attempt")]
    pub attempt: u32,
}

fn first_attempt() -> u32 {
    1
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Succeeded,
    Failed,
}

/// What a case should give (`expected.toml`), or what it gave.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Expected {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    /// The failure's kind (`stage`, `trap`, `fuel-exhausted`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// A stage error's own kind (`malformed-fastq`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<String>,
    /// `retry`, `retry-with`, `skip`, `salvage` or `abort`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<String>,
    /// Checked only when given (`--bless` does not write it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fuel: Option<u64>,
    /// Output port → SHA-256 (hex) of its bytes.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub outputs: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metrics: BTreeMap<String, toml::Value>,
}

/// One golden case.
#[derive(Debug, Clone)]
pub struct Case {
    pub name: String,
    pub dir: PathBuf,
    pub spec: CaseSpec,
    /// `None` until blessed.
    pub expected: Option<Expected>,
}

/// One difference between what a case expected and what it got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diff {
    /// `status`, ``output `trimmed` ``, ``metric `reads-in` ``, …
    pub what: String,
    pub expected: String,
    pub got: String,
}

impl fmt::Display for Diff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: expected {}, got {}",
            self.what, self.expected, self.got
        )
    }
}

/// Why golden cases could not be run (a case that runs and differs is a [`Diff`]).
#[derive(Debug, thiserror::Error)]
pub enum GoldenError {
    #[error("{} has no golden cases (expected {GOLDEN_DIR}/<case>/case.toml)", .0.display())]
    NoCases(PathBuf),
    #[error("{}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {message}", path.display())]
    Parse { path: PathBuf, message: String },
    #[error("case `{case}`: {source}")]
    Host {
        case: String,
        source: Box<crate::error::Error>,
    },
}

fn read_toml<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, GoldenError> {
    let text = std::fs::read_to_string(path).map_err(|source| GoldenError::Read {
        path: path.to_owned(),
        source,
    })?;
    toml::from_str(&text).map_err(|e| GoldenError::Parse {
        path: path.to_owned(),
        message: e.to_string(),
    })
}

/// The cases under `plugin_dir/tests/golden`, sorted by name.
pub fn load_cases(plugin_dir: &Path) -> Result<Vec<Case>, GoldenError> {
    let root = plugin_dir.join(GOLDEN_DIR);
    let entries = std::fs::read_dir(&root).map_err(|_| GoldenError::NoCases(plugin_dir.into()))?;
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("case.toml").is_file())
        .collect();
    dirs.sort();
    if dirs.is_empty() {
        return Err(GoldenError::NoCases(plugin_dir.into()));
    }
    dirs.into_iter()
        .map(|dir| {
            let expected_path = dir.join("expected.toml");
            Ok(Case {
                name: dir
                    .file_name()
                    .map_or_else(String::new, |n| n.to_string_lossy().into()),
                spec: read_toml(&dir.join("case.toml"))?,
                expected: match expected_path.is_file() {
                    true => Some(read_toml(&expected_path)?),
                    false => None,
                },
                dir,
            })
        })
        .collect()
}

/// Runs `case` (or asks the `recover` hook) and returns what it gave.
pub async fn run(petri: &Petri, stage: &LoadedStage, case: &Case) -> Result<Expected, GoldenError> {
    let host = |source| GoldenError::Host {
        case: case.name.clone(),
        source: Box::new(source),
    };
    if let Some(r) = &case.spec.recover {
        let error = StageError {
            kind: r.kind.clone(),
            message: r.message.clone(),
            port: r.port.clone(),
            record: r.record,
        };
        let decision = petri
            .recover(stage, &error, r.attempt)
            .await
            .map_err(host)?;
        return Ok(Expected {
            decision: Some(decision_name(&decision).to_owned()),
            ..Expected::default()
        });
    }
    let params = case
        .spec
        .params
        .iter()
        .map(|(k, v)| {
            let json = serde_json::to_value(v).unwrap_or(serde_json::Value::Null);
            (k.clone(), RawParam::Json(json))
        })
        .collect();
    let inputs = case
        .spec
        .inputs
        .iter()
        .map(|(port, file)| (port.clone(), InputSource::Path(case.dir.join(file))))
        .collect();
    let limits = Limits {
        fuel: case.spec.fuel.unwrap_or(Limits::default().fuel),
        ..Limits::default()
    };
    let request = RunRequest {
        params,
        inputs,
        limits,
        attempt: 1,
    };
    let record = petri.run(stage, request).await.map_err(host)?;
    Ok(observed(&record))
}

fn decision_name(d: &Decision) -> &'static str {
    match d {
        Decision::Retry => "retry",
        Decision::RetryWith(_) => "retry-with",
        Decision::Skip => "skip",
        Decision::Salvage => "salvage",
        Decision::Abort => "abort",
    }
}

/// What a record says a run gave (fuel included).
pub fn observed(record: &StageRecord) -> Expected {
    let mut got = Expected {
        fuel: Some(record.fuel_used),
        outputs: record
            .outputs
            .iter()
            .map(|o| (o.port.clone(), o.sha256.to_hex()))
            .collect(),
        ..Expected::default()
    };
    match &record.outcome {
        Outcome::Succeeded { report } => {
            got.status = Some(Status::Succeeded);
            got.metrics = report
                .metrics
                .iter()
                .map(|m| (m.name.clone(), metric_value(&m.value)))
                .collect();
        }
        Outcome::Failed { failure } => {
            got.status = Some(Status::Failed);
            got.failure = serde_json::to_value(failure)
                .ok()
                .and_then(|v| v["kind"].as_str().map(str::to_owned));
            if let crate::Failure::Stage { error } | crate::Failure::UndeclaredError { error } =
                failure
            {
                got.error_kind = Some(error.kind.clone());
            }
        }
    }
    got
}

fn metric_value(v: &MetricValue) -> toml::Value {
    match v {
        MetricValue::Integer(i) => toml::Value::Integer(*i),
        MetricValue::Float(f) => toml::Value::Float(*f),
        MetricValue::Text(t) => toml::Value::String(t.clone()),
    }
}

/// What `--bless` writes: everything `got` says but fuel.
pub fn blessed(got: &Expected) -> Expected {
    Expected {
        fuel: None,
        ..got.clone()
    }
}

fn show(v: Option<&String>) -> String {
    v.map_or_else(|| "nothing".to_owned(), String::clone)
}

/// Every field `expected` names that `got` does not match. Outputs are
/// compared both ways (a port written but not expected is a diff) once any
/// output is expected; metrics only as far as `expected` lists them.
pub fn compare(expected: &Expected, got: &Expected) -> Vec<Diff> {
    let mut diffs = Vec::new();
    let mut check = |what: String, e: Option<String>, g: Option<String>| {
        if e.is_some() && e != g {
            diffs.push(Diff {
                what,
                expected: show(e.as_ref()),
                got: show(g.as_ref()),
            });
        }
    };
    let name = |s: Option<Status>| s.map(|s| format!("{s:?}").to_lowercase());
    check("status".into(), name(expected.status), name(got.status));
    check(
        "failure".into(),
        expected.failure.clone(),
        got.failure.clone(),
    );
    check(
        "error kind".into(),
        expected.error_kind.clone(),
        got.error_kind.clone(),
    );
    check(
        "decision".into(),
        expected.decision.clone(),
        got.decision.clone(),
    );
    let fuel = |f: Option<u64>| f.map(|f| f.to_string());
    check("fuel".into(), fuel(expected.fuel), fuel(got.fuel));
    for (port, e) in &expected.outputs {
        check(
            format!("output `{port}`"),
            Some(format!("sha256:{e}")),
            got.outputs.get(port).map(|g| format!("sha256:{g}")),
        );
    }
    for (port, g) in got.outputs.iter().filter(|_| !expected.outputs.is_empty()) {
        if !expected.outputs.contains_key(port) {
            check(
                format!("output `{port}`"),
                Some("no output".into()),
                Some(format!("sha256:{g}")),
            );
        }
    }
    for (metric, e) in &expected.metrics {
        check(
            format!("metric `{metric}`"),
            Some(e.to_string()),
            got.metrics.get(metric).map(toml::Value::to_string),
        );
    }
    diffs
}

/// `expected` as the text of an `expected.toml`.
pub fn to_toml(expected: &Expected) -> Result<String, GoldenError> {
    toml::to_string(expected).map_err(|e| GoldenError::Parse {
        path: "expected.toml".into(),
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Expected {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn only_what_is_expected_is_checked() {
        let expected = parsed("status = \"succeeded\"\n[metrics]\nreads = 3\n");
        let got = parsed(
            "status = \"succeeded\"\nfuel = 10\n[outputs]\nout = \"ab\"\n[metrics]\nreads = 3\nbases = 9\n",
        );
        assert_eq!(compare(&expected, &got), vec![]);
        assert_eq!(compare(&Expected::default(), &got), vec![]);
    }

    #[test]
    fn differences_name_the_port_or_metric() {
        let expected =
            parsed("status = \"succeeded\"\n[outputs]\nout = \"ab\"\n[metrics]\nreads = 3\n");
        let got = parsed(
            "status = \"failed\"\nfailure = \"trap\"\n[outputs]\nout = \"cd\"\nextra = \"ef\"\n",
        );
        let diffs: Vec<String> = compare(&expected, &got)
            .iter()
            .map(Diff::to_string)
            .collect();
        assert_eq!(
            diffs,
            [
                "status: expected succeeded, got failed",
                "output `out`: expected sha256:ab, got sha256:cd",
                "output `extra`: expected no output, got sha256:ef",
                "metric `reads`: expected 3, got nothing",
            ]
        );
    }

    #[test]
    fn blessing_round_trips_through_toml() {
        let got = parsed(
            "status = \"failed\"\nfailure = \"stage\"\nerror-kind = \"io\"\nfuel = 7\n[metrics]\nq = 1.5\nname = \"x\"\n",
        );
        let text = to_toml(&blessed(&got)).unwrap();
        let back = parsed(&text);
        assert_eq!(back.fuel, None);
        assert_eq!(compare(&back, &got), vec![]);
        assert_eq!(back.metrics["q"], toml::Value::Float(1.5));
    }

    #[test]
    fn unknown_fields_in_a_case_are_errors() {
        assert!(toml::from_str::<CaseSpec>("parms = {}").is_err());
        let spec: CaseSpec = toml::from_str("[recover]\nkind = \"io\"\n").unwrap();
        assert_eq!(spec.recover.unwrap().attempt, 1);
    }
}
