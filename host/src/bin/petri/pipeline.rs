//! `petri run <pipeline.toml>`: validate, then run the DAG with caching and resume.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use std::io::IsTerminal;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use petri_host::pipeline::{EventCallback, RunEvent, RunOptions, RunRecord, run_plan, validate};

/// The exit code of a run stopped by SIGINT or SIGTERM (128 + SIGINT, as shells report Ctrl-C).
const INTERRUPTED: u8 = 130;

pub async fn main(
    data_dir: &Path,
    database: Option<&str>,
    pipeline: &Path,
    samples: Option<&Path>,
    instruments: Option<&Path>,
    json: bool,
    options: RunOptions,
) -> anyhow::Result<ExitCode> {
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
    if json {
        println!("{}", serde_json::to_string_pretty(&summary(&record))?);
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
