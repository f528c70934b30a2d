//! Ports as `std::io`: inputs implement `Read`, outputs implement `Write`.

use std::io::{self, Read, Write};

use crate::StageError;
use crate::bindings::exports::petri::stage::stage::{Reader, Writer};

/// Bytes buffered before a write crosses to the host.
const WRITE_BUFFER: usize = 64 * 1024;

/// The ports of one run.
pub struct Ports {
    inputs: Vec<(String, Option<Reader>)>,
    outputs: Vec<(String, Option<Writer>)>,
}

impl Ports {
    pub(crate) fn new(inputs: Vec<Reader>, outputs: Vec<Writer>) -> Ports {
        Ports {
            inputs: inputs.into_iter().map(|r| (r.port(), Some(r))).collect(),
            outputs: outputs.into_iter().map(|w| (w.port(), Some(w))).collect(),
        }
    }

    /// Takes the input `port`; `None` if it was not connected (or already taken).
    pub fn input(&mut self, port: &str) -> Option<Input> {
        let reader = self.inputs.iter_mut().find(|(p, _)| p == port)?.1.take()?;
        Some(Input {
            reader,
            chunk: Vec::new(),
            pos: 0,
            eof: false,
        })
    }

    /// Takes a required input `port`.
    pub fn required_input(&mut self, port: &str) -> Result<Input, StageError> {
        self.input(port).ok_or_else(|| {
            StageError::new("missing-input", format!("input `{port}` is not connected"))
                .at(port, None)
        })
    }

    /// Takes the output `port`.
    pub fn output(&mut self, port: &str) -> Result<Output, StageError> {
        let writer = self
            .outputs
            .iter_mut()
            .find(|(p, _)| p == port)
            .and_then(|(_, w)| w.take())
            .ok_or_else(|| StageError::new("missing-output", format!("no output port `{port}`")))?;
        Ok(Output {
            writer,
            buf: Vec::with_capacity(WRITE_BUFFER),
        })
    }

    pub(crate) fn finish(self) -> Result<(), StageError> {
        Ok(())
    }
}

/// An input port as `Read`. The host hands chunks of a fixed size.
pub struct Input {
    reader: Reader,
    chunk: Vec<u8>,
    pos: usize,
    eof: bool,
}

impl Read for Input {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.chunk.len() {
            if self.eof {
                return Ok(0);
            }
            self.chunk = self.reader.read();
            self.pos = 0;
            if self.chunk.is_empty() {
                self.eof = true;
                return Ok(0);
            }
        }
        let n = buf.len().min(self.chunk.len() - self.pos);
        buf[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl io::BufRead for Input {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pos == self.chunk.len() && !self.eof {
            self.chunk = self.reader.read();
            self.pos = 0;
            self.eof = self.chunk.is_empty();
        }
        Ok(&self.chunk[self.pos..])
    }

    fn consume(&mut self, amt: usize) {
        self.pos = (self.pos + amt).min(self.chunk.len());
    }
}

/// An output port as `Write`; buffered, flushed on drop.
pub struct Output {
    writer: Writer,
    buf: Vec<u8>,
}

impl Write for Output {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.buf.len() + data.len() > WRITE_BUFFER {
            self.flush()?;
        }
        if data.len() >= WRITE_BUFFER {
            self.writer.write(data);
        } else {
            self.buf.extend_from_slice(data);
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            self.writer.write(&self.buf);
            self.buf.clear();
        }
        Ok(())
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}
