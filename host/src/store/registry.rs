//! The module registry: names for stage components kept in the blob store, in the database.
//!
//! `petri plugin add stage.wasm` stores the bytes and records `name → digest`
//! (the name and version come from the stage's own manifest); pipelines can
//! then say `module = "fastq-qc"`. A name and version, once registered, mean
//! those bytes: registering other bytes under them is refused unless forced,
//! and every registration is kept in the name's history. The registry lives in
//! the state database (`registry_current`, and the append-only
//! `registry_history`), so every daemon sharing it sees the same names; each
//! registration checks and inserts in one write transaction (the write lock on
//! SQLite, a lock on `registry_history` on PostgreSQL), so adders in several
//! processes at once lose nothing. Older data dirs' `registry.json` is
//! imported when the registry is opened (`registry_file`). A promotion or a
//! rollback (`pipeline::promote`) moves a name with [`Registry::move_name`],
//! recorded in the same history with its [`Change`].

use std::path::Path;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use sqlx::{Any, Transaction};

use super::data_dir::DataDir;
use super::db::{Backend, Database};
use super::digest::Digest;
use super::state::{StateError, StateStore};

/// The table whose lock (on PostgreSQL) registrations take turns on.
pub(super) const LOCKED: &str = "registry_history";

/// One registered module.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistryEntry {
    pub name: String,
    pub version: String,
    pub sha256: Digest,
}

/// One registration of a name: which version named which bytes, from when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    pub version: String,
    pub sha256: Digest,
    /// RFC 3339; empty for registrations made before history was kept.
    #[serde(default)]
    pub added_at: String,
    /// Whether it replaced other bytes registered under this name and version.
    #[serde(default)]
    pub forced: bool,
    /// How it became current.
    #[serde(default)]
    pub kind: Change,
    /// A promotion's shadow report (a blob).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<Digest>,
}

/// How a registration became its name's current module.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Change {
    /// `petri plugin add` or an admin's upload.
    #[default]
    Registered,
    /// `petri plugin promote`, after its shadow runs.
    Promoted,
    /// `petri plugin rollback`: back to an earlier module of the name.
    RolledBack,
}

impl Change {
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Registered => "registered",
            Change::Promoted => "promoted",
            Change::RolledBack => "rolled-back",
        }
    }

    fn parse(s: &str) -> Option<Change> {
        [Change::Registered, Change::Promoted, Change::RolledBack]
            .into_iter()
            .find(|c| c.as_str() == s)
    }
}

/// A promotion or rollback: `name` moves from `from` (which must still be
/// current) to `to`, as `version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Move {
    pub name: String,
    pub version: String,
    pub from: Digest,
    pub to: Digest,
    pub kind: Change,
    pub report: Option<Digest>,
}

/// A name's current entry and every registration of it, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedModule {
    #[serde(flatten)]
    pub entry: RegistryEntry,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<Registration>,
}

/// What [`Registry::add`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    /// A new name, version or bytes.
    New,
    /// Exactly this was already the current entry.
    Unchanged,
    /// Other bytes replaced the ones registered under this name and version (forced).
    Replaced,
}

/// Errors of the registry.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// An older data dir's `registry.json` could not be read.
    #[error("module registry {path}: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("module registry {path} is damaged: {source}")]
    Parse {
        path: std::path::PathBuf,
        source: serde_json::Error,
    },
    #[error(
        "{name} {version} is already registered as sha256:{registered}, not sha256:{offered}: \
         a version names one set of bytes (bump the stage's version, or force the replacement)"
    )]
    Conflict {
        name: String,
        version: String,
        registered: Digest,
        offered: Digest,
    },
    /// A digest in the registry's tables that is not a SHA-256 (edited by hand).
    #[error("module registry: `{name}` has a damaged digest `{value}`")]
    Damaged { name: String, value: String },
    #[error("no module is registered as `{0}`")]
    Unknown(String),
    /// A move found the name pointing elsewhere than it was told (another
    /// promotion or registration came first); nothing moved.
    #[error(
        "`{name}` moved to sha256:{current} meanwhile (expected sha256:{expected}); nothing was changed"
    )]
    Moved {
        name: String,
        expected: Digest,
        current: Digest,
    },
    #[error("module registry: {0}")]
    State(#[from] StateError),
}

impl From<sqlx::Error> for RegistryError {
    fn from(e: sqlx::Error) -> RegistryError {
        RegistryError::State(StateError::Sql(e))
    }
}

/// Name → module, in the state database.
#[derive(Debug, Clone)]
pub struct Registry {
    db: Database,
}

/// A row of `registry_current`: name, version, sha256.
type EntryRow = (String, String, String);

/// A row of `registry_history`: name, version, sha256, added_at, forced, kind, report.
type HistoryRow = (String, String, String, String, i64, String, Option<String>);

impl Registry {
    /// The registry in `state`'s database.
    pub fn new(state: &StateStore) -> Registry {
        Registry {
            db: state.db().clone(),
        }
    }

    /// The registry in `state`'s database, once the names of the data dir
    /// at `data_dir`'s older `registry.json` (if any) are imported into it.
    pub async fn open_in(state: &StateStore, data_dir: &Path) -> Result<Registry, RegistryError> {
        let registry = Registry::new(state);
        registry
            .import_file(&DataDir::new(data_dir).registry())
            .await?;
        Ok(registry)
    }

    pub(super) fn db(&self) -> &Database {
        &self.db
    }

    /// Every name's current entry, by name.
    pub async fn list(&self) -> Result<Vec<RegistryEntry>, RegistryError> {
        let rows: Vec<EntryRow> =
            sqlx::query_as("SELECT name, version, sha256 FROM registry_current")
                .fetch_all(self.db.pool())
                .await?;
        entries_of(rows)
    }

    /// Every name with its registration history, by name (one snapshot).
    pub async fn list_with_history(&self) -> Result<Vec<NamedModule>, RegistryError> {
        let mut tx = self.db.begin_snapshot().await?;
        let current: Vec<EntryRow> =
            sqlx::query_as("SELECT name, version, sha256 FROM registry_current")
                .fetch_all(&mut *tx)
                .await?;
        let rows: Vec<HistoryRow> = sqlx::query_as(
            "SELECT name, version, sha256, added_at, forced, CAST(kind AS TEXT), report
             FROM registry_history ORDER BY seq",
        )
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let mut named: Vec<NamedModule> = entries_of(current)?
            .into_iter()
            .map(|entry| NamedModule {
                entry,
                history: Vec::new(),
            })
            .collect();
        for row in rows {
            let (name, registration) = registration_of(row)?;
            if let Ok(i) = named.binary_search_by(|m| m.entry.name.as_str().cmp(&name)) {
                named[i].history.push(registration);
            }
        }
        Ok(named)
    }

    /// The current entry of `name`, if registered.
    pub async fn resolve(&self, name: &str) -> Result<Option<RegistryEntry>, RegistryError> {
        let row: Option<EntryRow> =
            sqlx::query_as("SELECT name, version, sha256 FROM registry_current WHERE name = $1")
                .bind(name)
                .fetch_optional(self.db.pool())
                .await?;
        row.map(entry_of).transpose()
    }

    /// `name`'s current entry and every registration of it, if registered
    /// (one snapshot).
    pub async fn history(&self, name: &str) -> Result<Option<NamedModule>, RegistryError> {
        let mut tx = self.db.begin_snapshot().await?;
        let Some(entry) = current(&mut tx, name).await? else {
            return Ok(None);
        };
        let rows: Vec<HistoryRow> = sqlx::query_as(
            "SELECT name, version, sha256, added_at, forced, CAST(kind AS TEXT), report
             FROM registry_history WHERE name = $1 ORDER BY seq",
        )
        .bind(name)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let history = rows
            .into_iter()
            .map(|row| registration_of(row).map(|(_, r)| r))
            .collect::<Result<_, _>>()?;
        Ok(Some(NamedModule { entry, history }))
    }

    /// Whether `digest` is or was registered under any name.
    pub async fn ever_registered(&self, digest: &Digest) -> Result<bool, RegistryError> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT name FROM registry_history WHERE sha256 = $1 LIMIT 1")
                .bind(digest.to_hex())
                .fetch_optional(self.db.pool())
                .await?;
        Ok(row.is_some())
    }

    /// Moves a name (a promotion or a rollback) if it still points to
    /// `m.from`, recording the move in its history; the check and the move
    /// are one write transaction. Registering `m.to` under a version that
    /// names other bytes is allowed here (the move is its own authority) and
    /// recorded as forced.
    pub async fn move_name(&self, m: &Move) -> Result<Registration, RegistryError> {
        let mut tx = self.db.begin_exclusive(LOCKED).await?;
        let Some(now) = current(&mut tx, &m.name).await? else {
            return Err(RegistryError::Unknown(m.name.clone()));
        };
        if now.sha256 != m.from {
            return Err(RegistryError::Moved {
                name: m.name.clone(),
                expected: m.from,
                current: now.sha256,
            });
        }
        let entry = RegistryEntry {
            name: m.name.clone(),
            version: m.version.clone(),
            sha256: m.to,
        };
        let registration = Registration {
            version: m.version.clone(),
            sha256: m.to,
            added_at: humantime::format_rfc3339_micros(SystemTime::now()).to_string(),
            forced: clash(&mut tx, &entry).await?.is_some(),
            kind: m.kind,
            report: m.report,
        };
        append(&mut tx, &m.name, &registration).await?;
        set_current(&mut tx, &entry).await?;
        tx.commit().await?;
        Ok(registration)
    }

    /// Makes `entry` the current module of its name and records it in the
    /// name's history; bytes other than those its name and version were
    /// ever registered with are refused ([`RegistryError::Conflict`]).
    pub async fn add(&self, entry: RegistryEntry) -> Result<Added, RegistryError> {
        self.add_with(entry, false).await
    }

    /// [`Registry::add`], replacing a conflicting registration when `force`
    /// (the replaced one stays in the history). The check and the insert are
    /// one write transaction.
    pub async fn add_with(
        &self,
        entry: RegistryEntry,
        force: bool,
    ) -> Result<Added, RegistryError> {
        let mut tx = self.db.begin_exclusive(LOCKED).await?;
        let clash = clash(&mut tx, &entry).await?;
        if let (Some(registered), false) = (clash, force) {
            return Err(RegistryError::Conflict {
                name: entry.name,
                version: entry.version,
                registered,
                offered: entry.sha256,
            });
        }
        if current(&mut tx, &entry.name).await?.as_ref() == Some(&entry) {
            return Ok(Added::Unchanged);
        }
        let registration = Registration {
            version: entry.version.clone(),
            sha256: entry.sha256,
            added_at: humantime::format_rfc3339_micros(SystemTime::now()).to_string(),
            forced: clash.is_some(),
            kind: Change::Registered,
            report: None,
        };
        append(&mut tx, &entry.name, &registration).await?;
        set_current(&mut tx, &entry).await?;
        tx.commit().await?;
        Ok(match clash {
            Some(_) => Added::Replaced,
            None => Added::New,
        })
    }
}

/// The bytes of the latest registration of `entry`'s name and version whose
/// bytes are not `entry`'s, if any.
async fn clash(
    tx: &mut Transaction<'static, Any>,
    entry: &RegistryEntry,
) -> Result<Option<Digest>, RegistryError> {
    let row: Option<(String,)> = sqlx::query_as(
        "SELECT sha256 FROM registry_history WHERE name = $1 AND version = $2 AND sha256 <> $3
         ORDER BY seq DESC LIMIT 1",
    )
    .bind(&entry.name)
    .bind(&entry.version)
    .bind(entry.sha256.to_hex())
    .fetch_optional(&mut **tx)
    .await?;
    row.map(|(hex,)| digest(&entry.name, &hex)).transpose()
}

/// The current entry of `name`, within `tx`.
pub(super) async fn current(
    tx: &mut Transaction<'static, Any>,
    name: &str,
) -> Result<Option<RegistryEntry>, RegistryError> {
    let row: Option<EntryRow> =
        sqlx::query_as("SELECT name, version, sha256 FROM registry_current WHERE name = $1")
            .bind(name)
            .fetch_optional(&mut **tx)
            .await?;
    row.map(entry_of).transpose()
}

/// Appends one registration of `name` to the history.
pub(super) async fn append(
    tx: &mut Transaction<'static, Any>,
    name: &str,
    r: &Registration,
) -> Result<(), RegistryError> {
    sqlx::query(Backend::of(tx).sql(
        "INSERT INTO registry_history (name, version, sha256, added_at, forced, kind, report)
         VALUES ($1, $2, $3, $4, $5, $6::registry_change, $7)",
    ))
    .bind(name)
    .bind(&r.version)
    .bind(r.sha256.to_hex())
    .bind(&r.added_at)
    .bind(i64::from(r.forced))
    .bind(r.kind.as_str())
    .bind(r.report.map(|d| d.to_hex()))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Makes `entry` its name's current module.
pub(super) async fn set_current(
    tx: &mut Transaction<'static, Any>,
    entry: &RegistryEntry,
) -> Result<(), RegistryError> {
    sqlx::query(
        "INSERT INTO registry_current (name, version, sha256) VALUES ($1, $2, $3)
         ON CONFLICT (name) DO UPDATE SET version = excluded.version, sha256 = excluded.sha256",
    )
    .bind(&entry.name)
    .bind(&entry.version)
    .bind(entry.sha256.to_hex())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn digest(name: &str, hex: &str) -> Result<Digest, RegistryError> {
    hex.parse().map_err(|_| RegistryError::Damaged {
        name: name.to_owned(),
        value: hex.to_owned(),
    })
}

fn entry_of((name, version, hex): EntryRow) -> Result<RegistryEntry, RegistryError> {
    let sha256 = digest(&name, &hex)?;
    Ok(RegistryEntry {
        name,
        version,
        sha256,
    })
}

/// Entries sorted by name as bytes (PostgreSQL's ORDER BY follows its collation).
fn entries_of(rows: Vec<EntryRow>) -> Result<Vec<RegistryEntry>, RegistryError> {
    let mut entries = rows
        .into_iter()
        .map(entry_of)
        .collect::<Result<Vec<_>, _>>()?;
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(entries)
}

fn registration_of(row: HistoryRow) -> Result<(String, Registration), RegistryError> {
    let (name, version, hex, added_at, forced, kind, report) = row;
    let sha256 = digest(&name, &hex)?;
    let damaged = |value: &str| RegistryError::Damaged {
        name: name.clone(),
        value: value.to_owned(),
    };
    let kind = Change::parse(&kind).ok_or_else(|| damaged(&kind))?;
    let report = match report {
        Some(hex) => Some(hex.parse().map_err(|_| damaged(&hex))?),
        None => None,
    };
    let registration = Registration {
        version,
        sha256,
        added_at,
        forced: forced != 0,
        kind,
        report,
    };
    Ok((name, registration))
}
