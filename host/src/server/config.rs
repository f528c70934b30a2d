//! The daemon's configuration: a TOML file whose every key a flag or environment variable can override.
//!
//! ```toml
//! listen = "127.0.0.1:8080"
//! data-dir = "/var/lib/petri"
//! max-body-bytes = 1048576          # JSON requests
//! max-upload-bytes = 1073741824     # modules and blobs
//! max-module-bytes = 134217728      # modules (compiled from memory)
//! rate-limit-per-second = 20.0      # per token
//! rate-limit-burst = 40
//! max-concurrent-runs = 2
//! drain-timeout-secs = 30           # SIGTERM: how long running stages may finish
//! header-read-timeout-secs = 30     # a request head must arrive within this
//!
//! [quota]                           # every research group (none: no limit)
//! fuel-per-run = 10_000_000_000_000
//! fuel-per-day = 100_000_000_000_000
//! store-bytes = 500_000_000_000
//! upload-bytes = 10_000_000_000
//!
//! [group-quota.genomics]            # one group: replaces what it sets
//! fuel-per-day = 400_000_000_000_000
//! ```
//!
//! `executor = "slurm"` and its `[slurm]` table: see `slurm.rs`; `[triggers.NAME]`: `trigger.rs`;
//! `[watches.NAME]`: `watch.rs`; `[notifications]` (the hosts run events may be POSTed to,
//! retries): `notify.rs`; `[ui]` (`secure-cookie = true` behind a TLS proxy): `ui/session.rs`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::error::ServerError;
use super::notify::NotifyConfig;
use super::slurm::{ExecutorKind, SlurmSection};
use super::trigger::TriggerConfig;
use super::ui::UiConfig;
use super::watch::WatchConfig;
use crate::store::quota::GroupQuota;

/// Everything `petri serve` can be told.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct ServerConfig {
    /// Address to listen on (`127.0.0.1:0` picks a free port).
    pub listen: String,
    /// The data dir (blob store, compiled cache, records, SQLite state).
    pub data_dir: PathBuf,
    /// The state database: `postgres://…` to share one queue between several
    /// daemons (which then share the data dir too); none: SQLite in the data dir.
    pub database: Option<String>,
    /// This daemon's name among those sharing the database (it owns the
    /// runs it claims under it; a restart under the same name takes its own
    /// interrupted runs back at once). Default: `petri@<hostname>`.
    pub node_id: Option<String>,
    /// How long a claim on a run lasts unless renewed (heartbeats renew it
    /// every third of it); past it, another daemon takes the run over.
    pub lease_secs: u64,
    /// Largest JSON request body.
    pub max_body_bytes: usize,
    /// Largest uploaded module or blob.
    pub max_upload_bytes: u64,
    /// Largest uploaded module (also bounded by `max_upload_bytes`): a
    /// module is streamed to disk like a blob, but compiling it reads it
    /// whole, so this bounds the memory an upload can take.
    pub max_module_bytes: u64,
    /// Requests per second each token may make, sustained.
    pub rate_limit_per_second: f64,
    /// Requests a token may make at once before it is limited.
    pub rate_limit_burst: u32,
    /// Runs executed at the same time (each runs its ready stages in parallel).
    pub max_concurrent_runs: usize,
    /// Quota: runs one research group may have in progress at once (none:
    /// up to `max-concurrent-runs`); its further runs wait, others' go first.
    pub max_runs_per_group: Option<u32>,
    /// Stages run at once on the implicit `compute` instrument (none: one per core).
    pub worker_slots: Option<u32>,
    /// Fair share: the most of an instrument class's places (percent, rounded
    /// up) one research group's stages may hold at once, so one group's
    /// runaway stages never hold every slot. 100 turns it off.
    pub group_share_percent: u32,
    /// On SIGTERM, how long running stages may go on before they are
    /// checkpointed (stopped; the run resumes on the next start).
    pub drain_timeout_secs: u64,
    /// An instruments calendar (TOML, see docs/scheduler.md) seeding the
    /// daemon's instruments; their state then lives in SQLite and changes
    /// through `/v1/instruments`.
    pub instruments: Option<PathBuf>,
    /// The file the audit log's head is appended to after every entry
    /// (`petri audit verify` checks it): put it where the database's
    /// administrators cannot write. Default: `<data-dir>/audit-anchor.log`.
    pub audit_anchor: Option<PathBuf>,
    /// Quotas every research group has, unless `group-quota` says otherwise.
    pub quota: GroupQuota,
    /// Quotas of named groups, each replacing the limits it sets in `quota`.
    pub group_quota: BTreeMap<String, GroupQuota>,
    /// How long a client may take to send a request's head (request line
    /// and headers) before the connection is closed.
    pub header_read_timeout_secs: u64,
    /// Where runs execute their stages: `local` (in this process) or
    /// `slurm` (each attempt a job; see `[slurm]` and docs/slurm.md).
    pub executor: ExecutorKind,
    /// How runs reach Slurm when `executor = "slurm"`.
    pub slurm: SlurmSection,
    /// Webhook triggers by name: `POST /v1/triggers/NAME` (see `trigger.rs`).
    pub triggers: BTreeMap<String, TriggerConfig>,
    /// Watched directories by name: complete run folders become runs (`watch.rs`).
    pub watches: BTreeMap<String, WatchConfig>,
    /// Where groups' notifications may go and how they are retried (`notify.rs`).
    pub notifications: NotifyConfig,
    /// The dashboard (`/ui`): its session cookie.
    pub ui: UiConfig,
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        ServerConfig {
            listen: "127.0.0.1:8080".to_owned(),
            data_dir: PathBuf::from(".petri"),
            database: None,
            node_id: None,
            lease_secs: 30,
            max_body_bytes: 1 << 20,
            max_upload_bytes: 1 << 30,
            max_module_bytes: 128 << 20,
            rate_limit_per_second: 20.0,
            rate_limit_burst: 40,
            max_concurrent_runs: 2,
            max_runs_per_group: None,
            worker_slots: None,
            group_share_percent: 50,
            drain_timeout_secs: 30,
            instruments: None,
            header_read_timeout_secs: 30,
            audit_anchor: None,
            quota: GroupQuota::default(),
            group_quota: BTreeMap::new(),
            executor: ExecutorKind::Local,
            slurm: SlurmSection::default(),
            triggers: BTreeMap::new(),
            watches: BTreeMap::new(),
            notifications: NotifyConfig::default(),
            ui: UiConfig::default(),
        }
    }
}

impl ServerConfig {
    /// The daemon's node id: `node-id`, else `petri@<hostname>`.
    pub fn node(&self) -> String {
        self.node_id.clone().unwrap_or_else(|| {
            let host = std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "localhost".to_owned());
            format!("petri@{host}")
        })
    }

    /// Where the audit log's head is anchored.
    pub fn audit_anchor(&self) -> PathBuf {
        self.audit_anchor
            .clone()
            .unwrap_or_else(|| self.data_dir.join(super::anchor::DEFAULT_FILE))
    }

    /// The quotas of `group`: `quota`, with what its `group-quota` sets.
    pub fn quota_for(&self, group: &str) -> GroupQuota {
        match self.group_quota.get(group) {
            Some(own) => self.quota.overridden_by(own),
            None => self.quota,
        }
    }

    /// The most runs `group` may have in progress at once: its quota's
    /// `concurrent-runs`, else `max-runs-per-group`.
    pub fn runs_cap(&self, group: &str) -> Option<u32> {
        self.quota_for(group)
            .concurrent_runs
            .or(self.max_runs_per_group)
    }

    /// Whether any group's runs in progress are capped.
    pub fn runs_capped(&self) -> bool {
        self.max_runs_per_group.is_some()
            || self.quota.concurrent_runs.is_some()
            || self
                .group_quota
                .values()
                .any(|q| q.concurrent_runs.is_some())
    }

    /// Reads a config file; keys it does not set keep their defaults.
    pub fn from_file(path: &Path) -> Result<ServerConfig, ServerError> {
        let text = std::fs::read_to_string(path).map_err(|source| ServerError::Config {
            path: path.to_owned(),
            message: source.to_string(),
        })?;
        let config: ServerConfig = toml::from_str(&text).map_err(|e| ServerError::Config {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        config.check().map_err(|message| ServerError::Config {
            path: path.to_owned(),
            message,
        })?;
        Ok(config)
    }

    /// Checks values a file, flag or variable may have set wrong.
    pub fn check(&self) -> Result<(), String> {
        if !(self.rate_limit_per_second > 0.0 && self.rate_limit_per_second.is_finite()) {
            return Err("rate-limit-per-second must be a positive number".into());
        }
        if self.rate_limit_burst == 0 {
            return Err("rate-limit-burst must be at least 1".into());
        }
        if self.max_concurrent_runs == 0 {
            return Err("max-concurrent-runs must be at least 1".into());
        }
        if !(1..=100).contains(&self.group_share_percent) {
            return Err("group-share-percent must be between 1 and 100".into());
        }
        if self.max_runs_per_group == Some(0) {
            return Err("max-runs-per-group must be at least 1".into());
        }
        let quotas = std::iter::once(&self.quota).chain(self.group_quota.values());
        if quotas.into_iter().any(|q| q.concurrent_runs == Some(0)) {
            return Err("concurrent-runs must be at least 1".into());
        }
        if self.worker_slots == Some(0) {
            return Err("worker-slots must be at least 1".into());
        }
        if self.lease_secs == 0 {
            return Err("lease-secs must be at least 1".into());
        }
        if self.max_module_bytes == 0 {
            return Err("max-module-bytes must be at least 1".into());
        }
        if self.header_read_timeout_secs == 0 {
            return Err("header-read-timeout-secs must be at least 1".into());
        }
        self.notifications.check()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_overrides_only_what_it_sets() {
        let c: ServerConfig =
            toml::from_str("listen = \"0.0.0.0:9\"\nrate-limit-burst = 3").unwrap();
        assert_eq!(c.listen, "0.0.0.0:9");
        assert_eq!(c.rate_limit_burst, 3);
        assert_eq!(c.max_body_bytes, ServerConfig::default().max_body_bytes);
        assert!(toml::from_str::<ServerConfig>("bogus = 1").is_err());
    }

    #[test]
    fn a_groups_quota_replaces_only_what_it_sets() {
        let c: ServerConfig = toml::from_str(
            "[quota]\nfuel-per-day = 10\nstore-bytes = 20\n[group-quota.b]\nstore-bytes = 5\n",
        )
        .unwrap();
        assert_eq!(c.quota_for("a").store_bytes, Some(20));
        let b = c.quota_for("b");
        assert_eq!((b.fuel_per_day, b.store_bytes), (Some(10), Some(5)));
        assert!(toml::from_str::<ServerConfig>("[quota]\nfuel = 1").is_err());
    }

    #[test]
    fn a_groups_run_cap_comes_from_its_quota_then_the_default_then_the_global_key() {
        let text = "max-runs-per-group = 3\n[group-quota.b]\nconcurrent-runs = 1\n";
        let c: ServerConfig = toml::from_str(text).unwrap();
        assert_eq!((c.runs_cap("a"), c.runs_cap("b")), (Some(3), Some(1)));
        assert!(c.runs_capped());
        let c: ServerConfig = toml::from_str("[group-quota.b]\nconcurrent-runs = 2\n").unwrap();
        assert_eq!((c.runs_cap("a"), c.runs_cap("b")), (None, Some(2)));
        assert!(c.runs_capped());
        assert!(!ServerConfig::default().runs_capped());
        let zero: ServerConfig = toml::from_str("[group-quota.b]\nconcurrent-runs = 0\n").unwrap();
        assert_eq!(
            zero.check(),
            Err("concurrent-runs must be at least 1".into())
        );
    }
}
