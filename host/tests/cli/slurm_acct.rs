//! The Slurm executor on a cluster with accounting (slurmdbd and MariaDB, tests/scripts/slurm.sh with
//! `PETRI_SLURM_ACCOUNTING=1`): a job slurmctld has forgotten ends as `sacct` says, not vanished.

use std::time::{Duration, Instant};

use petri_host::executor::slurm::acct::Accounting;
use petri_host::executor::slurm::state::JobState;
use petri_host::executor::slurm::{JobStatus, SlurmJob};
use petri_host::executor::{ExitKind, LostCause, Recovery, Submission, Task, TaskOutcome};
use petri_host::{Digest, Limits};

use super::slurm::{Slurm, accounted, shared};
use super::slurm_exec::{executor_on, shared_tempdir, store, task};

/// Waits until slurmctld has purged `array_job` (`scontrol show job` refuses it).
fn wait_until_forgotten(cluster: &Slurm, array_job: u64) {
    let started = Instant::now();
    loop {
        let out = cluster
            .command("scontrol")
            .args(["show", "job", &array_job.to_string()])
            .output()
            .unwrap();
        if !out.status.success() {
            return;
        }
        // MinJobAge=2, and slurmctld purges old jobs about once a minute at most.
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "slurmctld still knows job {array_job} after 180 s: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_slurmctld_has_forgotten_ends_as_sacct_says_not_vanished() {
    let dir = shared_tempdir();
    let data = dir.path();
    let (blobs, module) = store(data);
    let (spin, spin_task) = task(&blobs, module, "spin", b"", Limits::default());
    // Another engine profile: `petri exec` exits 3 at once, without a record or a report.
    let (copy, _) = task(&blobs, module, "copy", b"x", Limits::default());
    let mut foreign = Task::load(&blobs, &copy).unwrap();
    foreign.engine_profile_id = Digest::of(b"a petri built differently");
    let foreign_digest = foreign.store(&blobs).unwrap();

    let poll = Duration::from_millis(200);
    let plain = executor_on(shared(), data, poll);
    assert_eq!(plain.accounting().await.unwrap(), Accounting::Absent);
    let cluster = accounted();
    let slurm = executor_on(cluster, data, poll);
    assert!(slurm.accounting().await.unwrap().is_present());

    let jobs = slurm
        .submit(&[
            Submission::new(spin, &spin_task),
            Submission::new(foreign_digest, &foreign),
        ])
        .await
        .unwrap();
    assert_eq!(jobs[0].array_job, jobs[1].array_job, "one array");
    // Nobody waits on the jobs while they end: the spinning one is cancelled
    // once it runs, the foreign one fails by itself.
    let started = Instant::now();
    while !matches!(
        &slurm.status(&jobs[..1]).await.unwrap()[0],
        JobStatus::Known {
            state: JobState::Running,
            ..
        }
    ) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "not running after 60 s"
        );
        tokio::time::sleep(poll).await;
    }
    slurm.cancel(&jobs[..1]).await.unwrap();
    wait_until_forgotten(cluster, jobs[0].array_job);
    assert_eq!(
        slurm.status(&jobs).await.unwrap(),
        [JobStatus::Gone, JobStatus::Gone],
        "scontrol knows neither"
    );

    let ends = slurm.wait(&jobs).await.unwrap();
    assert_eq!(ends[0].outcome, TaskOutcome::Cancelled);
    assert_eq!(ends[0].state, Some(JobState::Cancelled));
    assert_eq!(ends[0].recovery(), Recovery::Stop);
    assert_eq!(
        ends[1].outcome,
        TaskOutcome::Exited {
            exit: ExitKind::EngineProfile
        }
    );
    assert_eq!(ends[1].state, Some(JobState::Failed));
    assert!(
        ends.iter().all(|e| e.report.is_none()),
        "no reports: {ends:?}"
    );
    assert!(slurm.acct_calls() >= 1);

    // A job neither slurmctld nor accounting knows is still vanished; without
    // accounting petri never asks sacct.
    let unknown = [SlurmJob {
        task: spin,
        array_job: 60_000_000,
        index: 0,
    }];
    let vanished = TaskOutcome::Lost {
        cause: LostCause::Vanished,
    };
    for (ex, calls) in [(&slurm, slurm.acct_calls() + 1), (&plain, 0)] {
        let ends = ex.wait(&unknown).await.unwrap();
        assert_eq!((&ends[0].outcome, &ends[0].state), (&vanished, &None));
        assert_eq!(ex.acct_calls(), calls);
    }
}
