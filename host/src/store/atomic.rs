//! The one way petri makes a file durable and visible at once: write a temp file in the same
//! directory, fsync it, rename it over the target, fsync the directory.
//!
//! A reader sees the old file or the whole new one, never a part; after a
//! crash the file is the old one or the whole new one.
//!
//! [`persist_unsynced`] is the rename alone, for files whose contents are
//! checked wherever they are read (blobs, by digest): after a crash before
//! [`sync_filesystem`] such a file may be missing, empty or torn.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

use tempfile::NamedTempFile;

/// Writes `parts` (in order) to `target` atomically and durably.
pub fn write(target: &Path, parts: &[&[u8]]) -> io::Result<()> {
    let dir = target.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let mut tmp = NamedTempFile::new_in(dir)?;
    for part in parts {
        tmp.write_all(part)?;
    }
    persist(tmp, target)
}

/// Makes an already written temp file `target`: fsync, rename, fsync the directory.
pub fn persist(tmp: NamedTempFile, target: &Path) -> io::Result<()> {
    let dir = target.parent().unwrap_or(Path::new("."));
    tmp.as_file().sync_all()?;
    fs::create_dir_all(dir)?;
    tmp.persist(target).map_err(|e| e.error)?;
    File::open(dir)?.sync_all()
}

/// Makes an already written temp file `target` by rename alone: visible at
/// once, durable after [`sync_filesystem`] (or the kernel's own write-back).
pub fn persist_unsynced(tmp: NamedTempFile, target: &Path) -> io::Result<()> {
    let dir = target.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    tmp.persist(target).map(drop).map_err(|e| e.error)
}

/// Writes every file of the filesystem holding `handle` out and makes it
/// durable (`syncfs`: data, inodes and renames, one journal commit). Reports
/// any write-back error on that filesystem since `handle` was opened.
#[cfg(target_os = "linux")]
pub fn sync_filesystem(handle: &File) -> io::Result<()> {
    rustix::fs::syncfs(handle).map_err(io::Error::from)
}
