//! Which calls change the sequence, and how: genotype and FILTER rules,
//! masking, and overlaps resolved like `bcftools consensus` (first wins).

use serde::Serialize;

use crate::iupac;
use crate::params::Heterozygous;
use crate::vcf::{Allele, Call};

/// A replacement of reference bases `start..end` (0-based) by `bases`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    pub start: usize,
    pub end: usize,
    pub bases: Vec<u8>,
}

/// What happened to the calls.
#[derive(Debug, Default, Clone, Serialize)]
pub struct CallCounts {
    pub records: u64,
    pub applied: u64,
    pub applied_snvs: u64,
    pub applied_mnps: u64,
    pub applied_insertions: u64,
    pub applied_deletions: u64,
    /// Length-changing replacements that are neither pure insertions nor deletions.
    pub applied_complex: u64,
    /// Heterozygous SNVs written as IUPAC codes.
    pub applied_iupac: u64,
    pub skipped_filter: u64,
    /// GT is reference-only or missing (or there is no ALT).
    pub skipped_genotype: u64,
    pub skipped_heterozygous: u64,
    /// Overlapping an earlier applied variant.
    pub skipped_overlap: u64,
    /// REF span touches a masked position.
    pub skipped_masked: u64,
    /// Symbolic, breakend or `*` alleles.
    pub skipped_unsupported: u64,
    /// ALT equal to REF.
    pub skipped_no_change: u64,
}

/// Applies calls of one contig at a time, in order.
#[derive(Debug)]
pub struct Applier {
    heterozygous: Heterozygous,
    pub counts: CallCounts,
    /// Per reference contig, the accepted edits in order.
    pub edits: Vec<Vec<Edit>>,
    /// Last reference position (1-based) covered by the last applied call of
    /// the current contig, and whether that call was an insertion.
    frozen: Option<(usize, usize, bool)>,
}

/// The allele to write for `call`, or why there is none.
enum Choice {
    Alt(Vec<u8>),
    Iupac(u8),
    Skip(fn(&mut CallCounts) -> &mut u64),
}

impl Applier {
    pub fn new(contigs: usize, heterozygous: Heterozygous) -> Applier {
        Applier {
            heterozygous,
            counts: CallCounts::default(),
            edits: vec![Vec::new(); contigs],
            frozen: None,
        }
    }

    fn choose(&self, call: &Call) -> Choice {
        let gt = &call.genotype;
        if call.alts.is_empty()
            || gt.iter().any(Option::is_none)
            || gt.iter().all(|&a| a == Some(0))
        {
            return Choice::Skip(|c| &mut c.skipped_genotype);
        }
        let alleles: Vec<usize> = gt.iter().flatten().copied().collect();
        let first_alt = alleles.iter().copied().find(|&a| a > 0).unwrap_or(1);
        let bases = |i: usize| -> Option<&[u8]> {
            if i == 0 {
                return Some(&call.reference);
            }
            match call.alts.get(i - 1) {
                Some(Allele::Bases(b)) => Some(b),
                _ => None,
            }
        };
        let homozygous = alleles.iter().all(|&a| a == alleles[0]);
        if !homozygous {
            match self.heterozygous {
                Heterozygous::Skip => return Choice::Skip(|c| &mut c.skipped_heterozygous),
                Heterozygous::Alt => {}
                Heterozygous::Iupac => {
                    let snv_bases: Option<Vec<u8>> = alleles
                        .iter()
                        .map(|&a| bases(a).filter(|b| b.len() == 1).map(|b| b[0]))
                        .collect();
                    return match snv_bases {
                        Some(b) if call.reference.len() == 1 => Choice::Iupac(iupac::ambiguity(b)),
                        _ => Choice::Skip(|c| &mut c.skipped_heterozygous),
                    };
                }
            }
        }
        match bases(first_alt) {
            Some(b) if b == call.reference.as_slice() => Choice::Skip(|c| &mut c.skipped_no_change),
            Some(b) => Choice::Alt(b.to_vec()),
            None => Choice::Skip(|c| &mut c.skipped_unsupported),
        }
    }

    /// Considers one call (calls arrive sorted); `masked` is the mask of its contig.
    pub fn add(&mut self, call: &Call, masked: &[bool]) {
        self.counts.records += 1;
        if !call.pass {
            self.counts.skipped_filter += 1;
            return;
        }
        let (alt, iupac) = match self.choose(call) {
            Choice::Skip(counter) => {
                *counter(&mut self.counts) += 1;
                return;
            }
            Choice::Alt(b) => (b, false),
            Choice::Iupac(code) => (vec![code], true),
        };
        if alt == call.reference {
            self.counts.skipped_no_change += 1;
            return;
        }
        let (start, end) = (call.pos - 1, call.pos - 1 + call.reference.len());
        if masked[start..end].iter().any(|&m| m) {
            self.counts.skipped_masked += 1;
            return;
        }
        let r = &call.reference;
        let indel = alt.len() != r.len();
        // Like bcftools: an indel whose first base is the REF's first base is
        // anchored there; only the bases after the anchor change.
        let anchored = indel && alt[0] == r[0];
        if let Some((contig, frozen, prev_insertion)) = self.frozen
            && contig == call.contig
            && call.pos <= frozen
        {
            // bcftools allows an anchored indel right on the last base of the
            // previous variant, unless that one was an insertion.
            let allowed = call.pos == frozen && anchored && !prev_insertion;
            if !allowed {
                self.counts.skipped_overlap += 1;
                return;
            }
        }
        let edit = if anchored {
            Edit {
                start: start + 1,
                end,
                bases: alt[1..].to_vec(),
            }
        } else {
            Edit {
                start,
                end,
                bases: alt.clone(),
            }
        };
        let edits = &mut self.edits[call.contig];
        if edits.last().is_some_and(|e| e.end > edit.start) {
            self.counts.skipped_overlap += 1;
            return;
        }
        let c = &mut self.counts;
        c.applied += 1;
        if iupac {
            c.applied_iupac += 1;
        } else if !indel {
            if alt.len() == 1 {
                c.applied_snvs += 1
            } else {
                c.applied_mnps += 1
            }
        } else if anchored && alt.len() > r.len() && alt.starts_with(r) {
            c.applied_insertions += 1;
        } else if anchored && alt.len() < r.len() && r.starts_with(&alt) {
            c.applied_deletions += 1;
        } else {
            c.applied_complex += 1;
        }
        edits.push(edit);
        self.frozen = Some((call.contig, end, alt.len() > r.len()));
    }
}
