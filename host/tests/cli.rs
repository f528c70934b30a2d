//! The `petri` binary end to end: two processes agree byte for byte; bad input fails clearly;
//! stage-provided text reaches the terminal escaped; outputs are published as files.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failure report

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn lambda(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/data/lambda")
        .join(file)
}

fn petri(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_petri"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .output()
        .expect("running petri")
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn qc_lambda(data_dir: &Path) -> serde_json::Value {
    let reads = format!("reads={}", lambda("reads_1.fq.gz").display());
    let mates = format!("mates={}", lambda("reads_2.fq.gz").display());
    let out = petri(
        data_dir,
        &[
            "run",
            petri_plugins::FASTQ_QC,
            "-i",
            &reads,
            "-i",
            &mates,
            "--json",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    json(&out)
}

#[test]
fn qc_twice_in_two_processes_is_identical() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let first = qc_lambda(a.path());
    let second = qc_lambda(b.path());
    assert_eq!(first["status"], "succeeded");
    assert_eq!(first["outputs"], second["outputs"]);
    assert_eq!(first["fuel_used"], second["fuel_used"]);
    assert_ne!(first["run_id"], second["run_id"]);

    // The module digest is sha256sum of the .wasm file.
    let sum = Command::new("sha256sum")
        .arg(petri_plugins::FASTQ_QC)
        .output()
        .unwrap();
    let sum = String::from_utf8(sum.stdout).unwrap();
    assert_eq!(
        first["module_sha256"].as_str().unwrap(),
        sum.split_whitespace().next().unwrap()
    );

    // The provenance record says the same, by full id or a prefix.
    let id = first["run_id"].as_str().unwrap();
    let out = petri(a.path(), &["provenance", id, "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let record = json(&out);
    assert_eq!(record["module"]["sha256"], first["module_sha256"]);
    assert_eq!(record["outputs"], first["outputs"]);
    assert_eq!(record["fuel_used"], first["fuel_used"]);
    assert_eq!(record["stage"]["name"], "fastq-qc");
    assert_eq!(record["params"]["quality-cutoff"], 20);
    assert_eq!(record["wasmtime_version"], "48.0.8");
    let prefix = &id[..13];
    assert!(petri(a.path(), &["provenance", prefix]).status.success());
}

#[test]
fn outputs_are_exported_and_inspect_shows_the_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    let reads = format!("reads={}", lambda("reads_1.fq.gz").display());
    let out = petri(
        dir.path(),
        &[
            "run",
            petri_plugins::FASTQ_QC,
            "-i",
            &reads,
            "-p",
            "min-length=50",
            "--output-dir",
            out_dir.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(out_dir.join("trimmed.fastq").is_file());
    assert!(out_dir.join("summary.json").is_file());
    assert!(
        !out_dir.join("trimmed-mates.fastq").exists(),
        "unpaired run writes no mates"
    );

    let out = petri(dir.path(), &["inspect", petri_plugins::FASTQ_QC, "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["manifest"]["name"], "fastq-qc");
    assert_eq!(v["manifest"]["inputs"][0]["name"], "reads");
}

#[test]
fn bad_input_fails_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let qc = petri_plugins::FASTQ_QC;
    let reads = format!("reads={}", lambda("reads_1.fq.gz").display());

    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["run", qc, "-i", &reads, "-p", "min-length=abc"],
            "param `min-length`: expected an integer, got `abc`",
        ),
        (
            vec!["run", qc, "-i", &reads, "-p", "nonsense"],
            "expected NAME=VALUE",
        ),
        (
            vec!["run", qc, "-i", "reads=/no/such/file.fq"],
            "/no/such/file.fq",
        ),
        (vec!["run", qc], "input `reads`: required"),
        (vec!["run", "/no/such/stage.wasm"], "/no/such/stage.wasm"),
        (
            vec!["provenance", "nonexistent"],
            "no run record matches `nonexistent`",
        ),
    ];
    for (args, needle) in cases {
        let out = petri(d, &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(needle),
            "{args:?}: `{needle}` not in:\n{}",
            stderr(&out)
        );
    }

    // Not a component: the path and the reason.
    let fake = d.join("fake.wasm");
    std::fs::write(&fake, b"not wasm").unwrap();
    let out = petri(d, &["inspect", fake.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("fake.wasm")
            && stderr(&out).contains("not a valid WebAssembly component"),
        "{}",
        stderr(&out)
    );

    // A stage that fails: exit 1, and the record names the problem.
    let bad = d.join("bad.fq");
    std::fs::write(&bad, "@r1\nACGT\n+\nIIII\nr2\nACGT\n+\nIIII\n").unwrap();
    let arg = format!("reads={}", bad.display());
    let out = petri(d, &["run", qc, "-i", &arg, "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let v = json(&out);
    assert_eq!(v["status"], "failed");
    assert!(
        v["failure"]["message"]
            .as_str()
            .unwrap()
            .contains("record 2"),
        "{v}"
    );
}

const CHAIN: &str = r#"
[inputs.data]
path = "data.bin"

[stages.a]
module = "TESTKIT"
params = { mode = "copy" }
inputs = { data = "inputs.data" }

[stages.b]
module = "TESTKIT"
params = { mode = "burn", record = 150 }
inputs = { data = "a.out" }

[stages.c]
module = "TESTKIT"
params = { mode = "burn", record = 150 }
inputs = { data = "a.out" }

[stages.d]
module = "TESTKIT"
params = { mode = "copy" }
inputs = { data = "b.out" }
"#;

/// Every file under `blobs/sha256/` hashes to its name: nothing half-written is visible.
/// Everything `out` printed, both streams.
fn printed(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// No terminal control character (ESC, CR, CSI, BEL) in `text`.
fn assert_escaped(text: &str) {
    for raw in ['\u{1b}', '\r', '\u{9b}', '\u{7}'] {
        assert!(!text.contains(raw), "raw {raw:?} printed: {text:?}");
    }
}

#[test]
fn stage_text_reaches_the_terminal_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let kit = petri_plugins::TESTKIT;
    let out = petri(&data, &["run", kit, "-p", "mode=shout"]);
    assert!(!out.status.success(), "{}", printed(&out));
    assert_escaped(&printed(&out));
    assert!(
        printed(&out).contains("\\u{1b}[2J\\u{d}forged"),
        "{}",
        printed(&out)
    );

    // Through the daemon: `petri status` shows the stage's failure escaped.
    assert!(petri(&data, &["plugin", "add", kit]).status.success());
    let token = petri(&data, &["token", "create", "--group", "lab"]);
    let token = String::from_utf8(token.stdout).unwrap().trim().to_owned();
    let pipeline = dir.path().join("shout.toml");
    let text = "[stages.s]\nmodule = \"testkit\"\nparams = { mode = \"shout\" }\n";
    std::fs::write(&pipeline, text).unwrap();
    let log = dir.path().join("daemon.log");
    let (daemon, url) = daemon::start(&data, &log, &[]);
    let submitted = daemon::client(&url, &token, &["submit", pipeline.to_str().unwrap()]);
    daemon::ok_output(&submitted);
    let id = String::from_utf8(submitted.stdout)
        .unwrap()
        .trim()
        .to_owned();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let status = loop {
        let out = daemon::client(&url, &token, &["status", &id]);
        if printed(&out).contains("FAILED") {
            break out;
        }
        assert!(std::time::Instant::now() < deadline, "{}", printed(&out));
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    let logs = daemon::client(&url, &token, &["logs", &id]);
    daemon::stop(daemon);
    assert_escaped(&printed(&status));
    assert!(
        printed(&logs).contains("shouted to stdout"),
        "{}",
        printed(&logs)
    );
    assert_escaped(&printed(&logs));
}

fn assert_store_is_consistent(data_dir: &Path) {
    let root = data_dir.join("blobs/sha256");
    for shard in std::fs::read_dir(&root).unwrap() {
        for blob in std::fs::read_dir(shard.unwrap().path()).unwrap() {
            let path = blob.unwrap().path();
            let sum = Command::new("sha256sum").arg(&path).output().unwrap();
            let sum = String::from_utf8(sum.stdout).unwrap();
            let name = path.file_name().unwrap().to_str().unwrap();
            assert_eq!(
                sum.split_whitespace().next(),
                Some(name),
                "{} is not what it is named",
                path.display()
            );
        }
    }
}

#[test]
fn killed_runs_resume_to_the_digests_of_an_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("data.bin"), vec![42u8; 3 << 20]).unwrap();
    let pipeline = dir.path().join("chain.toml");
    std::fs::write(&pipeline, CHAIN.replace("TESTKIT", petri_plugins::TESTKIT)).unwrap();
    let pipeline = pipeline.to_str().unwrap();

    let clean = dir.path().join("clean");
    let out = petri(&clean, &["run", pipeline, "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let expected = json(&out);

    let data = dir.path().join("killed");
    // Kill at spread-out points: before, during and between stages.
    for delay_ms in [5u64, 40, 90, 160, 250, 330, 420, 520, 650, 800] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_petri"))
            .arg("--data-dir")
            .arg(&data)
            .args(["run", pipeline, "--json"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill(); // SIGKILL; it may already have finished
        let _ = child.wait();
        if data.join("blobs").exists() {
            assert_store_is_consistent(&data);
        }
    }
    let out = petri(&data, &["run", pipeline, "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let resumed = json(&out);
    assert_eq!(
        resumed["root"], expected["root"],
        "same Merkle root as the uninterrupted run"
    );
    for (a, b) in resumed["stages"]
        .as_array()
        .unwrap()
        .iter()
        .zip(expected["stages"].as_array().unwrap())
    {
        assert_eq!(a["outputs"], b["outputs"]);
        assert_eq!(a["fuel_used"], b["fuel_used"]);
    }
    assert_store_is_consistent(&data);
    let verify = petri(&data, &["verify", resumed["run_id"].as_str().unwrap()]);
    assert!(verify.status.success(), "{}", stderr(&verify));
}

#[test]
fn lambda_run_exports_provenance_and_a_valid_workflow_run_crate() {
    let dir = tempfile::tempdir().unwrap();
    // As README command 1 does: register the plugins, run the example as is
    // (only its data paths made absolute).
    let data = dir.path().join("data");
    let pipeline = example(dir.path(), &data, "lambda");
    let results = dir.path().join("results");
    let out = petri(
        &data,
        &[
            "run",
            pipeline.to_str().unwrap(),
            "--json",
            "--output-dir",
            results.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let run = json(&out);
    let id = run["run_id"].as_str().unwrap();
    outputs_are_published_as_files(&data, &run, &results);

    // JSON: the run record itself.
    let record = json(&petri(&data, &["provenance", id, "--format", "json"]));
    assert_eq!(record["root"], run["root"]);
    assert_eq!(record["schema"], "petri.run-record/v1");

    // PROV-JSON: one activity per stage, one `used` per input port and one
    // `wasGeneratedBy` per output of each.
    let prov = json(&petri(&data, &["provenance", id, "--format", "prov"]));
    let stages = record["stages"].as_array().unwrap();
    let count = |what: &str| -> usize {
        stages
            .iter()
            .map(|s| s[what].as_array().unwrap().len())
            .sum()
    };
    assert_eq!(stages.len(), 5);
    assert_eq!(prov["activity"].as_object().unwrap().len(), 5);
    assert_eq!(prov["used"].as_object().unwrap().len(), count("inputs"));
    assert_eq!(
        prov["wasGeneratedBy"].as_object().unwrap().len(),
        count("outputs")
    );
    let qc = stages.iter().find(|s| s["stage"] == "qc").unwrap();
    let trimmed = qc["outputs"][0]["sha256"].as_str().unwrap();
    assert!(prov["entity"].get(format!("sha256:{trimmed}")).is_some());

    // RO-Crate: passes roc-validator's Workflow Run Crate 0.5 profile.
    let crate_dir = dir.path().join("crate");
    let out = petri(
        &data,
        &[
            "provenance",
            id,
            "--format",
            "ro-crate",
            "--out",
            crate_dir.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        crate_dir.join("data").join(trimmed).is_file(),
        "outputs are in the crate"
    );
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/scripts/validate_ro_crate.py");
    let check = Command::new("python3")
        .arg(script)
        .arg(&crate_dir)
        .output()
        .expect("python3");
    assert!(
        check.status.success(),
        "roc-validator (pip install roc-validator rocrate; .ci/run does) rejected the crate:\n{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
}

/// An example pipeline with its data paths made absolute, the plugins registered in `data`.
fn example(dir: &Path, data: &Path, name: &str) -> PathBuf {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let text = std::fs::read_to_string(examples.join(name).join("pipeline.toml"))
        .unwrap()
        .replace(
            "../data/lambda/",
            &format!("{}/", examples.join("data/lambda").display()),
        );
    let pipeline = dir.join(format!("{name}.toml"));
    std::fs::write(&pipeline, text).unwrap();
    let mut add = vec!["plugin", "add"];
    add.extend(petri_plugins::ALL.iter().map(|(_, path)| *path));
    let out = petri(data, &add);
    assert!(out.status.success(), "{}", stderr(&out));
    pipeline
}

#[test]
fn the_lambda_sweep_shares_upstream_stages_and_tabulates_every_combination() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let plain = example(dir.path(), &data, "lambda");
    let sweep = example(dir.path(), &data, "sweep");
    let out = petri(&data, &["run", plain.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let plain = json(&out);
    let plain_output = |stage: &str| {
        let s = plain["stages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["stage"] == stage)
            .unwrap();
        s["outputs"][0]["sha256"].as_str().unwrap().to_owned()
    };

    let results = dir.path().join("results");
    let out = petri(
        &data,
        &[
            "run",
            sweep.to_str().unwrap(),
            "--json",
            "--output-dir",
            results.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out)
            .contains("sweep: 8 combination(s) × 1 sample(s); 18 distinct stage executions"),
        "{}",
        stderr(&out)
    );
    let run = json(&out);
    let stages = run["stages"].as_array().unwrap();
    assert_eq!(stages.len(), 18);
    // The quality-cutoff 20 branch is the plain pipeline's: its upstream stages are cache hits.
    let qc = stages.iter().find(|s| s["stage"] == "qc_c1").unwrap();
    assert_eq!(qc["cache"], "hit");

    let id = run["run_id"].as_str().unwrap();
    let out = petri(&data, &["results", id, "--format", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let rows = json(&out);
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 8);
    let manifest = std::fs::read_to_string(results.join("manifest.tsv")).unwrap();
    let path_of = |digest: &str| {
        let line = manifest.lines().find(|l| l.contains(digest)).unwrap();
        results.join(line.split('\t').nth(4).unwrap())
    };
    for row in rows {
        assert_eq!(row["status"], "completed", "{row}");
        let p = &row["params"];
        // The combination that is the plain pipeline has its consensus, byte for byte.
        if p["qc.quality-cutoff"] == 20 && p["call.min-depth"] == 3 && p["consensus.min-depth"] == 5
        {
            assert_eq!(
                row["outputs"]["consensus.consensus"],
                plain_output("consensus").as_str()
            );
            assert_eq!(
                row["outputs"]["call.variants"],
                plain_output("call").as_str()
            );
        }
        // bcftools is the oracle for the caller's PASS count in each row.
        let vcf = path_of(row["outputs"]["call.variants"].as_str().unwrap());
        let view = Command::new("bcftools")
            .args(["view", "-H", "-f", "PASS"])
            .arg(&vcf)
            .output()
            .expect("bcftools (.ci/run installs it)");
        assert!(
            view.status.success(),
            "{}",
            String::from_utf8_lossy(&view.stderr)
        );
        let pass = String::from_utf8_lossy(&view.stdout).lines().count();
        assert_eq!(row["metrics"]["call.pass"], pass, "{row}");
        assert!(row["fuel"].as_u64().unwrap() > 0);
    }
    // Rows that agree on what reaches the caller share its output.
    let calls: std::collections::BTreeSet<_> = rows
        .iter()
        .map(|r| r["outputs"]["call.variants"].to_string())
        .collect();
    assert!(calls.len() <= 4, "{calls:?}");

    let out = petri(&data, &["results", id, "--metric", "call.pass"]);
    let tsv = String::from_utf8(out.stdout).unwrap();
    let header: Vec<&str> = tsv.lines().next().unwrap().split('\t').collect();
    assert_eq!(
        header[..7],
        [
            "sample",
            "combination",
            "status",
            "call.min-depth",
            "consensus.min-depth",
            "qc.quality-cutoff",
            "call.pass"
        ]
    );
    assert_eq!(tsv.lines().count(), 9);
}

/// `--output-dir` wrote every output of `run` as `<sample>/<stage>/<port>.<format>`
/// with its digest in `manifest.tsv`; `petri export` writes the same tree;
/// nothing is ever overwritten.
fn outputs_are_published_as_files(data: &Path, run: &serde_json::Value, results: &Path) {
    let manifest = std::fs::read_to_string(results.join("manifest.tsv")).unwrap();
    let rows: Vec<Vec<&str>> = manifest
        .lines()
        .skip(1)
        .map(|l| l.split('\t').collect())
        .collect();
    let expected: usize = run["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["outputs"].as_array().unwrap().len())
        .sum();
    assert_eq!(rows.len(), expected, "{manifest}");
    for row in &rows {
        // sample stage port format path sha256 size; sha256sum is the oracle.
        let file = results.join(row[4]);
        assert_eq!(
            row[4],
            format!("{}/{}/{}.{}", row[0], row[1], row[2], row[3])
        );
        let sum = Command::new("sha256sum").arg(&file).output().unwrap();
        let sum = String::from_utf8(sum.stdout).unwrap();
        assert_eq!(
            sum.split_whitespace().next(),
            Some(row[5]),
            "{}",
            file.display()
        );
        assert_eq!(std::fs::metadata(&file).unwrap().len().to_string(), row[6]);
    }
    let vcf = std::fs::read_to_string(results.join("default/call/variants.vcf")).unwrap();
    assert!(
        vcf.starts_with("##fileformat=VCF"),
        "{}",
        &vcf[..vcf.len().min(200)]
    );

    // `petri export` of the finished run: the same files and manifest.
    let id = run["run_id"].as_str().unwrap();
    let again = results.with_extension("export");
    let out = petri(data, &["export", id, again.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(json(&out)["files"].as_array().unwrap().len(), expected);
    assert_eq!(
        std::fs::read_to_string(again.join("manifest.tsv")).unwrap(),
        manifest
    );
    for row in &rows {
        assert_eq!(
            std::fs::read(again.join(row[4])).unwrap(),
            std::fs::read(results.join(row[4])).unwrap()
        );
    }
    // Again into the same directory: everything is already there.
    let out = petri(data, &["export", id, again.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("{expected} already there")));
    // A file in the way with other bytes stops the export, naming it; nothing is overwritten.
    let victim = again.join(rows[0][4]);
    std::fs::remove_file(&victim).unwrap();
    std::fs::write(&victim, b"my own notes").unwrap();
    let out = petri(data, &["export", id, again.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("{} already exists", victim.display())),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read(&victim).unwrap(), b"my own notes");
}

#[path = "cli/daemon.rs"]
mod daemon;

#[path = "../../tests/support/postgres.rs"]
mod postgres;

#[path = "cli/serve.rs"]
mod serve;

#[path = "cli/scale_out.rs"]
mod scale_out;

#[path = "cli/governance.rs"]
mod governance;

#[path = "../../tests/support/slurm.rs"]
mod slurm;

#[path = "cli/slurm.rs"]
mod slurm_exec;

#[path = "cli/slurm_acct.rs"]
mod slurm_acct;

#[path = "cli/export.rs"]
mod export;

#[path = "cli/plan.rs"]
mod plan;

#[path = "cli/bundle.rs"]
mod bundle;

#[path = "cli/authoring.rs"]
mod authoring;

#[path = "cli/report.rs"]
mod report;

#[path = "cli/browser.rs"]
mod browser;

#[path = "cli/ui.rs"]
mod ui;

#[path = "cli/promote.rs"]
mod promote;
