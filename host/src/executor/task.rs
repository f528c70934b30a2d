//! A self-contained task: everything one stage execution depends on, stored as a blob named by its digest.
//!
//! A task is (module digest, params, input port → digest, limits, attempt,
//! engine profile id). Its canonical JSON (fields in declaration order, maps
//! with sorted keys, no whitespace) is put in the content-addressed blob
//! store, so its SHA-256 names it: any worker that sees the store can run
//! `petri exec TASK-DIGEST` and nothing else is needed.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::stage::limits::Limits;
use crate::stage::params::RawParam;
use crate::stage::petri::{InputSource, RunRequest};
use crate::store::blobs::{BlobStore, CasError};
use crate::store::digest::Digest;

/// The schema tag of a task's JSON.
pub const TASK_SCHEMA: &str = "petri.task/1";

/// One stage execution, fully determined.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Task {
    /// [`TASK_SCHEMA`].
    pub schema: String,
    /// SHA-256 of the component's bytes (a blob in the store).
    pub module: Digest,
    /// The params as JSON values by name: best the canonical, resolved set
    /// (`ParamSet::to_json`), so that equal executions are equal tasks.
    pub params: BTreeMap<String, serde_json::Value>,
    /// Input port → digest of a blob in the store.
    pub inputs: BTreeMap<String, Digest>,
    pub limits: Limits,
    /// 1 for a first attempt.
    pub attempt: u32,
    /// The engine profile the task must run under (`EngineProfile::id`).
    pub engine_profile_id: Digest,
}

/// Errors storing or loading a task.
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    #[error("task {digest}: {source}")]
    Blob { digest: Digest, source: CasError },
    #[error("storing a task: {0}")]
    Store(CasError),
    #[error("task {digest}: its bytes hash to {actual}; it was changed after it was stored")]
    Tampered { digest: Digest, actual: Digest },
    #[error("task {digest}: not a petri task: {source}")]
    Parse {
        digest: Digest,
        source: serde_json::Error,
    },
    #[error("task {digest}: schema `{schema}`, this petri reads `{TASK_SCHEMA}`")]
    Schema { digest: Digest, schema: String },
    #[error("task {digest}: stored bytes are not in canonical form")]
    NotCanonical { digest: Digest },
    #[error("serializing a task: {0}")]
    Serialize(serde_json::Error),
}

impl Task {
    /// A task of the current schema.
    pub fn new(
        module: Digest,
        params: BTreeMap<String, serde_json::Value>,
        inputs: BTreeMap<String, Digest>,
        limits: Limits,
        attempt: u32,
        engine_profile_id: Digest,
    ) -> Task {
        Task {
            schema: TASK_SCHEMA.to_owned(),
            module,
            params,
            inputs,
            limits,
            attempt: attempt.max(1),
            engine_profile_id,
        }
    }

    /// The canonical bytes: compact JSON, struct fields in declaration order,
    /// every map (params, nested JSON objects, inputs) with sorted keys.
    pub fn canonical_bytes(&self) -> Result<Vec<u8>, TaskError> {
        // serde_json's map is a BTreeMap (no `preserve_order`): objects inside
        // params serialize with sorted keys too.
        serde_json::to_vec(self).map_err(TaskError::Serialize)
    }

    /// The digest that names this task.
    pub fn digest(&self) -> Result<Digest, TaskError> {
        Ok(Digest::of(&self.canonical_bytes()?))
    }

    /// Puts the task in the store; returns its digest.
    pub fn store(&self, blobs: &BlobStore) -> Result<Digest, TaskError> {
        blobs
            .put(&self.canonical_bytes()?)
            .map_err(TaskError::Store)
    }

    /// Loads task `digest` from the store: re-hashed, parsed, and refused
    /// unless its bytes are canonical (one task, one name).
    pub fn load(blobs: &BlobStore, digest: &Digest) -> Result<Task, TaskError> {
        let bytes = blobs.read(digest).map_err(|source| TaskError::Blob {
            digest: *digest,
            source,
        })?;
        let actual = Digest::of(&bytes);
        if actual != *digest {
            return Err(TaskError::Tampered {
                digest: *digest,
                actual,
            });
        }
        let task: Task = serde_json::from_slice(&bytes).map_err(|source| TaskError::Parse {
            digest: *digest,
            source,
        })?;
        if task.schema != TASK_SCHEMA {
            return Err(TaskError::Schema {
                digest: *digest,
                schema: task.schema,
            });
        }
        if task.canonical_bytes()? != bytes {
            return Err(TaskError::NotCanonical { digest: *digest });
        }
        Ok(task)
    }

    /// The request `Petri::run_sealed` takes for this task: params as JSON,
    /// inputs as blobs (checked against their digests as they stream).
    pub fn request(&self) -> RunRequest {
        RunRequest {
            params: self
                .params
                .iter()
                .map(|(k, v)| (k.clone(), RawParam::Json(v.clone())))
                .collect(),
            inputs: self
                .inputs
                .iter()
                .map(|(port, d)| (port.clone(), InputSource::Blob(*d)))
                .collect(),
            limits: self.limits,
            attempt: self.attempt,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn task() -> Task {
        let mut params = BTreeMap::new();
        params.insert("mode".to_owned(), serde_json::json!("copy"));
        params.insert(
            "nested".to_owned(),
            serde_json::json!({"z": 1, "a": [true, null]}),
        );
        let mut inputs = BTreeMap::new();
        inputs.insert("data".to_owned(), Digest::of(b"input"));
        Task::new(
            Digest::of(b"module"),
            params,
            inputs,
            Limits::default(),
            1,
            Digest::of(b"profile"),
        )
    }

    #[test]
    fn stored_task_round_trips_under_its_digest() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = BlobStore::open(dir.path()).unwrap();
        let t = task();
        let d = t.store(&blobs).unwrap();
        assert_eq!(d, t.digest().unwrap());
        assert_eq!(Task::load(&blobs, &d).unwrap(), t);
        // Canonical: sorted keys, no whitespace.
        let text = String::from_utf8(t.canonical_bytes().unwrap()).unwrap();
        assert!(
            text.starts_with(r#"{"schema":"petri.task/1","module":""#),
            "{text}"
        );
        assert!(
            text.contains(r#""nested":{"a":[true,null],"z":1}"#),
            "{text}"
        );
    }

    #[test]
    fn non_canonical_or_foreign_bytes_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = BlobStore::open(dir.path()).unwrap();
        let pretty = serde_json::to_vec_pretty(&task()).unwrap();
        let d = blobs.put(&pretty).unwrap();
        assert!(matches!(
            Task::load(&blobs, &d),
            Err(TaskError::NotCanonical { .. })
        ));
        let d = blobs.put(b"{\"schema\":1}").unwrap();
        assert!(matches!(
            Task::load(&blobs, &d),
            Err(TaskError::Parse { .. })
        ));
        let missing = Digest::of(b"nothing");
        assert!(matches!(
            Task::load(&blobs, &missing),
            Err(TaskError::Blob { .. })
        ));
    }
}
