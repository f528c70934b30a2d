//! The host side of `petri:stage/streams`: readers and writers that hash every byte.

use std::io::{self, Read};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::thread::JoinHandle;

use wasmtime::component::Resource;

use crate::bindings::streams::{Host, HostReader, HostWriter};
use crate::cas::BlobWriter;
use crate::digest::{Digest, Hasher};
use crate::engine::CHUNK_SIZE;
use crate::sandbox::StageState;

/// Table entry behind a guest's `reader` handle: an index into [`StageState::inputs`].
pub struct ReaderSlot(usize);

/// Table entry behind a guest's `writer` handle: an index into [`StageState::outputs`].
pub struct WriterSlot(usize);

/// Why the host stopped a stage while it was reading or writing.
#[derive(Debug, thiserror::Error)]
pub enum StreamAbort {
    #[error("output `{port}` exceeded its limit of {limit} bytes")]
    OutputLimit { port: String, limit: u64 },
    #[error("reading input `{port}`: {source}")]
    Input { port: String, source: io::Error },
    #[error("storing output `{port}`: {source}")]
    Output { port: String, source: io::Error },
}

/// Copies chunks into a blob on another thread, so storing an input overlaps
/// with hashing it and feeding the guest. The channel is bounded: memory stays
/// at a few chunks however fast the source is.
struct Tee {
    tx: Option<SyncSender<Vec<u8>>>,
    writer: Option<JoinHandle<io::Result<BlobWriter>>>,
}

impl Tee {
    fn new(mut blob: BlobWriter) -> Tee {
        let (tx, rx) = sync_channel::<Vec<u8>>(16);
        let writer = std::thread::spawn(move || {
            for chunk in rx {
                io::Write::write_all(&mut blob, &chunk)?;
            }
            Ok(blob)
        });
        Tee {
            tx: Some(tx),
            writer: Some(writer),
        }
    }

    fn send(&mut self, chunk: &[u8]) -> io::Result<()> {
        let sent = self.tx.as_ref().map(|tx| tx.send(chunk.to_vec()));
        match sent {
            Some(Ok(())) | None => Ok(()),
            // The writer stopped: its own error says why.
            Some(Err(_)) => self.finish().map(|_| ()),
        }
    }

    /// Waits for every chunk to be written and returns the blob.
    fn finish(&mut self) -> io::Result<BlobWriter> {
        drop(self.tx.take());
        match self.writer.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(io::Error::other("the blob writer thread panicked")),
            None => Err(io::Error::other("the blob writer already finished")),
        }
    }
}

/// One input port: the source, its running digest, and the copy kept in the store.
pub(crate) struct InputStream {
    pub port: String,
    source: Box<dyn Read + Send>,
    hasher: Hasher,
    tee: Option<Tee>,
    eof: bool,
}

impl InputStream {
    /// `tee` receives every byte read (on another thread), to keep the input in the blob store.
    pub fn new(port: String, source: Box<dyn Read + Send>, tee: Option<BlobWriter>) -> Self {
        InputStream {
            port,
            source,
            hasher: Hasher::default(),
            tee: tee.map(Tee::new),
            eof: false,
        }
    }

    /// The next chunk: exactly `CHUNK_SIZE` bytes unless the source ends.
    fn next_chunk(&mut self) -> io::Result<Vec<u8>> {
        let mut chunk = vec![0u8; CHUNK_SIZE as usize];
        let mut filled = 0;
        while !self.eof && filled < chunk.len() {
            match self.source.read(&mut chunk[filled..]) {
                Ok(0) => self.eof = true,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        chunk.truncate(filled);
        self.hasher.update(&chunk);
        if let Some(tee) = &mut self.tee {
            tee.send(&chunk)?;
        }
        Ok(chunk)
    }

    /// Reads what the stage left unread, so the digest covers the whole input,
    /// and returns the digest, the length and the stored copy.
    pub fn finish(mut self) -> io::Result<(Digest, u64, Option<BlobWriter>)> {
        while !self.eof {
            self.next_chunk()?;
        }
        let (digest, len) = self.hasher.finish();
        let blob = match &mut self.tee {
            Some(tee) => Some(tee.finish()?),
            None => None,
        };
        Ok((digest, len, blob))
    }
}

/// One output port: bytes go straight into a pending blob.
pub(crate) struct OutputStream {
    pub port: String,
    pub blob: BlobWriter,
    pub limit: u64,
    /// Whether the stage wrote to it at all (optional outputs may stay unwritten).
    pub written: bool,
}

impl Host for StageState {
    fn chunk_size(&mut self) -> wasmtime::Result<u32> {
        Ok(CHUNK_SIZE)
    }
}

impl HostReader for StageState {
    fn port(&mut self, handle: Resource<ReaderSlot>) -> wasmtime::Result<String> {
        let slot = self.table.get(&handle)?.0;
        Ok(self.inputs[slot].port.clone())
    }

    fn read(&mut self, handle: Resource<ReaderSlot>) -> wasmtime::Result<Vec<u8>> {
        let slot = self.table.get(&handle)?.0;
        let input = &mut self.inputs[slot];
        input.next_chunk().map_err(|source| {
            wasmtime::Error::new(StreamAbort::Input {
                port: input.port.clone(),
                source,
            })
        })
    }

    fn drop(&mut self, handle: Resource<ReaderSlot>) -> wasmtime::Result<()> {
        self.table.delete(handle)?;
        Ok(())
    }
}

impl HostWriter for StageState {
    fn port(&mut self, handle: Resource<WriterSlot>) -> wasmtime::Result<String> {
        let slot = self.table.get(&handle)?.0;
        Ok(self.outputs[slot].port.clone())
    }

    fn write(&mut self, handle: Resource<WriterSlot>, data: Vec<u8>) -> wasmtime::Result<()> {
        let slot = self.table.get(&handle)?.0;
        let out = &mut self.outputs[slot];
        if out.blob.len() + data.len() as u64 > out.limit {
            return Err(wasmtime::Error::new(StreamAbort::OutputLimit {
                port: out.port.clone(),
                limit: out.limit,
            }));
        }
        out.written = true;
        io::Write::write_all(&mut out.blob, &data).map_err(|source| {
            wasmtime::Error::new(StreamAbort::Output {
                port: out.port.clone(),
                source,
            })
        })
    }

    fn drop(&mut self, handle: Resource<WriterSlot>) -> wasmtime::Result<()> {
        self.table.delete(handle)?;
        Ok(())
    }
}

/// The guest's handles to every input and output, in port order.
pub(crate) type StreamHandles = (Vec<Resource<ReaderSlot>>, Vec<Resource<WriterSlot>>);

impl StageState {
    /// Hands every input and output to the guest as resources, in port order.
    pub(crate) fn stream_handles(&mut self) -> wasmtime::Result<StreamHandles> {
        let readers = (0..self.inputs.len())
            .map(|i| self.table.push(ReaderSlot(i)))
            .collect::<Result<_, _>>()?;
        let writers = (0..self.outputs.len())
            .map(|i| self.table.push(WriterSlot(i)))
            .collect::<Result<_, _>>()?;
        Ok((readers, writers))
    }
}
