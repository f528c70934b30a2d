//! The provenance summary (run, root, pipeline, engine profiles, modules and
//! params per stage) and the DAG table (cache use, fuel, time, outcome, attempts).

use std::collections::BTreeSet;
use std::fmt::Write;

use super::data::{ReportData, instant, seconds_between};
use super::html::{self, escape};

/// The run's identity: a definition list, then the modules and params of each stage.
pub fn summary(data: &ReportData) -> String {
    let run = data.run;
    let profiles: BTreeSet<String> = data
        .executions
        .iter()
        .filter_map(|e| e.record.as_ref().ok())
        .map(|r| r.engine_profile_id.to_hex())
        .collect();
    let mut facts = vec![
        ("Run", run.id.clone()),
        ("Status", run.status.clone()),
        ("Merkle root", run.root.to_hex()),
        (
            "Pipeline",
            format!("{} ({})", run.pipeline.name, run.pipeline.file),
        ),
        ("Pipeline SHA-256", run.pipeline.sha256.to_hex()),
        ("Started", run.started_at.clone()),
        ("Finished", run.finished_at.clone()),
        ("Samples", run.sample_info.len().to_string()),
        (
            "Engine profile",
            profiles.into_iter().collect::<Vec<_>>().join(", "),
        ),
    ];
    if let Some(sheet) = &run.samples {
        facts.push((
            "Sample sheet",
            format!("{} ({})", sheet.file, sheet.sha256.to_hex()),
        ));
    }
    if !run.combinations.is_empty() {
        facts.push(("Combinations", run.combinations.len().to_string()));
    }
    let mut out = String::from("<dl id=\"run-facts\">");
    for (k, v) in facts {
        let _ = write!(out, "<dt>{}</dt><dd>{}</dd>", escape(k), escape(&v));
    }
    out.push_str("</dl>");
    out + &html::heading("Modules and params") + &modules(data)
}

/// One row per distinct (stage, module, params): what ran, under which params.
fn modules(data: &ReportData) -> String {
    let mut seen = BTreeSet::new();
    let rows: Vec<Vec<String>> = data
        .executions
        .iter()
        .filter(|e| seen.insert((&e.stage.stage, e.stage.module_sha256, e.stage.params_sha256)))
        .map(|e| {
            let params = e.record.as_ref().map_or_else(
                |err| format!("(record unreadable: {err})"),
                |r| r.params.to_string(),
            );
            vec![
                e.stage.stage.clone(),
                format!("{} {}", e.stage.name, e.stage.version),
                e.stage.module_sha256.to_hex(),
                params,
            ]
        })
        .collect();
    html::table(
        "modules",
        &["stage", "module", "module SHA-256", "params"],
        &rows,
    )
}

/// The DAG: every stage of every sample, its inputs' sources and how it went.
pub fn stage_table(data: &ReportData) -> String {
    let rows: Vec<Vec<String>> = data
        .executions
        .iter()
        .map(|e| {
            let s = e.stage;
            let from: BTreeSet<&str> = data
                .run
                .edges
                .iter()
                .filter(|d| d.sample == s.sample && d.to_stage == s.stage)
                .map(|d| d.from.split('.').next().unwrap_or_default())
                .collect();
            let time = e.record.as_ref().ok().and_then(|r| {
                Some(seconds_between(
                    instant(&r.started_at)?,
                    instant(&r.finished_at)?,
                ))
            });
            let retries: Vec<String> = s
                .attempts
                .iter()
                .filter_map(|a| a.decision.clone())
                .collect();
            vec![
                s.sample.clone(),
                s.stage.clone(),
                from.into_iter().collect::<Vec<_>>().join(", "),
                s.status.to_string(),
                s.cache.to_string(),
                s.fuel_used.to_string(),
                time.map_or_else(|| "—".to_owned(), |t| format!("{t:.3}")),
                s.attempts.len().to_string(),
                retries.join("; "),
                s.instrument.clone().unwrap_or_default(),
                s.reason.clone().unwrap_or_default(),
            ]
        })
        .collect();
    let headers = [
        "sample",
        "stage",
        "inputs from",
        "outcome",
        "cache",
        "fuel",
        "seconds",
        "attempts",
        "decisions",
        "instrument",
        "reason",
    ];
    html::note(
        "Seconds are the execution the stage record describes (for a cache hit, the original one, not this run).",
    ) + &html::table("dag", &headers, &rows)
}
