//! Read trimming: adapter removal and quality trimming (the BWA/cutadapt algorithm).

/// Length to keep after 3' quality trimming with `cutoff`.
///
/// This is the algorithm of BWA's `-q` and cutadapt's `-q`: walking in from
/// the 3' end, sum `cutoff - q`; cut where that running sum is largest, and
/// stop once it goes negative. Unlike a sliding window it removes a low-quality
/// tail even when a few good bases are scattered in it.
pub fn quality_trim_3p(qual: &[u8], cutoff: u8) -> usize {
    let mut sum = 0i64;
    let mut best = 0i64;
    let mut cut = qual.len();
    for i in (0..qual.len()).rev() {
        sum += i64::from(cutoff) - i64::from(qual[i].saturating_sub(33));
        if sum < 0 {
            break;
        }
        if sum > best {
            best = sum;
            cut = i;
        }
    }
    cut
}

/// Bases to drop from the 5' end: the same algorithm walking forwards.
pub fn quality_trim_5p(qual: &[u8], cutoff: u8) -> usize {
    let mut sum = 0i64;
    let mut best = 0i64;
    let mut start = 0;
    for (i, q) in qual.iter().enumerate() {
        sum += i64::from(cutoff) - i64::from(q.saturating_sub(33));
        if sum < 0 {
            break;
        }
        if sum > best {
            best = sum;
            start = i + 1;
        }
    }
    start
}

/// Where a 3' adapter starts in `seq`, if it is found.
///
/// The adapter may run off the end of the read (a partial match of at least
/// `min_overlap` bases) and may have up to `floor(len * max_error_rate)`
/// mismatches over the overlapping length `len`. The leftmost match wins.
pub fn find_adapter(
    seq: &[u8],
    adapter: &[u8],
    min_overlap: usize,
    max_error_rate: f64,
) -> Option<usize> {
    if adapter.is_empty() {
        return None;
    }
    let min_overlap = min_overlap.max(1);
    for start in 0..seq.len() {
        let len = (seq.len() - start).min(adapter.len());
        if len < min_overlap {
            break;
        }
        let allowed = (len as f64 * max_error_rate).floor() as usize;
        let mismatches = seq[start..start + len]
            .iter()
            .zip(adapter)
            .filter(|(a, b)| a != b)
            .take(allowed + 1)
            .count();
        if mismatches <= allowed {
            return Some(start);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(phreds: &[u8]) -> Vec<u8> {
        phreds.iter().map(|p| p + 33).collect()
    }

    #[test]
    fn trims_low_quality_tail_like_bwa() {
        // cutadapt's documented example: cutoff 10 keeps the first 4 bases.
        let qual = q(&[42, 40, 26, 27, 8, 7, 11, 4, 2, 3]);
        assert_eq!(quality_trim_3p(&qual, 10), 4);
        assert_eq!(quality_trim_3p(&q(&[30; 8]), 20), 8);
        assert_eq!(quality_trim_3p(&q(&[2; 8]), 20), 0);
        assert_eq!(quality_trim_3p(&[], 20), 0);
    }

    #[test]
    fn trims_low_quality_head() {
        assert_eq!(quality_trim_5p(&q(&[2, 3, 30, 30]), 10), 2);
        assert_eq!(quality_trim_5p(&q(&[30, 30]), 10), 0);
    }

    #[test]
    fn finds_full_partial_and_mismatched_adapters() {
        let a = b"AGATCGGAAGAGC";
        assert_eq!(
            find_adapter(b"ACGTACGTAGATCGGAAGAGCTTT", a, 3, 0.1),
            Some(8)
        );
        assert_eq!(find_adapter(b"ACGTACGTAGATC", a, 3, 0.1), Some(8));
        assert_eq!(find_adapter(b"ACGTACGTAGTTCGGAAGAGC", a, 3, 0.1), Some(8));
        assert_eq!(find_adapter(b"ACGTACGTAG", a, 3, 0.1), None);
        assert_eq!(find_adapter(b"ACGTACGTAG", b"", 3, 0.1), None);
    }
}
