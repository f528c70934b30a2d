//! The host side of `petri:stage/streams`: readers and writers that hash every
//! byte, each call metered in fuel, inputs and outputs capped.

use std::io::{self, Read};
use std::sync::Arc;
use std::sync::mpsc::{SyncSender, sync_channel};
use std::thread::JoinHandle;

use wasmtime::StoreContextMut;
use wasmtime::component::{Linker, Resource};

use crate::error::Error;
use crate::provenance::PortData;
use crate::stage::bindings::streams::{Host, HostReader, HostWriter};
use crate::stage::engine::CHUNK_SIZE;
use crate::stage::failure::Failure;
use crate::stage::sandbox::{StageState, charge_bytes, charge_call};
use crate::store::blobs::{BlobStore, BlobWriter, CasError};
use crate::store::digest::{Digest, Hasher};

/// Table entry behind a guest's `reader` handle: an index into [`StageState::inputs`].
pub struct ReaderSlot(usize);

/// Table entry behind a guest's `writer` handle: an index into [`StageState::outputs`].
pub struct WriterSlot(usize);

/// Why the host stopped a stage while it was reading or writing.
#[derive(Debug, thiserror::Error)]
pub enum StreamAbort {
    #[error("output `{port}` exceeded its limit of {limit} bytes")]
    OutputLimit { port: String, limit: u64 },
    #[error("outputs together exceeded {limit} bytes (writing `{port}`)")]
    TotalOutputLimit { port: String, limit: u64 },
    #[error("input `{port}` exceeded max-input-bytes ({limit} bytes)")]
    InputLimit { port: String, limit: u64 },
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

/// How an input's digest is known.
enum Check {
    /// Hashed as it is read: bytes from a file or the blob store.
    Hash(Hasher),
    /// The store's recent blob `digest`, hashed as this process wrote it and
    /// never out of its memory since ([`BlobStore::recent`]).
    Known { digest: Digest, bytes: Arc<Vec<u8>> },
}

/// A recent blob's bytes as a reader's source.
struct Shared(Arc<Vec<u8>>);

impl AsRef<[u8]> for Shared {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// One input port: the source, its running digest, and the copy kept in the store.
pub(crate) struct InputStream {
    pub port: String,
    source: Box<dyn Read + Send>,
    check: Check,
    tee: Option<Tee>,
    eof: bool,
    /// Bytes handed out (and hashed) so far.
    len: u64,
    /// Most bytes this input may have ([`crate::Limits::max_input_bytes`]).
    limit: u64,
    /// Set once the source turned out to hold more than `limit` bytes.
    over_limit: bool,
}

/// An input's source holds more than its limit; what was read stays hashed.
#[derive(Debug, thiserror::Error)]
#[error("more than {limit} bytes")]
struct OverLimit {
    limit: u64,
}

impl InputStream {
    /// `tee` receives every byte read (on another thread), to keep the input in the blob store.
    pub fn new(port: String, source: Box<dyn Read + Send>, tee: Option<BlobWriter>) -> Self {
        InputStream {
            port,
            source,
            check: Check::Hash(Hasher::default()),
            tee: tee.map(Tee::new),
            eof: false,
            len: 0,
            limit: u64::MAX,
            over_limit: false,
        }
    }

    /// An input fed from the recent blob `digest` (`bytes`, which hash to
    /// it): read from memory, not hashed again.
    pub fn recent(port: String, digest: Digest, bytes: Arc<Vec<u8>>) -> Self {
        let mut input =
            InputStream::new(port, Box::new(io::Cursor::new(Shared(bytes.clone()))), None);
        input.check = Check::Known { digest, bytes };
        input
    }

    /// Caps the bytes this input may have.
    pub fn set_limit(&mut self, limit: u64) {
        self.limit = limit;
    }

    /// Whether the source held more than the input's limit.
    pub fn over_limit(&self) -> Option<u64> {
        self.over_limit.then_some(self.limit)
    }

    /// The next chunk: exactly `CHUNK_SIZE` bytes unless the source ends;
    /// empty (without touching the source) once it has. A chunk that would
    /// take the input past its limit is neither hashed nor handed out.
    fn next_chunk(&mut self) -> io::Result<Vec<u8>> {
        if self.over_limit {
            return Err(io::Error::other(OverLimit { limit: self.limit }));
        }
        if self.eof {
            return Ok(Vec::new());
        }
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
        if self.len.saturating_add(filled as u64) > self.limit {
            self.over_limit = true;
            return Err(io::Error::other(OverLimit { limit: self.limit }));
        }
        self.len += filled as u64;
        if let Check::Hash(hasher) = &mut self.check {
            hasher.update(&chunk);
        }
        if let Some(tee) = &mut self.tee {
            tee.send(&chunk)?;
        }
        Ok(chunk)
    }

    /// Reads what the stage left unread, so the digest covers the whole
    /// input, stopping at the input's limit (see [`InputStream::over_limit`]).
    pub fn drain(&mut self) -> io::Result<()> {
        while !self.eof && !self.over_limit {
            if let Err(e) = self.next_chunk()
                && !self.over_limit
            {
                return Err(e);
            }
        }
        Ok(())
    }

    /// Drains the input and returns the digest and length of what was read
    /// (all of it, unless it was over its limit) and the stored copy.
    pub fn finish(mut self) -> io::Result<(Digest, u64, Option<BlobWriter>)> {
        self.drain()?;
        let (digest, len) = match self.check {
            Check::Hash(hasher) => hasher.finish(),
            // Over its limit, the digest covers what was read.
            Check::Known { bytes, .. } if self.over_limit => {
                let read = &bytes[..bytes
                    .len()
                    .min(usize::try_from(self.len).unwrap_or(usize::MAX))];
                (Digest::of(read), self.len)
            }
            Check::Known { digest, .. } => (digest, self.len),
        };
        let blob = match &mut self.tee {
            Some(tee) => Some(tee.finish()?),
            None => None,
        };
        Ok((digest, len, blob))
    }
}

/// One output port: bytes go straight into a pending blob, opened on the
/// first write (a stage with many ports holds no file for an unwritten one).
pub(crate) struct OutputStream {
    pub port: String,
    blobs: BlobStore,
    blob: Option<BlobWriter>,
    pub limit: u64,
    /// Whether the stage wrote to it at all (optional outputs may stay unwritten).
    pub written: bool,
}

impl OutputStream {
    pub fn new(port: String, blobs: BlobStore, limit: u64) -> OutputStream {
        OutputStream {
            port,
            blobs,
            blob: None,
            limit,
            written: false,
        }
    }

    fn len(&self) -> u64 {
        self.blob.as_ref().map_or(0, BlobWriter::len)
    }

    fn append(&mut self, data: &[u8]) -> io::Result<()> {
        if self.blob.is_none() {
            self.blob = Some(self.blobs.writer().map_err(io::Error::other)?);
        }
        match &mut self.blob {
            Some(blob) => io::Write::write_all(blob, data),
            None => Ok(()),
        }
    }

    /// Makes what was written (possibly nothing) a durable blob.
    pub fn commit(self) -> Result<PortData, CasError> {
        let (sha256, size) = match self.blob {
            Some(blob) => blob.commit()?,
            None => self.blobs.writer()?.commit()?,
        };
        Ok(PortData {
            port: self.port,
            sha256,
            size,
        })
    }
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
            let port = input.port.clone();
            wasmtime::Error::new(match input.over_limit() {
                Some(limit) => StreamAbort::InputLimit { port, limit },
                None => StreamAbort::Input { port, source },
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
        let total_limit = self.limiter.limits.total_output_bytes;
        let out = &mut self.outputs[slot];
        let size = data.len() as u64;
        if out.len().saturating_add(size) > out.limit {
            return Err(wasmtime::Error::new(StreamAbort::OutputLimit {
                port: out.port.clone(),
                limit: out.limit,
            }));
        }
        if self.output_total.saturating_add(size) > total_limit {
            return Err(wasmtime::Error::new(StreamAbort::TotalOutputLimit {
                port: out.port.clone(),
                limit: total_limit,
            }));
        }
        self.output_total += size;
        out.written = true;
        out.append(&data).map_err(|source| {
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

/// The interface whose functions [`link_metered`] redefines.
const STREAMS: &str = "petri:stage/streams@0.1.0";

type Cx<'a> = StoreContextMut<'a, StageState>;

/// Redefines every `petri:stage/streams` function (defined first by
/// `bindgen!`, on a linker that allows shadowing) so that each call pays
/// its fuel before the host does the work: a fee per call and per byte.
pub(crate) fn link_metered(linker: &mut Linker<StageState>) -> wasmtime::Result<()> {
    let mut i = linker.instance(STREAMS)?;
    i.func_wrap("chunk-size", |mut cx: Cx, (): ()| {
        charge_call(&mut cx)?;
        Ok((Host::chunk_size(cx.data_mut())?,))
    })?;
    i.func_wrap(
        "[method]reader.port",
        |mut cx: Cx, (h,): (Resource<ReaderSlot>,)| {
            charge_call(&mut cx)?;
            let port = HostReader::port(cx.data_mut(), h)?;
            charge_bytes(&mut cx, port.len())?;
            Ok((port,))
        },
    )?;
    i.func_wrap(
        "[method]reader.read",
        |mut cx: Cx, (h,): (Resource<ReaderSlot>,)| {
            charge_call(&mut cx)?;
            let chunk = HostReader::read(cx.data_mut(), h)?;
            charge_bytes(&mut cx, chunk.len())?;
            Ok((chunk,))
        },
    )?;
    i.func_wrap(
        "[method]writer.port",
        |mut cx: Cx, (h,): (Resource<WriterSlot>,)| {
            charge_call(&mut cx)?;
            let port = HostWriter::port(cx.data_mut(), h)?;
            charge_bytes(&mut cx, port.len())?;
            Ok((port,))
        },
    )?;
    i.func_wrap(
        "[method]writer.write",
        |mut cx: Cx, (h, data): (Resource<WriterSlot>, Vec<u8>)| {
            charge_call(&mut cx)?;
            charge_bytes(&mut cx, data.len())?;
            HostWriter::write(cx.data_mut(), h, data)
        },
    )?;
    Ok(())
}

/// The guest's handles to every input and output, in port order.
pub(crate) type StreamHandles = (Vec<Resource<ReaderSlot>>, Vec<Resource<WriterSlot>>);

impl StageState {
    /// Reads what the stage left unread of every input (for its digest), up
    /// to its limit; the failure of the first input found over its limit.
    pub(crate) fn drain_inputs(&mut self) -> Result<Option<Failure>, Error> {
        let mut failure = None;
        for input in &mut self.inputs {
            input.drain().map_err(|source| Error::Read {
                path: input.port.clone().into(),
                source,
            })?;
            if let (None, Some(limit)) = (&failure, input.over_limit()) {
                failure = Some(Failure::InputLimit {
                    port: input.port.clone(),
                    limit,
                });
            }
        }
        Ok(failure)
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    /// What a blob writer keeps in memory before it stages a file.
    const IN_MEMORY: usize = crate::store::blobs::IN_MEMORY_MAX;

    fn tmp_files(root: &std::path::Path) -> usize {
        std::fs::read_dir(root.join("tmp")).map_or(0, |d| d.count())
    }

    #[test]
    fn outputs_hold_no_file_until_written() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = BlobStore::open(dir.path()).unwrap();
        let mut outputs: Vec<OutputStream> = (0..10_000)
            .map(|i| OutputStream::new(format!("o{i}"), blobs.clone(), u64::MAX))
            .collect();
        assert_eq!(tmp_files(dir.path()), 0, "a blob file per unwritten port");
        outputs[7].append(b"bytes").unwrap();
        assert_eq!(tmp_files(dir.path()), 0, "a small output stays in memory");
        let big = vec![1u8; IN_MEMORY + 1];
        outputs[8].append(&big).unwrap();
        assert_eq!(tmp_files(dir.path()), 1, "a big one is staged on disk");
        let staged = outputs.swap_remove(8).commit().unwrap();
        assert_eq!(staged.sha256, Digest::of(&big));
        let written = outputs.swap_remove(7).commit().unwrap();
        assert_eq!((written.sha256, written.size), (Digest::of(b"bytes"), 5));
        let empty = outputs.swap_remove(0).commit().unwrap();
        assert_eq!((empty.sha256, empty.size), (Digest::of(b""), 0));
    }

    #[test]
    fn an_input_fed_from_memory_ends_like_one_hashed_as_it_is_read() {
        let chunk = CHUNK_SIZE as usize;
        let bytes: Vec<u8> = (0..3 * chunk + 5).map(|i| i as u8).collect();
        let digest = Digest::of(&bytes);
        let shared = Arc::new(bytes.clone());
        for limit in [u64::MAX, 2 * chunk as u64] {
            let mut hashed =
                InputStream::new("in".into(), Box::new(io::Cursor::new(bytes.clone())), None);
            let mut known = InputStream::recent("in".into(), digest, shared.clone());
            hashed.set_limit(limit);
            known.set_limit(limit);
            assert_eq!(hashed.next_chunk().unwrap(), known.next_chunk().unwrap());
            let (h, k) = (hashed.finish().unwrap(), known.finish().unwrap());
            assert_eq!((h.0, h.1), (k.0, k.1), "limit {limit}");
        }
    }

    #[test]
    fn input_stops_at_its_limit_and_reads_nothing_past_eof() {
        let chunk = CHUNK_SIZE as usize;
        let mut input = InputStream::new("in".into(), Box::new(io::repeat(1)), None);
        input.set_limit(3 * chunk as u64);
        for _ in 0..3 {
            assert_eq!(input.next_chunk().unwrap().len(), chunk);
        }
        assert!(input.next_chunk().is_err());
        assert_eq!(input.over_limit(), Some(3 * chunk as u64));
        input.drain().unwrap();
        let (digest, len, _) = input.finish().unwrap();
        assert_eq!(len, 3 * chunk as u64);
        assert_eq!(digest, Digest::of(&vec![1u8; 3 * chunk]));

        let mut small = InputStream::new("in".into(), Box::new(&b"abc"[..]), None);
        assert_eq!(small.next_chunk().unwrap(), b"abc");
        for _ in 0..3 {
            assert!(small.next_chunk().unwrap().is_empty());
        }
        assert_eq!(small.over_limit(), None);
    }
}
