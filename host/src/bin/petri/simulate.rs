//! `petri simulate`: run the scheduler on a virtual clock over a workload file, every policy side
//! by side.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use petri_host::schedule::{Policy, load_workload, simulate, simulate_all};

#[derive(clap::Args)]
pub struct Args {
    /// The workload file (.toml).
    workload: PathBuf,
    /// Seed for the random parts (default: the workload's `seed`).
    #[arg(long)]
    seed: Option<u64>,
    /// Run one policy only (petri, fifo, priority); default: all three.
    #[arg(long)]
    policy: Option<Policy>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub fn main(args: Args) -> anyhow::Result<ExitCode> {
    let workload = load_workload(&args.workload)
        .with_context(|| format!("loading workload {}", args.workload.display()))?;
    let seed = args.seed.unwrap_or(workload.seed);
    let scenario = workload.realise(seed);
    let mut report = simulate_all(&scenario).context("simulating")?;
    if let Some(p) = args.policy {
        report.policies = vec![simulate(&scenario, p).context("simulating")?.report];
    }
    if args.json {
        emit(&format!("{}\n", serde_json::to_string_pretty(&report)?))?;
    } else {
        emit(&report.to_text())?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes to stdout; a closed pipe (`| head`) is not an error.
pub fn emit(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(anyhow::Error::new(e).context("writing to stdout"))
        }
        _ => Ok(()),
    }
}
