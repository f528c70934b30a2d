//! Watch-folder triggers: `[watches.NAME]` names a directory a sequencer writes run folders
//! into; a run folder whose completion marker has appeared is submitted, once, as a run of the
//! watch's pipeline with the folder's sample sheet.
//!
//! The watcher scans every `poll-secs`, so a folder that completed while the
//! daemon was down is found on the first scan after it starts (a folder's
//! files are hashed once per daemon start, again only if its marker is
//! rewritten). A folder's
//! files are stored as blobs of the watch's group (regular files only; links
//! are never followed) and the delivery is keyed by the SHA-256 of its
//! sheet, paths and file digests in `trigger_deliveries` (the webhook
//! triggers' table, under `watch:NAME`): a folder is submitted once however
//! often it is scanned or the daemon restarts, and a folder whose files
//! change is a new delivery. A refused folder (422) is logged and forgotten,
//! so it is tried again when its files are corrected.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use super::app::AppState;
use super::auth::Caller;
use super::metrics;
use super::now;
use super::routes::submit;
use super::views::{SheetFormat, SubmitRun};
use crate::schedule::Priority;
use crate::store::triggers::Delivery;

/// The most files one run folder may hold.
const MAX_FILES: usize = 10_000;

/// One watched directory, as configured.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct WatchConfig {
    /// Where run folders appear (each subdirectory is one).
    pub dir: PathBuf,
    /// The pipeline file each run folder runs.
    pub pipeline: PathBuf,
    /// The research group the runs belong to.
    pub group: String,
    /// The file whose presence says a run folder is complete.
    #[serde(default = "default_marker")]
    pub marker: String,
    /// The sample sheet inside a run folder (paths in it are relative to it).
    #[serde(default = "default_sheet")]
    pub sheet: String,
    #[serde(default)]
    pub priority: Priority,
    /// Seconds between scans.
    #[serde(default = "default_poll")]
    pub poll_secs: u64,
}

fn default_marker() -> String {
    "COMPLETE".into()
}

fn default_sheet() -> String {
    "samples.tsv".into()
}

fn default_poll() -> u64 {
    10
}

/// Scans every watch until the daemon stops.
pub async fn run(app: Arc<AppState>) {
    if app.config.watches.is_empty() {
        return;
    }
    let every = app
        .config
        .watches
        .values()
        .map(|w| w.poll_secs.max(1))
        .min()
        .unwrap_or(10);
    // Folders handled since this daemon started, by when their marker was
    // written: their files are not hashed again on every scan.
    let mut seen = HashSet::new();
    loop {
        for (name, watch) in &app.config.watches {
            if let Err(e) = scan(&app, name, watch, &mut seen).await {
                eprintln!("petri serve: watch {name}: {e}");
            }
        }
        tokio::select! {
            _ = app.stopping.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(every)) => {}
        }
    }
}

/// A folder handled: (watch, folder, its marker's modification time).
type Seen = HashSet<(String, PathBuf, Option<SystemTime>)>;

/// Submits every complete run folder of `watch` not submitted before.
async fn scan(
    app: &AppState,
    name: &str,
    watch: &WatchConfig,
    seen: &mut Seen,
) -> Result<(), String> {
    let mut folders: Vec<PathBuf> = std::fs::read_dir(&watch.dir)
        .map_err(|e| format!("reading {}: {e}", watch.dir.display()))?
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .filter(|p| p.join(&watch.marker).is_file())
        .collect();
    folders.sort();
    for folder in folders {
        let marked = std::fs::metadata(folder.join(&watch.marker))
            .and_then(|m| m.modified())
            .ok();
        let key = (name.to_owned(), folder.clone(), marked);
        if seen.contains(&key) {
            continue;
        }
        match submit_folder(app, name, watch, &folder).await {
            Ok(()) => {
                seen.insert(key);
            }
            Err(e) => eprintln!("petri serve: watch {name}: {}: {e}", folder.display()),
        }
    }
    Ok(())
}

/// Stores `folder`'s files for the group and submits it, unless it was.
async fn submit_folder(
    app: &AppState,
    name: &str,
    watch: &WatchConfig,
    folder: &Path,
) -> Result<(), String> {
    let sheet = std::fs::read_to_string(folder.join(&watch.sheet))
        .map_err(|e| format!("reading its sheet {}: {e}", watch.sheet))?;
    let files = store_files(app, &watch.group, folder).await?;
    let key = format!("watch:{name}");
    let digest = delivery_digest(&sheet, &files);
    let deliveries = app.store.state().deliveries();
    match deliveries.take(&key, &digest, &now()).await {
        Ok(Delivery::New) => {}
        Ok(_) => return Ok(()),
        Err(e) => return Err(e.to_string()),
    }
    let pipeline = std::fs::read_to_string(&watch.pipeline)
        .map_err(|e| format!("reading the pipeline {}: {e}", watch.pipeline.display()));
    let caller = Caller {
        name: format!("watch {name}"),
        token_id: "folder".into(),
        group: watch.group.clone(),
        admin: false,
        priorities: vec![watch.priority],
    };
    let folder_name = folder.file_name().map(|n| n.to_string_lossy().into_owned());
    let submitted = match pipeline {
        Ok(pipeline) => {
            let request = SubmitRun {
                pipeline: Some(pipeline),
                pipeline_sha256: None,
                samples: Some(sheet),
                samples_format: SheetFormat::Tsv,
                files,
                description: format!("run folder {}", folder_name.unwrap_or_default()),
                priority: watch.priority,
            };
            submit(app, &caller, request).await.map_err(|e| refusal(&e))
        }
        Err(e) => Err(e),
    };
    match submitted {
        Ok(accepted) => {
            metrics::trigger_delivery(&key, "accepted");
            eprintln!(
                "petri serve: watch {name}: {} → run {}",
                folder.display(),
                accepted.id
            );
            deliveries
                .started(&key, &digest, &accepted.id)
                .await
                .map_err(|e| e.to_string())
        }
        Err(e) => {
            metrics::trigger_delivery(&key, "refused");
            deliveries
                .forget(&key, &digest)
                .await
                .map_err(|e| e.to_string())?;
            Err(e)
        }
    }
}

/// Stores every regular file under `folder` as a blob the group owns; its
/// path relative to `folder` → its SHA-256.
async fn store_files(
    app: &AppState,
    group: &str,
    folder: &Path,
) -> Result<BTreeMap<String, String>, String> {
    let mut files = BTreeMap::new();
    let mut owned = Vec::new();
    for path in regular_files(folder)? {
        let (digest, size) = app
            .petri
            .blobs()
            .put_file(&path)
            .map_err(|e| format!("storing {}: {e}", path.display()))?;
        let relative = path
            .strip_prefix(folder)
            .map_err(|e| e.to_string())?
            .to_string_lossy()
            .into_owned();
        files.insert(relative, digest.to_hex());
        owned.push((digest.to_hex(), size));
    }
    app.store
        .own_blobs(group, &owned)
        .await
        .map_err(|e| e.to_string())?;
    Ok(files)
}

/// The regular files under `folder`, depth first; symbolic links (to files
/// or directories) are skipped, never followed.
fn regular_files(folder: &Path) -> Result<Vec<PathBuf>, String> {
    let mut found = Vec::new();
    let mut dirs = vec![folder.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let entries =
            std::fs::read_dir(&dir).map_err(|e| format!("reading {}: {e}", dir.display()))?;
        for entry in entries.filter_map(Result::ok) {
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                dirs.push(entry.path());
            } else if kind.is_file() {
                found.push(entry.path());
            }
            if found.len() > MAX_FILES {
                return Err(format!("more than {MAX_FILES} files"));
            }
        }
    }
    found.sort();
    Ok(found)
}

/// What identifies a folder's delivery: its sheet and every file's path and digest.
fn delivery_digest(sheet: &str, files: &BTreeMap<String, String>) -> String {
    let mut h = Sha256::new();
    h.update(Sha256::digest(sheet.as_bytes()));
    for (path, sha) in files {
        h.update(path.as_bytes());
        h.update([0]);
        h.update(sha.as_bytes());
        h.update([0]);
    }
    hex::encode(h.finalize())
}

/// A refused submission, with every located problem, for the log.
fn refusal(e: &super::error::ApiError) -> String {
    let mut text = format!("refused: {}", e.message);
    for p in &e.problems {
        text.push_str(&format!(
            "\n  {}:{}:{}: {}",
            p.file, p.line, p.column, p.message
        ));
    }
    text
}
