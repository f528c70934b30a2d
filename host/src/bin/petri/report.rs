//! `petri report RUN -o report.html`: the run as one self-contained HTML page
//! (provenance, stages, sweep plots, timeline, genomics plots, overhead),
//! from the local store or from a daemon (`--url`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use petri_host::pipeline::{Direction, ReportOptions, load_sealed_run, report};

#[derive(clap::Args)]
pub struct Args {
    /// A run id (or a unique prefix of one).
    run: String,
    /// Where to write the HTML file (replaced if it exists).
    #[arg(short, long, value_name = "FILE")]
    output: PathBuf,
    /// Plot this report metric over the sweep, as STAGE.METRIC (repeatable;
    /// default: every numeric metric that differs between combinations).
    #[arg(long = "metric", value_name = "STAGE.METRIC")]
    metrics: Vec<String>,
    /// The best combination has the lowest value, not the highest.
    #[arg(long)]
    lower_is_better: bool,
    /// The report of a run on this daemon instead of the local data dir.
    #[arg(long, env = "PETRI_URL")]
    url: Option<String>,
    /// The daemon's API token (with --url).
    #[arg(long, env = "PETRI_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

pub async fn main(data_dir: &Path, database: Option<&str>, args: Args) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let html = match &args.url {
        Some(url) => {
            let token = args
                .token
                .as_deref()
                .context("--url needs --token (or PETRI_TOKEN)")?;
            crate::client::report(url, token, &args.run, &args.metrics, args.lower_is_better)?
        }
        None => local(data_dir, database, &args).await?,
    };
    std::fs::write(&args.output, html)
        .with_context(|| format!("writing {}", args.output.display()))?;
    eprintln!(
        "report of run {} written to {} in {:.2} s",
        args.run,
        args.output.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

/// The report of a sealed run of the local store.
async fn local(data_dir: &Path, database: Option<&str>, args: &Args) -> anyhow::Result<String> {
    let (petri, state) = crate::host::open(data_dir, database).await?;
    let (run, _) = load_sealed_run(petri.records(), &state, &args.run)
        .await
        .with_context(|| format!("loading run `{}`", args.run))?;
    let options = ReportOptions {
        metrics: args.metrics.clone(),
        best: if args.lower_is_better {
            Direction::Lower
        } else {
            Direction::Higher
        },
    };
    report(&run, petri.blobs(), petri.records(), &options)
        .with_context(|| format!("building the report of run {}", run.id))
}
