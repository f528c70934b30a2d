//! What a run's bundle holds, and where: every path built from digests and fixed names, never from record text.

use std::collections::{BTreeMap, BTreeSet};

use super::BundleError;
use super::archive::Source;
use crate::pipeline::record::RunRecord;
use crate::provenance::StageRecord;
use crate::stage::petri::Petri;
use crate::store::digest::Digest;

/// The run record's path inside a bundle.
pub const RUN_FILE: &str = "run.json";
/// The WIT contract stages are built against, as shipped with this host.
const STAGE_WIT: &str = include_str!("../../../../wit/stage.wit");

/// Whether the pipeline's inputs travel in the bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inputs {
    Included,
    /// Only their digests (in the manifest).
    DigestsOnly,
}

/// The files of the bundle of `run` (path → source, sorted by path) and the
/// digests of the inputs left out.
pub fn contents(
    petri: &Petri,
    run: &RunRecord,
    inputs: Inputs,
) -> Result<(BTreeMap<String, Source>, Vec<Digest>), BundleError> {
    let mut files = BTreeMap::new();
    let mut data = BTreeSet::new();
    for (seal, record) in stage_records(petri, run)? {
        files.insert(format!("records/{seal}.json"), Source::Blob(seal));
        files.insert(
            format!("modules/{}.wasm", record.module.sha256),
            Source::Blob(record.module.sha256),
        );
        data.extend(
            record
                .inputs
                .iter()
                .chain(&record.outputs)
                .map(|p| p.sha256),
        );
    }
    for s in &run.stages {
        data.extend(s.inputs.iter().chain(&s.outputs).map(|p| p.sha256));
    }
    let produced: BTreeSet<Digest> = run
        .stages
        .iter()
        .flat_map(|s| s.outputs.iter().map(|p| p.sha256))
        .collect();
    let mut omitted = Vec::new();
    data.extend(run.inputs.iter().map(|i| i.sha256));
    for d in data {
        let leave_out = inputs == Inputs::DigestsOnly
            && run.inputs.iter().any(|i| i.sha256 == d)
            && !produced.contains(&d);
        if leave_out {
            omitted.push(d);
        } else {
            files.insert(format!("data/{d}"), Source::Blob(d));
        }
    }
    texts(petri, run, &mut files)?;
    Ok((files, omitted))
}

/// Every stage record of `run` (each attempt's too) with its seal. A record
/// without a seal cannot be checked by the recipient: refused.
fn stage_records(
    petri: &Petri,
    run: &RunRecord,
) -> Result<Vec<(Digest, StageRecord)>, BundleError> {
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for s in &run.stages {
        let ids = s
            .record_id
            .iter()
            .map(|id| (id, s.record_sha256))
            .chain(s.attempts.iter().map(|a| (&a.record_id, a.record_sha256)));
        for (id, seal) in ids {
            let seal = seal.ok_or_else(|| BundleError::Unsealed(id.clone()))?;
            if seen.insert(seal) {
                out.push((seal, petri.records().load_sealed(id, &seal)?));
            }
        }
    }
    Ok(out)
}

/// The pipeline and sheet texts, the run record, the RO-Crate metadata, the
/// WIT contract and the README.
fn texts(
    petri: &Petri,
    run: &RunRecord,
    files: &mut BTreeMap<String, Source>,
) -> Result<(), BundleError> {
    files.insert("pipeline.toml".into(), Source::Blob(run.pipeline.sha256));
    if let Some(sheet) = &run.samples {
        files.insert(sheet_name(&sheet.file), Source::Blob(sheet.sha256));
    }
    files.insert(RUN_FILE.into(), Source::Bytes(pretty(run, RUN_FILE)?));
    let crate_file = "ro-crate-metadata.json";
    let metadata = crate::pipeline::ro_crate_metadata(petri, run);
    files.insert(
        crate_file.into(),
        Source::Bytes(pretty(&metadata, crate_file)?),
    );
    files.insert("wit/stage.wit".into(), Source::Bytes(STAGE_WIT.into()));
    files.insert("README.md".into(), Source::Bytes(readme(run).into_bytes()));
    Ok(())
}

/// `samples.<ext>` with the sheet's own extension when it is a plain one.
fn sheet_name(file: &str) -> String {
    let ext = std::path::Path::new(file)
        .extension()
        .and_then(|e| e.to_str())
        .filter(|e| e.len() <= 8 && e.chars().all(|c| c.is_ascii_alphanumeric()));
    match ext {
        Some(ext) => format!("samples.{ext}"),
        None => "samples".into(),
    }
}

/// Pretty JSON with a final newline.
fn pretty<T: serde::Serialize>(value: &T, path: &str) -> Result<Vec<u8>, BundleError> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|e| BundleError::Format {
        path: path.into(),
        message: e.to_string(),
    })?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// The recipient's guide.
fn readme(run: &RunRecord) -> String {
    format!(
        "# petri reproducibility bundle: run {id} of `{name}`\n\n\
         Merkle root of the run: sha256:{root}\n\n\
         Check it (any machine, an empty data dir is enough):\n\n\
         ```\n\
         petri --data-dir fresh verify THIS_FILE.petri\n\
         ```\n\n\
         That checks `signature.json` (ed25519 over the run's root and `manifest.json`),\n\
         the SHA-256 of every file listed in `manifest.json`, then re-executes every stage\n\
         from `modules/` on `data/` and compares every output digest and fuel count with\n\
         the stage records in `records/`. Compare the signer's key fingerprint it prints\n\
         (or pass `--key FINGERPRINT`) with the one the sender gave you.\n\n\
         - `pipeline.toml`, `samples.*`: the pipeline and sample sheet as run\n\
         - `run.json`: the run record; `records/`: every stage record, named by its SHA-256\n\
         - `modules/`: the stage components (WebAssembly), named by SHA-256; `wit/`: their contract\n\
         - `data/`: inputs and outputs, named by SHA-256 (inputs are absent if bundled with `--no-inputs`)\n\
         - `ro-crate-metadata.json`: Workflow Run RO-Crate metadata\n",
        id = run.id,
        name = crate::pipeline::bundle::printable(&run.pipeline.name),
        root = run.root,
    )
}
