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

    /// A view whose saves are durable only after the blob store's next
    /// sync ([`BlobStore::deferred`]); the digest is returned at once.
    pub fn deferred(&self) -> RecordStore {
        RecordStore {
            blobs: self.blobs.deferred(),
            legacy: self.legacy.clone(),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A record store over a temp dir, its legacy `runs/` dir created.
    fn store() -> (RecordStore, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let blobs = BlobStore::open(dir.path().join("blobs")).unwrap();
        let legacy = dir.path().join("runs");
        fs::create_dir(&legacy).unwrap();
        (RecordStore::new(blobs, legacy), dir)
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn legacy_records_are_read_by_a_safe_id_and_checked_against_their_seal() {
        let (records, dir) = store();
        let path = dir.path().join("runs/0a1b.json");
        fs::write(&path, br#"{"n": 1}"#).unwrap();
        let value: serde_json::Value = records.read("0a1b", None).unwrap();
        assert_eq!(value["n"], 1);
        let seal = Digest::of(br#"{"n": 1}"#);
        let sealed: serde_json::Value = records.read("0a1b", Some(&seal)).unwrap();
        assert_eq!(sealed, value);

        let other = Digest::of(b"other bytes");
        match records.read::<serde_json::Value>("0a1b", Some(&other)) {
            Err(RecordError::Tampered { sealed, actual, .. }) => {
                assert_eq!((sealed, actual), (other, seal));
            }
            r => panic!("{r:?}"),
        }
        for id in ["", "../etc/passwd", "a.b", "a\\b"] {
            match records.read::<serde_json::Value>(id, None) {
                Err(RecordError::NotFound(got)) => assert_eq!(got, id),
                r => panic!("{id}: {r:?}"),
            }
        }
        assert!(matches!(
            records.read::<serde_json::Value>("0c", None),
            Err(RecordError::NotFound(_))
        ));
        // A directory where the file should be: an I/O error naming the path.
        fs::create_dir(dir.path().join("runs/0d.json")).unwrap();
        match records.read::<serde_json::Value>("0d", None) {
            Err(e @ RecordError::Io { .. }) => {
                assert!(e.to_string().contains("0d.json"), "{e}");
            }
            r => panic!("{r:?}"),
        }
    }

    #[test]
    fn a_blob_that_is_not_a_record_or_was_edited_is_refused() {
        let (records, _dir) = store();
        let seal = records.blobs.put(b"not json").unwrap();
        match records.read::<serde_json::Value>("r1", Some(&seal)) {
            Err(e @ RecordError::Parse { .. }) => {
                assert!(
                    e.to_string().starts_with("record r1: not a petri record"),
                    "{e}"
                );
            }
            r => panic!("{r:?}"),
        }
        // Edit the stored bytes behind the store's back.
        let json = records.blobs.put(b"{}").unwrap();
        let path = records.blobs.local_path(&json).unwrap();
        let mut perms = fs::metadata(&path).unwrap().permissions();
        #[allow(clippy::permissions_set_readonly_false)]
        perms.set_readonly(false);
        fs::set_permissions(&path, perms).unwrap();
        fs::write(&path, b"[]").unwrap();
        match records.read::<serde_json::Value>("r2", Some(&json)) {
            Err(RecordError::Tampered { id, sealed, actual }) => {
                assert_eq!(
                    (id.as_str(), sealed, actual),
                    ("r2", json, Digest::of(b"[]"))
                );
            }
            r => panic!("{r:?}"),
        }
    }

    #[test]
    fn ids_are_found_by_unique_prefix_in_the_index_then_in_legacy_files() {
        let (records, dir) = store();
        let state = block_on(StateStore::open(&dir.path().join("state.db"))).unwrap();
        let seal = Digest::of(b"x");
        for id in ["aa11", "aa12", "bb1"] {
            block_on(state.seal(id, &seal.to_string())).unwrap();
        }
        let find = |id: &str| block_on(records.find(&state, id));
        assert_eq!(find("aa11").unwrap(), ("aa11".to_owned(), Some(seal)));
        assert_eq!(find("bb").unwrap(), ("bb1".to_owned(), Some(seal)));
        match find("aa1") {
            Err(e @ RecordError::Ambiguous { .. }) => {
                assert_eq!(e.to_string(), "`aa1` matches several runs: aa11, aa12");
            }
            r => panic!("{r:?}"),
        }
        // Nothing in the index: the legacy directory, unsealed.
        fs::write(dir.path().join("runs/cc11.json"), b"{}").unwrap();
        fs::write(dir.path().join("runs/cc12.json"), b"{}").unwrap();
        fs::write(dir.path().join("runs/dd1.json"), b"{}").unwrap();
        assert_eq!(find("dd").unwrap(), ("dd1".to_owned(), None));
        match find("cc1") {
            Err(RecordError::Ambiguous { matches, .. }) => assert_eq!(matches, ["cc11", "cc12"]),
            r => panic!("{r:?}"),
        }
        for id in ["ee", "", "c.c"] {
            assert!(
                matches!(find(id), Err(RecordError::NotFound(ref got)) if got == id),
                "{id}"
            );
        }
        // No legacy directory at all: nothing found, no error about the directory.
        fs::remove_dir_all(dir.path().join("runs")).unwrap();
        assert!(matches!(find("dd"), Err(RecordError::NotFound(_))));
    }

    #[test]
    fn storage_that_fails_names_the_record() {
        let (records, dir) = store();
        // Not representable as JSON: a map whose keys are not strings.
        let not_json: std::collections::BTreeMap<(u8, u8), u8> = [((1, 2), 3)].into();
        match records.write("r0", &not_json) {
            Err(e @ RecordError::Parse { .. }) => {
                assert!(
                    e.to_string().starts_with("record r0: not a petri record"),
                    "{e}"
                );
            }
            r => panic!("{r:?}"),
        }
        // The store has the blob but cannot read it: a directory in its place.
        let seal = Digest::of(b"{}");
        fs::create_dir_all(records.blobs.local_path(&seal).unwrap()).unwrap();
        match records.read::<serde_json::Value>("r1", Some(&seal)) {
            Err(RecordError::Blob {
                id,
                source: CasError::Io { .. },
            }) => assert_eq!(id, "r1"),
            r => panic!("{r:?}"),
        }
        // The store cannot stage a new blob: its `tmp` is a file.
        let tmp = dir.path().join("blobs/tmp");
        fs::remove_dir_all(&tmp).unwrap();
        fs::write(&tmp, b"").unwrap();
        match records.write("r2", &serde_json::json!({"n": 2})) {
            Err(e @ RecordError::Blob { .. }) => {
                assert!(
                    e.to_string().starts_with("record r2: blob store at "),
                    "{e}"
                );
            }
            r => panic!("{r:?}"),
        }
    }
}
