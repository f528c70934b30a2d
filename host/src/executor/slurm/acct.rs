//! Slurm accounting: whether a cluster has it (`scontrol show config`) and reading `sacct -X -n -P --format=JobID,State,ExitCode`.
//!
//! A job that has left slurmctld's memory (after `MinJobAge`) is still in
//! the accounting database where `slurmdbd` runs; its state there says how
//! it ended when its report is missing (a time limit, the OOM killer, a
//! cancel), where without accounting petri can only call it vanished.

use crate::executor::slurm::show::array_indices;
use crate::executor::slurm::state::JobState;

/// Whether a cluster keeps job accounting (`AccountingStorageType`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accounting {
    /// `accounting_storage/none` (or not set): `sacct` knows nothing.
    Absent,
    /// Jobs are stored by this plugin (`accounting_storage/slurmdbd`).
    Present { storage: String },
}

impl Accounting {
    /// From the output of `scontrol show config` (`Key = Value` lines).
    pub fn of_config(config: &str) -> Accounting {
        let storage = config.lines().find_map(|line| {
            let (key, value) = line.split_once('=')?;
            (key.trim() == "AccountingStorageType").then(|| value.trim().to_owned())
        });
        match storage {
            Some(s) if !s.is_empty() && s != "accounting_storage/none" && s != "(null)" => {
                Accounting::Present { storage: s }
            }
            _ => Accounting::Absent,
        }
    }

    pub fn is_present(&self) -> bool {
        matches!(self, Accounting::Present { .. })
    }
}

/// One line of `sacct -X`: an array's task (or its pending rest), or a plain job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcctJob {
    /// The array's job id (`4` of `4_2`), or the job's own.
    pub job: u64,
    /// The array indices the line covers (`4_2`: `[2]`, `4_[0-3]`: `[0, 1, 2, 3]`);
    /// empty for a job that is not an array's.
    pub array_tasks: Vec<u32>,
    pub state: JobState,
    /// `ExitCode=code:signal`.
    pub exit_code: i32,
    pub signal: i32,
}

/// Parses `sacct -X -n -P --format=JobID,State,ExitCode`: one [`AcctJob`]
/// per non-empty line; `Err` names a line that is not one.
pub fn parse(output: &str) -> Result<Vec<AcctJob>, String> {
    output
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| line_of(line).ok_or_else(|| format!("not a job line: {line}")))
        .collect()
}

fn line_of(line: &str) -> Option<AcctJob> {
    let mut cols = line.trim().split('|');
    let (id, state, exit) = (cols.next()?, cols.next()?, cols.next()?);
    let (job, array_tasks) = job_id(id)?;
    let (code, signal) = exit.split_once(':')?;
    Some(AcctJob {
        job,
        array_tasks,
        state: state.parse().ok()?,
        exit_code: code.parse().ok()?,
        signal: signal.parse().ok()?,
    })
}

/// `7` → (7, []), `4_2` → (4, [2]), `4_[0-3%2]` → (4, [0, 1, 2, 3]).
fn job_id(id: &str) -> Option<(u64, Vec<u32>)> {
    let Some((job, task)) = id.split_once('_') else {
        return Some((id.parse().ok()?, Vec::new()));
    };
    let spec = task
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(task);
    Some((job.parse().ok()?, array_indices(spec)?))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    // As slurm-wlm 22.05.8's sacct prints them for a two-task array whose
    // first task timed out and second was cancelled, a pending rest, and a plain job.
    const LINES: &str = "\
12_0|TIMEOUT|0:0
12_1|CANCELLED by 0|0:15
12_[2-4%2]|PENDING|0:0
13|OUT_OF_MEMORY|0:125
14_3|FAILED|3:0
";

    #[test]
    fn lines_become_jobs() {
        let jobs = parse(LINES).unwrap();
        assert_eq!(jobs.len(), 5);
        assert_eq!(
            jobs[0],
            AcctJob {
                job: 12,
                array_tasks: vec![0],
                state: JobState::Timeout,
                exit_code: 0,
                signal: 0,
            }
        );
        assert_eq!(jobs[1].state, JobState::Cancelled);
        assert_eq!((jobs[1].exit_code, jobs[1].signal), (0, 15));
        assert_eq!(jobs[2].array_tasks, vec![2, 3, 4]);
        assert_eq!(jobs[2].state, JobState::Pending);
        assert_eq!((jobs[3].job, jobs[3].array_tasks.len()), (13, 0));
        assert_eq!(jobs[3].state, JobState::OutOfMemory);
        assert_eq!((jobs[4].job, jobs[4].exit_code), (14, 3));
        assert_eq!(parse("\n").unwrap(), Vec::new());
    }

    #[test]
    fn lines_that_are_not_jobs_are_refused() {
        for bad in [
            "sacct: error: Problem talking to the database",
            "12_x|FAILED|1:0",
            "12_0|FAILED",
            "12_0|FAILED|one:0",
            "abc|COMPLETED|0:0",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn accounting_is_read_from_the_config() {
        let with = "Configuration data as of 2026-11-28T13:20:00\n\
                    AccountingStorageHost   = 127.0.0.1\n\
                    AccountingStorageType   = accounting_storage/slurmdbd\n\
                    MinJobAge               = 2 sec\n";
        assert_eq!(
            Accounting::of_config(with),
            Accounting::Present {
                storage: "accounting_storage/slurmdbd".into()
            }
        );
        assert!(Accounting::of_config(with).is_present());
        let without = "AccountingStorageType   = accounting_storage/none\nMinJobAge = 600 sec\n";
        assert_eq!(Accounting::of_config(without), Accounting::Absent);
        assert_eq!(Accounting::of_config(""), Accounting::Absent);
    }
}
