//! `petri serve` as a child process for the CLI tests: start one, talk to it as a client.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use serde_json::Value;

/// The output of a command that must succeed, as JSON.
pub fn ok_json(out: Output) -> Value {
    ok_output(&out);
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Fails the test with the command's stderr unless it succeeded.
pub fn ok_output(out: &Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Starts a daemon on `data` on a free port, appending its stderr to `log`, with `extra`
/// flags after `serve`; returns it and its URL.
pub fn start(data: &Path, log: &Path, extra: &[&str]) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_petri"))
        .arg("--data-dir")
        .arg(data)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--drain-timeout-secs",
            "5",
        ])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)
                .unwrap(),
        )
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line.trim().rsplit(' ').next().unwrap().to_owned();
    assert!(
        url.starts_with("http://127.0.0.1:"),
        "{line}: {}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
    (child, url)
}

/// Stops `daemon` the way an operator does (SIGTERM, a graceful stop) and waits for it; returns
/// whether it exited cleanly (the daemon installs its handler before it prints its URL, so a
/// SIGTERM is always a drain, never a death by the signal).
/// A daemon that exits on its own writes its coverage profile in an instrumented build; a
/// SIGKILLed one does not, so tests kill only where a crash is the point.
pub fn terminate(daemon: &mut Child) -> bool {
    let pid = daemon.id().to_string();
    let sent = Command::new("kill").args(["-TERM", &pid]).status();
    sent.is_ok_and(|s| s.success()) && daemon.wait().is_ok_and(|s| s.success())
}

/// [`terminate`]s `daemon`, failing the test unless it stopped on the signal.
pub fn stop(mut daemon: Child) {
    assert!(terminate(&mut daemon), "the daemon did not stop on SIGTERM");
}

/// Runs `petri ARGS` as a client of the daemon at `url`.
pub fn client(url: &str, token: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_petri"))
        .args(args)
        .env("PETRI_URL", url)
        .env("PETRI_TOKEN", token)
        .output()
        .unwrap()
}

/// Every run's (id, status), or none while the daemon is not answering.
pub fn statuses(url: &str, token: &str) -> Option<Vec<(String, String)>> {
    let out = client(url, token, &["list", "--json", "--limit", "500"]);
    if !out.status.success() {
        return None; // the daemon is restarting
    }
    let page: Value = serde_json::from_slice(&out.stdout).ok()?;
    Some(
        page["runs"]
            .as_array()?
            .iter()
            .map(|r| {
                (
                    r["id"].as_str().unwrap_or_default().to_owned(),
                    r["status"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect(),
    )
}

/// A final status.
pub fn finished(s: &str) -> bool {
    matches!(s, "COMPLETED" | "FAILED" | "CANCELLED")
}
