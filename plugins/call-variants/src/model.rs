//! The genotype model: log-likelihood contributions of single observations
//! (bases by base quality, indels by a fixed indel quality, both capped by
//! mapping quality), genotype posteriors under a haploid or diploid prior, and
//! QUAL. `exp` and `ln` are computed here with basic IEEE operations only, so
//! wasm and native builds produce bit-identical numbers.

use crate::params::Ploidy;

const LN_2: f64 = std::f64::consts::LN_2;
const LN_10: f64 = std::f64::consts::LN_10;
const SQRT_2: f64 = std::f64::consts::SQRT_2;
/// Highest QUAL written.
pub const MAX_QUAL: f64 = 999.0;
/// Highest error probability used: at 0.75 an observation carries no information.
const MAX_ERROR: f64 = 0.75;

/// Natural logarithm of `x > 0` (`-inf` for 0), by range reduction to
/// [√½, √2] and the atanh series.
pub fn det_ln(x: f64) -> f64 {
    if x.is_nan() || x <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if x.is_infinite() {
        return x;
    }
    let bits = x.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i64;
    if biased == 0 {
        // Subnormal: scale by 2^54 first.
        return det_ln(x * 18_014_398_509_481_984.0) - 54.0 * LN_2;
    }
    let mut k = biased - 1023;
    let mut m = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | (1023u64 << 52));
    if m > SQRT_2 {
        m *= 0.5;
        k += 1;
    }
    let z = (m - 1.0) / (m + 1.0);
    let z2 = z * z;
    let mut term = z;
    let mut sum = 0.0;
    for n in 0..16 {
        sum += term / f64::from(2 * n + 1);
        term *= z2;
    }
    k as f64 * LN_2 + 2.0 * sum
}

/// e^x, by range reduction to |r| ≤ ln2/2 and the Taylor series.
pub fn det_exp(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    if x < -745.2 {
        return 0.0;
    }
    if x > 709.7 {
        return f64::INFINITY;
    }
    // ln 2 split in a high part with trailing zero bits and a low part (fdlibm).
    const LN2_HI: f64 = 6.931_471_803_691_238e-1;
    const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
    let k = (x / LN_2).round();
    let r = (x - k * LN2_HI) - k * LN2_LO;
    let mut term = 1.0;
    let mut sum = 1.0;
    for n in 1..=20 {
        term *= r / f64::from(n);
        sum += term;
    }
    // 2^k in two factors, each a normal number (k is within [-1075, 1024]).
    let k = k as i64;
    let k1 = k / 2;
    let pow2 = |e: i64| f64::from_bits(((e + 1023) as u64) << 52);
    sum * pow2(k1) * pow2(k - k1)
}

/// ln(e^a + e^b).
fn log_add(a: f64, b: f64) -> f64 {
    let (hi, lo) = if a >= b { (a, b) } else { (b, a) };
    if lo == f64::NEG_INFINITY {
        return hi;
    }
    hi + det_ln(1.0 + det_exp(lo - hi))
}

/// The summed log-likelihoods of a set of observations of one allele.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Obs {
    /// Number of observations.
    pub n: u32,
    /// Σ ln P(obs | the allele observed is the true one).
    pub matched: f64,
    /// Σ ln P(obs | another allele is the true one).
    pub mismatched: f64,
    /// Σ ln P(obs | heterozygous genotype of the observed and another allele).
    pub het: f64,
}

impl Obs {
    pub fn add(&mut self, o: &Obs) {
        self.n += o.n;
        self.matched += o.matched;
        self.mismatched += o.mismatched;
        self.het += o.het;
    }

    /// `self` less `o`, clamped at no observations.
    pub fn minus(&self, o: &Obs) -> Obs {
        if o.n >= self.n {
            return Obs::default();
        }
        Obs {
            n: self.n - o.n,
            matched: self.matched - o.matched,
            mismatched: self.mismatched - o.mismatched,
            het: self.het - o.het,
        }
    }
}

/// Highest phred value in the tables.
pub const MAX_PHRED: usize = 99;

/// One observation's [`Obs`] for each phred value 0..=99.
#[derive(Debug, Clone)]
pub struct Tables {
    /// A base: mismatches spread over three other bases.
    pub base: Vec<Obs>,
    /// An indel event (or its absence): a single alternative.
    pub indel: Vec<Obs>,
}

impl Default for Tables {
    fn default() -> Tables {
        Tables::new()
    }
}

impl Tables {
    pub fn new() -> Tables {
        let ln_half = det_ln(0.5);
        let mut base = Vec::with_capacity(MAX_PHRED + 1);
        let mut indel = Vec::with_capacity(MAX_PHRED + 1);
        for q in 0..=MAX_PHRED {
            let e = det_exp(-(q as f64) * LN_10 / 10.0).min(MAX_ERROR);
            base.push(Obs {
                n: 1,
                matched: det_ln(1.0 - e),
                mismatched: det_ln(e / 3.0),
                het: det_ln((1.0 - e) / 2.0 + e / 6.0),
            });
            indel.push(Obs {
                n: 1,
                matched: det_ln(1.0 - e),
                mismatched: det_ln(e),
                het: ln_half,
            });
        }
        Tables { base, indel }
    }
}

/// Log-likelihoods of the data at a site under each genotype.
#[derive(Debug, Clone, Copy)]
pub struct Likelihoods {
    pub hom_ref: f64,
    pub het: f64,
    pub hom_alt: f64,
}

/// The called (non-reference) genotype.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Genotype {
    /// Haploid alt: `1`.
    Alt,
    /// Diploid `0/1`.
    Het,
    /// Diploid `1/1`.
    HomAlt,
}

impl Genotype {
    pub fn as_str(self) -> &'static str {
        match self {
            Genotype::Alt => "1",
            Genotype::Het => "0/1",
            Genotype::HomAlt => "1/1",
        }
    }
}

/// The genotype of highest posterior and QUAL (phred-scaled posterior
/// probability of no variant, capped at [`MAX_QUAL`] and rounded to 0.01);
/// `None` when the reference genotype is the most probable.
pub fn genotype(l: &Likelihoods, ploidy: Ploidy, prior: f64) -> Option<(Genotype, f64)> {
    let prior = prior.clamp(1e-12, 0.5);
    let mut options: Vec<(Option<Genotype>, f64)> = match ploidy {
        Ploidy::Haploid => vec![
            (None, det_ln(1.0 - prior) + l.hom_ref),
            (Some(Genotype::Alt), det_ln(prior) + l.hom_alt),
        ],
        Ploidy::Diploid => vec![
            (None, det_ln(1.0 - 1.5 * prior) + l.hom_ref),
            (Some(Genotype::Het), det_ln(prior) + l.het),
            (Some(Genotype::HomAlt), det_ln(prior / 2.0) + l.hom_alt),
        ],
    };
    let total = options
        .iter()
        .fold(f64::NEG_INFINITY, |acc, (_, lp)| log_add(acc, *lp));
    let ref_posterior = options[0].1 - total;
    // The first best wins ties, so the reference is preferred.
    let mut best = 0;
    for (i, o) in options.iter().enumerate() {
        if o.1 > options[best].1 {
            best = i;
        }
    }
    let gt = options.swap_remove(best).0?;
    let qual = (-10.0 / LN_10 * ref_posterior).clamp(0.0, MAX_QUAL);
    Some((gt, (qual * 100.0).round() / 100.0))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn deterministic_math_is_accurate() {
        for &x in &[
            1e-300, 1e-10, 0.001, 0.5, 0.75, 1.0, 2.0, 3.0, 10.0, 12345.678, 1e300,
        ] {
            let got = det_ln(x);
            let want = f64::ln(x);
            assert!(
                (got - want).abs() <= 1e-14 * want.abs().max(1.0),
                "ln {x}: {got} vs {want}"
            );
        }
        for &x in &[-700.0, -50.0, -1.0, -0.1, 0.0, 0.3, 1.0, 20.0, 700.0] {
            let got = det_exp(x);
            let want = f64::exp(x);
            assert!(
                (got - want).abs() <= 1e-14 * want,
                "exp {x}: {got} vs {want}"
            );
        }
        assert_eq!(det_exp(-800.0), 0.0);
        assert_eq!(det_ln(0.0), f64::NEG_INFINITY);
    }

    #[test]
    fn genotypes_follow_the_evidence() {
        let t = Tables::new();
        let obs = |n: u32, q: usize| {
            let mut o = Obs::default();
            for _ in 0..n {
                o.add(&t.base[q]);
            }
            o
        };
        // 10 alt and 0 ref bases at Q30.
        let (a, r) = (obs(10, 30), obs(0, 30));
        let l = Likelihoods {
            hom_ref: r.matched + a.mismatched,
            het: r.het + a.het,
            hom_alt: r.mismatched + a.matched,
        };
        let (gt, q) = genotype(&l, Ploidy::Haploid, 1.1e-3).unwrap();
        assert_eq!(gt, Genotype::Alt);
        assert!(q > 100.0);
        assert_eq!(
            genotype(&l, Ploidy::Diploid, 1.1e-3).unwrap().0,
            Genotype::HomAlt
        );
        // 5 alt and 5 ref: het in diploid, no call or weak in haploid.
        let (a, r) = (obs(5, 30), obs(5, 30));
        let l = Likelihoods {
            hom_ref: r.matched + a.mismatched,
            het: r.het + a.het,
            hom_alt: r.mismatched + a.matched,
        };
        assert_eq!(
            genotype(&l, Ploidy::Diploid, 1.1e-3).unwrap().0,
            Genotype::Het
        );
        assert!(genotype(&l, Ploidy::Haploid, 1.1e-3).is_none());
    }
}
