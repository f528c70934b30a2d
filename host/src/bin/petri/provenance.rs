//! `petri provenance`: show the record of one stage execution.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use petri_host::{DataDir, RecordStore};

#[derive(clap::Args)]
pub struct Args {
    /// Run id (or a unique prefix of one).
    id: String,
    /// Print the full JSON record.
    #[arg(long)]
    json: bool,
}

pub fn main(data_dir: &Path, args: Args) -> anyhow::Result<ExitCode> {
    let records = RecordStore::open(DataDir::new(data_dir).runs())?;
    let r = records
        .load(&args.id)
        .with_context(|| format!("in data dir {}", data_dir.display()))?;
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
