//! Host overhead benchmark (issue "Measured"): (1) the cost the pipeline layer
//! adds per trivial stage (schedule + instantiate + hash + record), against
//! the same number of bare `petri.instantiate` and `petri.run` calls on the
//! same module; (2) many small pipelines run concurrently in one process:
//! wall time, peak RSS, and every error.
//!
//! `cargo bench -p petri-tests --bench overhead [-- --stages N --runs R --pipelines P --only overhead|concurrent]`
//!
//! A plain harness: each case runs `--runs` times, alternately, and medians
//! are printed as markdown tables with the command line and the load average.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)] // a benchmark

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use petri_host::Dispatcher;
use petri_host::pipeline::{Plan, RunOptions, run_plan, validate};
use petri_host::schedule::FuelModel;
use petri_host::{InputSource, LoadedStage, Outcome, Petri, RawParam, RunRequest, StateStore};
use petri_tests::Fixture;
use tokio::runtime::Runtime;

fn current_thread() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// One worker per core (2 here).
fn multi_thread() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// A field of /proc/self/status, in KiB.
fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|l| {
            l.trim_start_matches(':')
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

/// Resets VmHWM to the current RSS (Linux `clear_refs` value 5).
fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn us(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

/// A pipeline of `n` testkit `copy` stages on `inputs.data`: all fed by the
/// input (`fan_out`) or each by the one before.
fn trivial_pipeline(n: usize, fan_out: bool, input: &Path) -> String {
    let mut text = format!("[inputs.data]\npath = {:?}\n", input.display().to_string());
    for i in 0..n {
        let from = if fan_out || i == 0 {
            "inputs.data".to_owned()
        } else {
            format!("s{}.out", i - 1)
        };
        let _ = write!(
            text,
            "\n[stages.s{i}]\nmodule = {:?}\nparams = {{ mode = \"copy\" }}\ninputs = {{ data = \"{from}\" }}\n",
            petri_plugins::TESTKIT
        );
    }
    text
}

fn plan_of(rt: &Runtime, petri: &Petri, path: &Path) -> Plan {
    rt.block_on(validate(petri, path, None))
        .unwrap_or_else(|d| panic!("invalid: {:?}", &d[..1.min(d.len())]))
}

/// Runs `plan` with `--no-cache`; every stage must succeed.
fn run_no_cache(rt: &Runtime, petri: &Arc<Petri>, state: &StateStore, plan: &Plan) -> Duration {
    let options = RunOptions {
        no_cache: true,
        ..RunOptions::default()
    };
    let t = Instant::now();
    let record = rt
        .block_on(run_plan(petri.clone(), state, plan, &options))
        .expect("run_plan");
    let took = t.elapsed();
    assert_eq!(record.status, "completed");
    assert_eq!(record.stages.len(), plan.stages.len());
    assert!(record.stages.iter().all(|s| s.cache == "miss"));
    took
}

fn copy_request(input: petri_host::Digest) -> RunRequest {
    RunRequest {
        params: vec![("mode".into(), RawParam::Text("copy".into()))],
        inputs: vec![("data".into(), InputSource::Blob(input))],
        attempt: 1,
        ..RunRequest::default()
    }
}

/// `n` sequential `petri.run` calls (copy, the 1-byte blob as input).
fn bare_runs(
    rt: &Runtime,
    petri: &Petri,
    stage: &LoadedStage,
    input: petri_host::Digest,
    n: usize,
) -> Duration {
    let t = Instant::now();
    rt.block_on(async {
        for _ in 0..n {
            let r = petri.run(stage, copy_request(input)).await.expect("run");
            assert!(matches!(r.outcome, Outcome::Succeeded { .. }));
        }
    });
    t.elapsed()
}

/// `n` `petri.run` calls, two at a time on the multi-thread runtime (as
/// `run_plan` runs two stages at a time on 2 cores).
fn bare_runs_parallel(
    rt: &Runtime,
    petri: &Arc<Petri>,
    stage: &Arc<LoadedStage>,
    input: petri_host::Digest,
    n: usize,
    slots: usize,
) -> Duration {
    let t = Instant::now();
    rt.block_on(async {
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..slots {
            let (petri, stage) = (petri.clone(), stage.clone());
            let share = n / slots;
            set.spawn(async move {
                for _ in 0..share {
                    let r = petri.run(&stage, copy_request(input)).await.expect("run");
                    assert!(matches!(r.outcome, Outcome::Succeeded { .. }));
                }
            });
        }
        while let Some(j) = set.join_next().await {
            j.expect("task");
        }
    });
    t.elapsed()
}

fn bare_instantiate(rt: &Runtime, petri: &Petri, stage: &LoadedStage, n: usize) -> Duration {
    let t = Instant::now();
    rt.block_on(async {
        for _ in 0..n {
            petri.instantiate(stage).await.expect("instantiate");
        }
    });
    t.elapsed()
}

fn overhead(n: usize, runs: usize) {
    let fx = Fixture::new();
    let st = current_thread();
    let mt = multi_thread();
    let input = fx.dir.path().join("data.bin");
    std::fs::write(&input, b"x").unwrap();
    let input_digest = fx.petri.blobs().put(b"x").unwrap();
    let stage = Arc::new(
        fx.petri
            .load_file(Path::new(petri_plugins::TESTKIT))
            .unwrap(),
    );
    let fan = fx.pipeline("fan.toml", &trivial_pipeline(n, true, &input));
    let chain = fx.pipeline("chain.toml", &trivial_pipeline(n, false, &input));
    let t = Instant::now();
    let fan_plan = plan_of(&st, &fx.petri, &fan);
    let validate_fan = t.elapsed();
    let t = Instant::now();
    let chain_plan = plan_of(&st, &fx.petri, &chain);
    let validate_chain = t.elapsed();
    let slots = std::thread::available_parallelism().map_or(2, |n| n.get());

    // Warm-up: compiled cache, manifest, page cache, SQLite.
    bare_instantiate(&st, &fx.petri, &stage, 10);
    bare_runs(&st, &fx.petri, &stage, input_digest, 10);
    run_no_cache(
        &st,
        &fx.petri,
        &fx.state,
        &plan_of(
            &st,
            &fx.petri,
            &fx.pipeline("warm.toml", &trivial_pipeline(10, true, &input)),
        ),
    );

    let names = [
        "`petri.instantiate` × N, sequential",
        "`petri.run` (copy, 1-byte blob input) × N, sequential",
        "`run_plan` fan-out of N, current-thread runtime",
        "`run_plan` chain of N, current-thread runtime",
        "`petri.run` × N, 2 at a time, multi-thread runtime",
        "`run_plan` fan-out of N, multi-thread runtime",
        "`run_plan` chain of N, multi-thread runtime",
    ];
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); names.len()];
    let mut loads = Vec::new();
    for r in 0..runs {
        loads.push(load_average());
        times[0].push(bare_instantiate(&st, &fx.petri, &stage, n));
        times[1].push(bare_runs(&st, &fx.petri, &stage, input_digest, n));
        times[2].push(run_no_cache(&st, &fx.petri, &fx.state, &fan_plan));
        times[3].push(run_no_cache(&st, &fx.petri, &fx.state, &chain_plan));
        times[4].push(bare_runs_parallel(
            &mt,
            &fx.petri,
            &stage,
            input_digest,
            n,
            slots,
        ));
        times[5].push(run_no_cache(&mt, &fx.petri, &fx.state, &fan_plan));
        times[6].push(run_no_cache(&mt, &fx.petri, &fx.state, &chain_plan));
        eprintln!(
            "round {}/{runs}: {}",
            r + 1,
            times
                .iter()
                .map(|t| ms(*t.last().unwrap()))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    loads.push(load_average());
    let med: Vec<Duration> = times.iter().map(|t| median(t.clone())).collect();
    let per = |d: Duration| d / n as u32;

    println!("\n### 1. Host overhead per trivial stage (N = {n}, {runs} rounds, medians)\n");
    println!(
        "Load average (1/5/15 min) at the start of each round and at the end: {}\n",
        loads.join(" → ")
    );
    println!(
        "| Case | Wall (median) | Per stage | Stages/s | ÷ `petri.run` (same runtime) | Range of walls |"
    );
    println!("| --- | --- | --- | --- | --- | --- |");
    for (i, name) in names.iter().enumerate() {
        let base = if i >= 4 { med[4] } else { med[1] };
        let mut sorted = times[i].clone();
        sorted.sort();
        println!(
            "| {name} | {} | {} | {:.0} | {:.2}× | {}–{} |",
            ms(med[i]),
            us(per(med[i])),
            n as f64 / med[i].as_secs_f64(),
            med[i].as_secs_f64() / base.as_secs_f64(),
            ms(sorted[0]),
            ms(*sorted.last().unwrap()),
        );
    }
    println!();
    println!(
        "| What the pipeline layer adds per stage (median run_plan − median petri.run, ÷ N) | |"
    );
    println!("| --- | --- |");
    let add = |a: Duration, b: Duration| {
        format!(
            "{:.1} µs",
            (a.as_secs_f64() - b.as_secs_f64()) * 1e6 / n as f64
        )
    };
    println!("| fan-out, current-thread | {} |", add(med[2], med[1]));
    println!("| chain, current-thread | {} |", add(med[3], med[1]));
    println!(
        "| fan-out, multi-thread (vs petri.run 2 at a time) | {} |",
        add(med[5], med[4])
    );
    println!(
        "| chain, multi-thread (vs petri.run 2 at a time) | {} |",
        add(med[6], med[4])
    );
    println!(
        "\nValidation (not in the figures above): fan-out of {n} {}, chain of {n} {}. run_plan slots = {slots}.",
        ms(validate_fan),
        ms(validate_chain)
    );
}

/// What came of `count` concurrent pipeline runs, at most `limit` at a time.
struct Concurrent {
    wall: Duration,
    completed: usize,
    not_completed: usize,
    errors: BTreeMap<String, usize>,
    panics: usize,
    stages: usize,
    rss_before: u64,
    peak: u64,
    rss_after: u64,
    validate: Duration,
    load_before: String,
    load_after: String,
}

fn concurrent(count: usize, limit: usize) -> Concurrent {
    let fx = Fixture::new();
    let st = current_thread();
    let inputs = fx.dir.path().join("inputs");
    std::fs::create_dir_all(&inputs).unwrap();
    let t = Instant::now();
    let mut plans = Vec::with_capacity(count);
    for i in 0..count {
        let input: PathBuf = inputs.join(format!("in{i}.txt"));
        std::fs::write(&input, format!("sample {i}\n")).unwrap();
        let text = format!(
            "[inputs.data]\npath = {:?}\n\n[stages.a]\nmodule = {m:?}\nparams = {{ mode = \"copy\" }}\ninputs = {{ data = \"inputs.data\" }}\n\n[stages.b]\nmodule = {m:?}\nparams = {{ mode = \"copy\", record = 2 }}\ninputs = {{ data = \"a.out\" }}\n\n[stages.c]\nmodule = {m:?}\nparams = {{ mode = \"copy\", record = 3 }}\ninputs = {{ data = \"b.out\" }}\n",
            input.display().to_string(),
            m = petri_plugins::TESTKIT
        );
        let path = fx.pipeline(&format!("p{i}.toml"), &text);
        plans.push(Arc::new(plan_of(&st, &fx.petri, &path)));
    }
    let validate = t.elapsed();
    drop(st);
    let mt = multi_thread();
    let sem = Arc::new(tokio::sync::Semaphore::new(limit));
    // One scheduler for every run, as in the daemon: 2 worker slots in all.
    let dispatcher = Dispatcher::new(None, 2, FuelModel::default()).expect("dispatcher");
    let rss_before = status_kib("VmRSS");
    reset_peak_rss();
    let load_before = load_average();
    let t = Instant::now();
    let results = mt.block_on(async {
        let mut set = tokio::task::JoinSet::new();
        for plan in &plans {
            let (petri, state, plan, sem, dispatcher) = (
                fx.petri.clone(),
                fx.state.clone(),
                plan.clone(),
                sem.clone(),
                dispatcher.clone(),
            );
            set.spawn(async move {
                let _permit = sem.acquire_owned().await.expect("semaphore");
                let options = RunOptions {
                    dispatcher: Some(dispatcher),
                    ..RunOptions::default()
                };
                run_plan(petri, &state, &plan, &options).await
            });
        }
        let mut out = Vec::with_capacity(count);
        while let Some(j) = set.join_next().await {
            out.push(j);
        }
        out
    });
    let wall = t.elapsed();
    let peak = status_kib("VmHWM");
    let rss_after = status_kib("VmRSS");
    let load_after = load_average();
    let mut c = Concurrent {
        wall,
        completed: 0,
        not_completed: 0,
        errors: BTreeMap::new(),
        panics: 0,
        stages: 0,
        rss_before,
        peak,
        rss_after,
        validate,
        load_before,
        load_after,
    };
    for r in results {
        match r {
            Err(_) => c.panics += 1,
            Ok(Err(e)) => *c.errors.entry(format!("{e} ({e:?})")).or_default() += 1,
            Ok(Ok(rec)) => {
                c.stages += rec.stages.iter().filter(|s| s.cache == "miss").count();
                if rec.status == "completed" {
                    c.completed += 1;
                } else {
                    c.not_completed += 1;
                    for s in &rec.stages {
                        if s.status != "succeeded" {
                            let why = s.reason.clone().unwrap_or_default();
                            *c.errors
                                .entry(format!("stage {}: {}: {why}", s.status, s.stage))
                                .or_default() += 1;
                        }
                    }
                }
            }
        }
    }
    drop(mt);
    c
}

fn concurrent_report(count: usize) {
    println!("\n### 2. {count} concurrent 3-stage copy pipelines in one process\n");
    println!(
        "One `Petri`, one `StateStore` (SQLite, WAL) and one `Dispatcher` (2 worker slots in all, as in the daemon) shared by every run; each run has its own input (`sample <i>\\n`) and the three stages differ in the `record` param (copy ignores it), so nothing is cached; all started at once in a `JoinSet` on a multi-thread runtime (2 workers); a semaphore caps how many `run_plan` calls are in flight. Peak RSS = VmHWM after the runs, reset (clear_refs 5) just before them.\n"
    );
    println!(
        "| In flight (cap) | Completed | Not completed | Host errors | Panics | Stages run | Wall | Pipelines/s | Stages/s | RSS before | Peak RSS (VmHWM) | RSS after | Load avg before → after |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    let mut all_errors = Vec::new();
    let mut limit = count;
    loop {
        let c = concurrent(count, limit);
        let errs: usize = c.errors.values().sum();
        println!(
            "| {limit} | {} | {} | {} | {} | {} | {} | {:.0} | {:.0} | {} | {} | {} | {} → {} |",
            c.completed,
            c.not_completed,
            errs,
            c.panics,
            c.stages,
            ms(c.wall),
            c.completed as f64 / c.wall.as_secs_f64(),
            c.stages as f64 / c.wall.as_secs_f64(),
            mib(c.rss_before),
            mib(c.peak),
            mib(c.rss_after),
            c.load_before,
            c.load_after,
        );
        eprintln!(
            "cap {limit}: validate of {count} plans took {}",
            ms(c.validate)
        );
        let ok = c.completed == count;
        if !c.errors.is_empty() {
            all_errors.push((limit, c.errors));
        }
        if ok || limit == 1 {
            break;
        }
        limit = match limit {
            l if l > 500 => 500,
            l if l > 250 => 250,
            l if l > 100 => 100,
            l if l > 50 => 50,
            l if l > 20 => 20,
            l if l > 10 => 10,
            l if l > 4 => 4,
            _ => 1,
        };
    }
    for (limit, errors) in all_errors {
        println!("\nErrors with {limit} in flight (count × text):\n");
        for (e, n) in errors {
            println!("- {n} × `{e}`");
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let num = |name: &str, default: usize| arg(name).map_or(default, |v| v.parse().expect(name));
    let stages = num("--stages", 1000);
    let runs = num("--runs", 3);
    let pipelines = num("--pipelines", 1000);
    let only = arg("--only");
    println!("## Host overhead (`tests/benches/overhead.rs`)\n");
    println!(
        "Command: `cargo bench -p petri-tests --bench overhead -- {}` (binary args: `{}`), {} cores.",
        args[1..]
            .iter()
            .filter(|a| *a != "--bench")
            .cloned()
            .collect::<Vec<_>>()
            .join(" "),
        args[1..].join(" "),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    if only.as_deref() != Some("concurrent") {
        overhead(stages, runs);
    }
    if only.as_deref() != Some("overhead") {
        concurrent_report(pipelines);
    }
}
