//! Each hostile behaviour ends in its typed failure, and the host runs a normal stage right after.

use petri_host::{Failure, Limits};
use petri_tests::{block_on, failed, host, request, run, succeeded};

fn limits() -> Limits {
    Limits {
        fuel: 2_000_000_000,
        memory_bytes: 256 << 20,
        output_bytes: 8 << 20,
        ..Limits::default()
    }
}

macro_rules! hostile {
    ($name:ident, $mode:literal, $pat:pat) => {
        #[test]
        fn $name() {
            let (petri, _dir) = host();
            let stage = petri.load_file(petri_plugins::TESTKIT.as_ref()).unwrap();
            let mut req = request(&[("mode", $mode)], &[]);
            req.limits = limits();
            let record = run(&petri, &stage, req);
            let failure = failed(&record);
            assert!(matches!(failure, $pat), "{}: got {failure:?}", $mode);
            assert!(record.outputs.is_empty(), "a failed run commits no outputs");
            // The same host, and the same loaded stage, still work.
            let ok = run(&petri, &stage, request(&[("mode", "copy")], &[]));
            succeeded(&ok);
        }
    };
}

hostile!(
    infinite_loop_runs_out_of_fuel,
    "spin",
    Failure::FuelExhausted {
        fuel_used: 2_000_000_000,
        budget: 2_000_000_000
    }
);
/// Fuel is the bound; the wall clock is a safety net behind it. With fuel for
/// hours, an endless loop is stopped by its 1-second wall-clock limit, with a
/// typed failure, well before the fuel would have run out.
#[test]
fn endless_loop_with_ample_fuel_hits_the_wall_clock_limit() {
    let (petri, _dir) = host();
    let stage = petri.load_file(petri_plugins::TESTKIT.as_ref()).unwrap();
    let mut req = request(&[("mode", "spin")], &[]);
    req.limits = Limits {
        fuel: u64::MAX / 2,
        wall_clock_secs: 1,
        ..limits()
    };
    let started = std::time::Instant::now();
    let record = run(&petri, &stage, req);
    let elapsed = started.elapsed();
    match failed(&record) {
        &Failure::Deadline { seconds, fuel_used } => {
            assert_eq!(seconds, 1);
            assert!(fuel_used > 0 && fuel_used < u64::MAX / 2, "{fuel_used}");
        }
        other => panic!("expected a deadline failure, got {other:?}"),
    }
    assert!(record.outputs.is_empty());
    assert_eq!(record.limits.wall_clock_secs, 1, "the limit is recorded");
    // Stopped at the deadline, not after the fuel (hours at any speed). The
    // generous bound only guards against the limit being ignored.
    assert!(elapsed.as_secs() < 30, "took {elapsed:?}");
    succeeded(&run(&petri, &stage, request(&[("mode", "copy")], &[])));
}

hostile!(
    memory_bomb_hits_the_memory_cap,
    "memory-bomb",
    Failure::MemoryLimit { .. }
);
hostile!(
    deep_recursion_on_the_shadow_stack_faults,
    "recurse",
    Failure::MemoryFault { .. }
);
hostile!(
    deep_recursion_on_the_wasm_stack_overflows,
    "descend",
    Failure::StackOverflow { .. }
);
hostile!(
    endless_output_hits_the_output_cap,
    "flood",
    Failure::OutputLimit { .. }
);
hostile!(
    socket_is_a_forbidden_import,
    "socket",
    Failure::ForbiddenImport { .. }
);
hostile!(panic_is_a_trap, "panic", Failure::Trap { .. });
hostile!(
    stage_error_is_typed_and_located,
    "fail",
    Failure::Stage { .. }
);

#[test]
fn forbidden_import_names_the_function() {
    let (petri, _dir) = host();
    let stage = petri.load_file(petri_plugins::TESTKIT.as_ref()).unwrap();
    assert!(
        stage
            .forbidden_imports
            .iter()
            .any(|i| i.starts_with("wasi:sockets/tcp"))
    );
    let record = run(&petri, &stage, request(&[("mode", "socket")], &[]));
    match failed(&record) {
        Failure::ForbiddenImport { import } => {
            assert!(import.contains("create-tcp-socket"), "{import}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn sandbox_shows_nothing_real() {
    let (petri, _dir) = host();
    let stage = petri.load_file(petri_plugins::TESTKIT.as_ref()).unwrap();
    let record = run(&petri, &stage, request(&[("mode", "probe")], &[]));
    succeeded(&record);
    let out = petri.blobs().read(&record.outputs[0].sha256).unwrap();
    let seen: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(seen["env_vars"], 0);
    assert_eq!(seen["args"], 0);
    assert_eq!(seen["unix_time"], petri.profile().virtual_wall_clock_secs);
    assert_eq!(seen["read_etc_passwd"], false);
    assert_eq!(seen["read_dir_root"], false);
    // What the stage printed is in its log, not on our stdout.
    assert_eq!(record.log.lines, 1);
    // The same probe in a second host sees exactly the same (HashMap order included).
    let (petri2, _dir2) = host();
    let stage2 = petri2.load_file(petri_plugins::TESTKIT.as_ref()).unwrap();
    let again = run(&petri2, &stage2, request(&[("mode", "probe")], &[]));
    assert_eq!(again.outputs, record.outputs);
    assert_eq!(again.fuel_used, record.fuel_used);
}

#[test]
fn stage_error_reports_port_and_record() {
    let (petri, _dir) = host();
    let stage = petri.load_file(petri_plugins::TESTKIT.as_ref()).unwrap();
    let record = run(
        &petri,
        &stage,
        request(&[("mode", "fail"), ("record", "42")], &[]),
    );
    match failed(&record) {
        Failure::Stage { error } => {
            assert_eq!((error.kind.as_str(), error.record), ("injected", Some(42)));
            assert_eq!(error.port.as_deref(), Some("data"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn panic_message_is_kept_in_the_stage_log() {
    let (petri, _dir) = host();
    let stage = petri.load_file(petri_plugins::TESTKIT.as_ref()).unwrap();
    let record = run(&petri, &stage, request(&[("mode", "panic")], &[]));
    assert!(matches!(failed(&record), Failure::Trap { .. }));
    let log = String::from_utf8(petri.blobs().read(&record.log.sha256).unwrap()).unwrap();
    assert!(log.contains("testkit was asked to panic"), "{log}");
    assert!(log.contains("\"source\":\"stderr\""), "{log}");
}

#[test]
fn recover_hook_proposes_a_decision() {
    use petri_host::{Decision, StageError};
    let (petri, _dir) = host();
    let stage = petri.load_file(petri_plugins::TESTKIT.as_ref()).unwrap();
    let record = run(&petri, &stage, request(&[("mode", "fail")], &[]));
    let Failure::Stage { error } = failed(&record) else {
        panic!("expected a stage error")
    };
    let decide =
        |e: &StageError, attempt| petri_tests::block_on(petri.recover(&stage, e, attempt)).unwrap();
    assert_eq!(decide(error, 1), Decision::Retry);
    assert_eq!(decide(error, 3), Decision::Skip);
    let other = StageError {
        kind: "io".into(),
        message: String::new(),
        port: None,
        record: None,
    };
    assert_eq!(decide(&other, 1), Decision::Abort);
}

/// Limits with a modest fuel budget and a wall clock far beyond what that
/// budget takes: only fuel can end these runs.
fn fuel_bound(fuel: u64) -> Limits {
    Limits {
        fuel,
        wall_clock_secs: 3600,
        ..limits()
    }
}

/// A small input file for the modes that read one.
fn small_input(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("data.bin");
    std::fs::write(&path, vec![5u8; 100_000]).unwrap();
    path
}

/// Runs testkit `mode` with `record` set and the given limits.
fn run_mode(
    petri: &petri_host::Petri,
    stage: &petri_host::LoadedStage,
    mode: &str,
    record: u64,
    inputs: &[(&str, std::path::PathBuf)],
    limits: Limits,
) -> petri_host::StageRecord {
    let record = record.to_string();
    let mut req = request(&[("mode", mode), ("record", &record)], inputs);
    req.limits = limits;
    run(petri, stage, req)
}

const HOST_CALL_LOOPS: [&str; 5] = [
    "write-loop",
    "log-loop",
    "progress-loop",
    "print-loop",
    "read-past-eof",
];

/// Each host call costs at least the profile's per-call fuel on top of the
/// wasm that makes it: 1,000 more calls cost at least 1,000 fees more.
#[test]
fn host_calls_cost_fuel() {
    let (petri, dir) = host();
    let stage = petri.load_file(petri_plugins::TESTKIT.as_ref()).unwrap();
    let data = small_input(dir.path());
    let fee = petri.profile().host_call_fuel;
    assert!(fee > 0);
    for mode in HOST_CALL_LOOPS {
        let fuel = |calls| {
            let r = run_mode(
                &petri,
                &stage,
                mode,
                calls,
                &[("data", data.clone())],
                limits(),
            );
            succeeded(&r);
            r.fuel_used
        };
        let (one, two) = (fuel(1_000), fuel(2_000));
        assert!(
            two - one >= 1_000 * fee,
            "{mode}: 1,000 more host calls cost only {} fuel",
            two - one
        );
        assert_eq!(fuel(2_000), two, "{mode}: same calls, same fuel");
    }
}

/// A stage looping on host calls runs out of fuel (not into the wall clock),
/// at the same count every time.
#[test]
fn host_call_loops_run_out_of_fuel() {
    let (petri, dir) = host();
    let stage = petri.load_file(petri_plugins::TESTKIT.as_ref()).unwrap();
    let data = small_input(dir.path());
    let budget = 200_000_000;
    for mode in HOST_CALL_LOOPS {
        let endless = || {
            let r = run_mode(
                &petri,
                &stage,
                mode,
                0,
                &[("data", data.clone())],
                fuel_bound(budget),
            );
            (failed(&r).clone(), r.fuel_used)
        };
        let (failure, fuel_used) = endless();
        assert_eq!(
            failure,
            Failure::FuelExhausted {
                fuel_used: budget,
                budget
            },
            "{mode}"
        );
        assert_eq!(endless(), (failure, fuel_used), "{mode}: not deterministic");
    }
    succeeded(&run(&petri, &stage, request(&[("mode", "copy")], &[])));
}

/// Megabytes of stdout are counted past the log cap and dropped; the stage
/// still succeeds.
#[test]
fn stdout_past_the_log_cap_is_dropped_not_a_trap() {
    let (petri, _dir) = host();
    let stage = petri.load_file(petri_plugins::TESTKIT.as_ref()).unwrap();
    let mut req = request(&[("mode", "stdout-flood")], &[]);
    req.limits = limits();
    let record = run(&petri, &stage, req);
    succeeded(&record);
    assert!(record.log.dropped > 0, "{:?}", record.log);
    assert!(record.log.lines > 0, "{:?}", record.log);
    let log = petri.blobs().read(&record.log.sha256).unwrap();
    assert!(log.len() as u64 <= 2 * Limits::default().log_bytes);
}

/// A panicking stage's message is in its failure, not only in its log.
#[test]
fn panic_message_is_in_the_failure() {
    let (petri, _dir) = host();
    let stage = petri.load_file(petri_plugins::TESTKIT.as_ref()).unwrap();
    let (record, seal) =
        block_on(petri.run_sealed(&stage, request(&[("mode", "panic")], &[]))).unwrap();
    let failure = failed(&record);
    assert!(matches!(failure, Failure::Trap { .. }), "{failure:?}");
    assert!(
        failure.to_string().contains("testkit was asked to panic"),
        "{failure}"
    );
    // The record on disk says the same.
    let again = petri.records().load_sealed(&record.id, &seal).unwrap();
    assert_eq!(failed(&again), failure);
}

/// A stage error of a kind the manifest does not declare is not passed off
/// as a stage error (which `recover` would act on).
#[test]
fn undeclared_error_kind_is_not_trusted() {
    let (petri, _dir) = host();
    let stage = petri.load_file(petri_plugins::TESTKIT.as_ref()).unwrap();
    let record = run(
        &petri,
        &stage,
        request(&[("mode", "undeclared-error")], &[]),
    );
    match failed(&record) {
        Failure::UndeclaredError { error } => assert_eq!(error.kind, "made-up"),
        other => panic!("{other:?}"),
    }
}

/// NaN and infinite metrics keep the record readable, the stage cacheable
/// and the run verifiable.
#[test]
fn non_finite_metrics_keep_the_record_readable() {
    use petri_host::MetricValue;
    let (petri, _dir) = host();
    let stage = petri.load_file(petri_plugins::TESTKIT.as_ref()).unwrap();
    let (record, seal) =
        block_on(petri.run_sealed(&stage, request(&[("mode", "nan-metrics")], &[]))).unwrap();
    succeeded(&record);
    let again = petri.records().load_sealed(&record.id, &seal).unwrap();
    let floats: Vec<f64> = succeeded(&again)
        .metrics
        .iter()
        .map(|m| match m.value {
            MetricValue::Float(f) => f,
            _ => panic!("{m:?}"),
        })
        .collect();
    assert!(floats[0].is_nan(), "{floats:?}");
    assert_eq!(floats[1..], [f64::INFINITY, f64::NEG_INFINITY, 0.5]);

    let f = petri_tests::Fixture::new();
    let path = f.pipeline(
        "nan.toml",
        "[stages.nan]\nmodule = \"TESTKIT\"\nparams = { mode = \"nan-metrics\" }\n",
    );
    let first = f.run(&path, false);
    assert_eq!(first.status, "completed", "{first:?}");
    let second = f.run(&path, false);
    assert_eq!(petri_tests::stage(&second, "nan").cache, "hit");
    let mismatches =
        petri_tests::block_on(petri_host::pipeline::verify_run(&f.petri, &second)).unwrap();
    assert!(mismatches.is_empty(), "{mismatches:?}");
}

/// The outputs of one run share a total cap, whatever each port's own cap.
#[test]
fn outputs_together_hit_the_total_output_cap() {
    let (petri, _dir) = host();
    let stage = petri.load_file(petri_plugins::TESTKIT.as_ref()).unwrap();
    let mut req = request(&[("mode", "flood-both")], &[]);
    req.limits = Limits {
        output_bytes: 8 << 20,
        total_output_bytes: 12 << 20,
        ..limits()
    };
    let record = run(&petri, &stage, req);
    match failed(&record) {
        Failure::TotalOutputLimit { port, limit } => {
            assert_eq!(*limit, 12 << 20);
            assert!(port == "out" || port == "side", "{port}");
        }
        other => panic!("{other:?}"),
    }
    let partial: u64 = record.partial_outputs.iter().map(|p| p.size).sum();
    assert!(partial <= 12 << 20, "{partial}");
}

/// An endless input stops at max-input-bytes with a typed failure, whether
/// the stage reads it or the host does (to digest what the stage left).
#[cfg(unix)]
#[test]
fn endless_input_stops_at_max_input_bytes() {
    let (petri, _dir) = host();
    let stage = petri.load_file(petri_plugins::TESTKIT.as_ref()).unwrap();
    for mode in ["copy", "probe"] {
        let mut req = request(&[("mode", mode)], &[("data", "/dev/zero".into())]);
        req.limits = Limits {
            max_input_bytes: 1 << 20,
            ..limits()
        };
        let record = run(&petri, &stage, req);
        assert_eq!(
            failed(&record),
            &Failure::InputLimit {
                port: "data".into(),
                limit: 1 << 20
            },
            "{mode}"
        );
        assert!(record.outputs.is_empty());
        assert!(record.inputs[0].size <= 1 << 20);
    }
    succeeded(&run(&petri, &stage, request(&[("mode", "copy")], &[])));
}
