//! The batch jobs runs submitted (`slurm_jobs`), on both backends: a resumed attempt finds its
//! newest job that was not given up, and only its own (run, sample, stage, task).

use petri_host::{Digest, JobId, JobOwner, StateStore, TrackedState};

use super::on_both_urls;

#[test]
fn a_resumed_attempt_finds_its_newest_job_not_given_up() {
    on_both_urls(|url| async move {
        let jobs = StateStore::open_url(&url).await.unwrap().jobs();
        let owner = JobOwner {
            run_id: "run-1".into(),
            sample: "s1".into(),
            stage: "align".into(),
            attempt: 1,
            task: Digest::of(b"task of attempt 1"),
        };
        assert_eq!(jobs.attachable(&owner).await.unwrap(), None);

        let first = JobId {
            array_job: 41,
            index: 3,
        };
        jobs.submitted(&owner, first, 1_000).await.unwrap();
        let found = jobs.attachable(&owner).await.unwrap().unwrap();
        assert_eq!((found.id, found.state), (first, TrackedState::Submitted));
        assert_eq!(found.owner, owner);

        // Lost, so given up and submitted again: the new job is the one to follow.
        jobs.set(first, TrackedState::Requeued).await.unwrap();
        assert_eq!(jobs.attachable(&owner).await.unwrap(), None);
        let second = JobId {
            array_job: u64::from(u32::MAX) + 7,
            index: 999,
        };
        jobs.submitted(&owner, second, 2_000).await.unwrap();
        jobs.set(second, TrackedState::Ended).await.unwrap();
        let found = jobs.attachable(&owner).await.unwrap().unwrap();
        assert_eq!((found.id, found.state), (second, TrackedState::Ended));

        // Another attempt's task, sample or run is not this attempt's.
        for other in [
            JobOwner {
                attempt: 2,
                task: Digest::of(b"task of attempt 2"),
                ..owner.clone()
            },
            JobOwner {
                sample: "s2".into(),
                ..owner.clone()
            },
            JobOwner {
                run_id: "run-2".into(),
                ..owner.clone()
            },
        ] {
            assert_eq!(jobs.attachable(&other).await.unwrap(), None, "{other:?}");
        }
        let listed: Vec<(JobId, TrackedState)> = jobs
            .of_run("run-1")
            .await
            .unwrap()
            .into_iter()
            .map(|j| (j.id, j.state))
            .collect();
        assert_eq!(
            listed,
            [
                (first, TrackedState::Requeued),
                (second, TrackedState::Ended)
            ]
        );
    });
}
