//! Finding jobs by their name: `squeue --name` lists the arrays Slurm still knows under an executor's job name, and each array's script (in the spool, written before `sbatch`) says which task each index runs.
//!
//! This is how a job survives its owner dying between `sbatch` and the row
//! that records its id: Slurm is the record. A run names its arrays after
//! itself, so the resumed run asks Slurm for them instead of submitting its
//! tasks again.

use std::collections::BTreeSet;
use std::path::Path;

use crate::store::digest::Digest;

use super::{SlurmError, SlurmExecutor, SlurmJob, checked};

impl SlurmExecutor {
    /// Every array task Slurm knows (any state, ended ones until
    /// `MinJobAge`) in an array named as this executor's jobs, oldest array
    /// first, with the task its script gives its index. Empty for an
    /// executor without a job name; an array whose script is gone or is not
    /// petri's is skipped.
    pub async fn named_jobs(&self) -> Result<Vec<SlurmJob>, SlurmError> {
        let Some(name) = &self.config.job_name else {
            return Ok(Vec::new());
        };
        let mut cmd = self.command("squeue");
        cmd.args([
            "--noheader",
            "--states=all",
            &format!("--name={name}"),
            "--format=%F|%o",
        ]);
        let out = checked("squeue", self.output("squeue", cmd).await?)?;
        let arrays: BTreeSet<(u64, String)> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| {
                let (id, script) = l.trim().split_once('|')?;
                Some((id.parse().ok()?, script.to_owned()))
            })
            .collect();
        let mut jobs = Vec::new();
        for (array_job, script) in arrays {
            let Ok(text) = std::fs::read_to_string(Path::new(&script)) else {
                continue;
            };
            jobs.extend(
                script_tasks(&text)
                    .into_iter()
                    .enumerate()
                    .map(|(i, task)| SlurmJob {
                        task,
                        array_job,
                        index: u32::try_from(i).unwrap_or(u32::MAX),
                    }),
            );
        }
        Ok(jobs)
    }
}

/// The tasks an array script lists (`tasks=(` … `)`), in index order; empty
/// if it lists none or any line is not a digest.
pub fn script_tasks(script: &str) -> Vec<Digest> {
    let listed: Option<Vec<Digest>> = script
        .lines()
        .skip_while(|l| *l != "tasks=(")
        .skip(1)
        .take_while(|l| *l != ")")
        .map(|l| l.parse().ok())
        .collect();
    listed.unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::path::PathBuf;

    use super::super::SlurmConfig;
    use super::*;

    #[test]
    fn an_arrays_script_gives_its_tasks_back_in_index_order() {
        let config = SlurmConfig::new("/p".into(), "/d".into(), PathBuf::from("/s"));
        let ex = SlurmExecutor::unchecked(config);
        let tasks = [Digest::of(b"a"), Digest::of(b"b"), Digest::of(b"c")];
        assert_eq!(script_tasks(&ex.script(&tasks)), tasks);
        assert!(script_tasks("#!/bin/bash\nsleep 30\n").is_empty());
        assert!(script_tasks("tasks=(\nnot-a-digest\n)\n").is_empty());
    }
}
