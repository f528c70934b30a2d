-- Slurm jobs a run submitted (pipeline/run/remote.rs, store/jobs.rs): one row
-- per array task, written as soon as sbatch named it, so a run resumed by a
-- restarted daemon re-attaches to its stage's job (and reads its result
-- once) instead of submitting the task again. `state`: submitted (followed,
-- or was when its follower stopped), ended (its end was the attempt's
-- result), requeued (lost or cancelled; its task was submitted again).
CREATE TABLE slurm_jobs (
    array_job BIGINT NOT NULL,
    array_index BIGINT NOT NULL,
    run_id TEXT NOT NULL,
    sample TEXT NOT NULL,
    stage TEXT NOT NULL,
    attempt BIGINT NOT NULL,
    task TEXT NOT NULL,
    state TEXT NOT NULL,
    submitted_ms BIGINT NOT NULL,
    PRIMARY KEY (array_job, array_index)
);
CREATE INDEX slurm_jobs_by_stage ON slurm_jobs (run_id, sample, stage, task);
