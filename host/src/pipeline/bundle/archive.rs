//! The bundle as a file: a gzip-compressed tar written with fixed metadata, and read as untrusted input.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Read};
use std::path::Path;

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;

use super::BundleError;
use crate::store::blobs::BlobStore;
use crate::store::digest::Digest;

/// Most entries a bundle may hold.
pub const MAX_ENTRIES: usize = 100_000;
/// Largest file a bundle may hold.
pub const MAX_FILE: u64 = 64 << 30;
/// Most bytes all files of a bundle may hold together.
pub const MAX_TOTAL: u64 = 256 << 30;
/// Longest path inside a bundle.
const MAX_PATH: usize = 255;

/// Where a file's bytes come from when a bundle is written.
#[derive(Debug, Clone)]
pub enum Source {
    /// A blob of the store.
    Blob(Digest),
    /// Bytes made for the bundle (README, run record, metadata).
    Bytes(Vec<u8>),
}

/// Writes `files` (path → bytes) as a tar.gz at `out`, in the given order,
/// every entry a regular file with mode 0644 and time 0 (same run, same bytes).
/// The archive appears whole or not at all.
pub fn write(out: &Path, blobs: &BlobStore, files: &[(String, Source)]) -> Result<(), BundleError> {
    let at = super::io_at(out);
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let staged = tempfile::NamedTempFile::new_in(dir).map_err(at)?;
    let mut tar = tar::Builder::new(GzEncoder::new(
        BufWriter::new(staged.as_file()),
        Compression::default(),
    ));
    for (path, source) in files {
        match source {
            Source::Blob(d) => {
                let size = blobs.size_of(d)?;
                append(&mut tar, path, size, blobs.open_blob(d)?).map_err(at)?;
            }
            Source::Bytes(bytes) => {
                append(&mut tar, path, bytes.len() as u64, bytes.as_slice()).map_err(at)?;
            }
        }
    }
    let gz = tar.into_inner().map_err(at)?;
    let mut buffered = gz.finish().map_err(at)?;
    io::Write::flush(&mut buffered).map_err(at)?;
    drop(buffered);
    staged.as_file().sync_all().map_err(at)?;
    staged.persist(out).map_err(|e| at(e.error))?;
    Ok(())
}

fn append<W: io::Write>(
    tar: &mut tar::Builder<W>,
    path: &str,
    size: u64,
    data: impl Read,
) -> io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_path(path)?;
    header.set_size(size);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_cksum();
    tar.append(&header, data)
}

/// Reads the bundle at `path` into `blobs`: every file becomes a blob.
/// Returns path → (digest of its bytes, size). Refuses (naming the entry)
/// links, devices, absolute paths, `..`, odd characters, repeated paths and
/// sizes over the caps.
pub fn read(
    path: &Path,
    blobs: &BlobStore,
) -> Result<BTreeMap<String, (Digest, u64)>, BundleError> {
    let at = super::io_at(path);
    let file = File::open(path).map_err(at)?;
    let mut tar = tar::Archive::new(GzDecoder::new(io::BufReader::new(file)));
    let mut files = BTreeMap::new();
    let mut total = 0u64;
    for entry in tar.entries().map_err(at)? {
        let entry = entry.map_err(at)?;
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let size = entry.header().size().map_err(at)?;
        if !admit(&name, entry.header().entry_type())? {
            continue;
        }
        total = total.saturating_add(size);
        if size > MAX_FILE || total > MAX_TOTAL || files.len() >= MAX_ENTRIES {
            return Err(hostile(
                &name,
                "more bytes or entries than a bundle may hold",
            ));
        }
        if files.contains_key(&name) {
            return Err(hostile(&name, "the path appears twice"));
        }
        let mut writer = blobs.writer()?;
        io::copy(&mut entry.take(size), &mut writer).map_err(at)?;
        let stored = writer.commit()?;
        files.insert(name, stored);
    }
    Ok(files)
}

/// Whether an entry is a file to read (`false`: a directory, skipped).
fn admit(name: &str, kind: tar::EntryType) -> Result<bool, BundleError> {
    if kind.is_dir() {
        return Ok(false);
    }
    if !(kind.is_file() || kind.is_contiguous()) {
        return Err(hostile(
            name,
            "not a regular file (links and devices are refused)",
        ));
    }
    safe_path(name).map_err(|reason| hostile(name, reason))?;
    Ok(true)
}

/// A relative path of plain components: letters, digits, `.`, `-`, `_`.
pub fn safe_path(name: &str) -> Result<(), &'static str> {
    if name.is_empty() || name.len() > MAX_PATH {
        return Err("an empty or too long path");
    }
    if name.starts_with('/') {
        return Err("an absolute path");
    }
    for part in name.split('/') {
        if part.is_empty() || part == "." || part == ".." {
            return Err("a path that is not plain (`..`, `.` or `//`)");
        }
        if !part
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        {
            return Err("a path with characters other than letters, digits, `.`, `-`, `_`");
        }
    }
    Ok(())
}

fn hostile(path: &str, reason: &str) -> BundleError {
    BundleError::Hostile {
        path: crate::pipeline::bundle::printable(path),
        reason: reason.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn only_plain_relative_paths_are_safe() {
        for ok in [
            "manifest.json",
            "data/ab12",
            "wit/stage.wit",
            "records/x-1_2.json",
        ] {
            assert_eq!(safe_path(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a//b",
            "./a",
            "a\\b",
            "a b",
            "ü",
        ] {
            assert!(safe_path(bad).is_err(), "{bad}");
        }
    }

    /// A raw tar entry named `name`, with the checks of `tar::Header::set_path` bypassed.
    fn raw_entry(name: &str, kind: tar::EntryType, body: &[u8]) -> Vec<u8> {
        let mut header = tar::Header::new_old();
        header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        header.set_size(body.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(kind);
        header.set_cksum();
        let mut out = header.as_bytes().to_vec();
        out.extend_from_slice(body);
        out.resize(out.len().div_ceil(512) * 512, 0);
        out
    }

    fn gz_tar(entries: &[Vec<u8>]) -> Vec<u8> {
        let mut tar: Vec<u8> = entries.concat();
        tar.extend_from_slice(&[0; 1024]);
        let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
        io::Write::write_all(&mut gz, &tar).unwrap();
        gz.finish().unwrap()
    }

    #[test]
    fn hostile_entries_are_refused_and_named() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = BlobStore::open(dir.path().join("blobs")).unwrap();
        let cases = [
            raw_entry("../escape", tar::EntryType::Regular, b"x"),
            raw_entry("/etc/evil", tar::EntryType::Regular, b"x"),
            raw_entry("link", tar::EntryType::Symlink, b""),
        ];
        for (i, entry) in cases.into_iter().enumerate() {
            let path = dir.path().join(format!("{i}.petri"));
            let good = raw_entry("README.md", tar::EntryType::Regular, b"hi");
            std::fs::write(&path, gz_tar(&[good, entry])).unwrap();
            let err = read(&path, &blobs).unwrap_err().to_string();
            let named = ["../escape", "/etc/evil", "link"][i];
            assert!(err.contains(named), "{err}");
        }
    }

    #[test]
    fn a_written_bundle_reads_back_file_by_file() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = BlobStore::open(dir.path().join("blobs")).unwrap();
        let d = blobs.put(b"module bytes").unwrap();
        let path = dir.path().join("b.petri");
        let files = [
            ("modules/m.wasm".to_owned(), Source::Blob(d)),
            ("README.md".to_owned(), Source::Bytes(b"read me".to_vec())),
        ];
        write(&path, &blobs, &files).unwrap();
        let back = read(&path, &blobs).unwrap();
        assert_eq!(back["modules/m.wasm"], (d, 12));
        assert_eq!(back["README.md"].0, Digest::of(b"read me"));
        let dup = dir.path().join("dup.petri");
        let e = raw_entry("a", tar::EntryType::Regular, b"1");
        std::fs::write(&dup, gz_tar(&[e.clone(), e])).unwrap();
        assert!(
            read(&dup, &blobs)
                .unwrap_err()
                .to_string()
                .contains("twice")
        );
    }
}
