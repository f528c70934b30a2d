//! Trust boundaries below the daemon: tampered bytes are never fed, reused or
//! recorded as intact, and a hostile `recover` hook fails only its own stage.

use petri_host::{Failure, InputSource, Outcome};
use petri_tests::{Fixture, block_on, failed, host, overwrite, request, run, stage};

#[test]
fn a_tampered_input_blob_fails_the_stage_as_integrity() {
    let (petri, dir) = host();
    let stage = petri.load_file(petri_plugins::TESTKIT.as_ref()).unwrap();
    // Stored by another process: this one has no copy in memory, so the
    // stage is fed from disk and the bytes are hashed as they are read.
    let digest = petri_host::Petri::open(dir.path())
        .unwrap()
        .blobs()
        .put(b"the bytes that were stored")
        .unwrap();
    overwrite(
        &petri.blobs().local_path(&digest).unwrap(),
        b"the bytes that were forged",
    );
    let mut req = request(&[("mode", "copy")], &[]);
    req.inputs = vec![("data".into(), InputSource::Blob(digest))];
    let record = run(&petri, &stage, req);
    match failed(&record) {
        Failure::Integrity {
            port,
            expected,
            actual,
        } => {
            assert_eq!(port, "data");
            assert_eq!(expected, &digest.to_hex());
            assert_ne!(actual, expected);
        }
        other => panic!("expected an integrity failure, got {other:?}"),
    }
    assert!(record.outputs.is_empty(), "nothing is committed");
    assert_eq!(
        record.inputs[0].sha256.to_hex(),
        match failed(&record) {
            Failure::Integrity { actual, .. } => actual.clone(),
            _ => unreachable!(),
        },
        "the record names what the bytes hash to, not the digest they claimed"
    );
}

#[test]
fn a_blob_this_process_wrote_is_fed_from_memory_and_a_fresh_process_checks_the_disk() {
    let (petri, dir) = host();
    let stage = petri.load_file(petri_plugins::TESTKIT.as_ref()).unwrap();
    let bytes = b"written and hashed by this process".repeat(1000);
    // As a stage's output or a run's input is stored: from memory.
    let digest = petri.blobs().in_memory().put(&bytes).unwrap();
    let forged = b"forged on disk afterwards".repeat(1000);
    overwrite(&petri.blobs().local_path(&digest).unwrap(), &forged);
    let copy = |petri: &petri_host::Petri| {
        let mut req = request(&[("mode", "copy")], &[]);
        req.inputs = vec![("data".into(), InputSource::Blob(digest))];
        run(petri, &stage, req)
    };
    // This process still holds the bytes it hashed: the stage gets them.
    let record = copy(&petri);
    assert!(
        matches!(record.outcome, Outcome::Succeeded { .. }),
        "{record:#?}"
    );
    assert_eq!(record.inputs[0].sha256, digest);
    assert_eq!(record.outputs[0].sha256, digest, "fed the bytes written");
    // Storing the copy's output (the same bytes) healed the stored blob.
    assert!(petri.blobs().verify(&digest).unwrap());
    overwrite(&petri.blobs().local_path(&digest).unwrap(), &forged);
    // A fresh process reads the disk, and the digest check catches it.
    let fresh = petri_host::Petri::open(dir.path()).unwrap();
    let stage = fresh.load_file(petri_plugins::TESTKIT.as_ref()).unwrap();
    let mut req = request(&[("mode", "copy")], &[]);
    req.inputs = vec![("data".into(), InputSource::Blob(digest))];
    let record = run(&fresh, &stage, req);
    assert!(
        matches!(failed(&record), Failure::Integrity { .. }),
        "{record:#?}"
    );
}

const CHAIN: &str = r#"
[inputs.data]
path = "data.bin"

[stages.first]
module = "TESTKIT"
params = { mode = "copy" }
inputs = { data = "inputs.data" }

[stages.second]
module = "TESTKIT"
params = { mode = "copy" }
inputs = { data = "first.out" }
"#;

#[test]
fn a_tampered_cached_output_is_not_reused_and_is_healed() {
    let f = Fixture::new();
    std::fs::write(f.dir.path().join("data.bin"), b"honest bytes\n".repeat(50)).unwrap();
    // `first` makes bytes no input has (what the sandbox shows it), so only its
    // cache entry can vouch for them.
    let path = f.pipeline(
        "chain.toml",
        &CHAIN.replace(
            "params = { mode = \"copy\" }\ninputs = { data = \"inputs.data\" }",
            "params = { mode = \"probe\" }",
        ),
    );
    let first = f.run(&path, false);
    assert_eq!(first.status, "completed");
    let out = stage(&first, "first").outputs[0].sha256;
    let blob = f.petri.blobs().local_path(&out).unwrap();
    overwrite(&blob, b"forged bytes\n");

    let again = f.run(&path, false);
    assert_eq!(again.status, "completed", "{again:#?}");
    assert_eq!(
        stage(&again, "first").cache,
        "miss",
        "a cache entry whose output no longer matches is not reused"
    );
    assert_eq!(stage(&again, "first").outputs[0].sha256, out);
    assert_eq!(
        stage(&again, "second").inputs[0].sha256,
        out,
        "downstream was fed the right bytes"
    );
    assert!(f.petri.blobs().verify(&out).unwrap(), "the blob was healed");
    assert_eq!(again.root, first.root, "the same run, byte for byte");
}

/// Truncates a stored blob to half its bytes: what a crash before a group
/// commit's sync can leave under a name (pipeline/run/commits.rs).
fn tear(petri: &petri_host::Petri, digest: &petri_host::Digest) {
    let path = petri.blobs().local_path(digest).unwrap();
    let len = std::fs::metadata(&path).unwrap().len();
    let bytes = std::fs::read(&path).unwrap();
    overwrite(&path, &bytes[..(len / 2) as usize]);
}

#[test]
fn a_torn_record_or_output_under_a_cache_entry_is_executed_again_not_served() {
    for torn in ["record", "output"] {
        let f = Fixture::new();
        // `first` makes bytes no input has (its output is not healed by
        // ingesting an input), and its cache key differs from `second`'s.
        let path = f.pipeline(
            "chain.toml",
            &CHAIN.replace(
                "params = { mode = \"copy\" }\ninputs = { data = \"inputs.data\" }",
                "params = { mode = \"probe\" }",
            ),
        );
        std::fs::write(f.dir.path().join("data.bin"), b"durable bytes\n").unwrap();
        let first = f.run(&path, false);
        assert_eq!(first.status, "completed");
        let s = stage(&first, "first");
        let out = s.outputs[0].sha256;
        match torn {
            "record" => tear(&f.petri, &s.record_sha256.unwrap()),
            _ => tear(&f.petri, &out),
        }

        let again = f.run(&path, false);
        assert_eq!(again.status, "completed", "{torn}: {again:#?}");
        assert_eq!(
            stage(&again, "first").cache,
            "miss",
            "{torn} was not served"
        );
        assert_eq!(stage(&again, "second").inputs[0].sha256, out);
        assert!(f.petri.blobs().verify(&out).unwrap(), "{torn}: healed");
        assert_eq!(
            again.root, first.root,
            "{torn}: the same run, byte for byte"
        );
        let mismatches = block_on(petri_host::pipeline::verify_run(&f.petri, &again)).unwrap();
        assert!(mismatches.is_empty(), "{torn}: {mismatches:?}");
    }
}

/// A pipeline whose `bad` stage fails with `record`, whose recover hook then
/// misbehaves, beside an honest stage that does not depend on it.
fn hostile_hook(record: u32) -> petri_host::pipeline::RunRecord {
    let f = Fixture::new();
    std::fs::write(f.dir.path().join("data.bin"), b"hello").unwrap();
    let text = format!(
        r#"
[inputs.data]
path = "data.bin"

[stages.bad]
module = "TESTKIT"
params = {{ mode = "fail", record = {record} }}
inputs = {{ data = "inputs.data" }}
policy = {{ max-attempts = 3, allow = ["retry", "retry-with", "skip"] }}

[stages.honest]
module = "TESTKIT"
inputs = {{ data = "inputs.data" }}

[stages.after]
module = "TESTKIT"
inputs = {{ data = "bad.out" }}
"#
    );
    let path = f.pipeline("hook.toml", &text);
    f.run(&path, false)
}

fn assert_hook_failed_the_stage_only(record: u32, says: &str) {
    let run = hostile_hook(record);
    assert_eq!(run.status, "failed");
    let bad = stage(&run, "bad");
    assert_eq!(bad.status, "failed", "{bad:#?}");
    let reason = bad.reason.as_deref().unwrap_or_default();
    assert!(reason.contains("`recover` hook failed"), "{reason}");
    assert!(reason.contains(says), "{reason}");
    assert_eq!(bad.attempts.len(), 1, "no retry on a failed hook");
    assert_eq!(stage(&run, "after").status, "skipped");
    let honest = stage(&run, "honest");
    assert_eq!(
        honest.status, "succeeded",
        "the honest stage's result is kept"
    );
    assert_eq!(honest.outputs.len(), 1);
}

#[test]
fn a_recover_hook_that_loops_fails_its_stage_not_the_run() {
    assert_hook_failed_the_stage_only(4, "fuel exhausted");
}

#[test]
fn a_recover_hook_that_traps_fails_its_stage_not_the_run() {
    assert_hook_failed_the_stage_only(5, "trap");
}

#[test]
fn a_recover_hook_proposing_ill_typed_params_fails_its_stage() {
    assert_hook_failed_the_stage_only(6, "retry-with proposes invalid params");
}

#[test]
fn a_recover_hook_that_exhausts_memory_fails_its_stage() {
    assert_hook_failed_the_stage_only(7, "memory");
}

#[test]
fn the_validated_text_is_what_runs() {
    // The plan keeps the bytes it checked: changing the file afterwards
    // changes nothing that runs or is recorded.
    let f = Fixture::new();
    std::fs::write(f.dir.path().join("data.bin"), b"hello").unwrap();
    let path = f.pipeline("chain.toml", CHAIN);
    let plan = block_on(petri_host::pipeline::validate(&f.petri, &path, None)).unwrap();
    std::fs::write(&path, "this is not a pipeline").unwrap();
    let run = block_on(petri_host::pipeline::run_plan(
        f.petri.clone(),
        &f.state,
        &plan,
        &Default::default(),
    ))
    .unwrap();
    assert_eq!(run.status, "completed");
    assert_eq!(run.pipeline.sha256, plan.file_sha256);
    let kept = f.petri.blobs().read(&plan.file_sha256).unwrap();
    assert_eq!(kept, plan.texts.pipeline.as_bytes());
    assert!(matches!(
        stage(&run, "second")
            .load_record(f.petri.records())
            .unwrap()
            .outcome,
        Outcome::Succeeded { .. }
    ));
}

#[test]
fn an_edited_record_is_neither_reused_nor_exported_and_verify_names_it() {
    let f = Fixture::new();
    std::fs::write(f.dir.path().join("data.bin"), b"hello").unwrap();
    let path = f.pipeline("chain.toml", CHAIN);
    let run = f.run(&path, false);
    let first = stage(&run, "first");
    assert!(
        first.record_sha256.is_some(),
        "every stage record is sealed"
    );
    let id = first.record_id.clone().unwrap();
    // The record is a blob, named by its digest (its seal).
    let file = f
        .petri
        .blobs()
        .local_path(&first.record_sha256.unwrap())
        .unwrap();
    let text = std::fs::read_to_string(&file).unwrap();
    let edited = text.replacen("\"fuel_used\": ", "\"fuel_used\": 1", 1);
    assert_ne!(edited, text);
    overwrite(&file, edited.as_bytes());

    let m = block_on(petri_host::pipeline::verify_run(&f.petri, &run)).unwrap();
    assert!(
        m.iter().any(|m| m.stage == "first" && m.what == "record"),
        "{m:?}"
    );
    let prov = petri_host::pipeline::prov_json(&f.petri, &run);
    assert!(
        !prov.to_string().contains(&format!("execution/{id}")),
        "an edited record is not exported as if intact"
    );
    let again = f.run(&path, false);
    assert_eq!(
        stage(&again, "first").cache,
        "miss",
        "not reused from the cache"
    );
    assert_eq!(again.root, run.root);
}
