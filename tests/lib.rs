//! Shared fixtures for petri's integration tests and benchmarks.
#![allow(clippy::unwrap_used, clippy::expect_used)] // fixtures: a failed setup should fail the test loudly

use std::path::PathBuf;

use petri_host::{InputSource, LoadedStage, Outcome, Petri, RawParam, RunRequest, StageRecord};

/// The repository's bundled example data.
pub fn lambda(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/data/lambda")
        .join(file)
}

/// A host over a fresh temp data dir (kept alive by the returned guard).
pub fn host() -> (Petri, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let petri = Petri::open(dir.path()).expect("open data dir");
    (petri, dir)
}

/// A single-threaded runtime for driving the async host in tests.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}

/// Builds a run request from `k=v` params and `port=path` inputs.
pub fn request(params: &[(&str, &str)], inputs: &[(&str, PathBuf)]) -> RunRequest {
    RunRequest {
        params: params
            .iter()
            .map(|(k, v)| (k.to_string(), RawParam::Text(v.to_string())))
            .collect(),
        inputs: inputs
            .iter()
            .map(|(k, p)| (k.to_string(), InputSource::Path(p.clone())))
            .collect(),
        attempt: 1,
        ..RunRequest::default()
    }
}

/// Runs and returns the record, panicking on host (not stage) errors.
pub fn run(petri: &Petri, stage: &LoadedStage, req: RunRequest) -> StageRecord {
    block_on(petri.run(stage, req)).expect("host error")
}

/// The report of a successful run.
pub fn succeeded(r: &StageRecord) -> &petri_host::Report {
    match &r.outcome {
        Outcome::Succeeded { report } => report,
        Outcome::Failed { failure } => panic!("run failed: {failure}"),
    }
}

/// The failure of a failed run.
pub fn failed(r: &StageRecord) -> &petri_host::Failure {
    match &r.outcome {
        Outcome::Failed { failure } => failure,
        Outcome::Succeeded { .. } => panic!("run succeeded unexpectedly"),
    }
}
