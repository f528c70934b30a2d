//! Where stage and run records are kept: as blobs in the content-addressed store, found by id
//! through the index in the database (`record_seals`: id → SHA-256 of the record's bytes).
//!
//! A record's digest is its seal: reading it back through the blob store
//! re-hashes the bytes, so an edited record is never served. Any daemon
//! sharing the database and the blob store finds any record. Data dirs from
//! before records were blobs keep `runs/<id>.json`; those files are read
//! (against their seal when the database has one) and never written.

use std::fs;
use std::io;
use std::path::PathBuf;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::blobs::{BlobStore, CasError};
use super::digest::Digest;
use super::state::{StateError, StateStore};
use crate::pipeline::RunRecord;
use crate::provenance::StageRecord;

/// Errors reading or writing records.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("provenance records at {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("record {id}: {source}")]
    Blob { id: String, source: CasError },
    #[error("record {id}: not a petri record: {source}")]
    Parse {
        id: String,
        source: serde_json::Error,
    },
    #[error("no run record matches `{0}`")]
    NotFound(String),
    /// The record's bytes are not the ones sealed when it was written.
    #[error(
        "record {id} was changed after it was written (sha256 {actual}, sealed as {sealed}); it is not served"
    )]
    Tampered {
        id: String,
        sealed: Digest,
        actual: Digest,
    },
    #[error("`{prefix}` matches several runs: {}", matches.join(", "))]
    Ambiguous {
        prefix: String,
        matches: Vec<String>,
    },
    #[error(transparent)]
    State(#[from] StateError),
}

/// Records as blobs, plus the legacy `runs/` directory of older data dirs.
#[derive(Debug, Clone)]
pub struct RecordStore {
    blobs: BlobStore,
    legacy: PathBuf,
}

impl RecordStore {
    pub fn new(blobs: BlobStore, legacy: PathBuf) -> RecordStore {
        RecordStore { blobs, legacy }
    }

    /// Saves a stage record; returns its digest (its seal, and its blob).
    pub fn save(&self, record: &StageRecord) -> Result<Digest, RecordError> {
        self.write(&record.id, record)
    }

    /// Saves a pipeline run record; returns its digest.
    pub fn save_run(&self, record: &RunRecord) -> Result<Digest, RecordError> {
        self.write(&record.id, record)
    }

    fn write(&self, id: &str, record: &impl Serialize) -> Result<Digest, RecordError> {
        let parse = |source| RecordError::Parse {
            id: id.to_owned(),
            source,
        };
        let mut json = serde_json::to_vec_pretty(record).map_err(parse)?;
        json.push(b'\n');
        self.blobs.put(&json).map_err(|source| RecordError::Blob {
            id: id.to_owned(),
            source,
        })
    }

    /// Loads the stage record `id` if its bytes are the ones `sealed` names.
    pub fn load_sealed(&self, id: &str, sealed: &Digest) -> Result<StageRecord, RecordError> {
        self.read(id, Some(sealed))
    }

    /// Loads the run record `id` if its bytes are the ones `sealed` names.
    pub fn load_run_sealed(&self, id: &str, sealed: &Digest) -> Result<RunRecord, RecordError> {
        self.read(id, Some(sealed))
    }

    /// Reads record `id` as `T`: from the blob `sealed` (re-hashed), or, in
    /// an older data dir, from `runs/<id>.json` (checked against `sealed`
    /// when given; `None`: a record from before seals, read as it is).
    pub fn read<T: DeserializeOwned>(
        &self,
        id: &str,
        sealed: Option<&Digest>,
    ) -> Result<T, RecordError> {
        let bytes = match sealed {
            Some(seal) if self.blobs.contains(seal) => self.blob(id, seal)?,
            _ => self.legacy_bytes(id, sealed)?,
        };
        serde_json::from_slice(&bytes).map_err(|source| RecordError::Parse {
            id: id.to_owned(),
            source,
        })
    }

    fn blob(&self, id: &str, seal: &Digest) -> Result<Vec<u8>, RecordError> {
        let bytes = self.blobs.read(seal).map_err(|source| RecordError::Blob {
            id: id.to_owned(),
            source,
        })?;
        check(id, seal, &bytes)?;
        Ok(bytes)
    }

    fn legacy_bytes(&self, id: &str, sealed: Option<&Digest>) -> Result<Vec<u8>, RecordError> {
        if id.is_empty() || id.contains(['/', '\\', '.']) {
            return Err(RecordError::NotFound(id.to_owned()));
        }
        let path = self.legacy.join(format!("{id}.json"));
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(RecordError::NotFound(id.to_owned()));
            }
            Err(source) => return Err(RecordError::Io { path, source }),
        };
        if let Some(seal) = sealed {
            check(id, seal, &bytes)?;
        }
        Ok(bytes)
    }

    /// The record `id` (or unique prefix) and its seal, from the index; an
    /// older data dir's unsealed `runs/<id>.json` gives no seal.
    pub async fn find(
        &self,
        state: &StateStore,
        id: &str,
    ) -> Result<(String, Option<Digest>), RecordError> {
        let mut matches = state.records_like(id).await?;
        if let Some(i) = matches.iter().position(|(m, _)| m == id) {
            let (id, seal) = matches.swap_remove(i);
            return Ok((id, seal.parse().ok()));
        }
        match matches.len() {
            1 => {
                let (id, seal) = matches.remove(0);
                Ok((id, seal.parse().ok()))
            }
            0 => self.find_legacy(id),
            _ => Err(RecordError::Ambiguous {
                prefix: id.to_owned(),
                matches: matches.into_iter().map(|(m, _)| m).collect(),
            }),
        }
    }

    /// An unsealed record of an older data dir, by id or unique prefix.
    fn find_legacy(&self, id: &str) -> Result<(String, Option<Digest>), RecordError> {
        if id.is_empty() || id.contains(['/', '\\', '.']) {
            return Err(RecordError::NotFound(id.to_owned()));
        }
        let mut matches: Vec<String> = fs::read_dir(&self.legacy)
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().to_str().map(str::to_owned))
            .filter_map(|n| n.strip_suffix(".json").map(str::to_owned))
            .filter(|n| n.starts_with(id))
            .collect();
        matches.sort();
        match matches.len() {
            0 => Err(RecordError::NotFound(id.to_owned())),
            1 => Ok((matches.remove(0), None)),
            _ => Err(RecordError::Ambiguous {
                prefix: id.to_owned(),
                matches,
            }),
        }
    }
}

fn check(id: &str, sealed: &Digest, bytes: &[u8]) -> Result<(), RecordError> {
    let actual = Digest::of(bytes);
    if actual == *sealed {
        return Ok(());
    }
    Err(RecordError::Tampered {
        id: id.to_owned(),
        sealed: *sealed,
        actual,
    })
}
