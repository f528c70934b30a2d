//! The state every request handler and the run worker share, and how long each part lives.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::config::ServerConfig;
use super::metrics::Metrics;
use super::ratelimit::RateLimiter;
use crate::dispatcher::Dispatcher;
use crate::executor::Executor;
use crate::stage::petri::Petri;
use crate::store::daemon::{ServerStore, TokenRow};
use crate::store::data_dir::DataDir;
use crate::store::lease::Fence;
use crate::store::registry::Registry;

/// Shared by all handlers (behind an `Arc`) for the daemon's lifetime.
pub struct AppState {
    /// The host: blob store, compiled cache, records, and the registry
    /// validation resolves module names through.
    pub petri: Arc<Petri>,
    /// The state database's tables (the runner's and the daemon's).
    pub store: ServerStore,
    pub config: ServerConfig,
    pub data_dir: DataDir,
    pub limiter: RateLimiter,
    pub metrics: Metrics,
    /// Woken when a run is submitted or a worker slot frees.
    pub queue: Notify,
    /// Each run being executed (keyed by run id): how to stop it, and the
    /// claim its commits carry (renewed by the heartbeat).
    pub running: Mutex<HashMap<String, (CancellationToken, Fence)>>,
    /// This daemon's id among those sharing the database.
    pub node: String,
    /// Fired on shutdown: stop taking new runs.
    pub stopping: CancellationToken,
    /// False until recovery ran; false again while draining.
    pub ready: AtomicBool,
    /// The scheduler every run shares: instruments (as changed through the
    /// API), worker slots, and one queue ordered by sample decay and priority.
    pub dispatcher: Dispatcher,
    /// Where runs execute their stages (`None`: in this process).
    pub executor: Option<Executor>,
    /// Tokens already looked up, with when: an entry older than
    /// [`TOKEN_RECHECK`] is read again from SQLite (a token revoked by
    /// `petri token revoke` in another process stops working within it); a
    /// revocation through the API empties it at once.
    tokens: Mutex<HashMap<String, (TokenRow, Instant)>>,
}

/// How long a looked-up token is trusted before SQLite is asked again.
pub const TOKEN_RECHECK: Duration = Duration::from_secs(5);

impl AppState {
    pub fn new(
        petri: Arc<Petri>,
        store: ServerStore,
        config: ServerConfig,
        metrics: Metrics,
        dispatcher: Dispatcher,
    ) -> AppState {
        let node = config.node();
        AppState {
            data_dir: DataDir::new(config.data_dir.clone()),
            limiter: RateLimiter::new(config.rate_limit_per_second, config.rate_limit_burst),
            petri,
            store,
            config,
            metrics,
            queue: Notify::new(),
            running: Mutex::new(HashMap::new()),
            node,
            stopping: CancellationToken::new(),
            ready: AtomicBool::new(false),
            dispatcher,
            executor: None,
            tokens: Mutex::new(HashMap::new()),
        }
    }

    /// A token looked up less than [`TOKEN_RECHECK`] ago.
    pub fn known_token(&self, digest: &str) -> Option<TokenRow> {
        self.tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(digest)
            .filter(|(_, at)| at.elapsed() < TOKEN_RECHECK)
            .map(|(row, _)| row.clone())
    }

    pub fn remember_token(&self, digest: &str, row: &TokenRow) {
        self.tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(digest.to_owned(), (row.clone(), Instant::now()));
    }

    /// Drops every cached token (after a revocation).
    pub fn forget_tokens(&self) {
        self.tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// Asks the worker executing `run_id` to stop it; false if none is.
    pub fn cancel_running(&self, run_id: &str) -> bool {
        let running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        match running.get(run_id) {
            Some((token, _)) => {
                token.cancel();
                true
            }
            None => false,
        }
    }

    /// The module registry: in the database, shared by every daemon using it.
    pub fn registry(&self) -> Registry {
        Registry::new(self.store.state())
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }
}
