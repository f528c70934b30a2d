//! `petri validate`, `petri instruments` and `petri simulate`: the planning commands, run as the binary.

use std::path::{Path, PathBuf};

use super::{json, petri, stderr};

fn examples(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(path)
}

fn arg(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn stdout(out: &std::process::Output) -> String {
    assert!(out.status.success(), "{}", stderr(out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn validate_prints_the_plan_or_every_located_problem() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("data.bin"), b"bytes").unwrap();
    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        format!(
            "[inputs.data]\npath = \"data.bin\"\n\n\
             [stages.first]\nmodule = {kit:?}\ninputs = {{ data = \"inputs.data\" }}\n\n\
             [stages.second]\nmodule = {kit:?}\nparams = {{ mode = \"burn\" }}\ninputs = {{ data = \"first.out\" }}\n",
            kit = petri_plugins::TESTKIT
        ),
    )
    .unwrap();
    let text = stdout(&petri(dir.path(), &["validate", arg(&good)]));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], format!("{}: valid, 2 stage(s)", good.display()));
    let row = |id: &str| {
        lines[1..]
            .iter()
            .find(|l| l.split_whitespace().next() == Some(id))
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .unwrap_or_else(|| panic!("no `{id}` in:\n{text}"))
    };
    assert_eq!(row("first")[1..2], ["testkit"]);
    assert_eq!(row("first")[3..], ["data←inputs.data"]);
    assert_eq!(row("second")[3..], ["data←first.out"]);

    let out = petri(dir.path(), &["validate", arg(&good), "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["valid"], true);
    let stages = v["stages"].as_array().unwrap();
    assert_eq!(stages.len(), 2);
    let second = stages.iter().find(|s| s["id"] == "second").unwrap();
    assert_eq!(second["stage"], "testkit");
    assert_eq!(second["params"]["mode"], "burn");
    assert_eq!(second["params"]["record"], 1, "the default is filled in");

    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        format!(
            "[stages.a]\nmodule = {kit:?}\nparams = {{ mode = \"dance\" }}\ninputs = {{ data = \"nowhere.out\" }}\n",
            kit = petri_plugins::TESTKIT
        ),
    )
    .unwrap();
    let out = petri(dir.path(), &["validate", arg(&bad)]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    let problems: Vec<&str> = err.lines().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(problems.len(), 2, "{err}");
    assert!(
        problems
            .iter()
            .all(|p| p.starts_with(&format!("error: {}:", bad.display()))),
        "{err}"
    );
    assert!(err.contains("unknown stage `nowhere`"), "{err}");
    assert!(
        err.ends_with(&format!("2 problem(s) in {}\n", bad.display())),
        "{err}"
    );

    let out = petri(dir.path(), &["validate", arg(&bad), "--json"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["valid"], false);
    let lines: Vec<u64> = v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, [3, 4], "{v:#}");
}

#[test]
fn instruments_list_shows_windows_and_their_occurrences() {
    let dir = tempfile::tempdir().unwrap();
    let calendar = examples("instruments/core.toml");
    let text = stdout(&petri(dir.path(), &["instruments", "list", arg(&calendar)]));
    let first = text.lines().next().unwrap();
    assert_eq!(
        first.split_whitespace().collect::<Vec<_>>(),
        ["analysis", "compute", "capacity", "8", "up"],
        "{text}"
    );
    assert!(
        text.contains(
            "  maintenance 2026-11-25T08:00:00Z – 2026-11-25T12:00:00Z, every 7days  (weekly wash)"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "  maintenance 2026-12-01T06:00:00Z – 2026-12-01T18:00:00Z  (vendor service visit)"
        ),
        "{text}"
    );

    let from = ["--from", "2026-11-25T00:00:00Z", "--horizon", "8d"];
    let mut args = vec!["instruments", "list", arg(&calendar), "--json"];
    args.extend(from);
    let out = petri(dir.path(), &args);
    assert!(out.status.success(), "{}", stderr(&out));
    let v = json(&out);
    let seq = v
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "novaseq-1")
        .unwrap();
    assert_eq!(seq["class"], "sequencer");
    assert_eq!(seq["maintenance"][0]["every"], "7days");
    assert_eq!(
        seq["occurrences"],
        serde_json::json!([
            ["2026-11-25T08:00:00Z", "2026-11-25T12:00:00Z"],
            ["2026-12-02T08:00:00Z", "2026-12-02T12:00:00Z"]
        ])
    );
    // The same occurrences in the text form.
    let mut args = vec!["instruments", "list", arg(&calendar)];
    args.extend(from);
    let text = stdout(&petri(dir.path(), &args));
    assert!(
        text.contains("    2026-12-02T08:00:00Z – 2026-12-02T12:00:00Z"),
        "{text}"
    );

    let out = petri(
        dir.path(),
        &["instruments", "list", arg(&calendar), "--from", "someday"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--from"), "{}", stderr(&out));
    let out = petri(dir.path(), &["instruments", "list", "/nonexistent.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("loading /nonexistent.toml"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn instruments_plan_proposes_slots_in_the_gaps_of_a_forecast() {
    let dir = tempfile::tempdir().unwrap();
    let calendar = examples("instruments/core.toml");
    let workload = examples("workloads/steady-core.toml");
    let args = [
        "instruments",
        "plan",
        arg(&calendar),
        "--workload",
        arg(&workload),
        "--horizon",
        "3d",
        "--duration",
        "2h",
        "--per-instrument",
        "2",
    ];
    let mut with_json = args.to_vec();
    with_json.push("--json");
    let out = petri(dir.path(), &with_json);
    assert!(out.status.success(), "{}", stderr(&out));
    let slots = json(&out);
    let slots = slots.as_array().unwrap();
    assert!(!slots.is_empty());
    let start = "2026-11-23T00:00:00Z";
    let end = "2026-11-26T00:00:00Z";
    for s in slots {
        let (a, b) = (s["start"].as_str().unwrap(), s["end"].as_str().unwrap());
        assert!(start <= a && a < b && b <= end, "{s}");
        let per = slots
            .iter()
            .filter(|o| o["instrument"] == s["instrument"])
            .count();
        assert!(per <= 2, "{slots:#?}");
    }
    let text = stdout(&petri(dir.path(), &args));
    assert!(
        text.starts_with(&format!(
            "maintenance slots of 2h from {start} to {end} (forecast: {})\n",
            workload.display()
        )),
        "{text}"
    );
    assert_eq!(
        text.lines().count(),
        1 + slots.len()
            + [
                "analysis",
                "gpu-box",
                "novaseq-1",
                "novaseq-2",
                "prep-robot"
            ]
            .iter()
            .filter(|i| !slots.iter().any(|s| s["instrument"] == **i))
            .count(),
        "a line per slot, or one saying there is none:\n{text}"
    );

    // Without a workload nothing is busy: every instrument has a slot at --from.
    let out = petri(
        dir.path(),
        &[
            "instruments",
            "plan",
            arg(&calendar),
            "--from",
            "2026-11-23T00:00:00Z",
            "--duration",
            "1h",
            "--json",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let v = json(&out);
    let idle = v.as_array().unwrap();
    assert_eq!(idle.len(), 5, "{v:#}");
    let out = petri(
        dir.path(),
        &[
            "instruments",
            "plan",
            arg(&calendar),
            "--horizon",
            "a while",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--horizon"), "{}", stderr(&out));
}

#[test]
fn simulate_compares_the_policies_on_a_workload() {
    let dir = tempfile::tempdir().unwrap();
    let workload = examples("workloads/steady-core.toml");
    let text = stdout(&petri(dir.path(), &["simulate", arg(&workload)]));
    let mut lines = text.lines();
    assert!(
        lines.next().unwrap().starts_with(&format!(
            "steady sequencing core ({}): ",
            workload.display()
        )),
        "{text}"
    );
    assert_eq!(
        lines.next().unwrap().split_whitespace().collect::<Vec<_>>(),
        ["petri", "fifo", "priority"]
    );

    let out = petri(
        dir.path(),
        &[
            "simulate",
            arg(&workload),
            "--policy",
            "fifo",
            "--seed",
            "3",
            "--json",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["seed"], 3);
    let policies = v["policies"].as_array().unwrap();
    assert_eq!(policies.len(), 1);
    assert_eq!(policies[0]["policy"], "fifo");
    let again = json(&petri(
        dir.path(),
        &[
            "simulate",
            arg(&workload),
            "--policy",
            "fifo",
            "--seed",
            "3",
            "--json",
        ],
    ));
    assert_eq!(v, again, "one seed, one result");

    let out = petri(
        dir.path(),
        &["simulate", arg(&workload), "--policy", "lifo"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("policy `lifo` is not one of: petri, fifo, priority"),
        "{}",
        stderr(&out)
    );
    let out = petri(dir.path(), &["simulate", "/nonexistent.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("loading workload /nonexistent.toml"),
        "{}",
        stderr(&out)
    );
}

/// A class available only from a few seconds from now: `petri run` holds its
/// stage until the window opens, and runs it then.
#[test]
fn off_peak_work_waits_for_its_class_window() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = petri(&data, &["plugin", "add", petri_plugins::TESTKIT]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(dir.path().join("in.bin"), b"held for the night\n").unwrap();
    std::fs::write(
        dir.path().join("p.toml"),
        "[inputs.data]\npath = \"in.bin\"\n[stages.heavy]\nmodule = \"testkit\"\n\
         inputs = { data = \"inputs.data\" }\nresources = { instrument = \"heavy\" }\n",
    )
    .unwrap();
    let secs =
        |t: std::time::SystemTime| t.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let opens = secs(std::time::SystemTime::now()) + 5;
    let hms = |t: u64| format!("{:02}:{:02}:{:02}", t / 3600 % 24, t / 60 % 60, t % 60);
    std::fs::write(
        dir.path().join("calendar.toml"),
        format!(
            "[instruments.night-box]\nclass = \"heavy\"\n[classes.heavy]\navailable = {{ hours = \"{}-{}\" }}\n",
            hms(opens),
            hms(opens + 3600)
        ),
    )
    .unwrap();
    let p = dir.path().join("p.toml");
    let cal = dir.path().join("calendar.toml");
    let out = petri(
        &data,
        &[
            "run",
            p.to_str().unwrap(),
            "--instruments",
            cal.to_str().unwrap(),
            "--json",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let record = run["stages"][0]["record_id"].as_str().unwrap();
    let out = petri(&data, &["provenance", record, "--json"]);
    let stage: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let started = humantime::parse_rfc3339_weak(stage["started_at"].as_str().unwrap()).unwrap();
    assert!(
        secs(started) >= opens,
        "started at {stage:?}, the window opens at {opens}"
    );
}
