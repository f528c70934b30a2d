//! Inputs that may be gzip-compressed (sniffed by magic bytes), capped in size
//! after decompression so a small bomb cannot exhaust the stage's memory or fuel.

use std::io::{self, BufRead, BufReader, Read};

use flate2::bufread::MultiGzDecoder;

/// Text of the error returned when an input exceeds its cap; stages map it to
/// their `limit-exceeded` kind.
pub const LIMIT_MESSAGE: &str = "input exceeds max-input-bytes";

const BUFFER: usize = 1 << 16;

/// Whether `e` is the cap of [`decompressed`] being hit.
pub(crate) fn is_limit(e: &io::Error) -> bool {
    e.to_string().contains(LIMIT_MESSAGE)
}

/// `source` as a buffered reader of at most `max_bytes` bytes, decompressed
/// first if it starts with the gzip magic bytes (multi-member gzip and BGZF
/// included). Reading past the cap fails with [`LIMIT_MESSAGE`].
pub fn decompressed(source: impl Read + 'static, max_bytes: u64) -> io::Result<Box<dyn BufRead>> {
    let mut buffered = BufReader::with_capacity(BUFFER, source);
    let gzip = buffered.fill_buf()?.starts_with(&[0x1f, 0x8b]);
    Ok(if gzip {
        let inner = MultiGzDecoder::new(buffered);
        Box::new(BufReader::with_capacity(
            BUFFER,
            Capped::new(inner, max_bytes),
        ))
    } else {
        Box::new(BufReader::with_capacity(
            BUFFER,
            Capped::new(buffered, max_bytes),
        ))
    })
}

/// A reader that fails once more than `max` bytes have come through it.
struct Capped<R> {
    inner: R,
    read: u64,
    max: u64,
}

impl<R> Capped<R> {
    fn new(inner: R, max: u64) -> Capped<R> {
        Capped {
            inner,
            read: 0,
            max,
        }
    }
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read > self.max {
            return Err(io::Error::other(format!(
                "{LIMIT_MESSAGE} ({} bytes)",
                self.max
            )));
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::io::Write;

    use super::*;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn plain_and_gzip_read_the_same() {
        let text = b">a\nACGT\n".repeat(100);
        for bytes in [text.clone(), gz(&text)] {
            let mut out = Vec::new();
            decompressed(io::Cursor::new(bytes), 1 << 20)
                .unwrap()
                .read_to_end(&mut out)
                .unwrap();
            assert_eq!(out, text);
        }
    }

    #[test]
    fn a_bomb_stops_at_the_cap() {
        let bomb = gz(&vec![b'A'; 1 << 20]);
        let mut out = Vec::new();
        let err = decompressed(io::Cursor::new(bomb), 1000)
            .unwrap()
            .read_to_end(&mut out)
            .unwrap_err();
        assert!(err.to_string().contains(LIMIT_MESSAGE), "{err}");
    }
}
