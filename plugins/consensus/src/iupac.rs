//! IUPAC ambiguity codes for sets of bases.

/// The 4-bit set (A=1, C=2, G=4, T=8) a code stands for; 0 for a non-code.
pub fn bits(base: u8) -> u8 {
    match base {
        b'A' => 1,
        b'C' => 2,
        b'G' => 4,
        b'T' | b'U' => 8,
        b'M' => 3,
        b'R' => 5,
        b'W' => 9,
        b'S' => 6,
        b'Y' => 10,
        b'K' => 12,
        b'V' => 7,
        b'H' => 11,
        b'D' => 13,
        b'B' => 14,
        b'N' => 15,
        _ => 0,
    }
}

/// The code for a 4-bit set (`N` for the empty set).
pub fn code(bits: u8) -> u8 {
    b"NACMGRSVTWYHKDBN"[usize::from(bits & 15)]
}

/// The ambiguity code of all `bases`.
pub fn ambiguity(bases: impl IntoIterator<Item = u8>) -> u8 {
    code(bases.into_iter().fold(0, |acc, b| acc | bits(b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        assert_eq!(ambiguity(*b"AG"), b'R');
        assert_eq!(ambiguity(*b"CT"), b'Y');
        assert_eq!(ambiguity(*b"GT"), b'K');
        assert_eq!(ambiguity(*b"AC"), b'M');
        assert_eq!(ambiguity(*b"CG"), b'S');
        assert_eq!(ambiguity(*b"AT"), b'W');
        assert_eq!(ambiguity(*b"ACG"), b'V');
        assert_eq!(ambiguity(*b"AA"), b'A');
        assert_eq!(ambiguity(*b"ACGT"), b'N');
        for b in *b"ACGTMRWSYKVHDBN" {
            assert_eq!(code(bits(b)), b);
        }
    }
}
