//! Durable run state in SQLite (WAL, synchronous=FULL): the stage cache and each run's progress.
//!
//! The stage cache maps a cache key (module digest, canonical params digest,
//! ordered input digests, engine profile) to the stage record that
//! produced the outputs. A key is written only after the outputs and the
//! record are durable, so a run killed at any moment leaves either a complete
//! entry or none; running again resumes from the completed stages. SQL is kept
//! portable so a PostgreSQL backend can share this interface.

use std::path::Path;
use std::str::FromStr;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqliteSynchronous};

/// Errors of the state database.
#[derive(Debug, thiserror::Error)]
#[error("state database: {0}")]
pub struct StateError(#[from] sqlx::Error);

const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS stage_cache (
        cache_key TEXT PRIMARY KEY,
        record_id TEXT NOT NULL
    )",
    "CREATE TABLE IF NOT EXISTS runs (
        run_id TEXT PRIMARY KEY,
        run_key TEXT NOT NULL,
        pipeline TEXT NOT NULL,
        status TEXT NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT
    )",
    "CREATE INDEX IF NOT EXISTS runs_by_key ON runs (run_key, status)",
    // The SHA-256 of each record file as written: a record is checked
    // against it before it is reused or served.
    "CREATE TABLE IF NOT EXISTS record_seals (
        record_id TEXT PRIMARY KEY,
        sha256 TEXT NOT NULL
    )",
    "CREATE TABLE IF NOT EXISTS fuel_model (
        id INTEGER PRIMARY KEY,
        model TEXT NOT NULL
    )",
];

/// The state database of one data dir.
#[derive(Debug, Clone)]
pub struct StateStore {
    pool: SqlitePool,
}

impl StateStore {
    pub async fn open(path: &Path) -> Result<StateStore, StateError> {
        let options = SqliteConnectOptions::from_str("sqlite:")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(std::time::Duration::from_secs(30));
        let pool = SqlitePool::connect_with(options).await?;
        for stmt in SCHEMA {
            sqlx::query(*stmt).execute(&pool).await?;
        }
        Ok(StateStore { pool })
    }

    /// The connection pool, for the daemon's own tables (`server::store`).
    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// The scheduler's fuel history (JSON), saved by the last run to end.
    pub async fn fuel_model(&self) -> Result<Option<String>, StateError> {
        let row: Option<(String,)> = sqlx::query_as("SELECT model FROM fuel_model WHERE id = 1")
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.0))
    }

    /// Replaces the saved fuel history.
    pub async fn save_fuel_model(&self, model: &str) -> Result<(), StateError> {
        sqlx::query(
            "INSERT INTO fuel_model (id, model) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET model = $1",
        )
        .bind(model)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The stage record that produced the outputs for `key`, if any.
    pub async fn cached(&self, key: &str) -> Result<Option<String>, StateError> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT record_id FROM stage_cache WHERE cache_key = $1")
                .bind(key)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|r| r.0))
    }

    /// Remembers that `record_id` (whose file hashes to `seal`) produced the
    /// outputs for `key` (called once the outputs and the record are durable);
    /// one transaction.
    pub async fn remember(&self, key: &str, record_id: &str, seal: &str) -> Result<(), StateError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO stage_cache (cache_key, record_id) VALUES ($1, $2)
             ON CONFLICT (cache_key) DO UPDATE SET record_id = excluded.record_id",
        )
        .bind(key)
        .bind(record_id)
        .execute(&mut *tx)
        .await?;
        seal_in(&mut tx, record_id, seal).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Keeps the SHA-256 a record file had when it was written.
    pub async fn seal(&self, record_id: &str, seal: &str) -> Result<(), StateError> {
        let mut tx = self.pool.begin().await?;
        seal_in(&mut tx, record_id, seal).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The SHA-256 the record file `record_id` had when it was written.
    pub async fn seal_of(&self, record_id: &str) -> Result<Option<String>, StateError> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT sha256 FROM record_seals WHERE record_id = $1")
                .bind(record_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|r| r.0))
    }

    /// Forgets a cache entry whose outputs are gone.
    pub async fn forget(&self, key: &str) -> Result<(), StateError> {
        sqlx::query("DELETE FROM stage_cache WHERE cache_key = $1")
            .bind(key)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// An unfinished run with the same run key, to resume under its id.
    pub async fn unfinished_run(&self, run_key: &str) -> Result<Option<String>, StateError> {
        let row: Option<(String,)> = sqlx::query_as(
            "SELECT run_id FROM runs WHERE run_key = $1 AND status = 'running' ORDER BY started_at DESC LIMIT 1",
        )
        .bind(run_key)
        .fetch_optional(&self.pool)
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
        sqlx::query(
            "INSERT INTO runs (run_id, run_key, pipeline, status, started_at) VALUES ($1, $2, $3, 'running', $4)
             ON CONFLICT (run_id) DO NOTHING",
        )
        .bind(run_id)
        .bind(run_key)
        .bind(pipeline)
        .bind(now)
        .execute(&self.pool)
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
    ) -> Result<(), StateError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE runs SET status = $1, finished_at = $2 WHERE run_id = $3")
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

async fn seal_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
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
