//! The whole stage as one function: load, index, map, pair, sort and write.
//!
//! Memory bound: every read (name, bases, qualities) and its chosen alignment is held until
//! all reads are placed, so the output can be coordinate-sorted; that is roughly
//! 3 × (read length) + 100 bytes per read, capped by `max-reads`. The index takes about
//! 12 bytes per reference base, capped by `max-reference-bases`. The alignment matrices take
//! (read length + 1) × (6 × band + 1) bytes (mate rescue: × (5000 + 2 × band + 1)).

use std::io::{Read, Write};

use petri_sdk::genomics::Reference;

use crate::AlignError;
use crate::cigar::{OpKind, has_indel};
use crate::map::{Aln, Mapper, dedupe};
use crate::pair::{
    InsertBounds, UNPAIRED_PENALTY, choose, estimate, fr_insert, is_proper, single_mapq,
};
use crate::params::{AlignParams, clamp};
use crate::reads::{FastqInput, Read1, read_all};
use crate::sam::{Placed, finish_alignment, header, record, write_all};
use crate::summary::{AlignSummary, round};

/// Aligns `reads` (and their `mates`, read 2 of pairs in the same order) to `reference`,
/// writing coordinate-sorted SAM to `sam`. Inputs may be plain or gzip.
pub fn align(
    params: &AlignParams,
    reference: impl Read + 'static,
    reads: impl Read + 'static,
    mates: Option<impl Read + 'static>,
    sam: impl Write,
) -> Result<AlignSummary, AlignError> {
    check_params(params)?;
    let max_bases = clamp(params.max_reference_bases, 1, u32::MAX as i64 - 1) as u64;
    let reference = Reference::read(reference, "reference", max_bases)?;
    let max_bytes = params.max_input_bytes.max(0) as u64;
    let max_len = clamp(params.max_read_length, 1, 100_000) as usize;
    let r1 = FastqInput::new(reads, "reads", max_bytes, max_len)?;
    let paired = mates.is_some();
    let r2 = match mates {
        Some(m) => Some(FastqInput::new(m, "mates", max_bytes, max_len)?),
        None => None,
    };
    let (reads1, reads2) = read_all(r1, r2, params.max_reads.max(0) as u64)?;
    let mut mapper = Mapper::new(&reference, params);
    let cands1: Vec<Vec<Aln>> = reads1.iter().map(|r| mapper.map_read(&r.seq)).collect();
    let cands2: Vec<Vec<Aln>> = reads2.iter().map(|r| mapper.map_read(&r.seq)).collect();

    let mut summary = AlignSummary {
        paired,
        contigs: reference.contigs.len() as u64,
        reference_bases: reference.total_len(),
        ..AlignSummary::default()
    };
    let max_insert = clamp(params.max_insert, 1, 1 << 30);
    let mut placed1: Vec<Placed> = Vec::with_capacity(reads1.len());
    let mut placed2: Vec<Placed> = Vec::with_capacity(reads2.len());
    if paired {
        let inserts = cands1
            .iter()
            .zip(&cands2)
            .filter(|(a, b)| a.len() == 1 && b.len() == 1)
            .filter_map(|(a, b)| fr_insert(&a[0], &b[0]))
            .collect();
        let bounds = estimate(inserts, max_insert);
        summary.insert_size_bounds = [bounds.lo, bounds.hi];
        summary.insert_size_estimated_from = bounds.pairs;
        for (i, (mut a, mut b)) in cands1.into_iter().zip(cands2).enumerate() {
            summary.rescued += rescue(&mut mapper, &reads1[i], &reads2[i], &mut a, &mut b, &bounds);
            let c = choose(&a, &b, &bounds);
            let pa = placement(&a, c.a, c.mapq_a, c.proper);
            let pb = placement(&b, c.b, c.mapq_b, c.proper);
            let proper = match (&pa.aln, &pb.aln) {
                (Some(x), Some(y)) => is_proper(x, y, &bounds),
                _ => false,
            };
            placed1.push(Placed { proper, ..pa });
            placed2.push(Placed { proper, ..pb });
        }
    } else {
        for a in &cands1 {
            let best = (!a.is_empty()).then_some(0);
            let q = best.map_or(0, |i| single_mapq(a, i).0);
            placed1.push(placement(a, best, q, false));
        }
    }
    drop(mapper);

    // Finish alignments (left-align, NM, MD) and count.
    let mut tags1 = Vec::with_capacity(placed1.len());
    let mut tags2 = Vec::with_capacity(placed2.len());
    for (placed, reads, tags) in [
        (&mut placed1, &reads1, &mut tags1),
        (&mut placed2, &reads2, &mut tags2),
    ] {
        for (p, r) in placed.iter_mut().zip(reads.iter()) {
            tags.push(
                p.aln
                    .as_mut()
                    .map(|a| finish_alignment(a, &r.seq, &reference)),
            );
        }
    }
    count(&mut summary, &placed1, &placed2);

    // Coordinate order; unmapped reads with a mapped mate sit at the mate's place, fully
    // unmapped reads (pairs) come last in input order.
    let mut order: Vec<(usize, u64, usize, u8)> = Vec::with_capacity(reads1.len() + reads2.len());
    for (which, placed) in [(0u8, &placed1), (1u8, &placed2)] {
        let other = if which == 0 { &placed2 } else { &placed1 };
        for (i, p) in placed.iter().enumerate() {
            let anchor = p
                .aln
                .as_ref()
                .or_else(|| other.get(i).and_then(|m| m.aln.as_ref()));
            let (c, pos) = anchor.map_or((usize::MAX, 0), |a| (a.contig, a.pos));
            order.push((c, pos, i, which));
        }
    }
    order.sort_unstable();
    let hdr = header(
        &reference,
        &params.read_group,
        &params.sample,
        &params.command_line(),
    )?;
    let records = order.into_iter().map(|(_, _, i, which)| {
        let (read, me, mate, tags): (&Read1, &Placed, Option<&Placed>, &Option<(u32, String)>) =
            if which == 0 {
                (&reads1[i], &placed1[i], placed2.get(i), &tags1[i])
            } else {
                (&reads2[i], &placed2[i], placed1.get(i), &tags2[i])
            };
        record(read, me, mate, which, tags.clone(), &params.read_group)
    });
    write_all(sam, &hdr, records)?;
    Ok(summary)
}

fn check_params(p: &AlignParams) -> Result<(), AlignError> {
    for (name, v) in [("read-group", &p.read_group), ("sample", &p.sample)] {
        if v.is_empty() || v.bytes().any(|b| b.is_ascii_control()) {
            return Err(AlignError::InvalidParams(format!(
                "{name} must be non-empty text without tabs or line breaks"
            )));
        }
    }
    Ok(())
}

fn placement(alns: &[Aln], chosen: Option<usize>, mapq: u8, proper: bool) -> Placed {
    match chosen {
        Some(i) => Placed {
            aln: Some(alns[i].clone()),
            mapq,
            xs: single_mapq(alns, i).1,
            proper,
        },
        None => Placed::default(),
    }
}

/// Widest window (bp) searched for a mate; bounds the rescue matrices.
const MAX_RESCUE_SPAN: i64 = 5000;

/// Mate rescue: when no candidate pair is proper, aligns each mate inside the window where
/// the best alignment of the other mate expects it. Returns the number of mates rescued.
fn rescue(
    mapper: &mut Mapper,
    r1: &Read1,
    r2: &Read1,
    a: &mut Vec<Aln>,
    b: &mut Vec<Aln>,
    bounds: &InsertBounds,
) -> u64 {
    let any_proper = a.iter().any(|x| b.iter().any(|y| is_proper(x, y, bounds)));
    if any_proper || (a.is_empty() && b.is_empty()) {
        return 0;
    }
    let mut rescued = 0;
    let best_a = a.first().map_or(i32::MIN, |x| x.score);
    let best_b = b.first().map_or(i32::MIN, |x| x.score);
    let anchors_a: Vec<Aln> = a
        .iter()
        .take(2)
        .filter(|x| x.score + UNPAIRED_PENALTY >= best_a)
        .cloned()
        .collect();
    let anchors_b: Vec<Aln> = b
        .iter()
        .take(2)
        .filter(|x| x.score + UNPAIRED_PENALTY >= best_b)
        .cloned()
        .collect();
    for (anchors, mate_read, mate_cands) in [(anchors_a, r2, &mut *b), (anchors_b, r1, &mut *a)] {
        for anchor in anchors {
            let len = mate_read.seq.len() as i64;
            // Expected start window of the mate on the opposite strand.
            let (lo, hi) = if anchor.rev {
                let end = anchor.end() as i64;
                (end - bounds.hi, end - bounds.lo)
            } else {
                let p = anchor.pos as i64;
                (p + bounds.lo - len, p + bounds.hi - len)
            };
            let clen = mapper.contig_len(anchor.contig) as i64;
            let (lo, hi) = (lo.max(0), hi.min(clen));
            if hi < lo || hi - lo > MAX_RESCUE_SPAN {
                continue;
            }
            if let Some(m) = mapper.rescue(&mate_read.seq, anchor.contig, lo, hi, !anchor.rev)
                && is_proper(&anchor, &m, bounds)
                && !mate_cands.contains(&m)
            {
                mate_cands.push(m);
                rescued += 1;
            }
        }
        let sorted = dedupe(std::mem::take(mate_cands));
        *mate_cands = sorted;
    }
    rescued
}

fn count(s: &mut AlignSummary, p1: &[Placed], p2: &[Placed]) {
    s.reads_in = (p1.len() + p2.len()) as u64;
    s.pairs = if p2.is_empty() { 0 } else { p1.len() as u64 };
    let mut inserts: Vec<i64> = Vec::new();
    for (i, p) in p1.iter().chain(p2.iter()).enumerate() {
        let mate = if p2.is_empty() {
            None
        } else if i < p1.len() {
            p2.get(i)
        } else {
            p1.get(i - p1.len())
        };
        match &p.aln {
            Some(a) => {
                s.mapped += 1;
                s.mapped_reverse += u64::from(a.rev);
                s.mapq0 += u64::from(p.mapq == 0);
                s.with_indels += u64::from(has_indel(&a.ops));
                s.soft_clipped += u64::from(a.ops.iter().any(|o| o.kind == OpKind::SoftClip));
                match mate.map(|m| &m.aln) {
                    Some(Some(b)) => {
                        s.both_mates_mapped += 1;
                        if p.proper {
                            s.properly_paired += 1;
                            if i < p1.len() {
                                inserts.push(a.end().max(b.end()) as i64 - a.pos.min(b.pos) as i64);
                            }
                        }
                    }
                    Some(None) => s.singletons += 1,
                    None => {}
                }
            }
            None => s.unmapped += 1,
        }
    }
    if s.reads_in > 0 {
        s.mapped_fraction = round(s.mapped as f64 / s.reads_in as f64, 4);
    }
    if !inserts.is_empty() {
        let n = inserts.len() as f64;
        let mean = inserts.iter().sum::<i64>() as f64 / n;
        let var = inserts
            .iter()
            .map(|&v| (v as f64 - mean) * (v as f64 - mean))
            .sum::<f64>()
            / n;
        s.mean_insert_size = round(mean, 2);
        s.sd_insert_size = round(var.sqrt(), 2);
    }
}
