//! Unit tests of the consensus stage on small synthetic inputs, and an ignored
//! oracle comparison with `bcftools consensus` on the lambda calls.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Cursor, Read};

use crate::{ConsensusError, ConsensusParams, ConsensusSummary, Heterozygous, consensus};

//                  1234567890123456789012345
const REF: &str = ">chr1 desc\nACGTACGTACGTACGTACGTACGTA\n>chr2\nGGGGCCCCAAAATTTT\n";

const VCF_HEADER: &str = "##fileformat=VCFv4.2\n##contig=<ID=chr1>\n##contig=<ID=chr2>\n\
##FORMAT=<ID=GT,Number=1,Type=String,Description=\"Genotype\">\n\
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\ts1\n";

fn line(chrom: &str, pos: u32, r: &str, alt: &str, filter: &str, gt: &str) -> String {
    format!("{chrom}\t{pos}\t.\t{r}\t{alt}\t50\t{filter}\t.\tGT\t{gt}\n")
}

fn run_full(
    params: &ConsensusParams,
    reference: &str,
    vcf: &str,
    depth: Option<&str>,
) -> Result<(String, ConsensusSummary), ConsensusError> {
    let depth = depth.map(|d| Box::new(Cursor::new(d.as_bytes().to_vec())) as Box<dyn Read>);
    let mut out = Vec::new();
    let s = consensus(
        params,
        Cursor::new(reference.as_bytes().to_vec()),
        Cursor::new(vcf.as_bytes().to_vec()),
        depth,
        &mut out,
    )?;
    Ok((String::from_utf8(out).unwrap(), s))
}

fn run(records: &[String]) -> (String, ConsensusSummary) {
    run_with(&ConsensusParams::default(), records)
}

fn run_with(params: &ConsensusParams, records: &[String]) -> (String, ConsensusSummary) {
    run_full(
        params,
        REF,
        &format!("{VCF_HEADER}{}", records.concat()),
        None,
    )
    .unwrap()
}

/// The sequence of record `i` of a FASTA.
fn seq(fasta: &str, i: usize) -> String {
    fasta
        .split('>')
        .nth(i + 1)
        .unwrap()
        .lines()
        .skip(1)
        .collect()
}

#[test]
fn no_variants_gives_the_reference() {
    let (fa, s) = run(&[]);
    assert_eq!(
        fa,
        ">chr1\nACGTACGTACGTACGTACGTACGTA\n>chr2\nGGGGCCCCAAAATTTT\n"
    );
    assert_eq!(s.calls.records, 0);
}

#[test]
fn snv_mnp_insertion_deletion() {
    let (fa, s) = run(&[
        line("chr1", 1, "A", "T", "PASS", "1"),
        line("chr1", 3, "GT", "CA", ".", "1"),
        line("chr1", 6, "C", "CTTT", "PASS", "1/1"),
        line("chr1", 10, "CGTA", "C", "PASS", "1"),
        line("chr2", 16, "T", "G", "PASS", "1"),
    ]);
    assert_eq!(seq(&fa, 0), "TCCAACTTTGTACCGTACGTACGTA");
    assert_eq!(seq(&fa, 1), "GGGGCCCCAAAATTTG");
    let c = &s.calls;
    assert_eq!(
        (
            c.applied,
            c.applied_snvs,
            c.applied_mnps,
            c.applied_insertions,
            c.applied_deletions
        ),
        (5, 2, 1, 1, 1)
    );
    assert_eq!(s.contigs[0].consensus_length, 25 + 3 - 3);
}

#[test]
fn filters_and_genotypes() {
    let (fa, s) = run(&[
        line("chr1", 1, "A", "T", "LowQual", "1"),
        line("chr1", 2, "C", "T", "PASS", "0"),
        line("chr1", 3, "G", "T", "PASS", "0/0"),
        line("chr1", 4, "T", "A", "PASS", "./."),
        line("chr1", 5, "A", "G", "PASS", "0/1"),
        line("chr1", 6, "C", "A,G", "PASS", "2"),
        line("chr1", 7, "G", "A,C", "PASS", "2/2"),
        line("chr1", 8, "T", ".", "PASS", "0"),
    ]);
    assert_eq!(&seq(&fa, 0)[..8], "ACGTAGCT");
    let c = &s.calls;
    assert_eq!(
        (
            c.skipped_filter,
            c.skipped_genotype,
            c.skipped_heterozygous,
            c.applied
        ),
        (1, 4, 1, 2)
    );
}

#[test]
fn heterozygous_modes() {
    let calls = [
        line("chr1", 1, "A", "G", "PASS", "0/1"),
        line("chr1", 2, "C", "T,G", "PASS", "1/2"),
        line("chr1", 5, "A", "ATT", "PASS", "0/1"),
    ];
    let p = ConsensusParams {
        heterozygous: Heterozygous::Iupac,
        ..Default::default()
    };
    let (fa, s) = run_with(&p, &calls);
    assert_eq!(&seq(&fa, 0)[..8], "RKGTACGT");
    assert_eq!(
        (s.calls.applied_iupac, s.calls.skipped_heterozygous),
        (2, 1)
    );
    let p = ConsensusParams {
        heterozygous: Heterozygous::Alt,
        ..Default::default()
    };
    let (fa, _) = run_with(&p, &calls);
    assert_eq!(&seq(&fa, 0)[..10], "GTGTATTCGT");
}

#[test]
fn overlapping_variants_first_wins() {
    let (fa, s) = run(&[
        line("chr1", 2, "CGTA", "C", "PASS", "1"), // deletes 3..5
        line("chr1", 3, "G", "T", "PASS", "1"),    // inside: skipped
        line("chr1", 5, "A", "ATT", "PASS", "1"), // anchored on the last deleted base: bcftools applies it
        line("chr1", 5, "A", "AGG", "PASS", "1"), // after an insertion at the same base: skipped
        line("chr1", 9, "A", "C", "PASS", "1"),
        line("chr1", 9, "A", "G", "PASS", "1"), // same position: skipped
        line("chr1", 12, "T", "G", "PASS", "1"),
        line("chr1", 12, "TACG", "T", "PASS", "1"), // anchored on the SNV: applied
    ]);
    // Exactly what bcftools consensus 1.16 writes for these records.
    assert_eq!(seq(&fa, 0), "ACTTCGTCCGGTACGTACGTA");
    assert_eq!((s.calls.applied, s.calls.skipped_overlap), (5, 3));
}

#[test]
fn masking_in_reference_coordinates() {
    let mut depth = String::from("contig\tposition\tdepth\n");
    for p in 1..=25 {
        let d = if (4..=6).contains(&p) { 3 } else { 20 };
        depth += &format!("chr1\t{p}\t{d}\n");
    }
    // chr2 not listed at all: fully masked.
    let vcf = format!(
        "{VCF_HEADER}{}{}{}{}",
        line("chr1", 2, "CG", "C", "PASS", "1"), // deletion before the mask: applied
        line("chr1", 6, "C", "T", "PASS", "1"),  // masked position: not applied
        line("chr1", 7, "GTA", "G", "PASS", "1"), // after the mask: applied
        line("chr1", 3, "G", "A", "PASS", "1").replace("chr1\t3", "chr2\t3"), // masked contig
    );
    let (fa, s) = run_full(&ConsensusParams::default(), REF, &vcf, Some(&depth)).unwrap();
    assert_eq!(seq(&fa, 0), "ACNNNGCGTACGTACGTACGTA");
    assert_eq!(seq(&fa, 1), "N".repeat(16));
    assert_eq!(
        (s.calls.applied, s.calls.skipped_masked, s.masked_positions),
        (2, 2, 3 + 16)
    );
    // A variant whose REF span only touches the mask is not applied either.
    let vcf = format!("{VCF_HEADER}{}", line("chr1", 3, "GT", "G", "PASS", "1"));
    let (fa, _) = run_full(&ConsensusParams::default(), REF, &vcf, Some(&depth)).unwrap();
    assert_eq!(&seq(&fa, 0)[..7], "ACGNNNG");
    // min-depth 0 masks nothing.
    let p = ConsensusParams {
        min_depth: 0,
        ..Default::default()
    };
    let (fa, _) = run_full(&p, REF, VCF_HEADER, Some(&depth)).unwrap();
    assert_eq!(seq(&fa, 1), "GGGGCCCCAAAATTTT");
}

#[test]
fn names_and_line_length() {
    let long = format!(">x\n{}\n", "A".repeat(130));
    let p = ConsensusParams {
        name_template: "{sample}_{contig}".into(),
        ..Default::default()
    };
    let (fa, _) = run_full(&p, &long, &VCF_HEADER.replace("chr1", "x"), None).unwrap();
    let lines: Vec<_> = fa.lines().collect();
    assert_eq!(lines[0], ">s1_x");
    assert_eq!(
        lines.iter().skip(1).map(|l| l.len()).collect::<Vec<_>>(),
        [60, 60, 10]
    );
    // No sample column: every ALT applies, {sample} is an error.
    let sites = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\nx\t1\t.\tA\tC\t.\t.\t.\n";
    let (fa, _) = run_full(&ConsensusParams::default(), &long, sites, None).unwrap();
    assert!(fa.starts_with(">x\nCA"));
    let e = run_full(&p, &long, sites, None).unwrap_err();
    assert!(
        matches!(e, ConsensusError::MalformedVcf { record: 0, .. }),
        "{e}"
    );
}

#[test]
fn symbolic_and_unchanged_alleles() {
    let (fa, s) = run(&[
        line("chr1", 1, "A", "<DEL>", "PASS", "1"),
        line("chr1", 2, "C", "*", "PASS", "1"),
        line("chr1", 3, "G", "g", "PASS", "1"),
    ]);
    assert_eq!(&seq(&fa, 0)[..3], "ACG");
    assert_eq!(
        (s.calls.skipped_unsupported, s.calls.skipped_no_change),
        (2, 1)
    );
}

fn stage_error(vcf: &str, depth: Option<&str>) -> petri_sdk::StageError {
    run_full(&ConsensusParams::default(), REF, vcf, depth)
        .unwrap_err()
        .into()
}

#[test]
fn bad_input_errors() {
    let e = stage_error(
        &format!("{VCF_HEADER}{}", line("chr1", 2, "G", "T", "PASS", "1")),
        None,
    );
    assert_eq!(
        (e.kind.as_str(), e.port.as_deref(), e.record),
        ("reference-mismatch", Some("variants"), Some(1))
    );
    assert!(e.message.contains("chr1:2"), "{}", e.message);
    let e = stage_error(
        &format!("{VCF_HEADER}{}", line("chrZ", 2, "G", "T", "PASS", "1")),
        None,
    );
    assert_eq!((e.kind.as_str(), e.record), ("reference-mismatch", Some(1)));
    let e = stage_error(
        &format!("{VCF_HEADER}{}", line("chr2", 16, "TA", "T", "PASS", "1")),
        None,
    );
    assert_eq!(e.kind, "reference-mismatch");
    let e = stage_error(
        &format!(
            "{VCF_HEADER}{}{}",
            line("chr1", 5, "A", "T", "PASS", "1"),
            line("chr1", 1, "A", "T", "PASS", "1")
        ),
        None,
    );
    assert_eq!((e.kind.as_str(), e.record), ("unsorted-input", Some(2)));
    let e = stage_error(
        &format!(
            "{VCF_HEADER}{}{}{}",
            line("chr1", 5, "A", "T", "PASS", "1"),
            line("chr2", 1, "G", "T", "PASS", "1"),
            line("chr1", 9, "A", "T", "PASS", "1")
        ),
        None,
    );
    assert_eq!((e.kind.as_str(), e.record), ("unsorted-input", Some(3)));
    for bad in [
        line("chr1", 1, "A", "T", "PASS", "x"),
        line("chr1", 1, "A", "T", "PASS", "2"),
        line("chr1", 1, "A", "T!", "PASS", "1"),
        line("chr1", 1, "A-", "T", "PASS", "1"),
        "chr1\tzz\t.\tA\tT\t.\t.\t.\tGT\t1\n".into(),
        "chr1\t1\n".into(),
    ] {
        let e = stage_error(
            &format!(
                "{VCF_HEADER}{}{bad}",
                line("chr1", 1, "A", "A", "PASS", "0")
            ),
            None,
        );
        assert_eq!(
            (e.kind.as_str(), e.record),
            ("malformed-vcf", Some(2)),
            "{bad}: {}",
            e.message
        );
    }
    let e = stage_error("not a vcf\n", None);
    assert_eq!((e.kind.as_str(), e.record), ("malformed-vcf", Some(0)));
    for (depth, n) in [
        ("contig\tposition\tdepth\nchr1\t1\t5\nchrZ\t1\t5\n", 3),
        ("chr1\t26\t5\n", 1),
        ("chr1\t0\t5\n", 1),
        ("chr1\t1\t-5\n", 1),
        ("chr1\t1\n", 1),
        ("# comment\nchr1\t1\t5\textra\n", 2),
    ] {
        let e = stage_error(VCF_HEADER, Some(depth));
        assert_eq!(
            (e.kind.as_str(), e.port.as_deref(), e.record),
            ("malformed-depth", Some("depth"), Some(n)),
            "{depth}: {}",
            e.message
        );
    }
    let e: petri_sdk::StageError =
        run_full(&ConsensusParams::default(), ">a\nAXC\n", VCF_HEADER, None)
            .unwrap_err()
            .into();
    assert_eq!(
        (e.kind.as_str(), e.port.as_deref()),
        ("invalid-reference", Some("reference"))
    );
    let p = ConsensusParams {
        max_reference_bases: 10,
        ..Default::default()
    };
    let e: petri_sdk::StageError = run_full(&p, REF, VCF_HEADER, None).unwrap_err().into();
    assert_eq!(e.kind, "limit-exceeded");
    let p = ConsensusParams {
        max_input_bytes: 30,
        ..Default::default()
    };
    let e: petri_sdk::StageError = run_full(&p, ">a\nA\n", VCF_HEADER, None)
        .unwrap_err()
        .into();
    assert_eq!(
        (e.kind.as_str(), e.port.as_deref()),
        ("limit-exceeded", Some("variants"))
    );
}

/// Oracle: `bcftools consensus` on /tmp/oracle/calls.vcf (PASS or `.`), without
/// and with a mask of low-depth positions; run with
/// `cargo test --release -p petri-plugin-consensus -- --ignored --nocapture oracle`.
#[test]
#[ignore = "needs bcftools, samtools and /tmp/oracle"]
fn oracle_bcftools_consensus() {
    use std::process::Command;
    let dir = "/tmp/petri-plugin-consensus";
    std::fs::create_dir_all(dir).unwrap();
    let sh = |cmd: &str| {
        let out = Command::new("sh").arg("-c").arg(cmd).output().unwrap();
        assert!(
            out.status.success(),
            "{cmd}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    sh(&format!(
        "bcftools view -f PASS,. /tmp/oracle/calls.vcf -Oz -o {dir}/calls.pass.vcf.gz && bcftools index -f {dir}/calls.pass.vcf.gz"
    ));
    // Our coverage stage's depth (written by its oracle test), else samtools' (identical).
    let depth_path = "/tmp/petri-plugin-coverage/depth.tsv";
    let depth = std::fs::read_to_string(depth_path).unwrap_or_else(|_| {
        String::from_utf8(sh("samtools depth -a -J /tmp/oracle/bwa.bam")).unwrap()
    });
    let sequence = |fa: &[u8]| -> Vec<u8> {
        fa.split(|&b| b == b'\n')
            .filter(|l| !l.starts_with(b">"))
            .flatten()
            .copied()
            .collect()
    };
    for min_depth in [None, Some(10), Some(30), Some(45)] {
        let mut cmd = format!("bcftools consensus -f /tmp/oracle/ref.fa {dir}/calls.pass.vcf.gz");
        if let Some(m) = min_depth {
            let bed: String = depth
                .lines()
                .filter_map(|l| {
                    let f: Vec<&str> = l.split('\t').collect();
                    let (p, d) = (
                        f.get(1)?.parse::<u64>().ok()?,
                        f.get(2)?.parse::<i64>().ok()?,
                    );
                    (d < m).then(|| format!("{}\t{}\t{}\n", f[0], p - 1, p))
                })
                .collect();
            std::fs::write(format!("{dir}/mask{m}.bed"), bed).unwrap();
            cmd += &format!(" -m {dir}/mask{m}.bed");
        }
        let expected = sequence(&sh(&format!("{cmd} 2>/dev/null")));
        let params = ConsensusParams {
            min_depth: min_depth.unwrap_or(0),
            ..Default::default()
        };
        let reference = std::fs::read("/tmp/oracle/ref.fa").unwrap();
        let vcf = std::fs::read("/tmp/oracle/calls.vcf").unwrap();
        let depth_input =
            min_depth.map(|_| Box::new(Cursor::new(depth.clone().into_bytes())) as Box<dyn Read>);
        let start = std::time::Instant::now();
        let mut out = Vec::new();
        let s = consensus(
            &params,
            Cursor::new(reference),
            Cursor::new(vcf),
            depth_input,
            &mut out,
        )
        .unwrap();
        let elapsed = start.elapsed();
        let ours = sequence(&out);
        println!(
            "min-depth {min_depth:?}: bcftools {} bases, ours {} bases, identical: {}; applied {}, skipped masked {}, overlap {}, masked positions {}; native {elapsed:?}",
            expected.len(),
            ours.len(),
            ours == expected,
            s.calls.applied,
            s.calls.skipped_masked,
            s.calls.skipped_overlap,
            s.masked_positions
        );
        assert_eq!(ours, expected);
    }
}
