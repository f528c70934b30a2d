//! External tools as oracles: bwa, samtools and bcftools (Debian packages
//! installed by `.ci/run`), and the comparison of two call sets.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Runs `program args…` in `dir`; returns stdout, panics with stderr on failure.
pub fn tool(dir: &Path, program: &str, args: &[&str]) -> Vec<u8> {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{program} is installed by .ci/run (apt-get): {e}"));
    assert!(
        out.status.success(),
        "{program} {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Runs a shell pipeline in `dir` (for `a | b` chains of the tools).
pub fn shell(dir: &Path, script: &str) -> Vec<u8> {
    tool(dir, "bash", &["-o", "pipefail", "-c", script])
}

/// The reference as plain FASTA in `dir`, indexed for samtools, bcftools and bwa.
pub fn indexed_reference(dir: &Path, gz: &Path) -> PathBuf {
    let fa = dir.join("ref.fa");
    let mut text = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::MultiGzDecoder::new(std::fs::File::open(gz).unwrap()),
        &mut text,
    )
    .unwrap();
    std::fs::write(&fa, text).unwrap();
    tool(dir, "samtools", &["faidx", "ref.fa"]);
    tool(dir, "bwa", &["index", "ref.fa"]);
    fa
}

/// The classic pipeline on paired reads: `bwa mem -t 1` + `samtools sort`,
/// then `bcftools mpileup | bcftools call -mv --ploidy 1`, normalised.
/// Returns (sorted BAM, normalised VCF) in `dir` (which holds `ref.fa`).
pub fn bwa_bcftools(dir: &Path, reads: &Path, mates: &Path) -> (PathBuf, PathBuf) {
    shell(
        dir,
        &format!(
            "bwa mem -t 1 ref.fa {} {} 2>/dev/null | samtools sort -o bwa.bam - 2>/dev/null \
             && bcftools mpileup -f ref.fa bwa.bam 2>/dev/null \
             | bcftools call -mv --ploidy 1 -Ov 2>/dev/null \
             | bcftools norm -m -any -f ref.fa -Ov -o bwa.vcf 2>/dev/null",
            reads.display(),
            mates.display()
        ),
    );
    (dir.join("bwa.bam"), dir.join("bwa.vcf"))
}

/// `vcf`'s PASS calls, split and left-normalised by `bcftools norm` against `ref.fa` in `dir`.
pub fn normalised_pass(dir: &Path, vcf: &Path, out: &str) -> PathBuf {
    shell(
        dir,
        &format!(
            "bcftools view -f PASS,. {} | bcftools norm -m -any -f ref.fa -Ov -o {out} 2>/dev/null",
            vcf.display()
        ),
    );
    dir.join(out)
}

/// A call: contig, position, REF, ALT.
pub type Call = (String, u64, String, String);

/// The calls of a (split) VCF.
pub fn calls(vcf: &Path) -> BTreeSet<Call> {
    std::fs::read_to_string(vcf)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (
                f[0].to_owned(),
                f[1].parse().unwrap(),
                f[3].to_owned(),
                f[4].to_owned(),
            )
        })
        .collect()
}

/// Precision and recall of one variant class.
#[derive(Debug, Clone, Copy)]
pub struct Agreement {
    pub ours: usize,
    pub theirs: usize,
    pub both: usize,
}

impl Agreement {
    pub fn precision(&self) -> f64 {
        self.both as f64 / self.ours.max(1) as f64
    }
    pub fn recall(&self) -> f64 {
        self.both as f64 / self.theirs.max(1) as f64
    }
}

impl std::fmt::Display for Agreement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "precision {:.3} recall {:.3} (ours {}, oracle {}, shared {})",
            self.precision(),
            self.recall(),
            self.ours,
            self.theirs,
            self.both
        )
    }
}

/// SNV and indel agreement of `ours` with `theirs` (both normalised).
pub fn compare(ours: &BTreeSet<Call>, theirs: &BTreeSet<Call>) -> (Agreement, Agreement) {
    let is_snv = |c: &&Call| c.2.len() == c.3.len();
    let class = |snv: bool| {
        let pick = |s: &BTreeSet<Call>| -> BTreeSet<Call> {
            s.iter().filter(|c| is_snv(c) == snv).cloned().collect()
        };
        let (a, b) = (pick(ours), pick(theirs));
        Agreement {
            ours: a.len(),
            theirs: b.len(),
            both: a.intersection(&b).count(),
        }
    };
    (class(true), class(false))
}
