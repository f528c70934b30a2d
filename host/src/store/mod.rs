//! All persistent state, behind one seam: the content-addressed blob store, the data-dir
//! layout, stage and run records, the module registry, run state (stage cache, runs, fuel
//! history, group quotas, the batch jobs runs submitted) and the daemon's tables (tokens, queued runs, events, audit log, trigger deliveries, notification subscriptions and their outbox).
//!
//! Nothing outside this folder opens a database or writes a file that outlives a run.

pub(crate) mod atomic;
pub(crate) mod blobs;
pub(crate) mod daemon;
pub(crate) mod data_dir;
pub(crate) mod db;
pub(crate) mod digest;
pub(crate) mod jobs;
pub(crate) mod keys;
pub(crate) mod lease;
pub(crate) mod notifications;
pub(crate) mod objects;
pub(crate) mod places;
pub(crate) mod quota;
pub(crate) mod recent;
pub(crate) mod records;
pub(crate) mod registry;
pub(crate) mod registry_file;
pub(crate) mod staging_budget;
pub(crate) mod state;
pub(crate) mod triggers;
