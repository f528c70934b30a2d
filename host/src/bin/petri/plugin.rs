//! `petri plugin add | list`: name stage modules in the registry of the state database
//! (`--database`, else the data dir's). A name and version keep their bytes unless `--force`;
//! every registration is kept in the name's history. `promote | rollback | history`: in
//! `promote.rs`. `petri plugin new | test`: a plugin
//! author's scaffold and golden-case harness (`petri_host::authoring`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use petri_host::{Added, Petri, Registry, RegistryEntry};

#[derive(clap::Subcommand)]
pub enum Command {
    /// Store stage components and register them under their manifest names.
    Add {
        /// Component files (.wasm).
        #[arg(required = true)]
        stages: Vec<PathBuf>,
        /// Register even when the name and version already name other bytes
        /// (the earlier registration stays in the history).
        #[arg(long)]
        force: bool,
    },
    /// List registered stage modules.
    List {
        #[arg(long)]
        json: bool,
        /// Also every earlier registration of each name (version, digest, when).
        #[arg(long)]
        history: bool,
    },
    /// Shadow a name's latest executions with a candidate module, report, then move the name.
    Promote(crate::promote::PromoteArgs),
    /// Move a name back to the module it pointed to before (or `--to` one of its history).
    Rollback(crate::promote::RollbackArgs),
    /// A name's registrations, promotions and rollbacks, oldest first (`*`: current).
    History(crate::promote::HistoryArgs),
    /// Scaffold a new stage crate: manifest, one param, ports, a unit test, golden cases.
    New(crate::authoring::NewArgs),
    /// Run a plugin's golden cases (DIR/tests/golden/<case>/) through the sandbox.
    Test(crate::authoring::TestArgs),
}

pub async fn main(
    data_dir: &Path,
    database: Option<&str>,
    cmd: Command,
) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::New(args) => return crate::authoring::new(args),
        Command::Test(args) => return crate::authoring::test(args).await,
        Command::Promote(args) => return crate::promote::promote(data_dir, database, args).await,
        Command::Rollback(args) => return crate::promote::rollback(data_dir, database, args).await,
        Command::History(args) => return crate::promote::history(data_dir, database, args).await,
        Command::Add { stages, force } => {
            let (petri, state) = crate::host::open(data_dir, database).await?;
            let registry = Registry::new(&state);
            for path in stages {
                add(&petri, &registry, &path, force).await?;
            }
        }
        Command::List { json, history } => {
            let (_, state) = crate::host::open(data_dir, database).await?;
            list(&Registry::new(&state), json, history).await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn add(petri: &Petri, registry: &Registry, path: &Path, force: bool) -> anyhow::Result<()> {
    let stage = petri
        .load_file(path)
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
    let added = registry
        .add_with(entry, force)
        .await
        .with_context(|| format!("registering {}", path.display()))?;
    let note = match added {
        Added::New => "",
        Added::Unchanged => "  (already registered)",
        Added::Replaced => "  (replaced other bytes: forced)",
    };
    println!("{} {}  sha256:{}{note}", m.name, m.version, stage.digest);
    Ok(())
}

async fn list(registry: &Registry, json: bool, history: bool) -> anyhow::Result<()> {
    let named = registry.list_with_history().await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&named)?);
        return Ok(());
    }
    for m in named {
        let e = &m.entry;
        println!("{:<20} {:<10} sha256:{}", e.name, e.version, e.sha256);
        for r in m.history.iter().filter(|_| history) {
            println!("    {}", crate::promote::line(r));
        }
    }
    Ok(())
}
