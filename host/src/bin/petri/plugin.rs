//! `petri plugin add | list`: name stage modules in the data dir's registry.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use petri_host::{Petri, RegistryEntry};

#[derive(clap::Subcommand)]
pub enum Command {
    /// Store stage components and register them under their manifest names.
    Add {
        /// Component files (.wasm).
        #[arg(required = true)]
        stages: Vec<PathBuf>,
    },
    /// List registered stage modules.
    List {
        #[arg(long)]
        json: bool,
    },
}

pub async fn main(data_dir: &Path, cmd: Command) -> anyhow::Result<ExitCode> {
    let petri = Petri::open(data_dir)
        .with_context(|| format!("opening data dir {}", data_dir.display()))?;
    match cmd {
        Command::Add { stages } => {
            for path in stages {
                let stage = petri
                    .load_file(&path)
                    .with_context(|| format!("loading {}", path.display()))?;
                let m = petri
                    .describe(&stage)
                    .await
                    .with_context(|| format!("describing {}", path.display()))?;
                let entry = RegistryEntry {
                    name: m.name.clone(),
                    version: m.version.clone(),
                    sha256: stage.digest,
                };
                petri.registry().add(entry)?;
                println!("{} {}  sha256:{}", m.name, m.version, stage.digest);
            }
        }
        Command::List { json } => {
            let entries = petri.registry().list()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&entries)?);
            } else {
                for e in entries {
                    println!("{:<20} {:<10} sha256:{}", e.name, e.version, e.sha256);
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
