//! Pipelines: validation with locations, the content-keyed cache, recovery policies, verify.

use petri_host::pipeline::{RunOptions, RunRecord, run_plan, validate, verify_run};
use petri_tests::{Fixture, block_on, lambda_example, overwrite, stage};

const CHAIN: &str = r#"
[inputs.data]
path = "data.bin"

[stages.first]
module = "TESTKIT"
params = { mode = "copy" }
inputs = { data = "inputs.data" }

[stages.second]
module = "TESTKIT"
params = { mode = "burn", record = 1 }
inputs = { data = "first.out" }
"#;

#[test]
fn every_validation_problem_is_located() {
    let f = Fixture::new();
    std::fs::write(f.dir.path().join("ref.fa"), ">chr\nACGT\n").unwrap();
    let path = f.pipeline(
        "bad.toml",
        r#"[inputs.reads]
path = "ref.fa"
format = "fastq"

[inputs.gone]
path = "missing.fq"

[stages.qc]
module = "QC"
params = { min-length = "ten", quality-cutoff = 500, bogus = 1 }
inputs = { reeds = "inputs.reads", mates = "nowhere.out" }
policy = { max-attempts = 0, wall-clock-secs = 0, allow = ["pray"] }

[stages.qc2]
module = "QC"
inputs = { reads = "qc.summary" }

[stages.loop1]
module = "TESTKIT"
inputs = { data = "loop2.out" }

[stages.loop2]
module = "TESTKIT"
inputs = { data = "loop1.out" }

[stages.ghost]
module = "not-registered"
"#,
    );
    let problems = block_on(validate(&f.petri, &path, None)).err().unwrap();
    let at = |needle: &str| {
        problems
            .iter()
            .find(|d| d.message.contains(needle))
            .map(|d| (d.line, d.column))
            .unwrap_or_else(|| panic!("no problem mentions `{needle}`:\n{problems:#?}"))
    };
    assert_eq!(
        at("is not fastq"),
        (3, 10),
        "declared format vs sniffed content"
    );
    assert_eq!(at("missing.fq"), (6, 8), "missing input file");
    assert_eq!(at("param `min-length`: expected an integer"), (10, 25));
    assert_eq!(at("500 is above the maximum 93"), (10, 49));
    assert_eq!(at("param `bogus`: unknown param"), (10, 62));
    assert_eq!(at("no input port `reeds`"), (11, 12));
    assert_eq!(at("unknown stage `nowhere`"), (11, 44));
    assert_eq!(
        at("required input `reads` (fastq) is not connected"),
        (8, 9)
    );
    assert_eq!(at("max-attempts"), (12, 27));
    assert_eq!(at("`wall-clock-secs` must be between 1"), (12, 48));
    assert_eq!(at("unknown decision `pray`"), (12, 60));
    assert_eq!(at("format mismatch: `qc.summary` is json"), (16, 20));
    assert_eq!(at("cycle: loop1 → loop2 → loop1"), (18, 9));
    assert_eq!(at("unknown stage module `not-registered`"), (27, 10));
    assert_eq!(problems.len(), 14, "{problems:#?}");
    // Sorted by position, each with file:line:column.
    assert!(
        problems
            .windows(2)
            .all(|w| (w[0].line, w[0].column) <= (w[1].line, w[1].column))
    );
    assert!(
        problems[0]
            .to_string()
            .starts_with(&format!("{}:3:10: ", path.display()))
    );
}

#[test]
fn validation_names_bad_ids_sources_policies_and_modules_it_cannot_load() {
    let f = Fixture::new();
    std::fs::write(f.dir.path().join("data.bin"), b"bytes").unwrap();
    std::fs::write(f.dir.path().join("junk.wasm"), b"not a component").unwrap();
    let zeros = "0".repeat(64);
    let path = f.pipeline(
        "bad.toml",
        &format!(
            r#"[inputs."bad id"]
path = "data.bin"
sha256 = "xyz"

[inputs.nopath]
format = "bin"

[stages."st age"]
module = "TESTKIT"
inputs = {{ data = "inputs.absent" }}
policy = {{ fuel = 0, fuel-growth = 2000, downstream-of-salvage = "maybe" }}

[stages.b]
module = "TESTKIT"
inputs = {{ data = "c.nonport" }}

[stages.c]
module = "TESTKIT"
inputs = {{ data = "nodot" }}

[stages.d]
module = "sha256:zz"

[stages.e]
module = "sha256:{zeros}"

[stages.g]
module = "gone.wasm"

[stages.h]
module = "junk.wasm"
"#
        ),
    );
    let problems = block_on(validate(&f.petri, &path, None)).err().unwrap();
    let at = |needle: &str| {
        problems
            .iter()
            .find(|d| d.message.contains(needle))
            .map(|d| (d.line, d.column, d.hint.clone()))
            .unwrap_or_else(|| panic!("no problem mentions `{needle}`:\n{problems:#?}"))
    };
    assert_eq!(
        at("input id `bad id` may only use letters").0,
        1,
        "{problems:#?}"
    );
    assert_eq!(at("is not a SHA-256 digest").0, 3);
    assert_eq!(at("input `nopath` has no path").0, 5);
    assert_eq!(at("stage id `st age` may only use letters").0, 8);
    assert_eq!(at("unknown pipeline input `absent`").0, 10);
    assert_eq!(at("policy `fuel` must be between 1 and").0, 11);
    assert_eq!(at("policy `fuel-growth` must be between 1 and 1000").0, 11);
    let (line, _, hint) = at("downstream-of-salvage `maybe`");
    assert_eq!((line, hint.as_deref()), (11, Some("one of: skip, run")));
    assert_eq!(at("stage `c` (testkit) has no output port `nonport`").0, 15);
    assert_eq!(at("`nodot` is not a source").0, 19);
    assert_eq!(at("`zz` is not a SHA-256 digest").0, 22);
    let (line, _, hint) = at(&format!("blob {zeros} is not in the store"));
    assert_eq!(line, 25);
    assert!(hint.unwrap().contains("petri plugin add"));
    let (line, _, hint) = at("gone.wasm not found");
    assert_eq!(
        (line, hint.as_deref()),
        (28, Some("module paths are relative to the pipeline file"))
    );
    let unloadable = problems.iter().find(|d| d.line == 31).unwrap();
    assert!(
        unloadable
            .message
            .starts_with("not a valid WebAssembly component: "),
        "{unloadable:?}"
    );
    assert_eq!(problems.len(), 14, "{problems:#?}");

    // A pipeline or sample sheet that cannot be read is one problem at no place.
    let missing = f.dir.path().join("missing.toml");
    let p = block_on(validate(&f.petri, &missing, None)).err().unwrap();
    assert_eq!((p.len(), p[0].line), (1, 0), "{p:?}");
    assert!(
        p[0].message.starts_with("cannot read the pipeline file: "),
        "{p:?}"
    );
    let sheet = f.dir.path().join("missing.tsv");
    let p = block_on(validate(&f.petri, &path, Some(&sheet)))
        .err()
        .unwrap();
    assert_eq!(p[0].file, sheet);
    assert!(
        p[0].message.starts_with("cannot read the sample sheet: "),
        "{p:?}"
    );
}

#[test]
fn a_sweep_validates_each_copy_with_its_values_and_rewires_it() {
    let f = Fixture::new();
    std::fs::write(f.dir.path().join("data.bin"), b"bytes").unwrap();
    let sweep = "\n[sweep.axes]\n\"first.record\" = [4, 5]\n";
    let path = f.pipeline("sweep.toml", &format!("{CHAIN}{sweep}"));
    let plan = block_on(validate(&f.petri, &path, None)).unwrap();
    let stages: Vec<(String, String, String)> = plan
        .stages
        .iter()
        .map(|s| {
            let wire = serde_json::to_string(&s.inputs).unwrap();
            (s.id.clone(), s.params.to_json()["record"].to_string(), wire)
        })
        .collect();
    let wire =
        |from: &str| format!(r#"[["data",{{"from":"stage","stage":"{from}","port":"out"}}]]"#);
    let input = r#"[["data",{"from":"input","name":"data"}]]"#.to_owned();
    // `second` is downstream of the swept `first`: one copy per combination,
    // each reading its own `first`, in run order; its own params unchanged.
    assert_eq!(
        stages,
        [
            ("first_c1".into(), "4".into(), input.clone()),
            ("first_c2".into(), "5".into(), input),
            ("second_c1".into(), "1".into(), wire("first_c1")),
            ("second_c2".into(), "1".into(), wire("first_c2")),
        ]
    );
    assert_eq!(plan.combinations.len(), 2);
    assert_eq!(plan.combinations[1].stages["second"], "second_c2");

    // A swept value outside the param's range is checked per copy and
    // reported at the sweep, once per copy that has it.
    let sweep = "\n[sweep.axes]\n\"second.record\" = [1, -3, 2000000000000]\n";
    let path = f.pipeline("bad-sweep.toml", &format!("{CHAIN}{sweep}"));
    let problems = block_on(validate(&f.petri, &path, None)).err().unwrap();
    let messages: Vec<(usize, &str)> = problems
        .iter()
        .map(|p| (p.line, p.message.as_str()))
        .collect();
    let line = format!("{CHAIN}{sweep}")
        .lines()
        .position(|l| l == "[sweep.axes]")
        .unwrap()
        + 1;
    assert_eq!(messages.len(), 2, "{problems:#?}");
    assert!(
        messages[0]
            .1
            .starts_with("stage `second_c2`: param `record`: -3 is below")
    );
    assert!(
        messages[1]
            .1
            .starts_with("stage `second_c3`: param `record`: 2000000000000 is above")
    );
    assert!(
        messages.iter().all(|(l, _)| *l == line),
        "{messages:?}, sweep at {line}"
    );
}

#[test]
fn syntax_errors_and_duplicate_ids_have_a_location() {
    let f = Fixture::new();
    let dup = f.pipeline(
        "dup.toml",
        "[stages.a]\nmodule = \"TESTKIT\"\n[stages.a]\nmodule = \"TESTKIT\"\n",
    );
    let p = block_on(validate(&f.petri, &dup, None)).err().unwrap();
    assert_eq!((p[0].line, p.len()), (3, 1), "{p:?}");
    let bad = f.pipeline(
        "syntax.toml",
        "[stages.a]\nmodule = \"TESTKIT\nparams = {}\n",
    );
    let p = block_on(validate(&f.petri, &bad, None)).err().unwrap();
    assert_eq!(p[0].line, 2, "{p:?}");
    let unknown = f.pipeline("field.toml", "[stages.a]\nmodul = \"x\"\n");
    let p = block_on(validate(&f.petri, &unknown, None)).err().unwrap();
    assert!(p[0].message.contains("modul"), "{p:?}");
}

#[test]
fn cache_hits_on_same_content_and_misses_on_any_change() {
    let f = Fixture::new();
    let data = f.dir.path().join("data.bin");
    std::fs::write(&data, vec![7u8; 200_000]).unwrap();
    let path = f.pipeline("chain.toml", CHAIN);
    let first = f.run(&path, false);
    assert_eq!(first.status, "completed");
    assert!(first.stages.iter().all(|s| s.cache == "miss"));

    let again = f.run(&path, false);
    assert!(
        again.stages.iter().all(|s| s.cache == "hit"),
        "{:?}",
        again.stages
    );
    assert_eq!(
        again.root, first.root,
        "a cached run has the same Merkle root"
    );

    // Touching the file (mtime only) changes nothing.
    let file = std::fs::File::options().append(true).open(&data).unwrap();
    file.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(60))
        .unwrap();
    assert!(f.run(&path, false).stages.iter().all(|s| s.cache == "hit"));

    // Moving pipeline and data elsewhere changes nothing either.
    let moved = f.dir.path().join("moved");
    std::fs::create_dir(&moved).unwrap();
    std::fs::copy(&data, moved.join("data.bin")).unwrap();
    std::fs::copy(&path, moved.join("chain.toml")).unwrap();
    assert!(
        f.run(&moved.join("chain.toml"), false)
            .stages
            .iter()
            .all(|s| s.cache == "hit")
    );

    // A param change misses for that stage only.
    let changed = f.pipeline("chain2.toml", &CHAIN.replace("record = 1", "record = 2"));
    let r = f.run(&changed, false);
    assert_eq!(
        (
            stage(&r, "first").cache.as_str(),
            stage(&r, "second").cache.as_str()
        ),
        ("hit", "miss")
    );

    // One byte of input changes misses everything downstream.
    let mut bytes = std::fs::read(&data).unwrap();
    bytes[100_000] ^= 1;
    std::fs::write(&data, bytes).unwrap();
    let r = f.run(&path, false);
    assert!(r.stages.iter().all(|s| s.cache == "miss"));
    assert_ne!(r.root, first.root);

    // --no-cache runs everything and reproduces the same digests.
    let forced = f.run(&path, true);
    assert!(forced.stages.iter().all(|s| s.cache == "miss"));
    assert_eq!(forced.root, r.root);
}

#[test]
fn lambda_pipeline_runs_and_verifies_then_tampering_is_named() {
    let f = Fixture::new();
    let path = f.lambda_pipeline("lambda.toml", &lambda_example());
    let run = f.run(&path, false);
    assert_eq!(run.status, "completed");
    let qc = stage(&run, "qc");
    assert_eq!(qc.outputs.len(), 3);
    assert_eq!(run.stages.len(), 5, "qc, align, coverage, call, consensus");
    assert!(
        run.edges
            .iter()
            .any(|e| e.to_stage == "align" && e.from == "qc.trimmed"),
        "{:?}",
        run.edges
    );
    assert!(block_on(verify_run(&f.petri, &run)).unwrap().is_empty());

    // Tamper with a stored output: verify names the stage and port.
    let trimmed = qc.outputs.iter().find(|o| o.port == "trimmed").unwrap();
    let blob = f.petri.blobs().local_path(&trimmed.sha256).unwrap();
    let original = std::fs::read(&blob).unwrap();
    overwrite(&blob, b"@forged\nA\n+\nI\n");
    let m = block_on(verify_run(&f.petri, &run)).unwrap();
    // Re-executing qc stores its true output again, so the aligner downstream
    // is re-executed on the right bytes and agrees: only the forgery is named.
    assert_eq!(m.len(), 1, "{m:?}");
    assert_eq!(
        (
            m[0].stage.as_str(),
            m[0].what.as_str(),
            m[0].port.as_deref()
        ),
        ("qc", "stored output", Some("trimmed"))
    );
    assert_eq!(
        std::fs::read(&blob).unwrap(),
        original,
        "the re-execution healed the stored blob"
    );

    // Tamper with the module: verify refuses to trust it.
    let module = f.petri.blobs().local_path(&qc.module_sha256).unwrap();
    let mut wasm = std::fs::read(&module).unwrap();
    let n = wasm.len() - 10;
    wasm[n] ^= 0xff;
    std::fs::write(&module, wasm).unwrap();
    let m = block_on(verify_run(&f.petri, &run)).unwrap();
    assert!(
        m.iter().any(|m| m.stage == "qc" && m.what == "module"),
        "{m:?}"
    );
}

fn recovery(policy: &str, mode: &str, record: u32) -> RunRecord {
    let f = Fixture::new();
    std::fs::write(f.dir.path().join("data.bin"), b"hello").unwrap();
    let text = format!(
        r#"
[inputs.data]
path = "data.bin"

[stages.flaky]
module = "TESTKIT"
params = {{ mode = "{mode}", record = {record} }}
inputs = {{ data = "inputs.data" }}
policy = {policy}

[stages.after]
module = "TESTKIT"
inputs = {{ data = "flaky.out" }}
"#
    );
    let path = f.pipeline("recovery.toml", &text);
    f.run(&path, false)
}

#[test]
fn retry_then_skip_under_policy() {
    let r = recovery(
        r#"{ max-attempts = 5, allow = ["retry", "skip"] }"#,
        "fail",
        1,
    );
    let flaky = stage(&r, "flaky");
    let decisions: Vec<_> = flaky
        .attempts
        .iter()
        .map(|a| a.decision.clone().unwrap())
        .collect();
    assert_eq!(decisions, ["retry", "retry", "skip"]);
    assert_eq!(flaky.status, "skipped");
    assert_eq!(stage(&r, "after").status, "skipped");
    assert_eq!(r.status, "failed");
}

#[test]
fn decision_outside_policy_aborts() {
    let r = recovery(r#"{ max-attempts = 5, allow = ["skip"] }"#, "fail", 1);
    let flaky = stage(&r, "flaky");
    assert_eq!(flaky.status, "failed");
    assert_eq!(flaky.attempts.len(), 1);
    assert!(
        flaky.attempts[0]
            .decision
            .as_deref()
            .unwrap()
            .contains("not allowed by policy")
    );
}

#[test]
fn max_attempts_bounds_retries() {
    let r = recovery(
        r#"{ max-attempts = 2, allow = ["retry", "skip"] }"#,
        "fail",
        1,
    );
    let flaky = stage(&r, "flaky");
    assert_eq!(flaky.attempts.len(), 2);
    assert!(
        flaky.attempts[1]
            .decision
            .as_deref()
            .unwrap()
            .contains("max-attempts (2) reached")
    );
    assert_eq!(flaky.status, "failed");
}

#[test]
fn retry_with_changed_params_succeeds() {
    let r = recovery(r#"{ max-attempts = 2, allow = ["retry-with"] }"#, "fail", 2);
    let flaky = stage(&r, "flaky");
    assert_eq!(flaky.status, "succeeded");
    assert_eq!(flaky.attempts.len(), 2);
    assert_eq!(flaky.attempts[0].decision.as_deref(), Some("retry-with"));
    assert_eq!(stage(&r, "after").status, "succeeded");
    assert_eq!(r.status, "completed");
}

#[test]
fn salvage_keeps_partial_outputs_flagged() {
    let r = recovery(r#"{ allow = ["salvage"] }"#, "fail", 3);
    let flaky = stage(&r, "flaky");
    assert_eq!(flaky.status, "salvaged");
    assert_eq!(flaky.outputs.len(), 1, "the partial output is kept");
    assert!(
        flaky
            .reason
            .as_deref()
            .unwrap()
            .starts_with("partial outputs salvaged")
    );
    assert_eq!(
        stage(&r, "after").status,
        "skipped",
        "by default nothing runs on salvaged outputs"
    );
}

#[test]
fn downstream_runs_on_salvaged_outputs_when_the_policy_says_so() {
    let r = recovery(
        r#"{ allow = ["salvage"], downstream-of-salvage = "run" }"#,
        "fail",
        3,
    );
    assert_eq!(stage(&r, "flaky").status, "salvaged");
    assert_eq!(stage(&r, "after").status, "succeeded");
    assert_eq!(
        r.status, "failed",
        "a salvaged stage is not a completed run"
    );
}

#[test]
fn fuel_exhaustion_retries_with_a_larger_budget_deterministically() {
    let policy = r#"{ max-attempts = 3, fuel = 2_000_000, fuel-growth = 100, allow = ["retry"] }"#;
    let r = recovery(policy, "burn", 1);
    let flaky = stage(&r, "flaky");
    assert_eq!(flaky.status, "succeeded", "{flaky:?}");
    assert!(
        flaky.attempts[0]
            .outcome
            .contains("fuel exhausted: used 2000000"),
        "{flaky:?}"
    );
    let again = recovery(policy, "burn", 1);
    assert_eq!(stage(&again, "flaky").fuel_used, flaky.fuel_used);
    assert_eq!(again.root, r.root);
}

#[test]
fn wall_clock_limit_stops_a_runaway_stage_and_skips_downstream() {
    let policy = r#"{ fuel = 9_000_000_000_000_000, wall-clock-secs = 1 }"#;
    let r = recovery(policy, "spin", 1);
    let flaky = stage(&r, "flaky");
    assert_eq!(flaky.status, "failed", "{flaky:?}");
    let reason = flaky.reason.as_deref().unwrap();
    assert!(
        reason.contains("wall-clock limit of 1 s exceeded"),
        "{reason}"
    );
    assert_eq!(stage(&r, "after").status, "skipped");
}

#[test]
fn trap_aborts_and_downstream_is_skipped() {
    let r = recovery(r#"{ max-attempts = 3, allow = ["retry"] }"#, "panic", 1);
    assert_eq!(stage(&r, "flaky").status, "failed");
    let after = stage(&r, "after");
    assert_eq!(after.status, "skipped");
    assert!(
        after
            .reason
            .as_deref()
            .unwrap()
            .contains("upstream stage `flaky` failed")
    );
}

const PER_SAMPLE: &str = r#"
[inputs.data]

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
fn sample_sheet_fans_out_one_dag_per_sample_urgent_first() {
    let f = Fixture::new();
    std::fs::write(f.dir.path().join("a.bin"), b"sample a").unwrap();
    std::fs::write(f.dir.path().join("b.bin"), b"sample b").unwrap();
    let sheet = f.dir.path().join("samples.tsv");
    std::fs::write(
        &sheet,
        "sample\tdata\tcollected_at\tstability_hours\tpriority\n\
         a\ta.bin\t2026-11-20T08:00:00Z\t72\tnormal\n\
         b\tb.bin\t2026-11-21T08:00:00Z\t24\turgent\n",
    )
    .unwrap();
    let path = f.pipeline("per-sample.toml", PER_SAMPLE);
    let plan =
        block_on(validate(&f.petri, &path, Some(&sheet))).unwrap_or_else(|d| panic!("{d:#?}"));
    assert_eq!(plan.samples.len(), 2);
    let r = block_on(run_plan(
        f.petri.clone(),
        &f.state,
        &plan,
        &RunOptions::default(),
    ))
    .unwrap();
    assert_eq!(r.status, "completed");
    assert_eq!(r.stages.len(), 4);
    let order: Vec<_> = r
        .stages
        .iter()
        .map(|s| format!("{}/{}", s.sample, s.stage))
        .collect();
    assert_eq!(
        order,
        ["b/first", "b/second", "a/first", "a/second"],
        "urgent sample first"
    );
    let out = |sample: &str| {
        let s = r
            .stages
            .iter()
            .find(|s| s.sample == sample && s.stage == "second")
            .unwrap();
        f.petri.blobs().read(&s.outputs[0].sha256).unwrap()
    };
    assert_eq!(
        (out("a"), out("b")),
        (b"sample a".to_vec(), b"sample b".to_vec())
    );
    assert!(r.samples.is_some(), "the run names its sample sheet");
    assert_eq!(r.sample_info[0].stability_hours, Some(24.0));
    // Without a sheet, an input without a path is a located error.
    let problems = block_on(validate(&f.petri, &path, None)).err().unwrap();
    assert_eq!(
        (problems[0].line, problems[0].message.as_str()),
        (2, "input `data` has no path")
    );
}

#[test]
fn an_input_that_exists_but_cannot_be_opened_is_named_with_the_reason() {
    let f = Fixture::new();
    std::fs::write(f.dir.path().join("data.bin"), b"a file, not a directory").unwrap();
    let path = f.pipeline(
        "under.toml",
        &CHAIN.replace("\"data.bin\"", "\"data.bin/inner\""),
    );
    let problems = block_on(validate(&f.petri, &path, None)).err().unwrap();
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert_eq!(problems[0].line, 3, "{problems:#?}");
    assert!(
        problems[0]
            .message
            .ends_with("data.bin/inner: Not a directory (os error 20)"),
        "{problems:#?}"
    );
}

#[test]
fn an_input_with_a_path_reaches_every_sample_whose_row_names_no_file() {
    let f = Fixture::new();
    for (name, bytes) in [
        ("ref.bin", &b"shared reference"[..]),
        ("own-ref.bin", b"s1's own reference"),
        ("s1.bin", b"reads 1"),
        ("s2.bin", b"reads 2"),
    ] {
        std::fs::write(f.dir.path().join(name), bytes).unwrap();
    }
    let path = f.pipeline(
        "shared.toml",
        r#"
[inputs.reference]
path = "ref.bin"

[inputs.reads]

[stages.index]
module = "TESTKIT"
params = { mode = "copy" }
inputs = { data = "inputs.reference" }

[stages.map]
module = "TESTKIT"
params = { mode = "copy" }
inputs = { data = "inputs.reads" }
"#,
    );
    // s1 overrides the reference, s2 leaves its cell empty, s3 (another sheet) has no column.
    let sheet = f.dir.path().join("samples.tsv");
    let text = "sample\treads\treference\ns1\ts1.bin\town-ref.bin\ns2\ts2.bin\t\n";
    std::fs::write(&sheet, text).unwrap();
    let other = f.dir.path().join("no-column.tsv");
    std::fs::write(&other, "sample\treads\ns3\ts1.bin\n").unwrap();
    let mut outputs = Vec::new();
    for sheet in [&sheet, &other] {
        let r = f.run_sheet(&path, Some(sheet), false);
        assert_eq!(r.status, "completed", "{:#?}", r.stages);
        for s in r.stages.iter().filter(|s| s.stage == "index") {
            let bytes = f.petri.blobs().read(&s.outputs[0].sha256).unwrap();
            outputs.push((s.sample.clone(), String::from_utf8(bytes).unwrap()));
        }
    }
    outputs.sort();
    assert_eq!(
        outputs,
        [
            ("s1", "s1's own reference"),
            ("s2", "shared reference"),
            ("s3", "shared reference"),
        ]
        .map(|(sample, text)| (sample.to_owned(), text.to_owned()))
    );
}

#[test]
fn sample_sheet_problems_name_row_and_column() {
    let f = Fixture::new();
    std::fs::write(f.dir.path().join("a.bin"), b"x").unwrap();
    let sheet = f.dir.path().join("bad.csv");
    std::fs::write(
        &sheet,
        "sample,data,colour,collected_at,priority\n\
         a,a.bin,red,2026-11-20T08:00:00Z,normal\n\
         a,a.bin,red,2026-11-20T08:00:00Z,normal\n\
         b,missing.bin,red,yesterday,asap\n\
         ,a.bin,red,2026-11-20T08:00:00Z,normal\n",
    )
    .unwrap();
    let path = f.pipeline("per-sample.toml", PER_SAMPLE);
    let problems = block_on(validate(&f.petri, &path, Some(&sheet)))
        .err()
        .unwrap();
    let at = |needle: &str| {
        problems
            .iter()
            .find(|d| d.message.contains(needle))
            .map(|d| {
                (
                    d.file.file_name().unwrap().to_str().unwrap().to_owned(),
                    d.line,
                    d.column,
                )
            })
            .unwrap_or_else(|| panic!("no problem mentions `{needle}`:\n{problems:#?}"))
    };
    assert_eq!(at("unknown column `colour`"), ("bad.csv".into(), 1, 3));
    assert_eq!(
        at("duplicate sample `a` (first on line 2)"),
        ("bad.csv".into(), 3, 1)
    );
    assert_eq!(at("missing.bin not found"), ("bad.csv".into(), 4, 2));
    assert_eq!(
        at("`yesterday` is not an RFC 3339 time"),
        ("bad.csv".into(), 4, 4)
    );
    assert_eq!(at("priority `asap`"), ("bad.csv".into(), 4, 5));
    assert_eq!(at("empty sample id"), ("bad.csv".into(), 5, 1));
}

#[test]
fn two_failed_branches_each_skip_their_own_downstream_once() {
    let f = Fixture::new();
    std::fs::write(f.dir.path().join("data.bin"), b"hello").unwrap();
    let path = f.pipeline(
        "branches.toml",
        r#"
[inputs.data]
path = "data.bin"

[stages.left]
module = "TESTKIT"
params = { mode = "panic" }
inputs = { data = "inputs.data" }

[stages.right]
module = "TESTKIT"
params = { mode = "panic" }
inputs = { data = "inputs.data" }

[stages.after-left]
module = "TESTKIT"
inputs = { data = "left.out" }

[stages.after-right]
module = "TESTKIT"
inputs = { data = "right.out" }
"#,
    );
    // Whichever branch fails second finds the first one's downstream
    // already recorded: each skipped stage is recorded once.
    let r = f.run(&path, false);
    assert_eq!(r.status, "failed");
    assert_eq!(r.stages.len(), 4, "{:?}", r.stages);
    for (failed, after) in [("left", "after-left"), ("right", "after-right")] {
        assert_eq!(stage(&r, failed).status, "failed");
        let skipped = stage(&r, after);
        assert_eq!(skipped.status, "skipped");
        assert_eq!(
            skipped.reason.as_deref(),
            Some(format!("upstream stage `{failed}` failed").as_str())
        );
    }
}

#[test]
fn an_input_changed_after_validation_is_refused_by_its_pinned_digest() {
    let f = Fixture::new();
    let data = f.dir.path().join("data.bin");
    std::fs::write(&data, b"hello").unwrap();
    let pinned = petri_host::Digest::of(b"hello");
    let path = f.pipeline(
        "pinned.toml",
        &format!(
            r#"
[inputs.data]
path = "data.bin"
sha256 = "{}"

[stages.first]
module = "TESTKIT"
params = {{ mode = "copy" }}
inputs = {{ data = "inputs.data" }}
"#,
            pinned.to_hex()
        ),
    );
    let plan = block_on(validate(&f.petri, &path, None)).unwrap_or_else(|d| panic!("{d:#?}"));
    std::fs::write(&data, b"HELLO").unwrap();
    let err = block_on(run_plan(
        f.petri.clone(),
        &f.state,
        &plan,
        &RunOptions::default(),
    ))
    .unwrap_err();
    let changed = petri_host::Digest::of(b"HELLO");
    match err {
        petri_host::Error::Request(problems) => {
            assert_eq!(problems.len(), 1, "{problems:?}");
            assert_eq!(problems[0].field, "input `data`");
            assert_eq!(
                problems[0].problem,
                format!(
                    "{}: sha256 is {changed}, the pipeline expects {pinned}",
                    data.display()
                )
            );
        }
        e => panic!("{e:?}"),
    }
}

#[test]
fn run_options_debug_shows_the_settings_and_the_executor() {
    let options = RunOptions {
        no_cache: true,
        ..RunOptions::default()
    };
    assert_eq!(
        format!("{options:?}"),
        r#"RunOptions { no_cache: true, instruments: None, executor: "local", .. }"#
    );
}

#[test]
fn an_ro_crate_that_cannot_be_written_names_its_directory() {
    let f = Fixture::new();
    std::fs::write(f.dir.path().join("data.bin"), b"hello").unwrap();
    let run = f.run(&f.pipeline("chain.toml", CHAIN), false);
    // A file where a directory has to be made: even root cannot write there.
    let file = f.dir.path().join("a-file");
    std::fs::write(&file, b"").unwrap();
    let dir = file.join("crate");
    match petri_host::pipeline::write_ro_crate(&f.petri, &run, &dir) {
        Err(petri_host::Error::Read { path, .. }) => assert_eq!(path, dir),
        r => panic!("{r:?}"),
    }
}
