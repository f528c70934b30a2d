//! `petri plugin promote | rollback | history` and pinned `name@sha256:` modules, on testkit
//! variants (`petri_plugins::testkit_rebuilt`: same behaviour, other digest;
//! `testkit_reflavoured`: other output in `flavour` mode, same manifest).

use std::path::Path;
use std::process::Output;

use serde_json::Value;

use super::{json, petri, stderr};

/// A pipeline copying `data.bin` with testkit `module` in `copy` and in `flavour` mode.
pub fn pipeline(module: &str) -> String {
    format!(
        "[inputs.data]\npath = \"data.bin\"\n\n\
         [stages.copy]\nmodule = \"{module}\"\nparams = {{ mode = \"copy\" }}\ninputs = {{ data = \"inputs.data\" }}\n\n\
         [stages.flavour]\nmodule = \"{module}\"\nparams = {{ mode = \"flavour\" }}\ninputs = {{ data = \"inputs.data\" }}\n"
    )
}

fn ok(out: Output) -> Output {
    assert!(out.status.success(), "{}", stderr(&out));
    out
}

fn run(dir: &Path, data: &Path, module: &str) -> Value {
    let file = dir.join("pipeline.toml");
    std::fs::write(&file, pipeline(module)).unwrap();
    json(&ok(petri(data, &["run", file.to_str().unwrap(), "--json"])))
}

/// The stage `id` of a run's JSON: (module digest, first output digest).
fn stage(run: &Value, id: &str) -> (String, String) {
    let s = run["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stage"] == id)
        .unwrap_or_else(|| panic!("no stage {id}: {run}"));
    let out = s["outputs"][0]["sha256"].as_str().unwrap().to_owned();
    (s["module_sha256"].as_str().unwrap().to_owned(), out)
}

fn current(data: &Path) -> String {
    let listed = json(&ok(petri(data, &["plugin", "list", "--json"])));
    listed[0]["sha256"].as_str().unwrap().to_owned()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn promotions_are_shadowed_refused_on_difference_rolled_back_and_pinned() {
    let dir = tempfile::tempdir().unwrap();
    let (dir, data) = (dir.path(), dir.path().join("data"));
    std::fs::write(dir.join("data.bin"), b"shadowed bytes\n".repeat(50)).unwrap();
    ok(petri(&data, &["plugin", "add", petri_plugins::TESTKIT]));
    let original = current(&data);
    let first = run(dir, &data, "testkit");
    let (module, flavour_00) = stage(&first, "flavour");
    assert_eq!(module, original);
    let rebuilt = write(
        dir,
        "rebuilt.wasm",
        &petri_plugins::testkit_rebuilt().unwrap(),
    );
    let reflavoured = write(
        dir,
        "reflavoured.wasm",
        &petri_plugins::testkit_reflavoured().unwrap(),
    );

    // A candidate whose `flavour` output differs: refused, the diff reported, the name unmoved.
    let refused = petri(
        &data,
        &[
            "plugin",
            "promote",
            "testkit",
            &reflavoured,
            "--shadow",
            "5",
            "--require",
            "identical",
            "--json",
        ],
    );
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("1 of 2 executions differ"),
        "{}",
        stderr(&refused)
    );
    let report = json(&refused);
    assert_eq!(report["identical"], false, "{report}");
    let executions = report["executions"].as_array().unwrap();
    assert_eq!(executions.len(), 2, "{report}");
    let differing: Vec<&Value> = executions
        .iter()
        .filter(|e| e["identical"] == false)
        .collect();
    assert_eq!(differing.len(), 1, "{report}");
    let diff = differing[0];
    assert_eq!(diff["outputs"][0]["port"], "out");
    assert_eq!(diff["outputs"][0]["equal"], false);
    assert_eq!(diff["outputs"][0]["current"], flavour_00.as_str());
    let flavour_01 = diff["outputs"][0]["candidate"].as_str().unwrap().to_owned();
    assert_eq!(
        diff["metrics"],
        serde_json::json!([{"name": "flavour", "current": {"text": "00"}, "candidate": {"text": "01"}}])
    );
    assert!(diff["fuel"]["candidate"].as_u64().unwrap() > 0);
    assert_eq!(current(&data), original);

    // The same behaviour under another digest passes `--require identical`; the name moves.
    let passed = json(&ok(petri(
        &data,
        &[
            "plugin",
            "promote",
            "testkit",
            &rebuilt,
            "--require",
            "identical",
            "--json",
        ],
    )));
    assert_eq!(passed["identical"], true, "{passed}");
    assert_eq!(passed["executions"].as_array().unwrap().len(), 2);
    let rebuilt_sha = passed["candidate"].as_str().unwrap().to_owned();
    assert_eq!(current(&data), rebuilt_sha);

    // Shadow runs are not runs: the rebuilt module's executions are a run's.
    let second = run(dir, &data, "testkit");
    assert_eq!(
        stage(&second, "flavour"),
        (rebuilt_sha.clone(), flavour_00.clone())
    );

    // Without `--require`, a differing candidate is reported and promoted all the same.
    let promoted = ok(petri(
        &data,
        &["plugin", "promote", "testkit", &reflavoured],
    ));
    let text = String::from_utf8_lossy(&promoted.stdout).into_owned();
    assert!(text.contains("2 of 10 executions shadowed"), "{text}");
    assert!(text.contains("DIFFERS"), "{text}");
    assert!(
        text.contains(r#"metric flavour: {"text":"00"} -> {"text":"01"}"#),
        "{text}"
    );
    let reflavoured_sha = current(&data);
    assert_ne!(reflavoured_sha, rebuilt_sha);
    assert_eq!(stage(&run(dir, &data, "testkit"), "flavour").1, flavour_01);

    // A pin runs exactly its digest after the name moved.
    let pinned = run(dir, &data, &format!("testkit@sha256:{original}"));
    assert_eq!(
        stage(&pinned, "flavour"),
        (original.clone(), flavour_00.clone())
    );

    // Rollback walks back: to the rebuilt module, then `--to` the original.
    let back = ok(petri(&data, &["plugin", "rollback", "testkit"]));
    assert!(String::from_utf8_lossy(&back.stdout).contains("rolled-back"));
    assert_eq!(current(&data), rebuilt_sha);
    ok(petri(
        &data,
        &[
            "plugin",
            "rollback",
            "testkit",
            "--to",
            &format!("sha256:{original}"),
        ],
    ));
    assert_eq!(current(&data), original);

    let history = json(&ok(petri(
        &data,
        &["plugin", "history", "testkit", "--json"],
    )));
    let kinds: Vec<&str> = history["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "registered",
            "promoted",
            "promoted",
            "rolled-back",
            "rolled-back"
        ]
    );
    assert!(history["history"][1]["report"].is_string(), "{history}");
    let text = String::from_utf8_lossy(&ok(petri(&data, &["plugin", "history", "testkit"])).stdout)
        .into_owned();
    assert!(
        text.lines()
            .any(|l| l.starts_with("* ") && l.contains(&original)),
        "{text}"
    );
    assert!(text.contains(&reflavoured_sha), "{text}");

    // Every move is in the data dir's audit log, as the local user.
    let audit = json(&ok(petri(&data, &["audit", "list", "--json"])));
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "cli plugin promote",
            "cli plugin promote",
            "cli plugin rollback",
            "cli plugin rollback"
        ]
    );
    assert!(
        audit[0]["target"]
            .as_str()
            .unwrap()
            .contains(&format!("sha256:{original} -> sha256:{rebuilt_sha}"))
    );

    // A pin to bytes the name never pointed to: a located error, nothing runs.
    let file = dir.join("pipeline.toml");
    let other = "ab".repeat(32);
    std::fs::write(&file, pipeline(&format!("testkit@sha256:{other}"))).unwrap();
    let out = petri(&data, &["run", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains(&format!("{}:5:", file.display())), "{err}");
    assert!(
        err.contains(&format!("module `testkit@sha256:{other}`")),
        "{err}"
    );
    assert!(err.contains("never pointed to"), "{err}");
}
