//! Provenance: one record per stage execution, and where records are kept.
//!
//! A record says exactly what ran (module digest), on what (canonical params,
//! input digests), under which limits and engine profile, and what came out
//! (output digests, fuel, outcome). Wall-clock times are informational only.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::stage::bindings::Report;
use crate::stage::failure::Failure;
use crate::stage::limits::Limits;
use crate::store::digest::Digest;

/// Format tag of [`StageRecord`]; bumped on incompatible changes.
pub const RECORD_SCHEMA: &str = "petri.stage-record/v1";

/// One stage execution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageRecord {
    pub schema: String,
    pub id: String,
    pub module: ModuleRef,
    pub stage: StageRef,
    /// Canonical params (every declared param, defaults filled, keys sorted).
    pub params: serde_json::Value,
    pub params_sha256: Digest,
    pub inputs: Vec<PortData>,
    pub outputs: Vec<PortData>,
    /// What a failed run had written, kept for salvage; never part of `outputs`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub partial_outputs: Vec<PortData>,
    /// Fuel consumed by `run` (instantiation excluded).
    pub fuel_used: u64,
    pub limits: Limits,
    pub engine_profile_id: Digest,
    pub engine_profile: serde_json::Value,
    pub host_version: String,
    pub wasmtime_version: String,
    pub attempt: u32,
    pub outcome: Outcome,
    pub log: LogRef,
    pub started_at: String,
    pub finished_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuleRef {
    pub sha256: Digest,
    pub size: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageRef {
    pub name: String,
    pub version: String,
}

/// The bytes that went through one port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortData {
    pub port: String,
    pub sha256: Digest,
    pub size: u64,
}

/// How the execution ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum Outcome {
    Succeeded {
        #[serde(with = "report_json")]
        report: Report,
    },
    Failed {
        failure: Failure,
    },
}

/// A report as JSON, which has no NaN or infinity: a non-finite float
/// metric is the string `"NaN"`, `"inf"` or `"-inf"` (any other float is a
/// number), so a record with one reads back as the same report. Otherwise
/// the shape is the report's own (`{"metrics":[{"name","value":{"Float":…},"unit"}]}`).
mod report_json {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use crate::stage::bindings::{Metric, MetricValue, Report};

    #[derive(Serialize, Deserialize)]
    struct ReportJson {
        metrics: Vec<MetricJson>,
    }

    #[derive(Serialize, Deserialize)]
    struct MetricJson {
        name: String,
        value: ValueJson,
        unit: String,
    }

    #[derive(Serialize, Deserialize)]
    enum ValueJson {
        Integer(i64),
        Float(JsonFloat),
        Text(String),
    }

    /// An `f64` that is a JSON number when finite and a string when not.
    struct JsonFloat(f64);

    impl Serialize for JsonFloat {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let x = self.0;
            if x.is_nan() {
                s.serialize_str("NaN")
            } else if x.is_infinite() {
                s.serialize_str(if x > 0.0 { "inf" } else { "-inf" })
            } else {
                s.serialize_f64(x)
            }
        }
    }

    impl<'de> Deserialize<'de> for JsonFloat {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<JsonFloat, D::Error> {
            #[derive(Deserialize)]
            #[serde(untagged)]
            enum Repr {
                Number(f64),
                Name(String),
            }
            match Repr::deserialize(d)? {
                Repr::Number(x) => Ok(JsonFloat(x)),
                Repr::Name(n) => match n.as_str() {
                    "NaN" => Ok(JsonFloat(f64::NAN)),
                    "inf" => Ok(JsonFloat(f64::INFINITY)),
                    "-inf" => Ok(JsonFloat(f64::NEG_INFINITY)),
                    other => Err(serde::de::Error::custom(format!(
                        "`{other}` is not a float (a number, \"NaN\", \"inf\" or \"-inf\")"
                    ))),
                },
            }
        }
    }

    pub fn serialize<S: Serializer>(report: &Report, s: S) -> Result<S::Ok, S::Error> {
        let metrics = report
            .metrics
            .iter()
            .map(|m| MetricJson {
                name: m.name.clone(),
                value: match &m.value {
                    MetricValue::Integer(i) => ValueJson::Integer(*i),
                    MetricValue::Float(f) => ValueJson::Float(JsonFloat(*f)),
                    MetricValue::Text(t) => ValueJson::Text(t.clone()),
                },
                unit: m.unit.clone(),
            })
            .collect();
        ReportJson { metrics }.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Report, D::Error> {
        let metrics = ReportJson::deserialize(d)?
            .metrics
            .into_iter()
            .map(|m| Metric {
                name: m.name,
                value: match m.value {
                    ValueJson::Integer(i) => MetricValue::Integer(i),
                    ValueJson::Float(JsonFloat(f)) => MetricValue::Float(f),
                    ValueJson::Text(t) => MetricValue::Text(t),
                },
                unit: m.unit,
            })
            .collect();
        Ok(Report { metrics })
    }
}

impl Outcome {
    pub fn status(&self) -> &'static str {
        match self {
            Outcome::Succeeded { .. } => "succeeded",
            Outcome::Failed { .. } => "failed",
        }
    }
}

/// The stage's log, stored as a JSON-lines blob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogRef {
    pub sha256: Digest,
    pub lines: u64,
    pub dropped: u64,
}

/// Errors reading or writing records.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("provenance records at {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path}: not a stage record: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("no run record matches `{0}`")]
    NotFound(String),
    /// The record's bytes are not the ones sealed when it was written.
    #[error(
        "record {id} was changed after it was written (sha256 {actual}, sealed as {sealed}); it is not served"
    )]
    Tampered {
        id: String,
        sealed: Digest,
        actual: Digest,
    },
    #[error("`{prefix}` matches several runs: {}", matches.join(", "))]
    Ambiguous {
        prefix: String,
        matches: Vec<String>,
    },
}

/// Records as `runs/<id>.json`, each written atomically.
#[derive(Debug, Clone)]
pub struct RecordStore {
    dir: PathBuf,
}

impl RecordStore {
    pub fn open(dir: impl Into<PathBuf>) -> Result<RecordStore, RecordError> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(|source| RecordError::Io {
            path: dir.clone(),
            source,
        })?;
        Ok(RecordStore { dir })
    }

    /// Saves a stage record; returns the SHA-256 of the bytes written (its seal).
    pub fn save(&self, record: &StageRecord) -> Result<Digest, RecordError> {
        self.write(&record.id, record)
    }

    /// Saves a pipeline run record (same directory and id space as stage
    /// records); returns the SHA-256 of the bytes written (its seal).
    pub fn save_run(&self, record: &crate::pipeline::RunRecord) -> Result<Digest, RecordError> {
        self.write(&record.id, record)
    }

    /// The full id of the record `id` (or unique prefix).
    pub fn resolve_id(&self, id: &str) -> Result<String, RecordError> {
        let path = self.resolve(id)?;
        let stem = path.file_stem().and_then(|s| s.to_str());
        stem.map(str::to_owned)
            .ok_or_else(|| RecordError::NotFound(id.to_owned()))
    }

    /// Loads the stage record `id` if its bytes are the ones `sealed` names.
    pub fn load_sealed(&self, id: &str, sealed: &Digest) -> Result<StageRecord, RecordError> {
        self.read(id, Some(sealed))
    }

    /// Loads the run record `id` if its bytes are the ones `sealed` names.
    pub fn load_run_sealed(
        &self,
        id: &str,
        sealed: &Digest,
    ) -> Result<crate::pipeline::RunRecord, RecordError> {
        self.read(id, Some(sealed))
    }

    /// Loads a pipeline run record by id or unique prefix.
    pub fn load_run(&self, id: &str) -> Result<crate::pipeline::RunRecord, RecordError> {
        self.read(id, None)
    }

    /// The schema tag of the record `id` (stage or pipeline run).
    pub fn schema_of(&self, id: &str) -> Result<String, RecordError> {
        let v: serde_json::Value = self.read(id, None)?;
        Ok(v["schema"].as_str().unwrap_or_default().to_owned())
    }

    fn write(&self, id: &str, record: &impl Serialize) -> Result<Digest, RecordError> {
        let path = self.dir.join(format!("{id}.json"));
        let io_err = |source| RecordError::Io {
            path: path.clone(),
            source,
        };
        // Serialised in memory first: written straight to the file, every
        // JSON token would be a write(2) (hundreds per record).
        let mut json = serde_json::to_vec_pretty(record).map_err(|source| RecordError::Parse {
            path: path.clone(),
            source,
        })?;
        json.push(b'\n');
        let mut tmp = tempfile::NamedTempFile::new_in(&self.dir).map_err(io_err)?;
        tmp.write_all(&json).map_err(io_err)?;
        tmp.as_file().sync_all().map_err(io_err)?;
        tmp.persist(&path).map_err(|e| io_err(e.error))?;
        Ok(Digest::of(&json))
    }

    /// Loads the record whose id is `id` or starts with it.
    pub fn load(&self, id: &str) -> Result<StageRecord, RecordError> {
        self.read(id, None)
    }

    /// Reads and parses the record `id` (or unique prefix) as `T`.
    fn read<T: serde::de::DeserializeOwned>(
        &self,
        id: &str,
        sealed: Option<&Digest>,
    ) -> Result<T, RecordError> {
        let path = self.resolve(id)?;
        let bytes = fs::read(&path).map_err(|source| RecordError::Io {
            path: path.clone(),
            source,
        })?;
        if let Some(sealed) = sealed {
            let actual = Digest::of(&bytes);
            if actual != *sealed {
                return Err(RecordError::Tampered {
                    id: id.to_owned(),
                    sealed: *sealed,
                    actual,
                });
            }
        }
        serde_json::from_slice(&bytes).map_err(|source| RecordError::Parse { path, source })
    }

    fn resolve(&self, id: &str) -> Result<PathBuf, RecordError> {
        let exact = self.dir.join(format!("{id}.json"));
        if exact.is_file() {
            return Ok(exact);
        }
        if id.is_empty() || id.contains(['/', '\\', '.']) {
            return Err(RecordError::NotFound(id.to_owned()));
        }
        let entries = fs::read_dir(&self.dir).map_err(|source| RecordError::Io {
            path: self.dir.clone(),
            source,
        })?;
        let mut matches: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().to_str().map(str::to_owned))
            .filter_map(|n| n.strip_suffix(".json").map(str::to_owned))
            .filter(|n| n.starts_with(id))
            .collect();
        matches.sort();
        match matches.len() {
            0 => Err(RecordError::NotFound(id.to_owned())),
            1 => Ok(self.dir.join(format!("{}.json", matches[0]))),
            _ => Err(RecordError::Ambiguous {
                prefix: id.to_owned(),
                matches,
            }),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stage::bindings::{Metric, MetricValue};

    fn float(name: &str, value: f64) -> Metric {
        Metric {
            name: name.into(),
            value: MetricValue::Float(value),
            unit: String::new(),
        }
    }

    #[test]
    fn non_finite_metrics_round_trip_through_json() {
        let outcome = Outcome::Succeeded {
            report: Report {
                metrics: vec![
                    float("nan", f64::NAN),
                    float("inf", f64::INFINITY),
                    float("neg", f64::NEG_INFINITY),
                    float("plain", 0.25),
                ],
            },
        };
        let json = serde_json::to_string(&outcome).unwrap();
        assert!(json.contains(r#"{"Float":"NaN"}"#), "{json}");
        assert!(json.contains(r#"{"Float":"-inf"}"#), "{json}");
        assert!(json.contains(r#"{"Float":0.25}"#), "{json}");
        let back: Outcome = serde_json::from_str(&json).unwrap();
        let Outcome::Succeeded { report } = back else {
            panic!("{json}")
        };
        let values: Vec<f64> = report
            .metrics
            .iter()
            .map(|m| match m.value {
                MetricValue::Float(f) => f,
                _ => panic!("{m:?}"),
            })
            .collect();
        assert!(values[0].is_nan());
        assert_eq!(values[1..], [f64::INFINITY, f64::NEG_INFINITY, 0.25]);
    }

    #[test]
    fn records_written_before_keep_reading() {
        let json = r#"{"status":"succeeded","report":{"metrics":[
            {"name":"bytes","value":{"Integer":5},"unit":"bytes"},
            {"name":"q","value":{"Float":30},"unit":""},
            {"name":"t","value":{"Text":"ok"},"unit":""}]}}"#;
        let back: Outcome = serde_json::from_str(json).unwrap();
        let Outcome::Succeeded { report } = back else {
            panic!()
        };
        assert_eq!(report.metrics[1].value, MetricValue::Float(30.0));
        let bad = json.replace("30", r#""lots""#);
        assert!(serde_json::from_str::<Outcome>(&bad).is_err());
    }
}
