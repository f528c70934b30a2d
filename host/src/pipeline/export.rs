//! Exporting a run's provenance: W3C PROV-JSON, and an RO-Crate (Workflow Run Crate profile).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::record::RunRecord;
use crate::error::Error;
use crate::provenance::StageRecord;
use crate::stage::petri::Petri;
use crate::store::digest::Digest;

/// The stage records a run refers to, in run order; records that are missing
/// or no longer match their seal are left out (never exported as if intact).
fn stage_records(petri: &Petri, run: &RunRecord) -> Vec<(String, StageRecord)> {
    run.stages
        .iter()
        .filter(|s| s.record_id.is_some())
        .filter_map(|s| {
            s.load_record(petri.records())
                .ok()
                .map(|r| (s.stage.clone(), r))
        })
        .collect()
}

/// The run as W3C PROV-JSON: blobs are entities named by digest, stage
/// executions are activities, modules are software agents.
pub fn prov_json(petri: &Petri, run: &RunRecord) -> Value {
    let mut entity = BTreeMap::new();
    let mut activity = BTreeMap::new();
    let mut agent = BTreeMap::new();
    let (mut used, mut generated, mut associated) =
        (BTreeMap::new(), BTreeMap::new(), BTreeMap::new());
    let blob = |d: &Digest| format!("sha256:{d}");
    for (stage, r) in stage_records(petri, run) {
        let act = format!("petri:execution/{}", r.id);
        activity.insert(
            act.clone(),
            json!({
                "prov:label": format!("{stage} ({} {})", r.stage.name, r.stage.version),
                "prov:startTime": r.started_at,
                "prov:endTime": r.finished_at,
                "petri:fuelUsed": r.fuel_used,
                "petri:paramsSha256": r.params_sha256,
                "petri:engineProfile": r.engine_profile_id,
            }),
        );
        let module = format!("petri:module/{}", r.module.sha256);
        agent.insert(
            module.clone(),
            json!({"prov:type": "prov:SoftwareAgent", "prov:label": r.stage.name, "petri:version": r.stage.version}),
        );
        associated.insert(
            format!("_:assoc-{}", r.id),
            json!({"prov:activity": act, "prov:agent": module}),
        );
        for i in &r.inputs {
            entity.insert(blob(&i.sha256), json!({"petri:size": i.size}));
            used.insert(
                format!("_:used-{}-{}", r.id, i.port),
                json!({"prov:activity": act, "prov:entity": blob(&i.sha256), "prov:role": i.port}),
            );
        }
        for o in &r.outputs {
            entity.insert(blob(&o.sha256), json!({"petri:size": o.size}));
            generated.insert(
                format!("_:gen-{}-{}", r.id, o.port),
                json!({"prov:entity": blob(&o.sha256), "prov:activity": act, "prov:role": o.port}),
            );
        }
    }
    json!({
        "prefix": {
            "petri": "https://github.com/petri-bio/petri/ns#",
            "sha256": "urn:sha256:",
        },
        "entity": entity,
        "activity": activity,
        "agent": agent,
        "used": used,
        "wasGeneratedBy": generated,
        "wasAssociatedWith": associated,
    })
}

/// Writes the run as an attached RO-Crate in `dir`: the pipeline file, every
/// module, every input and output blob, and `ro-crate-metadata.json`
/// conforming to the Workflow Run Crate profile 0.5.
pub fn write_ro_crate(petri: &Petri, run: &RunRecord, dir: &Path) -> Result<PathBuf, Error> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| Error::Read { path, source }
    };
    let (metadata, files) = ro_crate(petri, run);
    std::fs::create_dir_all(dir.join("data")).map_err(io(dir))?;
    std::fs::create_dir_all(dir.join("modules")).map_err(io(dir))?;
    for (digest, rel) in files {
        let to = dir.join(rel);
        petri
            .blobs()
            .copy_to(&digest, &to)
            .map_err(|e| Error::State(e.to_string()))?;
    }
    let path = dir.join("ro-crate-metadata.json");
    let text = serde_json::to_string_pretty(&metadata).map_err(|e| Error::State(e.to_string()))?;
    std::fs::write(&path, text).map_err(io(&path))?;
    Ok(path)
}

/// The run's `ro-crate-metadata.json`, without copying a byte of data (what
/// the daemon serves on each request).
pub fn ro_crate_metadata(petri: &Petri, run: &RunRecord) -> Value {
    ro_crate(petri, run).0
}

/// A name from a manifest, if it is safe inside a file name; `module` otherwise.
fn file_safe(name: &str) -> &str {
    let safe = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'));
    if safe { name } else { "module" }
}

/// The crate's metadata and the files it holds: (blob, path inside the crate).
/// Every path is built from digests and checked names, never from what a
/// manifest or a pipeline says verbatim.
fn ro_crate(petri: &Petri, run: &RunRecord) -> (Value, Vec<(Digest, String)>) {
    let mut copies: Vec<(Digest, String)> = vec![(run.pipeline.sha256, "pipeline.toml".into())];
    let mut graph = vec![
        json!({"@id": "ro-crate-metadata.json", "@type": "CreativeWork",
               "conformsTo": {"@id": "https://w3id.org/ro/crate/1.1"}, "about": {"@id": "./"}}),
        json!({"@id": "https://w3id.org/ro/wfrun/process/0.5", "@type": "CreativeWork", "name": "Process Run Crate", "version": "0.5"}),
        json!({"@id": "https://w3id.org/ro/wfrun/workflow/0.5", "@type": "CreativeWork", "name": "Workflow Run Crate", "version": "0.5"}),
        json!({"@id": "https://w3id.org/workflowhub/workflow-ro-crate/1.0", "@type": "CreativeWork", "name": "Workflow RO-Crate", "version": "1.0"}),
        json!({"@id": "#petri-pipeline-language", "@type": "ComputerLanguage", "name": "petri pipeline (TOML)",
               "url": {"@id": "https://github.com/petri-bio/petri"}, "version": crate::stage::engine::ABI}),
        json!({"@id": "#petri", "@type": "SoftwareApplication", "name": "petri",
               "version": env!("CARGO_PKG_VERSION"), "url": "https://github.com/petri-bio/petri"}),
    ];
    let mut parts = vec![json!({"@id": "pipeline.toml"})];
    let mut files: BTreeMap<Digest, (String, String)> = BTreeMap::new(); // digest → (@id, formal parameter)
    let mut params = Vec::new();
    let mut modules = Vec::new();
    let mut actions = Vec::new();

    let mut add_file = |d: &Digest,
                        size: u64,
                        param: &str,
                        graph: &mut Vec<Value>,
                        parts: &mut Vec<Value>,
                        copies: &mut Vec<(Digest, String)>|
     -> String {
        if let Some((id, _)) = files.get(d) {
            return id.clone();
        }
        let id = format!("data/{d}");
        copies.push((*d, id.clone()));
        graph.push(
            json!({"@id": id, "@type": "File", "contentSize": size.to_string(),
                          "identifier": format!("sha256:{d}"), "exampleOfWork": {"@id": param}}),
        );
        parts.push(json!({"@id": id}));
        files.insert(*d, (id.clone(), param.to_owned()));
        id
    };

    // Pipeline-level inputs and the final outputs are the workflow's parameters.
    let mut run_objects = Vec::new();
    for i in &run.inputs {
        let param = format!("#input-{}", i.name);
        params.push(json!({"@id": param, "@type": "FormalParameter", "additionalType": "File", "name": i.name}));
        let id = add_file(
            &i.sha256,
            i.size,
            &param,
            &mut graph,
            &mut parts,
            &mut copies,
        );
        run_objects.push(json!({"@id": id}));
    }
    let mut run_results = Vec::new();
    for (stage, r) in stage_records(petri, run) {
        let module_id = format!(
            "modules/{}-{}.wasm",
            file_safe(&r.stage.name),
            &r.module.sha256.to_hex()[..12]
        );
        if !modules.iter().any(|m: &String| m == &module_id) {
            copies.push((r.module.sha256, module_id.clone()));
            graph.push(json!({"@id": module_id, "@type": ["File", "SoftwareApplication"], "name": r.stage.name,
                              "softwareVersion": r.stage.version, "identifier": format!("sha256:{}", r.module.sha256),
                              "encodingFormat": "application/wasm"}));
            parts.push(json!({"@id": module_id}));
            modules.push(module_id.clone());
        }
        let mut objects = Vec::new();
        for i in &r.inputs {
            let param = format!("#{stage}-in-{}", i.port);
            let id = add_file(
                &i.sha256,
                i.size,
                &param,
                &mut graph,
                &mut parts,
                &mut copies,
            );
            objects.push(json!({"@id": id}));
        }
        let mut results = Vec::new();
        for o in &r.outputs {
            let param = format!("#output-{stage}-{}", o.port);
            params.push(
                json!({"@id": param, "@type": "FormalParameter", "additionalType": "File",
                               "name": format!("{stage}.{}", o.port)}),
            );
            let id = add_file(
                &o.sha256,
                o.size,
                &param,
                &mut graph,
                &mut parts,
                &mut copies,
            );
            results.push(json!({"@id": id}));
            run_results.push(json!({"@id": id}));
        }
        actions.push(json!({"@id": format!("#execution-{}", r.id), "@type": "CreateAction",
            "name": format!("{stage}: {} {}", r.stage.name, r.stage.version),
            "instrument": {"@id": module_id}, "object": objects, "result": results,
            "startTime": r.started_at, "endTime": r.finished_at,
            "actionStatus": if r.outcome.status() == "succeeded" { "CompletedActionStatus" } else { "FailedActionStatus" }}));
    }
    // Every parameter needs an example; inputs/outputs of inner stages do not
    // appear on the workflow, only the run's own inputs and outputs.
    let workflow_inputs: Vec<Value> = run
        .inputs
        .iter()
        .map(|i| json!({"@id": format!("#input-{}", i.name)}))
        .collect();
    let workflow_outputs: Vec<Value> = params
        .iter()
        .filter_map(|p| {
            p["@id"]
                .as_str()
                .filter(|id| id.starts_with("#output-"))
                .map(|id| json!({"@id": id}))
        })
        .collect();
    for p in params.iter_mut() {
        let id = p["@id"].as_str().unwrap_or_default().to_owned();
        if let Some((file, _)) = files.values().find(|(_, param)| param == &id) {
            p["workExample"] = json!({"@id": file});
        }
    }
    let used_params: Vec<Value> = params
        .into_iter()
        .filter(|p| p.get("workExample").is_some())
        .collect();
    let listed: Vec<&str> = used_params
        .iter()
        .filter_map(|p| p["@id"].as_str())
        .collect();
    let keep = |v: &Vec<Value>| -> Vec<Value> {
        v.iter()
            .filter(|x| x["@id"].as_str().is_some_and(|id| listed.contains(&id)))
            .cloned()
            .collect()
    };
    graph.push(json!({"@id": "pipeline.toml", "@type": ["File", "SoftwareSourceCode", "ComputationalWorkflow"],
        "name": run.pipeline.name, "identifier": format!("sha256:{}", run.pipeline.sha256),
        "programmingLanguage": {"@id": "#petri-pipeline-language"},
        "input": keep(&workflow_inputs), "output": keep(&workflow_outputs),
        "hasPart": modules.iter().map(|m| json!({"@id": m})).collect::<Vec<_>>()}));
    graph.extend(used_params);
    graph.push(json!({"@id": format!("#run-{}", run.id), "@type": "CreateAction",
        "name": format!("petri run of {}", run.pipeline.name),
        "instrument": {"@id": "pipeline.toml"}, "agent": {"@id": "#petri"},
        "object": run_objects, "result": run_results,
        "startTime": run.started_at, "endTime": run.finished_at,
        "actionStatus": if run.status == "completed" { "CompletedActionStatus" } else { "FailedActionStatus" },
        "identifier": format!("sha256:{}", run.root)}));
    graph.extend(actions);
    graph.push(json!({"@id": "./", "@type": "Dataset",
        "name": format!("petri run {} of {}", run.id, run.pipeline.name),
        "description": format!("Provenance of a petri pipeline run; Merkle root sha256:{}", run.root),
        "datePublished": run.finished_at,
        "license": {"@id": "https://spdx.org/licenses/Apache-2.0"},
        "conformsTo": [{"@id": "https://w3id.org/ro/wfrun/process/0.5"}, {"@id": "https://w3id.org/ro/wfrun/workflow/0.5"},
                       {"@id": "https://w3id.org/workflowhub/workflow-ro-crate/1.0"}],
        "mainEntity": {"@id": "pipeline.toml"},
        "hasPart": parts,
        "mentions": [{"@id": format!("#run-{}", run.id)}]}));
    graph.push(json!({"@id": "https://spdx.org/licenses/Apache-2.0", "@type": "CreativeWork", "name": "Apache License 2.0"}));
    let metadata = json!({"@context": "https://w3id.org/ro/crate/1.1/context", "@graph": graph});
    (metadata, copies)
}
