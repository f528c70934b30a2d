//! Older data dirs' module registry, `registry.json`, imported into the database's registry.
//!
//! Before the registry moved into the database it was one JSON file in the
//! data dir: name → current entry and its history (a file from before history
//! was kept has only the entry). Opening the registry of a data dir
//! ([`Registry::open_in`]) imports every name of that file the database does
//! not know yet, with its history, in one write transaction. A name the
//! database knows is left as the database has it, so importing again changes
//! nothing: after the first import the database is the truth. The file is left
//! in place and never written.

use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::io;
use std::path::Path;

use super::registry::{
    LOCKED, NamedModule, Registration, Registry, RegistryError, append, current, set_current,
};

impl Registry {
    /// Imports the names of the registry file at `path` (if there is one)
    /// that are not registered yet, each with its history; returns how many.
    pub async fn import_file(&self, path: &Path) -> Result<usize, RegistryError> {
        let Some(modules) = read(path)? else {
            return Ok(0);
        };
        let known: BTreeSet<String> = self.list().await?.into_iter().map(|e| e.name).collect();
        let new: Vec<NamedModule> = modules
            .into_values()
            .filter(|m| !known.contains(&m.entry.name))
            .collect();
        if new.is_empty() {
            return Ok(0);
        }
        let mut tx = self.db().begin_exclusive(LOCKED).await?;
        let mut imported = 0;
        for m in &new {
            // Another process may have imported or registered it meanwhile.
            if current(&mut tx, &m.entry.name).await?.is_some() {
                continue;
            }
            for r in registrations(m) {
                append(&mut tx, &m.entry.name, &r).await?;
            }
            set_current(&mut tx, &m.entry).await?;
            imported += 1;
        }
        tx.commit().await?;
        Ok(imported)
    }
}

/// The file's names, or `None` when there is no file.
fn read(path: &Path) -> Result<Option<BTreeMap<String, NamedModule>>, RegistryError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(RegistryError::Io {
                path: path.to_owned(),
                source,
            });
        }
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|source| RegistryError::Parse {
            path: path.to_owned(),
            source,
        })
}

/// A name's registrations as the file kept them, each marked forced when it
/// replaced other bytes of its version (the file did not say); for a file
/// written before history was kept, the current entry (time unknown).
fn registrations(m: &NamedModule) -> Vec<Registration> {
    if m.history.is_empty() {
        return vec![Registration {
            version: m.entry.version.clone(),
            sha256: m.entry.sha256,
            added_at: String::new(),
            forced: false,
            kind: Default::default(),
            report: None,
        }];
    }
    let mut out: Vec<Registration> = Vec::with_capacity(m.history.len());
    for r in &m.history {
        let forced = out
            .iter()
            .any(|e| e.version == r.version && e.sha256 != r.sha256);
        out.push(Registration {
            forced,
            ..r.clone()
        });
    }
    out
}
