//! A throwaway PostgreSQL cluster for a test (tests/scripts/postgres.sh), stopped when dropped.
//! Shared by `tests/all` and `host/tests/cli` (each includes this file with `#[path]`).

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Postgres {
    dir: tempfile::TempDir,
    /// `postgres://petri@127.0.0.1:PORT/petri`.
    pub url: String,
}

impl Postgres {
    pub fn start() -> Postgres {
        // A directory of its own: as root, the script hands it to user postgres.
        let dir = tempfile::Builder::new()
            .prefix("petri-pg")
            .tempdir_in("/tmp")
            .unwrap();
        let out = Command::new("bash")
            .arg(script())
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "starting PostgreSQL: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let url = String::from_utf8(out.stdout).unwrap().trim().to_owned();
        Postgres { dir, url }
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(script())
            .arg(self.dir.path())
            .arg("stop")
            .status();
    }
}

/// The script, from either crate (both sit one level under the workspace root).
fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/scripts/postgres.sh")
}
