//! One `scontrol show job` (or `sacct`) per array per poll: the answers the waiters of one array's tasks share.
//!
//! A fan-out over many samples is one job array, and each sample's stage
//! waits for its own task. Asked separately, every waiter would run its own
//! `scontrol` each poll; here the first to ask for an array runs it and the
//! others that ask within half a poll get the same answer (a waiter asking
//! while the call is under way waits for it). An answer is dropped once its
//! array's task is re-niced, so the next poll reads the new value. The
//! `sacct` answers for tasks slurmctld has forgotten are shared the same way
//! (a daemon back after `MinJobAge` finds a whole array's tasks gone at once).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::OnceCell;

use super::show::JobInfo;

/// What one call about an array gave (`scontrol show job`: its jobs), or why it failed.
pub type Shown<T = Vec<JobInfo>> = Result<T, String>;

/// One array's answer (or the call under way) and when it was asked.
struct Answer<T> {
    asked: Instant,
    cell: Arc<OnceCell<Shown<T>>>,
}

/// The latest answer for each array, shared by every clone of an executor.
pub struct SharedShows<T = Vec<JobInfo>> {
    answers: Mutex<HashMap<u64, Answer<T>>>,
    /// How many calls were made (for tests and logs).
    calls: std::sync::atomic::AtomicU64,
}

impl<T> Default for SharedShows<T> {
    fn default() -> Self {
        SharedShows {
            answers: Mutex::default(),
            calls: std::sync::atomic::AtomicU64::default(),
        }
    }
}

impl<T> std::fmt::Debug for SharedShows<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedShows").finish_non_exhaustive()
    }
}

impl<T: Clone> SharedShows<T> {
    /// The answer for `array` asked less than `fresh` ago, or a new one from `show`.
    pub async fn get<F>(&self, array: u64, fresh: Duration, show: F) -> Shown<T>
    where
        F: Future<Output = Shown<T>>,
    {
        let cell = self.cell(array, fresh);
        cell.get_or_init(|| {
            self.calls
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            show
        })
        .await
        .clone()
    }

    /// Forgets `array`'s answer (one of its jobs changed).
    pub fn forget(&self, array: u64) {
        self.lock().remove(&array);
    }

    /// How many calls were made.
    pub fn calls(&self) -> u64 {
        self.calls.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The cell to read `array`'s answer from: the current one if fresh,
    /// else a new, empty one (answers older than a minute are pruned).
    fn cell(&self, array: u64, fresh: Duration) -> Arc<OnceCell<Shown<T>>> {
        let mut answers = self.lock();
        let now = Instant::now();
        if let Some(a) = answers.get(&array)
            && now.duration_since(a.asked) < fresh
        {
            return a.cell.clone();
        }
        answers.retain(|_, a| now.duration_since(a.asked) < Duration::from_secs(60));
        let cell = Arc::new(OnceCell::new());
        answers.insert(
            array,
            Answer {
                asked: now,
                cell: cell.clone(),
            },
        );
        cell
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Answer<T>>> {
        // A panic while holding the lock leaves a map of plain values: still usable.
        self.answers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waiters_within_the_window_share_one_call_and_a_forgotten_array_is_asked_again() {
        let shared: SharedShows = SharedShows::default();
        let fresh = Duration::from_secs(30);
        let (a, b) = tokio::join!(
            shared.get(7, fresh, async { Ok(Vec::new()) }),
            shared.get(7, fresh, async { Err("not called".into()) }),
        );
        assert_eq!((a, b), (Ok(Vec::new()), Ok(Vec::new())));
        assert_eq!(shared.calls(), 1);
        let other = shared.get(8, fresh, async { Err("down".into()) }).await;
        assert_eq!(other, Err("down".to_owned()));
        shared.forget(7);
        let again = shared.get(7, fresh, async { Err("asked".into()) }).await;
        assert_eq!(again, Err("asked".to_owned()));
        assert_eq!(shared.calls(), 3);
        let stale = shared
            .get(7, Duration::ZERO, async { Ok(Vec::new()) })
            .await;
        assert_eq!((stale, shared.calls()), (Ok(Vec::new()), 4));
    }
}
