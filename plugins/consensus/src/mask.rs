//! Low-depth masks from the coverage stage's depth TSV: a position is masked
//! when its depth is below `min-depth` or it is not listed at all.

use std::io::BufRead;

use petri_sdk::genomics::{InputError, Reference};

use crate::error::{ConsensusError, DEPTH};

/// `masked[contig][position - 1]` for every reference contig, in reference order.
#[derive(Debug, Clone)]
pub struct Mask {
    pub masked: Vec<Vec<bool>>,
}

impl Mask {
    /// Nothing masked.
    pub fn none(reference: &Reference) -> Mask {
        Mask {
            masked: reference
                .contigs
                .iter()
                .map(|c| vec![false; c.seq.len()])
                .collect(),
        }
    }

    /// Reads `contig\tposition\tdepth` lines (an optional `contig\tposition\tdepth`
    /// header line and `#` lines are skipped; samtools depth output also works).
    /// A position listed twice takes its last depth.
    pub fn read(
        source: &mut dyn BufRead,
        reference: &Reference,
        min_depth: u64,
    ) -> Result<Mask, ConsensusError> {
        // Positions not listed have depth 0.
        let unlisted = min_depth > 0;
        let mut masked: Vec<Vec<bool>> = reference
            .contigs
            .iter()
            .map(|c| vec![unlisted; c.seq.len()])
            .collect();
        let mut line = Vec::new();
        let mut last: Option<(Vec<u8>, usize)> = None;
        for n in 1u64.. {
            line.clear();
            let read = source
                .read_until(b'\n', &mut line)
                .map_err(|e| InputError::from_io(DEPTH, n, e))?;
            if read == 0 {
                break;
            }
            let text = line.strip_suffix(b"\n").unwrap_or(&line);
            let text = text.strip_suffix(b"\r").unwrap_or(text);
            if text.is_empty()
                || text.starts_with(b"#")
                || (n == 1 && text.starts_with(b"contig\t"))
            {
                continue;
            }
            let bad = |message: String| ConsensusError::MalformedDepth { line: n, message };
            let mut fields = text.split(|&b| b == b'\t');
            let (Some(contig), Some(pos), Some(depth), None) =
                (fields.next(), fields.next(), fields.next(), fields.next())
            else {
                return Err(bad(
                    "expected 3 tab-separated fields: contig, position, depth".into(),
                ));
            };
            let index = match &last {
                Some((name, i)) if name == contig => *i,
                _ => {
                    let name = std::str::from_utf8(contig)
                        .map_err(|_| bad("contig name is not UTF-8".into()))?;
                    let (i, _) = reference
                        .get(name)
                        .ok_or_else(|| bad(format!("contig `{name}` is not in the reference")))?;
                    last = Some((contig.to_vec(), i));
                    i
                }
            };
            let slots = &mut masked[index];
            let pos = parse(pos)
                .filter(|&p| p >= 1 && p <= slots.len() as u64)
                .ok_or_else(|| {
                    bad(format!(
                        "position `{}` is not within 1..={} of `{}`",
                        String::from_utf8_lossy(pos),
                        slots.len(),
                        reference.contigs[index].name
                    ))
                })?;
            let depth = parse(depth).ok_or_else(|| {
                bad(format!(
                    "depth `{}` is not a non-negative integer",
                    String::from_utf8_lossy(depth)
                ))
            })?;
            slots[pos as usize - 1] = depth < min_depth;
        }
        Ok(Mask { masked })
    }

    /// Masked positions in total.
    pub fn count(&self) -> u64 {
        self.masked
            .iter()
            .map(|m| m.iter().filter(|&&b| b).count() as u64)
            .sum()
    }
}

fn parse(field: &[u8]) -> Option<u64> {
    if field.is_empty() || field.len() > 19 || !field.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        field
            .iter()
            .fold(0u64, |n, &d| n * 10 + u64::from(d - b'0')),
    )
}
