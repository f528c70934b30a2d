//! Benchmarks: validating a synthetic 10,000-stage pipeline (goal: well under a second), and a
//! 100,000-row sample sheet as the daemon validates a submission (its uploaded-files namespace).
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: setup failures should stop it

use std::fmt::Write as _;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use petri_host::Petri;
use petri_host::pipeline::{Files, Source, Uploaded, validate, validate_source};

/// A chain of `n` testkit stages, each fed by the one before (a deep DAG:
/// the worst case for topological ordering and wiring checks).
fn pipeline(n: usize) -> String {
    let mut text = String::from("[inputs.data]\npath = \"data.bin\"\n");
    for i in 0..n {
        let from = if i == 0 {
            "inputs.data".to_owned()
        } else {
            format!("s{}.out", i - 1)
        };
        let _ = write!(
            text,
            "\n[stages.s{i}]\nmodule = \"{}\"\nparams = {{ mode = \"copy\" }}\ninputs = {{ data = \"{from}\" }}\n",
            petri_plugins::TESTKIT
        );
    }
    text
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("data.bin"), b"x").expect("data");
    let path = dir.path().join("big.toml");
    std::fs::write(&path, pipeline(10_000)).expect("pipeline");
    let petri = Arc::new(Petri::open(dir.path().join("data")).expect("data dir"));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // Warm: the module is compiled once and its manifest cached, as in a daemon.
    let plan = rt
        .block_on(validate(&petri, &path, None))
        .unwrap_or_else(|d| panic!("{:?}", &d[..1]));
    assert_eq!(plan.stages.len(), 10_000);
    let mut group = c.benchmark_group("validate");
    group.sample_size(10);
    group.bench_function("10k_stage_chain", |b| {
        b.iter(|| {
            rt.block_on(validate(&petri, &path, None))
                .map(|p| p.stages.len())
                .unwrap_or(0)
        })
    });
    group.finish();
}

/// A daemon submission: one testkit stage over a sheet of `rows` samples,
/// each naming one of two uploaded files.
fn sheet_submission(petri: &Petri, rows: usize) -> Source {
    let stage = petri
        .load_file(petri_plugins::TESTKIT.as_ref())
        .expect("testkit");
    let text = format!(
        "[inputs.data]\nformat = \"fastq\"\n\n[stages.copy]\nmodule = \"sha256:{}\"\ninputs = {{ data = \"inputs.data\" }}\n",
        stage.digest
    );
    let mut sheet = String::from("sample\tdata\n");
    for i in 0..rows {
        let _ = writeln!(sheet, "s{i}\treads_{}.fq", i % 2);
    }
    let fastq = petri.blobs().put(b"@r\nACGT\n+\nIIII\n").expect("blob");
    let files = Uploaded::new(
        [("reads_0.fq".into(), fastq), ("reads_1.fq".into(), fastq)].into(),
        [stage.digest].into(),
    );
    Source {
        path: "pipeline.toml".into(),
        text,
        sheet: Some(("samples.tsv".into(), sheet)),
        files: Files::Uploaded(files),
    }
}

fn bench_sheet(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let petri = Petri::open(dir.path().join("data")).expect("data dir");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let plan = rt
        .block_on(validate_source(&petri, sheet_submission(&petri, 100_000)))
        .unwrap_or_else(|d| panic!("{:?}", &d[..1]));
    assert_eq!(plan.samples.len(), 100_000);
    let mut group = c.benchmark_group("validate");
    group.sample_size(10);
    group.bench_function("100k_row_sheet_daemon", |b| {
        b.iter_batched(
            || sheet_submission(&petri, 100_000),
            |source| {
                rt.block_on(validate_source(&petri, source))
                    .map(|p| p.samples.len())
                    .unwrap_or(0)
            },
            criterion::BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, bench, bench_sheet);
criterion_main!(benches);
