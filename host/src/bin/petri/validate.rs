//! `petri validate`: check a pipeline file whole, reporting every problem with its location.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use petri_host::pipeline::{Wire, validate};

#[derive(clap::Args)]
pub struct Args {
    /// The pipeline file (.toml).
    pipeline: PathBuf,
    /// A sample sheet (TSV/CSV) to check with it.
    #[arg(long, value_name = "SHEET")]
    samples: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub async fn main(data_dir: &Path, database: Option<&str>, args: Args) -> anyhow::Result<ExitCode> {
    let (petri, _) = crate::host::open(data_dir, database).await?;
    match validate(&petri, &args.pipeline, args.samples.as_deref()).await {
        Ok(plan) => {
            if args.json {
                let stages: Vec<_> = plan
                    .stages
                    .iter()
                    .map(|s| {
                        serde_json::json!({
                            "id": s.id,
                            "stage": s.manifest.name,
                            "module_sha256": s.module.digest,
                            "params": s.params.to_json(),
                            "inputs": s.inputs,
                        })
                    })
                    .collect();
                println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &serde_json::json!({"valid": true, "stages": stages})
                    )?
                );
            } else {
                // One write per line would be one syscall per stage of a sweep.
                let mut out = std::io::BufWriter::new(std::io::stdout().lock());
                writeln!(
                    out,
                    "{}: valid, {} stage(s)",
                    args.pipeline.display(),
                    plan.stages.len()
                )?;
                for s in &plan.stages {
                    let from: Vec<String> = s
                        .inputs
                        .iter()
                        .map(|(port, w)| match w {
                            Wire::Input { name } => format!("{port}←inputs.{name}"),
                            Wire::Stage { stage, port: out } => format!("{port}←{stage}.{out}"),
                        })
                        .collect();
                    writeln!(
                        out,
                        "  {:<16} {} {}  {}",
                        s.id,
                        s.manifest.name,
                        s.manifest.version,
                        from.join(" ")
                    )?;
                }
                out.flush()?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(diagnostics) => {
            if args.json {
                let out = serde_json::json!({"valid": false, "problems": diagnostics});
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                for d in &diagnostics {
                    eprintln!("error: {d}");
                }
                eprintln!(
                    "{} problem(s) in {}",
                    diagnostics.len(),
                    args.pipeline.display()
                );
            }
            Ok(ExitCode::from(2))
        }
    }
}
