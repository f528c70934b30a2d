//! The database behind the store: SQLite (the embedded default) or PostgreSQL (several daemons),
//! one sqlx `AnyPool`, and versioned migrations per backend (`host/migrations/<backend>/`).
//!
//! The SQL the store runs is one text for both backends (`$n` placeholders,
//! `ON CONFLICT`, `RETURNING`). Columns use the types the `Any` driver moves
//! on both (TEXT, BIGINT): PostgreSQL's enums, `jsonb` and `timestamptz` do
//! not decode through it (see docs/scale-out.md).

use std::path::Path;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions, install_default_drivers};
use sqlx::migrate::Migrator;
use sqlx::{Any, AnyPool, Executor, Transaction};

use super::state::StateError;

static SQLITE: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES: Migrator = sqlx::migrate!("migrations/postgres");

/// Which database a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
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
            None if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Database::connect(url, Backend::Postgres, 32).await
            }
            None => Err(StateError::Url(url.to_owned())),
        }
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
        let db = Database::connect(&url, Backend::Sqlite, 8).await;
        drop(lock);
        db
    }

    async fn connect(url: &str, backend: Backend, max: u32) -> Result<Database, StateError> {
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
        migrator.run(&pool).await.map_err(sqlx::Error::from)?;
        Ok(Database { pool, backend })
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub fn backend(&self) -> Backend {
        self.backend
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
