//! The content-addressed blob store: every artifact is an object named by its SHA-256.
//!
//! Blobs are hashed as they are written, kept in memory while small (or,
//! through an [`BlobStore::in_memory`] view, while they fit a store-wide
//! budget, [`super::staging_budget`]) and in a temp file on local disk
//! (`tmp/`) otherwise, fsynced, then published under their digest by the
//! [`Objects`] backend at once, so a name always means the complete bytes:
//! nothing half-written is ever visible as complete. A blob already stored
//! (and still holding exactly the bytes just written: compared byte for byte,
//! not hashed again) is not written again. The backend today is a directory
//! every daemon shares (`objects::Directory`).
//!
//! A blob an `in_memory` view commits from memory is also kept among the
//! store's recent blobs ([`super::recent`]), from which a later stage is fed
//! without a second hash: those bytes never left this process.
//!
//! A [`BlobStore::deferred`] view publishes without the fsyncs: its blobs are
//! visible at once and durable after the next [`BlobStore::sync`] (one
//! `syncfs` for a whole group of blobs). Whoever commits a pointer to such a
//! blob (a stage-cache entry, a sealed run record) syncs first. A blob torn by
//! a crash before that sync is never pointed at, and is found out by its
//! digest wherever it is met again (`persist` compares, every reuse verifies).

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use crate::store::digest::{Digest, Hasher};
use crate::store::objects::{Directory, Objects, ReadSeek};
use crate::store::recent::Recent;
use crate::store::staging_budget::{Reservation, StagingBudget};

/// Blobs up to this size are always kept in memory until committed: a small
/// blob that is already stored costs no temp file at all.
const IN_MEMORY: usize = 1 << 16;

/// Blobs up to this size are kept in memory while the store's staging
/// budget allows; bigger ones are staged on disk.
pub(crate) const IN_MEMORY_MAX: usize = 32 << 20;

/// A blob store: local staging under `root`, objects in a backend.
#[derive(Debug, Clone)]
pub struct BlobStore {
    root: PathBuf,
    objects: Arc<dyn Objects>,
    /// Whether commits through this view skip the fsyncs ([`BlobStore::deferred`]).
    deferred: bool,
    /// Whether writers of this view stage in memory within the budget and
    /// keep what they commit as recent blobs ([`BlobStore::in_memory`]).
    in_memory: bool,
    /// Shared by every view of the store.
    unsynced: Arc<Unsynced>,
    /// Memory writers may stage in, shared by every view.
    budget: Arc<StagingBudget>,
    /// Blobs committed from memory, shared by every view.
    recent: Arc<Recent>,
}

/// Blobs published without fsync and not yet synced, shared by every view
/// of one store.
#[derive(Debug, Default)]
struct Unsynced {
    digests: Mutex<HashSet<Digest>>,
    /// Held across a sync, so a digest leaves `digests` only once it is durable.
    syncing: Mutex<()>,
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
    /// Opens (creating if needed) a store under `root`, its objects in `root/sha256`.
    pub fn open(root: impl Into<PathBuf>) -> Result<BlobStore, CasError> {
        let root = root.into();
        let objects = Directory::open(&root).map_err(io_at(&root))?;
        BlobStore::with_objects(root, Arc::new(objects))
    }

    /// A store staging under `root` and keeping its objects in `objects`.
    pub fn with_objects(root: PathBuf, objects: Arc<dyn Objects>) -> Result<BlobStore, CasError> {
        let tmp = root.join("tmp");
        fs::create_dir_all(&tmp).map_err(io_at(&tmp))?;
        Ok(BlobStore {
            root,
            objects,
            deferred: false,
            in_memory: false,
            unsynced: Arc::default(),
            budget: Arc::default(),
            recent: Arc::default(),
        })
    }

    /// A view of this store whose commits are visible at once but durable
    /// only after the next [`BlobStore::sync`] (on any view). Nothing may
    /// durably point at its blobs before that sync.
    pub fn deferred(&self) -> BlobStore {
        BlobStore {
            deferred: true,
            ..self.clone()
        }
    }

    /// A view whose writers stage blobs up to [`IN_MEMORY_MAX`] in memory
    /// (within the store's budget) and keep what they commit from memory as
    /// recent blobs, fed to later stages without a second hash: for the
    /// stage outputs and inputs of a run. Other writers (uploads, records)
    /// stage on disk past 64 KiB and keep nothing.
    pub fn in_memory(&self) -> BlobStore {
        BlobStore {
            in_memory: true,
            ..self.clone()
        }
    }

    /// Makes every blob committed through a deferred view so far durable (one
    /// `syncfs` of the store's filesystem; nothing when there are none).
    pub fn sync(&self) -> Result<(), CasError> {
        let _turn = self
            .unsynced
            .syncing
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let pending: Vec<Digest> = self.unsynced().iter().copied().collect();
        if pending.is_empty() {
            return Ok(());
        }
        self.objects.sync().map_err(io_at(&self.root))?;
        let mut unsynced = self.unsynced();
        for d in &pending {
            unsynced.remove(d);
        }
        Ok(())
    }

    /// Whether `digest` is stored and was not published by a deferred view
    /// since the last sync.
    pub fn is_durable(&self, digest: &Digest) -> bool {
        self.contains(digest) && !self.unsynced().contains(digest)
    }

    fn unsynced(&self) -> std::sync::MutexGuard<'_, HashSet<Digest>> {
        // The set stays consistent whatever panicked while holding it.
        self.unsynced
            .digests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// A file holding the blob named `digest` (whether or not it exists),
    /// when the backend keeps local files.
    pub fn local_path(&self, digest: &Digest) -> Option<PathBuf> {
        self.objects.local_path(digest)
    }

    pub fn contains(&self, digest: &Digest) -> bool {
        self.objects.size(digest).is_ok()
    }

    /// Maps a backend error about `digest` to the store's.
    fn error(&self, digest: &Digest, e: io::Error) -> CasError {
        match e.kind() {
            io::ErrorKind::NotFound => CasError::Missing(*digest),
            _ => CasError::Io {
                path: self.objects.describe(digest),
                source: e,
            },
        }
    }

    /// Whether a stored blob's bytes still hash to its name. Reads it whole:
    /// the cost of one SHA-256 pass over the blob.
    pub fn verify(&self, digest: &Digest) -> Result<bool, CasError> {
        let mut file = io::BufReader::with_capacity(1 << 16, self.open_blob(digest)?);
        let mut hasher = Hasher::default();
        io::copy(&mut file, &mut hasher).map_err(|e| self.error(digest, e))?;
        Ok(hasher.finish().0 == *digest)
    }

    /// The bytes of `digest` if this process wrote them from memory (and
    /// hashed them as it did) and still keeps them, and the blob is stored:
    /// what a stage may be fed without hashing them again.
    pub fn recent(&self, digest: &Digest) -> Option<Arc<Vec<u8>>> {
        self.recent.get(digest).filter(|_| self.contains(digest))
    }

    /// The size in bytes of a stored blob.
    pub fn size_of(&self, digest: &Digest) -> Result<u64, CasError> {
        self.objects.size(digest).map_err(|e| self.error(digest, e))
    }

    /// Opens a stored blob for reading.
    pub fn open_blob(&self, digest: &Digest) -> Result<Box<dyn ReadSeek>, CasError> {
        self.objects.open(digest).map_err(|e| self.error(digest, e))
    }

    /// Reads a whole blob into memory (for small blobs such as modules).
    pub fn read(&self, digest: &Digest) -> Result<Vec<u8>, CasError> {
        let mut bytes = Vec::new();
        self.open_blob(digest)?
            .read_to_end(&mut bytes)
            .map_err(|e| self.error(digest, e))?;
        Ok(bytes)
    }

    /// Writes a copy of the blob to `to` (a new file), returning its size.
    pub fn copy_to(&self, digest: &Digest, to: &Path) -> Result<u64, CasError> {
        if let Some(from) = self.local_path(digest) {
            return fs::copy(&from, to).map_err(|e| self.error(digest, e));
        }
        let mut out = File::create(to).map_err(io_at(to))?;
        io::copy(&mut self.open_blob(digest)?, &mut out).map_err(io_at(to))
    }

    /// Removes a blob (nothing when it is not there).
    pub fn remove(&self, digest: &Digest) -> Result<(), CasError> {
        self.objects
            .remove(digest)
            .map_err(|e| self.error(digest, e))
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

    /// Removes what processes killed mid-write left in the staging dir and
    /// returns how many files. A file still being written (by any process
    /// sharing the store: its writer holds a lock on it) or younger than a
    /// minute (just created, not locked yet) is kept.
    pub fn clean_staging(&self) -> Result<usize, CasError> {
        let tmp = self.root.join("tmp");
        let mut removed = 0;
        for entry in fs::read_dir(&tmp).map_err(io_at(&tmp))? {
            let path = entry.map_err(io_at(&tmp))?.path();
            if abandoned(&path) {
                fs::remove_file(&path).map_err(io_at(&path))?;
                removed += 1;
            }
        }
        Ok(removed)
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
        Ok(BlobWriter {
            store: self.clone(),
            sink: Sink::Memory(Vec::new()),
            hasher,
            len: 0,
            reserved: Reservation::new(self.budget.clone()),
        })
    }

    /// A new staging file, locked while the blob is written (`clean_staging`
    /// leaves it alone).
    fn staging_file(&self) -> io::Result<tempfile::NamedTempFile> {
        let file = tempfile::NamedTempFile::new_in(self.root.join("tmp"))?;
        file.as_file().lock()?;
        Ok(file)
    }

    /// Whether `digest` is stored and holds exactly the bytes `written`
    /// yields (compared, not hashed: those bytes were hashed as they were
    /// written): then it need not be written again. A stored copy that
    /// differs, or cannot be read, is replaced (healed) by the caller. One
    /// that is stored but not yet durable (published by a deferred view) is
    /// synced first, unless this view defers too.
    fn already_stored<R: Read>(
        &self,
        digest: &Digest,
        len: u64,
        written: impl FnOnce() -> io::Result<R>,
    ) -> Result<bool, CasError> {
        if self.objects.size(digest).ok() != Some(len) {
            return Ok(false);
        }
        let Ok(stored) = self.objects.open(digest) else {
            return Ok(false);
        };
        let written = written().map_err(io_at(&self.root.join("tmp")))?;
        // Buffers no bigger than the blob: most blobs are small records.
        let buffer = usize::try_from(len).unwrap_or(usize::MAX).clamp(1, 1 << 16);
        match same_bytes(stored, written, buffer) {
            Ok(true) => {}
            Ok(false) | Err(Side::Stored) => return Ok(false),
            Err(Side::Written(e)) => return Err(io_at(&self.root.join("tmp"))(e)),
        }
        if !self.deferred && self.unsynced().contains(digest) {
            self.sync()?;
        }
        Ok(true)
    }

    /// Makes `staged` the blob `digest`: durably, or (deferred view) visible
    /// now and durable at the next sync.
    fn publish(&self, staged: tempfile::NamedTempFile, digest: &Digest) -> Result<(), CasError> {
        if !self.deferred {
            return self
                .objects
                .publish(staged, digest)
                .map_err(|e| self.error(digest, e));
        }
        // Noted before it is visible: a durable writer of the same bytes that
        // finds it also finds that it still needs a sync.
        self.unsynced().insert(*digest);
        self.objects
            .publish_unsynced(staged, digest)
            .map_err(|e| self.error(digest, e))
    }
}

/// Where a blob's bytes are until it is committed.
enum Sink {
    /// Small so far, or within the staging budget: in memory, no file yet.
    Memory(Vec<u8>),
    File(io::BufWriter<tempfile::NamedTempFile>),
}

/// Which of two compared sources failed to read.
enum Side {
    Stored,
    Written(io::Error),
}

/// Whether `stored` and `written` yield the same bytes (read side by side,
/// a buffer at a time).
fn same_bytes(mut stored: impl Read, mut written: impl Read, buffer: usize) -> Result<bool, Side> {
    let (mut a, mut b) = (vec![0u8; buffer], vec![0u8; buffer]);
    loop {
        let n = fill(&mut stored, &mut a).map_err(|_| Side::Stored)?;
        let m = fill(&mut written, &mut b).map_err(Side::Written)?;
        if a[..n] != b[..m] {
            return Ok(false);
        }
        if n < a.len() {
            return Ok(true);
        }
    }
}

/// Reads until `buf` is full or the source ends; how many bytes were read.
fn fill(source: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match source.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Whether the staged file at `path` was left by a writer that is gone:
/// older than a minute, and nobody holds its lock.
fn abandoned(path: &Path) -> bool {
    let old = fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age.as_secs() >= 60);
    // The probe's own lock ends when the file is closed, at the end of this call.
    old && File::open(path).is_ok_and(|f| f.try_lock().is_ok())
}

/// A blob being written. Dropping it without `commit` discards the bytes.
pub struct BlobWriter {
    store: BlobStore,
    sink: Sink,
    hasher: Option<Hasher>,
    len: u64,
    /// What a memory sink holds of the store's staging budget.
    reserved: Reservation,
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
            store,
            sink,
            len,
            mut reserved,
            ..
        } = self;
        let staging = store.root.join("tmp");
        match sink {
            Sink::Memory(bytes) => {
                // Same name, same bytes: the blob is already stored. A stored
                // copy that no longer matches is replaced (healed).
                if !store.already_stored(&digest, len, || Ok(&bytes[..]))? {
                    let mut file = store.staging_file().map_err(io_at(&staging))?;
                    file.write_all(&bytes).map_err(io_at(&staging))?;
                    store.publish(file, &digest)?;
                }
                reserved.release();
                if store.in_memory {
                    store.recent.insert(digest, bytes);
                }
            }
            Sink::File(file) => {
                let file = file.into_inner().map_err(|e| CasError::Io {
                    path: staging.clone(),
                    source: e.into_error(),
                })?;
                let written = || file.reopen().map(|f| BufReader::with_capacity(1 << 16, f));
                if !store.already_stored(&digest, len, written)? {
                    store.publish(file, &digest)?;
                }
            }
        }
        Ok((digest, len))
    }

    /// Where the next `more` bytes go: memory while the blob is small, or
    /// within [`IN_MEMORY_MAX`] and the store's staging budget; else the
    /// staging file, created (with what memory held) when it is outgrown.
    fn sink_for(&mut self, more: usize) -> io::Result<&mut dyn Write> {
        if let Sink::Memory(bytes) = &self.sink {
            let total = bytes.len() + more;
            let fits = total <= IN_MEMORY
                || (self.store.in_memory
                    && total <= IN_MEMORY_MAX
                    && self.reserved.grow_to(total - IN_MEMORY));
            if !fits {
                let mut file = io::BufWriter::with_capacity(IN_MEMORY, self.store.staging_file()?);
                file.write_all(bytes)?;
                self.sink = Sink::File(file);
                self.reserved.release();
            }
        }
        Ok(match &mut self.sink {
            Sink::Memory(bytes) => bytes,
            Sink::File(file) => file,
        })
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.sink_for(buf.len())?.write(buf)?;
        if let Some(h) = &mut self.hasher {
            h.update(&buf[..n]);
        }
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.sink {
            Sink::Memory(_) => Ok(()),
            Sink::File(file) => file.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use super::*;

    /// A second backend, keeping objects in memory and no local files: what
    /// the store needs of a backend is the `Objects` trait alone.
    #[derive(Debug, Default)]
    struct Memory(Mutex<HashMap<Digest, Vec<u8>>>);

    impl Objects for Memory {
        fn open(&self, digest: &Digest) -> io::Result<Box<dyn ReadSeek>> {
            let map = self.0.lock().unwrap();
            let bytes = map.get(digest).ok_or(io::ErrorKind::NotFound)?;
            Ok(Box::new(io::Cursor::new(bytes.clone())))
        }
        fn size(&self, digest: &Digest) -> io::Result<u64> {
            let map = self.0.lock().unwrap();
            Ok(map.get(digest).ok_or(io::ErrorKind::NotFound)?.len() as u64)
        }
        fn publish(&self, staged: tempfile::NamedTempFile, digest: &Digest) -> io::Result<()> {
            let bytes = fs::read(staged.path())?;
            self.0.lock().unwrap().insert(*digest, bytes);
            Ok(())
        }
        fn remove(&self, digest: &Digest) -> io::Result<()> {
            self.0.lock().unwrap().remove(digest);
            Ok(())
        }
        fn local_path(&self, _: &Digest) -> Option<PathBuf> {
            None
        }
        fn describe(&self, digest: &Digest) -> PathBuf {
            PathBuf::from(format!("memory:{digest}"))
        }
    }

    #[test]
    fn cleaning_the_staging_dir_spares_files_being_written() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let ago = std::time::SystemTime::now() - std::time::Duration::from_secs(120);
        let leftover = dir.path().join("tmp/.tmpLeft");
        fs::write(&leftover, b"half").unwrap();
        File::options()
            .write(true)
            .open(&leftover)
            .unwrap()
            .set_modified(ago)
            .unwrap();
        // Another process's blob in progress (too big for memory, so in a
        // staged file): old, but its writer holds the lock.
        let big = vec![7u8; IN_MEMORY_MAX + 1];
        let mut writing = store.writer().unwrap();
        writing.write_all(&big).unwrap();
        writing.flush().unwrap();
        let staged: Vec<PathBuf> = fs::read_dir(dir.path().join("tmp"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| *p != leftover)
            .collect();
        for p in &staged {
            File::options()
                .write(true)
                .open(p)
                .unwrap()
                .set_modified(ago)
                .unwrap();
        }
        let young = dir.path().join("tmp/.tmpYoung");
        fs::write(&young, b"just made").unwrap();
        assert_eq!(store.clean_staging().unwrap(), 1);
        assert_eq!(staged.len(), 1, "the big blob is staged on disk");
        assert!(!leftover.exists() && young.exists() && staged.iter().all(|p| p.exists()));
        assert_eq!(writing.commit().unwrap().0, Digest::of(&big));
    }

    #[test]
    fn a_backend_without_local_files_stores_reads_verifies_copies_and_removes() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            BlobStore::with_objects(dir.path().into(), Arc::new(Memory::default())).unwrap();
        let d = store.put(b"lambda").unwrap();
        assert!(store.contains(&d) && store.verify(&d).unwrap());
        assert_eq!(
            (store.read(&d).unwrap(), store.size_of(&d).unwrap()),
            (b"lambda".to_vec(), 6)
        );
        assert_eq!(store.local_path(&d), None);
        let copy = dir.path().join("copy");
        assert_eq!(store.copy_to(&d, &copy).unwrap(), 6);
        assert_eq!(fs::read(&copy).unwrap(), b"lambda");
        assert!(
            !dir.path().join("sha256").exists(),
            "nothing went to disk but staging"
        );
        store.remove(&d).unwrap();
        assert!(matches!(store.read(&d), Err(CasError::Missing(_))));
    }

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
    fn a_small_blob_already_stored_is_not_staged_again() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let d = store.put(b"small").unwrap();
        let mut w = store.writer().unwrap();
        w.write_all(b"small").unwrap();
        w.flush().unwrap();
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
        assert_eq!(w.commit().unwrap(), (d, 5));
    }

    /// The state a crash before the group commit's sync may leave: the
    /// blob's name exists, its bytes do not (all of them).
    fn tear(store: &BlobStore, d: &Digest) {
        let path = store.local_path(d).unwrap();
        let mut perms = fs::metadata(&path).unwrap().permissions();
        #[allow(clippy::permissions_set_readonly_false)]
        perms.set_readonly(false);
        fs::set_permissions(&path, perms).unwrap();
        File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(2)
            .unwrap();
    }

    #[test]
    fn deferred_blobs_are_visible_at_once_and_durable_after_a_sync() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let deferred = store.deferred();
        let d = deferred.put(b"a record").unwrap();
        assert_eq!(store.read(&d).unwrap(), b"a record", "visible at once");
        assert!(store.unsynced().contains(&d));
        deferred.sync().unwrap();
        assert!(store.unsynced().is_empty(), "durable after one sync");
        // A durable writer of bytes a deferred one stored first syncs them.
        let e = deferred.put(b"an output").unwrap();
        assert_eq!(store.put(b"an output").unwrap(), e);
        assert!(store.unsynced().is_empty());
    }

    #[test]
    fn a_blob_torn_before_its_sync_is_found_out_and_healed() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        for bytes in [
            b"small".to_vec(),
            vec![3u8; IN_MEMORY * 3],
            vec![4u8; IN_MEMORY_MAX + 1],
        ] {
            let d = store.deferred().put(&bytes).unwrap();
            tear(&store, &d);
            assert!(
                store.contains(&d) && !store.verify(&d).unwrap(),
                "found out"
            );
            // Whoever stores the same bytes again replaces the torn copy.
            assert_eq!(store.deferred().put(&bytes).unwrap(), d);
            assert!(store.verify(&d).unwrap(), "healed");
        }
        store.sync().unwrap();
    }

    /// Rewrites a stored blob in place with other bytes of the same size:
    /// what only a byte-for-byte comparison (or a hash) finds out.
    fn flip_a_byte(store: &BlobStore, d: &Digest) {
        let path = store.local_path(d).unwrap();
        let mut bytes = fs::read(&path).unwrap();
        bytes[0] ^= 1;
        let mut perms = fs::metadata(&path).unwrap().permissions();
        #[allow(clippy::permissions_set_readonly_false)]
        perms.set_readonly(false);
        fs::set_permissions(&path, perms).unwrap();
        fs::write(&path, &bytes).unwrap();
    }

    #[test]
    fn a_tampered_stored_blob_of_the_same_size_is_healed_by_writing_it_again() {
        for bytes in [
            b"small".to_vec(),
            vec![5u8; IN_MEMORY * 3],
            vec![6u8; IN_MEMORY_MAX + 1],
        ] {
            for view in 0..3 {
                let dir = tempfile::tempdir().unwrap();
                let store = BlobStore::open(dir.path()).unwrap();
                let store = match view {
                    0 => store,
                    1 => store.deferred(),
                    _ => store.deferred().in_memory(),
                };
                let d = store.put(&bytes).unwrap();
                flip_a_byte(&store, &d);
                assert!(!store.verify(&d).unwrap(), "tampered");
                assert_eq!(store.put(&bytes).unwrap(), d);
                assert!(store.verify(&d).unwrap(), "healed");
                assert_eq!(store.read(&d).unwrap(), bytes);
            }
        }
    }

    #[test]
    fn a_blob_committed_from_memory_is_kept_as_a_recent_blob_equal_to_the_stored_one() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let medium = vec![9u8; IN_MEMORY * 4];
        assert!(
            store.recent(&store.put(&medium).unwrap()).is_none(),
            "not this view"
        );
        let d = store.deferred().in_memory().put(&medium).unwrap();
        let recent = store.recent(&d).expect("kept in memory");
        assert_eq!(*recent, store.read(&d).unwrap(), "the stored bytes");
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
        // Another process (another store on the same directory) has no such
        // copy: what it reads comes from disk and is checked there.
        let other = BlobStore::open(dir.path()).unwrap();
        assert!(other.recent(&d).is_none());
        flip_a_byte(&store, &d);
        assert!(!other.verify(&d).unwrap(), "tampering on disk is found out");
        // A blob staged on disk is not kept in memory.
        let big = vec![8u8; IN_MEMORY_MAX + 1];
        let b = store.in_memory().put(&big).unwrap();
        assert!(store.recent(&b).is_none());
        // Nor is one no longer stored.
        store.remove(&d).unwrap();
        assert!(store.recent(&d).is_none());
    }

    #[test]
    fn writers_stage_on_disk_once_the_memory_budget_is_spent() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap().in_memory();
        let chunk = vec![1u8; IN_MEMORY_MAX];
        let mut writers: Vec<BlobWriter> = Vec::new();
        for _ in 0..crate::store::staging_budget::BUDGET / IN_MEMORY_MAX + 2 {
            let mut w = store.writer().unwrap();
            w.write_all(&chunk).unwrap();
            w.flush().unwrap();
            writers.push(w);
        }
        let staged = fs::read_dir(dir.path().join("tmp")).unwrap().count();
        assert!(staged >= 2, "{staged} writers went to disk");
        drop(writers);
        let mut w = store.writer().unwrap();
        w.write_all(&chunk).unwrap();
        w.flush().unwrap();
        assert_eq!(
            fs::read_dir(dir.path().join("tmp")).unwrap().count(),
            0,
            "the budget was given back"
        );
        assert_eq!(w.commit().unwrap().0, Digest::of(&chunk));
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
