//! Shared fixtures for petri's integration tests and benchmarks.
#![allow(clippy::unwrap_used, clippy::expect_used)] // fixtures: a failed setup should fail the test loudly

pub mod oracle;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use petri_host::pipeline::{RunOptions, RunRecord, RunStage, run_plan, validate};
use petri_host::{
    DataDir, InputSource, LoadedStage, Outcome, Petri, RawParam, RunRequest, StageRecord,
    StateStore,
};

/// The repository's bundled example data.
pub fn lambda(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/data/lambda")
        .join(file)
}

/// The example pipeline over the bundled data (`examples/lambda/pipeline.toml`:
/// QC → align → coverage, call → consensus); its inputs name `../data/lambda/<file>`.
pub fn lambda_example() -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/lambda/pipeline.toml"),
    )
    .unwrap()
}

/// A one-stage pipeline: testkit copies `data.bin` (beside the pipeline file)
/// from `inputs.data` to `copy.out`.
pub const COPY_DATA: &str = r#"
[inputs.data]
path = "data.bin"

[stages.copy]
module = "TESTKIT"
params = { mode = "copy" }
inputs = { data = "inputs.data" }
"#;

/// Alignment and calling on the raw lambda pairs: the same input the bwa +
/// bcftools oracle gets.
pub const LAMBDA_ALIGN_CALL: &str = r#"
[inputs.reference]
path = "../data/lambda/lambda_virus.fa.gz"
[inputs.reads]
path = "../data/lambda/reads_1.fq.gz"
[inputs.mates]
path = "../data/lambda/reads_2.fq.gz"

[stages.align]
module = "align"
inputs = { reference = "inputs.reference", reads = "inputs.reads", mates = "inputs.mates" }

[stages.call]
module = "call-variants"
inputs = { reference = "inputs.reference", alignments = "align.alignments" }
"#;

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

/// Overwrites a stored file in place (blobs and records are kept read-only):
/// what someone with disk access does.
pub fn overwrite(path: &Path, bytes: &[u8]) {
    let mut perms = std::fs::metadata(path).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(path, perms).unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// The stage `name` of a run.
pub fn stage<'a>(run: &'a RunRecord, name: &str) -> &'a RunStage {
    run.stages
        .iter()
        .find(|s| s.stage == name)
        .unwrap_or_else(|| panic!("no stage `{name}` in the run"))
}

/// A host, its state database and a temp dir for pipeline files.
pub struct Fixture {
    pub petri: Arc<Petri>,
    pub state: StateStore,
    pub dir: tempfile::TempDir,
}

impl Fixture {
    pub fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let petri = Arc::new(Petri::open(dir.path().join("data")).unwrap());
        let state = block_on(StateStore::open(
            &DataDir::new(dir.path().join("data")).state_db(),
        ))
        .unwrap();
        Fixture { petri, state, dir }
    }

    /// Writes `text` as a pipeline file, with modules given by registered
    /// name (`module = "align"`) or as `TESTKIT`/`QC` replaced by the built
    /// plugins' paths.
    pub fn pipeline(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        let mut text = text
            .replace("TESTKIT", petri_plugins::TESTKIT)
            .replace("\"QC\"", &format!("{:?}", petri_plugins::FASTQ_QC));
        for (plugin, wasm) in petri_plugins::ALL {
            text = text.replace(
                &format!("module = {plugin:?}"),
                &format!("module = {wasm:?}"),
            );
        }
        std::fs::write(&path, text).unwrap();
        path
    }

    /// [`Fixture::pipeline`] for a pipeline whose inputs name
    /// `../data/lambda/<file>` (as the example does): they become the bundled data.
    pub fn lambda_pipeline(&self, name: &str, text: &str) -> PathBuf {
        let text = text.replace("../data/lambda/", &format!("{}/", lambda("").display()));
        self.pipeline(name, &text)
    }

    /// Validates and runs a pipeline file; panics if it is invalid.
    pub fn run(&self, path: &Path, no_cache: bool) -> RunRecord {
        self.run_sheet(path, None, no_cache)
    }

    /// [`Fixture::run`] over a sample sheet (when given).
    pub fn run_sheet(&self, path: &Path, sheet: Option<&Path>, no_cache: bool) -> RunRecord {
        let plan = block_on(validate(&self.petri, path, sheet))
            .unwrap_or_else(|d| panic!("invalid: {d:?}"));
        let options = RunOptions {
            no_cache,
            ..RunOptions::default()
        };
        block_on(run_plan(self.petri.clone(), &self.state, &plan, &options)).unwrap()
    }
}

impl Default for Fixture {
    fn default() -> Fixture {
        Fixture::new()
    }
}

/// A completed run of a pipeline over the lambda data, and `work`: a dir
/// holding the plain reference indexed for the oracles (`ref.fa`).
pub struct LambdaRun {
    pub fixture: Fixture,
    pub run: RunRecord,
    pub work: PathBuf,
}

impl LambdaRun {
    /// Runs `pipeline` (inputs as in [`Fixture::lambda_pipeline`]); panics
    /// unless it completes.
    pub fn new(pipeline: &str) -> LambdaRun {
        let fixture = Fixture::new();
        let path = fixture.lambda_pipeline("lambda.toml", pipeline);
        let run = fixture.run(&path, false);
        assert_eq!(run.status, "completed", "{run:#?}");
        let work = fixture.dir.path().join("oracle");
        std::fs::create_dir_all(&work).unwrap();
        oracle::indexed_reference(&work, &lambda("lambda_virus.fa.gz"));
        LambdaRun { fixture, run, work }
    }

    /// Where the blob store keeps a stage's output.
    pub fn output(&self, stage_name: &str, port: &str) -> PathBuf {
        let s = stage(&self.run, stage_name);
        let o = s.outputs.iter().find(|o| o.port == port).unwrap();
        self.fixture.petri.blobs().local_path(&o.sha256).unwrap()
    }

    /// Copies a stage's output into the work dir as `name`.
    pub fn copy_output(&self, stage_name: &str, port: &str, name: &str) -> PathBuf {
        let to = self.work.join(name);
        std::fs::copy(self.output(stage_name, port), &to).unwrap();
        to
    }
}
