//! The daemon's durable state: API tokens, submitted runs, their per-stage status and events,
//! uploaded modules and which research group may see which blob.
//!
//! It lives in the same SQLite database (WAL, synchronous=FULL) as the
//! pipeline runner's [`StateStore`], so a row written here is on disk before
//! the daemon acknowledges it. The SQL is portable (`$n` placeholders,
//! `RETURNING`, no SQLite-only types) so a PostgreSQL backend shared by several
//! daemons can implement the same methods without changing their callers.

use crate::schedule::Instrument;
use crate::state::{StateError, StateStore};

const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS api_tokens (
        token_sha256 TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        grp TEXT NOT NULL,
        admin INTEGER NOT NULL,
        created_at TEXT NOT NULL
    )",
    "CREATE TABLE IF NOT EXISTS api_runs (
        id TEXT PRIMARY KEY,
        grp TEXT NOT NULL,
        status TEXT NOT NULL,
        pipeline TEXT NOT NULL,
        description TEXT NOT NULL,
        priority TEXT NOT NULL,
        rank INTEGER NOT NULL,
        request TEXT NOT NULL,
        submitted_at TEXT NOT NULL,
        started_at TEXT,
        finished_at TEXT,
        record_id TEXT,
        root TEXT,
        error TEXT,
        recoveries INTEGER NOT NULL DEFAULT 0
    )",
    "CREATE INDEX IF NOT EXISTS api_runs_queue ON api_runs (status, rank, id)",
    "CREATE INDEX IF NOT EXISTS api_runs_by_group ON api_runs (grp, id)",
    "CREATE TABLE IF NOT EXISTS api_run_stages (
        run_id TEXT NOT NULL,
        sample TEXT NOT NULL,
        stage TEXT NOT NULL,
        detail TEXT NOT NULL,
        PRIMARY KEY (run_id, sample, stage)
    )",
    "CREATE TABLE IF NOT EXISTS api_run_events (
        run_id TEXT NOT NULL,
        at TEXT NOT NULL,
        kind TEXT NOT NULL,
        detail TEXT NOT NULL
    )",
    "CREATE INDEX IF NOT EXISTS api_run_events_by_run ON api_run_events (run_id, at)",
    "CREATE TABLE IF NOT EXISTS api_instruments (
        name TEXT PRIMARY KEY,
        spec TEXT NOT NULL
    )",
    "CREATE TABLE IF NOT EXISTS api_modules (
        sha256 TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        version TEXT NOT NULL,
        size INTEGER NOT NULL,
        manifest TEXT NOT NULL,
        uploaded_at TEXT NOT NULL
    )",
    "CREATE TABLE IF NOT EXISTS api_blob_owners (
        sha256 TEXT NOT NULL,
        grp TEXT NOT NULL,
        PRIMARY KEY (sha256, grp)
    )",
];

/// A token's identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRow {
    pub name: String,
    pub group: String,
    pub admin: bool,
}

/// One submitted run as stored.
#[derive(Debug, Clone)]
pub struct RunRow {
    pub id: String,
    pub group: String,
    pub status: String,
    pub pipeline: String,
    pub description: String,
    pub priority: String,
    /// The submit request as JSON (what the worker needs to run it again).
    pub request: String,
    pub submitted_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// The pipeline run record, once the run has one.
    pub record_id: Option<String>,
    pub root: Option<String>,
    /// JSON: `{message, problems}` when the run failed before or around its stages.
    pub error: Option<String>,
    /// How often the run was taken up again after the daemon stopped while it ran.
    pub recoveries: i64,
}

type RunTuple = (
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    i64,
);

/// The columns of a [`RunTuple`], as a literal (sqlx takes only static SQL).
macro_rules! run_columns {
    () => {
        "id, grp, status, pipeline, description, priority, request, submitted_at, \
         started_at, finished_at, record_id, root, error, recoveries"
    };
}

fn run_row(t: RunTuple) -> RunRow {
    RunRow {
        id: t.0,
        group: t.1,
        status: t.2,
        pipeline: t.3,
        description: t.4,
        priority: t.5,
        request: t.6,
        submitted_at: t.7,
        started_at: t.8,
        finished_at: t.9,
        record_id: t.10,
        root: t.11,
        error: t.12,
        recoveries: t.13,
    }
}

/// A run list query.
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    /// Only this group's runs (always set for a non-admin caller).
    pub group: Option<String>,
    pub status: Option<String>,
    pub pipeline: Option<String>,
    /// Runs older than this id (ids are time-ordered UUIDv7s).
    pub before: Option<String>,
    pub limit: i64,
}

/// Records one run event: (run_id, at, kind, detail).
const INSERT_EVENT: &str =
    "INSERT INTO api_run_events (run_id, at, kind, detail) VALUES ($1, $2, $3, $4)";

/// How a run ends, for [`ServerStore::finish`].
#[derive(Debug, Clone, Copy)]
pub struct RunEnd<'a> {
    /// `COMPLETED`, `FAILED` or `CANCELLED`.
    pub status: &'a str,
    pub record_id: Option<&'a str>,
    pub root: Option<&'a str>,
    /// The error view, as JSON.
    pub error: Option<&'a str>,
    /// The detail of the event recorded with it.
    pub detail: &'a str,
    pub now: &'a str,
}

/// The daemon's tables, over the state database's pool.
#[derive(Debug, Clone)]
pub struct ServerStore {
    state: StateStore,
}

impl ServerStore {
    /// Creates the daemon's tables if missing.
    pub async fn open(state: StateStore) -> Result<ServerStore, StateError> {
        for stmt in SCHEMA {
            sqlx::query(*stmt).execute(state.pool()).await?;
        }
        Ok(ServerStore { state })
    }

    pub fn state(&self) -> &StateStore {
        &self.state
    }

    pub async fn add_token(
        &self,
        token_sha256: &str,
        name: &str,
        group: &str,
        admin: bool,
        now: &str,
    ) -> Result<(), StateError> {
        sqlx::query(
            "INSERT INTO api_tokens (token_sha256, name, grp, admin, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token_sha256)
        .bind(name)
        .bind(group)
        .bind(i64::from(admin))
        .bind(now)
        .execute(self.state.pool())
        .await?;
        Ok(())
    }

    pub async fn token(&self, token_sha256: &str) -> Result<Option<TokenRow>, StateError> {
        let row: Option<(String, String, i64)> =
            sqlx::query_as("SELECT name, grp, admin FROM api_tokens WHERE token_sha256 = $1")
                .bind(token_sha256)
                .fetch_optional(self.state.pool())
                .await?;
        Ok(row.map(|(name, group, admin)| TokenRow {
            name,
            group,
            admin: admin != 0,
        }))
    }

    /// Stores a new PENDING run; durable when this returns.
    pub async fn insert_run(&self, run: &RunRow, rank: i64) -> Result<(), StateError> {
        sqlx::query(
            "INSERT INTO api_runs (id, grp, status, pipeline, description, priority, rank, request, submitted_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&run.id)
        .bind(&run.group)
        .bind(&run.status)
        .bind(&run.pipeline)
        .bind(&run.description)
        .bind(&run.priority)
        .bind(rank)
        .bind(&run.request)
        .bind(&run.submitted_at)
        .execute(self.state.pool())
        .await?;
        Ok(())
    }

    pub async fn run(&self, id: &str) -> Result<Option<RunRow>, StateError> {
        let row: Option<RunTuple> = sqlx::query_as(concat!(
            "SELECT ",
            run_columns!(),
            " FROM api_runs WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.state.pool())
        .await?;
        Ok(row.map(run_row))
    }

    /// Runs matching `filter`, newest first.
    pub async fn runs(&self, filter: &RunFilter) -> Result<Vec<RunRow>, StateError> {
        let rows: Vec<RunTuple> = sqlx::query_as(concat!(
            "SELECT ",
            run_columns!(),
            " FROM api_runs
             WHERE ($1 IS NULL OR grp = $1) AND ($2 IS NULL OR status = $2)
               AND ($3 IS NULL OR pipeline = $3) AND ($4 IS NULL OR id < $4)
             ORDER BY id DESC LIMIT $5"
        ))
        .bind(&filter.group)
        .bind(&filter.status)
        .bind(&filter.pipeline)
        .bind(&filter.before)
        .bind(filter.limit)
        .fetch_all(self.state.pool())
        .await?;
        Ok(rows.into_iter().map(run_row).collect())
    }

    /// Takes the most urgent, oldest PENDING run and marks it VALIDATING.
    /// One statement, so two workers never take the same run.
    pub async fn claim_next(&self, now: &str) -> Result<Option<String>, StateError> {
        let row: Option<(String,)> = sqlx::query_as(
            "UPDATE api_runs SET status = 'VALIDATING', started_at = COALESCE(started_at, $1)
             WHERE id = (SELECT id FROM api_runs WHERE status = 'PENDING' ORDER BY rank DESC, id ASC LIMIT 1)
               AND status = 'PENDING'
             RETURNING id",
        )
        .bind(now)
        .fetch_optional(self.state.pool())
        .await?;
        Ok(row.map(|r| r.0))
    }

    /// Moves a run from one of `from` to `to` (stamping `finished_at` for a
    /// final status) and records `event` (kind, detail) with it, in one
    /// transaction: a crash leaves both or neither. Returns whether the run
    /// was in one of `from`.
    pub async fn transition(
        &self,
        id: &str,
        from: &[&str],
        to: &str,
        event: Option<(&str, &str)>,
        now: &str,
    ) -> Result<bool, StateError> {
        let finished = matches!(to, "COMPLETED" | "FAILED" | "CANCELLED");
        let mut tx = self.state.pool().begin().await?;
        let mut done = false;
        for f in from {
            let r = sqlx::query(
                "UPDATE api_runs SET status = $1, finished_at = CASE WHEN $2 = 1 THEN $3 ELSE finished_at END
                 WHERE id = $4 AND status = $5",
            )
            .bind(to)
            .bind(i64::from(finished))
            .bind(now)
            .bind(id)
            .bind(*f)
            .execute(&mut *tx)
            .await?;
            if r.rows_affected() > 0 {
                done = true;
                break;
            }
        }
        if let (true, Some((kind, detail))) = (done, event) {
            sqlx::query(INSERT_EVENT)
                .bind(id)
                .bind(now)
                .bind(kind)
                .bind(detail)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(done)
    }

    /// Ends a run, only if it is still `from`: its status, record, root and
    /// error, and the event saying so (kind: the status in lower case), in
    /// one transaction — a crash leaves both or neither. Returns whether the
    /// run was still `from`.
    pub async fn finish(&self, id: &str, from: &str, end: RunEnd<'_>) -> Result<bool, StateError> {
        let mut tx = self.state.pool().begin().await?;
        let r = sqlx::query(
            "UPDATE api_runs SET status = $1, record_id = $2, root = $3, error = $4, finished_at = $5
             WHERE id = $6 AND status = $7",
        )
        .bind(end.status)
        .bind(end.record_id)
        .bind(end.root)
        .bind(end.error)
        .bind(end.now)
        .bind(id)
        .bind(from)
        .execute(&mut *tx)
        .await?;
        let ended = r.rows_affected() > 0;
        if ended {
            sqlx::query(INSERT_EVENT)
                .bind(id)
                .bind(end.now)
                .bind(end.status.to_lowercase())
                .bind(end.detail)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(ended)
    }

    /// After a restart: runs that were VALIDATING or RUNNING when the daemon
    /// stopped go back to PENDING (counted as a recovery); returns their ids.
    pub async fn requeue_interrupted(&self) -> Result<Vec<String>, StateError> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "UPDATE api_runs SET status = 'PENDING', recoveries = recoveries + 1
             WHERE status IN ('VALIDATING', 'RUNNING') RETURNING id",
        )
        .fetch_all(self.state.pool())
        .await?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    /// Run counts by status.
    pub async fn count_by_status(&self) -> Result<Vec<(String, i64)>, StateError> {
        Ok(
            sqlx::query_as("SELECT status, COUNT(*) FROM api_runs GROUP BY status")
                .fetch_all(self.state.pool())
                .await?,
        )
    }

    /// Stores a stage's latest state within a run (`detail` is JSON).
    pub async fn put_stage(
        &self,
        run_id: &str,
        sample: &str,
        stage: &str,
        detail: &str,
    ) -> Result<(), StateError> {
        sqlx::query(
            "INSERT INTO api_run_stages (run_id, sample, stage, detail) VALUES ($1, $2, $3, $4)
             ON CONFLICT (run_id, sample, stage) DO UPDATE SET detail = excluded.detail",
        )
        .bind(run_id)
        .bind(sample)
        .bind(stage)
        .bind(detail)
        .execute(self.state.pool())
        .await?;
        Ok(())
    }

    /// Every stored stage detail (JSON) of a run.
    pub async fn stages(&self, run_id: &str) -> Result<Vec<String>, StateError> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT detail FROM api_run_stages WHERE run_id = $1 ORDER BY sample, stage",
        )
        .bind(run_id)
        .fetch_all(self.state.pool())
        .await?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    pub async fn event(
        &self,
        run_id: &str,
        kind: &str,
        detail: &str,
        now: &str,
    ) -> Result<(), StateError> {
        sqlx::query(INSERT_EVENT)
            .bind(run_id)
            .bind(now)
            .bind(kind)
            .bind(detail)
            .execute(self.state.pool())
            .await?;
        Ok(())
    }

    /// A run's events, oldest first: (at, kind, detail).
    pub async fn events(&self, run_id: &str) -> Result<Vec<(String, String, String)>, StateError> {
        Ok(sqlx::query_as(
            "SELECT at, kind, detail FROM api_run_events WHERE run_id = $1 ORDER BY at, kind",
        )
        .bind(run_id)
        .fetch_all(self.state.pool())
        .await?)
    }

    /// Lets `group` see blob `sha256`.
    pub async fn own_blobs(&self, group: &str, sha256: &[String]) -> Result<(), StateError> {
        for d in sha256 {
            sqlx::query(
                "INSERT INTO api_blob_owners (sha256, grp) VALUES ($1, $2) ON CONFLICT (sha256, grp) DO NOTHING",
            )
            .bind(d)
            .bind(group)
            .execute(self.state.pool())
            .await?;
        }
        Ok(())
    }

    pub async fn owns_blob(&self, group: &str, sha256: &str) -> Result<bool, StateError> {
        let row: Option<(i64,)> =
            sqlx::query_as("SELECT 1 FROM api_blob_owners WHERE sha256 = $1 AND grp = $2")
                .bind(sha256)
                .bind(group)
                .fetch_optional(self.state.pool())
                .await?;
        Ok(row.is_some())
    }

    /// Records an uploaded module; false if it was already there.
    pub async fn add_module(
        &self,
        sha256: &str,
        name: &str,
        version: &str,
        size: i64,
        manifest: &str,
        now: &str,
    ) -> Result<bool, StateError> {
        let r = sqlx::query(
            "INSERT INTO api_modules (sha256, name, version, size, manifest, uploaded_at) VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (sha256) DO NOTHING",
        )
        .bind(sha256)
        .bind(name)
        .bind(version)
        .bind(size)
        .bind(manifest)
        .bind(now)
        .execute(self.state.pool())
        .await?;
        Ok(r.rows_affected() > 0)
    }

    /// Uploaded modules: (sha256, name, version, size, manifest JSON, uploaded_at).
    pub async fn modules(
        &self,
        sha256: Option<&str>,
    ) -> Result<Vec<(String, String, String, i64, String, String)>, StateError> {
        Ok(sqlx::query_as(
            "SELECT sha256, name, version, size, manifest, uploaded_at FROM api_modules
             WHERE ($1 IS NULL OR sha256 = $1) ORDER BY name, version, sha256",
        )
        .bind(sha256)
        .fetch_all(self.state.pool())
        .await?)
    }

    /// Adds instruments not stored yet (a calendar seeds; stored state wins).
    pub async fn seed_instruments(&self, instruments: &[Instrument]) -> Result<(), StateError> {
        for i in instruments {
            sqlx::query("INSERT INTO api_instruments (name, spec) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
                .bind(&i.name)
                .bind(spec_json(i))
                .execute(self.state.pool())
                .await?;
        }
        Ok(())
    }

    /// Every instrument, by name.
    pub async fn instruments(&self) -> Result<Vec<Instrument>, StateError> {
        let rows: Vec<(String,)> = sqlx::query_as("SELECT spec FROM api_instruments ORDER BY name")
            .fetch_all(self.state.pool())
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(spec,)| serde_json::from_str(&spec).ok())
            .collect())
    }

    /// Replaces an instrument's stored state and windows.
    pub async fn put_instrument(&self, instrument: &Instrument) -> Result<(), StateError> {
        sqlx::query("UPDATE api_instruments SET spec = $2 WHERE name = $1")
            .bind(&instrument.name)
            .bind(spec_json(instrument))
            .execute(self.state.pool())
            .await?;
        Ok(())
    }
}

fn spec_json(i: &Instrument) -> String {
    // Serialising plain data (strings, numbers, timestamps) cannot fail.
    serde_json::to_string(i).unwrap_or_default()
}
