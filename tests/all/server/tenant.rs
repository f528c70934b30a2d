//! A tenant stays inside its box: what was validated is what runs, inputs resolve only among
//! the run's uploaded files, another group's digests look exactly like missing ones, bad names
//! are 422, and tampered blobs are never served or fed to a stage.

use super::*;
use petri_host::{BlobStore, GroupQuota, StateStore};
use petri_tests::{block_on, overwrite};

/// Uploads `bytes` as a blob for `token`; returns its SHA-256.
pub(super) fn blob(d: &Daemon, token: &str, bytes: &[u8]) -> String {
    let r = d.upload("/v1/blobs", token, bytes);
    assert!(r.status == 201 || r.status == 200, "{}", r.status);
    r.json()["sha256"].as_str().unwrap().to_owned()
}

/// Submits a run for `token` (it must be accepted); returns its id.
pub(super) fn submit(d: &Daemon, token: &str, body: &Value) -> String {
    let r = d.post_json("/v1/runs", token, body);
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    r.json()["id"].as_str().unwrap().to_owned()
}

fn status(d: &Daemon, token: &str, id: &str) -> String {
    d.get(&format!("/v1/runs/{id}"), token).json()["status"]
        .as_str()
        .unwrap()
        .to_owned()
}

pub(super) fn registered_testkit(d: &Daemon) {
    assert_eq!(d.upload("/v1/modules", &d.admin, &testkit()).status, 201);
}

/// The messages of a 422's problems.
fn messages(r: &Reply) -> Vec<String> {
    let v = r.error(422, "invalid_pipeline");
    v["error"]["problems"]
        .as_array()
        .unwrap_or_else(|| panic!("{v}"))
        .iter()
        .map(|p| p["message"].as_str().unwrap().to_owned())
        .collect()
}

/// A one-stage pipeline copying the input at `path`.
pub(super) fn copy_of(path: &str) -> String {
    format!(
        r#"
[inputs.data]
path = "{path}"

[stages.copy]
module = "testkit"
params = {{ mode = "copy" }}
inputs = {{ data = "inputs.data" }}
"#
    )
}

#[test]
fn a_files_entry_cannot_replace_the_validated_pipeline_or_sheet() {
    let d = Daemon::start(|_| {});
    registered_testkit(&d);
    let data = blob(&d, &d.alice, b"the group's own data\n");
    // A pipeline that, if it ran, would copy a server file into the group's outputs.
    let evil = blob(&d, &d.alice, copy_of("/etc/passwd").as_bytes());
    let evil_sheet = blob(&d, &d.alice, b"sample\tdata\ns1\t/etc/passwd\n");
    let body = json!({
        "pipeline": copy_of("data/input.bin"),
        "files": {
            "data/input.bin": data,
            "pipeline.toml": evil,
            "./pipeline.toml": evil,
            "samples.tsv": evil_sheet,
        },
    });
    let id = submit(&d, &d.alice, &body);
    let run = d.wait(&id, &d.alice);
    assert_eq!(run["status"], "COMPLETED", "{run}");
    let out = &run["stages"][0]["outputs"][0]["sha256"];
    assert_eq!(out, data.as_str(), "the validated pipeline ran: {run}");
    // The run record names the submitted text, not the file that claimed its name.
    let prov = d.get(&format!("/v1/runs/{id}/provenance"), &d.alice).json();
    let text_sha = petri_host::Digest::of(copy_of("data/input.bin").as_bytes()).to_hex();
    assert_eq!(prov["pipeline"]["sha256"], text_sha.as_str(), "{prov}");
}

#[test]
fn inputs_resolve_only_among_the_uploaded_files() {
    let d = Daemon::start(|_| {});
    registered_testkit(&d);
    let data = blob(&d, &d.alice, b"x");
    let hex = &data;
    let climbs = format!("../../blobs/sha256/{}/{hex}", &hex[..2]);
    for path in [
        "/etc/passwd",
        climbs.as_str(),
        "../../../petri.sqlite",
        "data/other.bin",
    ] {
        let body = json!({
            "pipeline": copy_of(path),
            "files": { "data/input.bin": data },
        });
        let r = d.post_json("/v1/runs", &d.alice, &body);
        let ms = messages(&r);
        assert!(!ms.is_empty(), "{path}");
        for m in &ms {
            assert!(
                !m.contains(&d._dir.path().display().to_string()),
                "a server path leaked: {m}"
            );
        }
    }
    // The same through a sample sheet.
    let sheet_text = "sample\tdata\ns1\t../../../petri.sqlite\n";
    let body = json!({
        "pipeline": copy_of("data/input.bin").replace("path = \"data/input.bin\"\n", ""),
        "samples": sheet_text,
        "files": { "data/input.bin": data },
    });
    let ms = messages(&d.post_json("/v1/runs", &d.alice, &body));
    assert!(
        ms.iter()
            .any(|m| m.contains("not among the uploaded files")),
        "{ms:?}"
    );
    // Modules by file path are refused.
    let by_path = copy_of("data/input.bin")
        .replace("module = \"testkit\"", "module = \"../../blobs/x.wasm\"");
    let body = json!({ "pipeline": by_path, "files": { "data/input.bin": data } });
    let ms = messages(&d.post_json("/v1/runs", &d.alice, &body));
    assert!(ms.iter().any(|m| m.contains("is a file path")), "{ms:?}");
}

#[test]
fn another_groups_digest_behaves_exactly_like_a_missing_one() {
    let d = Daemon::start(|_| {});
    registered_testkit(&d);
    let bobs = blob(&d, &d.bob, b"lab-b's private data\n");
    // A module only lab-b uploaded (not registered).
    let qc = std::fs::read(petri_plugins::FASTQ_QC).unwrap();
    let bob_module = d.upload("/v1/modules?register=false", &d.bob, &qc);
    assert!(bob_module.status == 201 || bob_module.status == 200);
    let bob_module = bob_module.json()["sha256"].as_str().unwrap().to_owned();
    let absent = "ab".repeat(32);
    let redact = |ms: Vec<String>, hex: &str| -> Vec<String> {
        ms.into_iter().map(|m| m.replace(hex, "<digest>")).collect()
    };
    for (owned_by_bob, what) in [(&bobs, "file"), (&bob_module, "module")] {
        let ask = |hex: &str| {
            let body = match what {
                "file" => json!({
                    "pipeline": copy_of("data/input.bin"),
                    "files": { "data/input.bin": hex },
                }),
                _ => json!({
                    "pipeline": copy_of("data/input.bin")
                        .replace("module = \"testkit\"", &format!("module = \"sha256:{hex}\"")),
                    "files": { "data/input.bin": blob(&d, &d.alice, b"mine") },
                }),
            };
            let r = d.post_json("/v1/runs", &d.alice, &body);
            assert_eq!(
                r.status,
                422,
                "{what}: {}",
                String::from_utf8_lossy(&r.body)
            );
            redact(messages(&r), hex)
        };
        assert_eq!(ask(owned_by_bob), ask(&absent), "{what}");
    }
    // As a pipeline reference and as an artifact: the same 4xx as a missing blob.
    let by_ref = |hex: &str| {
        let r = d.post_json("/v1/runs", &d.alice, &json!({ "pipeline_sha256": hex }));
        (r.status, redact(messages(&r), hex))
    };
    assert_eq!(by_ref(&bobs), by_ref(&absent));
    let art = |hex: &str| {
        let r = d.get(&format!("/v1/artifacts/{hex}"), &d.alice);
        (
            r.status,
            String::from_utf8_lossy(&r.body).replace(hex, "<digest>"),
        )
    };
    assert_eq!(art(&bobs), art(&absent));
}

#[test]
fn nul_bytes_and_over_long_names_in_files_are_422() {
    let d = Daemon::start(|_| {});
    registered_testkit(&d);
    let data = blob(&d, &d.alice, b"x");
    let long = "a".repeat(5000);
    let component = format!("{}/x", "b".repeat(300));
    for name in [
        "data/in\0put.bin",
        long.as_str(),
        component.as_str(),
        "a\nb",
    ] {
        let body = json!({
            "pipeline": copy_of("data/input.bin"),
            "files": { "data/input.bin": data, name: data },
        });
        let r = d.post_json("/v1/runs", &d.alice, &body);
        assert_eq!(
            r.status,
            422,
            "{name:?}: {}",
            String::from_utf8_lossy(&r.body)
        );
    }
    // Nor in the run's text fields (PostgreSQL's text and jsonb cannot hold one).
    let files = json!({ "data/input.bin": data });
    for body in [
        json!({ "pipeline": copy_of("data/input.bin"), "files": files, "description": "a\0b" }),
        json!({ "pipeline": copy_of("data/input.bin") + "\0", "files": files }),
        json!({ "pipeline": copy_of("data/input.bin"), "files": files, "samples": "sample\n\0\n" }),
    ] {
        let r = d.post_json("/v1/runs", &d.alice, &body);
        let text = String::from_utf8_lossy(&r.body);
        assert_eq!(r.status, 422, "{body}: {text}");
        assert!(text.contains("NUL byte"), "{text}");
    }
}

/// Flips the first byte of a stored blob.
fn tamper(d: &Daemon, hex: &str) {
    let path = d
        ._dir
        .path()
        .join("data/blobs/sha256")
        .join(&hex[..2])
        .join(hex);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[0] ^= 0x20;
    petri_tests::overwrite(&path, &bytes);
}

#[test]
fn a_tampered_blob_is_never_served_nor_fed_to_a_stage() {
    let d = Daemon::start(|_| {});
    registered_testkit(&d);
    let data = blob(&d, &d.alice, b"intact bytes, as uploaded\n");
    assert_eq!(
        d.get(&format!("/v1/artifacts/{data}"), &d.alice).status,
        200
    );
    tamper(&d, &data);
    let served = d.get(&format!("/v1/artifacts/{data}"), &d.alice);
    served.error(500, "integrity");
    assert!(!String::from_utf8_lossy(&served.body).contains("ntact bytes"));
    let ranged = d.call(
        "GET",
        &format!("/v1/artifacts/{data}"),
        Some(&d.alice),
        &[("Range", "bytes=0-3")],
        b"",
    );
    ranged.error(500, "integrity");

    let body = json!({
        "pipeline": copy_of("data/input.bin"),
        "files": { "data/input.bin": data },
    });
    let id = submit(&d, &d.alice, &body);
    let run = d.wait(&id, &d.alice);
    assert_eq!(run["status"], "FAILED", "{run}");
    let reason = run["stages"][0]["reason"].as_str().unwrap_or_default();
    assert!(reason.starts_with("integrity: input `data`"), "{run}");
}

/// Two endless stages with fuel for hours; only the wall clock (two minutes) stops them.
const RUNAWAY: &str = r#"
[stages.spin1]
module = "testkit"
params = { mode = "spin" }
policy = { fuel = 9_000_000_000_000_000, wall-clock-secs = 120 }

[stages.spin2]
module = "testkit"
params = { mode = "spin" }
policy = { fuel = 9_000_000_000_000_000, wall-clock-secs = 120 }
"#;

#[test]
fn a_group_over_its_run_quota_waits_while_others_run() {
    // lab-a's own quota caps it at one run in progress; lab-b has no cap.
    let d = Daemon::start(|c| {
        let own = GroupQuota {
            concurrent_runs: Some(1),
            ..GroupQuota::default()
        };
        c.group_quota.insert("lab-a".into(), own);
        c.max_concurrent_runs = 3;
        c.worker_slots = Some(2);
    });
    registered_testkit(&d);
    let long = submit(&d, &d.alice, &json!({ "pipeline": RUNAWAY }));
    let deadline = Instant::now() + Duration::from_secs(60);
    while status(&d, &d.alice, &long) != "RUNNING" {
        assert!(Instant::now() < deadline, "the first run never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    let files = |token: &str| json!({ "data/input.bin": blob(&d, token, b"sample") });
    let body =
        |token: &str| json!({ "pipeline": copy_of("data/input.bin"), "files": files(token) });
    let queued = submit(&d, &d.alice, &body(&d.alice));
    let other = submit(&d, &d.bob, &body(&d.bob));
    let done = d.wait(&other, &d.bob);
    assert_eq!(done["status"], "COMPLETED", "{done}");
    assert_eq!(
        status(&d, &d.alice, &queued),
        "PENDING",
        "a's second run waits for its quota"
    );
    let cancel = d.post_json(&format!("/v1/runs/{long}/cancel"), &d.alice, &json!({}));
    assert!(cancel.status < 300, "{}", cancel.status);
    let after = d.wait(&queued, &d.alice);
    assert_eq!(after["status"], "COMPLETED", "{after}");
}

#[test]
fn one_groups_runaway_stages_never_hold_every_slot() {
    let d = Daemon::start(|c| {
        c.worker_slots = Some(2);
        c.group_share_percent = 50;
    });
    registered_testkit(&d);
    // Group a: two endless stages with fuel for hours; only the wall clock
    // (two minutes) would stop them.
    let a_id = submit(&d, &d.alice, &json!({ "pipeline": RUNAWAY }));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let run = d.get(&format!("/v1/runs/{a_id}"), &d.alice).json();
        let running = run["stages"]
            .as_array()
            .map_or(0, |s| s.iter().filter(|s| s["status"] == "running").count());
        if running > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "group a's stages never started: {run}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // Group b's run starts and finishes while a's stages still spin.
    let data = blob(&d, &d.bob, b"lab-b's sample\n");
    let body = json!({
        "pipeline": copy_of("data/input.bin"),
        "files": { "data/input.bin": data },
    });
    let b_id = submit(&d, &d.bob, &body);
    let b_run = d.wait(&b_id, &d.bob);
    assert_eq!(b_run["status"], "COMPLETED", "{b_run}");
    let a_run = d.get(&format!("/v1/runs/{a_id}"), &d.alice).json();
    assert_eq!(a_run["status"], "RUNNING", "b waited for a: {a_run}");
    let statuses: Vec<&str> = a_run["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == "running").count(),
        1,
        "group a holds at most half of the two slots: {statuses:?}"
    );
    let cancel = d.post_json(&format!("/v1/runs/{a_id}/cancel"), &d.alice, &json!({}));
    assert!(cancel.status < 300, "{}", cancel.status);
}

#[test]
fn an_edited_run_record_is_not_served() {
    let d = Daemon::start(|_| {});
    registered_testkit(&d);
    let data = blob(&d, &d.alice, b"x");
    let body =
        json!({ "pipeline": copy_of("data/input.bin"), "files": { "data/input.bin": data } });
    let id = submit(&d, &d.alice, &body);
    let run = d.wait(&id, &d.alice);
    let path = format!("/v1/runs/{id}/provenance");
    assert_eq!(d.get(&path, &d.alice).status, 200);
    let record = run["record_id"].as_str().unwrap();
    // The record is a blob named by its seal, which the index keeps.
    let state = block_on(StateStore::open(&d.data.join("petri.sqlite"))).unwrap();
    let seal = block_on(state.seal_of(record)).unwrap().unwrap();
    let file = BlobStore::open(d.data.join("blobs"))
        .unwrap()
        .local_path(&seal.parse().unwrap())
        .unwrap();
    let text = std::fs::read_to_string(&file).unwrap();
    overwrite(
        &file,
        text.replace("\"completed\"", "\"failed\"").as_bytes(),
    );
    d.get(&path, &d.alice).error(500, "integrity");
}

#[test]
fn another_groups_unregistered_module_is_not_listed_nor_shown() {
    let d = Daemon::start(|_| {});
    registered_testkit(&d);
    let qc = std::fs::read(petri_plugins::FASTQ_QC).unwrap();
    let up = d.upload("/v1/modules?register=false", &d.bob, &qc);
    assert_eq!(up.status, 201);
    let hex = up.json()["sha256"].as_str().unwrap().to_owned();
    let names = |token: &str| -> Vec<String> {
        d.get("/v1/modules", token)
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        names(&d.bob),
        ["fastq-qc", "testkit"],
        "its own and the catalogue"
    );
    assert_eq!(names(&d.alice), ["testkit"], "the catalogue only");
    let absent = "cd".repeat(32);
    let show = |h: &str| {
        let r = d.get(&format!("/v1/modules/{h}"), &d.alice);
        (
            r.status,
            String::from_utf8_lossy(&r.body).replace(h, "<digest>"),
        )
    };
    assert_eq!(show(&hex), show(&absent));
    assert_eq!(d.get(&format!("/v1/modules/{hex}"), &d.bob).status, 200);
}

/// One stage spinning until its fuel runs out.
const SPIN: &str = r#"
[stages.spin]
module = "testkit"
params = { mode = "spin" }
policy = { fuel = 9_000_000_000_000_000, wall-clock-secs = 120 }
"#;

#[test]
fn a_groups_fuel_quota_cuts_its_stages_and_spares_other_groups() {
    let per_day = 2_000_000_000_u64;
    let d = Daemon::start(|c| {
        let own = GroupQuota {
            fuel_per_day: Some(per_day),
            ..GroupQuota::default()
        };
        c.group_quota.insert("lab-a".into(), own);
    });
    registered_testkit(&d);
    // The stage asks for fuel for days; the quota grants two seconds' worth,
    // and running out of it is the quota's failure, not retried.
    let spin = d.wait(
        &submit(&d, &d.alice, &json!({ "pipeline": SPIN })),
        &d.alice,
    );
    assert_eq!(spin["status"], "FAILED", "{spin}");
    let reason = spin["stages"][0]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with("fuel exhausted")
            && reason.ends_with(&format!(
                "the group's fuel-per-day quota granted only {per_day} fuel"
            )),
        "{spin}"
    );
    // The day's fuel is spent: lab-a's next stage does not start; lab-b's runs.
    let body = |token: &str| {
        json!({ "pipeline": copy_of("data/input.bin"),
                "files": { "data/input.bin": blob(&d, token, b"sample") } })
    };
    let next = d.wait(&submit(&d, &d.alice, &body(&d.alice)), &d.alice);
    assert_eq!(next["status"], "FAILED", "{next}");
    let reason = next["stages"][0]["reason"].as_str().unwrap_or_default();
    assert_eq!(
        reason,
        format!(
            "not started: group `lab-a` has used its fuel-per-day quota ({per_day} of {per_day})"
        ),
        "{next}"
    );
    let other = d.wait(&submit(&d, &d.bob, &body(&d.bob)), &d.bob);
    assert_eq!(other["status"], "COMPLETED", "{other}");
    let usage = d.get("/v1/usage", &d.alice).json();
    assert_eq!(usage["group"], "lab-a", "{usage}");
    assert_eq!(usage["fuel_today"], per_day, "{usage}");
    assert_eq!(usage["quota"]["fuel_per_day"], per_day, "{usage}");
}

#[test]
fn upload_and_store_quotas_refuse_with_413_and_cut_a_runs_outputs() {
    let d = Daemon::start(|c| {
        let own = GroupQuota {
            upload_bytes: Some(1_000),
            store_bytes: Some(1_500),
            ..GroupQuota::default()
        };
        c.group_quota.insert("lab-b".into(), own);
    });
    registered_testkit(&d);
    let too_big = d.upload("/v1/blobs", &d.bob, &[7; 1_200]);
    let e = too_big.error(413, "payload_too_large");
    assert!(
        e.to_string()
            .contains("group `lab-b`'s upload-bytes quota (1000 bytes)"),
        "{e}"
    );
    // lab-a has no quota: the same bytes are welcome there.
    assert_eq!(d.upload("/v1/blobs", &d.alice, &[7; 1_200]).status, 201);
    let data = blob(&d, &d.bob, &[1; 900]);
    let over = d.upload("/v1/blobs", &d.bob, &[2; 900]);
    let e = over.error(413, "payload_too_large");
    assert!(
        e.to_string()
            .contains("left of group `lab-b`'s store-bytes quota (900 of 1500 used)"),
        "{e}"
    );
    // A copy of the 900 bytes would need 900 more: the run's output room is
    // what is left (600), and running out of it is the quota's failure.
    let body =
        json!({ "pipeline": copy_of("data/input.bin"), "files": { "data/input.bin": data } });
    let run = d.wait(&submit(&d, &d.bob, &body), &d.bob);
    assert_eq!(run["status"], "FAILED", "{run}");
    let reason = run["stages"][0]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.ends_with("the group's store-bytes quota left only 600 bytes"),
        "{run}"
    );
    let usage = d.get("/v1/usage", &d.bob).json();
    // The 900 bytes, and the failed stage's log.
    assert!(usage["stored_bytes"].as_u64().unwrap() >= 900, "{usage}");
    assert_eq!(usage["quota"]["store_bytes"], 1_500, "{usage}");
}
