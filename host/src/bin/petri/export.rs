//! `petri export RUN DIR`, and `petri run PIPELINE --output-dir DIR`: a run's
//! outputs as files under `DIR/<sample>/<stage>/<port>.<format>` with
//! `DIR/manifest.tsv`, from the local store or from a daemon (`--url`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use petri_host::Petri;
use petri_host::pipeline::{Placement, Published, RunRecord, load_sealed_run, outputs};

#[derive(clap::Args)]
pub struct Args {
    /// A run id (or a unique prefix of one); on a daemon, its run id.
    run: String,
    /// Where to write; created if missing. Files already there with the same
    /// bytes are kept; any other file in the way stops the export before it writes.
    dir: PathBuf,
    /// Export from this daemon instead of the local data dir.
    #[arg(long, env = "PETRI_URL")]
    url: Option<String>,
    /// The daemon's API token (with --url).
    #[arg(long, env = "PETRI_TOKEN", hide_env_values = true)]
    token: Option<String>,
    #[arg(long)]
    json: bool,
}

pub async fn main(data_dir: &Path, database: Option<&str>, args: Args) -> anyhow::Result<ExitCode> {
    let published = match &args.url {
        Some(url) => {
            let token = args
                .token
                .as_deref()
                .context("--url needs --token (or PETRI_TOKEN)")?;
            crate::client::export(url, token, &args.run, &args.dir)?
        }
        None => {
            let (petri, state) = crate::host::open(data_dir, database).await?;
            let (run, _) = load_sealed_run(petri.records(), &state, &args.run)
                .await
                .with_context(|| format!("loading run `{}`", args.run))?;
            publish(&petri, &run, &args.dir).await?
        }
    };
    report(&args.dir, &published, args.json)?;
    Ok(ExitCode::SUCCESS)
}

/// Publishes the outputs of `run`'s succeeded stages from the local store into `dir`.
pub async fn publish(petri: &Petri, run: &RunRecord, dir: &Path) -> anyhow::Result<Vec<Published>> {
    let list = outputs(petri, run)
        .await
        .with_context(|| format!("listing the outputs of run {}", run.id))?;
    petri_host::pipeline::publish_from_store(petri.blobs(), dir, list)
        .with_context(|| format!("exporting run {} to {}", run.id, dir.display()))
}

/// Prints what was written (or the JSON list of files).
pub fn report(dir: &Path, published: &[Published], json: bool) -> anyhow::Result<()> {
    if json {
        let out = serde_json::json!({ "dir": dir, "files": published });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    let count = |p: Placement| published.iter().filter(|f| f.placement == p).count();
    println!(
        "outputs in {}  ({} files: {} linked, {} copied, {} already there; list in {})",
        dir.display(),
        published.len(),
        count(Placement::Linked),
        count(Placement::Copied),
        count(Placement::Present),
        dir.join(petri_host::pipeline::MANIFEST).display()
    );
    Ok(())
}
