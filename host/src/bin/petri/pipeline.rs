//! `petri run <pipeline.toml>`: validate, then run the DAG with caching and resume.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use std::io::IsTerminal;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use petri_host::pipeline::{EventCallback, RunEvent, RunOptions, RunRecord, run_plan, validate};

/// What `petri run PIPELINE` was asked to do.
pub struct Request<'a> {
    pub pipeline: &'a Path,
    pub samples: Option<&'a Path>,
    pub instruments: Option<&'a Path>,
    pub output_dir: Option<&'a Path>,
    pub json: bool,
}

/// The exit code of a run stopped by SIGINT or SIGTERM (128 + SIGINT, as shells report Ctrl-C).
const INTERRUPTED: u8 = 130;

pub async fn main(
    data_dir: &Path,
    database: Option<&str>,
    request: Request<'_>,
    options: RunOptions,
) -> anyhow::Result<ExitCode> {
    let Request {
        pipeline,
        samples,
        instruments,
        output_dir,
        json,
    } = request;
    let instruments = instruments
        .map(|path| {
            petri_host::schedule::load_calendar(path)
                .with_context(|| format!("reading instruments calendar {}", path.display()))
        })
        .transpose()?;
    let (petri, state) = crate::host::open(data_dir, database).await?;
    let petri = Arc::new(petri);
    let plan = match validate(&petri, pipeline, samples).await {
        Ok(plan) => plan,
        Err(diagnostics) => {
            for d in &diagnostics {
                eprintln!("error: {d}");
            }
            anyhow::bail!(
                "{} problem(s) in {}; nothing was run",
                diagnostics.len(),
                pipeline.display()
            );
        }
    };
    if !plan.combinations.is_empty() {
        let copies: std::collections::HashSet<&String> = plan
            .combinations
            .iter()
            .flat_map(|c| c.stages.values())
            .collect();
        let shared = plan
            .stages
            .iter()
            .filter(|s| !copies.contains(&s.id))
            .count();
        eprintln!(
            "sweep: {} combination(s) × {} sample(s); {} distinct stage executions per sample \
             ({shared} stage(s) shared by every combination, {} copies of swept stages)",
            plan.combinations.len(),
            plan.samples.len(),
            plan.stages.len(),
            copies.len(),
        );
    }
    // A progress bar of (sample, stage) pairs on a terminal; quiet otherwise or with --json.
    let total = (plan.stages.len() * plan.samples.len()) as u64;
    let on_event: Option<EventCallback> = if json || !std::io::stderr().is_terminal() {
        None
    } else {
        let bar = ProgressBar::new(total).with_style(
            ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} stages  {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        Some(Arc::new(move |e: RunEvent<'_>| {
            let s = match e {
                RunEvent::Ended(s) => s,
                RunEvent::Preempted {
                    sample,
                    stage,
                    reason,
                    ..
                } => return bar.println(format!("  {sample:<10} {stage:<16} preempted: {reason}")),
                RunEvent::Started { .. } => return,
            };
            bar.println(format!(
                "  {:<10} {:<16} {:<9} cache {:<4} fuel {}",
                s.sample, s.stage, s.status, s.cache, s.fuel_used
            ));
            bar.inc(1);
            bar.set_message(format!("{}/{} {}", s.sample, s.stage, s.status));
            if bar.position() >= total {
                bar.finish_and_clear();
            }
        }))
    };
    // SIGINT or SIGTERM stops the run and cancels its Slurm jobs.
    let interrupt = tokio_util::sync::CancellationToken::new();
    let watcher = tokio::spawn({
        let interrupt = interrupt.clone();
        async move {
            petri_host::server::signal().await;
            interrupt.cancel();
        }
    });
    let options = RunOptions {
        on_event,
        instruments,
        interrupt: Some(interrupt),
        ..options
    };
    let result = run_plan(petri.clone(), &state, &plan, &options).await;
    watcher.abort();
    let record = match result {
        Err(e @ petri_host::Error::Interrupted { .. }) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(INTERRUPTED));
        }
        r => r.context("running the pipeline")?,
    };
    // Succeeded stages' outputs are published even when the run failed.
    let published = match output_dir {
        Some(dir) => Some(crate::export::publish(&petri, &record, dir).await?),
        None => None,
    };
    if json {
        let mut out = summary(&record);
        if let (Some(dir), Some(files)) = (output_dir, &published) {
            out["output_dir"] = serde_json::json!(dir);
            out["published"] = serde_json::json!(files);
        }
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!(
            "run {}  {}  {}",
            record.id, record.pipeline.name, record.status
        );
        println!("  root    sha256:{}", record.root);
        for s in &record.stages {
            for o in &s.outputs {
                println!(
                    "  {:<16} {:<16} sha256:{}  {} bytes",
                    s.stage, o.port, o.sha256, o.size
                );
            }
            if let Some(r) = &s.reason {
                println!("  {:<16} {}: {r}", s.stage, s.status);
            }
        }
        if let (Some(dir), Some(files)) = (output_dir, &published) {
            crate::export::report(dir, files, false)?;
        }
    }
    Ok(if record.status == "completed" {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn summary(r: &RunRecord) -> serde_json::Value {
    let stages: Vec<_> = r
        .stages
        .iter()
        .map(|s| {
            serde_json::json!({
                "sample": s.sample,
                "stage": s.stage,
                "module_sha256": s.module_sha256,
                "status": s.status,
                "cache": s.cache,
                "fuel_used": s.fuel_used,
                "outputs": s.outputs,
                "record_id": s.record_id,
                "attempts": s.attempts,
                "reason": s.reason,
            })
        })
        .collect();
    serde_json::json!({
        "run_id": r.id,
        "pipeline": r.pipeline,
        "status": r.status,
        "root": r.root,
        "samples": r.sample_info,
        "stages": stages,
    })
}
