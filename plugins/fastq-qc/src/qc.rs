//! The QC pass: read (pairs of) records, trim, filter, write, and summarise.

use std::io::{Read, Write};

use petri_sdk::genomics::InputError;

use crate::QcError;
use crate::fastq::{FastqReader, ReadLimits, Record};
use crate::summary::Summary;
use crate::trim::{find_adapter, quality_trim_3p, quality_trim_5p};

/// QC settings (the stage's params).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct QcParams {
    pub quality_cutoff: i64,
    pub leading_quality_cutoff: i64,
    pub min_length: i64,
    pub max_n_fraction: f64,
    pub adapter: String,
    pub adapter_min_overlap: i64,
    pub adapter_max_error_rate: f64,
    pub max_read_length: i64,
    pub max_input_bytes: i64,
}

impl Default for QcParams {
    fn default() -> QcParams {
        QcParams {
            quality_cutoff: 20,
            leading_quality_cutoff: 0,
            min_length: 30,
            max_n_fraction: 0.1,
            adapter: String::new(),
            adapter_min_overlap: 3,
            adapter_max_error_rate: 0.1,
            max_read_length: 1_000_000,
            max_input_bytes: 64 << 30,
        }
    }
}

impl QcParams {
    fn limits(&self) -> ReadLimits {
        ReadLimits {
            max_line: self.max_read_length.max(1) as usize,
            max_bytes: self.max_input_bytes.max(0) as u64,
        }
    }
}

/// Trims one record in place; returns whether it passes the filters.
fn trim_and_check(rec: &mut Record, p: &QcParams, adapter: &[u8], summary: &mut Summary) -> bool {
    let f = &mut summary.filtering;
    if let Some(at) = find_adapter(
        &rec.seq,
        adapter,
        p.adapter_min_overlap as usize,
        p.adapter_max_error_rate,
    ) {
        f.adapter_trimmed_reads += 1;
        f.adapter_trimmed_bases += (rec.seq.len() - at) as u64;
        rec.seq.truncate(at);
        rec.qual.truncate(at);
    }
    let end = quality_trim_3p(&rec.qual, p.quality_cutoff as u8);
    let start = quality_trim_5p(&rec.qual[..end], p.leading_quality_cutoff as u8);
    f.quality_trimmed_bases += (rec.seq.len() - (end - start)) as u64;
    rec.seq.truncate(end);
    rec.qual.truncate(end);
    rec.seq.drain(..start);
    rec.qual.drain(..start);
    if (rec.seq.len() as i64) < p.min_length {
        f.too_short += 1;
        return false;
    }
    let n = rec.seq.iter().filter(|&&b| b == b'N').count();
    if n as f64 > p.max_n_fraction * rec.seq.len() as f64 {
        f.too_many_n += 1;
        return false;
    }
    true
}

fn write_record(out: &mut impl Write, rec: &Record, port: &str) -> Result<(), QcError> {
    let w = |e| QcError::from(InputError::from_io(port, 0, e));
    out.write_all(b"@").map_err(w)?;
    out.write_all(&rec.header).map_err(w)?;
    out.write_all(b"\n").map_err(w)?;
    out.write_all(&rec.seq).map_err(w)?;
    out.write_all(b"\n+\n").map_err(w)?;
    out.write_all(&rec.qual).map_err(w)?;
    out.write_all(b"\n").map_err(w)
}

/// Runs QC over `reads` (and their `mates`, if paired), writing kept records.
/// With pairs, a pair is kept only if both mates pass, so outputs stay in sync.
pub fn run_qc<R1, R2, W1, W2>(
    p: &QcParams,
    reads: R1,
    mates: Option<R2>,
    mut out: W1,
    mut out_mates: Option<W2>,
    mut on_progress: impl FnMut(u64),
) -> Result<Summary, QcError>
where
    R1: Read + 'static,
    R2: Read + 'static,
    W1: Write,
    W2: Write,
{
    let adapter = p.adapter.trim().to_ascii_uppercase().into_bytes();
    let mut summary = Summary {
        paired: mates.is_some(),
        ..Summary::default()
    };
    let mut r1 = FastqReader::new(reads, "reads", p.limits())?;
    let mut r2 = match mates {
        Some(m) => Some(FastqReader::new(m, "mates", p.limits())?),
        None => None,
    };
    let (mut a, mut b) = (Record::default(), Record::default());
    loop {
        let more = r1.next_record(&mut a)?;
        let more_mates = match &mut r2 {
            Some(r2) => Some(r2.next_record(&mut b)?),
            None => None,
        };
        match (more, more_mates) {
            (false, None | Some(false)) => break,
            (true, Some(false)) | (false, Some(true)) => {
                return Err(QcError::OutOfSync {
                    record: r1
                        .record_number()
                        .max(r2.as_ref().map_or(0, |r| r.record_number())),
                    message: "one mate file has more records than the other".into(),
                });
            }
            _ => {}
        }
        summary.before.add(&a.seq, &a.qual);
        let keep_a = trim_and_check(&mut a, p, &adapter, &mut summary);
        let mut keep = keep_a;
        if r2.is_some() {
            if a.name() != b.name() {
                return Err(QcError::OutOfSync {
                    record: r1.record_number(),
                    message: format!(
                        "read `{}` is paired with mate `{}`",
                        String::from_utf8_lossy(a.name()),
                        String::from_utf8_lossy(b.name())
                    ),
                });
            }
            summary.pairs_in += 1;
            summary.before.add(&b.seq, &b.qual);
            keep &= trim_and_check(&mut b, p, &adapter, &mut summary);
        }
        if keep {
            summary.after.add(&a.seq, &a.qual);
            write_record(&mut out, &a, "trimmed")?;
            if let Some(om) = &mut out_mates {
                summary.pairs_out += 1;
                summary.after.add(&b.seq, &b.qual);
                write_record(om, &b, "trimmed-mates")?;
            }
        }
        if r1.record_number() % 10_000 == 0 {
            on_progress(r1.record_number());
        }
    }
    summary.before.finish();
    summary.after.finish();
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fq(records: &[(&str, &str, &str)]) -> Vec<u8> {
        records
            .iter()
            .flat_map(|(n, s, q)| format!("@{n}\n{s}\n+\n{q}\n").into_bytes())
            .collect()
    }

    fn run(
        p: &QcParams,
        r1: Vec<u8>,
        r2: Option<Vec<u8>>,
    ) -> Result<(Summary, String, String), QcError> {
        let (mut o1, mut o2) = (Vec::new(), Vec::new());
        let paired = r2.is_some();
        let s = run_qc(
            p,
            std::io::Cursor::new(r1),
            r2.map(std::io::Cursor::new),
            &mut o1,
            paired.then_some(&mut o2),
            |_| {},
        )?;
        Ok((
            s,
            String::from_utf8(o1).unwrap(),
            String::from_utf8(o2).unwrap(),
        ))
    }

    #[test]
    fn trims_filters_and_counts() {
        let p = QcParams {
            min_length: 4,
            ..QcParams::default()
        };
        let input = fq(&[
            ("good", "ACGTACGT", "IIIIIIII"),
            ("tail", "ACGTACGT", "IIIII###"),
            ("short", "ACGTACGT", "II######"),
            ("nnn", "ANNNNCGT", "IIIIIIII"),
        ]);
        let (s, out, _) = run(&p, input, None).unwrap();
        assert_eq!(
            out,
            "@good\nACGTACGT\n+\nIIIIIIII\n@tail\nACGTA\n+\nIIIII\n"
        );
        assert_eq!((s.before.reads, s.before.bases), (4, 32));
        assert_eq!((s.after.reads, s.after.bases), (2, 13));
        assert_eq!((s.filtering.too_short, s.filtering.too_many_n), (1, 1));
        assert_eq!(s.after.mean_quality, 40.0);
        assert_eq!(s.after.length_distribution.get(&5), Some(&1));
    }

    #[test]
    fn pairs_stay_in_sync() {
        let p = QcParams {
            min_length: 4,
            ..QcParams::default()
        };
        let r1 = fq(&[
            ("a/1", "ACGTACGT", "IIIIIIII"),
            ("b/1", "ACGTACGT", "IIIIIIII"),
        ]);
        let r2 = fq(&[
            ("a/2", "ACGTACGT", "II######"),
            ("b/2", "ACGTACGT", "IIIIIIII"),
        ]);
        let (s, o1, o2) = run(&p, r1, Some(r2)).unwrap();
        assert_eq!((s.pairs_in, s.pairs_out), (2, 1));
        assert!(o1.starts_with("@b/1") && o2.starts_with("@b/2"));
        let bad = fq(&[("x/2", "ACGT", "IIII")]);
        let r1 = fq(&[("a/1", "ACGT", "IIII")]);
        assert!(matches!(
            run(&p, r1, Some(bad)),
            Err(QcError::OutOfSync { record: 1, .. })
        ));
    }

    #[test]
    fn adapter_is_removed_before_quality_trimming() {
        let p = QcParams {
            min_length: 1,
            adapter: "AGATCGGAAGAGC".into(),
            ..QcParams::default()
        };
        let (s, out, _) = run(&p, fq(&[("r", "ACGTAGATCGGAAG", "IIIIIIIIIIIIII")]), None).unwrap();
        assert_eq!(out, "@r\nACGT\n+\nIIII\n");
        assert_eq!(s.filtering.adapter_trimmed_reads, 1);
    }
}
