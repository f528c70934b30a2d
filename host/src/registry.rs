//! The module registry: names for stage components kept in the blob store.
//!
//! `petri plugin add stage.wasm` stores the bytes and records `name → digest`
//! (the name and version come from the stage's own manifest); pipelines can
//! then say `module = "fastq-qc"`. The registry is one JSON file, replaced
//! atomically on every change.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;

/// One registered module.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistryEntry {
    pub name: String,
    pub version: String,
    pub sha256: Digest,
}

/// Errors of the registry file.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("module registry {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("module registry {path} is damaged: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
}

/// Name → module, persisted under the data dir.
#[derive(Debug, Clone)]
pub struct Registry {
    path: PathBuf,
}

impl Registry {
    pub fn new(path: impl Into<PathBuf>) -> Registry {
        Registry { path: path.into() }
    }

    pub fn list(&self) -> Result<Vec<RegistryEntry>, RegistryError> {
        match fs::read(&self.path) {
            Ok(bytes) => {
                let map: BTreeMap<String, RegistryEntry> =
                    serde_json::from_slice(&bytes).map_err(|source| RegistryError::Parse {
                        path: self.path.clone(),
                        source,
                    })?;
                Ok(map.into_values().collect())
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(source) => Err(RegistryError::Io {
                path: self.path.clone(),
                source,
            }),
        }
    }

    pub fn resolve(&self, name: &str) -> Result<Option<RegistryEntry>, RegistryError> {
        Ok(self.list()?.into_iter().find(|e| e.name == name))
    }

    /// Adds or replaces the entry for `entry.name`.
    pub fn add(&self, entry: RegistryEntry) -> Result<(), RegistryError> {
        let mut map: BTreeMap<String, RegistryEntry> = self
            .list()?
            .into_iter()
            .map(|e| (e.name.clone(), e))
            .collect();
        map.insert(entry.name.clone(), entry);
        let io_err = |source| RegistryError::Io {
            path: self.path.clone(),
            source,
        };
        let dir = self.path.parent().map(PathBuf::from).unwrap_or_default();
        fs::create_dir_all(&dir).map_err(io_err)?;
        let mut tmp = tempfile::NamedTempFile::new_in(&dir).map_err(io_err)?;
        let json = serde_json::to_vec_pretty(&map).map_err(|source| RegistryError::Parse {
            path: self.path.clone(),
            source,
        })?;
        tmp.write_all(&json).map_err(io_err)?;
        tmp.as_file().sync_all().map_err(io_err)?;
        tmp.persist(&self.path).map_err(|e| io_err(e.error))?;
        Ok(())
    }
}
