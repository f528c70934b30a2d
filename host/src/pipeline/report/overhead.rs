//! Compute vs coordination: per executed stage, the seconds its attempts
//! computed (the stage records' intervals) and the seconds it waited after
//! its inputs were ready; for the run, wall time against the time at least
//! one stage was computing.

use std::collections::BTreeMap;

use super::data::{ReportData, instant, interval, seconds_between};
use super::html;

/// The overhead section.
pub fn section(data: &ReportData) -> String {
    let Some(origin) = data.origin() else {
        return html::note("The run record's start time does not parse.");
    };
    // (sample, stage) → (first attempt start, last attempt end, compute seconds)
    let mut spans: BTreeMap<(&str, &str), (f64, f64, f64)> = BTreeMap::new();
    for e in &data.executions {
        let intervals: Vec<(f64, f64)> = e
            .attempts
            .iter()
            .flatten()
            .filter_map(|r| interval(r, origin))
            .collect();
        if let (Some(first), Some(last)) = (intervals.first(), intervals.last()) {
            let compute = intervals.iter().map(|(a, b)| b - a).sum();
            spans.insert(
                (&e.stage.sample, &e.stage.stage),
                (first.0, last.1, compute),
            );
        }
    }
    let rows: Vec<Vec<String>> = data
        .executions
        .iter()
        .filter_map(|e| {
            let (start, _, compute) =
                spans.get(&(e.stage.sample.as_str(), e.stage.stage.as_str()))?;
            let ready = data
                .run
                .edges
                .iter()
                .filter(|d| d.sample == e.stage.sample && d.to_stage == e.stage.stage)
                .filter_map(|d| spans.get(&(d.sample.as_str(), d.from.split('.').next()?)))
                .map(|s| s.1)
                .fold(0.0, f64::max);
            Some(vec![
                e.stage.sample.clone(),
                e.stage.stage.clone(),
                format!("{compute:.3}"),
                format!("{:.3}", (start - ready).max(0.0)),
            ])
        })
        .collect();
    let wall = instant(&data.run.finished_at).map_or(0.0, |end| seconds_between(origin, end));
    let busy = union(spans.values().map(|s| (s.0, s.1)).collect());
    let summed: f64 = spans.values().map(|s| s.2).sum();
    let total = vec![vec![
        format!("{wall:.3}"),
        format!("{summed:.3}"),
        format!("{busy:.3}"),
        format!("{:.3}", (wall - busy).max(0.0)),
    ]];
    html::note(
        "Compute: the executed attempts' intervals in their stage records (instantiation and run in the sandbox). \
         Waited: from the end of the last upstream stage executed in this run (or the run's start) to the first attempt — \
         scheduling, instrument queues and the host's own work. Cache hits did not execute and are not listed. \
         Times have millisecond resolution.",
    ) + &html::table(
        "overhead-total",
        &[
            "wall seconds",
            "compute seconds (sum)",
            "seconds any stage computed",
            "seconds no stage computed",
        ],
        &total,
    ) + &html::table(
        "overhead",
        &["sample", "stage", "compute seconds", "waited seconds"],
        &rows,
    )
}

/// The length of the union of `intervals`.
fn union(mut intervals: Vec<(f64, f64)>) -> f64 {
    intervals.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut total = 0.0;
    let mut current: Option<(f64, f64)> = None;
    for (a, b) in intervals {
        current = match current {
            Some((s, e)) if a <= e => Some((s, e.max(b))),
            Some((s, e)) => {
                total += e - s;
                Some((a, b))
            }
            None => Some((a, b)),
        };
    }
    total + current.map_or(0.0, |(s, e)| e - s)
}

#[cfg(test)]
mod tests {
    #[test]
    fn overlapping_intervals_count_once() {
        assert_eq!(super::union(vec![(2.0, 3.0), (0.0, 1.0), (0.5, 1.5)]), 2.5);
        assert_eq!(super::union(Vec::new()), 0.0);
    }
}
