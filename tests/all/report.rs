//! The HTML report's genomics sections on outputs that are lost, empty, unreadable or too many
//! to show: each says so in a note instead of failing or plotting nothing silently.

use petri_host::pipeline::{ReportOptions, RunRecord, RunStage, StageStatus, report};
use petri_host::{Digest, PortData};
use std::path::Path;

use petri_tests::{COPY_DATA, Fixture};

/// What an output of the report's domain sections holds.
enum Bytes {
    /// These bytes, stored.
    Stored(Vec<u8>),
    /// A digest the store does not have (the blob was lost).
    Lost(&'static str),
}

/// A real one-stage run, and its stage as a template for stages of other modules.
fn template() -> (Fixture, RunRecord, RunStage) {
    let f = Fixture::new();
    std::fs::write(f.dir.path().join("data.bin"), b"bytes").unwrap();
    let run = f.run(&f.pipeline("copy.toml", COPY_DATA), false);
    assert_eq!(run.status, "completed", "{run:#?}");
    let stage = run.stages[0].clone();
    (f, run, stage)
}

/// `run` with one succeeded stage of `module` per entry of `outputs`, each
/// writing its `port` (sample `s<i>`).
fn with_outputs(
    f: &Fixture,
    run: &RunRecord,
    template: &RunStage,
    sections: &[(&str, &str, Vec<Bytes>)],
) -> RunRecord {
    let mut run = run.clone();
    run.stages.clear();
    for (module, port, outputs) in sections {
        for (i, bytes) in outputs.iter().enumerate() {
            let (sha256, size) = match bytes {
                Bytes::Stored(b) => (f.petri.blobs().put(b).unwrap(), b.len() as u64),
                Bytes::Lost(name) => (Digest::of(name.as_bytes()), 1),
            };
            let mut stage = template.clone();
            stage.sample = format!("s{i}");
            stage.stage = (*module).to_owned();
            stage.name = (*module).to_owned();
            stage.status = StageStatus::Succeeded;
            stage.outputs = vec![PortData {
                port: (*port).to_owned(),
                sha256,
                size,
            }];
            run.stages.push(stage);
        }
    }
    run
}

fn html(f: &Fixture, run: &RunRecord) -> String {
    report(
        run,
        f.petri.blobs(),
        f.petri.records(),
        &ReportOptions::default(),
    )
    .unwrap()
}

fn text(s: &str) -> Bytes {
    Bytes::Stored(s.as_bytes().to_vec())
}

/// A paired SAM record (flags 99: paired, proper, first) with template length `tlen`.
fn sam(tlen: u32) -> String {
    format!("r{tlen}\t99\tchr\t1\t60\t4M\t=\t5\t{tlen}\tACGT\tIIII\n")
}

#[test]
fn each_genomics_section_notes_what_it_cannot_show() {
    let (f, run, stage) = template();
    let quality =
        r#"{"before":{"per_position_quality":[30,31]},"after":{"per_position_quality":[32,33]}}"#;
    let vcf_line = "chr\t10\t.\tA\tG\t50\tPASS\tDP=9\n";
    let sections = [
        (
            "fastq-qc",
            "summary",
            vec![
                text(quality),
                text(r#"{"before":{},"after":{}}"#),
                text("not json"),
                Bytes::Lost("summary"),
                text(r#"{"fifth":1}"#),
            ],
        ),
        (
            "coverage",
            "depth",
            vec![
                text("contig\tpos\tdepth\n"),
                text("contig\tpos\tdepth\nchr\tone\n"),
                text("contig\tpos\tdepth\nchr\t1\t5\n"),
            ],
        ),
        (
            "call-variants",
            "variants",
            vec![
                text(&format!("##fileformat=VCFv4.2\n{}", vcf_line.repeat(201))),
                Bytes::Lost("vcf"),
                text(vcf_line),
                text(&format!("{vcf_line}{vcf_line}")),
                text("#CHROM\n"),
            ],
        ),
        (
            "align",
            "alignments",
            vec![
                Bytes::Lost("sam"),
                text("@HD\tVN:1.6\nr\t0\tchr\t1\t60\t4M\t*\t0\t0\tACGT\tIIII\n"),
                text(&(sam(300) + &sam(320))),
            ],
        ),
    ];
    let page = html(&f, &with_outputs(&f, &run, &stage, &sections));
    for note in [
        // Quality: four of five plotted or noted; a summary without curves; a lost one.
        "4 of 5 distinct QC summaries.",
        "s1/fastq-qc: the summary holds no per-position quality.",
        "s2/fastq-qc: summary not readable: ",
        "s3/fastq-qc: summary not readable: ",
        // Coverage: two of three; an empty table; a malformed one named by line.
        "2 of 3 distinct depth tables.",
        "s0/coverage: the depth table is empty.",
        "s1/coverage: depth table not readable: line 2: expected contig, position, depth",
        // Variants: a long VCF is cut at 200 rows; a lost one is noted.
        "4 of 5 distinct VCF files.",
        ": the first 200 of 201 records.",
        "s1/call-variants: VCF not readable: ",
        // Inserts: a lost SAM is noted and single-end reads give no plot.
        "2 of 3 distinct alignments.",
        "s0/align: SAM not readable: ",
    ] {
        assert!(page.contains(note), "no note `{note}`:\n{page}");
    }
    assert!(page.contains("<svg id=\"quality-0\""), "{page}");
    assert!(!page.contains("s1/align (SAM"), "single-end: no histogram");

    // Only single-end alignments: no insert-size section at all.
    let single = [(
        "align",
        "alignments",
        vec![text("r\t0\tchr\t1\t60\t4M\t*\t0\t0\tACGT\tIIII\n")],
    )];
    let page = html(&f, &with_outputs(&f, &run, &stage, &single));
    assert!(!page.contains("Insert-size distribution"), "{page}");
}

#[test]
fn a_sheet_run_with_an_unreadable_record_and_no_start_time_still_reports() {
    let f = Fixture::new();
    for s in ["a", "b"] {
        std::fs::write(f.dir.path().join(format!("{s}.bin")), s).unwrap();
    }
    let sheet = f.dir.path().join("samples.tsv");
    std::fs::write(&sheet, "sample\tdata\na\ta.bin\nb\tb.bin\n").unwrap();
    let pipeline = f.pipeline(
        "per-sample.toml",
        &COPY_DATA.replace("path = \"data.bin\"", ""),
    );
    let mut run = f.run_sheet(&pipeline, Some(&sheet), false);
    assert_eq!(run.status, "completed", "{run:#?}");
    let page = html(&f, &run);
    assert!(page.contains("<dt>Sample sheet</dt>"), "{page}");
    assert!(page.contains("<svg id=\"timeline-gantt\""), "{page}");

    // 41 instruments, one bar each (lanes are capped at 40), and a preemption on one of them.
    let mut busy = run.clone();
    let template = busy.stages[0].clone();
    busy.stages = (0..41)
        .map(|i| {
            let mut s = template.clone();
            s.sample = format!("s{i}");
            s.instrument = Some(format!("seq-{i}"));
            s
        })
        .collect();
    busy.stages[3].preemptions = vec![petri_host::pipeline::Preemption {
        instrument: "seq-3".into(),
        reason: "maintenance".into(),
        at: busy.started_at.clone(),
    }];
    let page = html(&f, &busy);
    assert!(page.contains("Showing 40 of 41 lanes."), "{page}");
    assert!(page.contains("on 41 lane(s)"), "{page}");
    assert!(page.contains("1 preemption(s)"), "{page}");

    // The first stage's record lost, and a start time that does not parse.
    run.stages[0].record_id = Some("0000-lost".into());
    run.stages[0].record_sha256 = None;
    run.started_at = "not a time".into();
    let page = html(&f, &run);
    assert!(page.contains("(record unreadable: "), "{page}");
    assert!(
        !page.contains("<svg id=\"timeline-gantt\""),
        "no origin, no bars: {page}"
    );
}

/// Two copies in a chain, swept over a param neither uses: every combination copies the same bytes.
const IDLE_SWEEP: &str = r#"
[inputs.data]

[stages.first]
module = "TESTKIT"
params = { mode = "copy" }
inputs = { data = "inputs.data" }

[stages.second]
module = "TESTKIT"
params = { mode = "copy" }
inputs = { data = "first.out" }

[sweep.axes]
"#;

fn options(metrics: &[&str]) -> ReportOptions {
    ReportOptions {
        metrics: metrics.iter().map(|m| (*m).to_owned()).collect(),
        ..ReportOptions::default()
    }
}

#[test]
fn the_sweep_section_caps_what_it_plots_and_says_so() {
    let f = Fixture::new();
    let samples = ["a", "b", "c", "d", "e"];
    for s in samples {
        std::fs::write(f.dir.path().join(format!("{s}.bin")), s).unwrap();
    }
    let one = f.dir.path().join("one.tsv");
    std::fs::write(&one, "sample\tdata\na\ta.bin\n").unwrap();
    let five = f.dir.path().join("five.tsv");
    let rows: String = samples.iter().map(|s| format!("{s}\t{s}.bin\n")).collect();
    std::fs::write(&five, format!("sample\tdata\n{rows}")).unwrap();
    let run = |name: &str, axes: &str, sheet: &Path| {
        let path = f.pipeline(name, &format!("{IDLE_SWEEP}{axes}"));
        let run = f.run_sheet(&path, Some(sheet), false);
        assert_eq!(run.status, "completed", "{run:#?}");
        run
    };
    let page_of = |run: &RunRecord, o: &ReportOptions| {
        report(run, f.petri.blobs(), f.petri.records(), o).unwrap()
    };

    // 25 × 25 combinations: one sample, a metric that never differs.
    let range = "{ range = [1, 25], step = 1 }";
    let grid = run(
        "grid.toml",
        &format!("\"first.record\" = {range}\n\"second.record\" = {range}\n"),
        &one,
    );
    assert_eq!(grid.combinations.len(), 625);
    let page = page_of(&grid, &ReportOptions::default());
    assert!(
        page.contains("Nothing to plot: no axis varies, or no numeric metric differs"),
        "{page}"
    );
    // Chosen metrics are plotted whatever they hold: the first six of seven, one never reported.
    let chosen = [
        "second.bytes",
        "second.none",
        "a.m",
        "b.m",
        "c.m",
        "d.m",
        "e.m",
    ];
    let page = page_of(&grid, &options(&chosen));
    for note in [
        "Plotting the first 6 of 7 metrics (choose with --metric).",
        "Showing 10 of 25 lines.",
        "Column labels omitted (25 columns).",
        "No combination reports second.none.",
    ] {
        assert!(page.contains(note), "no note `{note}`:\n{page}");
    }

    // Five samples: the first four are plotted.
    let five = run("five.toml", "\"second.record\" = [1, 2]\n", &five);
    let page = page_of(&five, &options(&["second.bytes"]));
    assert!(
        page.contains("Plotting the first 4 of 5 samples."),
        "{page}"
    );
}
