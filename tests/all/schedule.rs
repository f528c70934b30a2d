//! The executor under the scheduler: instrument maintenance holds stages back, instruments
//! changing mid-run preempt and re-queue stages, runs share one dispatcher, fuel yielding
//! interleaves long stages on one thread.

use std::sync::Arc;
use std::time::Instant;

use petri_host::Dispatcher;
use petri_host::pipeline::{EventCallback, RunEvent, RunOptions, RunRecord, run_plan, validate};
use petri_host::schedule::{FuelModel, Instrument, InstrumentState, Span, Timestamp, Window};
use petri_host::{Error, Limits};
use petri_tests::{Fixture, block_on, request, stage, succeeded};

const TWO_CLASSES: &str = r#"
[inputs.data]
path = "data.bin"

[stages.held]
module = "TESTKIT"
params = { mode = "burn", record = 0 }
inputs = { data = "inputs.data" }
resources = { instrument = "sequencer" }

[stages.free]
module = "TESTKIT"
params = { mode = "copy" }
inputs = { data = "inputs.data" }
"#;

fn started_at(f: &Fixture, run: &petri_host::pipeline::RunRecord, name: &str) -> Timestamp {
    let record = stage(run, name).load_record(f.petri.records()).unwrap();
    Timestamp::parse_rfc3339(&record.started_at).unwrap()
}

#[test]
fn a_stage_waits_for_its_instruments_maintenance_window_to_end() {
    let f = Fixture::new();
    std::fs::write(f.dir.path().join("data.bin"), b"reads").unwrap();
    let path = f.pipeline("two-classes.toml", TWO_CLASSES);
    let plan = block_on(validate(&f.petri, &path, None)).unwrap_or_else(|d| panic!("{d:#?}"));

    // A calendar without the `sequencer` class is refused before anything runs.
    let options = RunOptions {
        instruments: Some(vec![Instrument::new("gpu-box", "gpu", 1)]),
        ..RunOptions::default()
    };
    match block_on(run_plan(f.petri.clone(), &f.state, &plan, &options)) {
        Err(Error::Request(problems)) => {
            assert_eq!(problems[0].field, "stage `held`");
            assert!(problems[0].problem.contains("`sequencer`"), "{problems:?}");
        }
        other => panic!("expected a refused request, got {other:?}"),
    }

    let now = Timestamp::now();
    let end = now + Span(2_000);
    let mut sequencer = Instrument::new("seq-1", "sequencer", 1);
    sequencer
        .maintenance
        .push(Window::once(now - Span(3_600_000), end));
    let options = RunOptions {
        instruments: Some(vec![sequencer]),
        ..RunOptions::default()
    };
    let run = block_on(run_plan(f.petri.clone(), &f.state, &plan, &options)).unwrap();
    assert_eq!(run.status, "completed");
    assert_eq!(
        stage(&run, "held").cache,
        "miss",
        "a cache hit would not show the start"
    );
    let (held, free) = (started_at(&f, &run, "held"), started_at(&f, &run, "free"));
    assert!(
        held >= end,
        "`held` started at {held}, inside the window ending {end}"
    );
    assert!(
        free < end,
        "`free` (compute) started at {free}, it should not wait for the window ending {end}"
    );
}

#[test]
fn long_stages_on_one_thread_interleave_through_fuel_yields() {
    let f = Fixture::new();
    let kit = f.petri.load_file(petri_plugins::TESTKIT.as_ref()).unwrap();
    let burn = || {
        let mut r = request(&[("mode", "burn"), ("record", "60")], &[]);
        r.limits = Limits::default();
        r
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // Two equal stages started together on one thread. With fuel yielding they
    // take turns every FUEL_YIELD_INTERVAL, so both end near the same time;
    // without it the first would run to its end before the second began
    // (ending at about half the second's time).
    let ends = runtime.block_on(async {
        let t0 = Instant::now();
        let one = async {
            let r = f.petri.run(&kit, burn()).await.unwrap();
            (t0.elapsed(), r)
        };
        let two = async {
            let r = f.petri.run(&kit, burn()).await.unwrap();
            (t0.elapsed(), r)
        };
        tokio::join!(one, two)
    });
    let ((a, ra), (b, rb)) = ends;
    succeeded(&ra);
    succeeded(&rb);
    assert_eq!(ra.fuel_used, rb.fuel_used, "yielding does not change fuel");
    assert!(
        ra.fuel_used > 10 * 10_000_000,
        "each stage must span many yield intervals (fuel {})",
        ra.fuel_used
    );
    let (first, last) = (a.min(b), a.max(b));
    assert!(
        first.as_secs_f64() >= 0.75 * last.as_secs_f64(),
        "stages ran one after the other: ended at {first:?} and {last:?}"
    );
}

fn runs_of(f: &Fixture, module: &petri_host::Digest) -> u64 {
    let model = block_on(petri_host::fuel_history(&f.state)).unwrap();
    model.module(&module.to_hex()).map_or(0, |m| m.runs)
}

#[test]
fn fuel_of_past_runs_is_kept_for_the_next_runs_predictions() {
    let f = Fixture::new();
    std::fs::write(f.dir.path().join("data.bin"), b"reads").unwrap();
    let path = f.pipeline("two-classes.toml", TWO_CLASSES);
    let run = f.run(&path, true);
    let held = stage(&run, "held").module_sha256;
    let model = block_on(petri_host::fuel_history(&f.state)).unwrap();
    let module = model.module(&held.to_hex()).unwrap();
    assert!(module.runs >= 1 && module.mean > 0.0, "{module:?}");
    // A second run starts from that history and adds to it.
    f.run(&path, true);
    assert!(runs_of(&f, &held) > module.runs);
}

#[test]
fn fuel_histories_of_processes_sharing_a_database_merge() {
    let f = Fixture::new();
    std::fs::write(f.dir.path().join("data.bin"), b"reads").unwrap();
    let path = f.pipeline("two-classes.toml", TWO_CLASSES);
    let plan = block_on(validate(&f.petri, &path, None)).unwrap();
    let options = RunOptions {
        no_cache: true,
        ..RunOptions::default()
    };
    // Two runs at once, each with a scheduler of its own (as two daemons
    // have): both start from the same history and both add to it.
    let (a, b) = block_on(async {
        tokio::join!(
            run_plan(f.petri.clone(), &f.state, &plan, &options),
            run_plan(f.petri.clone(), &f.state, &plan, &options)
        )
    });
    let a = a.unwrap();
    b.unwrap();
    let held = stage(&a, "held").module_sha256;
    let per_run = a.stages.iter().filter(|s| s.module_sha256 == held).count() as u64;
    assert_eq!(
        runs_of(&f, &held),
        2 * per_run,
        "both runs' stages are in the history: neither overwrote the other"
    );
}

const ON_THE_SEQUENCER: &str = r#"
[inputs.data]
path = "data.bin"

[stages.long]
module = "TESTKIT"
params = { mode = "burn", record = 300 }
inputs = { data = "inputs.data" }
resources = { instrument = "sequencer" }

[stages.after]
module = "TESTKIT"
params = { mode = "copy" }
inputs = { data = "long.out" }
"#;

/// Runs ON_THE_SEQUENCER on `seq-1` under a `Dispatcher` whose instruments
/// change while it runs; once `long` has started, `change` gets the
/// dispatcher and the instrument. Returns the run and every event, in order.
fn run_live(
    f: &Fixture,
    change: impl AsyncFnOnce(&Dispatcher, Instrument),
) -> (RunRecord, Vec<String>) {
    std::fs::write(f.dir.path().join("data.bin"), b"reads").unwrap();
    let path = f.pipeline("sequencer.toml", ON_THE_SEQUENCER);
    let plan = block_on(validate(&f.petri, &path, None)).unwrap_or_else(|d| panic!("{d:#?}"));
    let seq = Instrument::new("seq-1", "sequencer", 1);
    let dispatcher = Dispatcher::new(Some(vec![seq.clone()]), 2, FuelModel::default()).unwrap();
    let (tx, mut events) = tokio::sync::mpsc::unbounded_channel::<String>();
    let on_event: EventCallback = Arc::new(move |e: RunEvent<'_>| {
        let line = match e {
            RunEvent::Started { stage, attempt, .. } => format!("started {stage} {attempt}"),
            RunEvent::Preempted { stage, reason, .. } => format!("preempted {stage}: {reason}"),
            RunEvent::Ended(s) => format!("ended {} {}", s.stage, s.status),
        };
        let _ = tx.send(line);
    });
    let options = RunOptions {
        on_event: Some(on_event),
        dispatcher: Some(dispatcher.clone()),
        ..RunOptions::default()
    };
    block_on(async {
        let (petri, state) = (f.petri.clone(), f.state.clone());
        let run = tokio::spawn(async move { run_plan(petri, &state, &plan, &options).await });
        let mut seen = Vec::new();
        while let Some(line) = events.recv().await {
            let go = line == "started long 1";
            seen.push(line);
            if go {
                break;
            }
        }
        change(&dispatcher, seq).await;
        let record = run.await.unwrap().unwrap();
        while let Ok(line) = events.try_recv() {
            seen.push(line);
        }
        (record, seen)
    })
}

/// The same pipeline without interruptions, on a fresh data dir.
fn uninterrupted_root() -> petri_host::Digest {
    let f = Fixture::new();
    std::fs::write(f.dir.path().join("data.bin"), b"reads").unwrap();
    let path = f.pipeline("sequencer.toml", ON_THE_SEQUENCER);
    f.run(&path, true).root
}

#[test]
fn an_instrument_going_down_mid_stage_requeues_it_and_keeps_the_results_exact() {
    let f = Fixture::new();
    let (run, events) = run_live(&f, async |dispatcher, mut seq| {
        seq.state = InstrumentState::Down;
        dispatcher.set_instruments(&[seq.clone()]).unwrap();
        // Down for a while: nothing may start on it.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        seq.state = InstrumentState::Up;
        dispatcher.set_instruments(&[seq]).unwrap();
    });
    assert_eq!(run.status, "completed", "{events:?}");
    let long = stage(&run, "long");
    assert_eq!(long.instrument.as_deref(), Some("seq-1"));
    assert_eq!(long.preemptions.len(), 1, "{long:?}");
    assert_eq!(long.preemptions[0].reason, "instrument `seq-1` went down");
    assert_eq!(
        events,
        [
            "started long 1",
            "preempted long: instrument `seq-1` went down",
            "started long 2",
            "ended long succeeded",
            "started after 1",
            "ended after succeeded",
        ]
    );
    // Only the finished attempt counts: same outputs, fuel and root as a run
    // that was never interrupted.
    assert_eq!(run.root, uninterrupted_root());
}

#[test]
fn maintenance_booked_mid_stage_preempts_it_until_the_window_ends() {
    let f = Fixture::new();
    let mut end = Timestamp::now();
    let (run, events) = run_live(&f, async |dispatcher, mut seq| {
        let now = Timestamp::now();
        end = now + Span(1_000);
        seq.maintenance.push(Window::once(now, end));
        dispatcher.set_instruments(&[seq]).unwrap();
    });
    assert_eq!(run.status, "completed", "{events:?}");
    let long = stage(&run, "long");
    assert_eq!(long.preemptions.len(), 1, "{long:?}");
    assert_eq!(long.preemptions[0].reason, "a maintenance window began");
    assert!(events.contains(&"started long 2".to_owned()), "{events:?}");
    let restarted = started_at(&f, &run, "long");
    assert!(
        restarted >= end,
        "`long` restarted at {restarted}, inside the window ending {end}"
    );
    assert_eq!(run.root, uninterrupted_root());
}

const PER_SAMPLE_ON_THE_SEQUENCER: &str = r#"
[inputs.data]

[stages.long]
module = "TESTKIT"
params = { mode = "burn", record = 100 }
inputs = { data = "inputs.data" }
resources = { instrument = "sequencer" }
"#;

/// Two runs in one process share one `Dispatcher` (as the daemon's runs do):
/// a sequencer with one place runs one stage at a time across both runs, and
/// a clinical sample of the later run goes before the earlier run's queued
/// normal samples. The sequencer is down until both runs have queued their
/// work, so the order does not depend on how fast the machine is.
#[test]
fn runs_sharing_a_dispatcher_share_capacity_and_one_priority_queue() {
    let f = Fixture::new();
    let sheet = |name: &str, rows: &[(&str, &str)]| {
        let mut text = String::from("sample\tdata\tpriority\n");
        for (sample, priority) in rows {
            std::fs::write(f.dir.path().join(format!("{sample}.bin")), sample).unwrap();
            text.push_str(&format!("{sample}\t{sample}.bin\t{priority}\n"));
        }
        let path = f.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let a = sheet(
        "a.tsv",
        &[("a1", "normal"), ("a2", "normal"), ("a3", "normal")],
    );
    let b = sheet("b.tsv", &[("b1", "clinical")]);
    let path = f.pipeline("per-sample.toml", PER_SAMPLE_ON_THE_SEQUENCER);
    let plan = |sheet| {
        block_on(validate(&f.petri, &path, Some(sheet))).unwrap_or_else(|d| panic!("{d:#?}"))
    };
    let (plan_a, plan_b) = (plan(&a), plan(&b));
    let mut seq = Instrument::new("seq-1", "sequencer", 1);
    seq.state = InstrumentState::Down;
    let dispatcher = Dispatcher::new(Some(vec![seq.clone()]), 2, FuelModel::default()).unwrap();
    let (tx, mut events) = tokio::sync::mpsc::unbounded_channel::<String>();
    let options = |tx: tokio::sync::mpsc::UnboundedSender<String>| {
        let on_event: EventCallback = Arc::new(move |e: RunEvent<'_>| {
            if let RunEvent::Started { sample, .. } = e {
                let _ = tx.send(sample.to_owned());
            }
        });
        RunOptions {
            on_event: Some(on_event),
            dispatcher: Some(dispatcher.clone()),
            ..RunOptions::default()
        }
    };
    let (options_a, options_b) = (options(tx.clone()), options(tx));
    let (run_a, run_b, order) = block_on(async {
        let queued = |n| {
            let dispatcher = dispatcher.clone();
            async move {
                while dispatcher.with(|s| s.queued()) < n {
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                }
            }
        };
        let (petri, state) = (f.petri.clone(), f.state.clone());
        let a = tokio::spawn(async move { run_plan(petri, &state, &plan_a, &options_a).await });
        queued(3).await;
        // Run B joins after run A queued its three samples.
        let (petri, state) = (f.petri.clone(), f.state.clone());
        let b = tokio::spawn(async move { run_plan(petri, &state, &plan_b, &options_b).await });
        queued(4).await;
        seq.state = InstrumentState::Up;
        dispatcher.set_instruments(&[seq]).unwrap();
        let (a, b) = (a.await.unwrap().unwrap(), b.await.unwrap().unwrap());
        let mut order = Vec::new();
        while let Ok(sample) = events.try_recv() {
            order.push(sample);
        }
        (a, b, order)
    });
    assert_eq!(
        (run_a.status.as_str(), run_b.status.as_str()),
        ("completed", "completed")
    );
    assert_eq!(
        order,
        ["b1", "a1", "a2", "a3"],
        "the later run's clinical sample goes first"
    );
    // One place on the sequencer: no two stages of either run overlapped.
    let mut spans: Vec<(Timestamp, Timestamp)> = run_a
        .stages
        .iter()
        .chain(&run_b.stages)
        .map(|s| {
            let record = s.load_record(f.petri.records()).unwrap();
            (
                Timestamp::parse_rfc3339(&record.started_at).unwrap(),
                Timestamp::parse_rfc3339(&record.finished_at).unwrap(),
            )
        })
        .collect();
    spans.sort();
    for w in spans.windows(2) {
        assert!(w[1].0 >= w[0].1, "stages overlapped on seq-1: {spans:?}");
    }
}
