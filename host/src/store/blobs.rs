//! The content-addressed blob store: every artifact is a file named by its SHA-256.
//!
//! Blobs are written to a temp file in the same filesystem, fsynced, then renamed
//! into place and the directory fsynced, so a name under `sha256/` always means
//! the complete bytes: nothing half-written is ever visible as complete.

use std::fs::{self, File};
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use crate::store::digest::{Digest, Hasher};

/// A blob store rooted at a directory.
#[derive(Debug, Clone)]
pub struct BlobStore {
    root: PathBuf,
}

/// Errors of the blob store.
#[derive(Debug, thiserror::Error)]
pub enum CasError {
    #[error("blob store at {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("blob {0} is not in the store")]
    Missing(Digest),
    #[error("a blob written without hashing must be committed with its digest")]
    NotHashed,
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> CasError + '_ {
    move |source| CasError::Io {
        path: path.to_owned(),
        source,
    }
}

impl BlobStore {
    /// Opens (creating if needed) a store under `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<BlobStore, CasError> {
        let root = root.into();
        for dir in [root.join("sha256"), root.join("tmp")] {
            fs::create_dir_all(&dir).map_err(io_at(&dir))?;
        }
        Ok(BlobStore { root })
    }

    /// Where the blob named `digest` lives (whether or not it exists).
    pub fn path_of(&self, digest: &Digest) -> PathBuf {
        let hex = digest.to_hex();
        self.root.join("sha256").join(&hex[..2]).join(hex)
    }

    pub fn contains(&self, digest: &Digest) -> bool {
        self.path_of(digest).is_file()
    }

    /// Whether a stored blob's bytes still hash to its name. Reads it whole:
    /// the cost of one SHA-256 pass over the blob.
    pub fn verify(&self, digest: &Digest) -> Result<bool, CasError> {
        let path = self.path_of(digest);
        let mut file = io::BufReader::with_capacity(1 << 16, self.open_blob(digest)?);
        let mut hasher = Hasher::default();
        io::copy(&mut file, &mut hasher).map_err(io_at(&path))?;
        Ok(hasher.finish().0 == *digest)
    }

    /// The size in bytes of a stored blob.
    pub fn size_of(&self, digest: &Digest) -> Result<u64, CasError> {
        let path = self.path_of(digest);
        match std::fs::metadata(&path) {
            Ok(m) => Ok(m.len()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(CasError::Missing(*digest)),
            Err(e) => Err(CasError::Io { path, source: e }),
        }
    }

    /// Opens a stored blob for reading.
    pub fn open_blob(&self, digest: &Digest) -> Result<File, CasError> {
        let path = self.path_of(digest);
        File::open(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => CasError::Missing(*digest),
            _ => CasError::Io { path, source: e },
        })
    }

    /// Reads a whole blob into memory (for small blobs such as modules).
    pub fn read(&self, digest: &Digest) -> Result<Vec<u8>, CasError> {
        let mut bytes = Vec::new();
        let path = self.path_of(digest);
        self.open_blob(digest)?
            .read_to_end(&mut bytes)
            .map_err(io_at(&path))?;
        Ok(bytes)
    }

    /// Stores `bytes`, returning their digest.
    pub fn put(&self, bytes: &[u8]) -> Result<Digest, CasError> {
        let mut w = self.writer()?;
        w.write_all(bytes).map_err(io_at(&self.root))?;
        Ok(w.commit()?.0)
    }

    /// Copies a file into the store while hashing it.
    pub fn put_file(&self, path: &Path) -> Result<(Digest, u64), CasError> {
        let mut file = BufReader::new(File::open(path).map_err(io_at(path))?);
        let mut w = self.writer()?;
        io::copy(&mut file, &mut w).map_err(io_at(path))?;
        w.commit()
    }

    /// Starts a new blob; nothing is visible until [`BlobWriter::commit`].
    pub fn writer(&self) -> Result<BlobWriter, CasError> {
        self.new_writer(Some(Hasher::default()))
    }

    /// Starts a blob whose bytes the caller hashes itself (so they are hashed
    /// once); it becomes visible with [`BlobWriter::commit_as`].
    pub fn unhashed_writer(&self) -> Result<BlobWriter, CasError> {
        self.new_writer(None)
    }

    fn new_writer(&self, hasher: Option<Hasher>) -> Result<BlobWriter, CasError> {
        let tmp_dir = self.root.join("tmp");
        let file = tempfile::NamedTempFile::new_in(&tmp_dir).map_err(io_at(&tmp_dir))?;
        Ok(BlobWriter {
            store: self.clone(),
            file: io::BufWriter::with_capacity(1 << 16, file),
            hasher,
            len: 0,
        })
    }
}

/// A blob being written. Dropping it without `commit` discards the bytes.
pub struct BlobWriter {
    store: BlobStore,
    file: io::BufWriter<tempfile::NamedTempFile>,
    hasher: Option<Hasher>,
    len: u64,
}

impl BlobWriter {
    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Makes the blob durable and visible under its digest.
    pub fn commit(mut self) -> Result<(Digest, u64), CasError> {
        let (digest, _) = self.hasher.take().ok_or(CasError::NotHashed)?.finish();
        self.persist(digest)
    }

    /// Commits a blob from [`BlobStore::unhashed_writer`] under `digest`, which
    /// the caller computed over exactly the bytes written.
    pub fn commit_as(self, digest: Digest) -> Result<(Digest, u64), CasError> {
        self.persist(digest)
    }

    fn persist(self, digest: Digest) -> Result<(Digest, u64), CasError> {
        let BlobWriter {
            store, file, len, ..
        } = self;
        let target = store.path_of(&digest);
        let tmp = file.into_inner().map_err(|e| CasError::Io {
            path: target.clone(),
            source: e.into_error(),
        })?;
        if target.is_file() && store.verify(&digest).unwrap_or(false) {
            // Same name, same bytes: the blob is already durable. A stored copy
            // that no longer matches its name is replaced (healed) below.
            return Ok((digest, len));
        }
        super::atomic::persist(tmp, &target).map_err(io_at(&target))?;
        Ok((digest, len))
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        if let Some(h) = &mut self.hasher {
            h.update(&buf[..n]);
        }
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_is_idempotent_and_named_by_digest() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let a = store.put(b"hello").unwrap();
        let b = store.put(b"hello").unwrap();
        assert_eq!(a, b);
        assert_eq!(a, Digest::of(b"hello"));
        assert_eq!(store.read(&a).unwrap(), b"hello");
        let missing = Digest::of(b"nope");
        assert!(matches!(store.read(&missing), Err(CasError::Missing(_))));
    }

    #[test]
    fn unhashed_writer_needs_the_callers_digest() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let mut w = store.unhashed_writer().unwrap();
        w.write_all(b"abc").unwrap();
        assert!(matches!(w.commit(), Err(CasError::NotHashed)));
        let mut w = store.unhashed_writer().unwrap();
        w.write_all(b"abc").unwrap();
        assert_eq!(
            w.commit_as(Digest::of(b"abc")).unwrap(),
            (Digest::of(b"abc"), 3)
        );
        assert_eq!(store.read(&Digest::of(b"abc")).unwrap(), b"abc");
    }

    #[test]
    fn uncommitted_blob_is_invisible() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let mut w = store.writer().unwrap();
        w.write_all(b"partial").unwrap();
        drop(w);
        assert!(!store.contains(&Digest::of(b"partial")));
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
    }
}
