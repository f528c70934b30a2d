//! Verifying a run: re-execute every stage from the blob store and compare digests and fuel.

use std::fmt;

use serde::Serialize;

use super::record::{RunRecord, StageStatus};
use crate::error::Error;
use crate::provenance::Outcome;
use crate::stage::petri::{Petri, RunRequest};
use crate::store::digest::Digest;
use crate::store::records::RecordError;

/// One way a run failed to reproduce.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mismatch {
    pub sample: String,
    pub stage: String,
    /// What differs: `module`, `input`, `output`, `stored output`, `fuel`, `record`, `outcome`.
    pub what: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<String>,
    pub expected: String,
    pub got: String,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let port = self
            .port
            .as_ref()
            .map(|p| format!(" `{p}`"))
            .unwrap_or_default();
        write!(
            f,
            "sample `{}` stage `{}`: {}{port}: expected {}, got {}",
            self.sample, self.stage, self.what, self.expected, self.got
        )
    }
}

/// Re-executes every succeeded stage of `run` from the recorded module bytes,
/// params and input blobs, and checks that the stored blobs still hash to
/// their names. Returns every mismatch; empty means the run reproduces.
pub async fn verify_run(petri: &Petri, run: &RunRecord) -> Result<Vec<Mismatch>, Error> {
    let mut out = Vec::new();
    for s in run
        .stages
        .iter()
        .filter(|s| s.status == StageStatus::Succeeded)
    {
        let mut miss = |what: &str, port: Option<&str>, expected: String, got: String| {
            out.push(Mismatch {
                sample: s.sample.clone(),
                stage: s.stage.clone(),
                what: what.to_owned(),
                port: port.map(str::to_owned),
                expected,
                got,
            })
        };
        let record = match s.record_id.as_ref().map(|_| s.load_record(petri.records())) {
            Some(Ok(record)) => record,
            Some(Err(RecordError::Tampered { sealed, actual, .. })) => {
                miss(
                    "record",
                    None,
                    format!("stage record sealed as sha256:{sealed}"),
                    format!("sha256:{actual}"),
                );
                continue;
            }
            _ => {
                miss(
                    "record",
                    None,
                    format!("stage record {:?}", s.record_id),
                    "missing".into(),
                );
                continue;
            }
        };
        // Stored outputs must still be the bytes they are named after.
        for o in &s.outputs {
            match petri.blobs().open_blob(&o.sha256).map(Digest::of_reader) {
                Ok(Ok((d, _))) if d == o.sha256 => {}
                Ok(Ok((d, _))) => miss(
                    "stored output",
                    Some(&o.port),
                    o.sha256.to_string(),
                    d.to_string(),
                ),
                _ => miss(
                    "stored output",
                    Some(&o.port),
                    o.sha256.to_string(),
                    "missing blob".into(),
                ),
            }
        }
        let wasm = match petri.blobs().read(&record.module.sha256) {
            Ok(bytes) => bytes,
            Err(_) => {
                miss(
                    "module",
                    None,
                    record.module.sha256.to_string(),
                    "missing blob".into(),
                );
                continue;
            }
        };
        let actual = Digest::of(&wasm);
        if actual != record.module.sha256 {
            miss(
                "module",
                None,
                record.module.sha256.to_string(),
                actual.to_string(),
            );
            continue;
        }
        let missing: Vec<_> = record
            .inputs
            .iter()
            .filter(|i| !petri.blobs().contains(&i.sha256))
            .collect();
        for i in &missing {
            miss(
                "input",
                Some(&i.port),
                i.sha256.to_string(),
                "missing blob".into(),
            );
        }
        if !missing.is_empty() {
            continue;
        }
        let stage = petri.load(&wasm)?;
        let request = RunRequest::replaying(&record);
        let again = petri.run(&stage, request).await?;
        if !matches!(again.outcome, Outcome::Succeeded { .. }) {
            miss(
                "outcome",
                None,
                "succeeded".into(),
                again.outcome.status().into(),
            );
            continue;
        }
        for (what, recorded, got) in [
            ("input", &record.inputs, &again.inputs),
            ("output", &record.outputs, &again.outputs),
        ] {
            for r in recorded {
                let found = got.iter().find(|x| x.port == r.port).map(|x| x.sha256);
                if found != Some(r.sha256) {
                    let got = found.map_or_else(|| "absent".to_owned(), |d| d.to_string());
                    miss(what, Some(&r.port), r.sha256.to_string(), got);
                }
            }
        }
        if again.fuel_used != record.fuel_used {
            miss(
                "fuel",
                None,
                record.fuel_used.to_string(),
                again.fuel_used.to_string(),
            );
        }
    }
    Ok(out)
}
