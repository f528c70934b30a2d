//! Opening a data dir for a command that resolves module names: the host, with the module
//! registry of the state database (`--database`, else the data dir's SQLite file) attached.

use std::path::Path;

use anyhow::Context;
use petri_host::{Petri, Registry, StateStore};

/// The host over `data_dir` with its registry, and the state it lives in.
/// An older data dir's `registry.json` is imported into the database first.
pub async fn open(data_dir: &Path, database: Option<&str>) -> anyhow::Result<(Petri, StateStore)> {
    let petri = Petri::open(data_dir)
        .with_context(|| format!("opening data dir {}", data_dir.display()))?;
    let state = StateStore::open_in(data_dir, database).await?;
    let registry = Registry::open_in(&state, data_dir).await?;
    Ok((petri.with_registry(registry), state))
}
