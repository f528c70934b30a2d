//! Running one stage: load, check the request, execute in a fresh sandbox, record provenance.

use std::collections::HashMap;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::SystemTime;

use wasmtime::component::Linker;
use wasmtime::{Engine, Store};

use crate::error::{Error, Problem};
use crate::provenance::{
    LogRef, ModuleRef, Outcome, PortData, RECORD_SCHEMA, StageRecord, StageRef,
};
use crate::stage::bindings::{Decision, Manifest, StageError, StageWorld, StageWorldPre};
use crate::stage::compiled::{CacheOutcome, CompiledCache};
use crate::stage::engine::{
    EngineProfile, FUEL_YIELD_INTERVAL, WASMTIME_VERSION, epoch_ticks, start_epoch_ticker,
};
use crate::stage::failure::{Failure, Spent};
use crate::stage::limits::{HOOK_FUEL, HOOK_WALL_CLOCK_SECS, INSTANTIATION_FUEL, Limits};
use crate::stage::manifest::{check_manifest, declares_error};
use crate::stage::params::{ParamSet, RawParam};
use crate::stage::sandbox::{Entropy, StageState, linker, stub_forbidden};
use crate::stage::streams::{InputStream, OutputStream};
use crate::store::blobs::BlobStore;
use crate::store::data_dir::DataDir;
use crate::store::digest::Digest;
use crate::store::records::RecordStore;
use crate::store::registry::Registry;

/// Where an input's bytes come from.
#[derive(Debug, Clone)]
pub enum InputSource {
    /// A file; its bytes are also kept in the blob store.
    Path(PathBuf),
    /// A blob already in the store.
    Blob(Digest),
}

/// What to run a stage on.
#[derive(Debug, Clone, Default)]
pub struct RunRequest {
    pub params: Vec<(String, RawParam)>,
    pub inputs: Vec<(String, InputSource)>,
    pub limits: Limits,
    /// 1 for a first attempt.
    pub attempt: u32,
}

impl RunRequest {
    /// The request that re-executes `record`: its canonical params, its
    /// inputs as the stored blobs they were, its limits and attempt.
    pub fn replaying(record: &StageRecord) -> RunRequest {
        let params = match &record.params {
            serde_json::Value::Object(map) => map
                .iter()
                .map(|(k, v)| (k.clone(), RawParam::Json(v.clone())))
                .collect(),
            _ => Vec::new(),
        };
        RunRequest {
            params,
            inputs: record
                .inputs
                .iter()
                .map(|p| (p.port.clone(), InputSource::Blob(p.sha256)))
                .collect(),
            limits: record.limits,
            attempt: record.attempt,
        }
    }
}

/// A component loaded and ready to instantiate.
pub struct LoadedStage {
    pub digest: Digest,
    pub size: u64,
    /// Whether compiling was needed.
    pub cache: CacheOutcome,
    /// Imports the component declares that petri does not provide; calling one traps.
    pub forbidden_imports: Vec<String>,
    pre: StageWorldPre<StageState>,
}

/// A petri host over one data dir.
pub struct Petri {
    profile: EngineProfile,
    /// The profile's id, its JSON (in every record) and the entropy its
    /// stages see: derived once, not per stage.
    profile_id: Digest,
    profile_json: serde_json::Value,
    entropy: Entropy,
    engine: Engine,
    linker: Linker<StageState>,
    blobs: BlobStore,
    cache: CompiledCache,
    records: RecordStore,
    /// The module registry pipelines name modules through (in the state
    /// database, which `open` does not open): attached by `with_registry`.
    registry: Option<Registry>,
    manifests: Mutex<HashMap<Digest, Manifest>>,
    /// Loaded modules shared by every plan that uses them (by digest), for as
    /// long as one of those plans holds them.
    shared: Mutex<HashMap<Digest, Weak<LoadedStage>>>,
}

impl Petri {
    /// Opens (creating as needed) the data dir at `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<Petri, Error> {
        let dir = DataDir::new(root);
        let profile = EngineProfile::default();
        let engine = profile.engine().map_err(Error::Engine)?;
        let linker = linker(&engine).map_err(Error::Engine)?;
        start_epoch_ticker(&engine);
        let blobs = BlobStore::open(dir.blobs())?;
        let records = RecordStore::new(blobs.clone(), dir.runs());
        Ok(Petri {
            blobs,
            cache: CompiledCache::open(dir.compiled_cache())?,
            records,
            registry: None,
            profile_id: profile.id(),
            profile_json: serde_json::to_value(&profile).unwrap_or_default(),
            entropy: Entropy::of(&profile),
            profile,
            engine,
            linker,
            manifests: Mutex::new(HashMap::new()),
            shared: Mutex::new(HashMap::new()),
        })
    }

    pub fn profile(&self) -> &EngineProfile {
        &self.profile
    }
    /// The engine profile's id ([`EngineProfile::id`]).
    pub fn profile_id(&self) -> Digest {
        self.profile_id
    }
    pub fn blobs(&self) -> &BlobStore {
        &self.blobs
    }
    pub fn records(&self) -> &RecordStore {
        &self.records
    }
    /// This host with `registry` as the one pipelines name modules through.
    pub fn with_registry(self, registry: Registry) -> Petri {
        Petri {
            registry: Some(registry),
            ..self
        }
    }

    /// The module registry, if one is attached ([`Petri::with_registry`]).
    pub fn registry(&self) -> Option<&Registry> {
        self.registry.as_ref()
    }
    pub fn cache(&self) -> &CompiledCache {
        &self.cache
    }
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Loads a component file.
    pub fn load_file(&self, path: &Path) -> Result<LoadedStage, Error> {
        let wasm = std::fs::read(path).map_err(|source| Error::Read {
            path: path.to_owned(),
            source,
        })?;
        self.load(&wasm)
    }

    /// Loads component bytes: keeps them in the blob store (a run can only be
    /// re-executed from bytes petri has) and compiles them, or reuses the cache.
    pub fn load(&self, wasm: &[u8]) -> Result<LoadedStage, Error> {
        let digest = self.blobs.put(wasm)?;
        let (component, cache) = self
            .cache
            .load(&self.engine, &self.profile, &digest, wasm)?;
        let mut linker = self.linker.clone();
        let forbidden_imports =
            stub_forbidden(&mut linker, &self.engine, &component).map_err(Error::Instantiate)?;
        let pre = linker
            .instantiate_pre(&component)
            .map_err(Error::Instantiate)?;
        let pre = StageWorldPre::new(pre).map_err(Error::Instantiate)?;
        Ok(LoadedStage {
            digest,
            size: wasm.len() as u64,
            cache,
            forbidden_imports,
            pre,
        })
    }

    /// A store with `allowance` fuel for instantiation and a wall-clock
    /// deadline `seconds` from now.
    /// Like [`Petri::load`], but a module already loaded and still in use
    /// (by any plan of this host) is shared rather than loaded again: a
    /// thousand plans over the same stages hold one copy of its code.
    pub fn load_shared(&self, wasm: &[u8]) -> Result<Arc<LoadedStage>, Error> {
        let digest = Digest::of(wasm);
        let live = |map: &HashMap<Digest, Weak<LoadedStage>>| map.get(&digest)?.upgrade();
        if let Some(stage) = self.shared.lock().ok().as_deref().and_then(live) {
            return Ok(stage);
        }
        let stage = Arc::new(self.load(wasm)?);
        if let Ok(mut map) = self.shared.lock() {
            map.retain(|_, w| w.strong_count() > 0);
            map.insert(digest, Arc::downgrade(&stage));
        }
        Ok(stage)
    }

    fn new_store(
        &self,
        state: StageState,
        allowance: u64,
        seconds: u64,
    ) -> Result<Store<StageState>, Error> {
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        store.set_fuel(allowance).map_err(Error::Engine)?;
        store.set_epoch_deadline(epoch_ticks(seconds));
        store.epoch_deadline_trap();
        store
            .fuel_async_yield_interval(Some(FUEL_YIELD_INTERVAL))
            .map_err(Error::Engine)?;
        Ok(store)
    }

    /// Instantiates the stage in a fresh sandbox and drops it: what every run
    /// pays before the guest starts. Used by benchmarks and health checks.
    pub async fn instantiate(&self, stage: &LoadedStage) -> Result<(), Error> {
        self.hook_instance(stage).await.map(drop)
    }

    /// A fresh sandbox with no ports, instantiated, with the fuel a hook
    /// (`describe`, `recover`) may use.
    async fn hook_instance(
        &self,
        stage: &LoadedStage,
    ) -> Result<(Store<StageState>, StageWorld), Error> {
        let state = StageState::new(
            &self.profile,
            &self.entropy,
            Limits::default(),
            Vec::new(),
            Vec::new(),
        );
        let mut store = self.new_store(state, INSTANTIATION_FUEL, HOOK_WALL_CLOCK_SECS)?;
        let world = stage
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(Error::Instantiate)?;
        store.set_fuel(HOOK_FUEL).map_err(Error::Engine)?;
        store.set_epoch_deadline(epoch_ticks(HOOK_WALL_CLOCK_SECS));
        Ok((store, world))
    }

    /// The typed failure of a trapped hook call.
    fn hook_failure(&self, e: &wasmtime::Error) -> Failure {
        let spent = Spent {
            fuel_used: HOOK_FUEL,
            budget: HOOK_FUEL,
            wall_clock_secs: HOOK_WALL_CLOCK_SECS,
        };
        Failure::from_trap(e, spent, self.profile.max_wasm_stack)
    }

    /// Asks the stage's `recover` hook what to do after `error` on `attempt`
    /// (counting from 1). Whether the proposal is allowed is the caller's policy.
    pub async fn recover(
        &self,
        stage: &LoadedStage,
        error: &StageError,
        attempt: u32,
    ) -> Result<Decision, Error> {
        let (mut store, world) = self.hook_instance(stage).await?;
        world
            .petri_stage_stage()
            .call_recover(&mut store, error, attempt)
            .await
            .map_err(|e| Error::Recover(self.hook_failure(&e)))
    }

    /// The stage's manifest (asked once per module per process).
    pub async fn describe(&self, stage: &LoadedStage) -> Result<Manifest, Error> {
        if let Some(m) = self
            .manifests
            .lock()
            .ok()
            .and_then(|m| m.get(&stage.digest).cloned())
        {
            return Ok(m);
        }
        let (mut store, world) = self.hook_instance(stage).await?;
        let manifest = world
            .petri_stage_stage()
            .call_describe(&mut store)
            .await
            .map_err(|e| Error::Describe(self.hook_failure(&e)))?;
        check_manifest(&manifest).map_err(Error::Manifest)?;
        if let Ok(mut m) = self.manifests.lock() {
            m.insert(stage.digest, manifest.clone());
        }
        Ok(manifest)
    }

    /// Runs the stage once and records the execution. A failing stage gives
    /// `Ok` with a failed outcome; `Err` means the request or the host failed.
    pub async fn run(
        &self,
        stage: &LoadedStage,
        request: RunRequest,
    ) -> Result<StageRecord, Error> {
        self.run_sealed(stage, request)
            .await
            .map(|(record, _)| record)
    }

    /// [`Petri::run`], also returning the SHA-256 of the record file written
    /// (its seal, checked before the record is reused or served).
    pub async fn run_sealed(
        &self,
        stage: &LoadedStage,
        request: RunRequest,
    ) -> Result<(StageRecord, Digest), Error> {
        self.execute(stage, request, &self.blobs, &self.records)
            .await
    }

    /// [`Petri::run_sealed`] with group commit: the outputs, log and record
    /// are visible at once but durable only after the next
    /// [`BlobStore::sync`]. The caller syncs before it commits anything that
    /// points at them (a stage-cache entry, a record seal, a run record).
    pub async fn run_deferred(
        &self,
        stage: &LoadedStage,
        request: RunRequest,
    ) -> Result<(StageRecord, Digest), Error> {
        let blobs = self.blobs.deferred();
        self.execute(stage, request, &blobs, &self.records.deferred())
            .await
    }

    /// Executes `stage` once, writing its outputs and log to `blobs` and its
    /// record to `records`.
    async fn execute(
        &self,
        stage: &LoadedStage,
        request: RunRequest,
        blobs: &BlobStore,
        records: &RecordStore,
    ) -> Result<(StageRecord, Digest), Error> {
        let manifest = self.describe(stage).await?;
        let started = SystemTime::now();
        let mut problems = Vec::new();
        let params = match ParamSet::resolve(&manifest.params, &request.params) {
            Ok(p) => Some(p),
            Err(ps) => {
                problems.extend(ps.into_iter().map(|p| Problem {
                    field: format!("param `{}`", p.param),
                    problem: p.problem,
                }));
                None
            }
        };
        let inputs = self.open_inputs(&manifest, &request.inputs, &mut problems);
        let (Some(params), true) = (params, problems.is_empty()) else {
            return Err(Error::Request(problems));
        };
        // Blob files are opened on each port's first write, not here.
        let outputs = manifest
            .outputs
            .iter()
            .map(|p| {
                OutputStream::new(
                    p.name.clone(),
                    blobs.in_memory(),
                    request.limits.output_bytes,
                )
            })
            .collect();

        let budget = request.limits.fuel;
        let seconds = request.limits.wall_clock_secs;
        let state = StageState::new(
            &self.profile,
            &self.entropy,
            request.limits,
            inputs,
            outputs,
        );
        let mut store = self.new_store(state, INSTANTIATION_FUEL, HOOK_WALL_CLOCK_SECS)?;
        let world = stage
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(Error::Instantiate)?;
        store.set_fuel(budget).map_err(Error::Engine)?;
        store.set_epoch_deadline(epoch_ticks(seconds));
        let (readers, writers) = store.data_mut().stream_handles().map_err(Error::Engine)?;
        let result = world
            .petri_stage_stage()
            .call_run(&mut store, &params.to_wit(), &readers, &writers)
            .await;
        let fuel_used = budget.saturating_sub(store.get_fuel().unwrap_or(0));
        let outcome = match result {
            Ok(Ok(report)) => Outcome::Succeeded { report },
            Ok(Err(error)) if declares_error(&manifest, &error.kind) => Outcome::Failed {
                failure: Failure::Stage { error },
            },
            Ok(Err(error)) => Outcome::Failed {
                failure: Failure::UndeclaredError { error },
            },
            Err(trap) => Outcome::Failed {
                failure: Failure::from_trap(
                    &trap,
                    Spent {
                        fuel_used,
                        budget,
                        wall_clock_secs: seconds,
                    },
                    self.profile.max_wasm_stack,
                ),
            },
        };

        let mut state = store.into_data();
        state.collect_stdio();
        let outcome = match outcome {
            Outcome::Failed { failure } => Outcome::Failed {
                failure: state.explain(failure),
            },
            succeeded => succeeded,
        };
        // An input over max-input-bytes fails the run even if the stage
        // never read that far: its digest cannot cover the whole input.
        let over_limit = state.drain_inputs()?;
        let (inputs, tampered) =
            self.finish_inputs(std::mem::take(&mut state.inputs), &request.inputs)?;
        // Bytes that are not what their digest says fail the stage, whatever
        // it made of them (a truncated input is reported as over its limit).
        let outcome = match over_limit.or(tampered) {
            Some(failure) => Outcome::Failed { failure },
            None => outcome,
        };
        let succeeded = matches!(outcome, Outcome::Succeeded { .. });
        let (mut outputs, mut partial_outputs) = (Vec::new(), Vec::new());
        for (out, spec) in std::mem::take(&mut state.outputs)
            .into_iter()
            .zip(&manifest.outputs)
        {
            // Optional outputs the stage never wrote are absent. What a failed
            // run wrote is kept apart, for a policy that salvages it.
            if succeeded && (out.written || spec.required) {
                outputs.push(out.commit()?);
            } else if !succeeded && out.written {
                partial_outputs.push(out.commit()?);
            }
        }
        let log = store_log(blobs, &state)?;

        let record = StageRecord {
            schema: RECORD_SCHEMA.to_owned(),
            id: uuid::Uuid::now_v7().to_string(),
            module: ModuleRef {
                sha256: stage.digest,
                size: stage.size,
            },
            stage: StageRef {
                name: manifest.name.clone(),
                version: manifest.version.clone(),
            },
            params: params.to_json(),
            params_sha256: params.digest(),
            inputs,
            outputs,
            partial_outputs,
            fuel_used,
            limits: request.limits,
            engine_profile_id: self.profile_id,
            engine_profile: self.profile_json.clone(),
            host_version: env!("CARGO_PKG_VERSION").to_owned(),
            wasmtime_version: WASMTIME_VERSION.to_owned(),
            attempt: request.attempt.max(1),
            outcome,
            log,
            started_at: humantime::format_rfc3339_millis(started).to_string(),
            finished_at: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
        };
        let seal = records.save(&record)?;
        Ok((record, seal))
    }

    /// Opens every given input in manifest order, noting every problem.
    fn open_inputs(
        &self,
        manifest: &Manifest,
        given: &[(String, InputSource)],
        problems: &mut Vec<Problem>,
    ) -> Vec<InputStream> {
        let mut problem = |port: &str, problem: String| {
            problems.push(Problem {
                field: format!("input `{port}`"),
                problem,
            })
        };
        let declared: Vec<&str> = manifest.inputs.iter().map(|p| p.name.as_str()).collect();
        for (i, (port, _)) in given.iter().enumerate() {
            if !declared.contains(&port.as_str()) {
                problem(
                    port,
                    format!(
                        "unknown input port; this stage takes: {}",
                        declared.join(", ")
                    ),
                );
            } else if given[..i].iter().any(|(p, _)| p == port) {
                problem(port, "given more than once".to_owned());
            }
        }
        let mut streams = Vec::new();
        for spec in &manifest.inputs {
            let Some((_, source)) = given.iter().find(|(p, _)| p == &spec.name) else {
                if spec.required {
                    problem(
                        &spec.name,
                        format!("required ({}) and not given", spec.format),
                    );
                }
                continue;
            };
            match self.open_source(spec.name.clone(), source) {
                Ok(stream) => streams.push(stream),
                Err(e) => problem(&spec.name, e),
            }
        }
        streams
    }

    /// A stream over `source`: a file (copied into the store as it is read),
    /// a recent blob (from memory), or a stored blob (from the store); all
    /// but a recent blob are hashed as they are read.
    fn open_source(&self, port: String, source: &InputSource) -> Result<InputStream, String> {
        match source {
            InputSource::Path(path) => {
                if path.is_dir() {
                    return Err(format!("{} is a directory, not a file", path.display()));
                }
                let file =
                    File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
                let tee = self
                    .blobs
                    .in_memory()
                    .unhashed_writer()
                    .map_err(|e| e.to_string())?;
                let reader = Box::new(BufReader::with_capacity(1 << 16, file));
                Ok(InputStream::new(port, reader, Some(tee)))
            }
            InputSource::Blob(d) => match self.blobs.recent(d) {
                Some(bytes) => Ok(InputStream::recent(port, *d, bytes)),
                None => {
                    let blob = self.blobs.open_blob(d).map_err(|e| e.to_string())?;
                    let reader = Box::new(BufReader::with_capacity(1 << 16, blob));
                    Ok(InputStream::new(port, reader, None))
                }
            },
        }
    }

    /// Drains and hashes every input, keeps file inputs in the blob store, and
    /// checks each stored blob against the digest it was opened under: the
    /// first mismatch is returned as an `integrity` failure.
    fn finish_inputs(
        &self,
        inputs: Vec<InputStream>,
        sources: &[(String, InputSource)],
    ) -> Result<(Vec<PortData>, Option<Failure>), Error> {
        let mut out = Vec::with_capacity(inputs.len());
        let mut tampered = None;
        for input in inputs {
            let port = input.port.clone();
            let (sha256, size, tee) = input.finish().map_err(|source| Error::Read {
                path: PathBuf::from(&port),
                source,
            })?;
            if let Some(tee) = tee {
                // The stream hashed exactly these bytes: no second pass.
                tee.commit_as(sha256)?;
            }
            let expected = sources.iter().find_map(|(p, s)| match s {
                InputSource::Blob(d) if *p == port => Some(*d),
                _ => None,
            });
            if let Some(expected) = expected.filter(|e| *e != sha256) {
                // The record keeps what the bytes hash to; the failure names both.
                tampered.get_or_insert(Failure::Integrity {
                    port: port.clone(),
                    expected: expected.to_hex(),
                    actual: sha256.to_hex(),
                });
            }
            out.push(PortData { port, sha256, size });
        }
        Ok((out, tampered))
    }
}

/// Keeps an execution's log lines as a blob (JSON lines).
fn store_log(blobs: &BlobStore, state: &StageState) -> Result<LogRef, Error> {
    let mut bytes = Vec::new();
    for line in &state.log.lines {
        if let Ok(json) = serde_json::to_string(line) {
            bytes.extend_from_slice(json.as_bytes());
            bytes.push(b'\n');
        }
    }
    let sha256 = blobs.put(&bytes)?;
    Ok(LogRef {
        sha256,
        lines: state.log.lines.len() as u64,
        dropped: state.log.dropped,
    })
}
