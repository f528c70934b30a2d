//! Banded affine-gap alignment (Gotoh) of a read against a reference window, with each read
//! end either aligned or soft-clipped at a fixed penalty (whichever scores better).

use crate::cigar::{Op, OpKind, push_op};
use crate::params::Scoring;

const NEG: i32 = i32::MIN / 4;

/// Traceback bits of one cell.
const FROM_DIAG: u8 = 0;
const FROM_DEL: u8 = 1;
const FROM_INS: u8 = 2;
const FROM_START: u8 = 3;
const DEL_EXTENDS: u8 = 4;
const INS_EXTENDS: u8 = 8;

/// An alignment of the read `q` inside the window `t`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpHit {
    /// Alignment score without clipping penalties (the SAM AS).
    pub score: i32,
    /// Offset in the window of the first aligned reference base.
    pub t_start: usize,
    /// CIGAR including soft clips.
    pub ops: Vec<Op>,
}

/// Reusable matrices.
#[derive(Default)]
pub struct Dp {
    h_prev: Vec<i32>,
    f_prev: Vec<i32>,
    h_cur: Vec<i32>,
    f_cur: Vec<i32>,
    trace: Vec<u8>,
    table: [i32; 25],
}

impl Dp {
    /// Aligns the read `q` (base codes 0–4) against the window `t` (codes), restricted to
    /// diagonals `j - i` in `dlo..=dhi` (cell (i, j): i read and j window bases consumed).
    /// Ties prefer a match, then a deletion, then an insertion (indels are left-aligned later);
    /// as in bwa mem, an end is clipped when that scores at least as well as aligning it.
    pub fn align(&mut self, q: &[u8], t: &[u8], dlo: i64, dhi: i64, sc: &Scoring) -> Option<DpHit> {
        let n = q.len();
        let m = t.len() as i64;
        if n == 0 || dhi < dlo {
            return None;
        }
        for a in 0..5 {
            for b in 0..5 {
                self.table[a * 5 + b] = if a > 3 || b > 3 {
                    -sc.ambiguous
                } else if a == b {
                    sc.matched
                } else {
                    -sc.mismatch
                };
            }
        }
        let w = (dhi - dlo + 1) as usize;
        let oe = sc.gap_open + sc.gap_extend;
        let e = sc.gap_extend;
        self.h_prev.clear();
        self.h_prev.resize(w + 1, NEG);
        self.f_prev.clear();
        self.f_prev.resize(w + 1, NEG);
        self.h_cur.clear();
        self.h_cur.resize(w + 1, NEG);
        self.f_cur.clear();
        self.f_cur.resize(w + 1, NEG);
        self.trace.clear();
        self.trace.resize((n + 1) * w, 0);
        // Row 0: the alignment may start at any window position for free.
        for k in 0..w {
            let j = dlo + k as i64;
            if (0..=m).contains(&j) {
                self.h_prev[k] = 0;
                self.trace[k] = FROM_START;
            }
        }
        let (mut best, mut best_i, mut best_k) = (NEG, 0usize, 0usize);
        let start_score = -sc.clip;
        let Dp {
            h_prev,
            f_prev,
            h_cur,
            f_cur,
            trace,
            table,
        } = self;
        for i in 1..=n {
            let sub = &table[q[i - 1] as usize * 5..q[i - 1] as usize * 5 + 5];
            let row = &mut trace[i * w..(i + 1) * w];
            let jlo = i as i64 + dlo;
            let clip_end = if i == n { 0 } else { sc.clip };
            // Cells with 0 <= j <= m are k0..k1; the rest stay unreachable.
            let k0 = (-jlo).clamp(0, w as i64) as usize;
            let k1 = (m - jlo + 1).clamp(k0 as i64, w as i64) as usize;
            h_cur[..k0].fill(NEG);
            f_cur[..k0].fill(NEG);
            h_cur[k1..w].fill(NEG);
            f_cur[k1..w].fill(NEG);
            if k1 == k0 {
                std::mem::swap(h_prev, h_cur);
                std::mem::swap(f_prev, f_cur);
                continue;
            }
            let mut e_left = NEG;
            let mut h_left = NEG;
            let mut ks = k0;
            if jlo + k0 as i64 == 0 {
                // Column j = 0: nothing of the window consumed; only an insertion or a start.
                let f = (h_prev[k0 + 1] - oe).max(f_prev[k0 + 1] - e).max(NEG);
                let f_bit = if f_prev[k0 + 1] - e > h_prev[k0 + 1] - oe {
                    INS_EXTENDS
                } else {
                    0
                };
                let (h, from) = if f > start_score {
                    (f, FROM_INS)
                } else {
                    (start_score, FROM_START)
                };
                row[k0] = from | f_bit;
                h_cur[k0] = h;
                f_cur[k0] = f;
                h_left = h;
                if h - clip_end > best {
                    best = h - clip_end;
                    best_i = i;
                    best_k = k0;
                }
                ks += 1;
            }
            let len = k1 - ks;
            let tj = (jlo + ks as i64 - 1) as usize;
            let tw = &t[tj..tj + len];
            let hpd = &h_prev[ks..ks + len];
            let hpu = &h_prev[ks + 1..ks + 1 + len];
            let fpu = &f_prev[ks + 1..ks + 1 + len];
            let hcs = &mut h_cur[ks..ks + len];
            let fcs = &mut f_cur[ks..ks + len];
            let trs = &mut row[ks..ks + len];
            // Equal-length slices indexed in lockstep.
            #[allow(clippy::needless_range_loop)]
            for x in 0..len {
                let diag = hpd[x] + sub[tw[x] as usize];
                let (f_open, f_ext) = (hpu[x] - oe, fpu[x] - e);
                let (f, f_bit) = if f_ext > f_open {
                    (f_ext, INS_EXTENDS)
                } else {
                    (f_open, 0)
                };
                let (e_open, e_ext) = (h_left - oe, e_left - e);
                let (ed, e_bit) = if e_ext > e_open {
                    (e_ext, DEL_EXTENDS)
                } else {
                    (e_open, 0)
                };
                let mut h = diag;
                let mut from = FROM_DIAG;
                if ed > h {
                    h = ed;
                    from = FROM_DEL;
                }
                if f > h {
                    h = f;
                    from = FROM_INS;
                }
                if start_score >= h {
                    h = start_score;
                    from = FROM_START;
                }
                trs[x] = from | e_bit | f_bit;
                hcs[x] = h;
                fcs[x] = f.max(NEG);
                h_left = h;
                e_left = ed.max(NEG);
                if h - clip_end > best {
                    best = h - clip_end;
                    best_i = i;
                    best_k = ks + x;
                }
            }
            std::mem::swap(h_prev, h_cur);
            std::mem::swap(f_prev, f_cur);
        }
        if best <= NEG / 2 || best_i == 0 {
            return None;
        }
        // Traceback.
        let mut rev_ops: Vec<Op> = Vec::new();
        if best_i < n {
            push_op(&mut rev_ops, OpKind::SoftClip, n - best_i);
        }
        let (mut i, mut k) = (best_i, best_k);
        let mut state = 0u8; // 0: H, 1: deletion run, 2: insertion run
        loop {
            let cell = self.trace[i * w + k];
            match state {
                1 => {
                    push_op(&mut rev_ops, OpKind::Deletion, 1);
                    state = if cell & DEL_EXTENDS != 0 { 1 } else { 0 };
                    k -= 1;
                }
                2 => {
                    push_op(&mut rev_ops, OpKind::Insertion, 1);
                    state = if cell & INS_EXTENDS != 0 { 2 } else { 0 };
                    i -= 1;
                    k += 1;
                }
                _ => {
                    if i == 0 {
                        break;
                    }
                    match cell & 3 {
                        FROM_DIAG => {
                            push_op(&mut rev_ops, OpKind::Match, 1);
                            i -= 1;
                        }
                        FROM_DEL => state = 1,
                        FROM_INS => state = 2,
                        _ => break,
                    }
                }
            }
        }
        if i > 0 {
            push_op(&mut rev_ops, OpKind::SoftClip, i);
        }
        rev_ops.reverse();
        let t_start = (i as i64 + dlo + k as i64) as usize;
        let score = best + if best_i < n { sc.clip } else { 0 } + if i > 0 { sc.clip } else { 0 };
        Some(DpHit {
            score,
            t_start,
            ops: rev_ops,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::cigar::to_string;
    use crate::index::code;

    fn sc() -> Scoring {
        Scoring {
            matched: 1,
            mismatch: 4,
            ambiguous: 1,
            gap_open: 6,
            gap_extend: 1,
            clip: 5,
        }
    }

    fn run(q: &str, t: &str, dlo: i64, dhi: i64) -> DpHit {
        let q: Vec<u8> = q.bytes().map(code).collect();
        let t: Vec<u8> = t.bytes().map(code).collect();
        Dp::default().align(&q, &t, dlo, dhi, &sc()).unwrap()
    }

    #[test]
    fn exact_and_mismatch_and_gaps() {
        let t = "GGGGACGTTGCAAGCTTACGGATCCAGTGGGG";
        let h = run("ACGTTGCAAGCTTACGGATCCAGT", t, 0, 8);
        assert_eq!(
            (to_string(&h.ops), h.t_start, h.score),
            ("24M".into(), 4, 24)
        );
        let h = run("ACGTTGCAAGCTAACGGATCCAGT", t, 0, 8);
        assert_eq!((to_string(&h.ops), h.score), ("24M".into(), 23 - 4));
        // Deletion of "TAC" (ref) from the read.
        let h = run("ACGTTGCAAGCTGGATCCAGTGG", t, 0, 8);
        assert_eq!(to_string(&h.ops), "12M3D11M");
        // Insertion of "AAA".
        let h = run("ACGTTGCAAGCTAAATACGGATCCAGT", t, -4, 8);
        assert_eq!(to_string(&h.ops), "12M3I12M");
    }

    #[test]
    fn ends_are_clipped_when_better() {
        let t = "GGGGACGTTGCAAGCTTACGGATCCAGTGGGG";
        let h = run("TTTTTTACGTTGCAAGCTTACGGATCCAGT", t, -10, 8);
        assert_eq!(
            (to_string(&h.ops), h.t_start, h.score),
            ("6S24M".into(), 4, 24)
        );
    }
}
