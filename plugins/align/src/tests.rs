//! End-to-end tests of [`crate::align`] on small synthetic genomes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Cursor;

use crate::sam::revcomp;
use crate::{AlignError, AlignParams, AlignSummary, align};

/// A deterministic pseudo-random genome.
fn genome(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed;
    (0..len)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            b"ACGT"[(x >> 33) as usize % 4]
        })
        .collect()
}

fn fasta(seq: &[u8]) -> Vec<u8> {
    let mut v = b">chr1 test\n".to_vec();
    v.extend_from_slice(seq);
    v.push(b'\n');
    v
}

fn fastq(reads: &[(&str, &[u8])]) -> Vec<u8> {
    let mut v = Vec::new();
    for (name, seq) in reads {
        v.extend_from_slice(format!("@{name}\n").as_bytes());
        v.extend_from_slice(seq);
        v.extend_from_slice(b"\n+\n");
        v.extend(std::iter::repeat_n(b'I', seq.len()));
        v.push(b'\n');
    }
    v
}

fn run(
    p: &AlignParams,
    reference: Vec<u8>,
    reads: Vec<u8>,
    mates: Option<Vec<u8>>,
) -> Result<(Vec<Vec<String>>, String, AlignSummary), AlignError> {
    let mut out = Vec::new();
    let s = align(
        p,
        Cursor::new(reference),
        Cursor::new(reads),
        mates.map(Cursor::new),
        &mut out,
    )?;
    let text = String::from_utf8(out).unwrap();
    let recs = text
        .lines()
        .filter(|l| !l.starts_with('@'))
        .map(|l| l.split('\t').map(str::to_owned).collect())
        .collect();
    Ok((recs, text, s))
}

fn tag<'a>(rec: &'a [String], name: &str) -> Option<&'a str> {
    rec[11..]
        .iter()
        .find(|t| t.starts_with(name))
        .map(|t| &t[5..])
}

/// Aligns one single-end read given forward (and as its reverse complement); returns
/// (POS, FLAG, CIGAR, NM, MD) of both.
fn place(g: &[u8], read: &[u8]) -> Vec<(String, String, String, String, String)> {
    [read.to_vec(), revcomp(read)]
        .into_iter()
        .map(|r| {
            let (recs, _, _) =
                run(&AlignParams::default(), fasta(g), fastq(&[("r", &r)]), None).unwrap();
            let rec = &recs[0];
            (
                rec[3].clone(),
                rec[1].clone(),
                rec[5].clone(),
                tag(rec, "NM").unwrap().to_owned(),
                tag(rec, "MD").unwrap().to_owned(),
            )
        })
        .collect()
}

fn expect_both(
    got: Vec<(String, String, String, String, String)>,
    pos: &str,
    cigar: &str,
    nm: &str,
    md: &str,
) {
    let flags = ["0", "16"];
    for (i, g) in got.into_iter().enumerate() {
        assert_eq!(
            g,
            (
                pos.into(),
                flags[i].into(),
                cigar.into(),
                nm.into(),
                md.into()
            ),
            "strand {i}"
        );
    }
}

#[test]
fn snv_on_both_strands() {
    let g = genome(3000, 1);
    let mut read = g[1000..1100].to_vec();
    let was = read[40];
    read[40] = if was == b'A' { b'C' } else { b'A' };
    let md = format!("40{}59", was as char);
    expect_both(place(&g, &read), "1001", "100M", "1", &md);
}

#[test]
fn insertion_on_both_strands() {
    let g = genome(3000, 2);
    let mut read = g[1000..1050].to_vec();
    read.extend_from_slice(b"TTTGA");
    read.extend_from_slice(&g[1050..1100]);
    let got = place(&g, &read);
    // The inserted bases may shift left only across equal bases; check the event itself.
    for (pos, _, cigar, nm, md) in &got {
        assert_eq!(pos, "1001");
        assert!(cigar.ends_with("5I") || cigar.contains("5I"), "{cigar}");
        assert_eq!(nm, "5");
        assert_eq!(md, "100");
    }
    assert_eq!(got[0].2, got[1].2);
}

#[test]
fn deletion_on_both_strands() {
    let g = genome(3000, 3);
    let mut read = g[2000..2060].to_vec();
    read.extend_from_slice(&g[2064..2120]);
    let got = place(&g, &read);
    for (pos, _, cigar, nm, md) in &got {
        assert_eq!(pos, "2001");
        assert!(cigar.contains("4D"), "{cigar}");
        assert_eq!(nm, "4");
        assert!(md.contains('^'), "{md}");
    }
    assert_eq!(got[0].2, got[1].2);
}

#[test]
fn homopolymer_deletion_is_left_aligned() {
    let mut g = genome(3000, 4);
    // A run of 6 A's at 1500..1506 flanked by non-A bases.
    g[1499] = b'C';
    for b in &mut g[1500..1506] {
        *b = b'A';
    }
    g[1506] = b'G';
    let mut read = g[1440..1503].to_vec(); // deletes one A (1503)
    read.extend_from_slice(&g[1504..1560]);
    // Leftmost placement: the first A of the run (offset 60 in the read).
    expect_both(place(&g, &read), "1441", "60M1D59M", "1", "60^A59");
}

#[test]
fn pairs_are_proper_with_template_length() {
    let g = genome(5000, 5);
    let r1 = g[1000..1100].to_vec();
    let r2 = revcomp(&g[1250..1350]);
    let (recs, text, s) = run(
        &AlignParams::default(),
        fasta(&g),
        fastq(&[("p/1", &r1)]),
        Some(fastq(&[("p/2", &r2)])),
    )
    .unwrap();
    assert!(
        text.starts_with("@HD\tVN:1.6\tSO:coordinate\n@SQ\tSN:chr1\tLN:5000\n"),
        "{text}"
    );
    assert!(text.contains("@RG\tID:rg1\tSM:sample"));
    assert!(text.contains("@PG\tID:petri-align\tPN:petri-align"));
    let a = &recs[0];
    let b = &recs[1];
    assert_eq!(
        (a[0].as_str(), a[1].as_str(), a[3].as_str()),
        ("p", "99", "1001")
    );
    assert_eq!(
        (a[6].as_str(), a[7].as_str(), a[8].as_str()),
        ("=", "1251", "350")
    );
    assert_eq!(
        (b[1].as_str(), b[3].as_str(), b[8].as_str()),
        ("147", "1251", "-350")
    );
    // Reverse-strand records hold the reference-strand bases.
    assert_eq!(b[9].as_bytes(), &g[1250..1350]);
    assert_eq!(tag(a, "RG"), Some("rg1"));
    assert_eq!(s.properly_paired, 2);
    assert_eq!(s.mapped, 2);
}

#[test]
fn unmapped_mate_is_kept_at_its_mates_place() {
    let g = genome(5000, 6);
    let junk = genome(100, 99);
    let r1 = g[3000..3100].to_vec();
    let (recs, _, s) = run(
        &AlignParams::default(),
        fasta(&g),
        fastq(&[("p", &r1), ("q", &junk)]),
        Some(fastq(&[("p", &junk), ("q", &junk)])),
    )
    .unwrap();
    assert_eq!(recs.len(), 4);
    // p/1 mapped, p/2 unmapped at the mate's place, then the unmapped pair q.
    assert_eq!((recs[0][0].as_str(), recs[0][1].as_str()), ("p", "73"));
    assert_eq!((recs[1][0].as_str(), recs[1][1].as_str()), ("p", "133"));
    assert_eq!((recs[1][2].as_str(), recs[1][3].as_str()), ("chr1", "3001"));
    assert_eq!(
        (recs[1][5].as_str(), recs[1][9].as_bytes()),
        ("*", junk.as_slice())
    );
    assert_eq!(
        (
            recs[2][0].as_str(),
            recs[2][1].as_str(),
            recs[2][2].as_str()
        ),
        ("q", "77", "*")
    );
    assert_eq!(recs[3][1], "141");
    assert_eq!((s.mapped, s.unmapped, s.singletons), (1, 3, 1));
}

#[test]
fn repeats_get_mapq_zero() {
    let mut g = genome(4000, 7);
    let copy = g[500..700].to_vec();
    g[2500..2700].copy_from_slice(&copy);
    let (recs, _, _) = run(
        &AlignParams::default(),
        fasta(&g),
        fastq(&[("r", &g[550..650])]),
        None,
    )
    .unwrap();
    assert_eq!(recs[0][4], "0");
    assert_eq!(tag(&recs[0], "XS"), Some("100"));
    let (recs, _, _) = run(
        &AlignParams::default(),
        fasta(&g),
        fastq(&[("r", &g[1550..1650])]),
        None,
    )
    .unwrap();
    assert_eq!(recs[0][4], "60");
}

fn err(p: &AlignParams, reference: Vec<u8>, reads: Vec<u8>, mates: Option<Vec<u8>>) -> AlignError {
    run(p, reference, reads, mates).unwrap_err()
}

#[test]
fn bad_inputs_give_typed_errors() {
    let g = genome(1000, 8);
    let d = AlignParams::default();
    let good = fastq(&[("a", &g[0..50]), ("b", &g[100..150])]);

    let e = err(&d, b">x\nACGT\n>x\nACGT\n".to_vec(), good.clone(), None);
    let se = petri_sdk::StageError::from(e);
    assert_eq!(
        (se.kind.as_str(), se.port.as_deref(), se.record),
        ("invalid-reference", Some("reference"), Some(2))
    );

    let mut bad = good.clone();
    bad.extend_from_slice(b"@c\nAC GT\n+\nIIIII\n");
    let e = err(&d, fasta(&g), bad, None);
    assert!(
        matches!(&e, AlignError::MalformedFastq { port, record: 3, .. } if port == "reads"),
        "{e}"
    );
    let e = err(
        &d,
        fasta(&g),
        good.clone(),
        Some(b"@a\nACGT\n+\nII\n".to_vec()),
    );
    assert!(
        matches!(&e, AlignError::MalformedFastq { port, record: 1, .. } if port == "mates"),
        "{e}"
    );
    let e = err(&d, fasta(&g), b"@a\nACGT\n+\n".to_vec(), None);
    assert_eq!(e.kind(), "malformed-fastq", "{e}");

    let p = AlignParams {
        max_read_length: 40,
        ..AlignParams::default()
    };
    let e = err(&p, fasta(&g), good.clone(), None);
    assert!(
        matches!(&e, AlignError::ReadTooLong { port, record: 1, len: 50, .. } if port == "reads"),
        "{e}"
    );

    let e = err(
        &d,
        fasta(&g),
        good.clone(),
        Some(fastq(&[("a", &g[0..50])])),
    );
    assert!(
        matches!(e, AlignError::MatesOutOfSync { record: 2, .. }),
        "{e}"
    );
    let e = err(
        &d,
        fasta(&g),
        good.clone(),
        Some(fastq(&[("a", &g[0..50]), ("z", &g[0..50])])),
    );
    assert!(
        matches!(e, AlignError::MatesOutOfSync { record: 2, .. }),
        "{e}"
    );
    let se = petri_sdk::StageError::from(e);
    assert_eq!(
        (se.kind.as_str(), se.port.as_deref()),
        ("mates-out-of-sync", Some("mates"))
    );

    let p = AlignParams {
        max_reference_bases: 500,
        ..AlignParams::default()
    };
    let se = petri_sdk::StageError::from(err(&p, fasta(&g), good.clone(), None));
    assert_eq!(se.kind, "limit-exceeded");
    let p = AlignParams {
        max_reads: 1,
        ..AlignParams::default()
    };
    assert_eq!(
        err(&p, fasta(&g), good.clone(), None).kind(),
        "limit-exceeded"
    );
    let p = AlignParams {
        max_input_bytes: 10,
        ..AlignParams::default()
    };
    assert_eq!(err(&p, fasta(&g), good, None).kind(), "limit-exceeded");
}

#[test]
fn output_is_deterministic_and_gzip_is_read() {
    let g = genome(4000, 9);
    let reads: Vec<(String, Vec<u8>)> = (0..50)
        .map(|i| {
            (
                format!("r{i}"),
                if i % 2 == 0 {
                    g[i * 60..i * 60 + 90].to_vec()
                } else {
                    revcomp(&g[i * 60..i * 60 + 90])
                },
            )
        })
        .collect();
    let refs: Vec<(&str, &[u8])> = reads
        .iter()
        .map(|(n, s)| (n.as_str(), s.as_slice()))
        .collect();
    let text = fastq(&refs);
    let gz = flate2_free_gzip(&text);
    let (_, a, s) = run(&AlignParams::default(), fasta(&g), text, None).unwrap();
    let (_, b, _) = run(&AlignParams::default(), fasta(&g), gz, None).unwrap();
    assert_eq!(a, b);
    assert_eq!(s.mapped, 50);
}

/// A gzip member holding `data` in stored (uncompressed) deflate blocks.
fn flate2_free_gzip(data: &[u8]) -> Vec<u8> {
    let mut v = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];
    let chunks: Vec<&[u8]> = data.chunks(65535).collect();
    for (i, c) in chunks.iter().enumerate() {
        v.push(u8::from(i + 1 == chunks.len()));
        let len = c.len() as u16;
        v.extend_from_slice(&len.to_le_bytes());
        v.extend_from_slice(&(!len).to_le_bytes());
        v.extend_from_slice(c);
    }
    v.extend_from_slice(&crc32(data).to_le_bytes());
    v.extend_from_slice(&(data.len() as u32).to_le_bytes());
    v
}

fn crc32(data: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in data {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0xEDB8_8320
            } else {
                c >> 1
            };
        }
    }
    !c
}

#[test]
fn manifest_matches_params() {
    use petri_sdk::Stage;
    let m = crate::Align::manifest();
    assert_eq!(m.name, "align");
    let json = serde_json::to_value(AlignParams::default()).unwrap();
    let fields = json.as_object().unwrap();
    assert_eq!(m.params.len(), fields.len());
    for p in &m.params {
        assert!(fields.contains_key(&p.name), "{}", p.name);
        assert!(!p.doc.is_empty());
    }
}
