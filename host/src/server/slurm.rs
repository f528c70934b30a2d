//! The daemon's executor: `executor = "slurm"` and the `[slurm]` table that says how its runs reach the cluster.
//!
//! ```toml
//! executor = "slurm"                 # default "local": stages run in the daemon
//!
//! [slurm]
//! petri = "/shared/bin/petri"        # default: this daemon's own binary
//! spool = "/shared/petri/spool"      # default: <data-dir>/slurm-spool
//! slurm-conf = "/etc/slurm/slurm.conf"   # default: SLURM_CONF of the environment
//! default-partition = "compute"
//! sbatch-args = ["--account=lab"]
//! poll-ms = 1000
//! max-array = 1000
//! classes = ["sequencer"]            # default: every class; others run in the daemon
//!
//! [slurm.partitions]                 # instrument class → partition
//! sequencer = "seq"
//!
//! [slurm.accounts]                   # group → account its jobs are charged to
//! genomics = "genomics-lab"
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::executor::{Executor, SlurmConfig, SlurmError, SlurmExecutor};

/// Where the daemon's runs execute their stages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExecutorKind {
    /// In the daemon's process.
    #[default]
    Local,
    /// Each stage attempt as a `petri exec` job on a Slurm cluster.
    Slurm,
}

/// The `[slurm]` table.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct SlurmSection {
    /// The `petri` binary at a path every node sees (default: this binary).
    pub petri: Option<PathBuf>,
    /// Job scripts and output on a shared filesystem (default: `<data-dir>/slurm-spool`).
    pub spool: Option<PathBuf>,
    /// `SLURM_CONF` for every Slurm command (default: the environment's).
    pub slurm_conf: Option<PathBuf>,
    /// Instrument class → partition.
    pub partitions: BTreeMap<String, String>,
    /// The partition of every other class (default: the cluster's).
    pub default_partition: Option<String>,
    /// More sbatch options for every job.
    pub sbatch_args: Vec<String>,
    /// Only stages on instruments of these classes run as jobs; the others
    /// run in the daemon (`None`: every class).
    pub classes: Option<BTreeSet<String>>,
    /// Group → the account its jobs are charged to (`--account`); a group
    /// not listed: as `sbatch-args` say.
    pub accounts: BTreeMap<String, String>,
    /// How often jobs are polled with `scontrol`.
    pub poll_ms: u64,
    /// Most tasks in one job array.
    pub max_array: usize,
}

impl Default for SlurmSection {
    fn default() -> SlurmSection {
        SlurmSection {
            petri: None,
            spool: None,
            slurm_conf: None,
            partitions: BTreeMap::new(),
            default_partition: None,
            sbatch_args: Vec::new(),
            classes: None,
            accounts: BTreeMap::new(),
            poll_ms: 1000,
            max_array: 1000,
        }
    }
}

impl SlurmSection {
    /// The executor of `kind` for a daemon on `data_dir` and `database`
    /// (`None`: local). Paths are made absolute: jobs run elsewhere.
    pub fn executor(
        &self,
        kind: ExecutorKind,
        data_dir: &Path,
        database: Option<&str>,
    ) -> Result<Option<Executor>, SlurmError> {
        if kind == ExecutorKind::Local {
            return Ok(None);
        }
        let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_owned());
        let data_dir = absolute(data_dir);
        let petri = match &self.petri {
            Some(p) => p.clone(),
            None => std::env::current_exe().map_err(|source| SlurmError::Spawn {
                command: "petri (this binary)",
                source,
            })?,
        };
        let spool = self
            .spool
            .as_deref()
            .map_or_else(|| data_dir.join("slurm-spool"), absolute);
        let mut config = SlurmConfig::new(petri, data_dir, spool);
        config.database = database.map(str::to_owned);
        config.partitions = self.partitions.clone();
        config.default_partition = self.default_partition.clone();
        config.slurm_conf = self
            .slurm_conf
            .clone()
            .or_else(|| std::env::var_os("SLURM_CONF").map(PathBuf::from));
        config.sbatch_args = self.sbatch_args.clone();
        config.classes = self.classes.clone();
        config.poll = Duration::from_millis(self.poll_ms.max(1));
        config.max_array = self.max_array.max(1);
        Ok(Some(Executor::Slurm(SlurmExecutor::new(config)?)))
    }
}

/// The executor of a run of `group`: on Slurm, its jobs charged to the
/// group's account (`[slurm.accounts]`).
pub fn for_group(
    executor: &Option<Executor>,
    section: &SlurmSection,
    group: &str,
) -> Option<Executor> {
    match executor {
        Some(Executor::Slurm(slurm)) => Some(Executor::Slurm(
            slurm.charged_to(section.accounts.get(group).map(String::as_str)),
        )),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_table_reads_and_refuses_unknown_keys() {
        let s: SlurmSection = toml::from_str(
            "default-partition = \"compute\"\npoll-ms = 200\nclasses = [\"sequencer\"]\n\
             [partitions]\nsequencer = \"seq\"\n[accounts]\nlab-a = \"acct-a\"\n",
        )
        .unwrap();
        assert_eq!(s.default_partition.as_deref(), Some("compute"));
        assert_eq!(s.poll_ms, 200);
        assert_eq!(s.max_array, 1000);
        assert_eq!(s.partitions["sequencer"], "seq");
        assert_eq!(s.accounts["lab-a"], "acct-a");
        assert!(s.classes.as_ref().unwrap().contains("sequencer"));
        assert!(toml::from_str::<SlurmSection>("partition = \"x\"\n").is_err());
    }
}
