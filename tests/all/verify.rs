//! `verify_run`'s mismatch paths: what it names when a run no longer reproduces.

use petri_host::pipeline::{Mismatch, RunRecord, load_sealed_run, verify_run};
use petri_host::{Digest, StageRecord};
use petri_tests::{COPY_DATA, Fixture, block_on};

/// A completed one-stage run copying `data.bin`.
fn copied() -> (Fixture, RunRecord) {
    let f = Fixture::new();
    std::fs::write(f.dir.path().join("data.bin"), b"bytes to copy").unwrap();
    let path = f.pipeline("copy.toml", COPY_DATA);
    let run = f.run(&path, false);
    assert_eq!(run.status, "completed", "{run:#?}");
    assert!(block_on(verify_run(&f.petri, &run)).unwrap().is_empty());
    (f, run)
}

/// Verifies `run` with its stage record replaced by what `edit` makes of it
/// (stored as a new sealed record, as someone rewriting history would).
fn with_record(f: &Fixture, run: &RunRecord, edit: impl FnOnce(&mut StageRecord)) -> Vec<Mismatch> {
    let mut run = run.clone();
    let stage = &mut run.stages[0];
    let mut record = stage.load_record(f.petri.records()).unwrap();
    edit(&mut record);
    stage.record_sha256 = Some(f.petri.records().save(&record).unwrap());
    block_on(verify_run(&f.petri, &run)).unwrap()
}

/// The one mismatch of `m`, as (what, port, expected, got).
fn only(m: &[Mismatch]) -> (&str, Option<&str>, &str, &str) {
    assert_eq!(m.len(), 1, "{m:#?}");
    let m = &m[0];
    assert_eq!(
        (m.sample.as_str(), m.stage.as_str()),
        ("default", "copy"),
        "{m:?}"
    );
    (&m.what, m.port.as_deref(), &m.expected, &m.got)
}

#[test]
fn a_missing_stage_record_is_named() {
    let (f, run) = copied();
    let mut gone = run.clone();
    assert!(gone.stages[0].record_id.take().is_some());
    let m = block_on(verify_run(&f.petri, &gone)).unwrap();
    assert_eq!(only(&m), ("record", None, "stage record None", "missing"));
    assert_eq!(
        m[0].to_string(),
        "sample `default` stage `copy`: record: expected stage record None, got missing"
    );
    // An id the store does not know is missing too.
    let mut unknown = run.clone();
    unknown.stages[0].record_id = Some("0000".into());
    unknown.stages[0].record_sha256 = Some(Digest::of(b"never stored"));
    let m = block_on(verify_run(&f.petri, &unknown)).unwrap();
    assert_eq!(
        only(&m),
        ("record", None, "stage record Some(\"0000\")", "missing")
    );
}

#[test]
fn a_missing_output_blob_is_named_with_its_port() {
    let (f, run) = copied();
    let mut run = run;
    let absent = Digest::of(b"an output nobody stored");
    run.stages[0].outputs[0].sha256 = absent;
    let m = block_on(verify_run(&f.petri, &run)).unwrap();
    assert_eq!(
        only(&m),
        (
            "stored output",
            Some("out"),
            absent.to_string().as_str(),
            "missing blob"
        )
    );
    assert_eq!(
        m[0].to_string(),
        format!(
            "sample `default` stage `copy`: stored output `out`: expected {absent}, got missing blob"
        )
    );
}

#[test]
fn missing_module_and_input_blobs_stop_the_re_execution() {
    let (f, run) = copied();
    let absent = Digest::of(b"a module nobody stored");
    let m = with_record(&f, &run, |r| r.module.sha256 = absent);
    assert_eq!(
        only(&m),
        ("module", None, absent.to_string().as_str(), "missing blob")
    );

    let absent = Digest::of(b"an input nobody stored");
    let m = with_record(&f, &run, |r| r.inputs[0].sha256 = absent);
    assert_eq!(
        only(&m),
        (
            "input",
            Some("data"),
            absent.to_string().as_str(),
            "missing blob"
        )
    );
}

#[test]
fn a_re_execution_that_fails_is_an_outcome_mismatch() {
    let (f, run) = copied();
    let m = with_record(&f, &run, |r| {
        r.params = serde_json::json!({ "mode": "panic", "record": 1 });
    });
    assert_eq!(only(&m), ("outcome", None, "succeeded", "failed"));
}

#[test]
fn differing_digests_and_fuel_are_each_named() {
    let (f, run) = copied();
    let forged = Digest::of(b"forged output");
    let m = with_record(&f, &run, |r| r.outputs[0].sha256 = forged);
    let actual = run.stages[0].outputs[0].sha256;
    assert_eq!(
        only(&m),
        (
            "output",
            Some("out"),
            forged.to_string().as_str(),
            actual.to_string().as_str()
        )
    );

    // A port the re-execution does not write is absent.
    let m = with_record(&f, &run, |r| {
        let mut side = r.outputs[0].clone();
        side.port = "side".into();
        r.outputs.push(side);
    });
    assert_eq!(
        only(&m),
        (
            "output",
            Some("side"),
            actual.to_string().as_str(),
            "absent"
        )
    );

    let mut fuel = 0;
    let m = with_record(&f, &run, |r| {
        fuel = r.fuel_used;
        r.fuel_used += 1;
    });
    assert_eq!(
        only(&m),
        (
            "fuel",
            None,
            (fuel + 1).to_string().as_str(),
            fuel.to_string().as_str()
        )
    );
    assert_eq!(
        m[0].to_string(),
        format!(
            "sample `default` stage `copy`: fuel: expected {}, got {fuel}",
            fuel + 1
        )
    );
}

#[test]
fn params_that_are_not_an_object_re_execute_with_the_defaults() {
    // testkit's default mode is `copy`: the same outputs, so nothing differs.
    let (f, run) = copied();
    let m = with_record(&f, &run, |r| r.params = serde_json::Value::Null);
    assert!(m.is_empty(), "{m:#?}");
    let m = with_record(&f, &run, |r| {
        r.params = serde_json::json!({ "mode": "burn", "record": 1 })
    });
    assert_eq!(only(&m).0, "fuel", "{m:#?}");
}

#[test]
fn a_sealed_run_loads_by_id_and_an_unknown_id_is_named() {
    let (f, run) = copied();
    let (loaded, sealed) = block_on(load_sealed_run(f.petri.records(), &f.state, &run.id)).unwrap();
    assert_eq!((loaded, sealed), (run, true));
    let err = block_on(load_sealed_run(f.petri.records(), &f.state, "zzzz"))
        .err()
        .unwrap();
    assert_eq!(err.to_string(), "no run record matches `zzzz`");
}
