//! Each hostile behaviour ends in its typed failure, and the host runs a normal stage right after.

use petri_host::{Failure, Limits};
use petri_tests::{failed, host, request, run, succeeded};

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
