//! The genomics stages (align, call-variants, coverage, consensus) on the
//! bundled lambda reads, checked against bwa, samtools and bcftools; and the
//! bad inputs each stage must name.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use petri_host::{Failure, Petri};
use petri_tests::oracle::{bwa_bcftools, calls, compare, normalised_pass, shell, tool};
use petri_tests::{LAMBDA_ALIGN_CALL, LambdaRun, failed, lambda, lambda_example, request, run};

/// The example pipeline (QC → align → coverage, call → consensus), run once
/// for every test here.
fn example() -> &'static LambdaRun {
    static RUN: OnceLock<LambdaRun> = OnceLock::new();
    RUN.get_or_init(|| LambdaRun::new(&lambda_example()))
}

#[test]
fn snv_calls_agree_with_bwa_and_bcftools() {
    let ours = LambdaRun::new(LAMBDA_ALIGN_CALL);
    let vcf = ours.copy_output("call", "variants", "ours.vcf");
    let ours_calls = calls(&normalised_pass(&ours.work, &vcf, "ours.norm.vcf"));
    let (_, theirs) = bwa_bcftools(
        &ours.work,
        &lambda("reads_1.fq.gz"),
        &lambda("reads_2.fq.gz"),
    );
    let theirs_calls = calls(&theirs);
    let (snv, indel) = compare(&ours_calls, &theirs_calls);
    eprintln!("SNVs:   {snv}\nindels: {indel}");
    assert!(
        theirs_calls.len() > 50,
        "the oracle found {}",
        theirs_calls.len()
    );
    assert!(snv.precision() >= 0.98, "SNV {snv}");
    assert!(snv.recall() >= 0.98, "SNV {snv}");
    // Indels have no goal in the issue beyond "aim high"; they are at 1.0 on
    // this data, so a drop below 0.95 is a regression.
    assert!(indel.precision() >= 0.95, "indel {indel}");
    assert!(indel.recall() >= 0.95, "indel {indel}");
}

#[test]
fn alignments_pass_samtools_checks() {
    let l = example();
    let sam = l.copy_output("align", "alignments", "ours.sam");
    tool(
        &l.work,
        "samtools",
        &["view", "-b", "-o", "ours.bam", sam.to_str().unwrap()],
    );
    tool(&l.work, "samtools", &["quickcheck", "-v", "ours.bam"]);
    let flagstat = String::from_utf8(tool(&l.work, "samtools", &["flagstat", "ours.bam"])).unwrap();
    // Lines are `<n> + <m> <label> (…)`: label → n.
    let count = |label: &str| -> u64 {
        flagstat
            .lines()
            .find_map(|l| {
                let mut words = l.splitn(4, ' ');
                let n = words.next()?;
                let rest = words.nth(2)?;
                let name = rest.split(" (").next()?;
                (name == label).then(|| n.parse().unwrap())
            })
            .unwrap_or_else(|| panic!("no `{label}` in {flagstat}"))
    };
    let primary = count("primary");
    let mapped = count("primary mapped");
    let paired = count("properly paired");
    assert!(primary > 10_000, "{flagstat}");
    assert!(mapped as f64 >= 0.95 * primary as f64, "{flagstat}");
    assert!(paired as f64 >= 0.90 * primary as f64, "{flagstat}");
    // samtools reads every record back.
    let n: u64 = String::from_utf8(tool(&l.work, "samtools", &["view", "-c", "ours.bam"]))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(n, count("in total"));
}

#[test]
fn variants_pass_bcftools_checks() {
    let l = example();
    let vcf = l.copy_output("call", "variants", "ours.vcf");
    let records = std::fs::read_to_string(&vcf)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .count();
    let viewed = tool(&l.work, "bcftools", &["view", "-H", vcf.to_str().unwrap()]);
    assert_eq!(
        viewed
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .count(),
        records
    );
    let stats =
        String::from_utf8(tool(&l.work, "bcftools", &["stats", vcf.to_str().unwrap()])).unwrap();
    let stat = |key: &str| -> u64 {
        let line = stats
            .lines()
            .find(|l| l.starts_with("SN\t") && l.contains(key))
            .unwrap_or_else(|| panic!("no `{key}` in bcftools stats"));
        line.rsplit('\t').next().unwrap().parse().unwrap()
    };
    assert_eq!(stat("number of records:") as usize, records);
    assert!(stat("number of SNPs:") > 20);
    assert!(stat("number of indels:") > 20);
}

#[test]
fn coverage_equals_samtools_depth() {
    let l = example();
    let sam = l.copy_output("align", "alignments", "cov.sam");
    tool(
        &l.work,
        "samtools",
        &["view", "-b", "-o", "cov.bam", sam.to_str().unwrap()],
    );
    let theirs =
        String::from_utf8(tool(&l.work, "samtools", &["depth", "-a", "-J", "cov.bam"])).unwrap();
    let depth = l.copy_output("coverage", "depth", "depth.tsv");
    let ours = std::fs::read_to_string(depth).unwrap();
    let mut ours = ours.lines();
    assert_eq!(ours.next(), Some("contig\tposition\tdepth"));
    let ours: Vec<&str> = ours.collect();
    let theirs: Vec<&str> = theirs.lines().collect();
    assert_eq!(ours.len(), 48_502);
    assert_eq!(ours, theirs);
}

#[test]
fn consensus_equals_bcftools_consensus_with_the_same_mask() {
    let l = example();
    let vcf = l.copy_output("call", "variants", "cons.vcf");
    let depth =
        std::fs::read_to_string(l.copy_output("coverage", "depth", "cons.depth.tsv")).unwrap();
    // Positions below the pipeline's min-depth (5), as a BED mask.
    let mut bed = String::new();
    for line in depth.lines().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        let (pos, d): (u64, u64) = (f[1].parse().unwrap(), f[2].parse().unwrap());
        if d < 5 {
            bed.push_str(&format!("{}\t{}\t{}\n", f[0], pos - 1, pos));
        }
    }
    std::fs::write(l.work.join("mask.bed"), bed).unwrap();
    shell(
        &l.work,
        &format!(
            "bcftools view -f PASS,. -Oz -o pass.vcf.gz {} && bcftools index pass.vcf.gz \
             && bcftools consensus -f ref.fa -m mask.bed pass.vcf.gz > theirs.fa 2>/dev/null",
            vcf.display()
        ),
    );
    let seq = |path: &Path| -> String {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with('>'))
            .collect()
    };
    let ours = seq(&l.copy_output("consensus", "consensus", "ours.fa"));
    let theirs = seq(&l.work.join("theirs.fa"));
    assert!(ours.len() > 48_000, "{}", ours.len());
    assert_eq!(ours, theirs);
}

/// Runs one stage on files; returns its failure.
fn fails(petri: &Petri, wasm: &str, inputs: &[(&str, PathBuf)]) -> Failure {
    let stage = petri.load_file(wasm.as_ref()).unwrap();
    failed(&run(petri, &stage, request(&[], inputs))).clone()
}

fn stage_error(f: &Failure) -> (&str, Option<&str>, Option<u64>) {
    match f {
        Failure::Stage { error } => (error.kind.as_str(), error.port.as_deref(), error.record),
        other => panic!("not a stage error: {other}"),
    }
}

#[test]
fn bad_inputs_are_named_by_record() {
    let (petri, dir) = petri_tests::host();
    let file = |name: &str, text: &str| -> PathBuf {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let reads = file("r.fq", "@r1\nACGTACGTAC\n+\nIIIIIIIIII\n");

    // A reference with a duplicate contig: record 3.
    let dup = file("dup.fa", ">a\nACGTACGT\n>b\nACGT\n>a\nGGGG\n");
    let f = fails(
        &petri,
        petri_plugins::ALIGN,
        &[("reference", dup), ("reads", reads.clone())],
    );
    assert_eq!(
        stage_error(&f),
        ("invalid-reference", Some("reference"), Some(3))
    );

    // An empty contig: record 2.
    let empty = file("empty.fa", ">a\nACGTACGT\n>b\n>c\nACGT\n");
    let f = fails(
        &petri,
        petri_plugins::ALIGN,
        &[("reference", empty), ("reads", reads.clone())],
    );
    assert_eq!(
        stage_error(&f),
        ("invalid-reference", Some("reference"), Some(2))
    );

    // A read longer than the aligner allows: record 2.
    let refa = file("ref.fa", &format!(">a\n{}\n", "ACGTTGCA".repeat(100)));
    let long = file(
        "long.fq",
        &format!(
            "@r1\nACGT\n+\nIIII\n@r2\n{}\n+\n{}\n",
            "A".repeat(20_000),
            "I".repeat(20_000)
        ),
    );
    let f = fails(
        &petri,
        petri_plugins::ALIGN,
        &[("reference", refa.clone()), ("reads", long)],
    );
    assert_eq!(stage_error(&f), ("read-too-long", Some("reads"), Some(2)));

    // A SAM whose @SQ does not match the reference.
    let header = "@HD\tVN:1.6\tSO:coordinate\n";
    let other = file("other.sam", &format!("{header}@SQ\tSN:b\tLN:800\n"));
    let f = fails(
        &petri,
        petri_plugins::CALL_VARIANTS,
        &[("reference", refa.clone()), ("alignments", other)],
    );
    assert_eq!(stage_error(&f).0, "reference-mismatch");

    // Unsorted records where sorted input is required: record 2.
    let rec = |name: &str, pos: u32| format!("{name}\t0\ta\t{pos}\t60\t4M\t*\t0\t0\tACGT\tIIII\n");
    let unsorted = file(
        "unsorted.sam",
        &format!(
            "{header}@SQ\tSN:a\tLN:800\n{}{}",
            rec("r1", 100),
            rec("r2", 50)
        ),
    );
    let f = fails(
        &petri,
        petri_plugins::CALL_VARIANTS,
        &[("reference", refa.clone()), ("alignments", unsorted)],
    );
    assert_eq!(
        stage_error(&f),
        ("unsorted-input", Some("alignments"), Some(2))
    );
}
