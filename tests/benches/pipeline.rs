//! Benchmark: validating a synthetic 10,000-stage pipeline (goal: well under a second).
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: setup failures should stop it

use std::fmt::Write as _;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use petri_host::Petri;
use petri_host::pipeline::validate;

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

criterion_group!(benches, bench);
criterion_main!(benches);
