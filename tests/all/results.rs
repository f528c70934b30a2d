//! `petri results` rows of a run without a sweep: a failed stage fails the row, non-finite
//! metrics stay readable as text, and a stage whose record cannot be read adds nothing.

use petri_host::pipeline::{RowStatus, cell, columns, rows};
use petri_tests::Fixture;

const METRICS_THEN_PANIC: &str = r#"
[stages.metrics]
module = "TESTKIT"
params = { mode = "nan-metrics" }

[stages.boom]
module = "TESTKIT"
params = { mode = "panic" }
"#;

#[test]
fn a_run_without_a_sweep_is_one_row_failed_by_its_failed_stage() {
    let f = Fixture::new();
    let run = f.run(&f.pipeline("metrics.toml", METRICS_THEN_PANIC), false);
    let records = f.petri.records();
    let all = rows(&run, records, &[]);
    assert_eq!(all.len(), 1, "{all:#?}");
    let row = &all[0];
    assert_eq!(
        (row.sample.as_str(), row.combination.as_str()),
        ("default", "")
    );
    assert_eq!(row.status, RowStatus::Failed);
    assert_eq!(cell(row, "status"), "failed");
    let metric = |name: &str| cell(row, &format!("metrics.{name}"));
    assert_eq!(
        [
            metric("half"),
            metric("inf"),
            metric("neg-inf"),
            metric("nan")
        ],
        ["0.5", "inf", "-inf", "NaN"]
    );
    assert!(row.fuel > 0, "{row:#?}");
    assert_eq!(
        columns(&all),
        [
            "sample",
            "combination",
            "status",
            "metrics.half",
            "metrics.inf",
            "metrics.nan",
            "metrics.neg-inf",
            "fuel",
            "seconds",
            "metrics.out"
        ]
    );

    // Chosen metrics only.
    let chosen = rows(&run, records, &["metrics.half".to_owned()]);
    assert_eq!(
        chosen[0].metrics.keys().collect::<Vec<_>>(),
        ["metrics.half"]
    );

    // Records that cannot be read (lost ids): the row keeps its status, without fuel or metrics.
    let mut lost = run.clone();
    for s in &mut lost.stages {
        s.record_id = Some("0000-lost".into());
        s.record_sha256 = None;
    }
    let row = &rows(&lost, records, &[])[0];
    assert_eq!(
        (row.status, row.fuel, row.metrics.len()),
        (RowStatus::Failed, 0, 0)
    );
    assert_eq!(cell(row, "seconds"), "0.000");
}
