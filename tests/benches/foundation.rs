//! Foundation benchmarks: component load, fastq-qc native vs wasm, SHA-256 streaming.
//!
//! Groups: `load` (cold compile vs cache hit vs instantiate), `qc_lambda`
//! (fastq-qc on the lambda reads, native `run_qc` vs the component through
//! `petri.run`) and `sha256` (petri's hasher vs sha2 in one call and OpenSSL).
//! Every measurement is a pair (or more) of cases run side by side, so results
//! are read as ratios against a baseline on the same machine, never as timed
//! assertions. `docs/benchmarks.md` has the commands and the recorded figures.
//!
//! Run with `cargo bench -p petri-tests --bench foundation`. The `sha256` group
//! also hashes a large file when one exists at `$PETRI_BENCH_FILE` (default
//! `/tmp/petri-1g.bin`, e.g. made by `head -c 1G /dev/urandom > /tmp/petri-1g.bin`).
#![allow(clippy::expect_used, clippy::unwrap_used)] // a benchmark: failing loudly is the error handling

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{
    BatchSize, BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use petri_host::{CacheOutcome, CompiledCache, Digest, LoadedStage, Outcome, Petri, StageRecord};
use petri_plugin_fastq_qc::{QcParams, run_qc};
use petri_tests::{lambda, request};
use sha2::{Digest as _, Sha256};
use tokio::runtime::Runtime;

/// The components measured by the `load` group, as (name, path).
const COMPONENTS: [(&str, &str); 2] = [
    ("fastq-qc", petri_plugins::FASTQ_QC),
    ("testkit", petri_plugins::TESTKIT),
];

/// One runtime for the whole process, so no case pays for building one.
fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// A host over a fresh data dir with `path` loaded twice: the first load
/// compiles (a miss), the second must be a verified cache hit.
fn warm_host(path: &str) -> (Petri, tempfile::TempDir, LoadedStage) {
    let dir = tempfile::tempdir().expect("temp dir");
    let petri = Petri::open(dir.path()).expect("open data dir");
    let first = petri.load_file(Path::new(path)).expect("first load");
    assert_eq!(first.cache, CacheOutcome::Miss, "{path}: fresh data dir");
    let stage = petri.load_file(Path::new(path)).expect("second load");
    assert_eq!(stage.cache, CacheOutcome::Hit, "{path}: warm data dir");
    (petri, dir, stage)
}

/// Load: compiling into an empty cache vs a warm cache hit vs a fresh instantiation.
fn load(c: &mut Criterion) {
    let rt = runtime();
    let mut g = c.benchmark_group("load");
    for (name, path) in COMPONENTS {
        let wasm = std::fs::read(path).expect("read component");
        let digest = Digest::of(&wasm);
        let (petri, _dir, stage) = warm_host(path);

        // Cranelift over the whole component, then serialise and store (with
        // fsync) the entry: what the first run of a new module pays.
        g.sampling_mode(SamplingMode::Flat)
            .sample_size(10)
            .warm_up_time(Duration::from_secs(2))
            .measurement_time(Duration::from_secs(10));
        g.bench_function(BenchmarkId::new("cold_compile", name), |b| {
            b.iter_batched(
                || {
                    let dir = tempfile::tempdir().expect("temp dir");
                    let cache = CompiledCache::open(dir.path()).expect("open cache");
                    (dir, cache)
                },
                |(dir, cache)| {
                    let (component, outcome) = cache
                        .load(petri.engine(), petri.profile(), &digest, &wasm)
                        .expect("compile");
                    assert_eq!(outcome, CacheOutcome::Miss);
                    // Returned, so dropping the entry and its dir is not timed.
                    (component, dir)
                },
                BatchSize::PerIteration,
            )
        });

        g.sampling_mode(SamplingMode::Auto)
            .sample_size(50)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(5));
        // Everything `petri run` pays to get a runnable stage from a warm data
        // dir: read the file, hash it and keep it in the blob store, read the
        // cache entry, verify its SHA-256, deserialise, link (instantiate_pre).
        g.bench_function(BenchmarkId::new("cache_hit", name), |b| {
            b.iter(|| {
                let stage = petri.load_file(Path::new(path)).expect("load");
                assert_eq!(stage.cache, CacheOutcome::Hit);
                stage
            })
        });
        // The compiled cache alone: read, verify and deserialise the entry.
        g.bench_function(BenchmarkId::new("cache_hit_entry_only", name), |b| {
            b.iter(|| {
                let (component, outcome) = petri
                    .cache()
                    .load(petri.engine(), petri.profile(), &digest, &wasm)
                    .expect("load entry");
                assert_eq!(outcome, CacheOutcome::Hit);
                component
            })
        });
        // A fresh sandbox per run: store, fuel, limiter, instantiate.
        g.bench_function(BenchmarkId::new("instantiate", name), |b| {
            b.iter(|| rt.block_on(petri.instantiate(&stage)).expect("instantiate"))
        });
    }
    // The fixed cost of one `petri.run` that does no work (testkit `copy`, no
    // input): instantiate, run, store the output and log blobs, write the
    // provenance record (fsynced). A floor under every run, e.g. qc_lambda/wasm.
    let (petri, _dir, stage) = warm_host(petri_plugins::TESTKIT);
    g.bench_function(BenchmarkId::new("run_noop", "testkit"), |b| {
        b.iter(|| {
            let record = rt
                .block_on(petri.run(&stage, request(&[("mode", "copy")], &[])))
                .expect("run");
            assert!(matches!(record.outcome, Outcome::Succeeded { .. }));
            record
        })
    });
    g.finish();
}

/// Output digests of one native QC pass, for the same-output check.
fn native_qc_digests(reads: &Path, mates: &Path) -> (Digest, Digest, u64) {
    let (mut out, mut out_mates) = (Vec::new(), Vec::new());
    let summary = run_qc(
        &QcParams::default(),
        File::open(reads).expect("open reads"),
        Some(File::open(mates).expect("open mates")),
        &mut out,
        Some(&mut out_mates),
        |_| {},
    )
    .expect("native qc");
    (Digest::of(&out), Digest::of(&out_mates), summary.pairs_in)
}

fn output(record: &StageRecord, port: &str) -> Digest {
    record
        .outputs
        .iter()
        .find(|o| o.port == port)
        .unwrap_or_else(|| panic!("no output `{port}`"))
        .sha256
}

/// fastq-qc on the 10k lambda pairs: native `run_qc` vs the component through
/// `petri.run` (fuel metering on, warm cache, inputs hashed and kept in the store).
fn qc_lambda(c: &mut Criterion) {
    let rt = runtime();
    let (reads, mates) = (lambda("reads_1.fq.gz"), lambda("reads_2.fq.gz"));
    let (petri, _dir, stage) = warm_host(petri_plugins::FASTQ_QC);
    let inputs: [(&str, PathBuf); 2] = [("reads", reads.clone()), ("mates", mates.clone())];

    // Same input, same output: the wasm run must produce exactly the native bytes.
    let (trimmed, trimmed_mates, pairs) = native_qc_digests(&reads, &mates);
    let record = wasm_qc(&rt, &petri, &stage, &inputs);
    assert_eq!(output(&record, "trimmed"), trimmed, "trimmed differs");
    assert_eq!(
        output(&record, "trimmed-mates"),
        trimmed_mates,
        "trimmed-mates differs"
    );
    eprintln!(
        "qc_lambda: {pairs} pairs, outputs identical native/wasm, fuel used {}",
        record.fuel_used
    );

    let mut g = c.benchmark_group("qc_lambda");
    g.throughput(Throughput::Elements(pairs))
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(10));
    // The headline pair: the stage as shipped (gzip input), native vs wasm.
    g.bench_function("native", |b| b.iter(|| native_qc(&reads, &mates)));
    g.bench_function("wasm", |b| b.iter(|| wasm_qc(&rt, &petri, &stage, &inputs)));
    // The same reads decompressed beforehand: takes gzip inflate (miniz_oxide)
    // out of both sides, to show how much of the gap is inflate in wasm.
    let plain = tempfile::tempdir().expect("temp dir");
    let plain_inputs = [
        ("reads", gunzip(&reads, &plain.path().join("reads_1.fq"))),
        ("mates", gunzip(&mates, &plain.path().join("reads_2.fq"))),
    ];
    let record = wasm_qc(&rt, &petri, &stage, &plain_inputs);
    assert_eq!(output(&record, "trimmed"), trimmed, "plain trimmed differs");
    g.bench_function("native_plain", |b| {
        b.iter(|| native_qc(&plain_inputs[0].1, &plain_inputs[1].1))
    });
    g.bench_function("wasm_plain", |b| {
        b.iter(|| wasm_qc(&rt, &petri, &stage, &plain_inputs))
    });
    g.finish();
}

/// One native QC pass over paired files, discarding the output.
fn native_qc(reads: &Path, mates: &Path) -> petri_plugin_fastq_qc::summary::Summary {
    run_qc(
        &QcParams::default(),
        File::open(reads).expect("open reads"),
        Some(File::open(mates).expect("open mates")),
        io::sink(),
        Some(io::sink()),
        |_| {},
    )
    .expect("native qc")
}

/// One QC run through petri (default params, default limits: fuel on).
fn wasm_qc(
    rt: &Runtime,
    petri: &Petri,
    stage: &LoadedStage,
    inputs: &[(&str, PathBuf)],
) -> StageRecord {
    let record = rt
        .block_on(petri.run(stage, request(&[], inputs)))
        .expect("wasm qc");
    assert!(
        matches!(record.outcome, Outcome::Succeeded { .. }),
        "wasm qc failed: {:?}",
        record.outcome
    );
    record
}

/// Decompresses `gz` to `to`, returning `to`.
fn gunzip(gz: &Path, to: &Path) -> PathBuf {
    let mut decoder = flate2::read::MultiGzDecoder::new(File::open(gz).expect("open gz"));
    let mut out = File::create(to).expect("create plain");
    io::copy(&mut decoder, &mut out).expect("gunzip");
    to.to_owned()
}

/// `len` pseudo-random bytes (xorshift64*), so hashing sees incompressible data.
fn random_bytes(len: usize) -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// SHA-256 throughput: the sha2 crate in one call (baseline) vs petri's
/// streaming `Digest::of_reader`, over memory and over a (page-cached) file,
/// and the blob store's hash-and-write path that every input is teed through.
fn sha256(c: &mut Criterion) {
    const MEM: usize = 256 << 20;
    let buf = random_bytes(MEM);
    let (petri, _dir) = petri_tests::host();

    let mut g = c.benchmark_group("sha256");
    g.throughput(Throughput::Bytes(MEM as u64))
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(8));
    g.bench_function("sha2_digest_mem", |b| {
        b.iter(|| Sha256::digest(std::hint::black_box(&buf)))
    });
    g.bench_function("petri_of_reader_mem", |b| {
        b.iter(|| Digest::of_reader(std::hint::black_box(&buf[..])).expect("hash"))
    });
    // Hash + write a temp file in the store; the blob already exists after the
    // first iteration, so each commit discards the copy (no fsync).
    g.bench_function("blob_store_put_mem", |b| {
        b.iter(|| petri.blobs().put(std::hint::black_box(&buf)).expect("put"))
    });

    let file = std::env::var_os("PETRI_BENCH_FILE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp/petri-1g.bin"));
    match std::fs::metadata(&file) {
        Ok(meta) if meta.is_file() => {
            g.throughput(Throughput::Bytes(meta.len()))
                .measurement_time(Duration::from_secs(20));
            g.bench_function("petri_of_reader_file", |b| {
                b.iter(|| Digest::of_reader(File::open(&file).expect("open")).expect("hash"))
            });
            // The baseline side by side: OpenSSL's digest of the same file
            // (includes starting the process, a few ms).
            let openssl = || {
                std::process::Command::new("openssl")
                    .arg("dgst")
                    .arg("-sha256")
                    .arg(&file)
                    .output()
            };
            if openssl().is_ok_and(|o| o.status.success()) {
                g.bench_function("openssl_dgst_file", |b| {
                    b.iter(|| openssl().expect("openssl"))
                });
            } else {
                eprintln!("sha256: skipping openssl_dgst_file: `openssl` not found");
            }
        }
        _ => eprintln!(
            "sha256: skipping petri_of_reader_file: no file at {} (set PETRI_BENCH_FILE)",
            file.display()
        ),
    }
    g.finish();
}

criterion_group!(benches, load, qc_lambda, sha256);
criterion_main!(benches);
