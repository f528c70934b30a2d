//! The single-node Slurm cluster of a test binary (tests/scripts/slurm.sh): started once, shared by its tests.
//! Included with `#[path]` by the test crates that need it, like `postgres.rs`.
//!
//! slurmctld and slurmd take free loopback ports, so clusters of other test
//! binaries (or other checkouts) on the machine do not meet. The cluster
//! lives in its own /tmp directory and is owned by this test process: the
//! script's watcher destroys it once the process has exited (statics are
//! never dropped, so no `Drop` could).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

pub struct Slurm {
    /// Its `slurm.conf`: set `SLURM_CONF` to it for every Slurm command.
    pub conf: PathBuf,
}

/// The cluster of this test process, started on first use.
pub fn shared() -> &'static Slurm {
    static SLURM: OnceLock<Slurm> = OnceLock::new();
    SLURM.get_or_init(|| start(false))
}

/// A second cluster of this test process, for tests that take its node down
/// (on the shared one, the other tests' jobs would fail with it).
#[allow(dead_code)]
pub fn expendable() -> &'static Slurm {
    static SLURM: OnceLock<Slurm> = OnceLock::new();
    SLURM.get_or_init(|| start(false))
}

/// A cluster with accounting (slurmdbd and its MariaDB, `MinJobAge=2`), for
/// tests of jobs that slurmctld has forgotten but `sacct` knows; the others
/// prove petri needs no accounting.
#[allow(dead_code)]
pub fn accounted() -> &'static Slurm {
    static SLURM: OnceLock<Slurm> = OnceLock::new();
    SLURM.get_or_init(|| start(true))
}

fn start(accounting: bool) -> Slurm {
    let dir = tempfile::Builder::new()
        .prefix("petri-slurm")
        .tempdir_in("/tmp")
        .unwrap()
        .keep();
    let out = Command::new("bash")
        .arg(script())
        .arg(&dir)
        .arg("start")
        .env("PETRI_SLURM_OWNER", std::process::id().to_string())
        .env("PETRI_SLURM_ACCOUNTING", if accounting { "1" } else { "0" })
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "starting Slurm: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Its logs stay in `dir` while it runs (slurmctld.log, slurmd.log).
    let line = String::from_utf8(out.stdout).unwrap();
    let conf = line
        .trim()
        .strip_prefix("SLURM_CONF=")
        .unwrap_or_else(|| panic!("slurm.sh printed `{line}`"))
        .into();
    Slurm { conf }
}

impl Slurm {
    /// A Slurm command (`scontrol`, `squeue`, …) against this cluster.
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        cmd.env("SLURM_CONF", &self.conf);
        cmd
    }
}

/// The script, from either crate (both sit one level under the workspace root).
fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/scripts/slurm.sh")
}
