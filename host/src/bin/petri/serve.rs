//! `petri serve`: run the daemon. Settings come from defaults, then the config file, then
//! environment variables and flags (which win).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use petri_host::server::{self, ServerConfig};

#[derive(clap::Args)]
pub struct Args {
    /// A config file (TOML; see docs/server.md).
    #[arg(long, env = "PETRI_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on (`127.0.0.1:0` picks a free port).
    #[arg(long, env = "PETRI_LISTEN")]
    listen: Option<String>,
    /// Largest JSON request body, in bytes.
    #[arg(long, env = "PETRI_MAX_BODY_BYTES")]
    max_body_bytes: Option<usize>,
    /// Largest uploaded module or blob, in bytes.
    #[arg(long, env = "PETRI_MAX_UPLOAD_BYTES")]
    max_upload_bytes: Option<u64>,
    /// Largest uploaded module, in bytes (compiling reads it whole).
    #[arg(long, env = "PETRI_MAX_MODULE_BYTES")]
    max_module_bytes: Option<u64>,
    /// Sustained requests per second per token.
    #[arg(long, env = "PETRI_RATE_LIMIT_PER_SECOND")]
    rate_limit_per_second: Option<f64>,
    /// Requests a token may burst before it is limited.
    #[arg(long, env = "PETRI_RATE_LIMIT_BURST")]
    rate_limit_burst: Option<u32>,
    /// Runs executed at the same time.
    #[arg(long, env = "PETRI_MAX_CONCURRENT_RUNS")]
    max_concurrent_runs: Option<usize>,
    /// Runs one group may have in progress at once (default: no per-group cap).
    #[arg(long, env = "PETRI_MAX_RUNS_PER_GROUP")]
    max_runs_per_group: Option<u32>,
    /// Stages run at once on the implicit `compute` instrument (default: one per core).
    #[arg(long, env = "PETRI_WORKER_SLOTS")]
    worker_slots: Option<u32>,
    /// Fair share: the most of an instrument class's places (percent) one group may hold.
    #[arg(long, env = "PETRI_GROUP_SHARE_PERCENT")]
    group_share_percent: Option<u32>,
    /// On SIGTERM, seconds running stages may take before they are checkpointed.
    #[arg(long, env = "PETRI_DRAIN_TIMEOUT_SECS")]
    drain_timeout_secs: Option<u64>,
    /// Seconds a client may take to send a request's head before it is cut off.
    #[arg(long, env = "PETRI_HEADER_READ_TIMEOUT_SECS")]
    header_read_timeout_secs: Option<u64>,
    /// An instruments calendar (TOML) seeding the daemon's instruments.
    #[arg(long, env = "PETRI_INSTRUMENTS")]
    instruments: Option<PathBuf>,
    /// This daemon's name among those sharing the database (default: petri@<hostname>).
    #[arg(long, env = "PETRI_NODE_ID")]
    node_id: Option<String>,
    /// Seconds a claim on a run lasts unless renewed; then another daemon takes it over.
    #[arg(long, env = "PETRI_LEASE_SECS")]
    lease_secs: Option<u64>,
    /// The file the audit log's head is appended to (default: <data-dir>/audit-anchor.log).
    #[arg(long, env = "PETRI_AUDIT_ANCHOR")]
    audit_anchor: Option<PathBuf>,
}

pub async fn main(
    data_dir: &Path,
    database: Option<&str>,
    data_dir_given: bool,
    args: Args,
) -> anyhow::Result<ExitCode> {
    let mut config = match &args.config {
        Some(path) => ServerConfig::from_file(path)?,
        None => ServerConfig::default(),
    };
    // The global --data-dir (or PETRI_DATA_DIR) wins over the file when given.
    if data_dir_given || args.config.is_none() {
        config.data_dir = data_dir.to_owned();
    }
    if let Some(url) = database {
        config.database = Some(url.to_owned());
    }
    macro_rules! set {
        ($($field:ident),*) => {$(if let Some(v) = args.$field { config.$field = v; })*};
    }
    set!(
        listen,
        max_body_bytes,
        max_upload_bytes,
        max_module_bytes,
        rate_limit_per_second,
        rate_limit_burst,
        max_concurrent_runs,
        group_share_percent,
        drain_timeout_secs,
        header_read_timeout_secs,
        lease_secs
    );
    if let Some(node) = args.node_id {
        config.node_id = Some(node);
    }
    if let Some(slots) = args.worker_slots {
        config.worker_slots = Some(slots);
    }
    if let Some(runs) = args.max_runs_per_group {
        config.max_runs_per_group = Some(runs);
    }
    if let Some(path) = args.instruments {
        config.instruments = Some(path);
    }
    if let Some(path) = args.audit_anchor {
        config.audit_anchor = Some(path);
    }
    config.check().map_err(anyhow::Error::msg)?;
    let listener = server::bind(&config).await?;
    let addr = listener.local_addr().context("reading the bound address")?;
    // Installed before the address is announced: a SIGTERM from then on drains.
    let stop = server::signal();
    // The first line on stdout says where the daemon is (tests read it).
    println!("petri serve: listening on http://{addr}");
    eprintln!(
        "petri serve: data dir {}, API docs at http://{addr}/docs",
        config.data_dir.display()
    );
    server::serve(config, listener, stop)
        .await
        .context("serving")?;
    eprintln!("petri serve: stopped");
    Ok(ExitCode::SUCCESS)
}
