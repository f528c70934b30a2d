//! The layout of a petri data directory.
//!
//! ```text
//! <data-dir>/blobs/sha256/ab/ab12…   content-addressed artifacts (modules, inputs, outputs, logs)
//! <data-dir>/blobs/tmp/              blobs being written; never visible under sha256/
//! <data-dir>/cache/compiled/         compiled components (see `cache`)
//! <data-dir>/runs/<id>.json          records of older data dirs (read, never written:
//!                                    records are blobs now, indexed in the database)
//! <data-dir>/registry.json           module names of older data dirs (imported into the
//!                                    database's registry when it is opened; never written)
//! <data-dir>/petri.sqlite            the state database, unless `--database` names one
//! <data-dir>/keys/bundle.pem         the ed25519 key that signs bundles (`petri key generate`)
//! ```

use std::path::{Path, PathBuf};

/// Environment variable naming the data dir.
pub const DATA_DIR_ENV: &str = "PETRI_DATA_DIR";

/// Paths inside a data dir.
#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    pub fn new(root: impl Into<PathBuf>) -> DataDir {
        DataDir { root: root.into() }
    }

    /// `$PETRI_DATA_DIR`, else `.petri` in the working directory.
    pub fn default_root() -> PathBuf {
        std::env::var_os(DATA_DIR_ENV)
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(".petri"))
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
    pub fn blobs(&self) -> PathBuf {
        self.root.join("blobs")
    }
    pub fn compiled_cache(&self) -> PathBuf {
        self.root.join("cache").join("compiled")
    }
    pub fn registry(&self) -> PathBuf {
        self.root.join("registry.json")
    }
    pub fn state_db(&self) -> PathBuf {
        self.root.join("petri.sqlite")
    }
    pub fn runs(&self) -> PathBuf {
        self.root.join("runs")
    }
}
