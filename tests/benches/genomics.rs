//! Genomics benchmark (issue "genomics stages"): accuracy of align + call-variants
//! against bwa mem + bcftools on the lambda pairs; every genomics stage's code
//! native vs as wasm under petri (fuel on); fastq-qc vs fastp; align + call vs
//! bwa mem + samtools sort + bcftools mpileup | call. Single-threaded
//! everywhere, each pair run alternately, medians reported side by side.
//!
//! `cargo bench -p petri-tests --bench genomics [-- --runs N]`
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: setup failures should stop it

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use petri_host::pipeline::RunRecord;
use petri_host::{Outcome, Petri};
use petri_tests::oracle::{self, calls, compare, normalised_pass, shell};
use petri_tests::{Fixture, block_on, lambda, request};

/// The stages on the raw lambda pairs: what the bwa + bcftools baseline gets.
const PIPELINE: &str = r#"
[inputs.reference]
path = "REF"
[inputs.reads]
path = "R1"
[inputs.mates]
path = "R2"

[stages.qc]
module = "fastq-qc"
params = { quality-cutoff = 20, min-length = 30, max-n-fraction = 0.1 }
inputs = { reads = "inputs.reads", mates = "inputs.mates" }

[stages.align]
module = "align"
inputs = { reference = "inputs.reference", reads = "inputs.reads", mates = "inputs.mates" }

[stages.coverage]
module = "coverage"
inputs = { alignments = "align.alignments" }

[stages.call]
module = "call-variants"
inputs = { reference = "inputs.reference", alignments = "align.alignments" }

[stages.consensus]
module = "consensus"
inputs = { reference = "inputs.reference", variants = "call.variants", depth = "coverage.depth" }
"#;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn time(f: &mut dyn FnMut()) -> Duration {
    let t = Instant::now();
    f();
    t.elapsed()
}

/// Runs `a` and `b` alternately `runs` times; their medians.
fn pair(runs: usize, a: &mut dyn FnMut(), b: &mut dyn FnMut()) -> (Duration, Duration) {
    a();
    b(); // warm-up: page cache, compiled-module cache
    let (mut ta, mut tb) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        ta.push(time(a));
        tb.push(time(b));
    }
    (median(ta), median(tb))
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

struct Bench {
    fixture: Fixture,
    run: RunRecord,
    work: PathBuf,
}

impl Bench {
    fn output(&self, stage: &str, port: &str) -> PathBuf {
        let s = self.run.stages.iter().find(|s| s.stage == stage).unwrap();
        let o = s.outputs.iter().find(|o| o.port == port).unwrap();
        self.fixture.petri.blobs().path_of(&o.sha256)
    }

    /// Asserts that native code wrote exactly the bytes the component did.
    fn same_bytes(&self, stage: &str, port: &str, native: &[u8]) {
        let wasm = std::fs::read(self.output(stage, port)).unwrap();
        assert!(
            wasm == native,
            "{stage}.{port}: native and wasm outputs differ"
        );
    }

    fn fuel(&self, stage: &str) -> u64 {
        self.run
            .stages
            .iter()
            .find(|s| s.stage == stage)
            .unwrap()
            .fuel_used
    }

    /// One run of a stage through petri (wasm, fuel on, default limits).
    fn wasm(&self, plugin: &str, params: &[(&str, &str)], inputs: &[(&str, PathBuf)]) {
        let petri: &Petri = &self.fixture.petri;
        let path = petri_plugins::ALL
            .iter()
            .find(|(n, _)| *n == plugin)
            .unwrap()
            .1;
        let stage = petri.load_file(path.as_ref()).unwrap();
        let record = block_on(petri.run(&stage, request(params, inputs))).unwrap();
        assert!(
            matches!(record.outcome, Outcome::Succeeded { .. }),
            "{plugin}: {:?}",
            record.outcome
        );
    }
}

fn open(p: &Path) -> File {
    File::open(p).unwrap()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let runs = args
        .iter()
        .position(|a| a == "--runs")
        .map(|i| args[i + 1].parse().unwrap())
        .unwrap_or(5);
    let (reference, r1, r2) = (
        lambda("lambda_virus.fa.gz"),
        lambda("reads_1.fq.gz"),
        lambda("reads_2.fq.gz"),
    );

    let fixture = Fixture::new();
    let text = PIPELINE
        .replace("REF", reference.to_str().unwrap())
        .replace("R1", r1.to_str().unwrap())
        .replace("R2", r2.to_str().unwrap());
    let path = fixture.pipeline("bench.toml", &text);
    let run = fixture.run(&path, true);
    assert_eq!(run.status, "completed");
    let work = fixture.dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    oracle::indexed_reference(&work, &reference);
    let b = Bench { fixture, run, work };
    let (sam, vcf, depth) = (
        b.output("align", "alignments"),
        b.output("call", "variants"),
        b.output("coverage", "depth"),
    );

    // Accuracy: the same raw pairs through bwa mem + bcftools.
    let (_, theirs) = oracle::bwa_bcftools(&b.work, &r1, &r2);
    let ours = calls(&normalised_pass(&b.work, &vcf, "ours.norm.vcf"));
    let (snv, indel) = compare(&ours, &calls(&theirs));
    println!("## Accuracy vs bwa mem + bcftools (ploidy 1), after bcftools norm\n");
    println!(
        "| class | precision | recall | ours | bwa+bcftools | shared |\n| --- | --- | --- | --- | --- | --- |"
    );
    for (name, a) in [("SNV", snv), ("indel", indel)] {
        println!(
            "| {name} | {:.3} | {:.3} | {} | {} | {} |",
            a.precision(),
            a.recall(),
            a.ours,
            a.theirs,
            a.both
        );
    }

    // Native code writes exactly the bytes the components wrote.
    let mut out = Vec::new();
    petri_plugin_align::align(
        &Default::default(),
        open(&reference),
        open(&r1),
        Some(open(&r2)),
        &mut out,
    )
    .unwrap();
    b.same_bytes("align", "alignments", &out);
    out.clear();
    petri_plugin_call_variants::call_variants(
        &Default::default(),
        open(&reference),
        open(&sam),
        &mut out,
    )
    .unwrap();
    b.same_bytes("call", "variants", &out);
    let mut summary = Vec::new();
    out.clear();
    petri_plugin_coverage::coverage(
        &Default::default(),
        open(&sam),
        &mut out,
        &mut summary,
        |_| {},
    )
    .unwrap();
    b.same_bytes("coverage", "depth", &out);
    b.same_bytes("coverage", "summary", &summary);
    out.clear();
    petri_plugin_consensus::consensus(
        &Default::default(),
        open(&reference),
        open(&vcf),
        Some(Box::new(open(&depth))),
        &mut out,
    )
    .unwrap();
    b.same_bytes("consensus", "consensus", &out);
    println!(
        "\nNative and wasm outputs are byte-identical for align, call-variants, coverage and consensus."
    );

    // Each stage: native code vs the component under petri.
    println!("\n## Native vs wasm ({runs} alternating runs, medians)\n");
    println!(
        "| stage | native | wasm (petri run) | ratio | fuel |\n| --- | --- | --- | --- | --- |"
    );
    let row = |stage: &str, plugin: &str, (n, w): (Duration, Duration)| {
        println!(
            "| {plugin} | {} | {} | {:.2}× | {} |",
            ms(n),
            ms(w),
            w.as_secs_f64() / n.as_secs_f64(),
            b.fuel(stage)
        );
    };
    let qc_params = [
        ("quality-cutoff", "20"),
        ("min-length", "30"),
        ("max-n-fraction", "0.1"),
    ];
    let qc = pair(
        runs,
        &mut || {
            let p = petri_plugin_fastq_qc::QcParams {
                quality_cutoff: 20,
                min_length: 30,
                max_n_fraction: 0.1,
                ..Default::default()
            };
            petri_plugin_fastq_qc::run_qc(
                &p,
                open(&r1),
                Some(open(&r2)),
                io::sink(),
                Some(io::sink()),
                |_| {},
            )
            .unwrap();
        },
        &mut || {
            b.wasm(
                "fastq-qc",
                &qc_params,
                &[("reads", r1.clone()), ("mates", r2.clone())],
            )
        },
    );
    row("qc", "fastq-qc", qc);
    let align = pair(
        runs,
        &mut || {
            petri_plugin_align::align(
                &Default::default(),
                open(&reference),
                open(&r1),
                Some(open(&r2)),
                io::sink(),
            )
            .unwrap();
        },
        &mut || {
            b.wasm(
                "align",
                &[],
                &[
                    ("reference", reference.clone()),
                    ("reads", r1.clone()),
                    ("mates", r2.clone()),
                ],
            )
        },
    );
    row("align", "align", align);
    let call = pair(
        runs,
        &mut || {
            petri_plugin_call_variants::call_variants(
                &Default::default(),
                open(&reference),
                open(&sam),
                io::sink(),
            )
            .unwrap();
        },
        &mut || {
            b.wasm(
                "call-variants",
                &[],
                &[
                    ("reference", reference.clone()),
                    ("alignments", sam.clone()),
                ],
            )
        },
    );
    row("call", "call-variants", call);
    row(
        "coverage",
        "coverage",
        pair(
            runs,
            &mut || {
                petri_plugin_coverage::coverage(
                    &Default::default(),
                    open(&sam),
                    io::sink(),
                    io::sink(),
                    |_| {},
                )
                .unwrap();
            },
            &mut || b.wasm("coverage", &[], &[("alignments", sam.clone())]),
        ),
    );
    row(
        "consensus",
        "consensus",
        pair(
            runs,
            &mut || {
                petri_plugin_consensus::consensus(
                    &Default::default(),
                    open(&reference),
                    open(&vcf),
                    Some(Box::new(open(&depth))),
                    io::sink(),
                )
                .unwrap();
            },
            &mut || {
                b.wasm(
                    "consensus",
                    &[],
                    &[
                        ("reference", reference.clone()),
                        ("variants", vcf.clone()),
                        ("depth", depth.clone()),
                    ],
                )
            },
        ),
    );

    // Against the classic tools, single-threaded.
    println!("\n## Against the classic tools ({runs} alternating runs, medians)\n");
    println!("| petri (wasm) | time | baseline | time | ratio |\n| --- | --- | --- | --- | --- |");
    let fastp = format!(
        "fastp -w 1 -A -3 -W 1 -M 20 -l 30 -n 10 -i {} -I {} -o fp1.fq -O fp2.fq -j fp.json -h fp.html 2>/dev/null",
        r1.display(),
        r2.display()
    );
    let (ours_t, theirs_t) = pair(
        runs,
        &mut || {
            b.wasm(
                "fastq-qc",
                &qc_params,
                &[("reads", r1.clone()), ("mates", r2.clone())],
            )
        },
        &mut || {
            shell(&b.work, &fastp);
        },
    );
    println!(
        "| fastq-qc | {} | fastp 0.23 (`-w 1`) | {} | {:.2}× |",
        ms(ours_t),
        ms(theirs_t),
        ours_t.as_secs_f64() / theirs_t.as_secs_f64()
    );
    let classic = format!(
        "bwa mem -t 1 ref.fa {} {} 2>/dev/null | samtools sort -o t.bam - 2>/dev/null \
         && bcftools mpileup -f ref.fa t.bam 2>/dev/null | bcftools call -mv --ploidy 1 -o t.vcf 2>/dev/null",
        r1.display(),
        r2.display()
    );
    let (ours_t, theirs_t) = pair(
        runs,
        &mut || {
            b.wasm(
                "align",
                &[],
                &[
                    ("reference", reference.clone()),
                    ("reads", r1.clone()),
                    ("mates", r2.clone()),
                ],
            );
            b.wasm(
                "call-variants",
                &[],
                &[
                    ("reference", reference.clone()),
                    ("alignments", sam.clone()),
                ],
            );
        },
        &mut || {
            shell(&b.work, &classic);
        },
    );
    println!(
        "| align + call-variants | {} | bwa mem + samtools sort + bcftools mpileup \\| call (index prebuilt) | {} | {:.2}× |",
        ms(ours_t),
        ms(theirs_t),
        ours_t.as_secs_f64() / theirs_t.as_secs_f64()
    );
}
