//! The simulation report: per policy, utilisation per instrument, deadline misses, turnaround and
//! maintenance room, side by side.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

/// Rounds to 3 decimals so reports read (and compare) cleanly.
pub(crate) fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// One instrument under one policy.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InstrumentReport {
    pub class: String,
    pub capacity: u32,
    /// Busy slot-time ÷ (capacity × makespan), including work lost to failures.
    pub utilisation: f64,
    pub busy_hours: f64,
    /// Work lost when a running stage was re-queued (failure or maintenance).
    pub wasted_hours: f64,
    pub maintenance_hours: f64,
    pub down_hours: f64,
    /// Disjoint maintenance slots of the workload's maintenance duration that
    /// fit in idle gaps within the horizon.
    pub maintenance_slots: usize,
    /// The earliest such slot (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_slot: Option<String>,
}

/// One policy's results.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PolicyReport {
    pub policy: String,
    pub samples: usize,
    pub completed: usize,
    pub failed: usize,
    /// Not finished when the clock stopped.
    pub unfinished: usize,
    pub with_deadline: usize,
    /// Samples with a deadline that finished after it, or not at all.
    pub deadline_misses: usize,
    /// Urgent and clinical samples, and their misses.
    pub urgent: usize,
    pub urgent_misses: usize,
    pub mean_turnaround_hours: f64,
    pub p95_turnaround_hours: f64,
    pub urgent_mean_turnaround_hours: f64,
    pub makespan_hours: f64,
    pub dispatched: u64,
    pub requeued: u64,
    pub instruments: BTreeMap<String, InstrumentReport>,
}

/// Every policy on one scenario.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub workload: String,
    pub file: String,
    pub seed: u64,
    pub start: String,
    pub horizon_hours: f64,
    pub samples: usize,
    pub maintenance_duration_hours: f64,
    pub policies: Vec<PolicyReport>,
}

impl Report {
    /// The side-by-side table `petri simulate` prints.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{} ({}): {} samples, seed {}, start {}, horizon {} h",
            self.workload, self.file, self.samples, self.seed, self.start, self.horizon_hours
        );
        let mut row = |label: &str, cells: Vec<String>| {
            let _ = write!(s, "  {label:<30}");
            for c in cells {
                let _ = write!(s, "{c:>14}");
            }
            s.push('\n');
        };
        let p = &self.policies;
        row("", p.iter().map(|r| r.policy.clone()).collect());
        row(
            "completed",
            p.iter()
                .map(|r| format!("{}/{}", r.completed, r.samples))
                .collect(),
        );
        row(
            "deadline misses",
            p.iter()
                .map(|r| format!("{}/{}", r.deadline_misses, r.with_deadline))
                .collect(),
        );
        row(
            "  urgent + clinical misses",
            p.iter()
                .map(|r| format!("{}/{}", r.urgent_misses, r.urgent))
                .collect(),
        );
        let hours = |x: f64| format!("{x:.1} h");
        row(
            "mean turnaround",
            p.iter().map(|r| hours(r.mean_turnaround_hours)).collect(),
        );
        row(
            "p95 turnaround",
            p.iter().map(|r| hours(r.p95_turnaround_hours)).collect(),
        );
        row(
            "  urgent + clinical mean",
            p.iter()
                .map(|r| hours(r.urgent_mean_turnaround_hours))
                .collect(),
        );
        row(
            "makespan",
            p.iter().map(|r| hours(r.makespan_hours)).collect(),
        );
        row(
            "re-queued stages",
            p.iter().map(|r| r.requeued.to_string()).collect(),
        );
        let names: Vec<&String> = p
            .first()
            .map(|r| r.instruments.keys().collect())
            .unwrap_or_default();
        // A heading, then one row per instrument with `cell` for each policy.
        let mut per_instrument = |heading: &str, cell: &dyn Fn(&InstrumentReport) -> String| {
            row(heading, Vec::new());
            for name in &names {
                let cells = p
                    .iter()
                    .map(|r| r.instruments.get(*name).map_or(String::new(), cell))
                    .collect();
                row(&format!("  {name}"), cells);
            }
        };
        per_instrument("utilisation", &|i| {
            format!("{:.1} %", i.utilisation * 100.0)
        });
        per_instrument(
            &format!("maintenance slots ({} h)", self.maintenance_duration_hours),
            &|i| i.maintenance_slots.to_string(),
        );
        s
    }
}
