//! End-to-end tests of [`call_variants`] on small synthetic SAM written here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Cursor;

use petri_sdk::StageError;

use crate::{CallError, CallParams, CallSummary, Ploidy, call_variants};

/// A deterministic 120 bp reference without runs longer than 2.
fn contig_seq() -> Vec<u8> {
    let mut x: u32 = 12345;
    let mut seq: Vec<u8> = Vec::new();
    while seq.len() < 120 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        let b = b"ACGT"[((x >> 16) % 4) as usize];
        let n = seq.len();
        if n >= 2 && seq[n - 1] == b && seq[n - 2] == b {
            continue;
        }
        seq.push(b);
    }
    seq
}

fn fasta(contigs: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, seq) in contigs {
        out.extend_from_slice(format!(">{name}\n").as_bytes());
        out.extend_from_slice(seq);
        out.push(b'\n');
    }
    out
}

struct Read {
    flag: u16,
    chrom: &'static str,
    pos: usize,
    mapq: u8,
    cigar: String,
    seq: Vec<u8>,
    qual: u8,
}

/// A read copying `reference[start..start + len]` with `edits` (0-based reference position, base).
fn read(reference: &[u8], start: usize, len: usize, edits: &[(usize, u8)]) -> Read {
    let mut seq = reference[start..start + len].to_vec();
    for &(p, b) in edits {
        seq[p - start] = b;
    }
    Read {
        flag: 0,
        chrom: "chr1",
        pos: start + 1,
        mapq: 60,
        cigar: format!("{len}M"),
        seq,
        qual: 30,
    }
}

fn sam_text(sq: &[(&str, usize)], extra_header: &str, reads: &[Read]) -> Vec<u8> {
    let mut out = String::from("@HD\tVN:1.6\tSO:coordinate\n");
    for (name, len) in sq {
        out += &format!("@SQ\tSN:{name}\tLN:{len}\n");
    }
    out += extra_header;
    for (i, r) in reads.iter().enumerate() {
        let qual: String = std::iter::repeat_n((r.qual + 33) as char, r.seq.len()).collect();
        out += &format!(
            "r{i}\t{}\t{}\t{}\t{}\t{}\t*\t0\t0\t{}\t{qual}\n",
            r.flag,
            r.chrom,
            r.pos,
            r.mapq,
            r.cigar,
            String::from_utf8_lossy(&r.seq)
        );
    }
    out.into_bytes()
}

fn run(
    params: &CallParams,
    reference: Vec<u8>,
    sam: Vec<u8>,
) -> Result<(CallSummary, String), CallError> {
    let mut out = Vec::new();
    let summary = call_variants(params, Cursor::new(reference), Cursor::new(sam), &mut out)?;
    Ok((summary, String::from_utf8(out).unwrap()))
}

/// Data lines of a VCF, split into columns.
fn records(vcf: &str) -> Vec<Vec<String>> {
    vcf.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split('\t').map(String::from).collect())
        .collect()
}

fn simple(params: &CallParams, reads: &[Read]) -> Vec<Vec<String>> {
    let seq = contig_seq();
    let (_, vcf) = run(
        params,
        fasta(&[("chr1", &seq)]),
        sam_text(&[("chr1", 120)], "", reads),
    )
    .unwrap();
    records(&vcf)
}

fn alt_of(b: u8) -> u8 {
    if b == b'A' { b'C' } else { b'A' }
}

#[test]
fn snv_is_called_and_qual_follows_base_quality() {
    let r = contig_seq();
    let (a, b) = (30, 70);
    let mut reads = Vec::new();
    for i in 0..5 {
        reads.push(read(
            &r,
            10 + i,
            90,
            &[(a, alt_of(r[a])), (b, alt_of(r[b]))],
        ));
    }
    let recs = simple(&CallParams::default(), &reads);
    assert_eq!(recs.len(), 2, "{recs:?}");
    assert_eq!(recs[0][1], (a + 1).to_string());
    assert_eq!(recs[0][3].as_bytes(), &[r[a]]);
    assert_eq!(recs[0][4].as_bytes(), &[alt_of(r[a])]);
    assert_eq!(recs[0][6], "PASS");
    assert!(recs[0][7].starts_with("DP=5;AF=1"), "{:?}", recs[0]);
    assert_eq!(recs[0][9], "1:5:0,5");

    // Same evidence at lower base quality gives a lower QUAL; more reads a higher one.
    let qual_with = |n: usize, q: u8| {
        let reads: Vec<Read> = (0..n)
            .map(|i| Read {
                qual: q,
                ..read(&r, 10 + i, 90, &[(a, alt_of(r[a]))])
            })
            .collect();
        let recs = simple(&CallParams::default(), &reads);
        recs[0][5].parse::<f64>().unwrap()
    };
    let (q30, q15, q30_more) = (qual_with(5, 30), qual_with(5, 15), qual_with(8, 30));
    assert!(q15 < q30 && q30 < q30_more, "{q15} {q30} {q30_more}");
}

#[test]
fn deletion_is_left_normalised_vcf_style() {
    // A run of three As at 40..43; reads delete two of them, placed at the right end.
    let mut r = contig_seq();
    r[39] = b'C';
    r[40..43].copy_from_slice(b"AAA");
    r[43] = b'G';
    let reads: Vec<Read> = (0..6)
        .map(|i| {
            let start = 10 + i;
            let mut seq = r[start..41].to_vec();
            seq.extend_from_slice(&r[43..start + 80]);
            Read {
                cigar: format!("{}M2D{}M", 41 - start, start + 80 - 43),
                seq,
                ..read(&r, start, 1, &[])
            }
        })
        .collect();
    let (_, vcf) = run(
        &CallParams::default(),
        fasta(&[("chr1", &r)]),
        sam_text(&[("chr1", 120)], "", &reads),
    )
    .unwrap();
    let recs = records(&vcf);
    assert_eq!(recs.len(), 1, "{vcf}");
    assert_eq!(recs[0][1..5], ["40", ".", "CAA", "C"]);
    assert!(recs[0][7].contains("INDEL"), "{:?}", recs[0]);
    assert_eq!(recs[0][9], "1:6:0,6");
}

#[test]
fn insertion_is_called_vcf_style() {
    let r = contig_seq();
    // Inserted bases that differ from the flanks, so no shifting applies.
    let other: Vec<u8> = b"ACGT"
        .iter()
        .copied()
        .filter(|b| *b != r[50] && *b != r[51])
        .collect();
    let ins = [other[0], other[1], other[0]];
    let reads: Vec<Read> = (0..6)
        .map(|i| {
            let start = 10 + i;
            let mut seq = r[start..51].to_vec();
            seq.extend_from_slice(&ins);
            seq.extend_from_slice(&r[51..start + 80]);
            Read {
                cigar: format!("{}M3I{}M", 51 - start, start + 80 - 51),
                seq,
                ..read(&r, start, 1, &[])
            }
        })
        .collect();
    let ins = String::from_utf8_lossy(&ins);
    let recs = simple(&CallParams::default(), &reads);
    assert_eq!(recs.len(), 1, "{recs:?}");
    let anchor = (r[50] as char).to_string();
    assert_eq!(
        recs[0][1..5],
        [
            "51".to_string(),
            ".".into(),
            anchor.clone(),
            format!("{anchor}{ins}")
        ]
    );
    assert!(recs[0][7].contains("INDEL"));
}

#[test]
fn haploid_and_diploid_genotypes() {
    let r = contig_seq();
    let (hom, het) = (30, 70);
    let reads: Vec<Read> = (0..10)
        .map(|i| {
            let mut edits = vec![(hom, alt_of(r[hom]))];
            if i % 2 == 0 {
                edits.push((het, alt_of(r[het])));
            }
            read(&r, 10 + i, 90, &edits)
        })
        .collect();
    let hap = simple(&CallParams::default(), &reads);
    assert_eq!(
        hap.len(),
        1,
        "half the reads do not make a haploid call: {hap:?}"
    );
    assert!(hap[0][9].starts_with("1:"));
    let dip = simple(
        &CallParams {
            ploidy: Ploidy::Diploid,
            ..CallParams::default()
        },
        &reads,
    );
    assert_eq!(dip.len(), 2, "{dip:?}");
    assert!(dip[0][9].starts_with("1/1:"), "{:?}", dip[0]);
    assert_eq!(dip[1][1], (het + 1).to_string());
    assert_eq!(dip[1][9], "0/1:10:5,5");
}

#[test]
fn base_and_mapping_quality_filters() {
    let r = contig_seq();
    let a = 40;
    let reads = |q: u8, mapq: u8| -> Vec<Read> {
        (0..6)
            .map(|i| Read {
                qual: q,
                mapq,
                ..read(&r, 10 + i, 90, &[(a, alt_of(r[a]))])
            })
            .collect()
    };
    assert!(
        simple(&CallParams::default(), &reads(10, 60)).is_empty(),
        "Q10 bases are below 13"
    );
    let p = CallParams {
        min_base_quality: 5,
        ..CallParams::default()
    };
    assert_eq!(simple(&p, &reads(10, 60)).len(), 1);
    assert_eq!(simple(&CallParams::default(), &reads(30, 10)).len(), 1);
    let p = CallParams {
        min_mapping_quality: 20,
        ..CallParams::default()
    };
    assert!(
        simple(&p, &reads(30, 10)).is_empty(),
        "MAPQ 10 reads are skipped"
    );
    // Secondary and duplicate reads are not piled up.
    let flagged: Vec<Read> = reads(30, 60)
        .into_iter()
        .enumerate()
        .map(|(i, rd)| Read {
            flag: if i % 2 == 0 { 0x100 } else { 0x400 },
            ..rd
        })
        .collect();
    assert!(simple(&CallParams::default(), &flagged).is_empty());
}

#[test]
fn low_qual_and_low_depth_filters() {
    let r = contig_seq();
    let a = 40;
    let reads = |n: usize, q: u8| -> Vec<Read> {
        (0..n)
            .map(|i| Read {
                qual: q,
                ..read(&r, 10 + i, 90, &[(a, alt_of(r[a]))])
            })
            .collect()
    };
    let recs = simple(&CallParams::default(), &reads(2, 30));
    assert_eq!(recs[0][6], "LowDepth", "{recs:?}");
    let recs = simple(&CallParams::default(), &reads(2, 15));
    assert_eq!(recs[0][6], "LowQual;LowDepth", "{recs:?}");
    let p = CallParams {
        min_depth: 1,
        ..CallParams::default()
    };
    assert_eq!(simple(&p, &reads(2, 15))[0][6], "LowQual");
}

#[test]
fn header_declares_everything_and_names_the_sample() {
    let r = contig_seq();
    let rg = "@RG\tID:rg1\tSM:patient7\n";
    let reads = [read(&r, 0, 50, &[])];
    let reference = fasta(&[("chr1", &r), ("chr2", b"ACGTACGT")]);
    let sq = [("chr1", 120), ("chr2", 8)];
    let (summary, vcf) = run(
        &CallParams::default(),
        reference.clone(),
        sam_text(&sq, rg, &reads),
    )
    .unwrap();
    assert_eq!(summary.sample, "patient7");
    for line in [
        "##fileformat=VCFv4.2",
        "##contig=<ID=chr1,length=120>",
        "##contig=<ID=chr2,length=8>",
        "##FILTER=<ID=PASS",
        "##FILTER=<ID=LowQual",
        "##FILTER=<ID=LowDepth",
        "##INFO=<ID=DP",
        "##INFO=<ID=AF",
        "##INFO=<ID=INDEL",
        "##FORMAT=<ID=GT",
        "##FORMAT=<ID=DP",
        "##FORMAT=<ID=AD",
        "##source=petri-call-variants",
        "##petri-call-variantsCommand=call-variants ploidy=haploid",
    ] {
        assert!(
            vcf.lines().any(|l| l.starts_with(line)),
            "missing {line} in\n{vcf}"
        );
    }
    assert!(vcf.contains("\tFORMAT\tpatient7\n"));
    let p = CallParams {
        sample: "given".into(),
        ..CallParams::default()
    };
    let (_, vcf) = run(&p, reference, sam_text(&sq, rg, &reads)).unwrap();
    assert!(vcf.contains("\tFORMAT\tgiven\n"));
}

#[test]
fn output_follows_reference_contig_order() {
    let r = contig_seq();
    let r2: Vec<u8> = r.iter().rev().copied().collect();
    // The SAM lists chr2 first; the reference lists chr1 first.
    let sq = [("chr2", 120), ("chr1", 120)];
    let mut reads = Vec::new();
    for i in 0..5 {
        reads.push(Read {
            chrom: "chr2",
            ..read(&r2, 10 + i, 90, &[(50, alt_of(r2[50]))])
        });
    }
    for i in 0..5 {
        reads.push(read(&r, 10 + i, 90, &[(60, alt_of(r[60]))]));
    }
    let (_, vcf) = run(
        &CallParams::default(),
        fasta(&[("chr1", &r), ("chr2", &r2)]),
        sam_text(&sq, "", &reads),
    )
    .unwrap();
    let recs = records(&vcf);
    assert_eq!(recs.len(), 2);
    assert_eq!((recs[0][0].as_str(), recs[1][0].as_str()), ("chr1", "chr2"));
}

fn stage_error(e: CallError) -> (String, Option<String>, Option<u64>) {
    let s = StageError::from(e);
    (s.kind, s.port, s.record)
}

#[test]
fn mismatched_sq_is_refused() {
    let r = contig_seq();
    let reads = [read(&r, 0, 50, &[])];
    for sq in [
        vec![("chr1", 119)],
        vec![("chrX", 120)],
        vec![("chr1", 120), ("chr2", 5)],
        vec![],
    ] {
        let e = run(
            &CallParams::default(),
            fasta(&[("chr1", &r)]),
            sam_text(&sq, "", &reads),
        )
        .unwrap_err();
        let (kind, port, _) = stage_error(e);
        assert_eq!(
            (kind.as_str(), port.as_deref()),
            ("reference-mismatch", Some("alignments")),
            "{sq:?}"
        );
    }
}

#[test]
fn unsorted_record_is_named() {
    let r = contig_seq();
    let reads = [
        read(&r, 5, 50, &[]),
        read(&r, 20, 50, &[]),
        read(&r, 10, 50, &[]),
        read(&r, 1, 50, &[]),
    ];
    let e = run(
        &CallParams::default(),
        fasta(&[("chr1", &r)]),
        sam_text(&[("chr1", 120)], "", &reads),
    )
    .unwrap_err();
    assert!(e.to_string().contains("chr1:11"), "{e}");
    assert_eq!(
        stage_error(e),
        ("unsorted-input".into(), Some("alignments".into()), Some(3))
    );
    let mut text = sam_text(&[("chr1", 120)], "", &reads[..1]);
    text = String::from_utf8(text)
        .unwrap()
        .replace("SO:coordinate", "SO:queryname")
        .into_bytes();
    let e = run(&CallParams::default(), fasta(&[("chr1", &r)]), text).unwrap_err();
    assert_eq!(stage_error(e).0, "unsorted-input");
}

#[test]
fn malformed_sam_is_named() {
    let r = contig_seq();
    let good = sam_text(
        &[("chr1", 120)],
        "",
        &[read(&r, 0, 50, &[]), read(&r, 1, 50, &[])],
    );
    let good = String::from_utf8(good).unwrap();
    let cases = [
        // CIGAR does not cover SEQ.
        good.replacen("\t50M\t", "\t40M\t", 2)
            .replacen("\t40M\t", "\t50M\t", 1),
        // Too few fields.
        format!("{good}r9\t0\tchr1\n"),
        // Unknown RNAME.
        format!("{good}r9\t0\tchrZ\t5\t60\t4M\t*\t0\t0\tACGT\tIIII\n"),
        // QUAL length differs from SEQ.
        format!("{good}r9\t0\tchr1\t5\t60\t4M\t*\t0\t0\tACGT\tIII\n"),
    ];
    let want_record = [2, 3, 3, 3];
    for (text, want) in cases.iter().zip(want_record) {
        let e = run(
            &CallParams::default(),
            fasta(&[("chr1", &r)]),
            text.clone().into_bytes(),
        )
        .unwrap_err();
        let (kind, port, record) = stage_error(e);
        assert_eq!(
            (kind.as_str(), port.as_deref(), record),
            ("malformed-sam", Some("alignments"), Some(want)),
            "{text}"
        );
    }
}

#[test]
fn bad_reference_and_limits_are_typed() {
    let r = contig_seq();
    let sam = sam_text(&[("chr1", 120)], "", &[read(&r, 0, 50, &[])]);
    let e = run(
        &CallParams::default(),
        b">chr1\nACGX\n".to_vec(),
        sam.clone(),
    )
    .unwrap_err();
    assert_eq!(stage_error(e).0, "invalid-reference");
    let p = CallParams {
        max_input_bytes: 50,
        ..CallParams::default()
    };
    let e = run(&p, fasta(&[("chr1", &r)]), sam.clone()).unwrap_err();
    assert_eq!(stage_error(e).0, "limit-exceeded");
    let p = CallParams {
        max_read_span: 10,
        ..CallParams::default()
    };
    let e = run(&p, fasta(&[("chr1", &r)]), sam).unwrap_err();
    assert_eq!(
        stage_error(e),
        ("limit-exceeded".into(), Some("alignments".into()), Some(1))
    );
}

#[test]
fn snv_inside_a_deletion_is_not_called() {
    let r = contig_seq();
    // Eight reads delete 60..62; two others show a mismatch at 61.
    let mut reads: Vec<Read> = (0..8)
        .map(|i| {
            let start = 10 + i;
            let mut seq = r[start..60].to_vec();
            seq.extend_from_slice(&r[62..start + 80]);
            Read {
                cigar: format!("{}M2D{}M", 60 - start, start + 80 - 62),
                seq,
                ..read(&r, start, 1, &[])
            }
        })
        .collect();
    reads.push(read(&r, 18, 80, &[(61, alt_of(r[61]))]));
    reads.push(read(&r, 19, 80, &[(61, alt_of(r[61]))]));
    let recs = simple(&CallParams::default(), &reads);
    assert!(recs.iter().all(|rec| rec[7].contains("INDEL")), "{recs:?}");
}

#[test]
fn reads_reaching_or_passing_the_contig_end() {
    let r = contig_seq();
    let a = 110;
    let mut reads: Vec<Read> = (0..4)
        .map(|i| read(&r, 90 + i, 30 - i, &[(a, alt_of(r[a]))]))
        .collect();
    // One read runs 10 bases past the end of the 120 bp contig.
    let mut seq = r[95..].to_vec();
    seq[a - 95] = alt_of(r[a]);
    seq.extend_from_slice(b"ACGTACGTAC");
    reads.push(Read {
        cigar: "35M".into(),
        seq,
        ..read(&r, 95, 1, &[])
    });
    let recs = simple(&CallParams::default(), &reads);
    assert_eq!(recs.len(), 1, "{recs:?}");
    assert_eq!(recs[0][1], (a + 1).to_string());
    assert_eq!(recs[0][9], "1:5:0,5");
}
