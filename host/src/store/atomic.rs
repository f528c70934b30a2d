//! The one way petri makes a file durable and visible at once: write a temp file in the same
//! directory, fsync it, rename it over the target, fsync the directory.
//!
//! A reader sees the old file or the whole new one, never a part; after a
//! crash the file is the old one or the whole new one.

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
