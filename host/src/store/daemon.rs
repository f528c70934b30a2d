//! The daemon's durable state: API tokens, submitted runs, their per-stage status and events,
//! uploaded modules and which research group may see which blob.
//!
//! It lives in the same database as the pipeline runner's [`StateStore`]
//! (SQLite, or PostgreSQL shared by several daemons; see `db`), so a row
//! written here is durable before the daemon acknowledges it.

use crate::schedule::Instrument;
use crate::server::views::{Priority, RunStatus, TokenState, TokenView};
use sqlx::{Any, Transaction};

use crate::store::db::Backend;
use crate::store::lease::{self, Fence};
use crate::store::notifications;
use crate::store::state::{StateError, StateStore};

/// How many hex digits of a token's SHA-256 make its id (shown, never the whole digest).
pub const TOKEN_ID_LEN: usize = 12;

/// A token's identity and grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRow {
    /// The first [`TOKEN_ID_LEN`] hex digits of the token's SHA-256.
    pub id: String,
    pub name: String,
    pub group: String,
    pub admin: bool,
    /// Priorities above `normal` this token may submit runs with.
    pub priorities: Vec<Priority>,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub revoked_at: Option<String>,
}

impl TokenRow {
    /// Revoked, expired (at or after `expires_at`) or active.
    pub fn state(&self, now: std::time::SystemTime) -> TokenState {
        if self.revoked_at.is_some() {
            return TokenState::Revoked;
        }
        let expired = self
            .expires_at
            .as_deref()
            .is_some_and(|at| humantime::parse_rfc3339_weak(at).map_or(true, |t| t <= now));
        if expired {
            TokenState::Expired
        } else {
            TokenState::Active
        }
    }

    /// The admin's view of it.
    pub fn view(&self, now: std::time::SystemTime) -> TokenView {
        TokenView {
            id: self.id.clone(),
            name: self.name.clone(),
            group: self.group.clone(),
            admin: self.admin,
            priorities: self.priorities.clone(),
            created_at: self.created_at.clone(),
            expires_at: self.expires_at.clone(),
            revoked_at: self.revoked_at.clone(),
            state: self.state(now),
        }
    }
}

/// What a new token is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenSpec {
    /// A note on who holds it (what `petri token revoke NAME` matches).
    pub name: String,
    pub group: String,
    pub admin: bool,
    /// Priorities above `normal` it may claim (`--allow-priority`).
    pub priorities: Vec<Priority>,
    /// RFC 3339; none: it does not expire.
    pub expires_at: Option<String>,
}

/// The outcome of [`ServerStore::revoke_token`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revocation {
    Revoked(TokenRow),
    AlreadyRevoked(TokenRow),
    NotFound,
    /// A name several tokens carry: give the id.
    Ambiguous(usize),
    /// The token the caller asked to spare (its own): not revoked.
    Spared(TokenRow),
}

type TokenTuple = (
    String,
    String,
    String,
    i64,
    String,
    String,
    Option<String>,
    Option<String>,
);

/// The columns of a [`TokenTuple`], as a literal (sqlx takes only static SQL).
macro_rules! token_columns {
    () => {
        "token_sha256, name, grp, admin, priorities, rfc3339_micros(created_at), \
         rfc3339_micros(expires_at), rfc3339_micros(revoked_at)"
    };
}

fn token_row(t: TokenTuple) -> TokenRow {
    TokenRow {
        id: t.0.chars().take(TOKEN_ID_LEN).collect(),
        name: t.1,
        group: t.2,
        admin: t.3 != 0,
        priorities: t.4.split(',').filter_map(parse_priority).collect(),
        created_at: t.5,
        expires_at: t.6,
        revoked_at: t.7,
    }
}

/// A priority as stored (`urgent`, `clinical`).
pub fn parse_priority(text: &str) -> Option<Priority> {
    match text.trim() {
        "normal" => Some(Priority::Normal),
        "urgent" => Some(Priority::Urgent),
        "clinical" => Some(Priority::Clinical),
        _ => None,
    }
}

/// One submitted run as stored.
#[derive(Debug, Clone)]
pub struct RunRow {
    pub id: String,
    pub group: String,
    pub status: RunStatus,
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
        "id, grp, status::text, pipeline, description, priority::text, request::text, \
         rfc3339_micros(submitted_at), rfc3339_micros(started_at), rfc3339_micros(finished_at), \
         record_id, root, error, recoveries"
    };
}

fn run_row(t: RunTuple) -> RunRow {
    RunRow {
        id: t.0,
        group: t.1,
        // Only this code writes the column; a value it does not know reads as failed.
        status: t.2.parse().unwrap_or(RunStatus::Failed),
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
    pub status: Option<RunStatus>,
    pub pipeline: Option<String>,
    /// Runs older than this id (ids are time-ordered UUIDv7s).
    pub before: Option<String>,
    /// Runs newer than this id.
    pub after: Option<String>,
    pub limit: i64,
}

/// Records one run event: (run_id, at, kind, detail).
const INSERT_EVENT: &str =
    "INSERT INTO api_run_events (run_id, at, kind, detail) VALUES ($1, $2::timestamptz, $3, $4)";

/// The next claimable run: PENDING, or in progress with its lease run out
/// (`$1`: now in ms; `$2`: the per-group cap or NULL). Returns (id, status,
/// previous owner).
/// The runs a daemon may claim: PENDING ones of a group not at its cap (the
/// `{full}` placeholder: `AND p.grp NOT IN (…)`, or nothing), or any whose
/// owner's lease ran out (a rescue is already counted in its group's runs).
const CLAIMABLE: &str = "SELECT p.id, CAST(p.status AS TEXT), p.owner FROM api_runs p
     WHERE (p.status = 'PENDING' {full})
        OR (p.status IN ('VALIDATING', 'RUNNING') AND p.lease_until IS NOT NULL
            AND p.lease_until < $1)
     ORDER BY p.rank DESC, p.id ASC LIMIT 1";

/// The most runs each group may have in progress at once (none: no cap).
pub type GroupCaps<'a> = &'a (dyn Fn(&str) -> Option<u32> + Sync);

/// What a daemon asks for when it claims a run.
#[derive(Clone, Copy)]
pub struct Claim<'a> {
    /// The claiming daemon's id.
    pub owner: &'a str,
    /// Now, as stored (RFC 3339), and in ms since the epoch.
    pub now: &'a str,
    pub now_ms: i64,
    /// When the lease runs out unless renewed (ms since the epoch).
    pub lease_until_ms: i64,
    /// Caps on a group's runs in progress, if any group has one: a group at
    /// its cap is skipped, its next run waits and other groups' go first.
    pub per_group: Option<GroupCaps<'a>>,
}

/// A claimed run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    pub fence: Fence,
    /// It was another daemon's, whose lease ran out.
    pub rescued: bool,
}

/// How a run ends, for [`ServerStore::finish`].
#[derive(Debug, Clone, Copy)]
pub struct RunEnd<'a> {
    /// Completed, failed or cancelled.
    pub status: RunStatus,
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
    /// The daemon's tables in the state database (its migrations made them).
    pub fn open(state: StateStore) -> ServerStore {
        ServerStore { state }
    }

    pub fn state(&self) -> &StateStore {
        &self.state
    }

    /// A write transaction in which `fence` (if any) was checked.
    async fn begin_fenced(
        &self,
        fence: Option<&Fence>,
    ) -> Result<Transaction<'static, Any>, StateError> {
        let db = self.state.db();
        let mut tx = db.begin_write().await?;
        lease::check(&mut tx, db.backend(), fence).await?;
        Ok(tx)
    }

    pub async fn add_token(
        &self,
        token_sha256: &str,
        spec: &TokenSpec,
        now: &str,
    ) -> Result<(), StateError> {
        let priorities: Vec<&str> = spec.priorities.iter().map(|p| p.as_str()).collect();
        sqlx::query(self.state.db().sql(
            "INSERT INTO api_tokens (token_sha256, name, grp, admin, created_at, expires_at, priorities)
             VALUES ($1, $2, $3, $4, $5::timestamptz, $6::timestamptz, $7)",
        ))
        .bind(token_sha256)
        .bind(&spec.name)
        .bind(&spec.group)
        .bind(i64::from(spec.admin))
        .bind(now)
        .bind(&spec.expires_at)
        .bind(priorities.join(","))
        .execute(self.state.pool())
        .await?;
        Ok(())
    }

    pub async fn token(&self, token_sha256: &str) -> Result<Option<TokenRow>, StateError> {
        let row: Option<TokenTuple> = sqlx::query_as(self.state.db().sql(concat!(
            "SELECT ",
            token_columns!(),
            " FROM api_tokens WHERE token_sha256 = $1"
        )))
        .bind(token_sha256)
        .fetch_optional(self.state.pool())
        .await?;
        Ok(row.map(token_row))
    }

    /// Every token, oldest first (revoked and expired ones too).
    pub async fn tokens(&self) -> Result<Vec<TokenRow>, StateError> {
        let rows: Vec<TokenTuple> = sqlx::query_as(self.state.db().sql(concat!(
            "SELECT ",
            token_columns!(),
            " FROM api_tokens ORDER BY created_at, token_sha256"
        )))
        .fetch_all(self.state.pool())
        .await?;
        Ok(rows.into_iter().map(token_row).collect())
    }

    /// Revokes the one token named `which` or whose id is `which` (at least
    /// 8 hex digits of it), unless its id is `spare`. The row stays,
    /// stamped, so the token is known as revoked rather than unknown.
    pub async fn revoke_token(
        &self,
        which: &str,
        now: &str,
        spare: Option<&str>,
    ) -> Result<Revocation, StateError> {
        let id_like = which.len() >= 8 && which.chars().all(|c| c.is_ascii_hexdigit());
        let matching: Vec<(String, TokenRow)> = self
            .all_token_digests()
            .await?
            .into_iter()
            .filter(|(d, row)| {
                row.name == which || (id_like && d.starts_with(&which.to_ascii_lowercase()))
            })
            .collect();
        let (digest, row) = match matching.as_slice() {
            [] => return Ok(Revocation::NotFound),
            [one] => one.clone(),
            many => return Ok(Revocation::Ambiguous(many.len())),
        };
        if row.revoked_at.is_some() {
            return Ok(Revocation::AlreadyRevoked(row));
        }
        if spare == Some(row.id.as_str()) {
            return Ok(Revocation::Spared(row));
        }
        sqlx::query(self.state.db().sql(
            "UPDATE api_tokens SET revoked_at = $1::timestamptz
             WHERE token_sha256 = $2 AND revoked_at IS NULL",
        ))
        .bind(now)
        .bind(&digest)
        .execute(self.state.pool())
        .await?;
        Ok(Revocation::Revoked(TokenRow {
            revoked_at: Some(now.to_owned()),
            ..row
        }))
    }

    async fn all_token_digests(&self) -> Result<Vec<(String, TokenRow)>, StateError> {
        let rows: Vec<TokenTuple> = sqlx::query_as(self.state.db().sql(concat!(
            "SELECT ",
            token_columns!(),
            " FROM api_tokens"
        )))
        .fetch_all(self.state.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|t| (t.0.clone(), token_row(t)))
            .collect())
    }

    /// Stores a new PENDING run and its `submitted` event (`detail`), in one
    /// transaction: no daemon sees the run before its first event.
    pub async fn insert_run(
        &self,
        run: &RunRow,
        rank: i64,
        detail: &str,
    ) -> Result<(), StateError> {
        let mut tx = self.state.db().begin_write().await?;
        sqlx::query(self.state.db().sql(
            "INSERT INTO api_runs (id, grp, status, pipeline, description, priority, rank, request, submitted_at)
             VALUES ($1, $2, $3::run_status, $4, $5, $6::run_priority, $7, $8::jsonb, $9::timestamptz)",
        ))
        .bind(&run.id)
        .bind(&run.group)
        .bind(run.status.as_str())
        .bind(&run.pipeline)
        .bind(&run.description)
        .bind(&run.priority)
        .bind(rank)
        .bind(&run.request)
        .bind(&run.submitted_at)
        .execute(&mut *tx)
        .await?;
        sqlx::query(self.state.db().sql(INSERT_EVENT))
            .bind(&run.id)
            .bind(&run.submitted_at)
            .bind("submitted")
            .bind(detail)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn run(&self, id: &str) -> Result<Option<RunRow>, StateError> {
        let row: Option<RunTuple> = sqlx::query_as(self.state.db().sql(concat!(
            "SELECT ",
            run_columns!(),
            " FROM api_runs WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(self.state.pool())
        .await?;
        Ok(row.map(run_row))
    }

    /// Runs matching `filter`, newest first.
    pub async fn runs(&self, filter: &RunFilter) -> Result<Vec<RunRow>, StateError> {
        let rows: Vec<RunTuple> = sqlx::query_as(self.state.db().sql(concat!(
            "SELECT ",
            run_columns!(),
            " FROM api_runs
             WHERE ($1 IS NULL OR grp = $1) AND ($2 IS NULL OR status = $2::run_status)
               AND ($3 IS NULL OR pipeline = $3) AND ($4 IS NULL OR id < $4)
               AND ($6 IS NULL OR id > $6)
             ORDER BY id DESC LIMIT $5"
        )))
        .bind(&filter.group)
        .bind(filter.status.map(RunStatus::as_str))
        .bind(&filter.pipeline)
        .bind(&filter.before)
        .bind(filter.limit)
        .bind(&filter.after)
        .fetch_all(self.state.pool())
        .await?;
        Ok(rows.into_iter().map(run_row).collect())
    }

    /// Claims the most urgent, oldest run that is PENDING or whose owner's
    /// lease ran out (a rescue), for `owner` until `lease_until` (ms since the
    /// epoch), with a new fencing token; marks it VALIDATING. One write
    /// transaction (`FOR UPDATE SKIP LOCKED` on PostgreSQL), so two daemons
    /// never claim the same run.
    pub async fn claim_next(&self, claim: &Claim<'_>) -> Result<Option<Claimed>, StateError> {
        let db = self.state.db();
        // With caps, claims take turns on PostgreSQL too: two daemons must
        // not both see a group one run short of its cap.
        let mut tx = match claim.per_group {
            Some(_) => db.begin_exclusive("api_runs").await?,
            None => db.begin_write().await?,
        };
        let full = match claim.per_group {
            Some(caps) => groups_at_cap(&mut tx, caps).await?,
            None => Vec::new(),
        };
        let sql = claimable_sql(db.backend(), full.len());
        let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(claim.now_ms);
        for group in &full {
            query = query.bind(group);
        }
        let row: Option<(String, String, Option<String>)> = query.fetch_optional(&mut *tx).await?;
        let Some((id, status, previous)) = row else {
            return Ok(None);
        };
        let token = lease::next_token(&mut tx, db.backend()).await?;
        let rescued = status != RunStatus::Pending.as_str();
        sqlx::query(db.sql(
            "UPDATE api_runs SET status = 'VALIDATING', started_at = COALESCE(started_at, $1::timestamptz),
                    owner = $2, fence = $3, lease_until = $4,
                    recoveries = recoveries + $5
             WHERE id = $6",
        ))
        .bind(claim.now)
        .bind(claim.owner)
        .bind(token)
        .bind(claim.lease_until_ms)
        .bind(i64::from(rescued))
        .bind(&id)
        .execute(&mut *tx)
        .await?;
        if rescued {
            let detail = format!(
                "taken over by {} from {} (its lease ran out)",
                claim.owner,
                previous.as_deref().unwrap_or("a daemon")
            );
            sqlx::query(db.sql(INSERT_EVENT))
                .bind(&id)
                .bind(claim.now)
                .bind("rescued")
                .bind(&detail)
                .execute(&mut *tx)
                .await?;
            notifications::enqueue(&mut tx, &id, "rescued", &detail, claim.now).await?;
        }
        tx.commit().await?;
        Ok(Some(Claimed {
            fence: Fence { run_id: id, token },
            rescued,
        }))
    }

    /// Renews the instrument places the run `fence` holds.
    pub async fn renew_places(&self, fence: &Fence, lease_until_ms: i64) -> Result<(), StateError> {
        crate::store::places::renew(&self.state, fence, lease_until_ms).await
    }

    /// Renews the lease `fence` holds, if it still holds the run and the run
    /// is still in progress (not cancelled). False: stop executing it.
    pub async fn renew(&self, fence: &Fence, lease_until_ms: i64) -> Result<bool, StateError> {
        let r = sqlx::query(
            "UPDATE api_runs SET lease_until = $1
             WHERE id = $2 AND fence = $3 AND status IN ('VALIDATING', 'RUNNING')",
        )
        .bind(lease_until_ms)
        .bind(&fence.run_id)
        .bind(fence.token)
        .execute(self.state.pool())
        .await?;
        Ok(r.rows_affected() > 0)
    }

    /// Moves a run from one of `from` to `to` (stamping `finished_at` for a
    /// final status) and records `event` (kind, detail) with it, in one
    /// transaction: a crash leaves both or neither. Returns whether the run
    /// was in one of `from`.
    pub async fn transition(
        &self,
        id: &str,
        from: &[RunStatus],
        to: RunStatus,
        event: Option<(&str, &str)>,
        now: &str,
        fence: Option<&Fence>,
    ) -> Result<bool, StateError> {
        let finished = to.is_final();
        let db = self.state.db();
        let mut tx = self.begin_fenced(fence).await?;
        let mut done = false;
        for f in from {
            let r = sqlx::query(db.sql(
                "UPDATE api_runs SET status = $1::run_status,
                        finished_at = CASE WHEN $2 = 1 THEN $3::timestamptz ELSE finished_at END
                 WHERE id = $4 AND status = $5::run_status",
            ))
            .bind(to.as_str())
            .bind(i64::from(finished))
            .bind(now)
            .bind(id)
            .bind(f.as_str())
            .execute(&mut *tx)
            .await?;
            if r.rows_affected() > 0 {
                done = true;
                break;
            }
        }
        if let (true, Some((kind, detail))) = (done, event) {
            sqlx::query(db.sql(INSERT_EVENT))
                .bind(id)
                .bind(now)
                .bind(kind)
                .bind(detail)
                .execute(&mut *tx)
                .await?;
            notifications::enqueue(&mut tx, id, kind, detail, now).await?;
        }
        tx.commit().await?;
        Ok(done)
    }

    /// Ends a run, only if it is still `from`: its status, record, root and
    /// error, and the event saying so (kind: the status in lower case), in
    /// one transaction — a crash leaves both or neither. Returns whether the
    /// run was still `from`.
    pub async fn finish(
        &self,
        id: &str,
        from: RunStatus,
        end: RunEnd<'_>,
        fence: Option<&Fence>,
    ) -> Result<bool, StateError> {
        let mut tx = self.begin_fenced(fence).await?;
        let r = sqlx::query(self.state.db().sql(
            "UPDATE api_runs SET status = $1::run_status, record_id = $2, root = $3, error = $4,
                    finished_at = $5::timestamptz
             WHERE id = $6 AND status = $7::run_status",
        ))
        .bind(end.status.as_str())
        .bind(end.record_id)
        .bind(end.root)
        .bind(end.error)
        .bind(end.now)
        .bind(id)
        .bind(from.as_str())
        .execute(&mut *tx)
        .await?;
        let ended = r.rows_affected() > 0;
        if ended {
            let kind = end.status.as_str().to_lowercase();
            sqlx::query(self.state.db().sql(INSERT_EVENT))
                .bind(id)
                .bind(end.now)
                .bind(&kind)
                .bind(end.detail)
                .execute(&mut *tx)
                .await?;
            notifications::enqueue(&mut tx, id, &kind, end.detail, end.now).await?;
        }
        tx.commit().await?;
        Ok(ended)
    }

    /// After a restart: runs this daemon (`owner`, or no one: written before
    /// leases) was executing when it stopped go back to PENDING (counted as
    /// a recovery); returns their ids. Other daemons' runs are theirs until
    /// their leases run out.
    pub async fn requeue_interrupted(&self, owner: &str) -> Result<Vec<String>, StateError> {
        let db = self.state.db();
        let mut tx = db.begin_write().await?;
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT id FROM api_runs
             WHERE status IN ('VALIDATING', 'RUNNING') AND (owner IS NULL OR owner = $1)",
        )
        .bind(owner)
        .fetch_all(&mut *tx)
        .await?;
        for (id,) in &rows {
            // A new token: a process of the same name still alive (paused
            // while its replacement starts) commits nothing more.
            let token = lease::next_token(&mut tx, db.backend()).await?;
            sqlx::query(
                "UPDATE api_runs SET status = 'PENDING', recoveries = recoveries + 1, owner = NULL,
                        lease_until = NULL, fence = $1
                 WHERE id = $2",
            )
            .bind(token)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    /// Run counts by status.
    pub async fn count_by_status(&self) -> Result<Vec<(String, i64)>, StateError> {
        Ok(
            sqlx::query_as("SELECT CAST(status AS TEXT), COUNT(*) FROM api_runs GROUP BY status")
                .fetch_all(self.state.pool())
                .await?,
        )
    }

    /// Run counts by group and status: (group, status, count).
    pub async fn count_by_group(&self) -> Result<Vec<(String, String, i64)>, StateError> {
        Ok(sqlx::query_as(
            "SELECT grp, CAST(status AS TEXT), COUNT(*) FROM api_runs
             GROUP BY grp, status ORDER BY grp, status",
        )
        .fetch_all(self.state.pool())
        .await?)
    }

    /// Stores a stage's latest state within a run (`detail` is JSON).
    pub async fn put_stage(
        &self,
        run_id: &str,
        sample: &str,
        stage: &str,
        detail: &str,
        fence: Option<&Fence>,
    ) -> Result<(), StateError> {
        let mut tx = self.begin_fenced(fence).await?;
        sqlx::query(self.state.db().sql(
            "INSERT INTO api_run_stages (run_id, sample, stage, detail) VALUES ($1, $2, $3, $4::jsonb)
             ON CONFLICT (run_id, sample, stage) DO UPDATE SET detail = excluded.detail",
        ))
        .bind(run_id)
        .bind(sample)
        .bind(stage)
        .bind(detail)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every stored stage detail (JSON) of a run.
    pub async fn stages(&self, run_id: &str) -> Result<Vec<String>, StateError> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT CAST(detail AS TEXT) FROM api_run_stages WHERE run_id = $1 ORDER BY sample, stage",
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
        fence: Option<&Fence>,
    ) -> Result<(), StateError> {
        let mut tx = self.begin_fenced(fence).await?;
        sqlx::query(self.state.db().sql(INSERT_EVENT))
            .bind(run_id)
            .bind(now)
            .bind(kind)
            .bind(detail)
            .execute(&mut *tx)
            .await?;
        notifications::enqueue(&mut tx, run_id, kind, detail, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A run's events, oldest first: (at, kind, detail).
    pub async fn events(&self, run_id: &str) -> Result<Vec<(String, String, String)>, StateError> {
        Ok(sqlx::query_as(self.state.db().sql(
            "SELECT rfc3339_micros(at), kind, detail FROM api_run_events WHERE run_id = $1 ORDER BY at, kind",
        ))
        .bind(run_id)
        .fetch_all(self.state.pool())
        .await?)
    }

    /// Lets `group` see each blob (SHA-256, size); the sizes count toward
    /// its store-bytes quota.
    pub async fn own_blobs(&self, group: &str, blobs: &[(String, u64)]) -> Result<(), StateError> {
        for (sha256, size) in blobs {
            sqlx::query(
                "INSERT INTO api_blob_owners (sha256, grp, size) VALUES ($1, $2, $3)
                 ON CONFLICT (sha256, grp) DO UPDATE SET size = excluded.size",
            )
            .bind(sha256)
            .bind(group)
            .bind(i64::try_from(*size).unwrap_or(i64::MAX))
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
        let r = sqlx::query(self.state.db().sql(
            "INSERT INTO api_modules (sha256, name, version, size, manifest, uploaded_at)
             VALUES ($1, $2, $3, $4, $5::jsonb, $6::timestamptz)
             ON CONFLICT (sha256) DO NOTHING",
        ))
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
        Ok(sqlx::query_as(self.state.db().sql(
            "SELECT sha256, name, version, size, manifest::text, rfc3339_micros(uploaded_at) FROM api_modules
             WHERE ($1 IS NULL OR sha256 = $1) ORDER BY name, version, sha256",
        ))
        .bind(sha256)
        .fetch_all(self.state.pool())
        .await?)
    }

    /// Adds instruments not stored yet (a calendar seeds; stored state wins).
    pub async fn seed_instruments(&self, instruments: &[Instrument]) -> Result<(), StateError> {
        for i in instruments {
            sqlx::query(self.state.db().sql(
                "INSERT INTO api_instruments (name, spec) VALUES ($1, $2::jsonb) ON CONFLICT (name) DO NOTHING",
            ))
                .bind(&i.name)
                .bind(spec_json(i))
                .execute(self.state.pool())
                .await?;
        }
        Ok(())
    }

    /// Every instrument, by name.
    pub async fn instruments(&self) -> Result<Vec<Instrument>, StateError> {
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT CAST(spec AS TEXT) FROM api_instruments ORDER BY name")
                .fetch_all(self.state.pool())
                .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(spec,)| serde_json::from_str(&spec).ok())
            .collect())
    }

    /// Replaces an instrument's stored state and windows.
    pub async fn put_instrument(&self, instrument: &Instrument) -> Result<(), StateError> {
        sqlx::query(
            self.state
                .db()
                .sql("UPDATE api_instruments SET spec = $2::jsonb WHERE name = $1"),
        )
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

/// [`CLAIMABLE`] for `backend`, skipping `full` groups (bound from `$2`).
fn claimable_sql(backend: Backend, full: usize) -> String {
    let skip = match full {
        0 => String::new(),
        n => {
            let params: Vec<String> = (2..n + 2).map(|i| format!("${i}")).collect();
            format!("AND p.grp NOT IN ({})", params.join(", "))
        }
    };
    let sql = CLAIMABLE.replace("{full}", &skip);
    match backend {
        Backend::Postgres => sql + " FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => sql,
    }
}

/// The groups whose runs in progress already reach their cap.
async fn groups_at_cap(
    tx: &mut Transaction<'static, Any>,
    caps: GroupCaps<'_>,
) -> Result<Vec<String>, StateError> {
    let counts: Vec<(String, i64)> = sqlx::query_as(
        "SELECT grp, CAST(COUNT(*) AS BIGINT) FROM api_runs
         WHERE status IN ('VALIDATING', 'RUNNING') GROUP BY grp",
    )
    .fetch_all(&mut **tx)
    .await?;
    Ok(counts
        .into_iter()
        .filter(|(group, n)| caps(group).is_some_and(|cap| *n >= i64::from(cap)))
        .map(|(group, _)| group)
        .collect())
}
