//! Genomics benchmark (issue "genomics stages"): accuracy of align + call-variants
//! against bwa mem + bcftools on the lambda pairs; every genomics stage's code
//! native vs as wasm under petri (fuel on); fastq-qc vs fastp; align + call vs
//! bwa mem + samtools sort + bcftools mpileup | call. Single-threaded
//! everywhere, each pair run alternately, medians reported side by side.
//!
//! `cargo bench -p petri-tests --bench genomics [-- --runs N]`
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: setup failures should stop it

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use petri_host::{Outcome, Petri};
use petri_tests::oracle::{self, calls, compare, normalised_pass, shell};
use petri_tests::{LAMBDA_ALIGN_CALL, LambdaRun, block_on, lambda, request, stage};

/// With [`LAMBDA_ALIGN_CALL`], every stage on the raw lambda pairs: what the
/// bwa + bcftools baseline gets.
const MORE_STAGES: &str = r#"
[stages.qc]
module = "fastq-qc"
params = { quality-cutoff = 20, min-length = 30, max-n-fraction = 0.1 }
inputs = { reads = "inputs.reads", mates = "inputs.mates" }

[stages.coverage]
module = "coverage"
inputs = { alignments = "align.alignments" }

[stages.consensus]
module = "consensus"
inputs = { reference = "inputs.reference", variants = "call.variants", depth = "coverage.depth" }
"#;

/// The QC settings of the pipeline, as params.
const QC_PARAMS: [(&str, &str); 3] = [
    ("quality-cutoff", "20"),
    ("min-length", "30"),
    ("max-n-fraction", "0.1"),
];

/// A stage of the native-vs-wasm table: its name in the pipeline, its plugin,
/// its params and its native run.
type Row<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)], &'a dyn Fn());

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

fn open(p: &Path) -> File {
    File::open(p).unwrap()
}

/// The files each stage reads: the lambda data and the pipeline's outputs.
struct Files {
    reference: PathBuf,
    r1: PathBuf,
    r2: PathBuf,
    sam: PathBuf,
    vcf: PathBuf,
    depth: PathBuf,
}

impl Files {
    fn qc(&self) {
        let p = petri_plugin_fastq_qc::QcParams {
            quality_cutoff: 20,
            min_length: 30,
            max_n_fraction: 0.1,
            ..Default::default()
        };
        petri_plugin_fastq_qc::run_qc(
            &p,
            open(&self.r1),
            Some(open(&self.r2)),
            io::sink(),
            Some(io::sink()),
            |_| {},
        )
        .unwrap();
    }

    fn align(&self, out: impl Write) {
        petri_plugin_align::align(
            &Default::default(),
            open(&self.reference),
            open(&self.r1),
            Some(open(&self.r2)),
            out,
        )
        .unwrap();
    }

    fn call(&self, out: impl Write) {
        petri_plugin_call_variants::call_variants(
            &Default::default(),
            open(&self.reference),
            open(&self.sam),
            out,
        )
        .unwrap();
    }

    fn coverage(&self, depth: impl Write, summary: impl Write) {
        petri_plugin_coverage::coverage(
            &Default::default(),
            open(&self.sam),
            depth,
            summary,
            |_| {},
        )
        .unwrap();
    }

    fn consensus(&self, out: impl Write) {
        petri_plugin_consensus::consensus(
            &Default::default(),
            open(&self.reference),
            open(&self.vcf),
            Some(Box::new(open(&self.depth))),
            out,
        )
        .unwrap();
    }

    /// The input ports of `plugin` and their files.
    fn inputs(&self, plugin: &str) -> Vec<(&'static str, PathBuf)> {
        let ports = match plugin {
            "fastq-qc" => vec![("reads", &self.r1), ("mates", &self.r2)],
            "align" => vec![
                ("reference", &self.reference),
                ("reads", &self.r1),
                ("mates", &self.r2),
            ],
            "call-variants" => vec![("reference", &self.reference), ("alignments", &self.sam)],
            "coverage" => vec![("alignments", &self.sam)],
            "consensus" => vec![
                ("reference", &self.reference),
                ("variants", &self.vcf),
                ("depth", &self.depth),
            ],
            other => panic!("no inputs for `{other}`"),
        };
        ports.into_iter().map(|(p, f)| (p, f.clone())).collect()
    }
}

struct Bench {
    lambda: LambdaRun,
    files: Files,
}

impl Bench {
    /// Asserts that native code wrote exactly the bytes the component did.
    fn same_bytes(&self, stage: &str, port: &str, native: &[u8]) {
        let wasm = std::fs::read(self.lambda.output(stage, port)).unwrap();
        assert!(
            wasm == native,
            "{stage}.{port}: native and wasm outputs differ"
        );
    }

    /// One run of a stage on the files through petri (wasm, fuel on, default limits).
    fn wasm(&self, plugin: &str, params: &[(&str, &str)]) {
        let petri: &Petri = &self.lambda.fixture.petri;
        let path = petri_plugins::ALL
            .iter()
            .find(|(n, _)| *n == plugin)
            .unwrap()
            .1;
        let stage = petri.load_file(path.as_ref()).unwrap();
        let inputs = self.files.inputs(plugin);
        let record = block_on(petri.run(&stage, request(params, &inputs))).unwrap();
        assert!(
            matches!(record.outcome, Outcome::Succeeded { .. }),
            "{plugin}: {:?}",
            record.outcome
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let runs = args
        .iter()
        .position(|a| a == "--runs")
        .map(|i| args[i + 1].parse().unwrap())
        .unwrap_or(5);

    let lambda_run = LambdaRun::new(&format!("{LAMBDA_ALIGN_CALL}{MORE_STAGES}"));
    let files = Files {
        reference: lambda("lambda_virus.fa.gz"),
        r1: lambda("reads_1.fq.gz"),
        r2: lambda("reads_2.fq.gz"),
        sam: lambda_run.output("align", "alignments"),
        vcf: lambda_run.output("call", "variants"),
        depth: lambda_run.output("coverage", "depth"),
    };
    let b = Bench {
        lambda: lambda_run,
        files,
    };
    let (f, work) = (&b.files, &b.lambda.work);

    // Accuracy: the same raw pairs through bwa mem + bcftools.
    let (_, theirs) = oracle::bwa_bcftools(work, &f.r1, &f.r2);
    let ours = calls(&normalised_pass(work, &f.vcf, "ours.norm.vcf"));
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
    let (mut out, mut summary) = (Vec::new(), Vec::new());
    f.align(&mut out);
    b.same_bytes("align", "alignments", &out);
    out.clear();
    f.call(&mut out);
    b.same_bytes("call", "variants", &out);
    out.clear();
    f.coverage(&mut out, &mut summary);
    b.same_bytes("coverage", "depth", &out);
    b.same_bytes("coverage", "summary", &summary);
    out.clear();
    f.consensus(&mut out);
    b.same_bytes("consensus", "consensus", &out);
    println!(
        "\nNative and wasm outputs are byte-identical for align, call-variants, coverage and consensus."
    );

    // Each stage: native code vs the component under petri.
    println!("\n## Native vs wasm ({runs} alternating runs, medians)\n");
    println!(
        "| stage | native | wasm (petri run) | ratio | fuel |\n| --- | --- | --- | --- | --- |"
    );
    let stages: [Row; 5] = [
        ("qc", "fastq-qc", &QC_PARAMS, &|| f.qc()),
        ("align", "align", &[], &|| f.align(io::sink())),
        ("call", "call-variants", &[], &|| f.call(io::sink())),
        ("coverage", "coverage", &[], &|| {
            f.coverage(io::sink(), io::sink())
        }),
        ("consensus", "consensus", &[], &|| f.consensus(io::sink())),
    ];
    for (name, plugin, params, native) in stages {
        let (n, w) = pair(runs, &mut || native(), &mut || b.wasm(plugin, params));
        println!(
            "| {plugin} | {} | {} | {:.2}× | {} |",
            ms(n),
            ms(w),
            w.as_secs_f64() / n.as_secs_f64(),
            stage(&b.lambda.run, name).fuel_used
        );
    }

    // Against the classic tools, single-threaded.
    println!("\n## Against the classic tools ({runs} alternating runs, medians)\n");
    println!("| petri (wasm) | time | baseline | time | ratio |\n| --- | --- | --- | --- | --- |");
    let fastp = format!(
        "fastp -w 1 -A -3 -W 1 -M 20 -l 30 -n 10 -i {} -I {} -o fp1.fq -O fp2.fq -j fp.json -h fp.html 2>/dev/null",
        f.r1.display(),
        f.r2.display()
    );
    let (ours_t, theirs_t) = pair(runs, &mut || b.wasm("fastq-qc", &QC_PARAMS), &mut || {
        shell(work, &fastp);
    });
    println!(
        "| fastq-qc | {} | fastp 0.23 (`-w 1`) | {} | {:.2}× |",
        ms(ours_t),
        ms(theirs_t),
        ours_t.as_secs_f64() / theirs_t.as_secs_f64()
    );
    let classic = format!(
        "bwa mem -t 1 ref.fa {} {} 2>/dev/null | samtools sort -o t.bam - 2>/dev/null \
         && bcftools mpileup -f ref.fa t.bam 2>/dev/null | bcftools call -mv --ploidy 1 -o t.vcf 2>/dev/null",
        f.r1.display(),
        f.r2.display()
    );
    let (ours_t, theirs_t) = pair(
        runs,
        &mut || {
            b.wasm("align", &[]);
            b.wasm("call-variants", &[]);
        },
        &mut || {
            shell(work, &classic);
        },
    );
    println!(
        "| align + call-variants | {} | bwa mem + samtools sort + bcftools mpileup \\| call (index prebuilt) | {} | {:.2}× |",
        ms(ours_t),
        ms(theirs_t),
        ours_t.as_secs_f64() / theirs_t.as_secs_f64()
    );
}
