//! `petri bundle RUN -o FILE`: one signed archive with everything needed to re-execute a run elsewhere.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use petri_host::pipeline::{Inputs, load_sealed_run, write_bundle};

#[derive(clap::Args)]
pub struct Args {
    /// A run id (or a unique prefix of one).
    run: String,
    /// The bundle to write (conventionally `*.petri`).
    #[arg(short, long)]
    out: PathBuf,
    /// Leave the pipeline's inputs out: only their digests travel (the
    /// recipient cannot re-execute the stages that read them).
    #[arg(long)]
    no_inputs: bool,
    #[arg(long)]
    json: bool,
}

pub async fn main(data_dir: &Path, database: Option<&str>, args: Args) -> anyhow::Result<ExitCode> {
    let key = petri_host::load_key(data_dir).context("loading the signing key")?;
    let (petri, state) = crate::host::open(data_dir, database).await?;
    let (run, _) = load_sealed_run(petri.records(), &state, &args.run)
        .await
        .with_context(|| format!("loading run `{}`", args.run))?;
    let inputs = if args.no_inputs {
        Inputs::DigestsOnly
    } else {
        Inputs::Included
    };
    let manifest = write_bundle(&petri, &run, &key, inputs, &args.out).with_context(|| {
        format!(
            "writing the bundle of run {} to {}",
            run.id,
            args.out.display()
        )
    })?;
    if args.json {
        let out = serde_json::json!({"bundle": args.out, "manifest": manifest});
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!(
            "bundle {}: run {} (root sha256:{}), {} files, signed by {}",
            args.out.display(),
            run.id,
            run.root,
            manifest.files.len(),
            manifest.key
        );
    }
    Ok(ExitCode::SUCCESS)
}
