//! Group commit of a run's stage executions: each one's rows (its record's seal, its stage-cache
//! entry) wait here and go into the database together, after one sync of the blobs they name.
//!
//! Stages execute with [`Petri::run_deferred`]: outputs, logs and records
//! are visible at once (later stages of the run read them) but durable only
//! after [`BlobStore::sync`](crate::store::blobs::BlobStore::sync). A row is
//! committed only after that sync, so a committed cache entry or seal never
//! names a blob a crash could tear. A crash before the commit loses the rows
//! (the run resumes by executing those stages again), never a stored blob:
//! a blob that was already durable is never rewritten unless its bytes no
//! longer match its digest.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::stage::petri::Petri;
use crate::store::lease::Fence;
use crate::store::state::{StageRows, StateStore};

/// How long a finished stage's rows may wait for the next group commit.
const WINDOW: Duration = Duration::from_millis(200);

/// Rows that are committed at once, however young.
const MAX_ROWS: usize = 1024;

/// The rows of a run's finished executions not yet committed.
pub(super) struct Commits {
    petri: Arc<Petri>,
    state: StateStore,
    /// The daemon's claim on the run, checked by each commit.
    fence: Option<Fence>,
    pending: Mutex<Pending>,
}

#[derive(Default)]
struct Pending {
    rows: Vec<StageRows>,
    /// When the oldest pending row came.
    since: Option<Instant>,
}

impl Commits {
    pub(super) fn new(petri: Arc<Petri>, state: StateStore, fence: Option<Fence>) -> Commits {
        Commits {
            petri,
            state,
            fence,
            pending: Mutex::default(),
        }
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, Pending> {
        // A Vec and an Instant stay consistent whatever panicked holding them.
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues an execution's rows for the next group commit.
    pub(super) fn push(&self, rows: StageRows) {
        let mut pending = self.pending();
        pending.since.get_or_insert_with(Instant::now);
        pending.rows.push(rows);
    }

    /// The record (id and seal) a pending row names for `cache_key`: a later
    /// stage of the run with the same key reuses it as a cache hit, as it
    /// would once committed.
    pub(super) fn pending_entry(&self, cache_key: &str) -> Option<(String, String)> {
        self.pending()
            .rows
            .iter()
            .rev()
            .find(|r| r.cache_key.as_deref() == Some(cache_key))
            .map(|r| (r.record_id.clone(), r.seal.clone()))
    }

    /// How long until the pending rows are due (zero: now; `None`: none pending).
    pub(super) fn due_in(&self) -> Option<Duration> {
        let pending = self.pending();
        if pending.rows.len() >= MAX_ROWS {
            return Some(Duration::ZERO);
        }
        pending.since.map(|t| WINDOW.saturating_sub(t.elapsed()))
    }

    /// Makes every blob written so far durable, then commits the pending
    /// rows in one transaction.
    pub(super) async fn flush(&self) -> Result<(), Error> {
        let rows = {
            let mut pending = self.pending();
            pending.since = None;
            std::mem::take(&mut pending.rows)
        };
        if rows.is_empty() {
            return Ok(());
        }
        let petri = self.petri.clone();
        tokio::task::spawn_blocking(move || petri.blobs().sync())
            .await
            .map_err(|e| Error::State(e.to_string()))??;
        self.state.commit_stages(&rows, self.fence.as_ref()).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_wait_for_the_sync_of_the_blobs_they_name() {
        let dir = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let petri = Arc::new(Petri::open(dir.path().join("data")).unwrap());
        let state = rt
            .block_on(StateStore::open(&dir.path().join("state.db")))
            .unwrap();
        let commits = Commits::new(petri.clone(), state.clone(), None);
        assert_eq!(commits.due_in(), None, "nothing pending");

        let seal = petri.blobs().deferred().put(b"a stage record").unwrap();
        commits.push(StageRows {
            record_id: "r1".into(),
            seal: seal.to_hex(),
            cache_key: Some("k1".into()),
        });
        assert!(commits.due_in().is_some_and(|d| d <= WINDOW));
        assert_eq!(rt.block_on(state.cached("k1")).unwrap(), None);
        assert!(!petri.blobs().is_durable(&seal));

        rt.block_on(commits.flush()).unwrap();
        assert!(petri.blobs().is_durable(&seal), "synced before the commit");
        assert_eq!(
            rt.block_on(state.cached("k1")).unwrap().as_deref(),
            Some("r1")
        );
        assert_eq!(
            rt.block_on(state.seal_of("r1")).unwrap(),
            Some(seal.to_hex())
        );
        assert_eq!(commits.due_in(), None);
    }
}
