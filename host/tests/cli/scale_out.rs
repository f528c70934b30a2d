//! Several `petri serve` daemons on one PostgreSQL database and one data dir, SIGKILLed, paused
//! past their leases and cancelled through one another: every run ends once, with the digests
//! of a single-daemon run, and a daemon whose lease was taken over commits nothing.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::postgres::Postgres;

use super::daemon::{client, finished, ok_json, ok_output, start, statuses};
use super::petri;

/// Seconds a claim lasts unless renewed: short, so that rescues come fast.
const LEASE_SECS: u64 = 3;

/// Runs in the chaos test.
const RUNS: usize = 50;

/// The instrument the chaos test's second stages share across daemons, and its places.
const ROBOT: &str = "robot";
const ROBOT_PLACES: usize = 2;

/// The tests here each load every core: one at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Three stages, each burning `record` million iterations of fuel (all different, so no stage
/// is a cache hit of another) and passing its input on.
fn pipeline(records: [u64; 3]) -> String {
    let [a, b, c] = records;
    format!(
        r#"
[pipeline]
name = "scale-out"

[inputs.data]
path = "input.bin"

[stages.first]
module = "testkit"
params = {{ mode = "burn", record = {a} }}
inputs = {{ data = "inputs.data" }}

[stages.second]
module = "testkit"
params = {{ mode = "burn", record = {b} }}
inputs = {{ data = "first.out" }}

[stages.third]
module = "testkit"
params = {{ mode = "burn", record = {c} }}
inputs = {{ data = "second.out" }}
"#
    )
}

/// `n` copies of the pipeline `text` under `dir`, each on its own input bytes.
fn workloads(dir: &Path, text: &str, n: usize) -> Vec<PathBuf> {
    (0..n)
        .map(|i| {
            let p = dir.join(format!("p{i}"));
            std::fs::create_dir_all(&p).unwrap();
            std::fs::write(
                p.join("input.bin"),
                format!("sample {i}\n").repeat(2000 + i),
            )
            .unwrap();
            std::fs::write(p.join("pipeline.toml"), text).unwrap();
            p.join("pipeline.toml")
        })
        .collect()
}

/// Each pipeline run by `petri run` alone, on SQLite in a data dir of its own, two at a time
/// (on a thread: it overlaps the daemons' work, then has both cores).
fn references(dir: &Path, pipelines: &[PathBuf]) -> std::thread::JoinHandle<Vec<Value>> {
    let (data, pipelines) = (dir.join("reference"), pipelines.to_vec());
    std::thread::spawn(move || {
        ok_output(&petri(&data, &["plugin", "add", petri_plugins::TESTKIT]));
        let run = |p: &PathBuf| ok_json(petri(&data, &["run", p.to_str().unwrap(), "--json"]));
        let run = &run;
        let half = pipelines.len().div_ceil(2).max(1);
        std::thread::scope(|scope| {
            let halves: Vec<_> = pipelines
                .chunks(half)
                .map(|c| scope.spawn(move || c.iter().map(run).collect::<Vec<_>>()))
                .collect();
            halves.into_iter().flat_map(|h| h.join().unwrap()).collect()
        })
    })
}

/// The rows `sql` returns on `pg`, each as its columns.
fn query(pg: &Postgres, sql: &str) -> Vec<Vec<String>> {
    let out = Command::new("psql")
        .args(["-X", "-At", "-v", "ON_ERROR_STOP=1", &pg.url, "-c", sql])
        .output()
        .unwrap();
    ok_output(&out);
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| l.split('|').map(str::to_owned).collect())
        .collect()
}

/// One daemon: SIGKILLed when dropped.
struct Node {
    id: &'static str,
    child: Child,
    url: String,
}

impl Node {
    fn signal(&self, signal: &str) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args([signal, &pid]).status().unwrap();
        assert!(sent.success(), "kill {signal} {pid}");
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Daemons sharing one database and one data dir, and a token that works on all of them.
struct Cluster {
    /// First, so dropped first: the daemons die before their database.
    nodes: Vec<Node>,
    token: String,
    data: PathBuf,
    dir: tempfile::TempDir,
    pg: Postgres,
}

impl Cluster {
    fn new(ids: &[&'static str]) -> Cluster {
        let pg = Postgres::start();
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("shared");
        let calendar =
            format!("[instruments.{ROBOT}]\nclass = \"{ROBOT}\"\ncapacity = {ROBOT_PLACES}\n");
        std::fs::write(dir.path().join("instruments.toml"), calendar).unwrap();
        let db = ["--database", pg.url.as_str()];
        let add = [&db[..], &["plugin", "add", petri_plugins::TESTKIT]].concat();
        ok_output(&petri(&data, &add));
        let create = [&db[..], &["token", "create", "--group", "scale-lab"]].concat();
        let out = petri(&data, &create);
        ok_output(&out);
        let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
        let mut cluster = Cluster {
            nodes: Vec::new(),
            token,
            data,
            dir,
            pg,
        };
        for id in ids {
            let node = cluster.spawn(id);
            cluster.nodes.push(node);
        }
        cluster
    }

    /// Starts daemon `id` and waits until it answers (its interrupted runs are requeued then).
    fn spawn(&self, id: &'static str) -> Node {
        let log = self.dir.path().join(format!("node-{id}.log"));
        let lease = LEASE_SECS.to_string();
        let calendar = self.dir.path().join("instruments.toml");
        let flags = [
            ["--instruments", calendar.to_str().unwrap()],
            ["--database", self.pg.url.as_str()],
            ["--node-id", id],
            ["--lease-secs", &lease],
            ["--max-concurrent-runs", "3"],
            ["--rate-limit-per-second", "1000"],
            ["--rate-limit-burst", "1000"],
        ];
        let (child, url) = start(&self.data, &log, &flags.concat());
        let node = Node { id, child, url };
        let deadline = Instant::now() + Duration::from_secs(60);
        while statuses(&node.url, &self.token).is_none() {
            assert!(Instant::now() < deadline, "node {id} does not answer");
            std::thread::sleep(Duration::from_millis(100));
        }
        node
    }

    /// SIGKILLs node `i`, then restarts it with the same node id after `after`.
    fn kill_and_restart(&mut self, i: usize, after: Duration) {
        let node = &mut self.nodes[i];
        node.child.kill().unwrap();
        node.child.wait().unwrap();
        std::thread::sleep(after);
        let id = node.id;
        self.nodes[i] = self.spawn(id);
    }

    fn node(&self, id: &str) -> &Node {
        self.nodes.iter().find(|n| n.id == id).unwrap()
    }

    /// Runs in progress and the node executing each (from the database).
    fn in_progress(&self) -> Vec<(String, String)> {
        query(
            &self.pg,
            "SELECT id, owner FROM api_runs
             WHERE status IN ('VALIDATING', 'RUNNING') AND owner IS NOT NULL ORDER BY id",
        )
        .into_iter()
        .map(|r| (r[0].clone(), r[1].clone()))
        .collect()
    }

    fn submit(&self, via: usize, pipeline: &Path) -> String {
        let out = client(
            &self.nodes[via].url,
            &self.token,
            &["submit", pipeline.to_str().unwrap()],
        );
        ok_output(&out);
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    /// Submits pipeline `n` through node `n % nodes`, the nodes at the same time (their audit
    /// appends race); the run ids, in order.
    fn submit_round_robin(&self, pipelines: &[PathBuf]) -> Vec<String> {
        let k = self.nodes.len();
        let mut ids: Vec<(usize, String)> = std::thread::scope(|scope| {
            let threads: Vec<_> = (0..k)
                .map(|via| {
                    let mine = (via..pipelines.len()).step_by(k);
                    scope.spawn(move || {
                        mine.map(|n| (n, self.submit(via, &pipelines[n])))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            threads
                .into_iter()
                .flat_map(|t| t.join().unwrap())
                .collect()
        });
        ids.sort();
        ids.into_iter().map(|(_, id)| id).collect()
    }

    fn status(&self, via: &Node, id: &str) -> Value {
        ok_json(client(&via.url, &self.token, &["status", id, "--json"]))
    }

    /// SIGSTOPs the node with the most runs in progress, past its lease and until another
    /// node has rescued one of them, then SIGCONTs it: its id and how long it stood still
    /// (none: no node had a run).
    fn pause_busiest(&self) -> Option<(&'static str, Duration)> {
        let owners = self.in_progress();
        let runs = |n: &&Node| owners.iter().filter(|(_, o)| o == n.id).count();
        let node = self.nodes.iter().filter(|n| runs(n) > 0).max_by_key(runs)?;
        let rescues = format!(
            "SELECT count(*) FROM api_run_events WHERE kind = 'rescued' AND detail LIKE '% from {} (%'",
            node.id
        );
        let before = query(&self.pg, &rescues);
        node.signal("-STOP");
        let paused = Instant::now();
        while paused.elapsed() < Duration::from_secs(LEASE_SECS + 2)
            || query(&self.pg, &rescues) == before
        {
            assert!(paused.elapsed() < Duration::from_secs(120), "no rescue");
            std::thread::sleep(Duration::from_millis(200));
        }
        node.signal("-CONT");
        Some((node.id, paused.elapsed()))
    }

    /// Cancels up to `n` runs in progress not in `skip`, each through a node other than the
    /// one executing it: (run, accepted). Not accepted: a 409, it had just finished.
    fn cancel_elsewhere(&self, n: usize, skip: &[(String, bool)]) -> Vec<(String, bool)> {
        let runs = self.in_progress().into_iter();
        runs.filter(|(id, _)| !skip.iter().any(|(s, _)| s == id))
            .take(n)
            .map(|(id, owner)| {
                let via = self.nodes.iter().find(|n| n.id != owner).unwrap();
                let out = client(&via.url, &self.token, &["cancel", &id, "--json"]);
                let stderr = String::from_utf8_lossy(&out.stderr);
                assert!(out.status.success() || stderr.contains("(409)"), "{stderr}");
                (id, out.status.success())
            })
            .collect()
    }

    /// Waits until `n` runs are final.
    fn wait_until_final(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            if let Some(s) = statuses(&self.nodes[0].url, &self.token)
                && s.len() == n
                && s.iter().all(|(_, st)| finished(st))
            {
                return;
            }
            assert!(Instant::now() < deadline, "runs did not finish");
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    /// What the database holds about run `id` and the stage cache: what a stale executor
    /// would change if one of its commits went through.
    fn snapshot(&self, id: &str) -> Vec<Vec<Vec<String>>> {
        let sqls = [
            "SELECT status, owner, fence, record_id, root FROM api_runs WHERE id = $ID",
            "SELECT at, kind, detail FROM api_run_events WHERE run_id = $ID ORDER BY at, kind",
            "SELECT sample, stage, detail FROM api_run_stages WHERE run_id = $ID ORDER BY 1, 2",
            "SELECT cache_key, record_id FROM stage_cache ORDER BY 1",
            "SELECT record_id, sha256 FROM record_seals ORDER BY 1",
            "SELECT run_id, status, finished_at FROM runs ORDER BY 1",
        ];
        let quoted = format!("'{id}'");
        sqls.iter()
            .map(|q| query(&self.pg, &q.replace("$ID", &quoted)))
            .collect()
    }

    /// `petri audit verify` on the shared database: the chain is intact; its length.
    fn audit_entries(&self) -> usize {
        let out = petri(&self.data, &["--database", &self.pg.url, "audit", "verify"]);
        ok_output(&out);
        let text = String::from_utf8(out.stdout).unwrap();
        let n = text
            .strip_prefix("audit log intact: ")
            .unwrap_or_else(|| panic!("{text}"));
        n.split(' ').next().unwrap().parse().unwrap()
    }

    /// No daemon panicked, whatever was done to it.
    fn assert_no_panics(&self) {
        for node in &self.nodes {
            let log = self.dir.path().join(format!("node-{}.log", node.id));
            let text = std::fs::read_to_string(log).unwrap();
            assert!(!text.contains("panicked"), "node {}: {text}", node.id);
        }
    }

    /// The pipeline run record, read back sealed (`petri provenance`): its root.
    fn sealed_root(&self, record: &str) -> Value {
        let args = [
            "--database",
            &self.pg.url,
            "provenance",
            record,
            "--format",
            "json",
        ];
        let out = petri(&self.data, &args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("no seal"), "{stderr}");
        ok_json(out)["root"].clone()
    }
}

/// What the chaos loop did.
#[derive(Debug, Default)]
struct Chaos {
    kills: usize,
    kills_mid_run: usize,
    /// The node paused past its lease while it had runs in progress, and for how long.
    paused: Option<(&'static str, Duration)>,
    /// Cancel requests: (run, accepted with a 200; else a 409).
    cancels: Vec<(String, bool)>,
}

fn next(rng: &mut u64) -> u64 {
    *rng ^= *rng << 13;
    *rng ^= *rng >> 7;
    *rng ^= *rng << 17;
    *rng
}

/// SIGKILLs a random node and restarts it, again and again (once only after its lease ran
/// out); once pauses the busiest node until its runs are rescued; cancels runs through
/// other nodes.
fn chaos(cluster: &mut Cluster, mut rng: u64) -> Chaos {
    let mut done = Chaos::default();
    while done.kills_mid_run < 6 || done.paused.is_none() || done.cancels.len() < 5 {
        assert!(
            done.kills < 40,
            "the runs ended before the chaos did: {done:?}"
        );
        std::thread::sleep(Duration::from_millis(300 + next(&mut rng) % 600));
        let i = usize::try_from(next(&mut rng) % 3).unwrap();
        let busy = cluster
            .in_progress()
            .iter()
            .any(|(_, owner)| owner == cluster.nodes[i].id);
        let after = if done.kills == 3 {
            Duration::from_secs(LEASE_SECS + 1) // the others rescue its runs meanwhile
        } else {
            Duration::ZERO
        };
        cluster.kill_and_restart(i, after);
        done.kills += 1;
        done.kills_mid_run += usize::from(busy);
        if done.kills >= 2 && done.paused.is_none() {
            done.paused = cluster.pause_busiest();
        }
        if done.kills % 2 == 1 && done.cancels.len() < 5 {
            let more = cluster.cancel_elsewhere(2, &done.cancels);
            done.cancels.extend(more);
        }
    }
    done
}

/// A run's events, oldest first: (kind, detail).
fn events(run: &Value) -> Vec<(String, String)> {
    let text = |e: &Value, k: &str| e[k].as_str().unwrap().to_owned();
    let all = run["events"].as_array().unwrap();
    all.iter()
        .map(|e| (text(e, "kind"), text(e, "detail")))
        .collect()
}

/// The most stages that ran on instrument `name` at once, from the recorded start and end
/// times of every stage that succeeded, and how many did.
fn most_at_once(runs: &[Value], name: &str) -> (usize, usize) {
    let mut edges: Vec<(String, i32)> = Vec::new();
    for run in runs {
        for s in run["stages"].as_array().unwrap() {
            if s["instrument"] == name && s["status"] == "succeeded" {
                let time = |k: &str| s[k].as_str().unwrap().to_owned();
                edges.push((time("started_at"), 1));
                edges.push((time("finished_at"), -1));
            }
        }
    }
    // At one instant an end sorts before a start: a place freed, then taken.
    edges.sort();
    let (mut now, mut most) = (0, 0);
    for (_, step) in &edges {
        now += step;
        most = most.max(now);
    }
    (usize::try_from(most).unwrap(), edges.len() / 2)
}

fn count(events: &[(String, String)], kind: &str) -> usize {
    events.iter().filter(|(k, _)| k == kind).count()
}

/// Each claim's executor, as the events show it: a claim's executor writes "validating" with
/// its node id; a rescue ("taken over by B from A") names the node the run was taken from,
/// which must be the last executor seen (none is known after a restart requeued the run).
fn assert_claims_consistent(run: &Value) {
    let mut owner: Option<String> = None;
    for (kind, detail) in events(run) {
        match kind.as_str() {
            "validating" => owner = Some(detail),
            "recovered" => owner = None,
            "rescued" => {
                let rest = detail.strip_prefix("taken over by ").unwrap();
                let (by, from) = rest.split_once(" from ").unwrap();
                let from = from.trim_end_matches(" (its lease ran out)");
                if let Some(o) = &owner {
                    assert_eq!(from, o, "rescued from the wrong daemon: {run}");
                }
                owner = Some(by.to_owned());
            }
            _ => {}
        }
    }
}

/// The run completed once (nothing after its completion), with the reference's root, stage
/// outputs and fuel.
fn assert_completed_as(run: &Value, expected: &Value) {
    assert_eq!(run["status"], "COMPLETED", "{run}");
    let ev = events(run);
    assert_eq!(count(&ev, "completed"), 1, "exactly one completion: {run}");
    assert_eq!(count(&ev, "cancelled") + count(&ev, "failed"), 0, "{run}");
    assert_eq!(
        ev.last().unwrap().0,
        "completed",
        "an event after the end: {run}"
    );
    assert_eq!(run["root"], expected["root"], "the reference's root: {run}");
    let stages = run["stages"].as_array().unwrap();
    assert_eq!(stages.len(), 3, "one entry per stage: {run}");
    for e in expected["stages"].as_array().unwrap() {
        let s = stages.iter().find(|s| s["stage"] == e["stage"]).unwrap();
        assert_eq!(s["status"], "succeeded", "{run}");
        assert_eq!(s["outputs"], e["outputs"], "{run}");
        assert_eq!(s["fuel_used"], e["fuel_used"], "{run}");
    }
}

/// The run was cancelled once and never completed. After the cancel its executor may only
/// have written the "validating" of a claim the cancel raced; stages that ended match the
/// reference's.
fn assert_cancelled_as(run: &Value, expected: &Value) {
    assert_eq!(run["status"], "CANCELLED", "{run}");
    let ev = events(run);
    assert_eq!(count(&ev, "cancelled"), 1, "{run}");
    assert_eq!(count(&ev, "completed") + count(&ev, "failed"), 0, "{run}");
    let mut after = ev.iter().skip_while(|(k, _)| k != "cancelled").skip(1);
    assert!(after.all(|(k, _)| k == "validating"), "{run}");
    assert!(run["root"].is_null(), "{run}");
    let reference = expected["stages"].as_array().unwrap();
    for s in run["stages"].as_array().unwrap() {
        let e = reference.iter().find(|e| e["stage"] == s["stage"]).unwrap();
        match s["status"].as_str().unwrap() {
            "succeeded" => assert_eq!(
                (&s["outputs"], &s["fuel_used"]),
                (&e["outputs"], &e["fuel_used"])
            ),
            status => assert!(matches!(status, "pending" | "running"), "{run}"),
        }
    }
}

#[test]
fn three_daemons_killed_paused_and_cancelled_end_every_run_once_with_the_same_digests() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let began = Instant::now();
    let mut cluster = Cluster::new(&["a", "b", "c"]);
    // The second stage of every run needs the robot, whose places all daemons share.
    let text = pipeline([700, 800, 900]).replace(
        "[stages.second]\n",
        &format!("[stages.second]\nresources = {{ instrument = \"{ROBOT}\" }}\n"),
    );
    let pipelines = workloads(cluster.dir.path(), &text, RUNS);
    let ids = cluster.submit_round_robin(&pipelines);
    let expected = references(cluster.dir.path(), &pipelines);
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let submitted = began.elapsed();
    let done = chaos(&mut cluster, u64::from(seed) | 1);
    let chaos_ended = began.elapsed();
    cluster.wait_until_final(RUNS);
    let all_final = began.elapsed();
    let expected = expected.join().unwrap();
    let referenced = began.elapsed();

    let accepted: HashMap<&str, bool> = done
        .cancels
        .iter()
        .map(|(id, a)| (id.as_str(), *a))
        .collect();
    let (mut rescues, mut recoveries, mut records) = (0, 0, Vec::new());
    let mut runs = Vec::new();
    for (n, id) in ids.iter().enumerate() {
        let run = cluster.status(&cluster.nodes[n % 3], id);
        runs.push(run.clone());
        assert_claims_consistent(&run);
        let ev = events(&run);
        rescues += count(&ev, "rescued");
        recoveries += count(&ev, "recovered");
        if accepted.get(id.as_str()) == Some(&true) {
            assert_cancelled_as(&run, &expected[n]);
            continue;
        }
        // Never cancelled, or the cancel came after it completed (a 409).
        assert_completed_as(&run, &expected[n]);
        let record = run["record_id"].as_str().unwrap().to_owned();
        assert_eq!(cluster.sealed_root(&record), expected[n]["root"], "{run}");
        records.push((count(&ev, "rescued") == 0, record));
    }
    // Three daemons never ran more stages on the robot than it has places.
    let (most, ran) = most_at_once(&runs, ROBOT);
    assert!(ran >= RUNS / 2, "only {ran} stages ran on the {ROBOT}");
    assert!(most <= ROBOT_PLACES, "{most} stages on the {ROBOT} at once");
    // Re-executed from the shared store, byte for byte: rescued runs first.
    records.sort();
    for (_, record) in records.iter().take(3) {
        let args = ["--database", &cluster.pg.url, "verify", record];
        ok_output(&petri(&cluster.data, &args));
    }

    assert!(done.kills_mid_run >= 5, "{done:?}");
    assert!(rescues > 0, "no run was rescued: {done:?}");
    assert!(
        recoveries > 0,
        "no run was recovered by its restarted daemon: {done:?}"
    );
    let cancelled = accepted.values().filter(|a| **a).count();
    assert!(
        cancelled >= 3,
        "most cancels must hit a running run: {done:?}"
    );
    // Every daemon appended to one hash chain: the token, each submit, each accepted cancel.
    assert!(cluster.audit_entries() > RUNS + cancelled);
    cluster.assert_no_panics();
    eprintln!(
        "scale-out: {RUNS} runs on 3 daemons: submitted {submitted:.0?}, chaos until {chaos_ended:.0?}, \
         all final {all_final:.0?}, references {referenced:.0?}, checked {:.0?}; {} SIGKILLs ({} mid-run), {} paused {:.1?}, \
         {rescues} rescues, {recoveries} recoveries, {} cancels ({cancelled} accepted), seed {seed}",
        began.elapsed(),
        done.kills,
        done.kills_mid_run,
        done.paused.map_or("-", |p| p.0),
        done.paused.map_or(Duration::ZERO, |p| p.1),
        done.cancels.len(),
    );

    // SIGTERM: each stops gracefully.
    for node in &mut cluster.nodes {
        node.signal("-TERM");
        let status = node.child.wait().unwrap();
        assert!(status.success(), "node {}: {status:?}", node.id);
    }
}

#[test]
fn a_paused_daemon_commits_nothing_after_its_lease_is_taken() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let cluster = Cluster::new(&["a", "b"]);
    let pipelines = workloads(cluster.dir.path(), &pipeline([10, 8000, 20]), 1);
    let expected = references(cluster.dir.path(), &pipelines);
    let id = cluster.submit(0, &pipelines[0]);

    // Pause the executor in the middle of the long stage.
    let deadline = Instant::now() + Duration::from_secs(120);
    let stale = loop {
        let run = cluster.status(&cluster.nodes[0], &id);
        let second = run["stages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["stage"] == "second");
        if second.is_some_and(|s| s["status"] == "running") {
            let (_, owner) = events(&run)
                .into_iter()
                .rfind(|(k, _)| k == "validating")
                .unwrap();
            break cluster.node(&owner);
        }
        assert!(Instant::now() < deadline, "the long stage never ran: {run}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let other = cluster.nodes.iter().find(|n| n.id != stale.id).unwrap();
    stale.signal("-STOP");
    let paused = Instant::now();

    // The other daemon takes the run over and completes it.
    let run = loop {
        let run = cluster.status(other, &id);
        if finished(run["status"].as_str().unwrap()) {
            break run;
        }
        assert!(
            paused.elapsed() < Duration::from_secs(300),
            "not rescued: {run}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(paused.elapsed() > Duration::from_secs(LEASE_SECS));
    let before = (run, cluster.snapshot(&id));

    // The stale daemon wakes up mid-stage, past its lease: nothing it does is committed.
    stale.signal("-CONT");
    let paused = paused.elapsed();
    std::thread::sleep(Duration::from_secs(LEASE_SECS + 2));
    let after = (cluster.status(other, &id), cluster.snapshot(&id));
    assert_eq!(before, after, "the stale daemon changed the run");

    let (run, _) = before;
    let expected = expected.join().unwrap();
    assert_completed_as(&run, &expected[0]);
    assert_claims_consistent(&run);
    let rescue = format!(
        "taken over by {} from {} (its lease ran out)",
        other.id, stale.id
    );
    assert_eq!(
        events(&run)
            .iter()
            .filter(|(k, d)| k == "rescued" && *d == rescue)
            .count(),
        1,
        "{run}"
    );
    let record = run["record_id"].as_str().unwrap();
    assert_eq!(cluster.sealed_root(record), expected[0]["root"]);
    assert!(
        statuses(&stale.url, &cluster.token).is_some(),
        "the stale daemon serves again"
    );
    cluster.assert_no_panics();
    eprintln!(
        "scale-out: node {} paused {:.1?}; node {} rescued and completed the run; nothing committed by the stale one",
        stale.id, paused, other.id
    );
}
