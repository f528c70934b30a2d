//! What the report is made of, read once: the run record, each stage's
//! record and its attempts' records, and the results rows of a sweep.

use std::time::SystemTime;

use crate::pipeline::record::{CacheUse, RunRecord, RunStage};
use crate::pipeline::results::{Row, rows};
use crate::provenance::StageRecord;
use crate::store::records::RecordStore;

/// Which end of a metric is best.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Direction {
    #[default]
    Higher,
    Lower,
}

/// One stage of one sample with the records that describe it.
#[derive(Debug)]
pub struct Execution<'a> {
    pub stage: &'a RunStage,
    /// The record of the outputs (for a cache hit: the original execution's),
    /// or why it could not be read.
    pub record: Result<StageRecord, String>,
    /// This run's attempts, each with its record when readable.
    pub attempts: Vec<Option<StageRecord>>,
}

/// Everything the sections read.
#[derive(Debug)]
pub struct ReportData<'a> {
    pub run: &'a RunRecord,
    pub executions: Vec<Execution<'a>>,
    /// One row per (sample, combination); empty without a sweep.
    pub rows: Vec<Row>,
}

impl<'a> ReportData<'a> {
    pub fn gather(run: &'a RunRecord, records: &RecordStore) -> ReportData<'a> {
        let executions = run
            .stages
            .iter()
            .map(|stage| Execution {
                stage,
                record: stage.load_record(records).map_err(|e| e.to_string()),
                attempts: attempts(stage, records),
            })
            .collect();
        let rows = if run.combinations.is_empty() {
            Vec::new()
        } else {
            rows(run, records, &[])
        };
        ReportData {
            run,
            executions,
            rows,
        }
    }

    /// The run's start, the origin of every time axis.
    pub fn origin(&self) -> Option<SystemTime> {
        instant(&self.run.started_at)
    }
}

fn attempts(stage: &RunStage, records: &RecordStore) -> Vec<Option<StageRecord>> {
    if stage.cache == CacheUse::Hit {
        return Vec::new();
    }
    stage
        .attempts
        .iter()
        .map(|a| records.read(&a.record_id, a.record_sha256.as_ref()).ok())
        .collect()
}

/// An RFC 3339 time, or `None` when it does not parse.
pub fn instant(text: &str) -> Option<SystemTime> {
    humantime::parse_rfc3339_weak(text).ok()
}

/// Seconds from `from` to `to` (0 when `to` is earlier).
pub fn seconds_between(from: SystemTime, to: SystemTime) -> f64 {
    to.duration_since(from).map_or(0.0, |d| d.as_secs_f64())
}

/// A record's execution interval in seconds since `origin`.
pub fn interval(record: &StageRecord, origin: SystemTime) -> Option<(f64, f64)> {
    let start = instant(&record.started_at)?;
    let end = instant(&record.finished_at)?;
    Some((seconds_between(origin, start), seconds_between(origin, end)))
}

/// An output of one of the run's stages.
#[derive(Debug)]
pub struct Found {
    /// `sample/stage`, the first that produced these bytes.
    pub label: String,
    pub digest: crate::store::digest::Digest,
}

impl ReportData<'_> {
    /// The distinct outputs `port` of succeeded stages of module `module`,
    /// at most `cap`, and how many there were.
    pub fn outputs(&self, module: &str, port: &str, cap: usize) -> (Vec<Found>, usize) {
        let mut found: Vec<Found> = Vec::new();
        let mut total = 0;
        for e in &self.executions {
            let s = e.stage;
            if s.name != module || s.status != crate::pipeline::record::StageStatus::Succeeded {
                continue;
            }
            for o in s.outputs.iter().filter(|o| o.port == port) {
                if found.iter().any(|f| f.digest == o.sha256) {
                    continue;
                }
                total += 1;
                if found.len() < cap {
                    found.push(Found {
                        label: format!("{}/{}", s.sample, s.stage),
                        digest: o.sha256,
                    });
                }
            }
        }
        (found, total)
    }
}
