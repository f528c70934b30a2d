//! The depth TSV: a `contig\tposition\tdepth` header, then one line per
//! position of every contig (1-based, zeros included), like `samtools depth -aa`.

use std::io::{self, Write};

use crate::depth::ContigDepth;

/// The header line (without newline).
pub const HEADER: &str = "contig\tposition\tdepth";

/// Appends the decimal digits of `n` to `buf`.
fn push_decimal(buf: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf.extend_from_slice(&digits[i..]);
}

/// Writes the whole table.
pub fn write_depth(contigs: &[ContigDepth], out: &mut impl Write) -> io::Result<()> {
    let mut buf = Vec::with_capacity(1 << 16);
    buf.extend_from_slice(HEADER.as_bytes());
    buf.push(b'\n');
    for c in contigs {
        for (i, &d) in c.depth.iter().enumerate() {
            buf.extend_from_slice(c.name.as_bytes());
            buf.push(b'\t');
            push_decimal(&mut buf, i as u64 + 1);
            buf.push(b'\t');
            push_decimal(&mut buf, u64::from(d));
            buf.push(b'\n');
            if buf.len() >= 1 << 16 {
                out.write_all(&buf)?;
                buf.clear();
            }
        }
    }
    out.write_all(&buf)?;
    out.flush()
}
