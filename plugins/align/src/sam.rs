//! SAM output with noodles-sam: the header (@HD, @SQ, @RG, @PG) and one record per read,
//! built from the chosen placements and written in coordinate order.

use std::io::Write;
use std::num::NonZero;

use noodles_sam::alignment::io::Write as _;
use noodles_sam::alignment::record::Flags;
use noodles_sam::alignment::record::MappingQuality;
use noodles_sam::alignment::record::cigar::op::{Kind, Op as SamOp};
use noodles_sam::alignment::record::data::field::Tag;
use noodles_sam::alignment::record_buf::data::field::Value;
use noodles_sam::alignment::record_buf::{Cigar, Data, QualityScores, RecordBuf, Sequence};
use noodles_sam::header::record::value::Map;
use noodles_sam::header::record::value::map::{self, Program, ReadGroup, ReferenceSequence};
use petri_sdk::genomics::Reference;

use crate::AlignError;
use crate::cigar::{OpKind, left_align, nm_md};
use crate::map::Aln;
use crate::reads::Read1;

/// Where a read ended up.
#[derive(Debug, Clone, Default)]
pub struct Placed {
    pub aln: Option<Aln>,
    pub mapq: u8,
    /// Best other score, if any (XS).
    pub xs: Option<i32>,
    pub proper: bool,
}

fn io_err(e: impl std::fmt::Display) -> AlignError {
    AlignError::write("alignments", std::io::Error::other(e.to_string()))
}

/// The SAM header: sorted by coordinate, every contig, the read group and the program.
pub fn header(
    reference: &Reference,
    read_group: &str,
    sample: &str,
    command_line: &str,
) -> Result<noodles_sam::Header, AlignError> {
    let hd = Map::<map::Header>::builder()
        .set_version(map::header::Version::new(1, 6))
        .insert(map::header::tag::SORT_ORDER, "coordinate")
        .build()
        .map_err(io_err)?;
    let mut b = noodles_sam::Header::builder().set_header(hd);
    for c in &reference.contigs {
        let len = NonZero::new(c.seq.len()).ok_or_else(|| io_err("empty contig"))?;
        b = b.add_reference_sequence(c.name.as_bytes(), Map::<ReferenceSequence>::new(len));
    }
    let rg = Map::<ReadGroup>::builder()
        .insert(map::read_group::tag::SAMPLE, sample)
        .build()
        .map_err(io_err)?;
    let pg = Map::<Program>::builder()
        .insert(map::program::tag::NAME, "petri-align")
        .insert(map::program::tag::VERSION, env!("CARGO_PKG_VERSION"))
        .insert(map::program::tag::COMMAND_LINE, command_line)
        .build()
        .map_err(io_err)?;
    Ok(b.add_read_group(read_group, rg)
        .add_program("petri-align", pg)
        .build())
}

/// Complement of an IUPAC base letter.
fn complement(b: u8) -> u8 {
    match b {
        b'A' => b'T',
        b'T' | b'U' => b'A',
        b'C' => b'G',
        b'G' => b'C',
        b'R' => b'Y',
        b'Y' => b'R',
        b'K' => b'M',
        b'M' => b'K',
        b'B' => b'V',
        b'V' => b'B',
        b'D' => b'H',
        b'H' => b'D',
        b'S' | b'W' => b,
        _ => b'N',
    }
}

/// The reverse complement of `seq`.
pub fn revcomp(seq: &[u8]) -> Vec<u8> {
    seq.iter().rev().map(|&b| complement(b)).collect()
}

/// Left-aligns the indels of `aln` for `read` and returns (NM, MD).
pub fn finish_alignment(aln: &mut Aln, read: &[u8], reference: &Reference) -> (u32, String) {
    let seq = if aln.rev {
        revcomp(read)
    } else {
        read.to_vec()
    };
    let contig = &reference.contigs[aln.contig].seq;
    let window = &contig[aln.pos as usize..];
    left_align(&mut aln.ops, &seq, window);
    nm_md(&aln.ops, &seq, window)
}

/// Builds the SAM record of `read` (mate `which`: 0 = first/only, 1 = last).
pub fn record(
    read: &Read1,
    me: &Placed,
    mate: Option<&Placed>,
    which: u8,
    nm_md: Option<(u32, String)>,
    read_group: &str,
) -> RecordBuf {
    let mut flags = Flags::empty();
    if let Some(m) = mate {
        flags |= Flags::SEGMENTED;
        flags |= if which == 0 {
            Flags::FIRST_SEGMENT
        } else {
            Flags::LAST_SEGMENT
        };
        if me.proper {
            flags |= Flags::PROPERLY_SEGMENTED;
        }
        match &m.aln {
            None => flags |= Flags::MATE_UNMAPPED,
            Some(a) if a.rev => flags |= Flags::MATE_REVERSE_COMPLEMENTED,
            Some(_) => {}
        }
    }
    let mut b = RecordBuf::builder().set_name(read.name.clone());
    let mut data: Vec<(Tag, Value)> = Vec::new();
    let (seq, mut qual) = (read.seq.clone(), read.qual.clone());
    let (seq, qual) = match &me.aln {
        Some(a) => {
            if a.rev {
                flags |= Flags::REVERSE_COMPLEMENTED;
                qual.reverse();
            }
            b = b.set_reference_sequence_id(a.contig);
            if let Ok(p) = TryFrom::try_from(a.pos as usize + 1) {
                // A 1-based position (noodles_core::Position, not nameable here).
                b = b.set_alignment_start(p);
            }
            if let Some(q) = MappingQuality::new(me.mapq) {
                b = b.set_mapping_quality(q);
            }
            let ops: Vec<SamOp> = a
                .ops
                .iter()
                .map(|o| {
                    let kind = match o.kind {
                        OpKind::Match => Kind::Match,
                        OpKind::Insertion => Kind::Insertion,
                        OpKind::Deletion => Kind::Deletion,
                        OpKind::SoftClip => Kind::SoftClip,
                    };
                    SamOp::new(kind, o.len)
                })
                .collect();
            b = b.set_cigar(Cigar::from(ops));
            if let Some((nm, md)) = nm_md {
                data.push((Tag::EDIT_DISTANCE, Value::from(nm as i32)));
                data.push((Tag::MISMATCHED_POSITIONS, Value::from(md)));
            }
            data.push((Tag::ALIGNMENT_SCORE, Value::from(a.score)));
            if let Some(xs) = me.xs {
                data.push((Tag::new(b'X', b'S'), Value::from(xs)));
            }
            (if a.rev { revcomp(&seq) } else { seq }, qual)
        }
        None => {
            flags |= Flags::UNMAPPED;
            // An unmapped read with a mapped mate takes the mate's place.
            if let Some(a) = mate.and_then(|m| m.aln.as_ref()) {
                b = b.set_reference_sequence_id(a.contig);
                if let Ok(p) = TryFrom::try_from(a.pos as usize + 1) {
                    // A 1-based position (noodles_core::Position, not nameable here).
                    b = b.set_alignment_start(p);
                }
            }
            (seq, qual)
        }
    };
    if let Some(m) = mate {
        let anchor = m.aln.as_ref().or(me.aln.as_ref());
        if let Some(a) = anchor {
            b = b.set_mate_reference_sequence_id(a.contig);
            if let Ok(p) = TryFrom::try_from(a.pos as usize + 1) {
                // A 1-based position (noodles_core::Position, not nameable here).
                b = b.set_mate_alignment_start(p);
            }
        }
        if let (Some(x), Some(y)) = (&me.aln, &m.aln)
            && x.contig == y.contig
        {
            let left = x.pos.min(y.pos);
            let right = x.end().max(y.end());
            let len = (right - left) as i32;
            let plus = x.pos < y.pos || (x.pos == y.pos && which == 0);
            b = b.set_template_length(if plus { len } else { -len });
        }
    }
    data.push((Tag::READ_GROUP, Value::from(read_group)));
    b.set_flags(flags)
        .set_sequence(Sequence::from(seq))
        .set_quality_scores(QualityScores::from(
            qual.iter().map(|q| q - 33).collect::<Vec<u8>>(),
        ))
        .set_data(data.into_iter().collect::<Data>())
        .build()
}

/// Writes `header` and then `records` to `out`.
pub fn write_all(
    out: impl Write,
    header: &noodles_sam::Header,
    records: impl Iterator<Item = RecordBuf>,
) -> Result<(), AlignError> {
    let mut w = noodles_sam::io::Writer::new(std::io::BufWriter::new(out));
    w.write_header(header)
        .map_err(|e| AlignError::write("alignments", e))?;
    for r in records {
        w.write_alignment_record(header, &r)
            .map_err(|e| AlignError::write("alignments", e))?;
    }
    w.get_mut()
        .flush()
        .map_err(|e| AlignError::write("alignments", e))
}
