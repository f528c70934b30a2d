//! The fastq-qc stage on real lambda reads, checked against fastp; malformed input and gzip bombs.

use std::io::Write;
use std::path::Path;
use std::process::Command;

use petri_host::{Failure, Petri, StageRecord};
use petri_tests::{failed, host, lambda, request, run, succeeded};

fn qc(
    petri: &Petri,
    params: &[(&str, &str)],
    inputs: &[(&str, std::path::PathBuf)],
) -> StageRecord {
    let stage = petri.load_file(petri_plugins::FASTQ_QC.as_ref()).unwrap();
    run(petri, &stage, request(params, inputs))
}

fn blob_to(petri: &Petri, r: &StageRecord, port: &str, dir: &Path) -> std::path::PathBuf {
    let out = r.outputs.iter().find(|o| o.port == port).unwrap();
    let path = dir.join(format!("{port}.fastq"));
    std::fs::copy(petri.blobs().local_path(&out.sha256).unwrap(), &path).unwrap();
    path
}

/// fastp's count of reads and bases (all of its own filters off).
fn fastp_counts(r1: &Path, r2: &Path, dir: &Path) -> serde_json::Value {
    let json = dir.join("fastp.json");
    let status = Command::new("fastp")
        .args(["-A", "-G", "-Q", "-L", "-w", "1", "-i"])
        .arg(r1)
        .arg("-I")
        .arg(r2)
        .arg("-j")
        .arg(&json)
        .arg("-h")
        .arg(dir.join("fastp.html"))
        .output()
        .expect("fastp is installed by .ci/run (apt-get install fastp)");
    assert!(
        status.status.success(),
        "fastp rejected the file: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(json).unwrap()).unwrap();
    v["summary"]["before_filtering"].clone()
}

#[test]
fn qc_on_lambda_agrees_with_fastp() {
    let (petri, dir) = host();
    let r = qc(
        &petri,
        &[],
        &[
            ("reads", lambda("reads_1.fq.gz")),
            ("mates", lambda("reads_2.fq.gz")),
        ],
    );
    succeeded(&r);
    let summary: serde_json::Value = serde_json::from_slice(
        &petri
            .blobs()
            .read(
                &r.outputs
                    .iter()
                    .find(|o| o.port == "summary")
                    .unwrap()
                    .sha256,
            )
            .unwrap(),
    )
    .unwrap();

    // fastp reads our output without complaint and counts what we say we wrote.
    let t1 = blob_to(&petri, &r, "trimmed", dir.path());
    let t2 = blob_to(&petri, &r, "trimmed-mates", dir.path());
    let after = fastp_counts(&t1, &t2, dir.path());
    for (ours, theirs) in [
        ("reads", "total_reads"),
        ("bases", "total_bases"),
        ("q20_bases", "q20_bases"),
        ("q30_bases", "q30_bases"),
    ] {
        assert_eq!(summary["after"][ours], after[theirs], "after: {ours}");
    }
    // And counts the raw input as we do.
    let before = fastp_counts(
        &lambda("reads_1.fq.gz"),
        &lambda("reads_2.fq.gz"),
        dir.path(),
    );
    for (ours, theirs) in [
        ("reads", "total_reads"),
        ("bases", "total_bases"),
        ("q20_bases", "q20_bases"),
        ("q30_bases", "q30_bases"),
    ] {
        assert_eq!(summary["before"][ours], before[theirs], "before: {ours}");
    }
    assert_eq!(summary["before"]["reads"], 20_000);
    assert_eq!(summary["pairs_in"], 10_000);
    assert!(summary["after"]["mean_quality"].as_f64() > summary["before"]["mean_quality"].as_f64());
}

#[test]
fn malformed_fastq_names_the_record() {
    let (petri, dir) = host();
    let path = dir.path().join("bad.fq");
    std::fs::write(&path, "@r1\nACGT\n+\nIIII\n@r2\nACGT\n+\nIII\n").unwrap();
    let r = qc(&petri, &[], &[("reads", path)]);
    match failed(&r) {
        Failure::Stage { error } => {
            assert_eq!(error.kind, "malformed-fastq");
            assert_eq!(
                (error.port.as_deref(), error.record),
                (Some("reads"), Some(2))
            );
            assert!(
                error
                    .message
                    .contains("quality length 3 differs from sequence length 4"),
                "{}",
                error.message
            );
        }
        other => panic!("{other:?}"),
    }
}

fn gzip(path: &Path, write: impl FnOnce(&mut flate2::write::GzEncoder<std::fs::File>)) {
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(path).unwrap(),
        flate2::Compression::best(),
    );
    write(&mut gz);
    gz.finish().unwrap();
}

#[test]
fn gzip_bomb_is_stopped_by_the_input_limit() {
    let (petri, dir) = host();
    let path = dir.path().join("bomb.fq.gz");
    // 64 MiB of valid FASTQ that compresses to well under 1 MiB.
    gzip(&path, |gz| {
        let rec = format!("@r\n{}\n+\n{}\n", "A".repeat(100), "I".repeat(100));
        for _ in 0..(64 << 20) / rec.len() {
            gz.write_all(rec.as_bytes()).unwrap();
        }
    });
    assert!(std::fs::metadata(&path).unwrap().len() < 1 << 20);
    let r = qc(
        &petri,
        &[("max-input-bytes", "8000000")],
        &[("reads", path)],
    );
    match failed(&r) {
        Failure::Stage { error } => assert_eq!(error.kind, "limit-exceeded", "{}", error.message),
        other => panic!("{other:?}"),
    }
}

#[test]
fn endless_line_bomb_is_stopped_by_the_line_limit() {
    let (petri, dir) = host();
    let path = dir.path().join("line.fq.gz");
    gzip(&path, |gz| {
        gz.write_all(b"@r\n").unwrap();
        let block = vec![b'A'; 1 << 20];
        for _ in 0..256 {
            gz.write_all(&block).unwrap();
        }
    });
    let r = qc(&petri, &[], &[("reads", path)]);
    match failed(&r) {
        Failure::Stage { error } => {
            assert_eq!(
                (error.kind.as_str(), error.record),
                ("malformed-fastq", Some(1))
            );
            assert!(error.message.contains("max-read-length"));
        }
        other => panic!("{other:?}"),
    }
}
