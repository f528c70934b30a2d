//! `petri serve`: the daemon. A REST API over the pipeline runner with durable state in SQLite,
//! research-group isolation, and crash recovery.
//!
//! One concept per file: `config` (file, flags, env), `auth` (tokens, the
//! caller), `ratelimit`, `store` (the daemon's tables), `workspace` (a run's
//! files), `worker` (the queue and execution), `routes/` (one file per
//! resource), `views` (the JSON shapes), `openapi`, `metrics`, `error`,
//! `extract` (JSON rejections), `shutdown`, `app` (shared state), `audit`
//! (the hash-chained log of every state-changing call), `anchor` (its head,
//! kept outside the database), `trigger` and `watch` (runs started by events), `signature`
//! (webhook HMACs), `notify` (run events POSTed to subscribers), `ui/` (the operators'
//! dashboard at `/ui`).

mod anchor;
mod app;
mod audit;
mod auth;
mod config;
mod error;
mod extract;
mod http;
mod metrics;
mod notify;
mod openapi;
mod ratelimit;
mod routes;
mod shutdown;
mod signature;
mod slurm;
mod trigger;
mod ui;
pub(crate) mod views;
mod watch;
mod worker;
mod workspace;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use tokio::net::TcpListener;

pub use crate::store::daemon::{
    Claim, Claimed, GroupCaps, Revocation, RunEnd, RunFilter, RunRow, ServerStore, TOKEN_ID_LEN,
    TokenRow, TokenSpec, parse_priority,
};
pub use anchor::{AnchorError, DEFAULT_FILE as AUDIT_ANCHOR_FILE};
pub use app::AppState;
pub use audit::{AuditEntry, GENESIS, NewAuditEntry, REASON_HEADER, Verdict};
pub use auth::{TOKEN_PREFIX, create_token, create_token_with, token_digest, valid_group};
pub use config::ServerConfig;
pub use error::{ApiError, ErrorBody, ErrorDetail, ProblemBody, ServerError};
pub use metrics::Metrics;
pub use notify::NotifyConfig;
pub use ratelimit::RateLimiter;
pub use routes::{ByteRange, Unsatisfiable, parse_range};
pub use shutdown::signal;
pub use signature::{SIGNATURE_HEADER, is_signed, sign};
pub use trigger::TriggerConfig;
pub use ui::UiConfig;
pub use views::{
    Accepted, AttemptView, BlobView, EventView, Health, LogPage, LogView, ModuleView, OutputsView,
    PortView, Priority, RunErrorView, RunPage, RunStatus, RunSummary, RunView, SheetFormat,
    StageView, SubmitRun, TokenState, TokenView,
};
pub use watch::WatchConfig;

/// Appends an entry to the audit log (for local commands: `petri token …`)
/// and its head to the anchor file at `anchor`.
pub async fn audit_append(
    store: &ServerStore,
    entry: &NewAuditEntry,
    anchor: &Path,
) -> Result<AuditEntry, ServerError> {
    let entry = audit::append(store, entry).await?;
    anchor::note(anchor, &entry)?;
    Ok(entry)
}

/// Up to `limit` audit entries after sequence number `after`, oldest first.
pub async fn audit_list(
    store: &ServerStore,
    after: i64,
    limit: i64,
) -> Result<Vec<AuditEntry>, ServerError> {
    Ok(audit::list(store, after, limit).await?)
}

/// Walks the audit log's hash chain; the first broken entry if any.
pub async fn audit_verify(store: &ServerStore) -> Result<Verdict, ServerError> {
    Ok(audit::verify(store).await?)
}

/// Checks the audit log against the newest head anchored in the file at
/// `anchor`: detects the newest entries removed.
pub async fn audit_check_anchor(
    store: &ServerStore,
    anchor: &Path,
) -> Result<Verdict, AnchorError> {
    anchor::check(store, anchor).await
}

use crate::dispatcher::{Dispatcher, fuel_history};
use crate::stage::petri::Petri;
use crate::store::notifications::AttentionKind;
use crate::store::registry::Registry;
use crate::store::state::StateStore;

/// Now, as the RFC 3339 text stored everywhere.
pub(crate) fn now() -> String {
    humantime::format_rfc3339_micros(SystemTime::now()).to_string()
}

/// Opens the daemon's tables: in `database`, else in `data_dir`'s SQLite file
/// (for `petri token create`).
pub async fn open_store(
    data_dir: &std::path::Path,
    database: Option<&str>,
) -> Result<ServerStore, ServerError> {
    let state = StateStore::open_in(data_dir, database).await?;
    Ok(ServerStore::open(state))
}

/// Binds `config.listen`.
pub async fn bind(config: &ServerConfig) -> Result<TcpListener, ServerError> {
    TcpListener::bind(&config.listen)
        .await
        .map_err(|source| ServerError::Bind {
            addr: config.listen.clone(),
            source,
        })
}

/// Worker slots of a daemon whose stages run on Slurm (unless `worker-slots` says).
const SLURM_SLOTS: usize = 1000;

/// Serves on `listener` until `shutdown` resolves, then drains: no new
/// connections or runs; running runs get `drain-timeout-secs`, then are
/// checkpointed back to PENDING. Runs that were interrupted by a crash are
/// requeued before the daemon reports ready.
pub async fn serve(
    config: ServerConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let store = open_store(&config.data_dir, config.database.as_deref()).await?;
    let registry = Registry::open_in(store.state(), &config.data_dir).await?;
    let petri = Arc::new(Petri::open(&config.data_dir)?.with_registry(registry));
    // What a killed process left mid-write; other processes' writes go on.
    let removed = petri
        .blobs()
        .clean_staging()
        .map_err(crate::error::Error::from)?;
    if removed > 0 {
        eprintln!("petri serve: removed {removed} leftover temp file(s) from blobs/tmp");
    }
    if let Some(path) = &config.instruments {
        let instruments =
            crate::schedule::load_calendar(path).map_err(|e| ServerError::Config {
                path: path.clone(),
                message: e.to_string(),
            })?;
        store.seed_instruments(&instruments).await?;
    }
    // One scheduler for every run: the instruments in SQLite (none: one per
    // class), the worker slots of this machine, the fuel history of the data dir.
    let instruments = store.instruments().await?;
    let executor = config
        .slurm
        .executor(
            config.executor,
            &config.data_dir,
            config.database.as_deref(),
        )
        .map_err(|e| ServerError::Config {
            path: PathBuf::from("[slurm]"),
            message: e.to_string(),
        })?;
    let sender =
        notify::Sender::new(&config.notifications).map_err(|message| ServerError::Config {
            path: PathBuf::from("[notifications]"),
            message,
        })?;
    // On Slurm the cluster decides how many stages run at once.
    let cores = match executor {
        Some(_) => SLURM_SLOTS,
        None => std::thread::available_parallelism().map_or(2, |n| n.get()),
    };
    let slots = config
        .worker_slots
        .unwrap_or(u32::try_from(cores).unwrap_or(u32::MAX));
    let dispatcher = Dispatcher::new(
        (!instruments.is_empty()).then_some(instruments),
        slots,
        fuel_history(store.state()).await?,
    )?;
    dispatcher.set_owner_share(config.group_share_percent);
    let mut app = AppState::new(petri, store, config, Metrics::install(), dispatcher);
    app.executor = executor;
    let app = Arc::new(app);
    for id in app.store.requeue_interrupted(&app.node).await? {
        app.store
            .event(
                &id,
                AttentionKind::Recovered.as_str(),
                "the daemon stopped while the run was in progress; it resumes from its committed stages",
                &now(),
                None,
            )
            .await?;
    }
    let (router, api) = routes::router(app.clone());
    let router = router.merge(openapi::docs(api));
    let worker = tokio::spawn(worker::run_queue(app.clone()));
    let heartbeat = tokio::spawn(worker::heartbeat(app.clone()));
    let watches = tokio::spawn(watch::run(app.clone()));
    let notifications = tokio::spawn(notify::run(app.clone(), sender));
    app.ready.store(true, Ordering::SeqCst);

    let stopping = app.stopping.clone();
    let app2 = app.clone();
    let signal = async move {
        shutdown.await;
        app2.ready.store(false, Ordering::SeqCst);
        stopping.cancel();
    };
    let header_timeout = Duration::from_secs(app.config.header_read_timeout_secs);
    let served = http::serve(listener, router, header_timeout, signal).await;
    // The worker drains after the listener closes (it saw `stopping` too).
    app.stopping.cancel();
    let _ = worker.await;
    let _ = heartbeat.await;
    let _ = watches.await;
    let _ = notifications.await;
    served.map_err(ServerError::Serve)
}
