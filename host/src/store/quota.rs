//! Group quotas: fuel per run and per day, granted before each execution and settled after it,
//! and the bytes a group stores (what it owns in the blob store).
//!
//! Fuel is reserved in the database before a stage starts (`quota_fuel`), in
//! one write transaction that first sums what the run and the group already
//! hold, so several daemons never grant the same fuel twice; after the
//! execution the reservation is settled to the fuel actually used. A stage is
//! given at most what is left, and a stage that runs out of *granted* fuel
//! fails as the quota's, not its own. Store bytes are counted from the sizes
//! of the blobs a group owns (a blob two groups own counts for each); an
//! execution may write at most what is left of them. See docs/security.md.

use serde::Deserialize;

use super::state::{StateError, StateStore};

/// A day, in milliseconds: the window of `fuel-per-day`.
const DAY_MS: i64 = 86_400_000;

/// What one research group may use (none: no limit of that kind).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct GroupQuota {
    /// Fuel one run may use in all, over every stage and attempt.
    pub fuel_per_run: Option<u64>,
    /// Fuel the group's stages may use in any 24 hours.
    pub fuel_per_day: Option<u64>,
    /// Bytes the group may store: uploads, run inputs and outputs, logs.
    pub store_bytes: Option<u64>,
    /// The largest single upload (blob or module) the group may make.
    pub upload_bytes: Option<u64>,
    /// Runs the group may have in progress at once; its further runs wait
    /// while other groups' go first (none: `max-runs-per-group`).
    pub concurrent_runs: Option<u32>,
}

impl GroupQuota {
    /// `self`, with every limit `over` sets replacing it.
    pub fn overridden_by(self, over: &GroupQuota) -> GroupQuota {
        GroupQuota {
            fuel_per_run: over.fuel_per_run.or(self.fuel_per_run),
            fuel_per_day: over.fuel_per_day.or(self.fuel_per_day),
            store_bytes: over.store_bytes.or(self.store_bytes),
            upload_bytes: over.upload_bytes.or(self.upload_bytes),
            concurrent_runs: over.concurrent_runs.or(self.concurrent_runs),
        }
    }
}

/// Which limit bound a grant, or ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaKind {
    FuelPerRun,
    FuelPerDay,
    StoreBytes,
}

impl std::fmt::Display for QuotaKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            QuotaKind::FuelPerRun => "fuel-per-run",
            QuotaKind::FuelPerDay => "fuel-per-day",
            QuotaKind::StoreBytes => "store-bytes",
        })
    }
}

/// A limit with nothing left: the execution is not started.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("group `{group}` has used its {kind} quota ({used} of {limit})")]
pub struct Exhausted {
    pub group: String,
    pub kind: QuotaKind,
    pub used: u64,
    pub limit: u64,
}

/// Fuel and output bytes one execution may use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    seq: i64,
    /// Fuel granted: the stage's budget, or less when a quota binds.
    pub fuel: u64,
    /// The fuel quota that cut the stage's budget, if one did.
    pub fuel_bound: Option<QuotaKind>,
    /// Bytes the execution's outputs may take together (`u64::MAX`: no limit).
    pub output_bytes: u64,
}

/// One run's quotas: its group's limits, held in the shared database.
#[derive(Debug, Clone)]
pub struct Quota {
    state: StateStore,
    group: String,
    run_id: String,
    limits: GroupQuota,
}

impl Quota {
    pub fn new(state: StateStore, group: &str, run_id: &str, limits: GroupQuota) -> Quota {
        Quota {
            state,
            group: group.to_owned(),
            run_id: run_id.to_owned(),
            limits,
        }
    }

    /// Reserves up to `fuel` for one execution at `now_ms`; `Ok(Err(_))`
    /// when a limit has nothing left.
    pub async fn grant(
        &self,
        fuel: u64,
        now_ms: i64,
    ) -> Result<Result<Grant, Exhausted>, StateError> {
        let output_bytes = match self.store_left().await? {
            Ok(left) => left,
            Err(e) => return Ok(Err(e)),
        };
        let mut tx = self.state.db().begin_exclusive("quota_fuel").await?;
        let (run_used,): (i64,) = sqlx::query_as(
            "SELECT CAST(COALESCE(SUM(fuel), 0) AS BIGINT) FROM quota_fuel WHERE run_id = $1",
        )
        .bind(&self.run_id)
        .fetch_one(&mut *tx)
        .await?;
        let (day_used,): (i64,) = sqlx::query_as(
            "SELECT CAST(COALESCE(SUM(fuel), 0) AS BIGINT) FROM quota_fuel WHERE grp = $1 AND at_ms > $2",
        )
        .bind(&self.group)
        .bind(now_ms - DAY_MS)
        .fetch_one(&mut *tx)
        .await?;
        let limits = [
            (QuotaKind::FuelPerRun, self.limits.fuel_per_run, run_used),
            (QuotaKind::FuelPerDay, self.limits.fuel_per_day, day_used),
        ];
        let (granted, fuel_bound) = match tightest(&self.group, fuel, &limits) {
            Ok(g) => g,
            Err(e) => return Ok(Err(e)),
        };
        let (seq,): (i64,) = sqlx::query_as(
            "INSERT INTO quota_fuel (grp, run_id, at_ms, fuel) VALUES ($1, $2, $3, $4) RETURNING seq",
        )
        .bind(&self.group)
        .bind(&self.run_id)
        .bind(now_ms)
        .bind(to_i64(granted))
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Ok(Grant {
            seq,
            fuel: granted,
            fuel_bound,
            output_bytes,
        }))
    }

    /// Settles `grant` to the fuel the execution used.
    pub async fn settle(&self, grant: &Grant, used: u64) -> Result<(), StateError> {
        sqlx::query("UPDATE quota_fuel SET fuel = $2 WHERE seq = $1")
            .bind(grant.seq)
            .bind(to_i64(used.min(grant.fuel)))
            .execute(self.state.pool())
            .await?;
        Ok(())
    }

    /// Bytes the group may still store (`u64::MAX`: no limit).
    async fn store_left(&self) -> Result<Result<u64, Exhausted>, StateError> {
        let Some(limit) = self.limits.store_bytes else {
            return Ok(Ok(u64::MAX));
        };
        let used = stored_bytes(&self.state, &self.group).await?;
        Ok(match limit.checked_sub(used).filter(|left| *left > 0) {
            Some(left) => Ok(left),
            None => Err(Exhausted {
                group: self.group.clone(),
                kind: QuotaKind::StoreBytes,
                used,
                limit,
            }),
        })
    }
}

/// The most of `wanted` every limit allows, and the limit that cut it.
fn tightest(
    group: &str,
    wanted: u64,
    limits: &[(QuotaKind, Option<u64>, i64)],
) -> Result<(u64, Option<QuotaKind>), Exhausted> {
    let mut granted = (wanted, None);
    for &(kind, limit, used) in limits {
        let Some(limit) = limit else { continue };
        let used = u64::try_from(used).unwrap_or(0);
        let left = limit.saturating_sub(used);
        if left == 0 {
            return Err(Exhausted {
                group: group.to_owned(),
                kind,
                used,
                limit,
            });
        }
        if left < granted.0 {
            granted = (left, Some(kind));
        }
    }
    Ok(granted)
}

/// The bytes `group` stores: the sizes of the blobs it owns.
pub async fn stored_bytes(state: &StateStore, group: &str) -> Result<u64, StateError> {
    let (used,): (i64,) = sqlx::query_as(
        "SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM api_blob_owners WHERE grp = $1",
    )
    .bind(group)
    .fetch_one(state.pool())
    .await?;
    Ok(u64::try_from(used).unwrap_or(0))
}

/// Fuel `group`'s stages were granted or used in the 24 hours before `now_ms`.
pub async fn fuel_today(state: &StateStore, group: &str, now_ms: i64) -> Result<u64, StateError> {
    let (used,): (i64,) = sqlx::query_as(
        "SELECT CAST(COALESCE(SUM(fuel), 0) AS BIGINT) FROM quota_fuel WHERE grp = $1 AND at_ms > $2",
    )
    .bind(group)
    .bind(now_ms - DAY_MS)
    .fetch_one(state.pool())
    .await?;
    Ok(u64::try_from(used).unwrap_or(0))
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tightest_limit_cuts_the_grant_and_an_empty_one_refuses() {
        let limits = [
            (QuotaKind::FuelPerRun, Some(100), 30),
            (QuotaKind::FuelPerDay, Some(1_000), 950),
        ];
        assert_eq!(
            tightest("a", 500, &limits),
            Ok((50, Some(QuotaKind::FuelPerDay)))
        );
        assert_eq!(tightest("a", 10, &limits), Ok((10, None)));
        let spent = [(QuotaKind::FuelPerRun, Some(100), 100)];
        let e = tightest("a", 10, &spent).unwrap_err();
        assert_eq!(e.kind, QuotaKind::FuelPerRun);
        assert_eq!(
            e.to_string(),
            "group `a` has used its fuel-per-run quota (100 of 100)"
        );
        assert_eq!(
            tightest("a", 7, &[(QuotaKind::FuelPerDay, None, 9)]),
            Ok((7, None))
        );
    }

    #[test]
    fn a_group_override_replaces_only_what_it_sets() {
        let all = GroupQuota {
            fuel_per_day: Some(10),
            store_bytes: Some(20),
            ..GroupQuota::default()
        };
        let over = GroupQuota {
            store_bytes: Some(5),
            ..GroupQuota::default()
        };
        let q = all.overridden_by(&over);
        assert_eq!((q.fuel_per_day, q.store_bytes), (Some(10), Some(5)));
    }
}
