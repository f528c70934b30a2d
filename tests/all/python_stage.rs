//! The Python stage (`plugins/vcf-summary`, built by componentize-py) in a
//! pipeline beside the Rust stages: the lambda example plus its summary of
//! the calls, checked against `bcftools stats`; a typed error raised in
//! Python reaching the host as a stage failure; and a Python `recover` hook's
//! `RetryWith`, `log` and `progress` going through the real host.

use std::sync::OnceLock;

use petri_host::Failure;
use petri_host::pipeline::StageStatus;
use petri_tests::oracle::tool;
use petri_tests::{Fixture, LambdaRun, failed, lambda_example, request, run, stage};

/// The lambda example (QC → align → coverage, call → consensus) with the
/// Python stage summarising the calls, run once for every test here.
fn mixed() -> &'static LambdaRun {
    static RUN: OnceLock<LambdaRun> = OnceLock::new();
    RUN.get_or_init(|| {
        let summary = "\n[stages.summary]\nmodule = \"vcf-summary\"\n\
                       params = { qual-bin-width = 100 }\n\
                       inputs = { vcf = \"call.variants\" }\n";
        LambdaRun::new(&(lambda_example() + summary))
    })
}

/// `bcftools stats` lines of one kind (`SN`, `TSTV`, `QUAL`), split on tabs.
fn stats(text: &str, kind: &str) -> Vec<Vec<String>> {
    text.lines()
        .filter(|l| l.starts_with(&format!("{kind}\t")))
        .map(|l| l.split('\t').map(str::to_owned).collect())
        .collect()
}

#[test]
fn a_mixed_pipeline_summarises_the_calls_as_bcftools_stats_does() {
    let l = mixed();
    assert_eq!(stage(&l.run, "summary").status, StageStatus::Succeeded);
    let vcf = l.copy_output("call", "variants", "calls.vcf");
    let json = l.copy_output("summary", "summary", "summary.json");
    let ours: serde_json::Value = serde_json::from_slice(&std::fs::read(json).unwrap()).unwrap();
    let text =
        String::from_utf8(tool(&l.work, "bcftools", &["stats", vcf.to_str().unwrap()])).unwrap();

    let sn = |key: &str| -> u64 {
        let row = stats(&text, "SN").into_iter().find(|r| r[2] == key);
        row.unwrap_or_else(|| panic!("no `{key}`"))[3]
            .parse()
            .unwrap()
    };
    assert_eq!(ours["records"], sn("number of records:"));
    assert_eq!(ours["snvs"], sn("number of SNPs:"));
    assert_eq!(ours["indels"], sn("number of indels:"));
    assert_eq!(ours["mnps"], sn("number of MNPs:"));
    assert_eq!(ours["others"], sn("number of others:"));
    assert!(ours["snvs"].as_u64().unwrap() > 20, "{ours}");

    let tstv = &stats(&text, "TSTV")[0];
    assert_eq!(ours["transitions"].to_string(), tstv[2]);
    assert_eq!(ours["transversions"].to_string(), tstv[3]);

    // QUAL per record (bcftools: SNPs + indels at each quality, to 0.1;
    // columns id, quality, SNPs, transitions, transversions, indels), binned
    // as the stage bins it.
    let mut bins = std::collections::BTreeMap::<u64, u64>::new();
    for row in stats(&text, "QUAL") {
        let q: f64 = row[2].parse().unwrap();
        let n: u64 = row[3].parse::<u64>().unwrap() + row[6].parse::<u64>().unwrap();
        *bins.entry((q / 100.0).floor() as u64 * 100).or_default() += n;
    }
    let theirs: Vec<(u64, u64)> = bins.into_iter().filter(|(_, n)| *n > 0).collect();
    let got: Vec<(u64, u64)> = ours["qual-histogram"]["bins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| (b["from"].as_u64().unwrap(), b["records"].as_u64().unwrap()))
        .collect();
    assert_eq!(got, theirs);
}

#[test]
fn a_typed_error_raised_in_python_is_a_stage_failure() {
    let l = mixed();
    let petri = &l.fixture.petri;
    let stage = petri
        .load_file(petri_plugins::VCF_SUMMARY.as_ref())
        .unwrap();
    let bad = l.work.join("bad.vcf");
    std::fs::write(
        &bad,
        "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n\
         c\t1\t.\tA\tG\t50\tPASS\t.\nc\t2\t.\tA\tG\thigh\tPASS\t.\n",
    )
    .unwrap();
    let record = run(petri, &stage, request(&[], &[("vcf", bad)]));
    match failed(&record) {
        Failure::Stage { error } => {
            assert_eq!(error.kind, "malformed");
            assert_eq!(error.port.as_deref(), Some("vcf"));
            assert_eq!(error.record, Some(2));
            assert!(error.message.contains("`high`"), "{}", error.message);
        }
        other => panic!("not a typed stage failure: {other}"),
    }

    // Too few columns: located at its record.
    let truncated = l.work.join("short.vcf");
    std::fs::write(&truncated, "c\t1\t.\tA\n").unwrap();
    let record = run(petri, &stage, request(&[], &[("vcf", truncated)]));
    assert!(
        matches!(failed(&record), Failure::Stage { error } if error.kind == "malformed" && error.record == Some(1)),
        "{:?}",
        record.outcome
    );
}

#[test]
fn a_python_recover_hook_retries_with_coarser_bins_and_its_log_is_kept() {
    let f = Fixture::new();
    let records: String = (1..=1001)
        .map(|q| format!("c\t{q}\t.\tA\tG\t{q}\tPASS\t.\n"))
        .collect();
    std::fs::write(
        f.dir.path().join("wide.vcf"),
        format!("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n{records}"),
    )
    .unwrap();
    let path = f.pipeline(
        "retry.toml",
        r#"[pipeline]
name = "python-retry-with"

[inputs.calls]
path = "wide.vcf"

[stages.summary]
module = "vcf-summary"
params = { qual-bin-width = 1 }
inputs = { vcf = "inputs.calls" }
policy = { max-attempts = 2, allow = ["retry-with"] }
"#,
    );
    let run = f.run(&path, true);
    let s = stage(&run, "summary");
    assert_eq!(s.status, StageStatus::Succeeded, "{s:#?}");
    assert_eq!(s.attempts.len(), 2, "{s:#?}");
    assert!(
        s.attempts[0].outcome.contains("too-many-bins"),
        "{}",
        s.attempts[0].outcome
    );
    assert_eq!(s.attempts[0].decision.as_deref(), Some("retry-with"));

    let blob = |d| std::fs::read_to_string(f.petri.blobs().local_path(d).unwrap()).unwrap();
    let summary: serde_json::Value = serde_json::from_str(&blob(&s.outputs[0].sha256)).unwrap();
    assert_eq!(summary["qual-histogram"]["bin-width"], 1000);
    assert_eq!(summary["records"], 1001);

    // The second attempt's record keeps the stage's structured log line.
    let id = s.record_id.as_deref().unwrap();
    let seal = s.record_sha256.unwrap();
    let record = f.petri.records().load_sealed(id, &seal).unwrap();
    let log = blob(&record.log.sha256);
    assert!(log.contains("summarised"), "{log}");
    assert!(log.contains("1001") && log.contains("bin_width"), "{log}");
}
