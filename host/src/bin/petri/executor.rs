//! `petri run --executor local|slurm`: where a pipeline's stages execute, and how petri reaches Slurm.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use petri_host::executor::{Executor, SlurmConfig, SlurmExecutor};

/// Where stages execute.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// In this process.
    #[default]
    Local,
    /// Each stage attempt as a `petri exec` job on a Slurm cluster
    /// (`SLURM_CONF` from the environment); nodes must see the data dir.
    Slurm,
}

#[derive(clap::Args, Debug, Default)]
pub struct Args {
    /// Pipelines: where stages execute.
    #[arg(long, value_enum, default_value_t = Kind::Local)]
    executor: Kind,
    /// Slurm: the partition of an instrument class, as CLASS=PARTITION. Repeatable.
    #[arg(long = "slurm-partition", value_name = "CLASS=PARTITION")]
    partitions: Vec<String>,
    /// Slurm: the partition of every other class (default: the cluster's default).
    #[arg(long, value_name = "PARTITION")]
    slurm_default_partition: Option<String>,
    /// Slurm: job scripts and job output, on a filesystem every node sees
    /// (default: DATA_DIR/slurm-spool).
    #[arg(long, value_name = "DIR")]
    slurm_spool: Option<PathBuf>,
    /// Slurm: one more sbatch option for every job (`--account=lab`). Repeatable.
    #[arg(
        long = "slurm-sbatch-arg",
        value_name = "OPTION",
        allow_hyphen_values = true
    )]
    sbatch_args: Vec<String>,
    /// Slurm: only stages on instruments of this class run as jobs; the others
    /// run in this process (default: every class). Repeatable.
    #[arg(long = "slurm-class", value_name = "CLASS")]
    classes: Vec<String>,
    /// Slurm: the account every job is charged to (`--account`).
    #[arg(long, value_name = "ACCOUNT")]
    slurm_account: Option<String>,
    /// Slurm: how often each stage's job is polled with scontrol, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    slurm_poll_ms: u64,
}

impl Args {
    /// The executor these flags choose (`None`: in this process).
    pub fn build(
        &self,
        data_dir: &Path,
        database: Option<&str>,
    ) -> anyhow::Result<Option<Executor>> {
        if self.executor == Kind::Local {
            return Ok(None);
        }
        // Jobs run elsewhere: every path they see must be absolute.
        let data_dir = std::path::absolute(data_dir)
            .with_context(|| format!("data dir {}", data_dir.display()))?;
        let spool = match &self.slurm_spool {
            Some(dir) => {
                std::path::absolute(dir).with_context(|| format!("spool dir {}", dir.display()))?
            }
            None => data_dir.join("slurm-spool"),
        };
        let petri = std::env::current_exe().context("finding the petri binary for jobs")?;
        let mut config = SlurmConfig::new(petri, data_dir, spool);
        config.database = database.map(str::to_owned);
        config.partitions = self.partition_map()?;
        config.default_partition = self.slurm_default_partition.clone();
        config.slurm_conf = std::env::var_os("SLURM_CONF").map(PathBuf::from);
        config.sbatch_args = self.sbatch_args.clone();
        config.classes = (!self.classes.is_empty()).then(|| self.classes.iter().cloned().collect());
        config.account = self.slurm_account.clone();
        config.poll = std::time::Duration::from_millis(self.slurm_poll_ms.max(1));
        let slurm = SlurmExecutor::new(config).context("setting up the Slurm executor")?;
        Ok(Some(Executor::Slurm(slurm)))
    }

    fn partition_map(&self) -> anyhow::Result<BTreeMap<String, String>> {
        self.partitions
            .iter()
            .map(|p| match p.split_once('=') {
                Some((class, part)) if !class.is_empty() && !part.is_empty() => {
                    Ok((class.to_owned(), part.to_owned()))
                }
                _ => bail!("--slurm-partition `{p}`: expected CLASS=PARTITION"),
            })
            .collect()
    }
}
