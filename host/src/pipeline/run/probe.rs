//! The stage cache asked once for a run's first stages: which of their cache keys it has no entry for.
//!
//! A stage fed only by the run's inputs has a cache key known when the run
//! starts. One query per few hundred keys ([`StateStore::cached_among`])
//! finds which of them have entries, so a sweep of ten thousand such stages
//! asks the database a few dozen times instead of ten thousand. A stage whose
//! key had no entry then skips its own lookup ([`Commits`] keeps the answer,
//! and forgets a key once this run makes its entry). An entry another process
//! commits in between is not reused: the stage runs again, and gives the same
//! bytes.
//!
//! [`Commits`]: super::commits::Commits

use std::collections::{HashMap, HashSet};

use super::inputs::wiring;
use super::stage::cache_key;
use crate::error::Error;
use crate::pipeline::plan::Plan;
use crate::pipeline::record::RunInput;
use crate::pipeline::samples::Sample;
use crate::stage::petri::Petri;
use crate::store::digest::Digest;
use crate::store::state::StateStore;

/// The cache keys (hex) of every (sample, stage) whose inputs are all the
/// run's own inputs and that have no stage-cache entry now.
pub(super) async fn absent_keys(
    petri: &Petri,
    state: &StateStore,
    plan: &Plan,
    samples: &[&Sample],
    inputs: &[RunInput],
) -> Result<HashSet<String>, Error> {
    let none = HashMap::new();
    let keys: Vec<String> = samples
        .iter()
        .flat_map(|s| plan.stages.iter().map(move |st| (*s, st)))
        .filter_map(|(sample, stage)| {
            let (wired, blocked) = wiring(plan, stage, &sample.id, &none, inputs);
            let inputs: Vec<(String, Digest)> =
                wired.into_iter().map(|(port, d, _)| (port, d)).collect();
            blocked
                .is_none()
                .then(|| cache_key(petri, stage, &inputs).to_hex())
        })
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let found = state.cached_among(&keys).await?;
    Ok(keys.into_iter().filter(|k| !found.contains(k)).collect())
}
