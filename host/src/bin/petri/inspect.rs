//! `petri inspect`: a stage's identity and manifest.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;

use crate::run::printable;
use petri_host::{Petri, Value};

#[derive(clap::Args)]
pub struct Args {
    /// The stage component (.wasm).
    stage: PathBuf,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub async fn main(data_dir: &Path, args: Args) -> anyhow::Result<ExitCode> {
    let petri = Petri::open(data_dir)
        .with_context(|| format!("opening data dir {}", data_dir.display()))?;
    let stage = petri
        .load_file(&args.stage)
        .with_context(|| format!("loading {}", args.stage.display()))?;
    let manifest = petri
        .describe(&stage)
        .await
        .with_context(|| format!("describing {}", args.stage.display()))?;
    if args.json {
        let out = serde_json::json!({
            "sha256": stage.digest,
            "size": stage.size,
            "manifest": manifest,
            "forbidden_imports": stage.forbidden_imports,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{} {}  sha256:{}  ({} bytes)",
        manifest.name, manifest.version, stage.digest, stage.size
    );
    for line in manifest.description.lines() {
        println!("{}", printable(line));
    }
    println!();
    println!("params:");
    for p in &manifest.params {
        let default = p
            .default
            .as_ref()
            .map_or("required".to_owned(), |d| format!("default {}", show(d)));
        let doc = printable(&p.doc);
        println!("  {:<24} {:?} ({default})  {doc}", p.name, p.kind);
    }
    for (title, ports) in [("inputs", &manifest.inputs), ("outputs", &manifest.outputs)] {
        println!("{title}:");
        for p in ports {
            let req = if p.required { "required" } else { "optional" };
            let doc = printable(&p.doc);
            println!("  {:<24} {:<6} {req}  {doc}", p.name, p.format);
        }
    }
    println!("errors:");
    for e in &manifest.errors {
        println!("  {:<24} {}", e.name, printable(&e.doc));
    }
    if !stage.forbidden_imports.is_empty() {
        println!(
            "forbidden imports (calling one traps): {}",
            stage.forbidden_imports.join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn show(v: &Value) -> String {
    match v {
        Value::Boolean(b) => b.to_string(),
        Value::Integer(i) => i.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Text(s) => format!("{s:?}"),
        Value::IntegerList(l) => format!("{l:?}"),
        Value::FloatList(l) => format!("{l:?}"),
        Value::TextList(l) => format!("{l:?}"),
    }
}
