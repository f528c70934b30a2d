//! Leases and fencing tokens: which daemon owns a run now, and the proof it still does.
//!
//! A daemon claims a run with a lease (`owner`, `lease_until`) and a fencing
//! token: a number from one counter, larger at every claim. Every commit the
//! run's executor makes (stage status, event, stage cache entry, outcome)
//! first reads the run's token inside the committing transaction — locking
//! the row on PostgreSQL, under the write lock on SQLite — and is refused
//! with [`StateError::LeaseLost`] unless it is still the executor's. A daemon
//! paused past its lease therefore commits nothing once another has claimed
//! the run. See docs/scale-out.md.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::{Any, Transaction};

use super::db::Backend;
use super::state::StateError;

/// The default lease: a run whose owner has not renewed it for this long is
/// taken over by another daemon.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);

/// A claim on a run: its id and the fencing token of the claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    pub run_id: String,
    pub token: i64,
}

/// Milliseconds since the Unix epoch, the unit of `lease_until`.
pub fn epoch_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Checks, inside `tx`, that `fence` still holds its run (none: an unfenced
/// write, e.g. a user's cancel). The row is locked until `tx` ends, so no
/// claim can slip between the check and the commit.
pub(crate) async fn check(
    tx: &mut Transaction<'static, Any>,
    backend: Backend,
    fence: Option<&Fence>,
) -> Result<(), StateError> {
    let Some(fence) = fence else {
        return Ok(());
    };
    let sql = match backend {
        Backend::Postgres => "SELECT fence FROM api_runs WHERE id = $1 FOR UPDATE",
        Backend::Sqlite => "SELECT fence FROM api_runs WHERE id = $1",
    };
    let row: Option<(i64,)> = sqlx::query_as(sql)
        .bind(&fence.run_id)
        .fetch_optional(&mut **tx)
        .await?;
    match row {
        Some((token,)) if token == fence.token => Ok(()),
        other => Err(StateError::LeaseLost {
            run: fence.run_id.clone(),
            held: fence.token,
            current: other.map(|r| r.0),
        }),
    }
}

/// Takes the next fencing token (one counter for the whole database): a
/// sequence on PostgreSQL, which holds no lock (a daemon stalled inside a
/// claim blocks no other); a row under the write lock on SQLite.
pub(crate) async fn next_token(
    tx: &mut Transaction<'static, Any>,
    backend: Backend,
) -> Result<i64, StateError> {
    let sql = match backend {
        Backend::Postgres => "SELECT nextval('fence_tokens')",
        Backend::Sqlite => "UPDATE fences SET next = next + 1 WHERE id = 1 RETURNING next",
    };
    let (token,): (i64,) = sqlx::query_as(sql).fetch_one(&mut **tx).await?;
    Ok(token)
}
