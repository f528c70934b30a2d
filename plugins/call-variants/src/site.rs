//! Calling one pileup column: the best-supported SNV and the best-supported
//! indel anchored there are each genotyped against the reference allele and
//! become a [`Call`] when a non-reference genotype is the most probable.

use crate::model::{Genotype, Likelihoods, Obs, genotype};
use crate::params::Ploidy;
use crate::pileup::{Column, Indel, base_code};

const BASES: &[u8; 4] = b"ACGT";

/// One variant record, before it is written as VCF.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// 0-based position of the first REF base.
    pub pos: u64,
    pub reference: Vec<u8>,
    pub alt: Vec<u8>,
    pub qual: f64,
    pub genotype: Genotype,
    /// Reads covering the site (SNV) or spanning the anchor junction (indel).
    pub depth: u32,
    /// Observations of the reference and the alt allele.
    pub ad: [u32; 2],
    /// Alt observations over all observations at the site.
    pub af: f64,
    pub indel: bool,
    pub low_qual: bool,
    pub low_depth: bool,
}

/// Settings of the genotype model and the filters.
#[derive(Debug, Clone, Copy)]
pub struct SiteSettings {
    pub ploidy: Ploidy,
    pub prior: f64,
    pub min_qual: f64,
    pub min_depth: u32,
}

fn likelihoods(r: &Obs, a: &Obs, other_mismatched: f64) -> Likelihoods {
    Likelihoods {
        hom_ref: r.matched + a.mismatched + other_mismatched,
        het: r.het + a.het + other_mismatched,
        hom_alt: r.mismatched + a.matched + other_mismatched,
    }
}

fn fraction(alt: u32, total: u32) -> f64 {
    if total == 0 {
        0.0
    } else {
        f64::from(alt) / f64::from(total)
    }
}

/// The SNV call at `pos`, if any.
pub fn call_snv(pos: u64, col: &Column, reference: &[u8], s: &SiteSettings) -> Option<Call> {
    let r = base_code(reference[pos as usize]);
    if r == 4 {
        return None;
    }
    // Most observations first; ties go to the higher summed quality, then to ACGT order.
    let mut alt: Option<usize> = None;
    for b in (0..4).filter(|&b| b != r && col.bases[b].n > 0) {
        let better = alt.is_none_or(|a| {
            let (x, y) = (&col.bases[b], &col.bases[a]);
            x.n > y.n || (x.n == y.n && x.matched - x.mismatched > y.matched - y.mismatched)
        });
        if better {
            alt = Some(b);
        }
    }
    let a = alt?;
    let others: f64 = (0..4)
        .filter(|&b| b != r && b != a)
        .map(|b| col.bases[b].mismatched)
        .sum();
    // Reads with a deletion here speak against the SNV: they count with the reference.
    let mut not_alt = col.bases[r];
    not_alt.add(&col.gap);
    let l = likelihoods(&not_alt, &col.bases[a], others);
    let (gt, qual) = genotype(&l, s.ploidy, s.prior)?;
    let total: u32 = col.bases.iter().map(|o| o.n).sum::<u32>() + col.gap.n;
    let ad = [col.bases[r].n, col.bases[a].n];
    Some(Call {
        pos,
        reference: vec![BASES[r]],
        alt: vec![BASES[a]],
        qual,
        genotype: gt,
        depth: col.depth,
        ad,
        af: fraction(ad[1], total),
        indel: false,
        low_qual: qual < s.min_qual,
        low_depth: col.depth < s.min_depth,
    })
}

/// The indel call anchored at `pos`, if any.
pub fn call_indel(pos: u64, col: &Column, reference: &[u8], s: &SiteSettings) -> Option<Call> {
    // Most reads first; ties go to the first in `Indel` order (shorter deletions first).
    let mut best: Option<usize> = None;
    for (i, e) in col.events.iter().enumerate() {
        let better = best.is_none_or(|b| {
            let o = &col.events[b];
            e.obs.n > o.obs.n || (e.obs.n == o.obs.n && e.indel < o.indel)
        });
        if better {
            best = Some(i);
        }
    }
    let event = &col.events[best?];
    let mut all = Obs::default();
    let mut others = 0.0;
    for (i, e) in col.events.iter().enumerate() {
        all.add(&e.obs);
        if Some(i) != best {
            others += e.obs.mismatched;
        }
    }
    let ref_obs = col.junction.minus(&all);
    let l = likelihoods(&ref_obs, &event.obs, others);
    let (gt, qual) = genotype(&l, s.ploidy, s.prior)?;
    let p = pos as usize;
    let (reference_allele, alt) = match &event.indel {
        Indel::Del(n) => (reference[p..=p + *n as usize].to_vec(), vec![reference[p]]),
        Indel::Ins(seq) => {
            let mut alt = vec![reference[p]];
            alt.extend_from_slice(seq);
            (vec![reference[p]], alt)
        }
    };
    let depth = col.junction.n.max(all.n);
    Some(Call {
        pos,
        reference: reference_allele,
        alt,
        qual,
        genotype: gt,
        depth,
        ad: [ref_obs.n, event.obs.n],
        af: fraction(event.obs.n, depth),
        indel: true,
        low_qual: qual < s.min_qual,
        low_depth: depth < s.min_depth,
    })
}
