//! Whole-DAG validation: every problem in a pipeline file, each with its location and a hint.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use petgraph::algo::tarjan_scc;
use petgraph::graph::DiGraph;
use toml::Spanned;

use super::diagnostic::{Diagnostic, Diagnostics};
use super::file::{self, PolicyDecl, StageDecl};
use super::files::{Files, Place};
use super::plan::{DecisionKind, Plan, PlanInput, PlanStage, Policy, Texts, Wire};
use super::samples::{Sample, parse_sheet};
use super::sniff;
use crate::stage::bindings::Manifest;
use crate::stage::params::{ParamSet, RawParam};
use crate::stage::petri::{LoadedStage, Petri};
use crate::store::digest::Digest;

type Module = (Arc<LoadedStage>, Arc<Manifest>);

/// A pipeline to check: its exact text, its sample sheet's, and where the
/// files they name are. What is checked here is what runs: the plan keeps
/// these bytes and never reads the pipeline or the sheet again.
#[derive(Debug)]
pub struct Source {
    /// The pipeline file (its name, for a daemon run: `pipeline.toml`).
    pub path: PathBuf,
    pub text: String,
    /// The sample sheet's path (or name) and text.
    pub sheet: Option<(PathBuf, String)>,
    pub files: Files,
}

fn unreadable(path: &Path, what: &str, e: std::io::Error) -> Vec<Diagnostic> {
    vec![Diagnostic {
        file: path.to_owned(),
        line: 0,
        column: 0,
        message: format!("cannot read the {what}: {e}"),
        hint: None,
    }]
}

/// Loads and checks the pipeline file at `path` (and the sample sheet, if
/// given), with inputs on the local filesystem. Nothing runs; every problem
/// found is reported together.
pub async fn validate(
    petri: &Petri,
    path: &Path,
    sheet: Option<&Path>,
) -> Result<Plan, Vec<Diagnostic>> {
    let text = std::fs::read_to_string(path).map_err(|e| unreadable(path, "pipeline file", e))?;
    let sheet = match sheet {
        Some(p) => Some((
            p.to_owned(),
            std::fs::read_to_string(p).map_err(|e| unreadable(p, "sample sheet", e))?,
        )),
        None => None,
    };
    let source = Source {
        path: path.to_owned(),
        text,
        sheet,
        files: Files::Local,
    };
    validate_source(petri, source).await
}

/// Checks a pipeline given as text. Nothing runs; every problem found is
/// reported together.
pub async fn validate_source(petri: &Petri, source: Source) -> Result<Plan, Vec<Diagnostic>> {
    let Source {
        path,
        text,
        sheet,
        files,
    } = source;
    let path = path.as_path();
    let mut d = Diagnostics::new(path, &text);
    let mut parsed = match file::parse(&text) {
        Ok(p) => p,
        Err((message, span)) => {
            d.error(
                span,
                message,
                Some("see examples/lambda/pipeline.toml for the format".into()),
            );
            return Err(d.list);
        }
    };
    let sweep = super::sweep::expand(&mut parsed, &mut d);
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    if parsed.stages.is_empty() {
        d.error(
            None,
            "the pipeline has no stages",
            Some("add a [stages.<id>] table".into()),
        );
    }

    let place = Place {
        files: &files,
        blobs: petri.blobs(),
        base: &base,
    };
    let inputs = check_inputs(&parsed, &place, sheet.is_some(), &mut d);
    let mut sheet_problems = Vec::new();
    let (samples, sample_sheet) = match &sheet {
        Some((sheet_path, sheet_text)) => {
            let mut sd = Diagnostics::new(sheet_path, sheet_text);
            let samples = parse_sheet(sheet_path, sheet_text, &inputs, &place, &mut sd);
            sheet_problems = sd.list;
            let digest = Digest::of(sheet_text.as_bytes());
            (samples, Some((sheet_path.clone(), digest)))
        }
        None => {
            let inputs = inputs
                .iter()
                .filter_map(|i| Some((i.name.clone(), i.path.clone()?)))
                .collect();
            let sample = Sample {
                id: super::run::DEFAULT_SAMPLE.to_owned(),
                line: 0,
                inputs,
                collected_at: None,
                expires_at: None,
                stability_hours: None,
                priority: "normal".to_owned(),
            };
            (vec![sample], None)
        }
    };
    let mut modules: HashMap<String, Option<Module>> = HashMap::new();
    let mut resolved: BTreeMap<String, Option<Module>> = BTreeMap::new();
    for (id, decl) in &parsed.stages {
        check_id(&mut d, id, "stage");
        let reference = decl.get_ref().module.get_ref().clone();
        if !modules.contains_key(&reference) {
            let m = match resolve_module(petri, &place, &reference).await {
                Ok(m) => Some(m),
                Err((message, hint)) => {
                    d.error(Some(decl.get_ref().module.span()), message, hint);
                    None
                }
            };
            modules.insert(reference.clone(), m);
        }
        resolved.insert(
            id.get_ref().clone(),
            modules.get(&reference).cloned().flatten(),
        );
    }

    let mut stages = Vec::new();
    for (id, decl) in &parsed.stages {
        let Some((module, manifest)) = resolved.get(id.get_ref()).cloned().flatten() else {
            continue;
        };
        // A repeated stage's params are checked per copy (`repeat_swept`).
        let params = match &sweep {
            Some(s) if s.copies.contains_key(id.get_ref()) => Some(ParamSet::default()),
            _ => check_params(
                &mut d,
                (id.get_ref(), id.span()),
                &given(decl.get_ref(), &[], 0..0),
                &manifest,
            ),
        };
        let wires = check_wiring(
            &mut d,
            id,
            decl.get_ref(),
            &manifest,
            &parsed,
            &resolved,
            &inputs,
        );
        let policy = check_policy(&mut d, decl.get_ref().policy.as_ref());
        let instrument = decl
            .get_ref()
            .resources
            .as_ref()
            .and_then(|r| r.get_ref().instrument.as_ref())
            .map_or_else(|| "compute".to_owned(), |i| i.get_ref().clone());
        if let Some(params) = params {
            stages.push(PlanStage {
                id: id.get_ref().clone(),
                module,
                manifest,
                params,
                inputs: wires,
                policy,
                instrument,
            });
        }
    }
    let order = check_cycles(&mut d, &parsed.stages);
    let mut by_id: HashMap<String, PlanStage> =
        stages.into_iter().map(|s| (s.id.clone(), s)).collect();
    let stages: Vec<PlanStage> = order
        .into_iter()
        .filter_map(|id| by_id.remove(&id))
        .collect();
    let (stages, combinations) = match sweep {
        Some(sweep) => (
            repeat_swept(stages, &sweep, &parsed, &mut d),
            sweep.combinations,
        ),
        None => (stages, Vec::new()),
    };
    if !d.list.is_empty() || !sheet_problems.is_empty() {
        let mut list = d.list;
        list.extend(sheet_problems);
        list.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
        // A sweep repeats a stage: one problem per place, not per combination.
        list.dedup();
        return Err(list);
    }
    // Shared inputs fill in what a sample does not give.
    let mut samples = samples;
    for s in &mut samples {
        for i in &inputs {
            if let Some(p) = &i.path {
                s.inputs.entry(i.name.clone()).or_insert_with(|| p.clone());
            }
        }
    }
    Ok(Plan {
        samples,
        combinations,
        sample_sheet,
        name: parsed.pipeline.name.clone().unwrap_or_else(|| {
            path.file_stem()
                .map_or("pipeline".into(), |s| s.to_string_lossy().into_owned())
        }),
        description: parsed.pipeline.description.clone().unwrap_or_default(),
        file: path.to_owned(),
        file_sha256: Digest::of(text.as_bytes()),
        inputs,
        stages,
        texts: Arc::new(Texts {
            pipeline: text,
            sheet: sheet.map(|(_, t)| t),
        }),
        files: Arc::new(files),
    })
}

fn check_id(d: &mut Diagnostics<'_>, id: &Spanned<String>, what: &str) {
    let ok = !id.get_ref().is_empty()
        && id
            .get_ref()
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !ok {
        d.error(
            Some(id.span()),
            format!(
                "{what} id `{}` may only use letters, digits, `-` and `_`",
                id.get_ref()
            ),
            None,
        );
    }
}

fn check_inputs(
    parsed: &file::PipelineFile,
    place: &Place<'_>,
    has_sheet: bool,
    d: &mut Diagnostics<'_>,
) -> Vec<PlanInput> {
    let mut out = Vec::new();
    for (name, decl) in &parsed.inputs {
        check_id(d, name, "input");
        let decl = decl.get_ref();
        let path = match decl
            .path
            .as_ref()
            .map(|p| (place.locate(p.get_ref()), p.span()))
        {
            Some((Ok(p), span)) => Some((p, span)),
            Some((Err(e), span)) => {
                d.error(Some(span), format!("input `{}`: {e}", name.get_ref()), None);
                None
            }
            None => None,
        };
        if decl.path.is_none() && !has_sheet {
            d.error(
                Some(name.span()),
                format!("input `{}` has no path", name.get_ref()),
                Some("give it a `path`, or run with `--samples` and a column of this name".into()),
            );
        }
        let mut readable = false;
        if let Some((p, span)) = &path {
            match place.files.check(place.blobs, p) {
                Ok(()) => readable = true,
                Err(e) => d.error(
                    Some(span.clone()),
                    format!("input file {e}"),
                    Some("paths are relative to the pipeline file".into()),
                ),
            }
        }
        let format = match (&decl.format, &path) {
            (Some(f), Some((p, _))) if readable => {
                if let Err(e) = place.files.check_format(place.blobs, p, f.get_ref()) {
                    d.error(
                        Some(f.span()),
                        e,
                        Some("check the file or the declared format".into()),
                    );
                }
                f.get_ref().clone()
            }
            (Some(f), _) => f.get_ref().clone(),
            (None, Some((p, _))) if readable => {
                sniff::guess_format(|| place.files.open(place.blobs, p).ok())
                    .unwrap_or("any")
                    .to_owned()
            }
            (None, _) => "any".to_owned(),
        };
        let sha256 = decl
            .sha256
            .as_ref()
            .and_then(|s| match s.get_ref().parse::<Digest>() {
                Ok(digest) => Some(digest),
                Err(e) => {
                    d.error(Some(s.span()), e.to_string(), None);
                    None
                }
            });
        out.push(PlanInput {
            name: name.get_ref().clone(),
            path: path.map(|(p, _)| p),
            format,
            sha256,
        });
    }
    out
}

async fn resolve_module(
    petri: &Petri,
    place: &Place<'_>,
    reference: &str,
) -> Result<Module, (String, Option<String>)> {
    let loaded = if let Some(hex) = reference.strip_prefix("sha256:") {
        let digest: Digest = hex
            .parse()
            .map_err(|e: crate::store::digest::ParseDigestError| (e.to_string(), None))?;
        // A module the caller may not use is reported exactly as a missing one.
        let bytes = if place.files.may_load(&digest) {
            petri.blobs().read(&digest)
        } else {
            Err(crate::store::blobs::CasError::Missing(digest))
        };
        let bytes = bytes.map_err(|e| {
            (
                e.to_string(),
                Some("add the module to this data dir with `petri plugin add`".into()),
            )
        })?;
        petri
            .load_shared(&bytes)
            .map_err(|e| (format!("{e}"), None))
    } else if reference.ends_with(".wasm") || reference.contains('/') {
        let path = place
            .files
            .module_file(place.base, reference)
            .map_err(|e| (e, None))?;
        if !path.is_file() {
            return Err((
                format!("stage module {} not found", path.display()),
                Some("module paths are relative to the pipeline file".into()),
            ));
        }
        std::fs::read(&path)
            .map_err(|e| (format!("cannot read {}: {e}", path.display()), None))
            .and_then(|bytes| {
                petri
                    .load_shared(&bytes)
                    .map_err(|e| (format!("{e}"), None))
            })
    } else {
        let digest = match reference.split_once("@sha256:") {
            Some((name, hex)) => pinned(petri, name, hex).await?,
            None => registered(petri, reference).await?,
        };
        let bytes = petri
            .blobs()
            .read(&digest)
            .map_err(|e| (e.to_string(), None))?;
        petri
            .load_shared(&bytes)
            .map_err(|e| (format!("{e}"), None))
    };
    let stage = loaded?;
    let manifest = petri
        .describe(&stage)
        .await
        .map_err(|e| (format!("{e}"), None))?;
    Ok((stage, Arc::new(manifest)))
}

/// The module registered under `name` in the host's registry (read from
/// the database now: a name registered by another process is found).
async fn registered(petri: &Petri, name: &str) -> Result<Digest, (String, Option<String>)> {
    let unknown = || format!("unknown stage module `{name}`");
    let Some(registry) = petri.registry() else {
        let hint = "no module registry is open here; give a path or `sha256:`";
        return Err((unknown(), Some(hint.to_owned())));
    };
    let failed = |e: crate::store::registry::RegistryError| (e.to_string(), None);
    if let Some(entry) = registry.resolve(name).await.map_err(failed)? {
        return Ok(entry.sha256);
    }
    let registered = registry.list().await.map_err(failed)?;
    let names: Vec<&str> = registered.iter().map(|e| e.name.as_str()).collect();
    let hint = if names.is_empty() {
        "no modules are registered; `petri plugin add <stage.wasm>` or give a path".to_owned()
    } else {
        format!(
            "registered modules: {} (`petri plugin list`)",
            names.join(", ")
        )
    };
    Err((unknown(), Some(hint)))
}

/// The module `name@sha256:<hex>` pins: that digest, if it is one `name`
/// has ever pointed to (its registry history; the daemon's groups see every
/// registered name's history, as they see its current module).
async fn pinned(petri: &Petri, name: &str, hex: &str) -> Result<Digest, (String, Option<String>)> {
    let field = format!("module `{name}@sha256:{hex}`");
    let digest: Digest = hex.parse().map_err(|e| (format!("{field}: {e}"), None))?;
    let failed = |e: crate::store::registry::RegistryError| (format!("{field}: {e}"), None);
    let named = match petri.registry() {
        Some(registry) => registry.history(name).await.map_err(failed)?,
        None => None,
    };
    let Some(named) = named else {
        // An unknown name: its problem and hint, as for an unpinned module.
        let _ = registered(petri, name).await?;
        return Err((format!("{field}: `{name}` is not registered"), None));
    };
    if named.history.iter().any(|r| r.sha256 == digest) {
        return Ok(digest);
    }
    let known: Vec<String> = named
        .history
        .iter()
        .rev()
        .take(5)
        .map(|r| format!("{} sha256:{}", r.version, r.sha256))
        .collect();
    Err((
        format!("{field}: `{name}` never pointed to sha256:{digest}"),
        Some(format!(
            "pin one of its history (`petri plugin history {name}`): {}",
            known.join(", ")
        )),
    ))
}

/// Replaces each repeated stage of `stages` (in run order) by its copies:
/// the declaration's params with the combination's values on top (each
/// copy's checked), its inputs from repeated stages rewired to their copies.
fn repeat_swept(
    stages: Vec<PlanStage>,
    sweep: &super::sweep::Expansion,
    parsed: &file::PipelineFile,
    d: &mut Diagnostics<'_>,
) -> Vec<PlanStage> {
    let mut out = Vec::with_capacity(stages.len() + sweep.combinations.len());
    for stage in stages {
        let (Some(copies), Some((id, decl))) = (
            sweep.copies.get(&stage.id),
            parsed.stages.get_key_value(stage.id.as_str()),
        ) else {
            out.push(stage);
            continue;
        };
        for copy in copies {
            let given = given(decl.get_ref(), &copy.overrides, sweep.span.clone());
            let Some(params) = check_params(d, (&copy.id, id.span()), &given, &stage.manifest)
            else {
                continue;
            };
            let inputs = stage
                .inputs
                .iter()
                .map(|(port, wire)| {
                    let wire = match wire {
                        Wire::Stage { stage: from, port } => Wire::Stage {
                            stage: sweep.source(copy, from).to_owned(),
                            port: port.clone(),
                        },
                        input => input.clone(),
                    };
                    (port.clone(), wire)
                })
                .collect();
            out.push(PlanStage {
                id: copy.id.clone(),
                params,
                inputs,
                ..stage.clone()
            });
        }
    }
    out
}

/// One param as written: its name, value and where.
struct Given<'a> {
    name: &'a str,
    value: &'a toml::Value,
    span: std::ops::Range<usize>,
}

/// A declaration's params, with `overrides` (written at `at`) on top.
fn given<'a>(
    decl: &'a StageDecl,
    overrides: &'a [(String, toml::Value)],
    at: std::ops::Range<usize>,
) -> Vec<Given<'a>> {
    let own = decl
        .params
        .iter()
        .filter(|(name, _)| !overrides.iter().any(|(o, _)| o == name.get_ref()))
        .map(|(name, value)| Given {
            name: name.get_ref(),
            value: value.get_ref(),
            span: value.span(),
        });
    let swept = overrides.iter().map(|(name, value)| Given {
        name,
        value,
        span: at.clone(),
    });
    own.chain(swept).collect()
}

/// `params` checked against the manifest of stage `id` (declared at its span).
fn check_params(
    d: &mut Diagnostics<'_>,
    (id, at): (&str, std::ops::Range<usize>),
    params: &[Given<'_>],
    manifest: &Manifest,
) -> Option<ParamSet> {
    let mut given = Vec::with_capacity(params.len());
    for p in params {
        match serde_json::to_value(p.value) {
            Ok(json) => given.push((p.name.to_owned(), RawParam::Json(json))),
            Err(e) => d.error(
                Some(p.span.clone()),
                format!("param `{}`: {e}", p.name),
                None,
            ),
        }
    }
    match ParamSet::resolve(&manifest.params, &given) {
        Ok(p) => Some(p),
        Err(problems) => {
            for p in problems {
                let span = params
                    .iter()
                    .find(|g| g.name == p.param)
                    .map_or(at.clone(), |g| g.span.clone());
                let hint = manifest
                    .params
                    .iter()
                    .find(|s| s.name == p.param)
                    .map(|s| s.doc.clone());
                d.error(
                    Some(span),
                    format!("stage `{id}`: param `{}`: {}", p.param, p.problem),
                    hint,
                );
            }
            None
        }
    }
}

fn check_wiring(
    d: &mut Diagnostics<'_>,
    id: &Spanned<String>,
    decl: &StageDecl,
    manifest: &Manifest,
    parsed: &file::PipelineFile,
    resolved: &BTreeMap<String, Option<Module>>,
    inputs: &[PlanInput],
) -> Vec<(String, Wire)> {
    let sid = id.get_ref();
    let mut wires = Vec::new();
    for (port, source) in &decl.inputs {
        let Some(spec) = manifest.inputs.iter().find(|p| &p.name == port.get_ref()) else {
            let ports: Vec<&str> = manifest.inputs.iter().map(|p| p.name.as_str()).collect();
            d.error(
                Some(port.span()),
                format!(
                    "stage `{sid}` ({}) has no input port `{}`",
                    manifest.name,
                    port.get_ref()
                ),
                Some(format!("its input ports: {}", ports.join(", "))),
            );
            continue;
        };
        let (wire, format) = match source.get_ref().split_once('.') {
            Some(("inputs", name)) => match inputs.iter().find(|i| i.name == name) {
                Some(i) => (
                    Wire::Input {
                        name: name.to_owned(),
                    },
                    Some(i.format.clone()),
                ),
                None => {
                    let names: Vec<&str> = inputs.iter().map(|i| i.name.as_str()).collect();
                    d.error(
                        Some(source.span()),
                        format!("unknown pipeline input `{name}`"),
                        Some(format!("declared inputs: {}", names.join(", "))),
                    );
                    continue;
                }
            },
            Some((stage, out)) => {
                if !resolved.contains_key(stage) {
                    let names: Vec<&str> =
                        parsed.stages.keys().map(|k| k.get_ref().as_str()).collect();
                    d.error(
                        Some(source.span()),
                        format!("unknown stage `{stage}`"),
                        Some(format!(
                            "stages: {}; pipeline inputs are `inputs.<name>`",
                            names.join(", ")
                        )),
                    );
                    continue;
                }
                let format = match resolved.get(stage).cloned().flatten() {
                    Some((_, m)) => match m.outputs.iter().find(|p| p.name == out) {
                        Some(p) => Some(p.format.clone()),
                        None => {
                            let ports: Vec<&str> =
                                m.outputs.iter().map(|p| p.name.as_str()).collect();
                            d.error(
                                Some(source.span()),
                                format!("stage `{stage}` ({}) has no output port `{out}`", m.name),
                                Some(format!("its output ports: {}", ports.join(", "))),
                            );
                            continue;
                        }
                    },
                    None => None,
                };
                (
                    Wire::Stage {
                        stage: stage.to_owned(),
                        port: out.to_owned(),
                    },
                    format,
                )
            }
            None => {
                d.error(
                    Some(source.span()),
                    format!("`{}` is not a source", source.get_ref()),
                    Some("write `inputs.<name>` or `<stage>.<output port>`".into()),
                );
                continue;
            }
        };
        if let Some(f) = format
            && !compatible(&f, &spec.format)
        {
            d.error(
                Some(source.span()),
                format!(
                    "format mismatch: `{}` is {f} but input `{}` of stage `{sid}` takes {}",
                    source.get_ref(),
                    spec.name,
                    spec.format
                ),
                None,
            );
        }
        wires.push((spec.name.clone(), wire));
    }
    for spec in &manifest.inputs {
        if spec.required && !decl.inputs.keys().any(|k| k.get_ref() == &spec.name) {
            d.error(
                Some(id.span()),
                format!(
                    "stage `{sid}`: required input `{}` ({}) is not connected",
                    spec.name, spec.format
                ),
                Some(format!(
                    "add `{} = \"inputs.<name>\"` or `\"<stage>.<port>\"` to its inputs",
                    spec.name
                )),
            );
        }
    }
    // Manifest order, so the stage sees its ports in a stable order.
    wires.sort_by_key(|(port, _)| manifest.inputs.iter().position(|p| &p.name == port));
    wires
}

fn compatible(from: &str, to: &str) -> bool {
    from == to || ["any", "bin"].contains(&from) || ["any", "bin"].contains(&to)
}

fn check_policy(d: &mut Diagnostics<'_>, decl: Option<&Spanned<PolicyDecl>>) -> Policy {
    let mut policy = Policy::default();
    let Some(decl) = decl else { return policy };
    let decl = decl.get_ref();
    let mut int = |v: &Option<Spanned<i64>>, what: &str, min: i64, max: i64| -> Option<i64> {
        let v = v.as_ref()?;
        if (min..=max).contains(v.get_ref()) {
            Some(*v.get_ref())
        } else {
            d.error(
                Some(v.span()),
                format!("policy `{what}` must be between {min} and {max}"),
                None,
            );
            None
        }
    };
    if let Some(n) = int(&decl.max_attempts, "max-attempts", 1, 100) {
        policy.max_attempts = n as u32;
    }
    if let Some(n) = int(&decl.fuel, "fuel", 1, i64::MAX) {
        policy.fuel = n as u64;
    }
    if let Some(n) = int(&decl.wall_clock_secs, "wall-clock-secs", 1, 7 * 24 * 3600) {
        policy.wall_clock_secs = n as u64;
    }
    if let Some(n) = int(&decl.fuel_growth, "fuel-growth", 1, 1000) {
        policy.fuel_growth = n as u64;
    }
    if let Some(d2) = &decl.downstream_of_salvage {
        match d2.get_ref().as_str() {
            "skip" => policy.run_downstream_of_salvage = false,
            "run" => policy.run_downstream_of_salvage = true,
            other => d.error(
                Some(d2.span()),
                format!("downstream-of-salvage `{other}`"),
                Some("one of: skip, run".into()),
            ),
        }
    }
    if let Some(allow) = &decl.allow {
        policy.allow.clear();
        for a in allow {
            match DecisionKind::ALL.iter().find(|(n, _)| n == a.get_ref()) {
                Some((_, k)) => policy.allow.push(*k),
                None => d.error(
                    Some(a.span()),
                    format!("unknown decision `{}`", a.get_ref()),
                    Some("allowed: retry, retry-with, skip, salvage, abort".into()),
                ),
            }
        }
    }
    policy
}

/// Reports every cycle; returns the stage ids in a topological order.
fn check_cycles(
    d: &mut Diagnostics<'_>,
    stages: &BTreeMap<Spanned<String>, Spanned<StageDecl>>,
) -> Vec<String> {
    let mut graph = DiGraph::<&str, ()>::new();
    let nodes: HashMap<&str, _> = stages
        .keys()
        .map(|k| (k.get_ref().as_str(), graph.add_node(k.get_ref().as_str())))
        .collect();
    for (id, decl) in stages {
        for source in decl.get_ref().inputs.values() {
            if let Some((stage, _)) = source.get_ref().split_once('.')
                && let (Some(&from), Some(&to)) =
                    (nodes.get(stage), nodes.get(id.get_ref().as_str()))
            {
                graph.add_edge(from, to, ());
            }
        }
    }
    // Tarjan yields components in reverse topological order.
    let sccs = tarjan_scc(&graph);
    for scc in &sccs {
        let self_loop = scc.len() == 1 && graph.contains_edge(scc[0], scc[0]);
        if scc.len() > 1 || self_loop {
            let mut names: Vec<&str> = scc.iter().map(|n| graph[*n]).collect();
            names.sort_unstable();
            let span = stages
                .keys()
                .find(|k| k.get_ref() == names[0])
                .map(|k| k.span());
            d.error(
                span,
                format!("stages form a cycle: {} → {}", names.join(" → "), names[0]),
                Some("a stage cannot depend, directly or not, on its own output".into()),
            );
        }
    }
    sccs.iter()
        .rev()
        .flat_map(|scc| scc.iter().map(|n| graph[*n].to_owned()))
        .collect()
}
