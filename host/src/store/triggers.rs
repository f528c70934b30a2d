//! Deliveries of webhook triggers (`trigger_deliveries`): which signed bodies a trigger has
//! received and the run each one started, so a replayed delivery starts nothing new.
//!
//! A delivery is keyed by (trigger, SHA-256 of its body). It is taken before
//! its run is submitted — an insert that only the first of two identical
//! deliveries wins — and then given its run id; a delivery whose run was
//! refused is forgotten, so nothing half-done blocks a corrected resend.

use super::state::{StateError, StateStore};

/// What a trigger already knows of a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Not seen before: it is now taken, for this caller to submit.
    New,
    /// Seen, and its run is this one.
    Started { run_id: String },
    /// Seen, and its run is being submitted by another request right now.
    InFlight,
}

/// The deliveries table of a state database.
#[derive(Debug, Clone)]
pub struct Deliveries {
    state: StateStore,
}

impl Deliveries {
    pub fn new(state: StateStore) -> Deliveries {
        Deliveries { state }
    }

    /// Takes the delivery of `body_sha256` to `trigger` at `now` (RFC 3339),
    /// unless it was taken before.
    pub async fn take(
        &self,
        trigger: &str,
        body_sha256: &str,
        now: &str,
    ) -> Result<Delivery, StateError> {
        let inserted = sqlx::query(self.state.db().sql(
            "INSERT INTO trigger_deliveries (trigger_name, body_sha256, run_id, received_at)
             VALUES ($1, $2, NULL, $3::timestamptz) ON CONFLICT (trigger_name, body_sha256) DO NOTHING",
        ))
        .bind(trigger)
        .bind(body_sha256)
        .bind(now)
        .execute(self.state.pool())
        .await?
        .rows_affected();
        if inserted == 1 {
            return Ok(Delivery::New);
        }
        let row: Option<(Option<String>,)> = sqlx::query_as(
            "SELECT run_id FROM trigger_deliveries WHERE trigger_name = $1 AND body_sha256 = $2",
        )
        .bind(trigger)
        .bind(body_sha256)
        .fetch_optional(self.state.pool())
        .await?;
        Ok(match row {
            Some((Some(run_id),)) => Delivery::Started { run_id },
            // Taken and not yet given a run, or forgotten in between.
            _ => Delivery::InFlight,
        })
    }

    /// Records that the taken delivery started `run_id`.
    pub async fn started(
        &self,
        trigger: &str,
        body_sha256: &str,
        run_id: &str,
    ) -> Result<(), StateError> {
        sqlx::query(
            "UPDATE trigger_deliveries SET run_id = $3 WHERE trigger_name = $1 AND body_sha256 = $2",
        )
        .bind(trigger)
        .bind(body_sha256)
        .bind(run_id)
        .execute(self.state.pool())
        .await?;
        Ok(())
    }

    /// The delivery that started run `run_id`: its trigger (`watch:NAME`
    /// for a watched folder) and when it was received (RFC 3339).
    pub async fn of_run(&self, run_id: &str) -> Result<Option<(String, String)>, StateError> {
        Ok(sqlx::query_as(self.state.db().sql(
            "SELECT trigger_name, rfc3339_micros(received_at) FROM trigger_deliveries
             WHERE run_id = $1 LIMIT 1",
        ))
        .bind(run_id)
        .fetch_optional(self.state.pool())
        .await?)
    }

    /// Forgets a taken delivery whose run was refused.
    pub async fn forget(&self, trigger: &str, body_sha256: &str) -> Result<(), StateError> {
        sqlx::query(
            "DELETE FROM trigger_deliveries
             WHERE trigger_name = $1 AND body_sha256 = $2 AND run_id IS NULL",
        )
        .bind(trigger)
        .bind(body_sha256)
        .execute(self.state.pool())
        .await?;
        Ok(())
    }
}
