//! The `petri` command: glue from flags to the petri-host library.

mod audit;
mod authoring;
mod bundle;
mod client;
mod exec;
mod executor;
mod export;
mod host;
mod inspect;
mod instruments;
mod key;
mod logs;
mod pipeline;
mod plugin;
mod promote;
mod provenance;
mod report;
mod results;
mod run;
mod serve;
mod simulate;
mod token;
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

    /// The state database: `postgres://…` for several daemons sharing one
    /// queue (with a data dir they all share), else `<data-dir>/petri.sqlite`.
    #[arg(long, global = true, env = "PETRI_DATABASE_URL")]
    database: Option<String>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show a stage's SHA-256 and manifest.
    Inspect(inspect::Args),
    /// Run one stage (a .wasm) or a pipeline (a .toml).
    Run(run::Args),
    /// Run one stored task by its digest (what a Slurm job runs; docs/slurm.md).
    Exec(exec::Args),
    /// Show the provenance record of a run.
    Provenance(provenance::Args),
    /// Write a run's outputs as files: DIR/<sample>/<stage>/<port>.<format> + manifest.tsv.
    Export(export::Args),
    /// A run's results: one row per (sample, combination) as TSV, CSV or JSON.
    Results(results::Args),
    /// Write a run's report: one self-contained HTML page with inline SVG plots.
    Report(report::Args),
    /// Write one signed archive with everything needed to re-execute a run elsewhere.
    Bundle(bundle::Args),
    /// Re-execute a pipeline run (from the store, or a bundle) and compare digests and fuel.
    Verify(verify::Args),
    /// Manage the key that signs bundles.
    #[command(subcommand)]
    Key(key::Command),
    /// Check a pipeline file without running it.
    Validate(validate::Args),
    /// Manage the registry of stage modules.
    #[command(subcommand)]
    Plugin(plugin::Command),
    /// Simulate the scheduler on a workload: petri vs FIFO vs priority.
    Simulate(simulate::Args),
    /// Show instrument calendars and propose maintenance slots.
    #[command(subcommand)]
    Instruments(instruments::Command),
    /// Run the daemon: REST API, durable queue, crash recovery (docs/server.md).
    Serve(serve::Args),
    /// Manage the daemon's API tokens.
    #[command(subcommand)]
    Token(token::Command),
    /// Read the daemon's audit log and verify its hash chain.
    #[command(subcommand)]
    Audit(audit::Command),
    /// Submit a pipeline to a daemon (uploading the files it names).
    Submit(client::SubmitArgs),
    /// Show a run on a daemon.
    Status(client::RunArgs),
    /// List runs on a daemon.
    List(client::ListArgs),
    /// Cancel a run on a daemon.
    Cancel(client::RunArgs),
    /// Show a stage's log and failure: a local record, or a daemon run's (with --url).
    Logs(logs::Args),
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
            Command::Run(args) => run::main(&cli.data_dir, cli.database.as_deref(), args).await,
            Command::Exec(args) => exec::main(&cli.data_dir, cli.database.as_deref(), args).await,
            Command::Provenance(args) => {
                provenance::main(&cli.data_dir, cli.database.as_deref(), args).await
            }
            Command::Export(args) => {
                export::main(&cli.data_dir, cli.database.as_deref(), args).await
            }
            Command::Results(args) => {
                results::main(&cli.data_dir, cli.database.as_deref(), args).await
            }
            Command::Report(args) => {
                report::main(&cli.data_dir, cli.database.as_deref(), args).await
            }
            Command::Bundle(args) => {
                bundle::main(&cli.data_dir, cli.database.as_deref(), args).await
            }
            Command::Key(cmd) => key::main(&cli.data_dir, cmd),
            Command::Verify(args) => {
                verify::main(&cli.data_dir, cli.database.as_deref(), args).await
            }
            Command::Validate(args) => {
                validate::main(&cli.data_dir, cli.database.as_deref(), args).await
            }
            Command::Plugin(cmd) => plugin::main(&cli.data_dir, cli.database.as_deref(), cmd).await,
            Command::Serve(args) => {
                let given = std::env::var_os(petri_host::DATA_DIR_ENV).is_some()
                    || cli.data_dir != std::path::Path::new(".petri");
                serve::main(&cli.data_dir, cli.database.as_deref(), given, args).await
            }
            Command::Token(cmd) => token::main(&cli.data_dir, cli.database.as_deref(), cmd).await,
            Command::Audit(cmd) => audit::main(&cli.data_dir, cli.database.as_deref(), cmd).await,
            Command::Submit(args) => client::submit(args),
            Command::Status(args) => client::status(args),
            Command::List(args) => client::list(args),
            Command::Cancel(args) => client::cancel(args),
            Command::Logs(args) => logs::main(&cli.data_dir, cli.database.as_deref(), args).await,
            Command::Simulate(args) => simulate::main(args),
            Command::Instruments(cmd) => instruments::main(cmd),
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            // Errors can quote stage-provided text: never raw to a terminal.
            eprintln!("error: {}", run::printable(&format!("{e:#}")));
            ExitCode::from(2)
        }
    }
}
