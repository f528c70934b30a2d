//! The database behind the store: SQLite (the embedded default) or PostgreSQL (several daemons),
//! one sqlx `AnyPool`, and versioned migrations per backend (`host/migrations/<backend>/`).
//!
//! The SQL the store runs is one text for both backends (`$n` placeholders,
//! `ON CONFLICT`, `RETURNING`), written for PostgreSQL, whose columns have
//! native types: enums (`run_status`, …), `jsonb`, `timestamptz`. The `Any`
//! driver moves only TEXT and numbers, so the text casts at each use: a
//! parameter into its column's type (`$1::run_status`, `$2::jsonb`,
//! `$3::timestamptz`), an enum or JSON column back to text (`status::text`),
//! a timestamp back to petri's RFC 3339 text (`rfc3339_micros(at)`,
//! `rfc3339_millis(at)`: functions of migration 0011). [`Backend::sql`]
//! hands PostgreSQL the text as written and SQLite, whose columns are TEXT,
//! the text without them (see docs/scale-out.md).

use std::path::Path;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions, install_default_drivers};
use sqlx::migrate::Migrator;
use sqlx::{Any, AnyConnection, AnyPool, Executor, SqlSafeStr, SqlStr, Transaction};

use super::state::StateError;

static SQLITE: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES: Migrator = sqlx::migrate!("migrations/postgres");

/// Which database a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// The functions of PostgreSQL's migration 0011 that turn a `timestamptz`
/// back into petri's RFC 3339 text; on SQLite the column is that text.
const TIME_FUNCTIONS: [&str; 2] = ["rfc3339_micros(", "rfc3339_millis("];

impl Backend {
    /// The backend an open connection talks to.
    pub fn of(conn: &AnyConnection) -> Backend {
        match conn.backend_name() {
            "PostgreSQL" => Backend::Postgres,
            _ => Backend::Sqlite,
        }
    }

    /// `text` (the store's SQL, written for PostgreSQL) as this backend
    /// runs it: as written on PostgreSQL; on SQLite without the casts
    /// (`::name`) and time functions around columns, which are TEXT there.
    pub fn sql(self, text: &'static str) -> SqlStr {
        match self {
            Backend::Postgres => text.into_sql_str(),
            // The text is the code's own, never input.
            Backend::Sqlite => sqlx::AssertSqlSafe(sqlite_text(text)).into_sql_str(),
        }
    }
}

/// `text` without `::name` casts and with `rfc3339_…(x)` replaced by `x`.
fn sqlite_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    // Closing parentheses of unwrapped functions, by nesting depth.
    let mut depth = 0usize;
    let mut drop_at: Vec<usize> = Vec::new();
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if let Some(f) = TIME_FUNCTIONS.iter().find(|f| rest.starts_with(**f)) {
            depth += 1;
            drop_at.push(depth);
            rest = &rest[f.len()..];
            continue;
        }
        if let Some(after) = rest.strip_prefix("::") {
            let name = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            rest = &after[name..];
            continue;
        }
        match c {
            '(' => depth += 1,
            ')' => {
                if drop_at.last() == Some(&depth) {
                    drop_at.pop();
                    depth -= 1;
                    rest = &rest[1..];
                    continue;
                }
                depth = depth.saturating_sub(1);
            }
            _ => {}
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// An open, migrated database.
#[derive(Debug, Clone)]
pub struct Database {
    pool: AnyPool,
    backend: Backend,
}

impl Database {
    /// Opens `url` (`postgres://…`, or `sqlite:` + a path), creating and
    /// migrating as needed.
    pub async fn open(url: &str) -> Result<Database, StateError> {
        match url.strip_prefix("sqlite:") {
            Some(path) => Database::open_sqlite(Path::new(path)).await,
            None if is_postgres(url) => Database::connect(url, Backend::Postgres, 32, None).await,
            None => Err(StateError::Url(url.to_owned())),
        }
    }

    /// Creates the PostgreSQL database at `url` as migration `version` left
    /// it (the later ones not applied): older data for a test of a later
    /// migration.
    pub async fn open_postgres_at(url: &str, version: i64) -> Result<Database, StateError> {
        if !is_postgres(url) {
            return Err(StateError::Url(url.to_owned()));
        }
        Database::connect(url, Backend::Postgres, 2, Some(version)).await
    }

    /// Opens (creating) the SQLite file at `path`: WAL, synchronous=FULL.
    pub async fn open_sqlite(path: &Path) -> Result<Database, StateError> {
        // sqlx's migrator takes no lock on SQLite: two processes opening a
        // fresh file at once would both apply the first migration. An
        // exclusive lock on `<file>.lock` makes them take turns.
        let lock_path = path.with_extension("sqlite.lock");
        let lock = tokio::task::spawn_blocking(move || {
            let file = std::fs::File::options()
                .create(true)
                .truncate(false)
                .write(true)
                .open(lock_path)?;
            file.lock()?;
            Ok::<_, std::io::Error>(file)
        })
        .await
        .map_err(|e| sqlx::Error::Io(std::io::Error::other(e)))?
        .map_err(sqlx::Error::Io)?;
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let db = Database::connect(&url, Backend::Sqlite, 8, None).await;
        drop(lock);
        db
    }

    /// A pool on `url`, migrated to `target` (all migrations when none).
    async fn connect(
        url: &str,
        backend: Backend,
        max: u32,
        target: Option<i64>,
    ) -> Result<Database, StateError> {
        install_default_drivers();
        let options: AnyConnectOptions = url.parse()?;
        let pool = AnyPoolOptions::new()
            .max_connections(max)
            .acquire_timeout(Duration::from_secs(60))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA synchronous = FULL").await?;
                        conn.execute("PRAGMA busy_timeout = 30000").await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        let migrator = match backend {
            Backend::Sqlite => &SQLITE,
            Backend::Postgres => &POSTGRES,
        };
        match target {
            None => migrator.run(&pool).await,
            Some(version) => migrator.run_to(version, &pool).await,
        }
        .map_err(sqlx::Error::from)?;
        Ok(Database { pool, backend })
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// `text` as this database runs it ([`Backend::sql`]).
    pub fn sql(&self, text: &'static str) -> SqlStr {
        self.backend.sql(text)
    }

    /// Now, in ms since the Unix epoch, by the database's clock: the one
    /// clock every daemon sharing it agrees on, so leases and places lapse
    /// alike whatever each daemon's own clock says (SQLite is embedded: its
    /// clock is this machine's).
    pub async fn now_ms(&self) -> Result<i64, StateError> {
        Ok(match self.backend {
            Backend::Sqlite => super::lease::epoch_ms(std::time::SystemTime::now()),
            Backend::Postgres => {
                let (ms,): (i64,) = sqlx::query_as(
                    "SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)",
                )
                .fetch_one(&self.pool)
                .await?;
                ms
            }
        })
    }

    /// A transaction that holds the write lock from its first statement
    /// (`BEGIN IMMEDIATE` on SQLite, where a deferred one fails under
    /// contention instead of waiting; PostgreSQL locks rows as it goes).
    pub async fn begin_write(&self) -> Result<Transaction<'static, Any>, StateError> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    /// A read-only transaction whose reads all see one snapshot (SQLite's
    /// WAL gives a deferred transaction one from its first read; PostgreSQL
    /// needs REPEATABLE READ).
    pub async fn begin_snapshot(&self) -> Result<Transaction<'static, Any>, StateError> {
        let mut tx = self.pool.begin().await?;
        if self.backend == Backend::Postgres {
            (&mut *tx)
                .execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                .await?;
        }
        Ok(tx)
    }

    /// [`Database::begin_write`] in which writers of `table` also take turns
    /// on PostgreSQL (a table lock in EXCLUSIVE MODE, which readers do not
    /// wait for; on SQLite the write lock already serialises them): for a
    /// check-then-insert whose check reads rows that may not exist yet.
    pub async fn begin_exclusive(
        &self,
        table: &'static str,
    ) -> Result<Transaction<'static, Any>, StateError> {
        let mut tx = self.begin_write().await?;
        if self.backend == Backend::Postgres {
            // `table` is a name in the code, never input.
            let lock = format!("LOCK TABLE {table} IN EXCLUSIVE MODE");
            sqlx::query(sqlx::AssertSqlSafe(lock))
                .execute(&mut *tx)
                .await?;
        }
        Ok(tx)
    }
}

#[cfg(test)]
mod tests {
    use super::sqlite_text;

    #[test]
    fn sqlite_text_drops_casts_and_time_functions() {
        assert_eq!(
            sqlite_text(
                "UPDATE r SET s = $1::run_status, at = COALESCE(at, $2::timestamptz) WHERE s::text IN ('A')"
            ),
            "UPDATE r SET s = $1, at = COALESCE(at, $2) WHERE s IN ('A')"
        );
        assert_eq!(
            sqlite_text(
                "SELECT rfc3339_micros(at), COALESCE(rfc3339_millis(f), 'x'), (1), request::text FROM t"
            ),
            "SELECT at, COALESCE(f, 'x'), (1), request FROM t"
        );
        assert_eq!(sqlite_text("SELECT 'é'::text"), "SELECT 'é'");
    }
}
