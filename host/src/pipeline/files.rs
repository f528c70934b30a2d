//! Where the files a pipeline names live: anywhere the local user can read (the CLI), or
//! only among the blobs uploaded for one daemon run (a closed namespace, nothing else exists).
//!
//! Every open a pipeline causes — checking an input, sniffing its format, reading
//! a sample's files, loading a module by path, ingesting inputs — goes through
//! [`Files`]. For a daemon run the namespace is a map from lexically normalised
//! relative paths to blob digests, built from the request: absolute paths, NUL
//! and control characters, over-long names and climbs past [`MAX_CLIMB`] are
//! refused, no path ever reaches the server's filesystem (so there is nothing to
//! follow through `..` or a symlink), module files are refused, and a `sha256:`
//! module must be one the submitting group may use.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Read;
use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;

use crate::store::blobs::BlobStore;
use crate::store::digest::Digest;

/// The deepest `..` climb a daemon path may make above the pipeline file.
pub const MAX_CLIMB: usize = 16;
/// The longest path (bytes) a daemon run may name.
pub const MAX_PATH_BYTES: usize = 1024;
/// The longest path component (bytes), as on common filesystems.
pub const MAX_NAME_BYTES: usize = 255;

/// The files a pipeline may name.
#[derive(Debug, Default)]
pub enum Files {
    /// Paths relative to the pipeline file (or sheet), on the local filesystem.
    #[default]
    Local,
    /// Only these uploaded files and modules.
    Uploaded(Uploaded),
}

/// A daemon run's namespace: what its group uploaded for it.
#[derive(Debug, Default)]
pub struct Uploaded {
    /// Normalised relative path (relative to the pipeline file) → blob.
    pub files: BTreeMap<PathBuf, Digest>,
    /// `sha256:` modules the run may load.
    pub modules: BTreeSet<Digest>,
    /// Format checks already made, by (blob, format): a sheet of 100,000 rows
    /// naming a few files sniffs each once.
    sniffed: Mutex<HashMap<(Digest, String), Result<(), String>>>,
}

impl Uploaded {
    pub fn new(files: BTreeMap<PathBuf, Digest>, modules: BTreeSet<Digest>) -> Uploaded {
        Uploaded {
            files,
            modules,
            sniffed: Mutex::new(HashMap::new()),
        }
    }
}

/// Normalises a relative path lexically; returns it and how far it climbs
/// above its start. Refuses what a daemon run may not name.
pub fn normalise(path: &str) -> Result<(PathBuf, usize), String> {
    if path.len() > MAX_PATH_BYTES {
        return Err(format!("the path is longer than {MAX_PATH_BYTES} bytes"));
    }
    if path.chars().any(char::is_control) {
        return Err("the path contains a NUL or control character".into());
    }
    let mut parts: Vec<&str> = Vec::new();
    let mut climb = 0usize;
    for c in Path::new(path).components() {
        match c {
            Component::Normal(s) => {
                let s = s.to_str().ok_or("the path is not UTF-8")?;
                if s.len() > MAX_NAME_BYTES {
                    return Err(format!(
                        "a path component is longer than {MAX_NAME_BYTES} bytes"
                    ));
                }
                parts.push(s);
            }
            Component::CurDir => {}
            Component::ParentDir => {
                if parts.pop().is_none() {
                    climb += 1;
                }
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(
                    "absolute paths are not allowed; give a path relative to the pipeline file"
                        .into(),
                );
            }
        }
    }
    if parts.is_empty() {
        return Err("the path names no file".into());
    }
    if climb > MAX_CLIMB {
        return Err(format!("the path climbs more than {MAX_CLIMB} directories"));
    }
    let mut p: PathBuf = std::iter::repeat_n("..", climb).collect();
    p.extend(parts);
    Ok((p, climb))
}

impl Files {
    /// The file `rel` names, relative to `base` (the pipeline file's or sheet's directory).
    pub fn locate(&self, base: &Path, rel: &str) -> Result<PathBuf, String> {
        match self {
            Files::Local => Ok(base.join(rel)),
            Files::Uploaded(_) => normalise(rel).map(|(p, _)| p),
        }
    }

    /// The blob an uploaded file is (`None` for local files).
    pub fn digest(&self, path: &Path) -> Option<Digest> {
        match self {
            Files::Local => None,
            Files::Uploaded(u) => u.files.get(path).copied(),
        }
    }

    /// Whether `path` names a readable file; the error says why not.
    pub fn check(&self, blobs: &BlobStore, path: &Path) -> Result<(), String> {
        match self {
            Files::Local if path.is_dir() => Err(format!("{} is not a file", path.display())),
            Files::Local => std::fs::File::open(path).map(drop).map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    format!("{} not found", path.display())
                } else {
                    format!("{}: {e}", path.display())
                }
            }),
            Files::Uploaded(u) => match u.files.get(path) {
                Some(d) if blobs.contains(d) => Ok(()),
                _ => Err(not_uploaded(path)),
            },
        }
    }

    /// Opens `path` for reading.
    pub fn open(&self, blobs: &BlobStore, path: &Path) -> Result<Box<dyn Read + Send>, String> {
        match self {
            Files::Local => std::fs::File::open(path)
                .map(|f| Box::new(f) as Box<dyn Read + Send>)
                .map_err(|e| format!("cannot read {}: {e}", path.display())),
            Files::Uploaded(u) => {
                let d = u.files.get(path).ok_or_else(|| not_uploaded(path))?;
                blobs
                    .open_blob(d)
                    .map(|f| Box::new(f) as Box<dyn Read + Send>)
                    .map_err(|_| not_uploaded(path))
            }
        }
    }

    /// Checks that `path` starts like `format`, once per uploaded blob and format.
    pub fn check_format(&self, blobs: &BlobStore, path: &Path, format: &str) -> Result<(), String> {
        let sniff = || {
            let reader = self.open(blobs, path)?;
            super::sniff::check_format(reader, format)
                .map_err(|looks| format!("{} is not {format}: {looks}", path.display()))
        };
        let Files::Uploaded(u) = self else {
            return sniff();
        };
        let Some(d) = u.files.get(path) else {
            return Err(not_uploaded(path));
        };
        let key = (*d, format.to_owned());
        if let Some(known) = u.sniffed.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return known;
        }
        let result = sniff();
        if let Ok(mut m) = u.sniffed.lock() {
            m.insert(key, result.clone());
        }
        result
    }

    /// The file of a module named by path, if this namespace allows module files.
    pub fn module_file(&self, base: &Path, reference: &str) -> Result<PathBuf, String> {
        match self {
            Files::Local => Ok(base.join(reference)),
            Files::Uploaded(_) => Err(format!(
                "module `{reference}` is a file path; a daemon run uses modules by registered name or `sha256:<hex>`"
            )),
        }
    }

    /// Whether a `sha256:` module may be loaded.
    pub fn may_load(&self, digest: &Digest) -> bool {
        match self {
            Files::Local => true,
            Files::Uploaded(u) => u.modules.contains(digest),
        }
    }
}

/// A namespace seen from one directory (the pipeline file's, or the sheet's).
pub(crate) struct Place<'a> {
    pub files: &'a Files,
    pub blobs: &'a BlobStore,
    pub base: &'a Path,
}

impl Place<'_> {
    pub fn locate(&self, rel: &str) -> Result<PathBuf, String> {
        self.files.locate(self.base, rel)
    }
}

fn not_uploaded(path: &Path) -> String {
    format!("`{}` is not among the uploaded files", path.display())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn paths_are_normalised_and_confined() {
        assert_eq!(
            normalise("../data/x.fq").unwrap(),
            (PathBuf::from("../data/x.fq"), 1)
        );
        assert_eq!(normalise("a/../../b").unwrap(), (PathBuf::from("../b"), 1));
        assert_eq!(normalise("./a/b").unwrap(), (PathBuf::from("a/b"), 0));
        for bad in [
            "/etc/passwd",
            "a/..",
            "",
            "a\0b",
            "a\nb",
            &"x".repeat(300),
            &"a/".repeat(600),
            &format!("{}x", "../".repeat(17)),
        ] {
            assert!(normalise(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn an_uploaded_namespace_has_only_its_files() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = BlobStore::open(dir.path().join("blobs")).unwrap();
        let d = blobs.put(b">x\nACGT\n").unwrap();
        let files = Files::Uploaded(Uploaded::new(
            [(PathBuf::from("ref.fa"), d)].into(),
            BTreeSet::new(),
        ));
        let at = |p: &str| files.locate(Path::new("/srv/base"), p);
        assert_eq!(at("./ref.fa").unwrap(), PathBuf::from("ref.fa"));
        assert!(files.check(&blobs, &at("ref.fa").unwrap()).is_ok());
        assert!(
            files
                .check_format(&blobs, Path::new("ref.fa"), "fasta")
                .is_ok()
        );
        assert!(
            files
                .check_format(&blobs, Path::new("ref.fa"), "fastq")
                .is_err()
        );
        for outside in ["../../blobs/sha256", "other.fa"] {
            let p = at(outside).unwrap();
            assert!(files.check(&blobs, &p).is_err());
            assert!(files.open(&blobs, &p).is_err());
        }
        assert!(at("/etc/passwd").is_err());
        assert!(files.module_file(Path::new("."), "x.wasm").is_err());
        assert!(!files.may_load(&d));
    }
}
