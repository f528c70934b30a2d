//! Property-driven fuzzing with a fixed budget, run in CI (cargo-fuzz needs a nightly toolchain,
//! which this project's machines cannot fetch): the pipeline parser and validator, sample sheets,
//! params and the FASTQ reader never panic on hostile input, every rejection is located, and what
//! they accept round-trips. Inputs are arbitrary bytes and mutations of valid files.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

use petri_host::pipeline::{Files, Source, Uploaded, validate_source};
use petri_host::{Digest, ParamSet, Petri, RawParam};
use petri_tests::block_on;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

/// Cases per target in CI; `PETRI_FUZZ_CASES` raises the budget for a longer hunt.
const CASES: u32 = 1000;

fn runner() -> TestRunner {
    let cases = std::env::var("PETRI_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(CASES);
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

/// Applies `edits` (position, byte; byte 0 deletes) to `base`.
fn mutate(base: &str, edits: &[(usize, u8)]) -> String {
    let mut bytes = base.as_bytes().to_vec();
    for &(at, b) in edits {
        let at = at % (bytes.len() + 1);
        match b {
            0 => {
                if at < bytes.len() {
                    bytes.remove(at);
                }
            }
            _ => bytes.insert(at, b),
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Bytes that TOML, TSV and FASTQ care about, plus a few of anything.
fn edits() -> impl Strategy<Value = Vec<(usize, u8)>> {
    let special =
        prop::sample::select(b"\0\n\r\t\"'[]{}=.,#@+-:/\\ 0123456789eEnaNinf\xff\x7f".to_vec());
    let byte = prop_oneof![3 => special, 1 => any::<u8>()];
    prop::collection::vec((any::<usize>(), byte), 0..12)
}

struct Host {
    petri: Arc<Petri>,
    testkit: Digest,
    _dir: tempfile::TempDir,
}

fn host() -> Host {
    let dir = tempfile::tempdir().unwrap();
    let petri = Arc::new(Petri::open(dir.path().join("data")).unwrap());
    let stage = petri.load_file(petri_plugins::TESTKIT.as_ref()).unwrap();
    Host {
        testkit: stage.digest,
        petri,
        _dir: dir,
    }
}

fn pipeline(testkit: &Digest) -> String {
    format!(
        r#"
[pipeline]
name = "fuzz"

[inputs.data]
path = "data/in.bin"

[stages.first]
module = "sha256:{testkit}"
params = {{ mode = "copy", record = 3 }}
inputs = {{ data = "inputs.data" }}
policy = {{ max-attempts = 2, allow = ["retry"] }}

[stages.second]
module = "sha256:{testkit}"
inputs = {{ data = "first.out" }}
"#
    )
}

/// Validates as the daemon does: only the given files and the testkit module exist.
fn check(h: &Host, text: String, sheet: Option<String>) -> Result<(), Vec<(PathBuf, usize)>> {
    let data = h.petri.blobs().put(b"bytes").unwrap();
    let files = Uploaded::new(
        [
            (PathBuf::from("data/in.bin"), data),
            (PathBuf::from("s1.bin"), data),
        ]
        .into(),
        BTreeSet::from([h.testkit]),
    );
    let source = Source {
        path: PathBuf::from("pipeline.toml"),
        text,
        sheet: sheet.map(|t| (PathBuf::from("samples.tsv"), t)),
        files: Files::Uploaded(files),
    };
    match block_on(validate_source(&h.petri, source)) {
        Ok(_) => Ok(()),
        Err(ds) => Err(ds.into_iter().map(|d| (d.file, d.line)).collect()),
    }
}

/// Every problem names one of the two files and a line inside it (0: the whole file).
fn located(problems: &[(PathBuf, usize)], text: &str, sheet: Option<&str>) {
    assert!(!problems.is_empty(), "a rejection lists its problems");
    for (file, line) in problems {
        let within = match file.to_str() {
            Some("pipeline.toml") => text,
            Some("samples.tsv") => sheet.unwrap_or_default(),
            other => panic!("problem in an unknown file {other:?}"),
        };
        assert!(
            *line <= within.lines().count() + 1,
            "line {line} is outside {}",
            file.display()
        );
    }
}

#[test]
fn the_pipeline_validator_never_panics_and_locates_every_problem() {
    let h = host();
    let base = pipeline(&h.testkit);
    assert_eq!(check(&h, base.clone(), None), Ok(()), "the seed is valid");
    let rejected = std::cell::Cell::new(0u32);
    runner()
        .run(&edits(), |e| {
            let text = mutate(&base, &e);
            if let Err(problems) = check(&h, text.clone(), None) {
                located(&problems, &text, None);
                rejected.set(rejected.get() + 1);
            }
            Ok(())
        })
        .unwrap();
    assert!(rejected.get() > 0, "the mutations reach the error paths");
    runner()
        .run(&any::<String>(), |text| {
            if let Err(problems) = check(&h, text.clone(), None) {
                located(&problems, &text, None);
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn the_sample_sheet_parser_never_panics_and_names_row_and_column() {
    let h = host();
    let text = pipeline(&h.testkit).replace("path = \"data/in.bin\"\n", "");
    let sheet = "sample\tdata\tcollected_at\tstability_hours\tpriority\n\
                 s1\ts1.bin\t2026-11-20T08:00:00Z\t72\turgent\n\
                 s2\tdata/in.bin\t\t\tnormal\n";
    assert_eq!(check(&h, text.clone(), Some(sheet.into())), Ok(()));
    runner()
        .run(&edits(), |e| {
            let mutated = mutate(sheet, &e);
            if let Err(problems) = check(&h, text.clone(), Some(mutated.clone())) {
                located(&problems, &text, Some(&mutated));
            }
            Ok(())
        })
        .unwrap();
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value as J;
    let leaf = prop_oneof![
        Just(J::Null),
        any::<bool>().prop_map(J::Bool),
        any::<i64>().prop_map(J::from),
        any::<f64>().prop_map(J::from),
        prop::sample::select(vec!["copy", "probe", "spin", "", "COPY", "\u{0}"])
            .prop_map(|s| J::String(s.to_owned())),
        any::<String>().prop_map(J::String),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(J::Array),
            prop::collection::btree_map("[a-z]{1,6}", inner, 0..4)
                .prop_map(|m| J::Object(m.into_iter().collect())),
        ]
    })
}

#[test]
fn params_never_panic_and_accepted_params_round_trip() {
    let h = host();
    let stage = h.petri.load_file(petri_plugins::TESTKIT.as_ref()).unwrap();
    let specs = block_on(h.petri.describe(&stage)).unwrap().params;
    let names = prop::sample::select(vec!["mode", "record", "other", ""]);
    let given = prop::collection::vec((names, json_value()), 0..4);
    let accepted = std::cell::Cell::new(0u32);
    runner()
        .run(&given, |given| {
            let raw: Vec<(String, RawParam)> = given
                .into_iter()
                .map(|(n, v)| (n.to_owned(), RawParam::Json(v)))
                .collect();
            match ParamSet::resolve(&specs, &raw) {
                Ok(set) => {
                    accepted.set(accepted.get() + 1);
                    // Canonical params resolve to themselves.
                    let again: Vec<(String, RawParam)> = match set.to_json() {
                        serde_json::Value::Object(m) => {
                            m.into_iter().map(|(k, v)| (k, RawParam::Json(v))).collect()
                        }
                        other => panic!("params are an object: {other}"),
                    };
                    let round = ParamSet::resolve(&specs, &again).unwrap();
                    prop_assert_eq!(round.digest(), set.digest());
                }
                Err(problems) => prop_assert!(!problems.is_empty()),
            }
            Ok(())
        })
        .unwrap();
    assert!(accepted.get() > 0, "some cases are valid params");
}

const FASTQ: &str = "@r1 first\nACGTACGTAC\n+\nIIIIIIIIII\n@r2\nGGGGCCCCAA\n+r2\n##########\n";

fn read_all(bytes: Vec<u8>) -> Result<u64, String> {
    use petri_plugin_fastq_qc::fastq::{FastqReader, ReadLimits, Record};
    let limits = ReadLimits {
        max_line: 1 << 12,
        max_bytes: 1 << 20,
    };
    let mut reader = FastqReader::new(std::io::Cursor::new(bytes), "reads", limits)
        .map_err(|e| e.to_string())?;
    let mut rec = Record::default();
    let mut n = 0;
    while reader.next_record(&mut rec).map_err(|e| e.to_string())? {
        n += 1;
    }
    Ok(n)
}

#[test]
fn the_fastq_reader_never_panics_and_names_the_record() {
    assert_eq!(read_all(FASTQ.as_bytes().to_vec()), Ok(2));
    let errors = std::cell::Cell::new(0u32);
    runner()
        .run(&edits(), |e| {
            if let Err(message) = read_all(mutate(FASTQ, &e).into_bytes()) {
                prop_assert!(message.contains("reads"), "names the port: {}", message);
                errors.set(errors.get() + 1);
            }
            Ok(())
        })
        .unwrap();
    assert!(errors.get() > 0, "the mutations reach the error paths");
    runner()
        .run(&prop::collection::vec(any::<u8>(), 0..512), |bytes| {
            let _ = read_all(bytes);
            Ok(())
        })
        .unwrap();
}
