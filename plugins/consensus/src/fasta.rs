//! The consensus FASTA: each reference contig with its edits applied and
//! masked positions as `N`, 60 bases per line.

use std::io::{self, Write};

use crate::apply::Edit;

/// Bases per FASTA line.
pub const LINE: usize = 60;

/// Writes bases as lines of [`LINE`].
struct LineWriter<'w, W: Write> {
    out: &'w mut W,
    buf: Vec<u8>,
    column: usize,
    written: u64,
}

impl<W: Write> LineWriter<'_, W> {
    fn push(&mut self, bases: &[u8]) -> io::Result<()> {
        let mut rest = bases;
        while !rest.is_empty() {
            let take = rest.len().min(LINE - self.column);
            self.buf.extend_from_slice(&rest[..take]);
            self.column += take;
            self.written += take as u64;
            rest = &rest[take..];
            if self.column == LINE {
                self.buf.push(b'\n');
                self.column = 0;
            }
        }
        if self.buf.len() >= 1 << 16 {
            self.out.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }

    fn finish(mut self) -> io::Result<u64> {
        if self.column > 0 {
            self.buf.push(b'\n');
        }
        self.out.write_all(&self.buf)?;
        Ok(self.written)
    }
}

/// Writes one record; returns the number of bases written.
pub fn write_record(
    out: &mut impl Write,
    name: &str,
    seq: &[u8],
    masked: &[bool],
    edits: &[Edit],
) -> io::Result<u64> {
    out.write_all(b">")?;
    out.write_all(name.as_bytes())?;
    out.write_all(b"\n")?;
    let mut w = LineWriter {
        out,
        buf: Vec::with_capacity(1 << 16),
        column: 0,
        written: 0,
    };
    let mut chunk = Vec::with_capacity(LINE);
    let mut reference_span =
        |w: &mut LineWriter<'_, _>, from: usize, to: usize| -> io::Result<()> {
            for (bases, mask) in seq[from..to]
                .chunks(4096)
                .zip(masked[from..to].chunks(4096))
            {
                chunk.clear();
                chunk.extend(
                    bases
                        .iter()
                        .zip(mask)
                        .map(|(&b, &m)| if m { b'N' } else { b }),
                );
                w.push(&chunk)?;
            }
            Ok(())
        };
    let mut cursor = 0;
    for e in edits {
        reference_span(&mut w, cursor, e.start)?;
        w.push(&e.bases)?;
        cursor = e.end;
    }
    reference_span(&mut w, cursor, seq.len())?;
    w.finish()
}

/// The record name from `template` (`{contig}`, `{sample}`).
pub fn record_name(template: &str, contig: &str, sample: &str) -> String {
    template
        .replace("{contig}", contig)
        .replace("{sample}", sample)
}
