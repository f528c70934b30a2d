//! The Slurm executor: tasks become `petri exec` jobs submitted with `sbatch`, tracked with `scontrol`, cancelled with `scancel`.
//!
//! A batch of tasks with the same partition, resources and nice value is one
//! job array: its script lists the task digests and `$SLURM_ARRAY_TASK_ID`
//! picks one, so a fan-out over a thousand samples is one `sbatch`. Each
//! array task runs `petri --data-dir D exec TASK --json` on a node that sees
//! the shared data dir (and database); its stdout (`SPOOL/%A_%a.out`) ends
//! with the [`ExecReport`] naming the sealed record.
//!
//! Jobs are tracked with `scontrol show job -o ARRAY_JOB_ID`, which also shows
//! ended jobs (until `MinJobAge`); no `sacct` is needed, so clusters without
//! accounting work. The waiters of one array's tasks share one such call per
//! poll (`shared.rs`), however many samples the array fans out over. Every end state maps to a [`TaskOutcome`]
//! (see `state.rs`). Jobs are submitted with `--no-requeue`: a job lost with
//! its node is petri's to run again ([`Recovery::Requeue`]), so retries are
//! counted in one place.
//!
//! A job slurmctld no longer knows is read from its report in the spool.
//! Without one, where the cluster keeps accounting (`AccountingStorageType`
//! in `scontrol show config`, asked once per executor and shared by its
//! clones), `sacct -X -n -P -j ARRAY_JOB_ID` (one call per array) says how
//! it ended, mapped like a state `scontrol` shows (`acct.rs`); a job neither
//! knows is [`LostCause::Vanished`]. A failing `sacct` counts as no answer.

pub mod acct;
pub mod find;
pub mod priority;
pub mod resources;
pub mod shared;
pub mod show;
pub mod state;

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use tokio::process::Command;

use crate::executor::exec::ExecReport;
use crate::executor::outcome::{LostCause, Recovery, TaskOutcome};
use crate::executor::task::Task;
use crate::store::digest::Digest;
use petri_schedule::{Priority, Span};

use self::acct::{Accounting, AcctJob};
use self::resources::Resources;
use self::shared::SharedShows;
use self::show::JobInfo;
use self::state::JobState;

/// How petri reaches a Slurm cluster.
#[derive(Debug, Clone)]
pub struct SlurmConfig {
    /// The `petri` binary, at a path every node sees.
    pub petri: PathBuf,
    /// The data dir, at a path every node sees (a shared filesystem).
    pub data_dir: PathBuf,
    /// The database every node uses (`postgres://…` on a cluster); `None`:
    /// the data dir's SQLite file. Handed to jobs through the environment
    /// (`PETRI_DATABASE_URL`, exported by sbatch), never in a script.
    pub database: Option<String>,
    /// Job scripts and job output (`%A_%a.out`, `.err`), on a shared filesystem.
    pub spool: PathBuf,
    /// Instrument class → partition.
    pub partitions: BTreeMap<String, String>,
    /// The partition of a task without a class or of a class not in
    /// `partitions`; `None`: the cluster's default partition.
    pub default_partition: Option<String>,
    /// `SLURM_CONF` for every Slurm command; `None`: the environment's.
    pub slurm_conf: Option<PathBuf>,
    /// More `sbatch` options for every job (`--account=…`, `--qos=…`).
    pub sbatch_args: Vec<String>,
    /// The instrument classes whose stages run on Slurm; `None`: every
    /// class. A stage of any other class runs in the submitting process.
    pub classes: Option<BTreeSet<String>>,
    /// The account every job is charged to (`--account`, given after
    /// `sbatch_args`, so it wins); the daemon sets it per group.
    pub account: Option<String>,
    /// The name (`--job-name`) of every array; `None`: `petri-` and the
    /// first task's digest. A run names its jobs after itself, so a restarted
    /// owner finds them ([`SlurmExecutor::named_jobs`]).
    pub job_name: Option<String>,
    /// How often [`SlurmExecutor::wait`] asks `scontrol`.
    pub poll: Duration,
    /// Most tasks in one job array (Slurm's `MaxArraySize` is 1001 by
    /// default, so indices 0–1000); a larger group is several arrays.
    pub max_array: usize,
}

impl SlurmConfig {
    /// A configuration with no partition map, no extra options and a 1 s poll.
    pub fn new(petri: PathBuf, data_dir: PathBuf, spool: PathBuf) -> SlurmConfig {
        SlurmConfig {
            petri,
            data_dir,
            database: None,
            spool,
            partitions: BTreeMap::new(),
            default_partition: None,
            slurm_conf: None,
            sbatch_args: Vec::new(),
            classes: None,
            account: None,
            job_name: None,
            poll: Duration::from_secs(1),
            max_array: 1000,
        }
    }
}

/// A task to submit, with what decides where and in which order it runs.
#[derive(Debug, Clone)]
pub struct Submission {
    pub task: Digest,
    pub resources: Resources,
    /// The stage's instrument class (picks the partition).
    pub class: Option<String>,
    pub priority: Priority,
    /// Effective slack from the scheduler (`None`: no deadline).
    pub slack: Option<Span>,
}

impl Submission {
    /// Task `digest` (which is `task`), normal priority, no class.
    pub fn new(digest: Digest, task: &Task) -> Submission {
        Submission {
            task: digest,
            resources: Resources::of(&task.limits),
            class: None,
            priority: Priority::Normal,
            slack: None,
        }
    }
}

/// One submitted task: array task `index` of job `array_job`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SlurmJob {
    pub task: Digest,
    pub array_job: u64,
    pub index: u32,
}

impl SlurmJob {
    /// Slurm's name for it: `ARRAYJOB_INDEX`.
    pub fn id(&self) -> String {
        format!("{}_{}", self.array_job, self.index)
    }
}

/// What Slurm says about a submitted task now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobStatus {
    /// Known to Slurm in this state (`exit_code`/`signal` from `ExitCode=`).
    Known {
        state: JobState,
        reason: String,
        exit_code: i32,
        signal: i32,
        /// `Nice=`, when shown.
        nice: Option<u32>,
    },
    /// Slurm no longer knows the job (purged after `MinJobAge`).
    Gone,
    /// slurmctld no longer knows the job; its accounting (`sacct`) shows it
    /// in this state (`exit_code`/`signal` from `ExitCode`).
    Accounted {
        state: JobState,
        exit_code: i32,
        signal: i32,
    },
}

/// What one poll tells of a job.
enum Seen {
    /// Not ended yet.
    Going,
    /// Ended for good.
    Ended(SlurmEnd),
    /// Ended, but what is known may still change: its report not visible
    /// yet (a shared filesystem's attribute cache), or its accounting not
    /// final yet (slurmdbd behind slurmctld). Taken after [`REPORT_POLLS`] polls.
    Settling(SlurmEnd),
}

/// A task that ended on Slurm.
#[derive(Debug, Clone)]
pub struct SlurmEnd {
    pub job: SlurmJob,
    pub outcome: TaskOutcome,
    /// The last Slurm state seen (`None`: the job was already gone).
    pub state: Option<JobState>,
    /// What `petri exec` reported, when it ran to its end.
    pub report: Option<ExecReport>,
}

impl SlurmEnd {
    pub fn recovery(&self) -> Recovery {
        self.outcome.recovery()
    }
}

/// Errors talking to Slurm.
#[derive(Debug, thiserror::Error)]
pub enum SlurmError {
    #[error("running {command}: {source} (is slurm-wlm installed and on PATH?)")]
    Spawn {
        command: &'static str,
        source: io::Error,
    },
    #[error("{command} failed ({status}): {stderr}")]
    Failed {
        command: &'static str,
        status: String,
        stderr: String,
    },
    #[error("sbatch printed `{0}`, not a job id")]
    JobId(String),
    #[error("scontrol show job: {0}")]
    Parse(String),
    #[error("sacct: {0}")]
    Acct(String),
    /// A shared `scontrol show job` failed (its error, as text).
    #[error("{0}")]
    Shown(String),
    #[error("spool {path}: {source}")]
    Spool { path: PathBuf, source: io::Error },
    #[error("{0} is not an absolute path (jobs run elsewhere)")]
    Relative(PathBuf),
}

/// Submits tasks to Slurm and follows them to their end.
#[derive(Debug, Clone)]
pub struct SlurmExecutor {
    /// Shared: every run and stage of a daemon holds a clone.
    config: std::sync::Arc<SlurmConfig>,
    /// The latest `scontrol show job` of each array, shared by every clone
    /// (and every copy charged to another account or named for another run).
    shows: std::sync::Arc<SharedShows>,
    /// Whether the cluster keeps accounting, once known (shared like `shows`).
    accounting: std::sync::Arc<tokio::sync::OnceCell<Accounting>>,
    /// The latest `sacct` of each array with forgotten tasks (shared like `shows`).
    accts: std::sync::Arc<SharedShows<Vec<AcctJob>>>,
}

impl SlurmExecutor {
    /// Checks the paths and creates the spool directory.
    pub fn new(config: SlurmConfig) -> Result<SlurmExecutor, SlurmError> {
        for path in [&config.petri, &config.data_dir, &config.spool] {
            if !path.is_absolute() {
                return Err(SlurmError::Relative(path.clone()));
            }
        }
        std::fs::create_dir_all(&config.spool).map_err(|source| SlurmError::Spool {
            path: config.spool.clone(),
            source,
        })?;
        Ok(SlurmExecutor::unchecked(config))
    }

    /// An executor of `config` sharing nothing with another (no path checks).
    fn unchecked(config: SlurmConfig) -> SlurmExecutor {
        SlurmExecutor {
            config: config.into(),
            shows: Default::default(),
            accounting: Default::default(),
            accts: Default::default(),
        }
    }

    pub fn config(&self) -> &SlurmConfig {
        &self.config
    }

    /// Whether a stage on an instrument of `class` runs on Slurm (else in this process).
    pub fn runs_class(&self, class: &str) -> bool {
        self.config
            .classes
            .as_ref()
            .is_none_or(|c| c.contains(class))
    }

    /// This executor with its jobs charged to `account` (`None`: as configured).
    pub fn charged_to(&self, account: Option<&str>) -> SlurmExecutor {
        let mut config = SlurmConfig::clone(&self.config);
        if let Some(a) = account {
            config.account = Some(a.to_owned());
        }
        SlurmExecutor {
            config: config.into(),
            shows: self.shows.clone(),
            accounting: self.accounting.clone(),
            accts: self.accts.clone(),
        }
    }

    /// This executor with its arrays named `name` (`--job-name`).
    pub fn named(&self, name: &str) -> SlurmExecutor {
        let mut config = SlurmConfig::clone(&self.config);
        config.job_name = Some(name.to_owned());
        SlurmExecutor {
            config: config.into(),
            shows: self.shows.clone(),
            accounting: self.accounting.clone(),
            accts: self.accts.clone(),
        }
    }

    /// The partition for a task of `class`.
    pub fn partition(&self, class: Option<&str>) -> Option<&str> {
        class
            .and_then(|c| self.config.partitions.get(c))
            .or(self.config.default_partition.as_ref())
            .map(String::as_str)
    }

    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        if let Some(conf) = &self.config.slurm_conf {
            cmd.env("SLURM_CONF", conf);
        }
        cmd.kill_on_drop(true);
        cmd
    }

    async fn output(&self, command: &'static str, mut cmd: Command) -> Result<Output, SlurmError> {
        cmd.output()
            .await
            .map_err(|source| SlurmError::Spawn { command, source })
    }

    /// Submits `batch`: one job array per (partition, resources, nice), in
    /// order of first appearance (groups over `max_array` tasks are split).
    /// Returns one job per submission, in order.
    pub async fn submit(&self, batch: &[Submission]) -> Result<Vec<SlurmJob>, SlurmError> {
        type Key = (Option<String>, Resources, u32);
        let mut groups: Vec<(Key, Vec<usize>)> = Vec::new();
        for (i, s) in batch.iter().enumerate() {
            let key = (
                self.partition(s.class.as_deref()).map(str::to_owned),
                s.resources,
                priority::nice(s.priority, s.slack),
            );
            match groups.iter_mut().find(|(k, _)| *k == key) {
                Some((_, members)) => members.push(i),
                None => groups.push((key, vec![i])),
            }
        }
        let mut jobs: Vec<Option<SlurmJob>> = vec![None; batch.len()];
        let chunk = self.config.max_array.max(1);
        let arrays = groups.into_iter().flat_map(|(key, members)| {
            members
                .chunks(chunk)
                .map(|c| (key.clone(), c.to_vec()))
                .collect::<Vec<_>>()
        });
        for ((partition, resources, nice), members) in arrays {
            let tasks: Vec<Digest> = members.iter().map(|&i| batch[i].task).collect();
            let array_job = self
                .submit_array(&tasks, partition.as_deref(), resources, nice)
                .await?;
            for (index, &i) in members.iter().enumerate() {
                jobs[i] = Some(SlurmJob {
                    task: batch[i].task,
                    array_job,
                    index: u32::try_from(index).unwrap_or(u32::MAX),
                });
            }
        }
        Ok(jobs.into_iter().flatten().collect())
    }

    /// Writes the array's script and submits it; returns the array job id.
    async fn submit_array(
        &self,
        tasks: &[Digest],
        partition: Option<&str>,
        resources: Resources,
        nice: u32,
    ) -> Result<u64, SlurmError> {
        let script = self
            .config
            .spool
            .join(format!("petri-{}.sh", uuid::Uuid::now_v7()));
        std::fs::write(&script, self.script(tasks)).map_err(|source| SlurmError::Spool {
            path: script.clone(),
            source,
        })?;
        let spool = &self.config.spool;
        let name = match &self.config.job_name {
            Some(name) => name.clone(),
            None => format!("petri-{}", short(&tasks[0])),
        };
        let mut cmd = self.command("sbatch");
        cmd.arg("--parsable")
            .arg(format!("--array=0-{}", tasks.len().saturating_sub(1)))
            .arg(format!("--job-name={name}"))
            .arg(format!("--output={}", spool.join("%A_%a.out").display()))
            .arg(format!("--error={}", spool.join("%A_%a.err").display()))
            .arg(format!("--chdir={}", spool.display()))
            .arg(format!("--nice={nice}"))
            .arg("--no-requeue")
            .args(resources.sbatch_args());
        if let Some(p) = partition {
            cmd.arg(format!("--partition={p}"));
        }
        cmd.args(&self.config.sbatch_args);
        if let Some(a) = &self.config.account {
            cmd.arg(format!("--account={a}"));
        }
        cmd.arg(&script);
        if let Some(url) = &self.config.database {
            cmd.env("PETRI_DATABASE_URL", url);
        }
        let out = checked("sbatch", self.output("sbatch", cmd).await?)?;
        let text = String::from_utf8_lossy(&out.stdout);
        let id = text.trim().split(';').next().unwrap_or("");
        id.parse()
            .map_err(|_| SlurmError::JobId(text.trim().to_owned()))
    }

    /// The batch script of an array over `tasks`.
    fn script(&self, tasks: &[Digest]) -> String {
        let mut s = String::from(
            "#!/bin/bash\n# petri: one task per array index (docs/slurm.md)\ntasks=(\n",
        );
        for t in tasks {
            s.push_str(&t.to_hex());
            s.push('\n');
        }
        s.push_str(")\n");
        s.push_str(&format!(
            "exec {} --data-dir {} exec \"${{tasks[$SLURM_ARRAY_TASK_ID]}}\" --json\n",
            shell_quote(&self.config.petri),
            shell_quote(&self.config.data_dir),
        ));
        s
    }

    /// `scontrol show job -o` for one array (every task, ended ones until `MinJobAge`);
    /// empty if Slurm no longer knows it.
    pub async fn show(&self, array_job: u64) -> Result<Vec<JobInfo>, SlurmError> {
        let mut cmd = self.command("scontrol");
        cmd.args(["show", "job", "-o", &array_job.to_string()]);
        let out = self.output("scontrol", cmd).await?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            if stderr.contains("Invalid job id") {
                return Ok(Vec::new());
            }
            return Err(failed("scontrol", &out));
        }
        show::parse(&String::from_utf8_lossy(&out.stdout)).map_err(SlurmError::Parse)
    }

    /// How many `scontrol show job` calls tracking has made (every clone's).
    pub fn show_calls(&self) -> u64 {
        self.shows.calls()
    }

    /// [`Self::show`], or the answer another waiter got less than half a poll ago.
    async fn show_shared(&self, array_job: u64) -> Result<Vec<JobInfo>, SlurmError> {
        let fresh = self.config.poll / 2;
        let show = async {
            self.show(array_job)
                .await
                .map_err(|e: SlurmError| e.to_string())
        };
        self.shows
            .get(array_job, fresh, show)
            .await
            .map_err(SlurmError::Shown)
    }

    /// The status of each job, in order (one `scontrol` per array, shared
    /// with the other waiters on that array within half a poll).
    pub async fn status(&self, jobs: &[SlurmJob]) -> Result<Vec<JobStatus>, SlurmError> {
        let mut shown: HashMap<u64, Vec<JobInfo>> = HashMap::new();
        let mut out = Vec::with_capacity(jobs.len());
        for job in jobs {
            if let Entry::Vacant(slot) = shown.entry(job.array_job) {
                slot.insert(self.show_shared(job.array_job).await?);
            }
            let infos = shown.get(&job.array_job).map_or(&[][..], Vec::as_slice);
            let info = infos.iter().find(|i| {
                i.array_job_id == Some(job.array_job) && i.array_tasks.contains(&job.index)
            });
            out.push(match info {
                Some(i) => JobStatus::Known {
                    state: i.state.clone(),
                    reason: i.reason.clone(),
                    exit_code: i.exit_code,
                    signal: i.signal,
                    nice: i.field("Nice").and_then(|n| n.parse().ok()),
                },
                None => JobStatus::Gone,
            });
        }
        Ok(out)
    }

    /// Whether the cluster keeps accounting (`scontrol show config`), asked
    /// once and shared by every clone; an error is not remembered.
    pub async fn accounting(&self) -> Result<Accounting, SlurmError> {
        let ask = || async {
            let mut cmd = self.command("scontrol");
            cmd.args(["show", "config"]);
            let out = checked("scontrol", self.output("scontrol", cmd).await?)?;
            Ok::<_, SlurmError>(Accounting::of_config(&String::from_utf8_lossy(&out.stdout)))
        };
        self.accounting.get_or_try_init(ask).await.cloned()
    }

    /// `sacct -X` of one array: every task accounting knows (an empty list
    /// for an array it does not).
    pub async fn accounted(&self, array_job: u64) -> Result<Vec<AcctJob>, SlurmError> {
        let mut cmd = self.command("sacct");
        cmd.args(["-X", "-n", "-P", "--format=JobID,State,ExitCode", "-j"])
            .arg(array_job.to_string());
        let out = checked("sacct", self.output("sacct", cmd).await?)?;
        acct::parse(&String::from_utf8_lossy(&out.stdout)).map_err(SlurmError::Acct)
    }

    /// How many `sacct` calls tracking has made (every clone's).
    pub fn acct_calls(&self) -> u64 {
        self.accts.calls()
    }

    /// [`Self::accounted`], or the answer another waiter got less than half a poll ago.
    async fn accounted_shared(&self, array_job: u64) -> Result<Vec<AcctJob>, SlurmError> {
        let fresh = self.config.poll / 2;
        let ask = async { self.accounted(array_job).await.map_err(|e| e.to_string()) };
        self.accts
            .get(array_job, fresh, ask)
            .await
            .map_err(SlurmError::Shown)
    }

    /// `statuses` (of `jobs`, in order) with each job that is gone and left
    /// no report replaced by what accounting says of it, where the cluster
    /// keeps accounting (one `sacct` per array, shared with the other
    /// waiters on it within half a poll). Without accounting, or if `sacct`
    /// fails, such a job stays gone.
    async fn account_for_gone(
        &self,
        jobs: &[SlurmJob],
        mut statuses: Vec<JobStatus>,
    ) -> Vec<JobStatus> {
        let gone: Vec<usize> = (0..jobs.len())
            .filter(|&i| statuses[i] == JobStatus::Gone && self.report(&jobs[i]).is_none())
            .collect();
        if gone.is_empty() || !self.accounting().await.is_ok_and(|a| a.is_present()) {
            return statuses;
        }
        let mut accounted: HashMap<u64, Vec<AcctJob>> = HashMap::new();
        for i in gone {
            let job = &jobs[i];
            if let Entry::Vacant(slot) = accounted.entry(job.array_job) {
                let rows = self.accounted_shared(job.array_job).await;
                slot.insert(rows.unwrap_or_default());
            }
            let rows = accounted.get(&job.array_job).map_or(&[][..], Vec::as_slice);
            if let Some(row) = rows
                .iter()
                .find(|r| r.job == job.array_job && r.array_tasks.contains(&job.index))
            {
                statuses[i] = JobStatus::Accounted {
                    state: row.state.clone(),
                    exit_code: row.exit_code,
                    signal: row.signal,
                };
            }
        }
        statuses
    }

    /// Cancels the jobs (`scancel ARRAY_INDEX…`); ended jobs are left as they are.
    pub async fn cancel(&self, jobs: &[SlurmJob]) -> Result<(), SlurmError> {
        if jobs.is_empty() {
            return Ok(());
        }
        let mut cmd = self.command("scancel");
        cmd.args(jobs.iter().map(SlurmJob::id));
        checked("scancel", self.output("scancel", cmd).await?).map(drop)
    }

    /// Sets a job's nice value (`scontrol update jobid=ARRAY_INDEX nice=N`;
    /// a task of a pending array is split off into a record of its own).
    pub async fn renice(&self, job: &SlurmJob, nice: u32) -> Result<(), SlurmError> {
        self.shows.forget(job.array_job);
        let mut cmd = self.command("scontrol");
        cmd.args([
            "update".to_owned(),
            format!("jobid={}", job.id()),
            format!("nice={nice}"),
        ]);
        checked("scontrol", self.output("scontrol", cmd).await?).map(drop)
    }

    /// Cancels the jobs now, without a runtime (a stage's drop guard: its run
    /// was cancelled or it was preempted). Errors are ignored: the job may
    /// have ended on its own.
    pub fn cancel_blocking(&self, jobs: &[SlurmJob]) {
        if jobs.is_empty() {
            return;
        }
        let mut cmd = std::process::Command::new("scancel");
        if let Some(conf) = &self.config.slurm_conf {
            cmd.env("SLURM_CONF", conf);
        }
        let _ = cmd
            .args(jobs.iter().map(SlurmJob::id))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }

    /// What `petri exec` reported for a job: the last line of its output
    /// that is an [`ExecReport`] for its task.
    pub fn report(&self, job: &SlurmJob) -> Option<ExecReport> {
        let path = self.output_path(job);
        let text = std::fs::read_to_string(path).ok()?;
        text.lines()
            .rev()
            .filter_map(|l| serde_json::from_str::<ExecReport>(l).ok())
            .find(|r| r.task == job.task)
    }

    /// Where a job's stdout goes.
    pub fn output_path(&self, job: &SlurmJob) -> PathBuf {
        self.config
            .spool
            .join(format!("{}_{}.out", job.array_job, job.index))
    }

    /// Polls until every job has ended; returns their ends in order. A job
    /// that ended with a record but whose report is not visible yet (a
    /// shared filesystem's attribute cache) is read again for up to
    /// [`REPORT_POLLS`] polls before it is returned without one.
    pub async fn wait(&self, jobs: &[SlurmJob]) -> Result<Vec<SlurmEnd>, SlurmError> {
        self.wait_renicing(jobs, || None).await
    }

    /// [`Self::wait`], and at each poll a job still pending whose nice value
    /// is not `nice()` is re-niced to it (its priority follows a slack that
    /// shrinks while it waits). A job that starts between the poll and the
    /// update keeps its old value: only pending jobs are ordered by it.
    pub async fn wait_renicing(
        &self,
        jobs: &[SlurmJob],
        nice: impl Fn() -> Option<u32>,
    ) -> Result<Vec<SlurmEnd>, SlurmError> {
        let mut ends: Vec<Option<SlurmEnd>> = vec![None; jobs.len()];
        let mut settling = vec![0u32; jobs.len()];
        loop {
            let open: Vec<usize> = (0..jobs.len()).filter(|&i| ends[i].is_none()).collect();
            if open.is_empty() {
                return Ok(ends.into_iter().flatten().collect());
            }
            let pending: Vec<SlurmJob> = open.iter().map(|&i| jobs[i].clone()).collect();
            let wanted = nice();
            let statuses = self.status(&pending).await?;
            let statuses = self.account_for_gone(&pending, statuses).await;
            for (i, status) in open.into_iter().zip(statuses) {
                if let (
                    Some(want),
                    JobStatus::Known {
                        state: JobState::Pending,
                        nice: Some(has),
                        ..
                    },
                ) = (wanted, &status)
                    && *has != want
                {
                    // Refused only if the job left the queue meanwhile.
                    let _ = self.renice(&jobs[i], want).await;
                }
                ends[i] = match self.end_of(&jobs[i], status) {
                    Seen::Going => None,
                    Seen::Ended(end) => Some(end),
                    Seen::Settling(end) => {
                        settling[i] += 1;
                        (settling[i] > REPORT_POLLS).then_some(end)
                    }
                };
            }
            if ends.iter().any(Option::is_none) {
                tokio::time::sleep(self.config.poll).await;
            }
        }
    }

    /// What `status` tells of `job`.
    fn end_of(&self, job: &SlurmJob, status: JobStatus) -> Seen {
        let end = |outcome, state, report| SlurmEnd {
            job: job.clone(),
            outcome,
            state,
            report,
        };
        let vanished = TaskOutcome::Lost {
            cause: LostCause::Vanished,
        };
        let (state, exit_code, signal) = match status {
            JobStatus::Known {
                state,
                exit_code,
                signal,
                ..
            } => (state, exit_code, signal),
            JobStatus::Gone => {
                return Seen::Ended(match self.report(job) {
                    Some(r) => end(TaskOutcome::Exited { exit: r.exit }, None, Some(r)),
                    None => end(vanished, None, None),
                });
            }
            JobStatus::Accounted {
                state,
                exit_code,
                signal,
            } => match state.outcome(exit_code, signal) {
                Some(_) => (state, exit_code, signal),
                // Gone from slurmctld but not ended in accounting yet.
                None => return Seen::Settling(end(vanished, Some(state), None)),
            },
        };
        let Some(outcome) = state.outcome(exit_code, signal) else {
            return Seen::Going;
        };
        let report = self.report(job);
        let unreported = report.is_none()
            && matches!(outcome, TaskOutcome::Exited { exit } if exit.has_record());
        let ended = end(outcome, Some(state), report);
        if unreported {
            Seen::Settling(ended)
        } else {
            Seen::Ended(ended)
        }
    }
}

/// Polls a job that ended with a record may wait for its report to appear.
pub const REPORT_POLLS: u32 = 10;

/// The first 12 hex digits of a digest (job names).
fn short(d: &Digest) -> String {
    d.to_hex().chars().take(12).collect()
}

/// `path` as one word for bash.
fn shell_quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', "'\\''"))
}

fn failed(command: &'static str, out: &Output) -> SlurmError {
    SlurmError::Failed {
        command,
        status: out.status.to_string(),
        stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
    }
}

fn checked(command: &'static str, out: Output) -> Result<Output, SlurmError> {
    if out.status.success() {
        Ok(out)
    } else {
        Err(failed(command, &out))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn script_lists_tasks_and_quotes_paths() {
        let config = SlurmConfig::new(
            PathBuf::from("/opt/petri's/petri"),
            PathBuf::from("/shared/data dir"),
            PathBuf::from("/shared/spool"),
        );
        let ex = SlurmExecutor::unchecked(config);
        let (a, b) = (Digest::of(b"a"), Digest::of(b"b"));
        let s = ex.script(&[a, b]);
        assert!(s.starts_with("#!/bin/bash\n"));
        assert!(s.contains(&format!("tasks=(\n{a}\n{b}\n)\n")), "{s}");
        assert!(
            s.contains(r#"exec '/opt/petri'\''s/petri' --data-dir '/shared/data dir' exec "${tasks[$SLURM_ARRAY_TASK_ID]}" --json"#),
            "{s}"
        );
    }

    #[test]
    fn classes_pick_partitions() {
        let mut config = SlurmConfig::new("/p".into(), "/d".into(), "/s".into());
        config.partitions.insert("sequencer".into(), "seq".into());
        let ex = SlurmExecutor::unchecked(config.clone());
        assert_eq!(ex.partition(Some("sequencer")), Some("seq"));
        assert_eq!(ex.partition(Some("other")), None);
        assert_eq!(ex.partition(None), None);
        config.default_partition = Some("compute".into());
        let ex = SlurmExecutor::unchecked(config.clone());
        assert_eq!(ex.partition(Some("other")), Some("compute"));
        // Every class runs on Slurm unless `classes` names some.
        assert!(ex.runs_class("sequencer") && ex.runs_class("other"));
        config.classes = Some(["sequencer".to_owned()].into());
        let ex = SlurmExecutor::unchecked(config);
        assert!(ex.runs_class("sequencer") && !ex.runs_class("other"));
    }
}
