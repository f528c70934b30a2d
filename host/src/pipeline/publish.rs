//! Publishing a run's outputs as files a person can open:
//! `DIR/<sample>/<stage>/<port>.<format>` and `DIR/manifest.tsv` (Nextflow's
//! `publishDir`). Nothing is overwritten and nothing half-written is visible.
//!
//! Every path component is re-checked against the identifier charset here,
//! whatever validated it before, so a record from anywhere cannot name a file
//! outside `DIR`. Every byte is checked against its digest before it is
//! published: a hard link is made only to a store file that still hashes to
//! its name, and a copy is hashed as it is written.

use std::collections::hash_map::Entry;
use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::record::{RunRecord, StageStatus};
use crate::stage::petri::Petri;
use crate::store::blobs::{BlobStore, CasError};
use crate::store::digest::{Digest, Hasher};

/// The manifest's file name inside the output directory.
pub const MANIFEST: &str = "manifest.tsv";

/// Longest path component, in bytes.
const MAX_COMPONENT: usize = 64;

/// One output of a succeeded stage, and the format its module declares for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Output {
    pub sample: String,
    pub stage: String,
    pub port: String,
    /// The port's format in the module's manifest: the file's extension.
    pub format: String,
    #[schema(value_type = String)]
    pub sha256: Digest,
    pub size: u64,
}

/// How one output reached its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Placement {
    /// A hard link to the store's file (same bytes, no copy).
    Linked,
    /// A copy, hashed as it was written.
    Copied,
    /// The file was already there with these bytes (an earlier export).
    Present,
}

/// One published file.
#[derive(Debug, Clone, Serialize)]
pub struct Published {
    #[serde(flatten)]
    pub output: Output,
    /// Relative to the output directory.
    pub path: PathBuf,
    pub placement: Placement,
}

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error(
        "{what} `{name}` cannot name a file: 1 to {MAX_COMPONENT} of letters, digits, `-`, `_`, `.`, \
         starting with a letter or digit"
    )]
    Name { what: &'static str, name: String },
    #[error("{} already exists with other content; nothing was overwritten (export into a new or empty directory)", path.display())]
    Exists { path: PathBuf },
    #[error("two outputs would both be written to {}", path.display())]
    Clash { path: PathBuf },
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error(
        "output `{port}` of stage `{stage}` (sample `{sample}`): the bytes no longer hash to sha256:{digest}; not published"
    )]
    Integrity {
        sample: String,
        stage: String,
        port: String,
        digest: Digest,
    },
    #[error("module sha256:{digest} of stage `{stage}`: {message}")]
    Module {
        stage: String,
        digest: Digest,
        message: String,
    },
    #[error(transparent)]
    Cas(#[from] CasError),
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> PublishError + '_ {
    move |source| PublishError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The outputs of every succeeded stage of `run` (cache hits included), with
/// the format each module declares for each port (asked once per module).
pub async fn outputs(petri: &Petri, run: &RunRecord) -> Result<Vec<Output>, PublishError> {
    let mut formats: HashMap<Digest, HashMap<String, String>> = HashMap::new();
    let mut out = Vec::new();
    for s in run
        .stages
        .iter()
        .filter(|s| s.status == StageStatus::Succeeded)
    {
        let ports = match formats.entry(s.module_sha256) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => e.insert(port_formats(petri, &s.stage, &s.module_sha256).await?),
        };
        for o in &s.outputs {
            let format = ports
                .get(&o.port)
                .cloned()
                .unwrap_or_else(|| "bin".to_owned());
            out.push(Output {
                sample: s.sample.clone(),
                stage: s.stage.clone(),
                port: o.port.clone(),
                format,
                sha256: o.sha256,
                size: o.size,
            });
        }
    }
    Ok(out)
}

/// Output port → format, from the module's own `describe` (run as stage code).
async fn port_formats(
    petri: &Petri,
    stage: &str,
    digest: &Digest,
) -> Result<HashMap<String, String>, PublishError> {
    let module = |message: String| PublishError::Module {
        stage: stage.to_owned(),
        digest: *digest,
        message,
    };
    let wasm = petri.blobs().read(digest)?;
    if Digest::of(&wasm) != *digest {
        return Err(module(
            "the stored bytes no longer hash to this digest".into(),
        ));
    }
    let loaded = petri
        .load_shared(&wasm)
        .map_err(|e| module(e.to_string()))?;
    let manifest = petri
        .describe(&loaded)
        .await
        .map_err(|e| module(e.to_string()))?;
    Ok(manifest
        .outputs
        .into_iter()
        .map(|p| (p.name, p.format))
        .collect())
}

/// Whether `name` is safe as one path component: 1 to 64 of letters, digits,
/// `-`, `_`, `.`, starting with a letter or digit (so never `.`, `..` or hidden).
pub(crate) fn is_file_name(name: &str) -> bool {
    name.len() <= MAX_COMPONENT
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// `name` as one path component: an identifier, never `.`/`..`, a separator or empty.
fn component<'a>(what: &'static str, name: &'a str) -> Result<&'a str, PublishError> {
    if is_file_name(name) {
        Ok(name)
    } else {
        Err(PublishError::Name {
            what,
            name: name.chars().take(80).collect(),
        })
    }
}

impl Output {
    /// `<sample>/<stage>/<port>.<format>`, every part checked.
    pub fn relative_path(&self) -> Result<PathBuf, PublishError> {
        let file = format!(
            "{}.{}",
            component("port", &self.port)?,
            component("format", &self.format)?
        );
        Ok(Path::new(component("sample", &self.sample)?)
            .join(component("stage", &self.stage)?)
            .join(component("file", &file)?))
    }
}

/// The manifest's text: one row per output, tab-separated, with a header.
pub fn manifest_text(entries: &[(Output, PathBuf)]) -> String {
    let mut text = String::from("sample\tstage\tport\tformat\tpath\tsha256\tsize\n");
    for (o, path) in entries {
        text.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
            o.sample,
            o.stage,
            o.port,
            o.format,
            path.display(),
            o.sha256,
            o.size
        ));
    }
    text
}

/// Where each output goes under one directory, and which are already there.
#[derive(Debug)]
pub struct Layout {
    dir: PathBuf,
    entries: Vec<(Output, PathBuf, bool)>,
    manifest: String,
    manifest_present: bool,
}

impl Layout {
    /// Plans publishing `outputs` into `dir`. Refuses, before anything is
    /// written, a bad name, two outputs on one path, or a file (data or
    /// manifest) already there with other bytes. An identical file is kept.
    pub fn plan(dir: &Path, outputs: Vec<Output>) -> Result<Layout, PublishError> {
        let mut seen = BTreeSet::new();
        let mut entries = Vec::with_capacity(outputs.len());
        for o in outputs {
            let rel = o.relative_path()?;
            if !seen.insert(rel.clone()) {
                return Err(PublishError::Clash {
                    path: dir.join(rel),
                });
            }
            let present = holds(&dir.join(&rel), &o.sha256)?;
            entries.push((o, rel, present));
        }
        let rows: Vec<_> = entries
            .iter()
            .map(|(o, rel, _)| (o.clone(), rel.clone()))
            .collect();
        let manifest = manifest_text(&rows);
        let manifest_present = holds(&dir.join(MANIFEST), &Digest::of(manifest.as_bytes()))?;
        Ok(Layout {
            dir: dir.to_owned(),
            entries,
            manifest,
            manifest_present,
        })
    }

    /// Writes every output not yet there through `place`, then the manifest.
    /// `place(output, target)` creates `target` (whose directory exists).
    pub fn write(
        self,
        mut place: impl FnMut(&Output, &Path) -> Result<Placement, PublishError>,
    ) -> Result<Vec<Published>, PublishError> {
        let mut done = Vec::with_capacity(self.entries.len());
        for (output, rel, present) in self.entries {
            let placement = if present {
                Placement::Present
            } else {
                let target = self.dir.join(&rel);
                if let Some(parent) = target.parent() {
                    fs::create_dir_all(parent).map_err(io_at(parent))?;
                }
                place(&output, &target)?
            };
            done.push(Published {
                output,
                path: rel,
                placement,
            });
        }
        if !self.manifest_present {
            fs::create_dir_all(&self.dir).map_err(io_at(&self.dir))?;
            let target = self.dir.join(MANIFEST);
            let digest = Digest::of(self.manifest.as_bytes());
            // Hashed from the text being written: it cannot mismatch.
            write_new(&target, &digest, |w| w.write_all(self.manifest.as_bytes())).map_err(
                |e| {
                    e.or_integrity(|| {
                        io_at(&target)(io::Error::other("the manifest changed while written"))
                    })
                },
            )?;
        }
        Ok(done)
    }
}

/// Whether `path` already holds exactly the bytes named `digest`: false when
/// absent, an `Exists` error when it holds anything else.
fn holds(path: &Path, digest: &Digest) -> Result<bool, PublishError> {
    match fs::File::open(path) {
        Ok(file) => {
            let (actual, _) = Digest::of_reader(io::BufReader::new(file)).map_err(io_at(path))?;
            if actual == *digest {
                Ok(true)
            } else {
                Err(PublishError::Exists {
                    path: path.to_owned(),
                })
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io_at(path)(e)),
    }
}

/// How writing a new file can fail: I/O, or bytes that did not hash to the digest.
pub enum WriteError {
    Io(PublishError),
    Mismatch,
}

impl WriteError {
    /// The publish error, naming the output on a digest mismatch.
    pub fn or_integrity(self, integrity: impl FnOnce() -> PublishError) -> PublishError {
        match self {
            WriteError::Io(e) => e,
            WriteError::Mismatch => integrity(),
        }
    }
}

/// Creates `target` with the bytes `fill` writes, hashed on the way: written
/// to a temporary file beside it, checked against `digest`, then linked into
/// place only if `target` still does not exist. Nothing half-written or
/// unverified is ever visible at `target`.
pub fn write_new(
    target: &Path,
    digest: &Digest,
    fill: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<(), WriteError> {
    let io = |e| WriteError::Io(io_at(target)(e));
    let dir = target.parent().unwrap_or(Path::new("."));
    let tmp = tempfile::Builder::new()
        .prefix(".petri-export-")
        .tempfile_in(dir)
        .map_err(io)?;
    let mut tee = Tee {
        file: io::BufWriter::new(tmp.as_file().try_clone().map_err(io)?),
        hasher: Hasher::default(),
    };
    fill(&mut tee).map_err(io)?;
    let Tee { mut file, hasher } = tee;
    file.flush().map_err(io)?;
    drop(file);
    let actual = hasher.finish().0;
    if actual != *digest {
        return Err(WriteError::Mismatch);
    }
    tmp.as_file().sync_all().map_err(io)?;
    tmp.persist_noclobber(target).map_err(|e| {
        if e.error.kind() == io::ErrorKind::AlreadyExists {
            WriteError::Io(PublishError::Exists {
                path: target.to_owned(),
            })
        } else {
            io(e.error)
        }
    })?;
    Ok(())
}

/// Writes to a file and a hasher at once.
struct Tee<W: Write> {
    file: W,
    hasher: Hasher,
}

impl<W: Write> Write for Tee<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.hasher.write_all(&buf[..n])?;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// Publishes `outputs` from the local blob store into `dir`: each a hard link
/// to the store's file when the store keeps files on the same filesystem (the
/// file checked against its digest first, and made read-only so an edit in
/// place cannot change the stored bytes), otherwise a verified copy.
pub fn publish_from_store(
    blobs: &BlobStore,
    dir: &Path,
    outputs: Vec<Output>,
) -> Result<Vec<Published>, PublishError> {
    Layout::plan(dir, outputs)?.write(|o, target| place_from_store(blobs, o, target))
}

fn place_from_store(
    blobs: &BlobStore,
    o: &Output,
    target: &Path,
) -> Result<Placement, PublishError> {
    let integrity = || PublishError::Integrity {
        sample: o.sample.clone(),
        stage: o.stage.clone(),
        port: o.port.clone(),
        digest: o.sha256,
    };
    if let Some(source) = blobs.local_path(&o.sha256) {
        if !blobs.verify(&o.sha256)? {
            return Err(integrity());
        }
        if link_read_only(&source, target)? {
            return Ok(Placement::Linked);
        }
    }
    write_new(target, &o.sha256, |w| {
        let mut blob = blobs.open_blob(&o.sha256).map_err(io::Error::other)?;
        io::copy(&mut blob, w).map(drop)
    })
    .map_err(|e| e.or_integrity(integrity))?;
    Ok(Placement::Copied)
}

/// Hard-links `source` at `target`, read-only. False when the filesystem
/// cannot link them (another device, no permission): the caller copies.
fn link_read_only(source: &Path, target: &Path) -> Result<bool, PublishError> {
    let mut perms = fs::metadata(source).map_err(io_at(source))?.permissions();
    if !perms.readonly() {
        perms.set_readonly(true);
        if fs::set_permissions(source, perms).is_err() {
            return Ok(false);
        }
    }
    match fs::hard_link(source, target) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(PublishError::Exists {
            path: target.to_owned(),
        }),
        Err(_) => Ok(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn output(sample: &str, stage: &str, port: &str, bytes: &[u8]) -> Output {
        Output {
            sample: sample.into(),
            stage: stage.into(),
            port: port.into(),
            format: "txt".into(),
            sha256: Digest::of(bytes),
            size: bytes.len() as u64,
        }
    }

    #[test]
    fn names_that_leave_the_directory_are_refused() {
        for (sample, stage, port) in [
            ("..", "qc", "out"),
            ("s1", "../x", "out"),
            ("s1", "qc", "/abs"),
            ("", "qc", "out"),
            (".hidden", "qc", "out"),
            ("s1", "qc", "a\\b"),
        ] {
            let err = output(sample, stage, port, b"x")
                .relative_path()
                .unwrap_err();
            assert!(
                matches!(err, PublishError::Name { .. }),
                "{sample}/{stage}/{port}: {err}"
            );
        }
        assert_eq!(
            output("S-1.rep2", "qc", "trimmed", b"x")
                .relative_path()
                .unwrap(),
            Path::new("S-1.rep2/qc/trimmed.txt")
        );
    }

    #[test]
    fn store_outputs_are_linked_then_kept_and_never_overwritten() {
        let store_dir = tempfile::tempdir().unwrap();
        let blobs = BlobStore::open(store_dir.path()).unwrap();
        let a = blobs.put(b"alpha").unwrap();
        assert_eq!(a, Digest::of(b"alpha"));
        let out = tempfile::tempdir().unwrap();
        let dir = out.path().join("results");
        let outputs = vec![output("s1", "qc", "summary", b"alpha")];

        let first = publish_from_store(&blobs, &dir, outputs.clone()).unwrap();
        assert_eq!(first[0].placement, Placement::Linked);
        let file = dir.join("s1/qc/summary.txt");
        assert_eq!(fs::read(&file).unwrap(), b"alpha");
        let manifest = fs::read_to_string(dir.join(MANIFEST)).unwrap();
        assert!(manifest.contains(&format!("s1\tqc\tsummary\ttxt\ts1/qc/summary.txt\t{a}\t5")));

        // The same export again keeps what is there.
        let again = publish_from_store(&blobs, &dir, outputs).unwrap();
        assert_eq!(again[0].placement, Placement::Present);

        // Other bytes for the same path are refused before anything is written.
        blobs.put(b"beta").unwrap();
        let other = vec![
            output("s2", "qc", "summary", b"beta"),
            output("s1", "qc", "summary", b"beta"),
        ];
        let err = publish_from_store(&blobs, &dir, other).unwrap_err();
        assert!(
            matches!(&err, PublishError::Exists { path } if path == &file),
            "{err}"
        );
        assert!(!dir.join("s2").exists());
        assert_eq!(fs::read(&file).unwrap(), b"alpha");
    }

    #[test]
    fn a_tampered_blob_is_not_published() {
        let store_dir = tempfile::tempdir().unwrap();
        let blobs = BlobStore::open(store_dir.path()).unwrap();
        let d = blobs.put(b"honest").unwrap();
        let path = blobs.local_path(&d).unwrap();
        let mut perms = fs::metadata(&path).unwrap().permissions();
        #[allow(clippy::permissions_set_readonly_false)]
        perms.set_readonly(false);
        fs::set_permissions(&path, perms).unwrap();
        fs::write(&path, b"forged").unwrap();
        let out = tempfile::tempdir().unwrap();
        let err = publish_from_store(&blobs, out.path(), vec![output("s1", "qc", "o", b"honest")])
            .unwrap_err();
        assert!(matches!(err, PublishError::Integrity { .. }), "{err}");
        assert!(!out.path().join("s1/qc/o.txt").exists());
        assert!(!out.path().join(MANIFEST).exists());
    }

    #[test]
    fn a_copy_that_does_not_hash_to_its_digest_never_appears() {
        let out = tempfile::tempdir().unwrap();
        let target = out.path().join("x.txt");
        let r = write_new(&target, &Digest::of(b"expected"), |w| w.write_all(b"other"));
        assert!(matches!(r, Err(WriteError::Mismatch)));
        assert!(!target.exists());
        assert_eq!(
            fs::read_dir(out.path()).unwrap().count(),
            0,
            "no temp file left"
        );
    }
}
