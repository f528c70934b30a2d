//! CIGAR operations: building, left-aligning indels, and the NM and MD tags they imply.

/// The operations the aligner emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    Match,
    Insertion,
    Deletion,
    SoftClip,
}

/// One CIGAR operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Op {
    pub kind: OpKind,
    pub len: usize,
}

/// Appends `len` of `kind`, merging with the last operation when it is the same kind.
pub fn push_op(ops: &mut Vec<Op>, kind: OpKind, len: usize) {
    if len == 0 {
        return;
    }
    match ops.last_mut() {
        Some(last) if last.kind == kind => last.len += len,
        _ => ops.push(Op { kind, len }),
    }
}

impl OpKind {
    fn letter(self) -> char {
        match self {
            OpKind::Match => 'M',
            OpKind::Insertion => 'I',
            OpKind::Deletion => 'D',
            OpKind::SoftClip => 'S',
        }
    }

    fn consumes_ref(self) -> bool {
        matches!(self, OpKind::Match | OpKind::Deletion)
    }

    fn consumes_read(self) -> bool {
        !matches!(self, OpKind::Deletion)
    }
}

/// The CIGAR text, e.g. `5S20M2D30M`.
pub fn to_string(ops: &[Op]) -> String {
    ops.iter()
        .map(|o| format!("{}{}", o.len, o.kind.letter()))
        .collect()
}

/// Reference bases covered by `ops`.
pub fn ref_len(ops: &[Op]) -> usize {
    ops.iter()
        .filter(|o| o.kind.consumes_ref())
        .map(|o| o.len)
        .sum()
}

/// Whether the alignment has an insertion or a deletion.
pub fn has_indel(ops: &[Op]) -> bool {
    ops.iter()
        .any(|o| matches!(o.kind, OpKind::Insertion | OpKind::Deletion))
}

/// Moves every insertion and deletion to its leftmost equivalent position (same score,
/// same aligned bases), e.g. within a homopolymer or tandem repeat. `read` and `reference`
/// are the read (in alignment orientation) and the reference from the alignment start.
/// One base of match is kept before each indel.
pub fn left_align(ops: &mut Vec<Op>, read: &[u8], reference: &[u8]) {
    loop {
        let mut changed = false;
        let (mut qpos, mut tpos) = (0usize, 0usize);
        let mut idx = 0;
        while idx < ops.len() {
            let op = ops[idx];
            let is_indel = matches!(op.kind, OpKind::Insertion | OpKind::Deletion);
            if is_indel && idx > 0 && ops[idx - 1].kind == OpKind::Match {
                let len = op.len;
                // Shift left while the base before the indel equals its last base.
                let mut shift = 0;
                while ops[idx - 1].len - shift > 1 {
                    let (a, b) = match op.kind {
                        OpKind::Deletion => (
                            reference.get(tpos - shift - 1),
                            reference.get(tpos - shift + len - 1),
                        ),
                        _ => (read.get(qpos - shift - 1), read.get(qpos - shift + len - 1)),
                    };
                    match (a, b) {
                        (Some(a), Some(b)) if a == b => shift += 1,
                        _ => break,
                    }
                }
                if shift > 0 {
                    ops[idx - 1].len -= shift;
                    if idx + 1 < ops.len() && ops[idx + 1].kind == OpKind::Match {
                        ops[idx + 1].len += shift;
                    } else {
                        ops.insert(
                            idx + 1,
                            Op {
                                kind: OpKind::Match,
                                len: shift,
                            },
                        );
                    }
                    qpos -= shift;
                    tpos -= shift;
                    changed = true;
                }
            }
            let op = ops[idx];
            if op.kind.consumes_read() {
                qpos += op.len;
            }
            if op.kind.consumes_ref() {
                tpos += op.len;
            }
            idx += 1;
        }
        // Merge neighbours of the same kind.
        let merged = ops.iter().fold(Vec::with_capacity(ops.len()), |mut v, o| {
            push_op(&mut v, o.kind, o.len);
            v
        });
        *ops = merged;
        if !changed {
            break;
        }
    }
}

/// NM (edit distance) and MD for `ops` of `read` against `reference` (from the alignment
/// start). Bases compare as upper-case letters; an N never matches.
pub fn nm_md(ops: &[Op], read: &[u8], reference: &[u8]) -> (u32, String) {
    let (mut q, mut t) = (0usize, 0usize);
    let mut nm = 0u32;
    let mut md = String::new();
    let mut run = 0u32;
    for op in ops {
        match op.kind {
            OpKind::SoftClip => q += op.len,
            OpKind::Insertion => {
                q += op.len;
                nm += op.len as u32;
            }
            OpKind::Deletion => {
                md.push_str(&run.to_string());
                run = 0;
                md.push('^');
                for &b in &reference[t..t + op.len] {
                    md.push(b as char);
                }
                t += op.len;
                nm += op.len as u32;
            }
            OpKind::Match => {
                for x in 0..op.len {
                    let (a, b) = (read[q + x], reference[t + x]);
                    if a == b && a != b'N' {
                        run += 1;
                    } else {
                        nm += 1;
                        md.push_str(&run.to_string());
                        run = 0;
                        md.push(b as char);
                    }
                }
                q += op.len;
                t += op.len;
            }
        }
    }
    md.push_str(&run.to_string());
    (nm, md)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn ops(text: &str) -> Vec<Op> {
        let mut v = Vec::new();
        let mut n = 0;
        for c in text.chars() {
            if let Some(d) = c.to_digit(10) {
                n = n * 10 + d as usize;
            } else {
                let kind = match c {
                    'M' => OpKind::Match,
                    'I' => OpKind::Insertion,
                    'D' => OpKind::Deletion,
                    _ => OpKind::SoftClip,
                };
                push_op(&mut v, kind, n);
                n = 0;
            }
        }
        v
    }

    #[test]
    fn deletion_in_homopolymer_moves_left() {
        // ref ACGAAAATTC, read ACGAAATTC: the deletion of one A is placed first.
        let r = b"ACGAAAATTC";
        let q = b"ACGAAATTC";
        let mut o = ops("6M1D3M");
        left_align(&mut o, q, r);
        assert_eq!(to_string(&o), "3M1D6M");
        assert_eq!(nm_md(&o, q, r), (1, "3^A6".into()));
    }

    #[test]
    fn insertion_in_repeat_moves_left() {
        // The extra CA in a CA repeat goes right after TTG.
        let r = b"TTGCACACTT";
        let q = b"TTGCACACACTT";
        let mut o = ops("8M2I2M");
        left_align(&mut o, q, r);
        assert_eq!(to_string(&o), "3M2I7M");
        assert_eq!(nm_md(&o, q, r), (2, "10".into()));
    }

    #[test]
    fn md_marks_mismatches_and_deletions() {
        let r = b"ACGTACGTAC";
        let q = b"TTACCTCCTA";
        // 2S, ACCT vs ACGT (G mismatch), deletion of A, CCTA vs CGTA (G mismatch).
        let o = ops("2S4M1D4M");
        let (nm, md) = nm_md(&o, q, r);
        assert_eq!(md, "2G1^A1G2");
        assert_eq!(nm, 3);
    }
}
