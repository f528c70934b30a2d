//! Durable run state (SQLite or PostgreSQL, see `db`): the stage cache, each run's progress, the
//! record index and fuel history.
//!
//! The stage cache maps a cache key (module digest, canonical params digest,
//! ordered input digests, engine profile) to the stage record that
//! produced the outputs. A key is written only after the outputs and the
//! record are durable, so a run killed at any moment leaves either a complete
//! entry or none; running again resumes from the completed stages.

use std::collections::HashSet;
use std::path::Path;

use petri_schedule::{Observation, Span};

use super::db::Database;
use super::lease::{self, Fence};

/// Keys bound in one `IN (…)` query: well under SQLite's 32,766 and
/// PostgreSQL's 65,535 parameters.
const KEYS_PER_QUERY: usize = 500;

/// Errors of the state database.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("state database: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("database URL `{0}`: expected postgres://… or sqlite:PATH")]
    Url(String),
    /// A commit for a run whose claim another daemon has since taken over
    /// (or that was cancelled and re-claimed): refused, nothing written.
    #[error("run {run}: lease lost (fencing token {held}, now {current:?}); nothing committed")]
    LeaseLost {
        run: String,
        held: i64,
        current: Option<i64>,
    },
}

/// What one stage execution commits: its record's seal and, when its
/// outputs may be reused, the stage-cache entry naming the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageRows {
    pub record_id: String,
    /// SHA-256 of the record's bytes (hex).
    pub seal: String,
    /// The cache key (hex) of a successful execution.
    pub cache_key: Option<String>,
}

/// The state database of one data dir.
#[derive(Debug, Clone)]
pub struct StateStore {
    db: Database,
}

impl StateStore {
    /// Opens the SQLite database at `path` (the embedded default).
    pub async fn open(path: &Path) -> Result<StateStore, StateError> {
        Ok(StateStore {
            db: Database::open_sqlite(path).await?,
        })
    }

    /// Opens `url`: `postgres://…` (shared by several daemons) or `sqlite:PATH`.
    pub async fn open_url(url: &str) -> Result<StateStore, StateError> {
        Ok(StateStore {
            db: Database::open(url).await?,
        })
    }

    /// Creates the PostgreSQL database at `url` as migration `version` left
    /// it, for a test of a later migration against older rows (opening it
    /// with [`StateStore::open_url`] then applies the rest).
    pub async fn create_postgres_at(url: &str, version: i64) -> Result<(), StateError> {
        Database::open_postgres_at(url, version)
            .await?
            .pool()
            .close()
            .await;
        Ok(())
    }

    /// `database` if given, else the SQLite file of the data dir at `data_dir`
    /// (created as needed).
    pub async fn open_in(
        data_dir: &Path,
        database: Option<&str>,
    ) -> Result<StateStore, StateError> {
        match database {
            Some(url) => StateStore::open_url(url).await,
            None => {
                std::fs::create_dir_all(data_dir).map_err(sqlx::Error::Io)?;
                StateStore::open(&super::data_dir::DataDir::new(data_dir).state_db()).await
            }
        }
    }

    /// The database, for the daemon's own tables (`store::daemon`).
    pub(crate) fn db(&self) -> &Database {
        &self.db
    }

    /// Now by the database's clock, in ms since the epoch: what leases are
    /// measured in ([`Database::now_ms`]).
    pub async fn now_ms(&self) -> Result<i64, StateError> {
        self.db.now_ms().await
    }

    /// The batch jobs runs submitted (`slurm_jobs`).
    pub fn jobs(&self) -> super::jobs::Jobs {
        super::jobs::Jobs::new(self.clone())
    }

    /// The webhook triggers' deliveries (`trigger_deliveries`).
    pub fn deliveries(&self) -> super::triggers::Deliveries {
        super::triggers::Deliveries::new(self.clone())
    }

    /// Notification subscriptions and their outbox (`notification_*`).
    pub fn notifications(&self) -> super::notifications::Notifications {
        super::notifications::Notifications::new(self.clone())
    }

    /// The connection pool.
    pub(crate) fn pool(&self) -> &sqlx::AnyPool {
        self.db.pool()
    }

    /// The fuel history an older data dir saved whole (JSON), if any: the
    /// starting point [`StateStore::fuel_observations`] are replayed onto.
    pub async fn fuel_model(&self) -> Result<Option<String>, StateError> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT CAST(model AS TEXT) FROM fuel_model WHERE id = 1")
                .fetch_optional(self.pool())
                .await?;
        Ok(row.map(|r| r.0))
    }

    /// Appends observations to the shared fuel history (one transaction).
    pub async fn add_fuel_observations(
        &self,
        observations: &[Observation],
    ) -> Result<(), StateError> {
        if observations.is_empty() {
            return Ok(());
        }
        let mut tx = self.db.begin_write().await?;
        for o in observations {
            sqlx::query(
                "INSERT INTO fuel_observations (module, fuel, elapsed_ms) VALUES ($1, $2, $3)",
            )
            .bind(&o.module)
            .bind(i64::try_from(o.fuel).unwrap_or(i64::MAX))
            .bind(o.elapsed.map(|e| e.0))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The latest `limit` observations of every process sharing this
    /// database, oldest first.
    pub async fn fuel_observations(&self, limit: i64) -> Result<Vec<Observation>, StateError> {
        let rows: Vec<(String, i64, Option<i64>)> = sqlx::query_as(
            "SELECT module, fuel, elapsed_ms FROM
               (SELECT seq, module, fuel, elapsed_ms FROM fuel_observations
                ORDER BY seq DESC LIMIT $1) latest
             ORDER BY seq",
        )
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(module, fuel, elapsed)| Observation {
                module,
                fuel: u64::try_from(fuel).unwrap_or(0),
                elapsed: elapsed.map(Span),
            })
            .collect())
    }

    /// The stage record that produced the outputs for `key`, if any.
    pub async fn cached(&self, key: &str) -> Result<Option<String>, StateError> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT record_id FROM stage_cache WHERE cache_key = $1")
                .bind(key)
                .fetch_optional(self.pool())
                .await?;
        Ok(row.map(|r| r.0))
    }

    /// Which of `keys` have a stage-cache entry: one query per
    /// [`KEYS_PER_QUERY`] keys, so a sweep asks once, not once per stage.
    pub async fn cached_among(&self, keys: &[String]) -> Result<HashSet<String>, StateError> {
        let mut found = HashSet::new();
        for chunk in keys.chunks(KEYS_PER_QUERY) {
            let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT cache_key FROM stage_cache WHERE cache_key IN ({})",
                marks.join(", ")
            );
            // Only `$N` placeholders are spliced in; every key is bound.
            let mut query = sqlx::query_as::<_, (String,)>(sqlx::AssertSqlSafe(sql));
            for key in chunk {
                query = query.bind(key);
            }
            found.extend(query.fetch_all(self.pool()).await?.into_iter().map(|r| r.0));
        }
        Ok(found)
    }

    /// Remembers that `record_id` (whose file hashes to `seal`) produced the
    /// outputs for `key` (called once the outputs and the record are durable);
    /// one transaction.
    pub async fn remember(
        &self,
        key: &str,
        record_id: &str,
        seal: &str,
        fence: Option<&Fence>,
    ) -> Result<(), StateError> {
        let rows = StageRows {
            record_id: record_id.to_owned(),
            seal: seal.to_owned(),
            cache_key: Some(key.to_owned()),
        };
        self.commit_stages(std::slice::from_ref(&rows), fence).await
    }

    /// Seals every record in `rows` and remembers each cache entry, in one
    /// transaction (a group commit: called once the records and outputs they
    /// name are durable).
    pub async fn commit_stages(
        &self,
        rows: &[StageRows],
        fence: Option<&Fence>,
    ) -> Result<(), StateError> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut tx = self.db.begin_write().await?;
        lease::check(&mut tx, self.db.backend(), fence).await?;
        let entries = rows
            .iter()
            .filter_map(|r| Some((r.cache_key.as_deref()?, &*r.record_id)));
        upsert_pairs(&mut tx, STAGE_CACHE, entries).await?;
        let seals = rows.iter().map(|r| (&*r.record_id, &*r.seal));
        upsert_pairs(&mut tx, RECORD_SEALS, seals).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Keeps the SHA-256 a record file had when it was written.
    pub async fn seal(&self, record_id: &str, seal: &str) -> Result<(), StateError> {
        let mut tx = self.db.begin_write().await?;
        seal_in(&mut tx, record_id, seal).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The SHA-256 the record file `record_id` had when it was written.
    pub async fn seal_of(&self, record_id: &str) -> Result<Option<String>, StateError> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT sha256 FROM record_seals WHERE record_id = $1")
                .bind(record_id)
                .fetch_optional(self.pool())
                .await?;
        Ok(row.map(|r| r.0))
    }

    /// Records whose id starts with `prefix`, with their seals (at most 20).
    pub async fn records_like(&self, prefix: &str) -> Result<Vec<(String, String)>, StateError> {
        // Ids are UUIDs: anything else (LIKE's `%` and `_` among it) matches nothing.
        if prefix.is_empty()
            || !prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Ok(Vec::new());
        }
        Ok(sqlx::query_as(
            "SELECT record_id, sha256 FROM record_seals WHERE record_id LIKE $1
             ORDER BY record_id LIMIT 20",
        )
        .bind(format!("{prefix}%"))
        .fetch_all(self.pool())
        .await?)
    }

    /// The stage records the stage cache names, with their seals, newest
    /// first (ids are UUIDv7s): up to `limit` of them older than `before`
    /// (an id; empty for the newest).
    pub async fn cached_records(
        &self,
        before: &str,
        limit: i64,
    ) -> Result<Vec<(String, String)>, StateError> {
        Ok(sqlx::query_as(
            "SELECT DISTINCT c.record_id, s.sha256 FROM stage_cache c
             JOIN record_seals s ON s.record_id = c.record_id
             WHERE $1 = '' OR c.record_id < $1
             ORDER BY c.record_id DESC LIMIT $2",
        )
        .bind(before)
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    /// Forgets a cache entry whose outputs are gone.
    pub async fn forget(&self, key: &str) -> Result<(), StateError> {
        sqlx::query("DELETE FROM stage_cache WHERE cache_key = $1")
            .bind(key)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// An unfinished run with the same run key, to resume under its id.
    pub async fn unfinished_run(&self, run_key: &str) -> Result<Option<String>, StateError> {
        let row: Option<(String,)> = sqlx::query_as(
            "SELECT run_id FROM runs WHERE run_key = $1 AND status = 'running' ORDER BY started_at DESC LIMIT 1",
        )
        .bind(run_key)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|r| r.0))
    }

    pub async fn start_run(
        &self,
        run_id: &str,
        run_key: &str,
        pipeline: &str,
        now: &str,
    ) -> Result<(), StateError> {
        sqlx::query(self.db.sql(
            "INSERT INTO runs (run_id, run_key, pipeline, status, started_at)
             VALUES ($1, $2, $3, 'running', $4::timestamptz)
             ON CONFLICT (run_id) DO NOTHING",
        ))
        .bind(run_id)
        .bind(run_key)
        .bind(pipeline)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Marks a run finished and seals its record (one transaction).
    pub async fn finish_run(
        &self,
        run_id: &str,
        status: &str,
        now: &str,
        seal: &str,
        fence: Option<&Fence>,
    ) -> Result<(), StateError> {
        let mut tx = self.db.begin_write().await?;
        lease::check(&mut tx, self.db.backend(), fence).await?;
        sqlx::query(
            self.db.sql(
                "UPDATE runs SET status = $1, finished_at = $2::timestamptz WHERE run_id = $3",
            ),
        )
        .bind(status)
        .bind(now)
        .bind(run_id)
        .execute(&mut *tx)
        .await?;
        seal_in(&mut tx, run_id, seal).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// A two-column table whose first column is its key.
struct Pairs {
    table: &'static str,
    key: &'static str,
    value: &'static str,
}

const STAGE_CACHE: Pairs = Pairs {
    table: "stage_cache",
    key: "cache_key",
    value: "record_id",
};

const RECORD_SEALS: Pairs = Pairs {
    table: "record_seals",
    key: "record_id",
    value: "sha256",
};

/// (key, value) rows bound in one `INSERT`: two parameters each.
const ROWS_PER_INSERT: usize = 250;

/// Inserts or updates (key, value) rows of `into`, one statement per
/// [`ROWS_PER_INSERT`] rows (a group commit of a thousand stages is a few
/// statements, not two thousand). A key given twice keeps its last value, as
/// one upsert after another would (PostgreSQL refuses to update a row twice
/// in one statement).
async fn upsert_pairs<'a>(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    into: Pairs,
    rows: impl DoubleEndedIterator<Item = (&'a str, &'a str)>,
) -> Result<(), StateError> {
    let mut seen = HashSet::new();
    let mut last: Vec<(&str, &str)> = rows.rev().filter(|(k, _)| seen.insert(*k)).collect();
    last.reverse();
    for chunk in last.chunks(ROWS_PER_INSERT) {
        let values: Vec<String> = (0..chunk.len())
            .map(|i| format!("(${}, ${})", 2 * i + 1, 2 * i + 2))
            .collect();
        let sql = format!(
            "INSERT INTO {table} ({key}, {value}) VALUES {values}
             ON CONFLICT ({key}) DO UPDATE SET {value} = excluded.{value}",
            table = into.table,
            key = into.key,
            value = into.value,
            values = values.join(", "),
        );
        // Only the static names above and `$N` placeholders are spliced in.
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (key, value) in chunk {
            query = query.bind(*key).bind(*value);
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

async fn seal_in(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    record_id: &str,
    seal: &str,
) -> Result<(), StateError> {
    sqlx::query(
        "INSERT INTO record_seals (record_id, sha256) VALUES ($1, $2)
         ON CONFLICT (record_id) DO UPDATE SET sha256 = excluded.sha256",
    )
    .bind(record_id)
    .bind(seal)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
