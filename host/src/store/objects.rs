//! Where blob bytes live: the `Objects` seam under the blob store, and its one backend today, a
//! directory every daemon shares (`Directory`).
//!
//! The blob store hashes, stages and verifies; a backend only keeps named,
//! immutable objects. An S3-compatible bucket implements the same operations
//! (docs/scale-out.md, "An object-store backend"): `publish` is a
//! conditional PUT of the staged file, `open` a ranged GET, `local_path`
//! none. Staging stays on local disk in every backend, so nothing
//! half-written is ever visible under a name.

use std::fs::{self, File};
use std::io::{self, Read, Seek};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tempfile::NamedTempFile;

use crate::store::digest::Digest;

/// A readable, seekable object (ranged reads).
pub trait ReadSeek: Read + Seek + Send {}

impl<T: Read + Seek + Send> ReadSeek for T {}

/// A store of immutable objects named by digest.
pub trait Objects: Send + Sync + std::fmt::Debug {
    /// The object's bytes; `NotFound` when there is none.
    fn open(&self, digest: &Digest) -> io::Result<Box<dyn ReadSeek>>;
    /// The object's size; `NotFound` when there is none.
    fn size(&self, digest: &Digest) -> io::Result<u64>;
    /// Makes the complete, staged file the object named `digest`, at once:
    /// readers see all of it or nothing. Replaces a damaged object.
    fn publish(&self, staged: NamedTempFile, digest: &Digest) -> io::Result<()>;
    /// [`Objects::publish`], visible at once but durable only after the
    /// next [`Objects::sync`]. A backend whose publish is durable anyway keeps
    /// this default.
    fn publish_unsynced(&self, staged: NamedTempFile, digest: &Digest) -> io::Result<()> {
        self.publish(staged, digest)
    }
    /// Makes everything published so far durable, or reports why not.
    fn sync(&self) -> io::Result<()> {
        Ok(())
    }
    /// Removes the object (nothing when there is none).
    fn remove(&self, digest: &Digest) -> io::Result<()>;
    /// A file holding the object, when the backend keeps local files (for
    /// hard links, compiling a module in place, ranged serving from disk).
    fn local_path(&self, digest: &Digest) -> Option<PathBuf>;
    /// What to name in errors about the object.
    fn describe(&self, digest: &Digest) -> PathBuf;
}

/// Objects as files `sha256/<2 hex>/<64 hex>` under a directory.
#[derive(Debug, Clone)]
pub struct Directory {
    root: PathBuf,
    /// The directory, opened with the store: `syncfs` on it reports any
    /// write-back error on its filesystem since then.
    handle: Arc<File>,
}

impl Directory {
    /// The objects under `root` (its `sha256/` is created as needed).
    pub fn open(root: &Path) -> io::Result<Directory> {
        fs::create_dir_all(root.join("sha256"))?;
        Ok(Directory {
            root: root.to_owned(),
            handle: Arc::new(File::open(root)?),
        })
    }

    fn path(&self, digest: &Digest) -> PathBuf {
        let hex = digest.to_hex();
        self.root.join("sha256").join(&hex[..2]).join(hex)
    }
}

impl Objects for Directory {
    fn open(&self, digest: &Digest) -> io::Result<Box<dyn ReadSeek>> {
        Ok(Box::new(File::open(self.path(digest))?))
    }

    fn size(&self, digest: &Digest) -> io::Result<u64> {
        Ok(fs::metadata(self.path(digest))?.len())
    }

    fn publish(&self, staged: NamedTempFile, digest: &Digest) -> io::Result<()> {
        super::atomic::persist(staged, &self.path(digest))
    }

    // Elsewhere the default: every publish is durable.
    #[cfg(target_os = "linux")]
    fn publish_unsynced(&self, staged: NamedTempFile, digest: &Digest) -> io::Result<()> {
        super::atomic::persist_unsynced(staged, &self.path(digest))
    }

    #[cfg(target_os = "linux")]
    fn sync(&self) -> io::Result<()> {
        super::atomic::sync_filesystem(&self.handle)
    }

    fn remove(&self, digest: &Digest) -> io::Result<()> {
        match fs::remove_file(self.path(digest)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    fn local_path(&self, digest: &Digest) -> Option<PathBuf> {
        Some(self.path(digest))
    }

    fn describe(&self, digest: &Digest) -> PathBuf {
        self.path(digest)
    }
}
