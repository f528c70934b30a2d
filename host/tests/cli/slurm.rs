//! `petri exec` of stored tasks (twice: same digests and fuel; exit codes by outcome) and the Slurm
//! executor against a real single-node cluster (tests/scripts/slurm.sh): same records as local,
//! one job array per batch, partitions per class, nice by priority, `scancel` → cancelled.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use petri_host::executor::slurm::JobStatus;
use petri_host::executor::slurm::state::JobState;
use petri_host::executor::{
    ExecReport, Executor, ExitKind, LocalExecutor, Recovery, SlurmConfig, SlurmExecutor,
    Submission, Task, TaskOutcome,
};
use petri_host::schedule::Priority;
use petri_host::{BlobStore, DataDir, Digest, EngineProfile, Limits};

use super::slurm::{Slurm, expendable, shared};
use super::{json, petri, stderr};

/// A data dir with the testkit module in its store; returns the store and the module digest.
pub(super) fn store(data: &Path) -> (BlobStore, Digest) {
    let blobs = BlobStore::open(DataDir::new(data).blobs()).unwrap();
    let wasm = std::fs::read(petri_plugins::TESTKIT).unwrap();
    let module = blobs.put(&wasm).unwrap();
    (blobs, module)
}

/// A testkit task in `mode` over `input`, stored; returns its digest and the task.
pub(super) fn task(
    blobs: &BlobStore,
    module: Digest,
    mode: &str,
    input: &[u8],
    limits: Limits,
) -> (Digest, Task) {
    let mut inputs = BTreeMap::new();
    inputs.insert("data".to_owned(), blobs.put(input).unwrap());
    let mut params = BTreeMap::new();
    params.insert("mode".to_owned(), serde_json::json!(mode));
    params.insert("record".to_owned(), serde_json::json!(1));
    let t = Task::new(
        module,
        params,
        inputs,
        limits,
        1,
        EngineProfile::default().id(),
    );
    (t.store(blobs).unwrap(), t)
}

/// `petri exec TASK --json`: its report and exit code.
fn exec(data: &Path, task: &Digest) -> (Option<ExecReport>, Option<i32>, String) {
    let out = petri(data, &["exec", &task.to_hex(), "--json"]);
    let report = serde_json::from_slice(&out.stdout).ok();
    (report, out.status.code(), stderr(&out))
}

/// The record's `(outputs, fuel_used, outcome)`, through `petri provenance`.
fn record(data: &Path, id: &str) -> serde_json::Value {
    let out = petri(data, &["provenance", id, "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let r = json(&out);
    serde_json::json!({ "outputs": r["outputs"], "fuel": r["fuel_used"], "outcome": r["outcome"] })
}

fn small_fuel() -> Limits {
    Limits {
        fuel: 5_000_000,
        ..Limits::default()
    }
}

#[test]
fn exec_twice_gives_the_same_digests_and_fuel_and_exit_codes_name_outcomes() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let (blobs, module) = store(data);
    let (copy, _) = task(
        &blobs,
        module,
        "copy",
        b"same bytes, same task",
        Limits::default(),
    );

    let (first, code, err) = exec(data, &copy);
    assert_eq!(code, Some(0), "{err}");
    let first = first.unwrap();
    let (second, code, _) = exec(data, &copy);
    let second = second.unwrap();
    assert_eq!(code, Some(0));
    assert_eq!((first.exit, first.code), (ExitKind::Succeeded, 0));
    assert_ne!(first.record, second.record, "two executions, two records");
    let (a, b) = (record(data, &first.record), record(data, &second.record));
    assert_eq!(a, b);
    assert_eq!(
        a["outputs"][0]["sha256"].as_str().unwrap(),
        Digest::of(b"same bytes, same task").to_hex()
    );
    assert!(a["fuel"].as_u64().unwrap() > 0);

    // A failure the record describes: fuel exhausted is exit 12.
    let (spin, _) = task(&blobs, module, "spin", b"", small_fuel());
    let (report, code, err) = exec(data, &spin);
    assert_eq!(code, Some(12), "{err}");
    let report = report.unwrap();
    assert_eq!(report.exit, ExitKind::FuelExhausted);
    assert_eq!(
        record(data, &report.record)["outcome"]["failure"]["kind"],
        "fuel-exhausted"
    );

    // A stage error of a declared kind is 10.
    let (fail, _) = task(&blobs, module, "fail", b"", Limits::default());
    assert_eq!(exec(data, &fail).1, Some(10));

    // Another engine profile: 3, no record, the reason on stderr.
    let mut foreign = Task::load(&blobs, &copy).unwrap();
    foreign.engine_profile_id = Digest::of(b"a petri built differently");
    let foreign = foreign.store(&blobs).unwrap();
    let (report, code, err) = exec(data, &foreign);
    assert_eq!((report, code), (None, Some(3)));
    assert!(err.contains("engine profile"), "{err}");

    // A task that is not in the store: 2.
    let (_, code, err) = exec(data, &Digest::of(b"no such task"));
    assert_eq!(code, Some(2));
    assert!(err.contains("not in the store"), "{err}");
}

/// An executor on the shared test cluster for the data dir `data`.
fn executor(data: &Path, poll: Duration) -> SlurmExecutor {
    executor_on(shared(), data, poll)
}

/// An executor on `cluster` for the data dir `data`.
pub(super) fn executor_on(cluster: &Slurm, data: &Path, poll: Duration) -> SlurmExecutor {
    let mut config = SlurmConfig::new(
        PathBuf::from(env!("CARGO_BIN_EXE_petri")),
        data.to_owned(),
        data.join("spool"),
    );
    config.slurm_conf = Some(cluster.conf.clone());
    config
        .partitions
        .insert("sequencer".into(), "sequencer".into());
    config.poll = poll;
    SlurmExecutor::new(config).unwrap()
}

/// A data dir under /tmp that jobs (root, another process) can reach.
pub(super) fn shared_tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("petri-slurm-data")
        .tempdir_in("/tmp")
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_on_slurm_gives_the_record_digests_and_fuel_of_petri_exec() {
    let dir = shared_tempdir();
    let data = dir.path();
    let (blobs, module) = store(data);
    let (copy, _) = task(
        &blobs,
        module,
        "copy",
        b"local and on a node",
        Limits::default(),
    );
    let (spin, spin_task) = task(&blobs, module, "spin", b"", small_fuel());

    let (local, code, err) = exec(data, &copy);
    assert_eq!(code, Some(0), "{err}");
    let local = record(data, &local.unwrap().record);

    let slurm = executor(data, Duration::from_millis(200));
    let copy_task = Task::load(&blobs, &copy).unwrap();
    let jobs = slurm
        .submit(&[
            Submission::new(copy, &copy_task),
            Submission::new(spin, &spin_task),
        ])
        .await
        .unwrap();
    let ends = slurm.wait(&jobs).await.unwrap();

    assert_eq!(ends[0].state, Some(JobState::Completed));
    assert_eq!(
        ends[0].outcome,
        TaskOutcome::Exited {
            exit: ExitKind::Succeeded
        }
    );
    assert_eq!(ends[0].recovery(), Recovery::Record);
    let report = ends[0]
        .report
        .clone()
        .expect("petri exec's report in the job output");
    assert_eq!(report.task, copy);
    assert_eq!(
        record(data, &report.record),
        local,
        "same outputs, fuel and outcome as local"
    );

    // A failed stage is a FAILED job whose exit code names the failure.
    assert_eq!(ends[1].state, Some(JobState::Failed));
    assert_eq!(
        ends[1].outcome,
        TaskOutcome::Exited {
            exit: ExitKind::FuelExhausted
        }
    );
    let spun = ends[1].report.clone().unwrap();
    assert_eq!(
        record(data, &spun.record)["outcome"]["failure"]["kind"],
        "fuel-exhausted"
    );
    let (_, code, _) = exec(data, &spin);
    assert_eq!(code, Some(12));
}

/// `scontrol show job -o ID` of the test cluster.
fn scontrol_show(id: &str) -> String {
    let out = shared()
        .command("scontrol")
        .args(["show", "job", "-o", id])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_is_one_job_array_per_partition_with_nice_by_priority() {
    let dir = shared_tempdir();
    let data = dir.path();
    let (blobs, module) = store(data);
    let inputs: Vec<Vec<u8>> = (0..4).map(|i| format!("sample {i}").into_bytes()).collect();
    let mut batch = Vec::new();
    for input in &inputs {
        let (d, t) = task(&blobs, module, "copy", input, Limits::default());
        let mut s = Submission::new(d, &t);
        s.priority = Priority::Urgent;
        s.slack = Some(petri_host::schedule::Span::HOUR);
        batch.push(s);
    }
    // The last one is of another instrument class: its own partition, its own array.
    batch[3].class = Some("sequencer".into());

    let slurm = executor(data, Duration::from_millis(200));
    let jobs = slurm.submit(&batch).await.unwrap();
    let array = jobs[0].array_job;
    assert!(jobs[..3].iter().all(|j| j.array_job == array), "{jobs:?}");
    assert_eq!(
        jobs[..3].iter().map(|j| j.index).collect::<Vec<_>>(),
        [0, 1, 2]
    );
    assert_ne!(jobs[3].array_job, array);

    let shown = scontrol_show(&array.to_string());
    assert!(shown.contains(&format!("ArrayJobId={array} ")), "{shown}");
    assert!(shown.contains("Partition=compute"), "{shown}");
    // Urgent with an hour of slack: 10,000 + 60.
    assert!(shown.contains("Nice=10060"), "{shown}");
    let other = scontrol_show(&jobs[3].array_job.to_string());
    assert!(other.contains("Partition=sequencer"), "{other}");

    // Each array index ran its own task: copy's output is its input.
    let ends = slurm.wait(&jobs).await.unwrap();
    for (end, input) in ends.iter().zip(&inputs) {
        assert_eq!(
            end.outcome,
            TaskOutcome::Exited {
                exit: ExitKind::Succeeded
            }
        );
        let r = record(data, &end.report.as_ref().unwrap().record);
        assert_eq!(
            r["outputs"][0]["sha256"].as_str().unwrap(),
            Digest::of(input).to_hex()
        );
    }
    // Slurm still shows the ended array with one line per task and ArrayTaskIds 0-2.
    let shown = scontrol_show(&array.to_string());
    for i in 0..3 {
        assert!(shown.contains(&format!("ArrayTaskId={i} ")), "{shown}");
    }

    // Over `max_array` tasks, a group is split into several arrays.
    let mut config = slurm.config().clone();
    config.max_array = 2;
    let split = SlurmExecutor::new(config).unwrap();
    let jobs = split.submit(&batch[..3]).await.unwrap();
    assert_eq!(jobs[0].array_job, jobs[1].array_job);
    assert_ne!(jobs[1].array_job, jobs[2].array_job);
    assert_eq!(jobs.iter().map(|j| j.index).collect::<Vec<_>>(), [0, 1, 0]);
    for end in split.wait(&jobs).await.unwrap() {
        assert_eq!(
            end.outcome,
            TaskOutcome::Exited {
                exit: ExitKind::Succeeded
            }
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_waiters_on_one_arrays_tasks_share_one_scontrol_per_poll() {
    let dir = shared_tempdir();
    let data = dir.path();
    let (blobs, module) = store(data);
    let inputs: Vec<Vec<u8>> = (0..6).map(|i| format!("sample {i}").into_bytes()).collect();
    let mut batch = Vec::new();
    for input in &inputs {
        let (d, t) = task(&blobs, module, "copy", input, Limits::default());
        batch.push(Submission::new(d, &t));
    }
    // A long poll: the six waiters start together and stay in step.
    let slurm = executor(data, Duration::from_secs(10));
    let jobs = slurm.submit(&batch).await.unwrap();
    assert!(jobs.iter().all(|j| j.array_job == jobs[0].array_job));
    // Each sample's stage waits for its own task, as a run's stages do.
    let waiters: Vec<_> = jobs
        .iter()
        .map(|job| {
            let (slurm, job) = (slurm.clone(), job.clone());
            tokio::spawn(async move { slurm.wait(&[job]).await.unwrap() })
        })
        .collect();
    for (waiter, input) in waiters.into_iter().zip(&inputs) {
        let end = waiter.await.unwrap().remove(0);
        let r = record(data, &end.report.as_ref().unwrap().record);
        assert_eq!(
            r["outputs"][0]["sha256"].as_str().unwrap(),
            Digest::of(input).to_hex()
        );
    }
    // One call per poll for the whole array, not one per task: six apart
    // would make six in the first poll alone.
    let calls = slurm.show_calls();
    assert!((1..6).contains(&calls), "{calls} scontrol calls");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scancel_of_a_running_task_is_the_cancelled_outcome() {
    let dir = shared_tempdir();
    let data = dir.path();
    let (blobs, module) = store(data);
    let (spin, t) = task(&blobs, module, "spin", b"", Limits::default());
    let slurm = executor(data, Duration::from_millis(200));
    let jobs = slurm.submit(&[Submission::new(spin, &t)]).await.unwrap();

    let started = Instant::now();
    loop {
        let status = slurm.status(&jobs).await.unwrap();
        match &status[0] {
            JobStatus::Known {
                state: JobState::Running,
                ..
            } => break,
            JobStatus::Known { state, .. } if !state.is_final() => {}
            other => panic!("the spinning task ended before it was cancelled: {other:?}"),
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "not running after 60 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Let petri exec get into the stage.
    tokio::time::sleep(Duration::from_secs(1)).await;
    slurm.cancel(&jobs).await.unwrap();
    let ends = slurm.wait(&jobs).await.unwrap();
    assert_eq!(ends[0].state, Some(JobState::Cancelled));
    assert_eq!(ends[0].outcome, TaskOutcome::Cancelled);
    assert_eq!(ends[0].recovery(), Recovery::Stop);
    assert!(
        ends[0].report.is_none(),
        "a cancelled task reports no record"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_executor_seam_gives_the_same_records_locally_and_on_slurm() {
    let dir = shared_tempdir();
    let data = dir.path();
    let (blobs, module) = store(data);
    let batch: Vec<Submission> = [
        ("copy", &b"one"[..], Limits::default()),
        ("spin", b"", small_fuel()),
    ]
    .into_iter()
    .map(|(mode, input, limits)| {
        let (d, t) = task(&blobs, module, mode, input, limits);
        Submission::new(d, &t)
    })
    .collect();

    let petri = std::sync::Arc::new(petri_host::Petri::open(data).unwrap());
    let state = petri_host::StateStore::open_in(data, None).await.unwrap();
    let local = Executor::Local(LocalExecutor::new(petri, state));
    let slurm = Executor::Slurm(executor(data, Duration::from_millis(200)));
    let (here, there) = (
        local.run(&batch).await.unwrap(),
        slurm.run(&batch).await.unwrap(),
    );

    let exits = [ExitKind::Succeeded, ExitKind::FuelExhausted];
    for ((h, t), exit) in here.iter().zip(&there).zip(exits) {
        assert_eq!(h.outcome, TaskOutcome::Exited { exit });
        assert_eq!(t.outcome, h.outcome);
        let (h, t) = (h.report.as_ref().unwrap(), t.report.as_ref().unwrap());
        assert_ne!(h.record, t.record);
        assert_eq!(record(data, &h.record), record(data, &t.record));
    }
}

/// `petri run ARGS… --json` with `SLURM_CONF` of the shared cluster; its JSON summary.
fn run_json(data: &Path, args: &[&str]) -> serde_json::Value {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_petri"))
        .arg("--data-dir")
        .arg(data)
        .arg("run")
        .args(args)
        .arg("--json")
        .env("SLURM_CONF", &shared().conf)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    json(&out)
}

/// The array job ids of every job output in `spool` (`%A_%a.out`), with their indexes.
fn spooled_jobs(spool: &Path) -> BTreeMap<u64, Vec<u32>> {
    let mut jobs: BTreeMap<u64, Vec<u32>> = BTreeMap::new();
    for entry in std::fs::read_dir(spool).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let Some(stem) = name.strip_suffix(".out") else {
            continue;
        };
        let (job, index) = stem.split_once('_').unwrap();
        jobs.entry(job.parse().unwrap())
            .or_default()
            .push(index.parse().unwrap());
    }
    for indexes in jobs.values_mut() {
        indexes.sort_unstable();
    }
    jobs
}

/// `scontrol show job -o JOB`: one line per array task.
fn scontrol(job: u64) -> String {
    scontrol_on(shared(), job)
}

fn scontrol_on(cluster: &Slurm, job: u64) -> String {
    let out = cluster
        .command("scontrol")
        .args(["show", "job", "-o", &job.to_string()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_lambda_pipeline_on_slurm_has_the_run_root_of_a_local_run() {
    let dir = shared_tempdir();
    let (local, remote) = (dir.path().join("local"), dir.path().join("slurm"));
    let pipeline = super::example(dir.path(), &local, "lambda");
    super::example(dir.path(), &remote, "lambda");
    let pipeline = pipeline.to_str().unwrap();

    let here = run_json(&local, &[pipeline]);
    let there = run_json(&remote, &[pipeline, "--executor", "slurm"]);
    assert_eq!(here["status"], "completed");
    assert_eq!(there["status"], "completed");
    assert_eq!(there["root"], here["root"]);

    // Every stage was a Slurm job: five `petri exec` outputs, each array
    // known to scontrol as a completed petri job.
    let jobs = spooled_jobs(&remote.join("slurm-spool"));
    assert_eq!(jobs.values().map(Vec::len).sum::<usize>(), 5, "{jobs:?}");
    for job in jobs.keys() {
        let shown = scontrol(*job);
        assert!(shown.contains("JobState=COMPLETED"), "{shown}");
        assert!(shown.contains("JobName=petri-"), "{shown}");
    }
}

const FAN_OUT: &str = r#"
[inputs.data]

[stages.copy]
module = "TESTKIT"
params = { mode = "copy" }
inputs = { data = "inputs.data" }
"#;

#[test]
fn a_sample_sheet_fan_out_is_one_job_array() {
    let dir = shared_tempdir();
    let samples = ["s1", "s2", "s3", "s4"];
    let mut sheet = String::from("sample\tdata\tcollected_at\tstability_hours\tpriority\n");
    for s in samples {
        std::fs::write(dir.path().join(format!("{s}.bin")), format!("sample {s}")).unwrap();
        // Collected long ago: every sample is past its deadline.
        sheet.push_str(&format!("{s}\t{s}.bin\t2020-01-20T08:00:00Z\t72\turgent\n"));
    }
    std::fs::write(dir.path().join("samples.tsv"), sheet).unwrap();
    let pipeline = dir.path().join("fan-out.toml");
    std::fs::write(
        &pipeline,
        FAN_OUT.replace("TESTKIT", petri_plugins::TESTKIT),
    )
    .unwrap();
    let data = dir.path().join("data");
    let spool = dir.path().join("spool");

    let run = run_json(
        &data,
        &[
            pipeline.to_str().unwrap(),
            "--samples",
            dir.path().join("samples.tsv").to_str().unwrap(),
            "--executor",
            "slurm",
            "--slurm-spool",
            spool.to_str().unwrap(),
        ],
    );
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(run["stages"].as_array().unwrap().len(), samples.len());

    // One array job, one index per sample, at the samples' priority.
    let jobs = spooled_jobs(&spool);
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    let (job, indexes) = jobs.iter().next().unwrap();
    assert_eq!(indexes, &[0, 1, 2, 3]);
    let shown = scontrol(*job);
    // Urgent (tier 1) and late (no slack left): the head of its tier.
    assert!(shown.contains("Nice=10000"), "{shown}");
    assert_eq!(
        shown
            .lines()
            .filter(|l| l.contains(&format!("ArrayJobId={job} ")))
            .count(),
        samples.len(),
        "{shown}"
    );
}

#[test]
fn a_samples_slack_to_its_deadline_is_its_nice_within_its_tier() {
    let dir = shared_tempdir();
    let pipeline = normal_sample_due_in_two_hours(dir.path(), b"fresh sample");
    let spool = dir.path().join("spool");
    let run = run_json(
        &dir.path().join("data"),
        &[
            pipeline.to_str().unwrap(),
            "--samples",
            dir.path().join("samples.tsv").to_str().unwrap(),
            "--executor",
            "slurm",
            "--slurm-spool",
            spool.to_str().unwrap(),
        ],
    );
    assert_eq!(run["status"], "completed", "{run}");
    let job = *spooled_jobs(&spool).keys().next().unwrap();
    // Normal tier (20,000–29,999), plus the slack in minutes (under 120:
    // the stage's predicted work and the time to start come off it).
    assert!(
        (20_060..20_120).contains(&nice_of(job)),
        "{}",
        scontrol(job)
    );
}

/// In `dir`: `s1.bin` holding `data`, `samples.tsv` with sample s1 of it (normal priority,
/// collected now, stable for 2 h: about 120 minutes of slack) and `fan-out.toml` copying it.
fn normal_sample_due_in_two_hours(dir: &Path, data: &[u8]) -> PathBuf {
    std::fs::write(dir.join("s1.bin"), data).unwrap();
    let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now());
    std::fs::write(
        dir.join("samples.tsv"),
        format!(
            "sample\tdata\tcollected_at\tstability_hours\tpriority\ns1\ts1.bin\t{now}\t2\tnormal\n"
        ),
    )
    .unwrap();
    let pipeline = dir.join("fan-out.toml");
    std::fs::write(
        &pipeline,
        FAN_OUT.replace("TESTKIT", petri_plugins::TESTKIT),
    )
    .unwrap();
    pipeline
}

const TWO_CLASSES: &str = r#"
[inputs.data]
path = "data.bin"

[stages.first]
module = "TESTKIT"
params = { mode = "copy" }
inputs = { data = "inputs.data" }
resources = { instrument = "cluster" }

[stages.second]
module = "TESTKIT"
params = { mode = "copy" }
inputs = { data = "first.out" }
"#;

#[test]
fn only_the_stages_of_slurm_classes_become_jobs_charged_to_the_account() {
    let dir = shared_tempdir();
    std::fs::write(dir.path().join("data.bin"), b"two classes").unwrap();
    let pipeline = dir.path().join("two-classes.toml");
    std::fs::write(
        &pipeline,
        TWO_CLASSES.replace("TESTKIT", petri_plugins::TESTKIT),
    )
    .unwrap();
    let pipeline = pipeline.to_str().unwrap();
    let spool = dir.path().join("spool");

    let here = run_json(&dir.path().join("local"), &[pipeline]);
    let there = run_json(
        &dir.path().join("mixed"),
        &[
            pipeline,
            "--executor",
            "slurm",
            "--slurm-spool",
            spool.to_str().unwrap(),
            "--slurm-class",
            "cluster",
            "--slurm-account",
            "lab-a",
        ],
    );
    assert_eq!(there["status"], "completed", "{there}");
    assert_eq!(there["root"], here["root"]);

    // `first` (class cluster) was the one job, charged to the account;
    // `second` (class compute) ran in the process.
    let jobs = spooled_jobs(&spool);
    assert_eq!(jobs.values().map(Vec::len).sum::<usize>(), 1, "{jobs:?}");
    let shown = scontrol(*jobs.keys().next().unwrap());
    assert!(shown.contains("Account=lab-a "), "{shown}");
    assert!(shown.contains("JobState=COMPLETED"), "{shown}");
}

/// Runs the one-stage pipeline `text` (on a `data.bin` input) under `dir` on Slurm (`sbatch_args`
/// added to every job), in the background; returns the run and the executor's spool dir.
async fn run_on_slurm(
    dir: &Path,
    text: &str,
    sbatch_args: &[&str],
) -> (
    tokio::task::JoinHandle<Result<petri_host::pipeline::RunRecord, petri_host::Error>>,
    PathBuf,
) {
    std::fs::write(dir.join("data.bin"), b"input").unwrap();
    let path = dir.join("pipeline.toml");
    std::fs::write(&path, text.replace("TESTKIT", petri_plugins::TESTKIT)).unwrap();
    let data = dir.join("data");
    let petri = std::sync::Arc::new(petri_host::Petri::open(&data).unwrap());
    let state = petri_host::StateStore::open_in(&data, None).await.unwrap();
    let plan = petri_host::pipeline::validate(&petri, &path, None)
        .await
        .unwrap_or_else(|d| panic!("{d:#?}"));
    let mut config = executor(&data, Duration::from_millis(200)).config().clone();
    config.sbatch_args = sbatch_args.iter().map(|a| (*a).to_owned()).collect();
    let options = petri_host::pipeline::RunOptions {
        executor: Some(Executor::Slurm(SlurmExecutor::new(config).unwrap())),
        ..Default::default()
    };
    let run = tokio::spawn(async move {
        petri_host::pipeline::run_plan(petri, &state, &plan, &options).await
    });
    (run, data.join("spool"))
}

/// A stage burning fuel for a few seconds, then passing its input on.
const BURN: &str = r#"
[inputs.data]
path = "data.bin"

[stages.burn]
module = "TESTKIT"
params = { mode = "burn", record = 4000 }
inputs = { data = "inputs.data" }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operators_scancel_sends_the_stage_back_to_the_cluster() {
    let dir = shared_tempdir();
    let (run, spool) = run_on_slurm(dir.path(), BURN, &[]).await;

    // An operator cancels the stage's job while it runs.
    let started = Instant::now();
    let first = loop {
        if spool.is_dir()
            && let Some(job) = spooled_jobs(&spool).keys().next()
            && scontrol(*job).contains("JobState=RUNNING")
        {
            break *job;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no job ran in 60 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let out = shared()
        .command("scancel")
        .arg(first.to_string())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));

    // The stage went back to the cluster and the run completed.
    let record = run.await.unwrap().unwrap();
    assert_eq!(record.status, "completed", "{:?}", record.stages);
    let jobs: Vec<u64> = spooled_jobs(&spool).into_keys().collect();
    assert_eq!(jobs.len(), 2, "{jobs:?}");
    assert!(
        scontrol(jobs[0]).contains("JobState=CANCELLED"),
        "{}",
        scontrol(jobs[0])
    );
    assert!(
        scontrol(jobs[1]).contains("JobState=COMPLETED"),
        "{}",
        scontrol(jobs[1])
    );
}

/// A stage that spins until it is stopped: its fuel outlasts minutes of
/// spinning on a fast machine (1e12 ran out before Slurm's one-minute limit
/// was enforced), its wall-clock 600 s.
const SPIN: &str = r#"
[inputs.data]
path = "data.bin"

[stages.spin]
module = "TESTKIT"
params = { mode = "spin" }
inputs = { data = "inputs.data" }
policy = { fuel = 1_000_000_000_000_000, wall-clock-secs = 600 }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_run_cancels_its_slurm_jobs() {
    let dir = shared_tempdir();
    let (run, spool) = run_on_slurm(dir.path(), SPIN, &[]).await;

    // The stage's job is running once its output file exists.
    let started = Instant::now();
    let job = loop {
        if spool.join("").is_dir()
            && let Some(job) = spooled_jobs(&spool).keys().next()
        {
            break *job;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no job started in 60 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        scontrol(job).contains("JobState=RUNNING"),
        "{}",
        scontrol(job)
    );

    // Cancelling the run (dropping its future, as the daemon does) cancels the job.
    run.abort();
    assert!(run.await.unwrap_err().is_cancelled());
    let started = Instant::now();
    while !scontrol(job).contains("JobState=CANCELLED") {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "not cancelled after 60 s: {}",
            scontrol(job)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_over_its_slurm_time_limit_fails_the_stage_with_deadline() {
    let dir = shared_tempdir();
    // The site caps every job at one minute (`--time=1` after petri's own
    // `--time`, as a partition's limit would), below the spinning stage's
    // 600 s wall-clock: Slurm's TIMEOUT comes first. Slurm keeps time limits
    // in whole minutes and checks them about every 30 s, so this takes one
    // to two minutes.
    let (run, spool) = run_on_slurm(dir.path(), SPIN, &["--time=1"]).await;
    let record = run.await.unwrap().unwrap();
    assert_eq!(record.status, "failed", "{:?}", record.stages);
    let stage = &record.stages[0];
    assert_eq!(stage.status, petri_host::pipeline::StageStatus::Failed);
    let reason = stage.reason.as_deref().unwrap();
    assert!(
        reason.contains("ended without a record: deadline (TimedOut { limit: Time })"),
        "{reason}"
    );
    assert!(stage.record_id.is_none(), "no execution ended: no record");

    // One job, TIMEOUT on the cluster, and its end recorded as the attempt's.
    let jobs: Vec<u64> = spooled_jobs(&spool).into_keys().collect();
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert!(
        scontrol(jobs[0]).contains("JobState=TIMEOUT "),
        "{}",
        scontrol(jobs[0])
    );
    let state = petri_host::StateStore::open_in(&dir.path().join("data"), None)
        .await
        .unwrap();
    let tracked = state.jobs().of_run(&record.id).await.unwrap();
    assert_eq!(tracked.len(), 1, "{tracked:?}");
    assert_eq!(tracked[0].id.array_job, jobs[0]);
    assert_eq!(tracked[0].state, petri_host::TrackedState::Ended);
}

#[test]
fn sigint_stops_petri_run_and_cancels_its_slurm_jobs() {
    let dir = shared_tempdir();
    std::fs::write(dir.path().join("data.bin"), b"input").unwrap();
    let pipeline = dir.path().join("pipeline.toml");
    std::fs::write(&pipeline, SPIN.replace("TESTKIT", petri_plugins::TESTKIT)).unwrap();
    let spool = dir.path().join("spool");
    let child = Command::new(env!("CARGO_BIN_EXE_petri"))
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("run")
        .arg(&pipeline)
        .args(["--executor", "slurm", "--slurm-spool"])
        .arg(&spool)
        .env("SLURM_CONF", &shared().conf)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let job = running_job(&spool);
    kill(&child, "-INT");
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(
        err.contains("the run was interrupted") && err.contains("1 Slurm job(s) cancelled"),
        "{err}"
    );
    // Cancelled before petri exited (Slurm shows it COMPLETING while it
    // kills the job's processes, then CANCELLED); squeue lists none of its jobs.
    wait_for_job(job, "CANCELLED");
    let ours = format!(" {}", spool.display());
    let started = Instant::now();
    loop {
        let queue = shared()
            .command("squeue")
            .args(["-h", "-o", "%i %T %Z"])
            .output()
            .unwrap();
        let queue = String::from_utf8(queue.stdout).unwrap();
        if !queue.lines().any(|l| l.ends_with(&ours)) {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "{queue}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A daemon's set-up under `dir`: data dir with the testkit plugin, a token, and a config with
/// executor = "slurm" spooling to `dir/spool`; `data.bin` holds `input` and `pipeline.toml`
/// runs testkit's `params` on it.
struct DaemonSetup {
    cluster: &'static Slurm,
    data: PathBuf,
    spool: PathBuf,
    token: String,
    config: PathBuf,
    pipeline: PathBuf,
    log: PathBuf,
}

impl DaemonSetup {
    fn new(dir: &Path, input: &[u8], params: &str) -> DaemonSetup {
        DaemonSetup::on(shared(), dir, input, params)
    }

    fn on(cluster: &'static Slurm, dir: &Path, input: &[u8], params: &str) -> DaemonSetup {
        let data = dir.join("data");
        let spool = dir.join("spool");
        assert!(
            petri(&data, &["plugin", "add", petri_plugins::TESTKIT])
                .status
                .success()
        );
        let token = petri(&data, &["token", "create", "--group", "lab"]);
        let token = String::from_utf8(token.stdout).unwrap().trim().to_owned();
        let config = dir.join("petri.toml");
        std::fs::write(
            &config,
            format!(
                "executor = \"slurm\"\n[slurm]\nslurm-conf = \"{}\"\nspool = \"{}\"\npoll-ms = 200\n\
                 [slurm.accounts]\nlab = \"lab-account\"\n",
                cluster.conf.display(),
                spool.display()
            ),
        )
        .unwrap();
        std::fs::write(dir.join("data.bin"), input).unwrap();
        let pipeline = dir.join("pipeline.toml");
        std::fs::write(
            &pipeline,
            format!(
                "[inputs.data]\npath = \"data.bin\"\n\n[stages.only]\nmodule = \"testkit\"\n\
                 params = {params}\ninputs = {{ data = \"inputs.data\" }}\n"
            ),
        )
        .unwrap();
        let log = dir.join("daemon.log");
        DaemonSetup {
            cluster,
            data,
            spool,
            token,
            config,
            pipeline,
            log,
        }
    }

    fn start(&self) -> (std::process::Child, String) {
        super::daemon::start(
            &self.data,
            &self.log,
            &["--config", self.config.to_str().unwrap()],
        )
    }

    fn submit(&self, url: &str) -> String {
        let out = super::daemon::client(
            url,
            &self.token,
            &["submit", self.pipeline.to_str().unwrap()],
        );
        super::daemon::ok_output(&out);
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    /// The run's status once it satisfies `done` (at most 300 s).
    fn wait_for(&self, url: &str, id: &str, done: impl Fn(&str) -> bool) -> String {
        let started = Instant::now();
        loop {
            let runs = super::daemon::statuses(url, &self.token).unwrap_or_default();
            if let Some((_, s)) = runs.iter().find(|(r, s)| r == id && done(s)) {
                return s.clone();
            }
            assert!(
                started.elapsed() < Duration::from_secs(300),
                "{}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Run `id` once `daemon` finished it (then the daemon is killed): it
    /// must have completed with burn's output, its input; its JSON and the log.
    fn completed(
        &self,
        mut daemon: std::process::Child,
        url: &str,
        id: &str,
        input: &[u8],
    ) -> (serde_json::Value, String) {
        let status = self.wait_for(url, id, super::daemon::finished);
        let run = super::daemon::client(url, &self.token, &["status", id, "--json"]);
        daemon.kill().unwrap();
        daemon.wait().unwrap();
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        assert_eq!(status, "COMPLETED", "{log}");
        let run = super::daemon::ok_json(run);
        assert_eq!(
            run["stages"][0]["outputs"][0]["sha256"].as_str().unwrap(),
            Digest::of(input).to_hex(),
            "{run}"
        );
        (run, log)
    }

    /// The job scripts sbatch was given: one per submitted array.
    fn submissions(&self) -> usize {
        std::fs::read_dir(&self.spool)
            .map(|d| {
                d.filter(|e| {
                    e.as_ref()
                        .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".sh"))
                })
                .count()
            })
            .unwrap_or(0)
    }

    /// The array jobs Slurm knows that run in this set-up's spool.
    fn cluster_jobs(&self) -> Vec<String> {
        let out = self
            .cluster
            .command("scontrol")
            .args(["show", "job", "-o"])
            .output()
            .unwrap();
        let workdir = format!("WorkDir={} ", self.spool.display());
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .filter(|l| l.contains(&workdir))
            .map(str::to_owned)
            .collect()
    }
}

/// The first job of `spool`, once it runs (at most 120 s to start).
fn running_job(spool: &Path) -> u64 {
    running_job_on(shared(), spool)
}

fn running_job_on(cluster: &Slurm, spool: &Path) -> u64 {
    let started = Instant::now();
    let job = loop {
        if spool.is_dir()
            && let Some(job) = spooled_jobs(spool).keys().next()
        {
            break *job;
        }
        assert!(started.elapsed() < Duration::from_secs(120), "no job ran");
        std::thread::sleep(Duration::from_millis(100));
    };
    wait_for_job_on(cluster, job, "RUNNING");
    job
}

/// Sends `signal` (`-INT`, `-TERM`) to `child`.
fn kill(child: &std::process::Child, signal: &str) {
    let pid = child.id().to_string();
    let sent = Command::new("kill").args([signal, &pid]).status().unwrap();
    assert!(sent.success());
}

/// Waits until `job` is in `state` (at most 300 s).
fn wait_for_job(job: u64, state: &str) {
    wait_for_job_on(shared(), job, state);
}

fn wait_for_job_on(cluster: &Slurm, job: u64, state: &str) {
    let started = Instant::now();
    while !scontrol_on(cluster, job).contains(&format!("JobState={state} ")) {
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "not {state}: {}",
            scontrol_on(cluster, job)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_daemon_with_executor_slurm_runs_stages_as_jobs() {
    let dir = shared_tempdir();
    let setup = DaemonSetup::new(dir.path(), b"through the daemon", "{ mode = \"copy\" }");
    let (mut child, url) = setup.start();
    let id = setup.submit(&url);
    let status = setup.wait_for(&url, &id, super::daemon::finished);
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        status,
        "COMPLETED",
        "{}",
        std::fs::read_to_string(&setup.log).unwrap_or_default()
    );
    let jobs = spooled_jobs(&setup.spool);
    assert_eq!(jobs.values().map(Vec::len).sum::<usize>(), 1, "{jobs:?}");
    let shown = scontrol(*jobs.keys().next().unwrap());
    assert!(shown.contains("JobState=COMPLETED"), "{shown}");
    // The group's account from `[slurm.accounts]`.
    assert!(shown.contains("Account=lab-account "), "{shown}");
}

#[test]
fn a_restarted_daemon_re_attaches_to_its_running_job_and_reads_its_result_once() {
    let dir = shared_tempdir();
    let input = b"slow, across three daemons";
    let setup = DaemonSetup::new(dir.path(), input, "{ mode = \"burn\", record = 30000 }");
    let (mut first, url) = setup.start();
    let id = setup.submit(&url);
    let job = running_job(&setup.spool);

    // A graceful stop checkpoints the run and leaves its job running.
    kill(&first, "-TERM");
    first.wait().unwrap();
    assert!(
        scontrol(job).contains("JobState=RUNNING "),
        "{}",
        scontrol(job)
    );

    // The next daemon resumes the run and follows the same job; it is killed
    // outright while the job still runs.
    let (mut second, url) = setup.start();
    setup.wait_for(&url, &id, |s| s == "RUNNING");
    assert!(
        scontrol(job).contains("JobState=RUNNING "),
        "{}",
        scontrol(job)
    );
    second.kill().unwrap();
    second.wait().unwrap();

    // The job ends while no daemon watches; the third reads its result.
    wait_for_job(job, "COMPLETED");
    let (mut third, url) = setup.start();
    let status = setup.wait_for(&url, &id, super::daemon::finished);
    let run = super::daemon::client(&url, &setup.token, &["status", &id, "--json"]);
    third.kill().unwrap();
    third.wait().unwrap();
    let log = std::fs::read_to_string(&setup.log).unwrap_or_default();
    assert_eq!(status, "COMPLETED", "{log}");
    let run = super::daemon::ok_json(run);
    let stage = &run["stages"][0];
    assert_eq!(stage["cache"], "miss", "{run}");
    assert_eq!(
        stage["outputs"][0]["sha256"].as_str().unwrap(),
        Digest::of(input).to_hex(),
        "{run}"
    );

    // One submission, one job on the cluster, one result.
    assert_eq!(setup.submissions(), 1, "{log}");
    let jobs = setup.cluster_jobs();
    assert_eq!(jobs.len(), 1, "{jobs:#?}");
    assert!(jobs[0].contains(&format!("JobId={job} ")), "{jobs:#?}");
    assert_eq!(stage["attempts"].as_array().unwrap().len(), 1, "{run}");
}

/// Deletes every `slurm_jobs` row of `data`'s database (as an owner killed between sbatch and
/// the row leaves it); how many there were.
fn forget_recorded_jobs(data: &Path) -> u64 {
    let db = petri_host::DataDir::new(data).state_db();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let pool = sqlx::sqlite::SqlitePool::connect(&format!("sqlite:{}", db.display()))
                .await
                .unwrap();
            let done = sqlx::query("DELETE FROM slurm_jobs")
                .execute(&pool)
                .await
                .unwrap();
            pool.close().await;
            done.rows_affected()
        })
}

#[test]
fn a_job_whose_row_was_never_written_is_found_by_its_run_name_not_submitted_again() {
    let dir = shared_tempdir();
    let input = b"submitted, then its owner died";
    let setup = DaemonSetup::new(dir.path(), input, "{ mode = \"burn\", record = 30000 }");
    let (mut first, url) = setup.start();
    let id = setup.submit(&url);
    let job = running_job(&setup.spool);
    // Named after the run (its run-loop id, a UUID), not after a task.
    let shown = scontrol(job);
    let name = shown
        .split_once("JobName=petri-")
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .unwrap();
    assert!(
        name.len() == 36 && name.matches('-').count() == 4,
        "{shown}"
    );

    // Killed outright; then the row goes too: what a daemon killed between
    // sbatch and writing the row leaves (a job in Slurm, none in the database).
    first.kill().unwrap();
    first.wait().unwrap();
    assert_eq!(forget_recorded_jobs(&setup.data), 1);

    let (second, url) = setup.start();
    let (run, log) = setup.completed(second, &url, &id, input);
    let stage = &run["stages"][0];
    // The second daemon adopted the job it found under the run's name (and
    // recorded it again) instead of submitting the task a second time.
    assert_eq!(setup.submissions(), 1, "{log}");
    let jobs = setup.cluster_jobs();
    assert_eq!(jobs.len(), 1, "{jobs:#?}");
    assert!(jobs[0].contains(&format!("JobId={job} ")), "{jobs:#?}");
    assert_eq!(stage["attempts"].as_array().unwrap().len(), 1, "{run}");
    assert_eq!(forget_recorded_jobs(&setup.data), 1);
}

#[test]
fn a_job_lost_with_its_node_is_submitted_again_and_the_run_completes() {
    let cluster = expendable();
    let dir = shared_tempdir();
    let input = b"on a node that fails";
    let setup = DaemonSetup::on(
        cluster,
        dir.path(),
        input,
        "{ mode = \"burn\", record = 30000 }",
    );
    let (daemon, url) = setup.start();
    let id = setup.submit(&url);
    let lost = running_job_on(cluster, &setup.spool);

    // The node goes down under its running job. Jobs are submitted
    // `--no-requeue`, so Slurm ends it NODE_FAIL instead of requeueing it
    // itself; the node comes back (`ReturnToService=2`, or the resume).
    let out = cluster
        .command("sinfo")
        .args(["-h", "-o", "%N"])
        .output()
        .unwrap();
    let node = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let down = cluster
        .command("scontrol")
        .args([
            "update",
            &format!("nodename={node}"),
            "state=down",
            "reason=petri-test",
        ])
        .status()
        .unwrap();
    assert!(down.success());
    wait_for_job_on(cluster, lost, "NODE_FAIL");
    // Already back on its own when slurmd answers; an error here only says so.
    let _ = cluster
        .command("scontrol")
        .args(["update", &format!("nodename={node}"), "state=resume"])
        .output()
        .unwrap();

    // The output of a clean run, from one attempt: a lost job is not the
    // stage's failure.
    let (run, log) = setup.completed(daemon, &url, &id, input);
    let stage = &run["stages"][0];
    assert_eq!(stage["attempts"].as_array().unwrap().len(), 1, "{run}");
    // Two arrays: the lost job, then the same task again, completed.
    let jobs = setup.cluster_jobs();
    assert_eq!(jobs.len(), 2, "{jobs:#?}");
    let (first, again): (Vec<_>, Vec<_>) = jobs
        .iter()
        .partition(|j| j.contains(&format!("JobId={lost} ")));
    assert!(first[0].contains("JobState=NODE_FAIL "), "{jobs:#?}");
    assert!(again[0].contains("JobState=COMPLETED "), "{jobs:#?}");
    assert_eq!(setup.submissions(), 2, "{log}");
}

/// The `Nice=` of `scontrol show job -o JOB`.
fn nice_of(job: u64) -> u32 {
    let shown = scontrol(job);
    shown
        .split_once("Nice=")
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no Nice= in {shown}"))
}

#[test]
fn a_pending_jobs_nice_follows_its_samples_shrinking_slack() {
    let dir = shared_tempdir();
    let pipeline = normal_sample_due_in_two_hours(dir.path(), b"waiting in the queue");
    let spool = dir.path().join("spool");
    // Held (`--hold`): the job stays pending, as behind a busy cluster.
    let child = Command::new(env!("CARGO_BIN_EXE_petri"))
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("run")
        .arg(&pipeline)
        .arg("--samples")
        .arg(dir.path().join("samples.tsv"))
        .args(["--executor", "slurm", "--slurm-sbatch-arg=--hold", "--json"])
        .arg("--slurm-spool")
        .arg(&spool)
        .env("SLURM_CONF", &shared().conf)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let ours = format!("|{}", spool.display());
    let started = Instant::now();
    let job: u64 = loop {
        let queue = shared()
            .command("squeue")
            .args(["-h", "-o", "%F|%Z"])
            .output()
            .unwrap();
        let queue = String::from_utf8(queue.stdout).unwrap();
        if let Some(line) = queue.lines().find(|l| l.ends_with(&ours)) {
            break line.split('|').next().unwrap().parse().unwrap();
        }
        assert!(started.elapsed() < Duration::from_secs(60), "{queue}");
        std::thread::sleep(Duration::from_millis(200));
    };
    // Submitted in the normal tier at its slack in minutes (under 120).
    let submitted = nice_of(job);
    assert!((20_000..20_120).contains(&submitted), "{}", scontrol(job));

    // Each minute it waits, its slack is a minute shorter: petri re-nices it
    // (Slurm's order among pending jobs follows), within its tier.
    let started = Instant::now();
    let reniced = loop {
        let nice = nice_of(job);
        if nice != submitted {
            break nice;
        }
        assert!(
            started.elapsed() < Duration::from_secs(150),
            "{}",
            scontrol(job)
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(
        (20_000..submitted).contains(&reniced),
        "{submitted} → {}",
        scontrol(job)
    );
    assert!(
        scontrol(job).contains("JobState=PENDING "),
        "{}",
        scontrol(job)
    );

    // Released, it runs and the run completes.
    let released = shared()
        .command("scontrol")
        .args(["release", &job.to_string()])
        .status()
        .unwrap();
    assert!(released.success());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(json(&out)["status"], "completed");
}
