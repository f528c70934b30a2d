//! Reading `scontrol show job -o`: one line of `Key=Value` fields per job (per array task once split).

use std::collections::BTreeMap;

use crate::executor::slurm::state::JobState;

/// One job (or array task, or the pending rest of an array) as `scontrol` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobInfo {
    pub job_id: u64,
    /// The array's job id (`ArrayJobId`), for a job of an array.
    pub array_job_id: Option<u64>,
    /// The array indices this line covers (`ArrayTaskId`: one index once a
    /// task is split off, a set such as `0-3,7%2` for the pending rest).
    pub array_tasks: Vec<u32>,
    pub state: JobState,
    pub reason: String,
    /// `ExitCode=code:signal`.
    pub exit_code: i32,
    pub signal: i32,
    /// Every field as printed (`Partition`, `Nice`, `TimeLimit`, `NumCPUs`, …).
    pub fields: BTreeMap<String, String>,
}

impl JobInfo {
    pub fn field(&self, key: &str) -> Option<&str> {
        self.fields.get(key).map(String::as_str)
    }
}

/// Splits one `-o` line into its fields. A value may contain spaces (a
/// `Command=` or `Reason=` text): a word without `=` belongs to the value before it.
pub fn fields(line: &str) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    let mut last: Option<String> = None;
    for word in line.split_whitespace() {
        match word.split_once('=') {
            Some((k, v))
                if !k.is_empty()
                    && k.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "/:_".contains(c)) =>
            {
                out.insert(k.to_owned(), v.to_owned());
                last = Some(k.to_owned());
            }
            _ => {
                if let Some(v) = last.as_ref().and_then(|k| out.get_mut(k)) {
                    v.push(' ');
                    v.push_str(word);
                }
            }
        }
    }
    out
}

/// The indices of an array spec: `3`, `0-7`, `0-9:3`, `1,4-5`, `0-99%4` (the
/// throttle is not an index). `None` if it is not one.
pub fn array_indices(spec: &str) -> Option<Vec<u32>> {
    let spec = spec.split('%').next().unwrap_or(spec);
    let mut out = Vec::new();
    for part in spec.split(',') {
        let (range, step) = match part.split_once(':') {
            Some((r, s)) => (r, s.parse::<u32>().ok().filter(|s| *s > 0)?),
            None => (part, 1),
        };
        let (lo, hi) = match range.split_once('-') {
            Some((a, b)) => (a.parse::<u32>().ok()?, b.parse::<u32>().ok()?),
            None => {
                let i = range.parse::<u32>().ok()?;
                (i, i)
            }
        };
        if hi < lo || hi - lo > 1_000_000 {
            return None;
        }
        out.extend((lo..=hi).step_by(step as usize));
    }
    Some(out)
}

/// `ExitCode=2:0` → (2, 0).
fn exit_code(s: &str) -> (i32, i32) {
    let (code, signal) = s.split_once(':').unwrap_or((s, "0"));
    (code.parse().unwrap_or(-1), signal.parse().unwrap_or(0))
}

/// Parses the output of `scontrol show job -o`: one [`JobInfo`] per line
/// that has a `JobId` and a `JobState`; `Err` names a line that does not.
pub fn parse(output: &str) -> Result<Vec<JobInfo>, String> {
    let mut jobs = Vec::new();
    for line in output.lines().filter(|l| !l.trim().is_empty()) {
        let fields = fields(line);
        let job_id = fields.get("JobId").and_then(|v| v.parse().ok());
        let state = fields.get("JobState").map(|s| s.parse::<JobState>());
        let (Some(job_id), Some(Ok(state))) = (job_id, state) else {
            return Err(format!("not a job line: {line}"));
        };
        let array_job_id = fields.get("ArrayJobId").and_then(|v| v.parse().ok());
        let array_tasks = match (array_job_id, fields.get("ArrayTaskId")) {
            (Some(_), Some(spec)) => {
                array_indices(spec).ok_or_else(|| format!("ArrayTaskId `{spec}`: {line}"))?
            }
            _ => Vec::new(),
        };
        let (exit_code, signal) = fields.get("ExitCode").map_or((0, 0), |s| exit_code(s));
        jobs.push(JobInfo {
            job_id,
            array_job_id,
            array_tasks,
            state,
            reason: fields.get("Reason").cloned().unwrap_or_default(),
            exit_code,
            signal,
            fields,
        });
    }
    Ok(jobs)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    // Lines as slurm-wlm 22.05.8 prints them (shortened).
    const PENDING_ARRAY: &str = "JobId=4 ArrayJobId=4 ArrayTaskId=0-2 JobName=petri UserId=root(0) GroupId=root(0) Priority=0 Nice=5 JobState=PENDING Reason=JobHeldUser Dependency=(null) ExitCode=0:0 TimeLimit=00:03:00 Partition=sequencer Command=/tmp/a b.sh";
    const DONE_TASK: &str = "JobId=7 ArrayJobId=4 ArrayTaskId=2 JobName=petri JobState=FAILED Reason=NonZeroExitCode ExitCode=12:0 Partition=compute";
    const CANCELLED: &str = "JobId=9 JobName=wrap JobState=CANCELLED Reason=None ExitCode=0:15";

    #[test]
    fn lines_become_jobs() {
        let jobs = parse(&format!("{PENDING_ARRAY}\n{DONE_TASK}\n\n{CANCELLED}\n")).unwrap();
        assert_eq!(jobs.len(), 3);
        assert_eq!(jobs[0].array_job_id, Some(4));
        assert_eq!(jobs[0].array_tasks, vec![0, 1, 2]);
        assert_eq!(jobs[0].state, JobState::Pending);
        assert_eq!(jobs[0].reason, "JobHeldUser");
        assert_eq!(jobs[0].field("Command"), Some("/tmp/a b.sh"));
        assert_eq!(jobs[0].field("Nice"), Some("5"));
        assert_eq!(jobs[1].job_id, 7);
        assert_eq!(jobs[1].array_tasks, vec![2]);
        assert_eq!((jobs[1].exit_code, jobs[1].signal), (12, 0));
        assert_eq!(jobs[2].array_job_id, None);
        assert!(jobs[2].array_tasks.is_empty());
        assert_eq!((jobs[2].exit_code, jobs[2].signal), (0, 15));
        assert!(parse("slurm_load_jobs error: Invalid job id specified").is_err());
    }

    #[test]
    fn array_specs() {
        assert_eq!(array_indices("3"), Some(vec![3]));
        assert_eq!(array_indices("0-3"), Some(vec![0, 1, 2, 3]));
        assert_eq!(array_indices("1,4-5"), Some(vec![1, 4, 5]));
        assert_eq!(array_indices("0-9:3"), Some(vec![0, 3, 6, 9]));
        assert_eq!(array_indices("0-3%2"), Some(vec![0, 1, 2, 3]));
        assert_eq!(array_indices("3-1"), None);
        assert_eq!(array_indices("x"), None);
        assert_eq!(array_indices("0-4:0"), None);
    }
}
