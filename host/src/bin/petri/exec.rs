//! `petri exec TASK-DIGEST`: run one stored task (a Slurm job's payload) and exit with its typed outcome.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use petri_host::executor::{ExecReport, execute};
use petri_host::{Digest, Outcome, Petri, StateStore};

#[derive(clap::Args)]
pub struct Args {
    /// The task's SHA-256 (a blob in the data dir's store).
    task: Digest,
    /// Print one JSON line (task, record, seal, exit kind and code).
    #[arg(long)]
    json: bool,
}

/// Exit codes: see `petri_host::executor::ExitKind` (docs/slurm.md). A task
/// that cannot run prints the error and exits 2 (host) or 3 (engine profile).
pub async fn main(data_dir: &Path, database: Option<&str>, args: Args) -> anyhow::Result<ExitCode> {
    let petri = Petri::open(data_dir)
        .with_context(|| format!("opening data dir {}", data_dir.display()))?;
    let state = StateStore::open_in(data_dir, database)
        .await
        .context("opening the state database")?;
    let done = match execute(&petri, &state, &args.task).await {
        Ok(done) => done,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(e.exit().code()));
        }
    };
    let report: ExecReport = done.report();
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!("record {}", report.record);
        println!("seal   sha256:{}", report.seal);
        match &done.record.outcome {
            Outcome::Succeeded { .. } => println!("status succeeded"),
            Outcome::Failed { failure } => println!(
                "status failed ({}): {}",
                serde_json::to_value(report.exit)?.as_str().unwrap_or("?"),
                crate::run::printable(&failure.to_string())
            ),
        }
    }
    Ok(ExitCode::from(report.code))
}
