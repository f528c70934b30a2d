//! Instrument places held across daemons: a stage takes one of its instrument's places in the
//! database before it runs, so daemons sharing a database never run more stages on an
//! instrument than its capacity.
//!
//! A place is a row `(instrument, slot)` with `slot < capacity`: the primary
//! key, not a count, bounds how many stages hold the instrument. Stages that
//! find it full wait in `slot_waiters`; a free place goes to the most urgent
//! waiter (run priority), then the longest waiting, whichever daemon it is on.
//! Places and waits carry the run's fencing token and a lease: the heartbeat
//! renews them with the run's. A place whose lease ran out is taken only
//! once its run has been re-claimed (a new token) or has ended: a daemon
//! whose heartbeat is late under load still holds its places (the
//! three-daemon chaos test saw three stages on a two-place instrument
//! before), and a dead daemon's are freed when its runs are rescued.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::lease::{self, Fence};
use super::state::{StateError, StateStore};

/// How often a waiting stage asks again.
const POLL: Duration = Duration::from_millis(200);

/// The places of one run: its claim, priority and the capacities of the
/// shared instruments.
#[derive(Debug, Clone)]
pub struct Places {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    state: StateStore,
    fence: Fence,
    rank: i64,
    capacity: HashMap<String, u32>,
    lease: Duration,
}

/// A place held by one stage; given back when dropped (a preempted or
/// aborted stage gives it back too).
#[derive(Debug)]
pub struct Place {
    places: Places,
    instrument: String,
    slot: i64,
}

impl Places {
    /// `capacity`: the shared instruments (by name); stages on any other
    /// instrument (this machine's `compute`) take no place.
    pub fn new(
        state: StateStore,
        fence: Fence,
        rank: i64,
        capacity: HashMap<String, u32>,
        lease: Duration,
    ) -> Places {
        let inner = Inner {
            state,
            fence,
            rank,
            capacity,
            lease,
        };
        Places {
            inner: Arc::new(inner),
        }
    }

    /// Waits for a place on `instrument` for `task`; `None` if the
    /// instrument is not shared.
    pub async fn take(&self, instrument: &str, task: &str) -> Result<Option<Place>, StateError> {
        let Some(&capacity) = self.inner.capacity.get(instrument) else {
            return Ok(None);
        };
        let since = self.inner.state.db().now_ms().await?;
        loop {
            match self.try_take(instrument, task, capacity, since).await {
                Ok(Some(slot)) => {
                    return Ok(Some(Place {
                        places: self.clone(),
                        instrument: instrument.to_owned(),
                        slot,
                    }));
                }
                Ok(None) => {}
                // Another daemon took the same place first: ask again.
                Err(StateError::Sql(sqlx::Error::Database(e))) if e.is_unique_violation() => {}
                Err(e) => return Err(e),
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// One attempt, in one write transaction: drop lapsed places and waits,
    /// queue as a waiter, and take the lowest free place if no more urgent
    /// or older waiter is ahead.
    async fn try_take(
        &self,
        instrument: &str,
        task: &str,
        capacity: u32,
        since: i64,
    ) -> Result<Option<i64>, StateError> {
        let Inner {
            state, fence, rank, ..
        } = &*self.inner;
        let db = state.db();
        let now = db.now_ms().await?;
        let until = now + lease_ms(self.inner.lease);
        let mut tx = db.begin_write().await?;
        lease::check(&mut tx, db.backend(), Some(fence)).await?;
        for sql in [
            // A place lapses only once its claim is gone (the run re-claimed
            // under another token, or ended): a holder whose heartbeat is
            // merely late still runs its stage on the instrument.
            "DELETE FROM instrument_slots WHERE instrument = $1 AND lease_until < $2
             AND NOT EXISTS (SELECT 1 FROM api_runs r WHERE r.id = instrument_slots.run_id
                 AND r.fence = instrument_slots.fence AND r.status IN ('VALIDATING', 'RUNNING'))",
            "DELETE FROM slot_waiters WHERE instrument = $1 AND lease_until < $2",
        ] {
            sqlx::query(sql)
                .bind(instrument)
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(
            "INSERT INTO slot_waiters (instrument, run_id, task, rank, since, lease_until)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (instrument, run_id, task) DO UPDATE SET lease_until = excluded.lease_until",
        )
        .bind(instrument)
        .bind(&fence.run_id)
        .bind(task)
        .bind(rank)
        .bind(since)
        .bind(until)
        .execute(&mut *tx)
        .await?;
        let (ahead,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM slot_waiters WHERE instrument = $1
               AND (rank > $2 OR (rank = $2 AND since < $3))",
        )
        .bind(instrument)
        .bind(rank)
        .bind(since)
        .fetch_one(&mut *tx)
        .await?;
        let held: Vec<(i64,)> =
            sqlx::query_as("SELECT slot FROM instrument_slots WHERE instrument = $1")
                .bind(instrument)
                .fetch_all(&mut *tx)
                .await?;
        let free = (0..i64::from(capacity)).find(|s| !held.iter().any(|(h,)| h == s));
        let slot = match free {
            Some(slot) if held.len() as i64 + ahead < i64::from(capacity) => slot,
            _ => {
                tx.commit().await?;
                return Ok(None);
            }
        };
        sqlx::query(
            "INSERT INTO instrument_slots (instrument, slot, run_id, task, fence, rank, lease_until)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(instrument)
        .bind(slot)
        .bind(&fence.run_id)
        .bind(task)
        .bind(fence.token)
        .bind(rank)
        .bind(until)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM slot_waiters WHERE instrument = $1 AND run_id = $2 AND task = $3")
            .bind(instrument)
            .bind(&fence.run_id)
            .bind(task)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(slot))
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        let (places, instrument, slot) = (self.places.clone(), self.instrument.clone(), self.slot);
        // Dropped on the runtime (a stage's end, or its abort); without one
        // (shutdown), the place lapses with its lease.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move { release(&places.inner, &instrument, slot).await });
        }
    }
}

async fn release(inner: &Inner, instrument: &str, slot: i64) {
    let _ = sqlx::query(
        "DELETE FROM instrument_slots WHERE instrument = $1 AND slot = $2 AND run_id = $3 AND fence = $4",
    )
    .bind(instrument)
    .bind(slot)
    .bind(&inner.fence.run_id)
    .bind(inner.fence.token)
    .execute(inner.state.pool())
    .await;
}

/// Renews the places `fence` holds (with its run's lease).
pub(crate) async fn renew(
    state: &StateStore,
    fence: &Fence,
    lease_until_ms: i64,
) -> Result<(), StateError> {
    sqlx::query("UPDATE instrument_slots SET lease_until = $1 WHERE run_id = $2 AND fence = $3")
        .bind(lease_until_ms)
        .bind(&fence.run_id)
        .bind(fence.token)
        .execute(state.pool())
        .await?;
    Ok(())
}

fn lease_ms(lease: Duration) -> i64 {
    i64::try_from(lease.as_millis()).unwrap_or(i64::MAX)
}
