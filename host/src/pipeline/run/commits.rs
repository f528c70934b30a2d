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

use std::collections::{HashMap, HashSet};
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
    /// The cache entries among `rows`: key → (record id, seal).
    entries: HashMap<String, (String, String)>,
    /// Cache keys (hex) known to have no entry, neither committed nor
    /// pending ([`probe`](super::probe)); a key leaves once this run pushes
    /// its entry.
    absent: HashSet<String>,
}

/// What a run knows of a cache key without asking the database.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Known {
    /// This run made the entry and it waits for the next group commit:
    /// the record's id and seal.
    Pending { record_id: String, seal: String },
    /// No entry when the run started, and this run made none since.
    Absent,
    /// Ask the database.
    Unknown,
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

    /// Notes cache keys that had no entry when the run started.
    pub(super) fn absent(self, keys: HashSet<String>) -> Commits {
        self.pending().absent = keys;
        self
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, Pending> {
        // A Vec and an Instant stay consistent whatever panicked holding them.
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues an execution's rows for the next group commit.
    pub(super) fn push(&self, rows: StageRows) {
        let mut pending = self.pending();
        pending.since.get_or_insert_with(Instant::now);
        if let Some(key) = &rows.cache_key {
            pending.absent.remove(key);
            let entry = (rows.record_id.clone(), rows.seal.clone());
            pending.entries.insert(key.clone(), entry);
        }
        pending.rows.push(rows);
    }

    /// What the run knows of `cache_key`: a pending row's record (a later
    /// stage of the run with the same key reuses it as a cache hit, as it
    /// would once committed), a key known to have no entry, or neither.
    pub(super) fn known(&self, cache_key: &str) -> Known {
        let pending = self.pending();
        match pending.entries.get(cache_key) {
            Some((record_id, seal)) => Known::Pending {
                record_id: record_id.clone(),
                seal: seal.clone(),
            },
            None if pending.absent.contains(cache_key) => Known::Absent,
            None => Known::Unknown,
        }
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
            pending.entries.clear();
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

    /// A data dir and state database in a temp dir, and a runtime to drive them.
    fn fixture() -> (
        tempfile::TempDir,
        tokio::runtime::Runtime,
        Arc<Petri>,
        StateStore,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let petri = Arc::new(Petri::open(dir.path().join("data")).unwrap());
        let state = rt
            .block_on(StateStore::open(&dir.path().join("state.db")))
            .unwrap();
        (dir, rt, petri, state)
    }

    #[test]
    fn rows_wait_for_the_sync_of_the_blobs_they_name() {
        let (_dir, rt, petri, state) = fixture();
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

    #[test]
    fn a_key_known_absent_stays_absent_until_the_run_makes_its_entry() {
        let (_dir, rt, petri, state) = fixture();
        let absent = HashSet::from(["k1".to_owned(), "k2".to_owned()]);
        let commits = Commits::new(petri.clone(), state, None).absent(absent);
        assert_eq!(commits.known("k1"), Known::Absent);
        assert_eq!(commits.known("k3"), Known::Unknown, "never asked about");

        let seal = petri.blobs().deferred().put(b"a stage record").unwrap();
        commits.push(StageRows {
            record_id: "r1".into(),
            seal: seal.to_hex(),
            cache_key: Some("k1".into()),
        });
        let made = Known::Pending {
            record_id: "r1".into(),
            seal: seal.to_hex(),
        };
        assert_eq!(commits.known("k1"), made);
        assert_eq!(commits.known("k2"), Known::Absent);
        // Once committed, the database has it: the run must ask again, not
        // take the key for absent and run the stage a second time.
        rt.block_on(commits.flush()).unwrap();
        assert_eq!(commits.known("k1"), Known::Unknown);
    }
}
