//! The module registry: names for stage components kept in the blob store.
//!
//! `petri plugin add stage.wasm` stores the bytes and records `name → digest`
//! (the name and version come from the stage's own manifest); pipelines can
//! then say `module = "fastq-qc"`. A name and version, once registered, mean
//! those bytes: registering other bytes under them is refused unless forced,
//! and every registration is kept in the name's history. The registry is one
//! JSON file, changed under an exclusive lock (`registry.json.lock`) and
//! replaced atomically, so a CLI and the daemon adding at once lose nothing.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::store::digest::Digest;

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
}

/// A name's current entry and every registration of it, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedModule {
    #[serde(flatten)]
    pub entry: RegistryEntry,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<Registration>,
}

impl NamedModule {
    /// Its registrations; for a file written before history was kept, the
    /// current entry (time unknown).
    fn registrations(&self) -> Vec<Registration> {
        if !self.history.is_empty() {
            return self.history.clone();
        }
        vec![Registration {
            version: self.entry.version.clone(),
            sha256: self.entry.sha256,
            added_at: String::new(),
        }]
    }
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

    fn io_err(&self) -> impl Fn(io::Error) -> RegistryError + '_ {
        |source| RegistryError::Io {
            path: self.path.clone(),
            source,
        }
    }

    fn read(&self) -> Result<BTreeMap<String, NamedModule>, RegistryError> {
        match fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| RegistryError::Parse {
                path: self.path.clone(),
                source,
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(source) => Err(self.io_err()(source)),
        }
    }

    pub fn list(&self) -> Result<Vec<RegistryEntry>, RegistryError> {
        Ok(self.read()?.into_values().map(|m| m.entry).collect())
    }

    /// Every name with its registration history.
    pub fn list_with_history(&self) -> Result<Vec<NamedModule>, RegistryError> {
        Ok(self
            .read()?
            .into_values()
            .map(|m| NamedModule {
                history: m.registrations(),
                entry: m.entry,
            })
            .collect())
    }

    pub fn resolve(&self, name: &str) -> Result<Option<RegistryEntry>, RegistryError> {
        Ok(self.read()?.remove(name).map(|m| m.entry))
    }

    /// Makes `entry` the current module of its name and records it in the
    /// name's history; bytes other than those its name and version were
    /// ever registered with are refused ([`RegistryError::Conflict`]).
    pub fn add(&self, entry: RegistryEntry) -> Result<Added, RegistryError> {
        self.add_with(entry, false)
    }

    /// [`Registry::add`], replacing a conflicting registration when `force`
    /// (the replaced one stays in the history).
    pub fn add_with(&self, entry: RegistryEntry, force: bool) -> Result<Added, RegistryError> {
        let _lock = self.lock()?;
        let mut map = self.read()?;
        let mut history = map
            .get(&entry.name)
            .map(NamedModule::registrations)
            .unwrap_or_default();
        let clash = history
            .iter()
            .rev()
            .find(|r| r.version == entry.version && r.sha256 != entry.sha256);
        if let (Some(r), false) = (clash, force) {
            return Err(RegistryError::Conflict {
                name: entry.name,
                version: entry.version,
                registered: r.sha256,
                offered: entry.sha256,
            });
        }
        let current = map.get(&entry.name).map(|m| &m.entry);
        if current == Some(&entry) {
            return Ok(Added::Unchanged);
        }
        let outcome = if clash.is_some() {
            Added::Replaced
        } else {
            Added::New
        };
        history.push(Registration {
            version: entry.version.clone(),
            sha256: entry.sha256,
            added_at: humantime::format_rfc3339_micros(SystemTime::now()).to_string(),
        });
        map.insert(entry.name.clone(), NamedModule { entry, history });
        self.write(&map)?;
        Ok(outcome)
    }

    /// An exclusive lock on `<registry>.lock`, held while changing the file.
    fn lock(&self) -> Result<File, RegistryError> {
        let dir = self
            .path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        fs::create_dir_all(&dir).map_err(self.io_err())?;
        let mut name = self.path.file_name().unwrap_or_default().to_os_string();
        name.push(".lock");
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(name))
            .map_err(self.io_err())?;
        file.lock().map_err(self.io_err())?;
        Ok(file)
    }

    fn write(&self, map: &BTreeMap<String, NamedModule>) -> Result<(), RegistryError> {
        let json = serde_json::to_vec_pretty(map).map_err(|source| RegistryError::Parse {
            path: self.path.clone(),
            source,
        })?;
        super::atomic::write(&self.path, &[&json]).map_err(self.io_err())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(version: &str, bytes: &[u8]) -> RegistryEntry {
        RegistryEntry {
            name: "qc".into(),
            version: version.into(),
            sha256: Digest::of(bytes),
        }
    }

    #[test]
    fn a_version_keeps_its_bytes_unless_forced_and_history_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let r = Registry::new(dir.path().join("registry.json"));
        assert_eq!(r.add(entry("1.0", b"a")).unwrap(), Added::New);
        assert_eq!(r.add(entry("1.0", b"a")).unwrap(), Added::Unchanged);
        assert!(matches!(
            r.add(entry("1.0", b"b")),
            Err(RegistryError::Conflict { .. })
        ));
        assert_eq!(r.add(entry("2.0", b"c")).unwrap(), Added::New);
        // 1.0 named `a` once: it still may not name other bytes.
        assert!(r.add(entry("1.0", b"b")).is_err());
        assert_eq!(
            r.add_with(entry("1.0", b"b"), true).unwrap(),
            Added::Replaced
        );
        let named = r.list_with_history().unwrap();
        let versions: Vec<(&str, Digest)> = named[0]
            .history
            .iter()
            .map(|h| (h.version.as_str(), h.sha256))
            .collect();
        assert_eq!(
            versions,
            [
                ("1.0", Digest::of(b"a")),
                ("2.0", Digest::of(b"c")),
                ("1.0", Digest::of(b"b"))
            ]
        );
        assert_eq!(r.resolve("qc").unwrap().unwrap(), entry("1.0", b"b"));
    }

    #[test]
    fn a_file_without_history_still_reads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registry.json");
        let old = serde_json::json!({"qc": {"name": "qc", "version": "1.0", "sha256": Digest::of(b"a").to_hex()}});
        fs::write(&path, old.to_string()).unwrap();
        let r = Registry::new(&path);
        assert_eq!(r.list().unwrap(), [entry("1.0", b"a")]);
        assert!(r.add(entry("1.0", b"b")).is_err());
    }
}
