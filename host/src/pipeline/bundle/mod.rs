//! Reproducibility bundles: one signed archive holding everything a run needs to be re-executed elsewhere.
//!
//! `petri bundle RUN -o run.petri` writes it ([`write_bundle`]); `petri verify
//! run.petri` ([`open_bundle`], then [`crate::pipeline::verify_run`]) checks the
//! signature and every file's SHA-256 and imports the files into a store,
//! however empty, so the run can be re-executed there.

mod archive;
mod contents;
mod manifest;

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;

pub use contents::{Inputs, RUN_FILE};
pub use manifest::{
    BUNDLE_SCHEMA, FileEntry, MANIFEST_FILE, Manifest, SIGNATURE_FILE, SignatureFile,
};

use crate::pipeline::record::RunRecord;
use crate::stage::petri::Petri;
use crate::store::blobs::{BlobStore, CasError};
use crate::store::digest::Digest;
use crate::store::keys::fingerprint;
use crate::store::records::RecordError;

/// Largest manifest, signature or run record read into memory.
const MAX_TEXT: u64 = 256 << 20;

/// Errors writing or opening a bundle. Paths are the ones inside the bundle.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error(transparent)]
    Store(#[from] CasError),
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error("stage record {0} has no seal (written before seals): it cannot be bundled")]
    Unsealed(String),
    #[error("bundle entry `{path}` refused: {reason}")]
    Hostile { path: String, reason: String },
    #[error("bundle file `{path}`: {message}")]
    Format { path: String, message: String },
    #[error("the bundle's signature is refused: {0}")]
    Signature(String),
    #[error(
        "bundle file `{path}` was changed: sha256 {actual}, the signed manifest says {expected}"
    )]
    Tampered {
        path: String,
        expected: Digest,
        actual: Digest,
    },
    #[error("bundle file `{0}` is listed in the manifest but missing")]
    Missing(String),
    #[error("bundle file `{0}` is not listed in the signed manifest")]
    Unlisted(String),
    #[error(
        "the run record's Merkle root is sha256:{actual}; the signed manifest says sha256:{expected}"
    )]
    Root { expected: Digest, actual: Digest },
}

fn io_at(path: &Path) -> impl Fn(io::Error) -> BundleError + Copy + '_ {
    move |source| BundleError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Text from a bundle or a record, safe to print.
fn printable(text: &str) -> String {
    text.escape_debug().to_string()
}

/// Writes the bundle of `run` to `out`, signed with `key`.
pub fn write_bundle(
    petri: &Petri,
    run: &RunRecord,
    key: &SigningKey,
    inputs: Inputs,
    out: &Path,
) -> Result<Manifest, BundleError> {
    let (files, omitted_inputs) = contents::contents(petri, run, inputs)?;
    let mut entries = Vec::with_capacity(files.len());
    for (path, source) in &files {
        let (sha256, size) = match source {
            archive::Source::Blob(d) => (*d, petri.blobs().size_of(d)?),
            archive::Source::Bytes(b) => (Digest::of(b), b.len() as u64),
        };
        entries.push(FileEntry {
            path: path.clone(),
            sha256,
            size,
        });
    }
    let manifest = Manifest {
        schema: BUNDLE_SCHEMA.into(),
        run_id: run.id.clone(),
        root: run.root,
        key: fingerprint(&key.verifying_key()),
        files: entries,
        omitted_inputs,
    };
    let bytes = manifest.canonical()?;
    let signature = manifest::sign(key, &run.root, &bytes);
    let signature = serde_json::to_vec_pretty(&signature).map_err(|e| BundleError::Format {
        path: SIGNATURE_FILE.into(),
        message: e.to_string(),
    })?;
    let mut all = vec![
        (MANIFEST_FILE.to_owned(), archive::Source::Bytes(bytes)),
        (SIGNATURE_FILE.to_owned(), archive::Source::Bytes(signature)),
    ];
    all.extend(files);
    archive::write(out, petri.blobs(), &all)?;
    Ok(manifest)
}

/// A bundle whose signature and files checked, imported into a store.
#[derive(Debug)]
pub struct Opened {
    pub manifest: Manifest,
    /// Fingerprint of the key that signed it.
    pub signer: String,
    pub run: RunRecord,
}

/// Reads the bundle at `path` into `petri`'s store and checks it: the
/// signature over the manifest and the run's root, every file's SHA-256
/// against the manifest (a changed file is named), no file unlisted, and the
/// run record's root. The stages are not re-executed here (see `verify_run`).
pub fn open_bundle(petri: &Petri, path: &Path) -> Result<Opened, BundleError> {
    let files = archive::read(path, petri.blobs())?;
    let text = |name: &str| read_text(petri.blobs(), &files, name);
    let signature: SignatureFile =
        serde_json::from_slice(&text(SIGNATURE_FILE)?).map_err(|e| BundleError::Format {
            path: SIGNATURE_FILE.into(),
            message: e.to_string(),
        })?;
    let manifest = manifest::check(&signature, &text(MANIFEST_FILE)?)?;
    check_files(&manifest, &files)?;
    let run: RunRecord =
        serde_json::from_slice(&text(RUN_FILE)?).map_err(|e| BundleError::Format {
            path: RUN_FILE.into(),
            message: e.to_string(),
        })?;
    let actual = run.compute_root();
    if actual != manifest.root || run.root != manifest.root {
        return Err(BundleError::Root {
            expected: manifest.root,
            actual,
        });
    }
    Ok(Opened {
        manifest,
        signer: signature.key,
        run,
    })
}

/// The bytes of a small file of the bundle (already a blob).
fn read_text(
    blobs: &BlobStore,
    files: &BTreeMap<String, (Digest, u64)>,
    name: &str,
) -> Result<Vec<u8>, BundleError> {
    let (digest, size) = files
        .get(name)
        .ok_or_else(|| BundleError::Missing(name.into()))?;
    if *size > MAX_TEXT {
        return Err(BundleError::Hostile {
            path: name.into(),
            reason: format!("{size} bytes; at most {MAX_TEXT} are read"),
        });
    }
    Ok(blobs.read(digest)?)
}

/// Every file as the manifest lists it, and nothing else.
fn check_files(
    manifest: &Manifest,
    files: &BTreeMap<String, (Digest, u64)>,
) -> Result<(), BundleError> {
    for entry in &manifest.files {
        let (actual, _) = files
            .get(&entry.path)
            .ok_or_else(|| BundleError::Missing(printable(&entry.path)))?;
        if *actual != entry.sha256 {
            return Err(BundleError::Tampered {
                path: printable(&entry.path),
                expected: entry.sha256,
                actual: *actual,
            });
        }
    }
    let signed = [MANIFEST_FILE, SIGNATURE_FILE];
    if let Some(extra) = files
        .keys()
        .find(|p| !signed.contains(&p.as_str()) && !manifest.files.iter().any(|e| &e.path == *p))
    {
        return Err(BundleError::Unlisted(printable(extra)));
    }
    Ok(())
}
