//! Scheduler benchmarks: priority recomputation with 100,000 queued tasks, one dispatch decision,
//! and one incremental insert, on the same scheduling core `petri simulate` uses.
//!
//! `cargo bench -p petri-schedule --bench schedule`

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use petri_schedule::{
    COMPUTE, Config, FuelModel, Instrument, Policy, Priority, SampleProfile, Scheduler, Span,
    TaskSpec, Timestamp,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const QUEUED: usize = 100_000;
const T0: Timestamp = Timestamp(1_800_000_000_000);
const MODULES: [&str; 8] = [
    "qc", "trim", "align", "dedup", "call", "annotate", "coverage", "report",
];

/// A scheduler with one compute slot and one GPU slot, nothing running.
fn empty(policy: Policy) -> Scheduler {
    let mut fuel = FuelModel::new();
    for (i, m) in MODULES.iter().enumerate() {
        fuel.observe(m, 1_000_000_000 * (i as u64 + 1), None);
    }
    let instruments = vec![
        Instrument::new("node", COMPUTE, 1),
        Instrument::new("gpu-box", "gpu", 1),
    ];
    match Scheduler::new(policy, instruments, fuel, Config::default()) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    }
}

/// One random single-stage sample (so every task is queued at once).
fn add(s: &mut Scheduler, rng: &mut ChaCha8Rng, n: usize) {
    let now = T0 + Span::SECOND.saturating_mul(n as i64);
    let priority = match rng.random_range(0..20) {
        0 => Priority::Clinical,
        1 | 2 => Priority::Urgent,
        _ => Priority::Normal,
    };
    let deadline = (rng.random_range(0..4) > 0)
        .then(|| now + Span::HOUR.saturating_mul(rng.random_range(-12..240)));
    let class = if n.is_multiple_of(2) { COMPUTE } else { "gpu" };
    let spec = [TaskSpec::new("stage", MODULES[n % MODULES.len()], class)];
    let profile = SampleProfile::new(format!("s{n}"), priority, Some(now), deadline, None);
    if let Err(e) = s.add_sample(profile, &spec, now) {
        panic!("{e}");
    }
}

fn loaded(policy: Policy) -> (Scheduler, ChaCha8Rng) {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut s = empty(policy);
    for n in 0..QUEUED {
        add(&mut s, &mut rng, n);
    }
    assert_eq!(s.queued(), QUEUED);
    (s, rng)
}

fn recompute(c: &mut Criterion) {
    let (mut s, _) = loaded(Policy::Petri);
    c.bench_function("schedule/recompute_all/100000", |b| {
        b.iter(|| {
            s.recompute_all();
            black_box(s.queued())
        })
    });
}

fn dispatch(c: &mut Criterion) {
    let (mut s, mut rng) = loaded(Policy::Petri);
    let mut n = QUEUED;
    let mut now = T0 + Span::DAY;
    // Each iteration: one timed dispatch decision that fills the one free compute
    // slot from 100,000 queued tasks; then (untimed) the task completes and a new
    // sample arrives, so the queue stays at 100,000.
    c.bench_function("schedule/dispatch/100000", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let t = Instant::now();
                let started = s.dispatch(now);
                total += t.elapsed();
                for a in started {
                    if let Err(e) = s.complete(a.task, now + Span::SECOND, None) {
                        panic!("{e}");
                    }
                    add(&mut s, &mut rng, n);
                    n += 1;
                }
                now += Span::SECOND;
            }
            total
        })
    });
}

fn insert(c: &mut Criterion) {
    let (mut s, mut rng) = loaded(Policy::Petri);
    let mut n = QUEUED;
    // Incremental recomputation when a sample arrives: its tasks are keyed and inserted.
    c.bench_function("schedule/add_sample/100000", |b| {
        b.iter(|| {
            add(&mut s, &mut rng, n);
            n += 1;
        })
    });
}

criterion_group!(benches, recompute, dispatch, insert);
criterion_main!(benches);
