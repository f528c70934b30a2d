//! `petri provenance`: show the record of one stage execution.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use petri_host::pipeline::{RUN_SCHEMA, RunRecord};
use petri_host::{Petri, StageRecord, StateStore};

#[derive(clap::Args)]
pub struct Args {
    /// Run id (or a unique prefix of one): a stage execution or a pipeline run.
    id: String,
    /// Print the full JSON record (same as `--format json`).
    #[arg(long)]
    json: bool,
    /// Export format for a pipeline run.
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Directory to write the RO-Crate into (`--format ro-crate`).
    #[arg(long)]
    out: Option<std::path::PathBuf>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Format {
    Json,
    Prov,
    RoCrate,
}

pub async fn main(data_dir: &Path, database: Option<&str>, args: Args) -> anyhow::Result<ExitCode> {
    let petri =
        Petri::open(data_dir).with_context(|| format!("in data dir {}", data_dir.display()))?;
    let state = StateStore::open_in(data_dir, database).await?;
    // Served only as sealed when it was written (the state database keeps the seal).
    let (id, seal) = petri.records().find(&state, &args.id).await?;
    if seal.is_none() {
        eprintln!(
            "petri provenance: record {id} has no seal (written before seals); shown as it is"
        );
    }
    let record: serde_json::Value = petri.records().read(&id, seal.as_ref())?;
    if record["schema"] == RUN_SCHEMA {
        return pipeline_run(&petri, serde_json::from_value(record)?, &args);
    }
    let r: StageRecord = serde_json::from_value(record)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("run        {}", r.id);
    println!("stage      {} {}", r.stage.name, r.stage.version);
    println!(
        "module     sha256:{} ({} bytes)",
        r.module.sha256, r.module.size
    );
    println!("params     sha256:{} {}", r.params_sha256, r.params);
    for i in &r.inputs {
        println!(
            "input      {:<14} sha256:{} ({} bytes)",
            i.port, i.sha256, i.size
        );
    }
    for o in &r.outputs {
        println!(
            "output     {:<14} sha256:{} ({} bytes)",
            o.port, o.sha256, o.size
        );
    }
    println!("fuel       {} of {}", r.fuel_used, r.limits.fuel);
    println!("outcome    {}", r.outcome.status());
    println!(
        "engine     profile {} (wasmtime {}, petri {})",
        r.engine_profile_id, r.wasmtime_version, r.host_version
    );
    println!("attempt    {}", r.attempt);
    println!(
        "log        sha256:{} ({} lines, {} dropped)",
        r.log.sha256, r.log.lines, r.log.dropped
    );
    println!("time       {} .. {}", r.started_at, r.finished_at);
    Ok(ExitCode::SUCCESS)
}

fn pipeline_run(petri: &Petri, run: RunRecord, args: &Args) -> anyhow::Result<ExitCode> {
    match (args.format, args.json) {
        (Some(Format::Json), _) | (None, true) => {
            println!("{}", serde_json::to_string_pretty(&run)?)
        }
        (Some(Format::Prov), _) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&petri_host::pipeline::prov_json(petri, &run))?
            );
        }
        (Some(Format::RoCrate), _) => {
            let dir = args
                .out
                .clone()
                .unwrap_or_else(|| format!("ro-crate-{}", run.id).into());
            let path = petri_host::pipeline::write_ro_crate(petri, &run, &dir)
                .with_context(|| format!("writing the RO-Crate to {}", dir.display()))?;
            println!("{}", path.display());
        }
        (None, false) => {
            println!("run        {}", run.id);
            println!(
                "pipeline   {} sha256:{}",
                run.pipeline.name, run.pipeline.sha256
            );
            println!("status     {}", run.status);
            println!("root       sha256:{}", run.root);
            for s in &run.stages {
                println!(
                    "stage      {:<10} {:<16} {:<9} cache {:<4} fuel {:<12} record {}",
                    s.sample,
                    s.stage,
                    s.status,
                    s.cache,
                    s.fuel_used,
                    s.record_id.as_deref().unwrap_or("-")
                );
            }
            for e in &run.edges {
                println!(
                    "edge       {:<24} -> {}.{}  sha256:{}",
                    e.from, e.to_stage, e.to_port, e.sha256
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
