//! `petri verify`: re-execute a run (from the store, or from a bundle imported into it) and compare every digest and fuel count.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use petri_host::pipeline::{RunRecord, StageStatus, load_sealed_run, verify_run};
use petri_host::{Petri, StateStore};

#[derive(clap::Args)]
pub struct Args {
    /// A run id (or unique prefix), a run record file (.json), or a bundle
    /// (`petri bundle`; its signature and files are checked and imported first).
    run: String,
    /// With a bundle: the fingerprint its signer must have (`petri key show`).
    #[arg(long)]
    key: Option<String>,
    #[arg(long)]
    json: bool,
}

/// Whether `path` is a bundle: a file starting with the gzip magic bytes.
fn is_bundle(path: &Path) -> bool {
    let mut magic = [0u8; 2];
    std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
        .is_ok_and(|()| magic == [0x1f, 0x8b])
}

/// Checks and imports the bundle at `path`; returns its run.
fn open_bundle(petri: &Petri, path: &Path, key: Option<&str>) -> anyhow::Result<RunRecord> {
    let opened = petri_host::pipeline::open_bundle(petri, path)
        .with_context(|| format!("checking bundle {}", path.display()))?;
    if let Some(want) = key
        && want != opened.signer
    {
        anyhow::bail!(
            "bundle {} is signed by {}, not by {want}",
            path.display(),
            opened.signer
        );
    }
    eprintln!(
        "petri verify: bundle {}: signature by {} and {} file digest(s) check; re-executing",
        path.display(),
        opened.signer,
        opened.manifest.files.len()
    );
    Ok(opened.run)
}

pub async fn main(data_dir: &Path, database: Option<&str>, args: Args) -> anyhow::Result<ExitCode> {
    let petri = Petri::open(data_dir)
        .with_context(|| format!("opening data dir {}", data_dir.display()))?;
    let as_path = PathBuf::from(&args.run);
    let run: RunRecord = if as_path.is_file() && is_bundle(&as_path) {
        open_bundle(&petri, &as_path, args.key.as_deref())?
    } else if as_path.is_file() {
        let bytes =
            std::fs::read(&as_path).with_context(|| format!("reading {}", as_path.display()))?;
        serde_json::from_slice(&bytes)
            .with_context(|| format!("{} is not a run record", as_path.display()))?
    } else {
        let state = StateStore::open_in(data_dir, database).await?;
        let (run, sealed) = load_sealed_run(petri.records(), &state, &args.run)
            .await
            .with_context(|| format!("loading run `{}`", args.run))?;
        if !sealed {
            eprintln!(
                "petri verify: run {} has no seal (written before seals); its record is taken as it is",
                run.id
            );
        }
        run
    };
    let mismatches = verify_run(&petri, &run)
        .await
        .context("re-executing the run")?;
    if args.json {
        let out = serde_json::json!({"run_id": run.id, "verified": mismatches.is_empty(), "mismatches": mismatches});
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else if mismatches.is_empty() {
        let n = run
            .stages
            .iter()
            .filter(|s| s.status == StageStatus::Succeeded)
            .count();
        println!(
            "run {} verified: {n} stage(s) reproduced byte for byte, same fuel",
            run.id
        );
    } else {
        for m in &mismatches {
            eprintln!("mismatch: {m}");
        }
        eprintln!(
            "run {} did not verify: {} mismatch(es)",
            run.id,
            mismatches.len()
        );
    }
    Ok(if mismatches.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
