//! The `petri` command: glue from flags to the petri-host library.

mod inspect;
mod pipeline;
mod plugin;
mod provenance;
mod run;
mod validate;
mod verify;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "petri",
    version,
    about = "Run lab pipeline stages as deterministic, sandboxed WebAssembly components"
)]
struct Cli {
    /// Data directory (blob store, compiled cache, run records).
    #[arg(long, global = true, env = petri_host::DATA_DIR_ENV, default_value = ".petri")]
    data_dir: PathBuf,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show a stage's SHA-256 and manifest.
    Inspect(inspect::Args),
    /// Run one stage (a .wasm) or a pipeline (a .toml).
    Run(run::Args),
    /// Show the provenance record of a run.
    Provenance(provenance::Args),
    /// Re-execute a pipeline run from the store and compare digests and fuel.
    Verify(verify::Args),
    /// Check a pipeline file without running it.
    Validate(validate::Args),
    /// Manage the registry of stage modules.
    #[command(subcommand)]
    Plugin(plugin::Command),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Inspect(args) => inspect::main(&cli.data_dir, args).await,
            Command::Run(args) => run::main(&cli.data_dir, args).await,
            Command::Provenance(args) => provenance::main(&cli.data_dir, args),
            Command::Verify(args) => verify::main(&cli.data_dir, args).await,
            Command::Validate(args) => validate::main(&cli.data_dir, args).await,
            Command::Plugin(cmd) => plugin::main(&cli.data_dir, cmd).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
