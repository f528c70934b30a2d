//! Provenance: one record per stage execution (kept by `store::records`).
//!
//! A record says exactly what ran (module digest), on what (canonical params,
//! input digests), under which limits and engine profile, and what came out
//! (output digests, fuel, outcome). Wall-clock times are informational only.

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
