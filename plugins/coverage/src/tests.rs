//! Unit tests of the coverage stage on small synthetic SAM, and an ignored
//! oracle comparison with `samtools depth -a -J` on /tmp/oracle/bwa.bam.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Cursor;

use petri_sdk::genomics::InputError;

use crate::{CoverageError, CoverageParams, CoverageSummary, coverage};

const HEADER: &str = "@HD\tVN:1.6\n@SQ\tSN:c1\tLN:10\n@SQ\tSN:c2\tLN:4\n";

fn run_with(
    params: &CoverageParams,
    sam: &str,
) -> Result<(String, CoverageSummary, String), CoverageError> {
    let mut depth = Vec::new();
    let mut summary = Vec::new();
    let s = coverage(
        params,
        Cursor::new(sam.as_bytes().to_vec()),
        &mut depth,
        &mut summary,
        |_| {},
    )?;
    Ok((
        String::from_utf8(depth).unwrap(),
        s,
        String::from_utf8(summary).unwrap(),
    ))
}

fn run(sam: &str) -> Result<(String, CoverageSummary, String), CoverageError> {
    run_with(&CoverageParams::default(), sam)
}

/// The depth column of contig `c`.
fn depths(tsv: &str, c: &str) -> Vec<u32> {
    tsv.lines()
        .skip(1)
        .filter(|l| l.split('\t').next() == Some(c))
        .map(|l| l.split('\t').nth(2).unwrap().parse().unwrap())
        .collect()
}

fn rec(flag: u16, rname: &str, pos: u32, mapq: u8, cigar: &str, seq: &str, qual: &str) -> String {
    format!("r\t{flag}\t{rname}\t{pos}\t{mapq}\t{cigar}\t*\t0\t0\t{seq}\t{qual}\n")
}

#[test]
fn every_position_of_every_contig_with_zeros() {
    let sam = format!("{HEADER}{}", rec(0, "c1", 3, 60, "4M", "ACGT", "IIII"));
    let (tsv, s, _) = run(&sam).unwrap();
    assert!(tsv.starts_with("contig\tposition\tdepth\nc1\t1\t0\n"));
    assert_eq!(tsv.lines().count(), 1 + 10 + 4);
    assert_eq!(depths(&tsv, "c1"), [0, 0, 1, 1, 1, 1, 0, 0, 0, 0]);
    assert_eq!(depths(&tsv, "c2"), [0, 0, 0, 0]);
    assert_eq!(s.records.counted, 1);
    assert!(tsv.contains("c2\t4\t0\n"));
}

#[test]
fn cigar_operations() {
    // 2S 2M 1I 2M 2D 1M 1N 1M 1H: soft clips and insertions consume no
    // reference, deletions count (-J), skips do not.
    let sam = format!(
        "{HEADER}{}",
        rec(
            0,
            "c1",
            1,
            60,
            "2S2M1I2M2D1M1N1M1H",
            "AAACCGGTT",
            "IIIIIIIII"
        )
    );
    let (tsv, _, _) = run(&sam).unwrap();
    assert_eq!(depths(&tsv, "c1"), [1, 1, 1, 1, 1, 1, 1, 0, 1, 0]);
    let p = CoverageParams {
        count_deletions: false,
        ..Default::default()
    };
    let (tsv, _, _) = run_with(&p, &sam).unwrap();
    assert_eq!(depths(&tsv, "c1"), [1, 1, 1, 1, 0, 0, 1, 0, 1, 0]);
    // = and X count like M.
    let sam = format!("{HEADER}{}", rec(0, "c2", 1, 60, "2=2X", "ACGT", "*"));
    assert_eq!(depths(&run(&sam).unwrap().0, "c2"), [1, 1, 1, 1]);
}

#[test]
fn filtered_flags_and_mapping_quality() {
    let mut sam = HEADER.to_owned();
    for flag in [4, 256, 512, 1024] {
        sam += &rec(flag, "c2", 1, 60, "4M", "ACGT", "IIII");
    }
    sam += &rec(2048, "c2", 1, 60, "4M", "ACGT", "IIII"); // supplementary counts
    sam += &rec(0, "c2", 1, 5, "4M", "ACGT", "IIII");
    sam += &rec(0, "c2", 1, 255, "2M", "AC", "II"); // MAPQ unknown passes
    sam += &rec(4, "*", 0, 0, "*", "ACGT", "IIII");
    let (tsv, s, _) = run(&sam).unwrap();
    assert_eq!(depths(&tsv, "c2"), [3, 3, 2, 2]);
    let r = s.records;
    assert_eq!(
        (
            r.total,
            r.counted,
            r.unmapped,
            r.secondary,
            r.qc_fail,
            r.duplicate
        ),
        (8, 3, 2, 1, 1, 1)
    );
    let p = CoverageParams {
        min_mapping_quality: 10,
        ..Default::default()
    };
    let (tsv, s, _) = run_with(&p, &sam).unwrap();
    assert_eq!(depths(&tsv, "c2"), [2, 2, 1, 1]);
    assert_eq!(s.records.low_mapping_quality, 1);
}

#[test]
fn base_quality_and_deletion_quality() {
    // Quality '+' = 10, 'I' = 40. The deletion takes the quality of the next base.
    let sam = format!(
        "{HEADER}{}{}",
        rec(0, "c1", 1, 60, "2M2D2M", "ACGT", "I+I+"),
        rec(0, "c1", 1, 60, "2M2D2M", "ACGT", "II+I"),
    );
    let p = CoverageParams {
        min_base_quality: 20,
        ..Default::default()
    };
    let (tsv, _, _) = run_with(&p, &sam).unwrap();
    assert_eq!(depths(&tsv, "c1")[..6], [2, 1, 1, 1, 1, 1]);
    // Without qualities every base counts.
    let sam = format!("{HEADER}{}", rec(0, "c1", 1, 60, "3M", "ACG", "*"));
    assert_eq!(depths(&run_with(&p, &sam).unwrap().0, "c1")[..3], [1, 1, 1]);
}

#[test]
fn unsorted_input_gives_the_same_depth() {
    let a = rec(0, "c1", 5, 60, "3M", "ACG", "III");
    let b = rec(0, "c2", 1, 60, "2M", "AC", "II");
    let c = rec(0, "c1", 1, 60, "6M", "ACGTAC", "IIIIII");
    let sorted = run(&format!("{HEADER}{c}{a}{b}")).unwrap().0;
    let shuffled = run(&format!("{HEADER}{b}{a}{c}")).unwrap().0;
    assert_eq!(sorted, shuffled);
}

#[test]
fn summary_breadth_mean_median() {
    let mut sam = HEADER.to_owned();
    for _ in 0..10 {
        sam += &rec(0, "c1", 1, 60, "5M", "ACGTA", "IIIII");
    }
    let p = CoverageParams {
        thresholds: vec![30, 10, 10, 5],
        ..Default::default()
    };
    let (_, s, json) = run_with(&p, &sam).unwrap();
    let c1 = &s.contigs[0];
    assert_eq!(
        (
            c1.length,
            c1.bases,
            c1.mean_depth,
            c1.median_depth,
            c1.max_depth
        ),
        (10, 50, 5.0, 5.0, 10)
    );
    let b: Vec<_> = c1
        .breadth
        .iter()
        .map(|b| (b.min_depth, b.positions, b.fraction))
        .collect();
    assert_eq!(b, [(1, 5, 0.5), (5, 5, 0.5), (10, 5, 0.5), (30, 0, 0.0)]);
    let t = &s.total;
    assert_eq!((t.length, t.mean_depth, t.median_depth), (14, 3.571, 0.0));
    assert_eq!(t.breadth[0].fraction, 0.357143);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["contigs"][1]["name"], "c2");
    assert_eq!(v["total"]["breadth"][0]["positions"], 5);
    // Odd length median.
    let sam = format!(
        "@SQ\tSN:x\tLN:3\n{}{}",
        rec(0, "x", 1, 60, "2M", "AC", "II"),
        rec(0, "x", 2, 60, "2M", "AC", "II")
    );
    assert_eq!(run(&sam).unwrap().1.total.median_depth, 1.0);
}

fn malformed_at(sam: &str) -> (u64, String) {
    match run(sam).unwrap_err() {
        CoverageError::Malformed { record, message } => (record, message),
        e => panic!("expected malformed, got {e}"),
    }
}

#[test]
fn bad_input_names_the_record() {
    let (r, m) = malformed_at("@HD\tVN:1.6\n");
    assert_eq!(r, 0);
    assert!(m.contains("no @SQ"), "{m}");
    let (r, m) = malformed_at(&format!(
        "{HEADER}{}{}",
        rec(0, "c1", 1, 60, "2M", "AC", "II"),
        rec(0, "chrX", 1, 60, "2M", "AC", "II")
    ));
    assert_eq!(r, 2);
    assert!(m.contains("chrX"), "{m}");
    let (r, m) = malformed_at(&format!(
        "{HEADER}{}",
        rec(0, "c2", 3, 60, "3M", "ACG", "III")
    ));
    assert_eq!(r, 1);
    assert!(m.contains("past the end"), "{m}");
    let (r, _) = malformed_at(&format!(
        "{HEADER}{}",
        rec(0, "c1", 1, 60, "3Q", "ACG", "III")
    ));
    assert_eq!(r, 1);
    let (r, m) = malformed_at(&format!(
        "{HEADER}{}",
        rec(0, "c1", 1, 60, "3M", "ACGT", "IIII")
    ));
    assert_eq!(r, 1);
    assert!(m.contains("CIGAR"), "{m}");
    let (r, m) = malformed_at(&format!(
        "{HEADER}{}",
        rec(0, "c1", 1, 60, "3M", "ACG", "II")
    ));
    assert_eq!(r, 1);
    assert!(m.contains("QUAL"), "{m}");
    let (r, _) = malformed_at(&format!("{HEADER}r\tx\tc1\t1\t60\t1M\t*\t0\t0\tA\tI\n"));
    assert_eq!(r, 1);
    let (r, _) = malformed_at(&format!("{HEADER}r\t0\tc1\n"));
    assert_eq!(r, 1);
    let (r, m) = malformed_at("BAM\x01rest");
    assert_eq!(r, 0);
    assert!(m.contains("BAM"), "{m}");
    let (r, _) = malformed_at("@SQ\tSN:a\n");
    assert_eq!(r, 0);
    // Stage error kinds.
    let se = petri_sdk::StageError::from(
        run(&format!("{HEADER}{}", rec(0, "zz", 1, 60, "1M", "A", "I"))).unwrap_err(),
    );
    assert_eq!(
        (se.kind.as_str(), se.port.as_deref(), se.record),
        ("malformed-sam", Some("alignments"), Some(1))
    );
}

#[test]
fn limits() {
    let p = CoverageParams {
        max_reference_bases: 13,
        ..Default::default()
    };
    let e = run_with(&p, HEADER).unwrap_err();
    assert!(
        matches!(e, CoverageError::Input(InputError::Limit { .. })),
        "{e}"
    );
    assert_eq!(petri_sdk::StageError::from(e).kind, "limit-exceeded");
    let p = CoverageParams {
        max_input_bytes: 20,
        ..Default::default()
    };
    let e = run_with(&p, HEADER).unwrap_err();
    assert_eq!(petri_sdk::StageError::from(e).kind, "limit-exceeded");
}

/// Oracle: `samtools depth -a -J` on /tmp/oracle/bwa.bam, via
/// `cargo test --release -p petri-plugin-coverage -- --ignored --nocapture oracle`.
#[test]
#[ignore = "needs samtools and /tmp/oracle/bwa.bam"]
fn oracle_samtools_depth() {
    use std::process::Command;
    let bam = std::env::var("COVERAGE_ORACLE_BAM").unwrap_or_else(|_| "/tmp/oracle/bwa.bam".into());
    for (args, params) in [
        (vec!["-a", "-J"], CoverageParams::default()),
        (
            vec!["-a"],
            CoverageParams {
                count_deletions: false,
                ..Default::default()
            },
        ),
        (
            vec!["-a", "-J", "-q", "30", "-Q", "20"],
            CoverageParams {
                min_base_quality: 30,
                min_mapping_quality: 20,
                ..Default::default()
            },
        ),
    ] {
        let sam = Command::new("samtools")
            .args(["view", "-h", &bam])
            .output()
            .unwrap()
            .stdout;
        let expected = Command::new("samtools")
            .arg("depth")
            .args(&args)
            .arg(&bam)
            .output()
            .unwrap()
            .stdout;
        let start = std::time::Instant::now();
        let mut depth = Vec::new();
        coverage(&params, Cursor::new(sam), &mut depth, Vec::new(), |_| {}).unwrap();
        let elapsed = start.elapsed();
        let ours: Vec<&[u8]> = depth
            .split(|&b| b == b'\n')
            .skip(1)
            .filter(|l| !l.is_empty())
            .collect();
        let theirs: Vec<&[u8]> = expected
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .collect();
        let differing = ours.iter().zip(&theirs).filter(|(a, b)| a != b).count();
        println!(
            "samtools depth {}: {} positions, ours {}, {differing} differ; native {elapsed:?}",
            args.join(" "),
            theirs.len(),
            ours.len()
        );
        assert_eq!(ours.len(), theirs.len());
        assert_eq!(differing, 0);
        if args == ["-a", "-J"] {
            // For the consensus stage's oracle (masking from our depth).
            let _ = std::fs::create_dir_all("/tmp/petri-plugin-coverage");
            std::fs::write("/tmp/petri-plugin-coverage/depth.tsv", &depth).unwrap();
        }
    }
}
