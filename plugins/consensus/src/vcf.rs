//! VCF records as calls: checked against the reference (contig, REF bases),
//! checked for order, with the first sample's genotype.

use std::io::{self, BufRead};

use noodles_vcf as vcf;
use petri_sdk::genomics::{InputError, Reference, is_nucleotide};

use crate::error::{ConsensusError, VARIANTS};

/// An ALT allele.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Allele {
    /// Upper-case bases.
    Bases(Vec<u8>),
    /// Symbolic (`<DEL>`), breakend, `*` or missing: never applied.
    Unsupported(String),
}

/// One VCF data record.
#[derive(Debug, Clone)]
pub struct Call {
    /// 1-based data record number.
    pub record: u64,
    /// Index of the contig in the reference.
    pub contig: usize,
    /// 1-based POS.
    pub pos: usize,
    /// Upper-case REF bases (equal to the reference there).
    pub reference: Vec<u8>,
    pub alts: Vec<Allele>,
    /// FILTER is PASS or `.`.
    pub pass: bool,
    /// Allele indices of the first sample's GT (`None`: `.`); without samples, `[1]`.
    pub genotype: Vec<Option<usize>>,
}

/// Reads calls in order.
pub struct CallReader<'r> {
    reader: vcf::io::Reader<Box<dyn BufRead>>,
    reference: &'r Reference,
    record: vcf::Record,
    n: u64,
    /// The first sample's name, if any.
    pub sample: Option<String>,
    /// Contigs already finished (seen and left).
    done: Vec<bool>,
    current: Option<(usize, usize)>,
}

impl<'r> CallReader<'r> {
    /// Reads the header.
    pub fn new(
        source: Box<dyn BufRead>,
        reference: &'r Reference,
    ) -> Result<CallReader<'r>, ConsensusError> {
        let mut reader = vcf::io::Reader::new(source);
        let header = reader.read_header().map_err(|e| {
            if e.kind() == io::ErrorKind::InvalidData {
                ConsensusError::vcf(0, format!("invalid VCF header: {e}"))
            } else {
                InputError::from_io(VARIANTS, 0, e).into()
            }
        })?;
        Ok(CallReader {
            reader,
            reference,
            record: vcf::Record::default(),
            n: 0,
            sample: header.sample_names().first().cloned(),
            done: vec![false; reference.contigs.len()],
            current: None,
        })
    }

    /// The next call, or `None` at the end.
    pub fn next_call(&mut self) -> Result<Option<Call>, ConsensusError> {
        let n = self.n + 1;
        let read = self.reader.read_record(&mut self.record).map_err(|e| {
            if e.kind() == io::ErrorKind::InvalidData || e.kind() == io::ErrorKind::UnexpectedEof {
                ConsensusError::vcf(n, format!("not a VCF record: {e}"))
            } else {
                InputError::from_io(VARIANTS, n, e).into()
            }
        })?;
        if read == 0 {
            return Ok(None);
        }
        self.n = n;
        let bad = |m: String| ConsensusError::vcf(n, m);
        let rec = &self.record;
        let chrom = rec.reference_sequence_name();
        let pos = match rec.variant_start() {
            Some(Ok(p)) => usize::from(p),
            Some(Err(e)) => return Err(bad(format!("invalid POS: {e}"))),
            None => return Err(bad("POS is missing or 0".into())),
        };
        let reference_bases = rec.reference_bases().to_ascii_uppercase().into_bytes();
        if reference_bases.is_empty() || !reference_bases.iter().all(|&b| is_nucleotide(b)) {
            return Err(bad(format!(
                "REF `{}` is not a sequence of bases",
                rec.reference_bases()
            )));
        }
        let alts = parse_alts(rec.alternate_bases().as_ref()).map_err(bad)?;
        let filters = rec.filters();
        let filters: &str = filters.as_ref();
        let pass = matches!(filters, "" | "." | "PASS");
        let genotype = if self.sample.is_none() {
            vec![Some(1)]
        } else {
            genotype(rec, alts.len()).map_err(bad)?
        };
        let site = format!("{chrom}:{pos}");
        let Some((contig, seq)) = self.reference.get(chrom) else {
            return Err(ConsensusError::Mismatch {
                record: n,
                message: format!("{site}: contig `{chrom}` is not in the reference"),
            });
        };
        match self.current {
            Some((c, last)) if c == contig => {
                if pos < last {
                    return Err(ConsensusError::Unsorted {
                        record: n,
                        message: format!(
                            "{site} comes after {chrom}:{last}: the VCF is not sorted by position"
                        ),
                    });
                }
            }
            _ => {
                if self.done[contig] {
                    return Err(ConsensusError::Unsorted {
                        record: n,
                        message: format!(
                            "{site}: contig `{chrom}` appears again after other contigs: the VCF is not sorted"
                        ),
                    });
                }
                if let Some((c, _)) = self.current {
                    self.done[c] = true;
                }
            }
        }
        self.current = Some((contig, pos));
        let span = (pos - 1)
            .checked_add(reference_bases.len())
            .and_then(|end| seq.seq.get(pos - 1..end));
        if span != Some(&reference_bases[..]) {
            let found = seq.seq.get(pos - 1..).unwrap_or_default();
            let found = &found[..found.len().min(reference_bases.len())];
            return Err(ConsensusError::Mismatch {
                record: n,
                message: format!(
                    "{site}: REF `{}` does not match the reference `{}`{}",
                    String::from_utf8_lossy(&reference_bases),
                    String::from_utf8_lossy(found),
                    if found.len() < reference_bases.len() {
                        " (past the contig end)"
                    } else {
                        ""
                    }
                ),
            });
        }
        Ok(Some(Call {
            record: n,
            contig,
            pos,
            reference: reference_bases,
            alts,
            pass,
            genotype,
        }))
    }
}

fn parse_alts(field: &str) -> Result<Vec<Allele>, String> {
    if field.is_empty() || field == "." {
        return Ok(Vec::new());
    }
    field
        .split(',')
        .map(|a| {
            let upper = a.to_ascii_uppercase().into_bytes();
            if a.starts_with('<') || a.contains(['[', ']']) || a == "*" || a == "." {
                Ok(Allele::Unsupported(a.to_owned()))
            } else if !upper.is_empty() && upper.iter().all(|&b| is_nucleotide(b)) {
                Ok(Allele::Bases(upper))
            } else {
                Err(format!("ALT `{a}` is not a sequence of bases"))
            }
        })
        .collect()
}

/// The first sample's GT as allele indices; a missing GT is `[None]`.
fn genotype(rec: &vcf::Record, n_alts: usize) -> Result<Vec<Option<usize>>, String> {
    let samples = rec.samples();
    let Some(gt_index) = samples.keys().iter().position(|k| k == "GT") else {
        return Ok(vec![None]);
    };
    let Some(sample) = samples.get_index(0) else {
        return Ok(vec![None]);
    };
    let column: &str = sample.as_ref();
    let Some(gt) = column.split(':').nth(gt_index) else {
        return Ok(vec![None]);
    };
    gt.split(['/', '|'])
        .map(|a| match a {
            "." => Ok(None),
            _ => match a.parse::<usize>() {
                Ok(i) if i <= n_alts => Ok(Some(i)),
                Ok(i) => Err(format!(
                    "GT `{gt}` names allele {i} but there are {n_alts} ALT alleles"
                )),
                Err(_) => Err(format!("GT `{gt}` is not a genotype")),
            },
        })
        .collect()
}
