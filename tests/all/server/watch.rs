//! Watch-folder triggers: a run folder whose marker appears becomes one run of the watch's
//! group, found after a restart too and never submitted twice; links are never followed.

use std::path::Path;
use std::time::{Duration, Instant};

use petri_host::server::WatchConfig;
use serde_json::Value;

use super::{Daemon, testkit};

/// A daemon on `data` watching `dir` for lab-a, scanning every second.
fn watching(data: &Path, dir: &Path, pipeline: &Path) -> Daemon {
    let watch = WatchConfig {
        dir: dir.to_owned(),
        pipeline: pipeline.to_owned(),
        group: "lab-a".into(),
        marker: "COMPLETE".into(),
        sheet: "samples.tsv".into(),
        priority: Default::default(),
        poll_secs: 1,
    };
    let data = data.to_owned();
    let d = Daemon::start(move |c| {
        c.data_dir = data;
        c.watches.insert("sequencer".into(), watch);
    });
    // 200 on a restart: the module is registered already.
    let r = d.upload("/v1/modules", &d.admin, &testkit());
    assert!(r.status == 201 || r.status == 200, "{}", r.status);
    d
}

/// A run folder with one sample's reads and its sheet; complete if `marker`.
fn run_folder(dir: &Path, name: &str, reads: &[u8], marker: bool) {
    let folder = dir.join(name);
    std::fs::create_dir_all(folder.join("reads")).unwrap();
    std::fs::write(folder.join("reads/s1.bin"), reads).unwrap();
    std::fs::write(
        folder.join("samples.tsv"),
        "sample\tdata\ns1\treads/s1.bin\n",
    )
    .unwrap();
    if marker {
        std::fs::write(folder.join("COMPLETE"), "").unwrap();
    }
}

fn runs(d: &Daemon, token: &str) -> Vec<Value> {
    d.get("/v1/runs", token).json()["runs"]
        .as_array()
        .unwrap()
        .clone()
}

/// Waits until `token`'s group has `n` runs.
fn until_runs(d: &Daemon, token: &str, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let found = runs(d, token);
        if found.len() >= n {
            return found;
        }
        assert!(Instant::now() < deadline, "{} run(s), not {n}", found.len());
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_completed_run_folder_becomes_one_run_of_the_watchs_group_across_restarts() {
    let root = tempfile::tempdir().unwrap();
    let (data, dir) = (root.path().join("data"), root.path().join("incoming"));
    std::fs::create_dir_all(&dir).unwrap();
    let pipeline = root.path().join("pipeline.toml");
    std::fs::write(&pipeline, super::SHEET_COPY).unwrap();
    // Completed while no daemon ran: found by the first scan.
    run_folder(&dir, "run-0", b"reads of run 0\n", true);
    // Still being written: no marker yet.
    run_folder(&dir, "run-1", b"reads of run 1\n", false);
    {
        let d = watching(&data, &dir, &pipeline);
        let found = until_runs(&d, &d.alice, 1);
        let id = found[0]["id"].as_str().unwrap().to_owned();
        let run = d.wait(&id, &d.alice);
        assert_eq!(run["status"], "COMPLETED", "{run}");
        assert_eq!(run["description"], "run folder run-0");
        assert_eq!(run["group"], "lab-a");
        assert!(runs(&d, &d.bob).is_empty(), "lab-b sees nothing");

        std::fs::write(dir.join("run-1/COMPLETE"), "").unwrap();
        let found = until_runs(&d, &d.alice, 2);
        let newest = found[0]["id"].as_str().unwrap().to_owned();
        assert_eq!(d.wait(&newest, &d.alice)["status"], "COMPLETED");
        // More scans submit nothing more.
        std::thread::sleep(Duration::from_secs(3));
        assert_eq!(runs(&d, &d.alice).len(), 2);
    }
    // A restarted daemon scans the same folders: nothing is submitted twice.
    let d = watching(&data, &dir, &pipeline);
    std::thread::sleep(Duration::from_secs(3));
    let descriptions: Vec<String> = runs(&d, &d.admin)
        .iter()
        .map(|r| r["description"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(descriptions.len(), 2, "{descriptions:?}");
}

#[test]
fn a_link_in_a_run_folder_is_never_followed() {
    let root = tempfile::tempdir().unwrap();
    let (data, dir) = (root.path().join("data"), root.path().join("incoming"));
    std::fs::create_dir_all(dir.join("run-x")).unwrap();
    let pipeline = root.path().join("pipeline.toml");
    std::fs::write(&pipeline, super::SHEET_COPY).unwrap();
    // The sheet names a link to a server file: it is not stored, so the
    // folder is refused (its path is not among the folder's files).
    std::os::unix::fs::symlink(&pipeline, dir.join("run-x/secret")).unwrap();
    std::fs::write(dir.join("run-x/samples.tsv"), "sample\tdata\ns1\tsecret\n").unwrap();
    std::fs::write(dir.join("run-x/COMPLETE"), "").unwrap();
    run_folder(&dir, "run-y", b"reads\n", true);
    let d = watching(&data, &dir, &pipeline);
    let found = until_runs(&d, &d.alice, 1);
    std::thread::sleep(Duration::from_secs(3));
    let found_now = runs(&d, &d.alice);
    assert_eq!(found_now.len(), 1, "only run-y: {found_now:?}");
    assert_eq!(found[0]["description"], "run folder run-y");
}
