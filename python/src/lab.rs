//! `Lab`: one data dir opened in this process (the CLI's embedded default: the
//! blob store, and SQLite unless a database URL is given), with the module
//! registry attached, and the calls the Python layer builds on.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use petri_host::pipeline::{
    Files, RunOptions, RunRecord, Source, load_sealed_run, outputs, publish_from_store, rows,
    run_plan, validate_source, verify_run,
};
use petri_host::{Digest, LoadedStage, Manifest, ParamSet, Petri, RawParam, Registry, StateStore};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use serde::Serialize;
use tokio::runtime::Runtime;

use crate::convert::{from_python, to_python};
use crate::errors::{PetriError, petri_error, validation_error};

/// A data dir opened in-process: `petri.Local` wraps it.
#[pyclass(frozen, module = "petri._petri")]
pub struct Lab {
    runtime: Runtime,
    petri: Arc<Petri>,
    state: StateStore,
    data_dir: PathBuf,
}

/// `value` (any host serde view) as Python data.
fn data<T: Serialize>(py: Python<'_>, value: &T) -> PyResult<Py<PyAny>> {
    to_python(py, &serde_json::to_value(value).map_err(petri_error)?)
}

impl Lab {
    /// Loads the module `reference` names (a registered name, a `.wasm`
    /// path or `sha256:<hex>`) and asks it for its manifest.
    async fn module(&self, reference: &str) -> PyResult<(Arc<LoadedStage>, Manifest)> {
        let bytes = if let Some(hex) = reference.strip_prefix("sha256:") {
            let digest: Digest = hex.parse().map_err(petri_error)?;
            self.petri.blobs().read(&digest).map_err(petri_error)?
        } else if reference.ends_with(".wasm") || reference.contains('/') {
            std::fs::read(reference)
                .map_err(|e| PetriError::new_err(format!("cannot read {reference}: {e}")))?
        } else {
            let registry = self.petri.registry().ok_or_else(|| {
                PetriError::new_err("this data dir was opened without its registry")
            })?;
            let entry = registry
                .resolve(reference)
                .await
                .map_err(petri_error)?
                .ok_or_else(|| {
                    PetriError::new_err(format!(
                        "no module is registered as `{reference}` in {}; add it with \
                         `petri plugin add`",
                        self.data_dir.display()
                    ))
                })?;
            self.petri
                .blobs()
                .read(&entry.sha256)
                .map_err(petri_error)?
        };
        let stage = self.petri.load_shared(&bytes).map_err(petri_error)?;
        let manifest = self.petri.describe(&stage).await.map_err(petri_error)?;
        Ok((stage, manifest))
    }

    async fn run_record(&self, run: &str) -> PyResult<RunRecord> {
        let (record, _) = load_sealed_run(self.petri.records(), &self.state, run)
            .await
            .map_err(petri_error)?;
        Ok(record)
    }

    /// Checks a pipeline text (as if it were the file `path`) into a plan.
    fn validate_text(
        &self,
        py: Python<'_>,
        text: String,
        path: PathBuf,
        sheet: Option<(PathBuf, String)>,
    ) -> PyResult<petri_host::pipeline::Plan> {
        let source = Source {
            path: path.clone(),
            text,
            sheet,
            files: Files::Local,
        };
        py.detach(|| self.runtime.block_on(validate_source(&self.petri, source)))
            .map_err(|problems| validation_error(py, &path.display().to_string(), &problems))
    }
}

#[pymethods]
impl Lab {
    /// Opens (creating if needed) the data dir at `data_dir`, with the state
    /// database `database` (a URL) or the data dir's own SQLite file.
    #[new]
    #[pyo3(signature = (data_dir, database = None))]
    fn new(py: Python<'_>, data_dir: PathBuf, database: Option<String>) -> PyResult<Lab> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(petri_error)?;
        let (petri, state) = py.detach(|| {
            runtime.block_on(async {
                let petri = Petri::open(&data_dir).map_err(petri_error)?;
                let state = StateStore::open_in(&data_dir, database.as_deref())
                    .await
                    .map_err(petri_error)?;
                let registry = Registry::open_in(&state, &data_dir)
                    .await
                    .map_err(petri_error)?;
                PyResult::Ok((petri.with_registry(registry), state))
            })
        })?;
        Ok(Lab {
            runtime,
            petri: Arc::new(petri),
            state,
            data_dir,
        })
    }

    /// The data dir's path.
    #[getter]
    fn data_dir(&self) -> PathBuf {
        self.data_dir.clone()
    }

    /// The manifest of module `reference` (name, version, description,
    /// params, inputs, outputs, errors) and its `sha256`.
    fn manifest(&self, py: Python<'_>, reference: &str) -> PyResult<Py<PyAny>> {
        let (stage, manifest) = py.detach(|| self.runtime.block_on(self.module(reference)))?;
        let view = data(py, &manifest)?;
        view.bind(py)
            .cast::<PyDict>()?
            .set_item("sha256", stage.digest.to_hex())?;
        Ok(view)
    }

    /// Checks `params` against module `reference`'s manifest with petri's own
    /// rules; returns the canonical params (every default filled in).
    fn check_params(
        &self,
        py: Python<'_>,
        reference: &str,
        params: &Bound<'_, PyDict>,
    ) -> PyResult<Py<PyAny>> {
        let given = params
            .iter()
            .map(|(k, v)| Ok((k.extract::<String>()?, RawParam::Json(from_python(&v)?))))
            .collect::<PyResult<Vec<_>>>()?;
        let (_, manifest) = py.detach(|| self.runtime.block_on(self.module(reference)))?;
        match ParamSet::resolve(&manifest.params, &given) {
            Ok(set) => to_python(py, &set.to_json()),
            Err(problems) => Err(validation_error(
                py,
                &format!("the params of `{reference}`"),
                &problems,
            )),
        }
    }

    /// Validates a pipeline text as the file `path` (relative input paths
    /// resolve against its directory), with an optional sample sheet
    /// `(path, text)`. Returns the plan's stage ids, samples and combinations.
    #[pyo3(signature = (text, path, sheet = None))]
    fn validate(
        &self,
        py: Python<'_>,
        text: String,
        path: PathBuf,
        sheet: Option<(PathBuf, String)>,
    ) -> PyResult<Py<PyAny>> {
        let plan = self.validate_text(py, text, path, sheet)?;
        let stages: Vec<&str> = plan.stages.iter().map(|s| s.id.as_str()).collect();
        let view = serde_json::json!({
            "name": plan.name,
            "stages": stages,
            "samples": plan.samples,
            "combinations": plan.combinations,
        });
        to_python(py, &view)
    }

    /// Validates then runs a pipeline text in this process, without the GIL;
    /// Ctrl-C stops it through the run's interrupt (`KeyboardInterrupt`; running
    /// it again resumes). Returns the run record.
    #[pyo3(signature = (text, path, sheet = None, no_cache = false, progress = true))]
    fn run(
        &self,
        py: Python<'_>,
        text: String,
        path: PathBuf,
        sheet: Option<(PathBuf, String)>,
        no_cache: bool,
        progress: bool,
    ) -> PyResult<Py<PyAny>> {
        let plan = self.validate_text(py, text, path, sheet)?;
        let interrupt = tokio_util::sync::CancellationToken::new();
        let options = RunOptions {
            no_cache,
            on_event: progress.then(|| crate::progress::bar(&plan)).flatten(),
            interrupt: Some(interrupt.clone()),
            ..RunOptions::default()
        };
        let (result, signal) = py.detach(|| {
            self.runtime.block_on(crate::progress::until_interrupted(
                run_plan(self.petri.clone(), &self.state, &plan, &options),
                interrupt,
            ))
        });
        if let Some(signal) = signal {
            return Err(signal);
        }
        data(py, &result.map_err(petri_error)?)
    }

    /// The run record of `run` (an id or a unique prefix), checked against its seal.
    fn record(&self, py: Python<'_>, run: &str) -> PyResult<Py<PyAny>> {
        let record = py.detach(|| self.runtime.block_on(self.run_record(run)))?;
        data(py, &record)
    }

    /// The stage records (provenance) of every executed stage of `run`.
    fn stage_records(&self, py: Python<'_>, run: &str) -> PyResult<Py<PyAny>> {
        let record = py.detach(|| self.runtime.block_on(self.run_record(run)))?;
        let stages = record
            .stages
            .iter()
            .filter(|s| s.record_id.is_some())
            .map(|s| s.load_record(self.petri.records()).map_err(petri_error))
            .collect::<PyResult<Vec<_>>>()?;
        data(py, &stages)
    }

    /// Re-executes `run` and lists every mismatch (empty: it reproduces).
    fn verify(&self, py: Python<'_>, run: &str) -> PyResult<Py<PyAny>> {
        let mismatches = py.detach(|| {
            self.runtime.block_on(async {
                let record = self.run_record(run).await?;
                verify_run(&self.petri, &record).await.map_err(petri_error)
            })
        })?;
        data(py, &mismatches)
    }

    /// Publishes `run`'s outputs under `dir` (`<sample>/<stage>/<port>.<format>`
    /// and `manifest.tsv`, linked or copied, never overwriting other bytes).
    fn export(&self, py: Python<'_>, run: &str, dir: PathBuf) -> PyResult<Py<PyAny>> {
        let published = py.detach(|| {
            self.runtime.block_on(async {
                let record = self.run_record(run).await?;
                let list = outputs(&self.petri, &record).await.map_err(petri_error)?;
                publish_from_store(self.petri.blobs(), Path::new(&dir), list).map_err(petri_error)
            })
        })?;
        data(py, &published)
    }

    /// The results table of `run`: a row per sample and sweep combination
    /// (params, metrics, fuel, seconds, output digests).
    #[pyo3(signature = (run, metrics = Vec::new()))]
    fn results(&self, py: Python<'_>, run: &str, metrics: Vec<String>) -> PyResult<Py<PyAny>> {
        let record = py.detach(|| self.runtime.block_on(self.run_record(run)))?;
        data(py, &rows(&record, self.petri.records(), &metrics))
    }
}
