//! A k-mer index of the reference: every k-mer (2-bit packed) with its positions, sorted,
//! with a prefix table so a lookup is one short binary search.

use petri_sdk::genomics::Reference;

/// 2-bit code of a base; 4 for anything that is not A/C/G/T.
pub fn code(b: u8) -> u8 {
    match b {
        b'A' => 0,
        b'C' => 1,
        b'G' => 2,
        b'T' | b'U' => 3,
        _ => 4,
    }
}

/// Sorted k-mers of the forward strand of every contig.
pub struct KmerIndex {
    k: usize,
    /// Bits of the prefix used by `buckets` (2 per base).
    prefix_shift: u32,
    /// `buckets[p]..buckets[p + 1]` is the range of entries whose k-mer has prefix `p`.
    buckets: Vec<u32>,
    kmers: Vec<u64>,
    /// Global positions (contig start offset + position in the contig).
    positions: Vec<u32>,
    /// Global start offset of each contig, plus the total length at the end.
    starts: Vec<u64>,
}

/// Calls `f(i, kmer)` for every k-mer of `codes` without an ambiguous base, `i` its start.
pub fn for_each_kmer(codes: &[u8], k: usize, mut f: impl FnMut(usize, u64)) {
    let mask = if k >= 32 {
        u64::MAX
    } else {
        (1u64 << (2 * k)) - 1
    };
    let mut kmer = 0u64;
    let mut valid = 0usize;
    for (i, &c) in codes.iter().enumerate() {
        if c > 3 {
            valid = 0;
            kmer = 0;
            continue;
        }
        kmer = ((kmer << 2) | u64::from(c)) & mask;
        valid += 1;
        if valid >= k {
            f(i + 1 - k, kmer);
        }
    }
}

impl KmerIndex {
    /// Indexes `reference` with seeds of length `k` (≤ 31). Positions are `u32`, so the
    /// reference must be shorter than 4 Gb (the stage caps it far lower).
    pub fn build(reference: &Reference, k: usize) -> KmerIndex {
        let mut pairs: Vec<(u64, u32)> = Vec::new();
        let mut starts = Vec::with_capacity(reference.contigs.len() + 1);
        let mut offset = 0u64;
        for contig in &reference.contigs {
            starts.push(offset);
            let codes: Vec<u8> = contig.seq.iter().map(|&b| code(b)).collect();
            for_each_kmer(&codes, k, |i, kmer| {
                pairs.push((kmer, (offset + i as u64) as u32))
            });
            offset += contig.seq.len() as u64;
        }
        starts.push(offset);
        pairs.sort_unstable();
        let prefix_bases = k.min(10);
        let prefix_shift = 2 * (k - prefix_bases) as u32;
        let mut buckets = vec![0u32; (1usize << (2 * prefix_bases)) + 1];
        for &(kmer, _) in &pairs {
            buckets[(kmer >> prefix_shift) as usize + 1] += 1;
        }
        for i in 1..buckets.len() {
            buckets[i] += buckets[i - 1];
        }
        let (kmers, positions) = pairs.into_iter().unzip();
        KmerIndex {
            k,
            prefix_shift,
            buckets,
            kmers,
            positions,
            starts,
        }
    }

    /// The seed length.
    pub fn k(&self) -> usize {
        self.k
    }

    /// Global positions of `kmer` in the reference, ascending.
    pub fn lookup(&self, kmer: u64) -> &[u32] {
        let p = (kmer >> self.prefix_shift) as usize;
        let (lo, hi) = (self.buckets[p] as usize, self.buckets[p + 1] as usize);
        let slice = &self.kmers[lo..hi];
        let a = slice.partition_point(|&x| x < kmer);
        let b = a + slice[a..].partition_point(|&x| x == kmer);
        &self.positions[lo + a..lo + b]
    }

    /// The contig holding global position `g` and the position within it.
    pub fn locate(&self, g: u64) -> (usize, u64) {
        let i = self.starts.partition_point(|&s| s <= g).saturating_sub(1);
        (i, g - self.starts[i])
    }

    /// Global offset of contig `i`.
    pub fn start(&self, i: usize) -> u64 {
        self.starts[i]
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn finds_kmers_across_contigs() {
        let r = Reference::read(
            std::io::Cursor::new(b">a\nACGTACGTTT\n>b\nGGACGTAC\n".to_vec()),
            "reference",
            1000,
        )
        .unwrap();
        let idx = KmerIndex::build(&r, 4);
        let mut kmer = 0;
        for_each_kmer(&[0, 1, 2, 3], 4, |_, k| kmer = k);
        assert_eq!(idx.lookup(kmer), &[0, 4, 12]);
        assert_eq!(idx.locate(12), (1, 2));
        assert_eq!(idx.locate(9), (0, 9));
    }
}
