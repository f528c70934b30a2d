//! `petri serve` as a process: SIGKILLed mid-run again and again across 20 concurrent runs, it
//! restarts, recovers, and every run ends with the digests of an uninterrupted run, once.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use super::daemon::{client, finished, ok_json, ok_output, start, statuses};
use super::petri;

const PIPELINE: &str = r#"
[pipeline]
name = "crash"

[inputs.data]
path = "input.bin"

[stages.first]
module = "testkit"
params = { mode = "copy" }
inputs = { data = "inputs.data" }

[stages.second]
module = "testkit"
params = { mode = "burn", record = 600 }
inputs = { data = "first.out" }

[stages.third]
module = "testkit"
params = { mode = "copy" }
inputs = { data = "second.out" }
"#;

/// The daemon's flags after `serve`.
const DAEMON: &[&str] = &["--max-concurrent-runs", "4"];

#[test]
fn daemon_killed_mid_run_recovers_every_run_to_the_same_digests() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("daemon");
    let log = data.with_extension("log");
    let reference = dir.path().join("reference");
    for d in [&data, &reference] {
        ok_output(&petri(d, &["plugin", "add", petri_plugins::TESTKIT]));
    }
    let token =
        String::from_utf8(petri(&data, &["token", "create", "--group", "crash-lab"]).stdout)
            .unwrap()
            .trim()
            .to_owned();

    // Twenty pipelines, each on its own bytes.
    let pipelines: Vec<PathBuf> = (0..20)
        .map(|i| {
            let p = dir.path().join(format!("p{i}"));
            std::fs::create_dir_all(&p).unwrap();
            std::fs::write(
                p.join("input.bin"),
                format!("sample {i}\n").repeat(5000 + i),
            )
            .unwrap();
            std::fs::write(p.join("pipeline.toml"), PIPELINE).unwrap();
            p.join("pipeline.toml")
        })
        .collect();

    let (mut daemon, mut url) = start(&data, &log, DAEMON);
    let mut ids = Vec::new();
    for p in &pipelines {
        let out = client(&url, &token, &["submit", p.to_str().unwrap()]);
        ok_output(&out);
        ids.push(String::from_utf8(out.stdout).unwrap().trim().to_owned());
    }

    // SIGKILL while runs are in flight, restart, again: at least 10 times.
    let mut kills_mid_run = 0;
    let mut round = 0u64;
    while kills_mid_run < 10 {
        round += 1;
        assert!(round < 60, "could not kill the daemon mid-run 10 times");
        std::thread::sleep(Duration::from_millis(250 + (round * 137) % 400));
        let unfinished = statuses(&url, &token)
            .map(|s| s.iter().filter(|(_, st)| !finished(st)).count())
            .unwrap_or(0);
        daemon.kill().unwrap(); // SIGKILL
        daemon.wait().unwrap();
        if unfinished > 0 {
            kills_mid_run += 1;
        }
        (daemon, url) = start(&data, &log, DAEMON);
        if unfinished == 0 {
            break;
        }
    }
    assert!(
        kills_mid_run >= 10,
        "only {kills_mid_run} kills hit a running daemon"
    );

    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        if let Some(s) = statuses(&url, &token)
            && s.len() == 20
            && s.iter().all(|(_, st)| finished(st))
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "runs did not finish after the restarts"
        );
        std::thread::sleep(Duration::from_millis(300));
    }

    let mut recoveries = 0;
    for (n, (id, p)) in ids.iter().zip(&pipelines).enumerate() {
        let run = ok_json(client(&url, &token, &["status", id, "--json"]));
        assert_eq!(run["status"], "COMPLETED", "{run}");
        recoveries += run["recoveries"].as_i64().unwrap();
        // Exactly one completion: nothing acknowledged twice.
        let completions = run["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "completed")
            .count();
        assert_eq!(completions, 1, "{run}");
        let expected = ok_json(petri(&reference, &["run", p.to_str().unwrap(), "--json"]));
        assert_eq!(run["root"], expected["root"], "run {id}: same Merkle root");
        let stages = run["stages"].as_array().unwrap();
        assert_eq!(stages.len(), 3, "one entry per stage: {run}");
        for e in expected["stages"].as_array().unwrap() {
            let s = stages.iter().find(|s| s["stage"] == e["stage"]).unwrap();
            assert_eq!(s["outputs"], e["outputs"]);
            assert_eq!(s["fuel_used"], e["fuel_used"]);
        }
        if n < 3 {
            // Re-executed from the store: byte for byte, same fuel.
            let record = run["record_id"].as_str().unwrap();
            ok_output(&petri(&data, &["verify", record]));
        }
    }
    assert!(recoveries > 0, "some run must have been recovered");
    eprintln!("{kills_mid_run} SIGKILLs mid-run, {recoveries} recoveries, 20 runs identical");

    // SIGTERM: a graceful stop.
    let term = Command::new("kill")
        .args(["-TERM", &daemon.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let status = daemon.wait().unwrap();
    assert!(status.success(), "{status:?}");
}
