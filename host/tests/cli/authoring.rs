//! `petri plugin new | test`, `petri logs` on a local record and `petri inspect`: a plugin
//! author's first hour, run as the binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::{petri, stderr};

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn plugin_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../plugins")
        .join(name)
}

/// `petri plugin test` building with cargo, into a target dir kept between
/// test runs (the first build of a new crate takes a minute or two).
fn plugin_test(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_petri"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(["plugin", "test"])
        .args(args)
        .env(
            "CARGO_TARGET_DIR",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("scaffolded"),
        )
        .output()
        .expect("running petri")
}

/// `petri plugin new NAME --lang LANG --dir DIR/NAME`, checked; its output and directory.
fn plugin_new(dir: &Path, name: &str, lang: &str) -> (Output, PathBuf) {
    let to = dir.join(name);
    let args = ["plugin", "new", name, "--lang", lang, "--dir"];
    let out = petri(dir, &[&args[..], &[to.to_str().unwrap()]].concat());
    assert!(out.status.success(), "{}", stderr(&out));
    (out, to)
}

#[test]
fn a_new_plugin_builds_and_passes_its_golden_cases_until_one_changes() {
    let dir = tempfile::tempdir().unwrap();
    let (out, crate_dir) = plugin_new(dir.path(), "gc-content", "rust");
    assert!(crate_dir.join("src/lib.rs").is_file());
    assert!(
        stdout(&out).contains("cargo build --release --target wasm32-wasip2"),
        "{}",
        stdout(&out)
    );

    let out = plugin_test(dir.path(), &[crate_dir.to_str().unwrap()]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}\n{}", stderr(&out));
    assert!(text.contains("case basic"), "{text}");
    assert!(text.contains("2 passed, 0 failed"), "{text}");

    // A changed digest is a diff naming the case and the port; exit 1.
    let expected = crate_dir.join("tests/golden/basic/expected.toml");
    let golden = std::fs::read_to_string(&expected).unwrap();
    let changed = golden.replace("kept = \"4bde", "kept = \"0bde");
    assert_ne!(golden, changed);
    std::fs::write(&expected, changed).unwrap();
    let out = plugin_test(dir.path(), &[crate_dir.to_str().unwrap()]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}\n{}", stderr(&out));
    assert!(
        text.contains("case basic                    FAILED"),
        "{text}"
    );
    assert!(
        text.contains("output `kept`: expected sha256:0bde6255016accb440b80a5fae31f36aff2ee8dd6f72976ca2b08390c66255f5, got sha256:4bde"),
        "{text}"
    );
    assert!(text.contains("1 passed, 1 failed"), "{text}");

    // --bless writes what the stage does now, and the cases pass again.
    assert!(
        plugin_test(dir.path(), &[crate_dir.to_str().unwrap(), "--bless"])
            .status
            .success()
    );
    assert_eq!(std::fs::read_to_string(&expected).unwrap(), golden);
}

/// `petri plugin test plugins/NAME --wasm WASM` passes `cases` (and no others fail).
fn bundled_cases_pass(name: &str, wasm: &str, cases: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let plugin = plugin_dir(name);
    let args = ["plugin", "test", plugin.to_str().unwrap(), "--wasm", wasm];
    let out = petri(dir.path(), &args);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}\n{}", stderr(&out));
    for case in cases {
        assert!(text.contains(&format!("case {case:<24} ok")), "{text}");
    }
}

#[test]
fn fastq_qc_passes_its_golden_cases() {
    let cases = ["malformed", "paired", "recover-malformed"];
    bundled_cases_pass("fastq-qc", petri_plugins::FASTQ_QC, &cases);
}

#[test]
fn plugin_new_refuses_unsafe_names_and_existing_directories() {
    let dir = tempfile::tempdir().unwrap();
    for bad in ["../escape", "Upper", "a_b", "std"] {
        let out = petri(dir.path(), &["plugin", "new", bad]);
        assert_eq!(out.status.code(), Some(2), "{bad}");
        assert!(
            stderr(&out).contains(&format!("`{bad}`")),
            "{}",
            stderr(&out)
        );
    }
    let out = petri(
        dir.path(),
        &[
            "plugin",
            "new",
            "taken",
            "--dir",
            dir.path().to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("already exists"), "{}", stderr(&out));
}

#[test]
fn plugin_test_without_cases_says_where_they_belong() {
    let dir = tempfile::tempdir().unwrap();
    let out = petri(
        dir.path(),
        &[
            "plugin",
            "test",
            dir.path().to_str().unwrap(),
            "--wasm",
            petri_plugins::TESTKIT,
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("tests/golden/<case>/case.toml"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_panicking_stage_shows_its_message_in_run_and_logs() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.txt");
    std::fs::write(&input, b"bytes").unwrap();
    let input = format!("data={}", input.display());
    let args = [
        "run",
        petri_plugins::TESTKIT,
        "-p",
        "mode=panic",
        "-i",
        &input,
    ];
    let out = petri(dir.path(), &args);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}\n{}", stderr(&out));
    assert!(text.contains("testkit was asked to panic"), "{text}");
    let id = text.split_whitespace().nth(1).unwrap().to_owned();
    assert!(text.contains(&format!("petri logs {id}")), "{text}");

    let out = petri(dir.path(), &["logs", &id[..13]]);
    let log = stdout(&out);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        log.contains(&format!("testkit  record {id}  failed")),
        "{log}"
    );
    // The stderr line the panic printed, and the failure it became.
    assert!(
        log.contains("warn  stderr thread '<unnamed>'")
            && log.contains("panicked at plugins/testkit/src/lib.rs"),
        "{log}"
    );
    assert!(
        log.contains("failure trap:") && log.contains("the stage panicked at"),
        "{log}"
    );

    let out = petri(dir.path(), &["logs", "no-such-record"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn inspect_prints_kinds_ranges_and_defaults_in_words() {
    let dir = tempfile::tempdir().unwrap();
    let out = petri(dir.path(), &["inspect", petri_plugins::FASTQ_QC]);
    let text = stdout(&out);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        text.contains("quality-cutoff           integer in 0..=93, default 20"),
        "{text}"
    );
    assert!(
        text.contains("max-n-fraction           float in 0..=1, default"),
        "{text}"
    );
    assert!(
        text.contains("adapter                  text, default \"\""),
        "{text}"
    );
    assert!(!text.contains("ParamKind"), "{text}");
    // The SDK's own error kinds are declared without the author listing them.
    assert!(text.contains("  missing-input "), "{text}");
}

#[test]
fn vcf_summary_passes_its_golden_cases_and_recover_case() {
    let cases = [
        "lambda",
        "malformed",
        "recover-malformed",
        "recover-too-many-bins",
    ];
    bundled_cases_pass("vcf-summary", petri_plugins::VCF_SUMMARY, &cases);
}

/// The `output`/`fuel` lines `petri run` prints.
fn digest_and_fuel(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| l.trim_start().starts_with("fuel") || l.trim_start().starts_with("output"))
        .collect()
}

#[test]
fn the_python_stage_gives_the_same_digest_and_fuel_in_two_processes() {
    let dir = tempfile::tempdir().unwrap();
    let vcf = plugin_dir("vcf-summary").join("tests/golden/lambda/variants.vcf");
    let input = format!("vcf={}", vcf.display());
    let args = ["run", petri_plugins::VCF_SUMMARY, "-i", &input];
    // The first process compiles the component; the second loads it from the
    // compiled cache. Both execute it.
    let first = petri(dir.path(), &args);
    let second = petri(dir.path(), &args);
    for out in [&first, &second] {
        assert!(out.status.success(), "{}", stderr(out));
    }
    let (a, b) = (stdout(&first), stdout(&second));
    assert_ne!(a.lines().next(), b.lines().next(), "two runs, two ids");
    let lines = digest_and_fuel(&a);
    assert_eq!(lines.len(), 2, "{a}");
    assert_eq!(lines, digest_and_fuel(&b));
}

#[test]
fn a_new_python_plugin_builds_and_passes_its_golden_cases() {
    let dir = tempfile::tempdir().unwrap();
    let (out, pkg) = plugin_new(dir.path(), "line-filter", "python");
    assert!(pkg.join("line_filter.py").is_file());
    assert!(
        stdout(&out).contains("componentize-py -d "),
        "{}",
        stdout(&out)
    );

    // The logic, natively.
    let native = Command::new("python3")
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .current_dir(&pkg)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("running pytest");
    assert!(native.status.success(), "{}", stdout(&native));
    assert!(stdout(&native).contains("2 passed"), "{}", stdout(&native));

    // Built by componentize-py and run sandboxed: the same golden cases as
    // the Rust scaffold (the stage does the same thing, byte for byte).
    let out = plugin_test(dir.path(), &[pkg.to_str().unwrap()]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}\n{}", stderr(&out));
    assert!(pkg.join("target/line-filter.wasm").is_file());
    for case in ["basic", "recover-io"] {
        assert!(text.contains(&format!("case {case:<24} ok")), "{text}");
    }
    assert!(text.contains("2 passed, 0 failed"), "{text}");
}
