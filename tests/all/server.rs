//! The daemon over HTTP on 127.0.0.1:0: submit, poll, list, cancel, provenance, artifacts with
//! Range, auth failures, cross-group 404s, body limit, rate limit (real stages, real SQLite).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use petri_host::server::{self, ServerConfig};
use serde_json::{Value, json};

mod notifications;
mod promote;
mod report;
mod tenant;
mod triggers;
mod watch;

/// A daemon running in this process on its own runtime; stopped (SIGTERM path) on drop.
/// `admin` is an admin of lab-a, `alice` of lab-a (granted `urgent`), `bob` of lab-b.
pub(crate) struct Daemon {
    pub(crate) addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    _dir: tempfile::TempDir,
    /// The daemon's data dir.
    pub(crate) data: std::path::PathBuf,
    pub(crate) admin: String,
    pub(crate) alice: String,
    pub(crate) bob: String,
}

impl Daemon {
    pub(crate) fn start(tune: impl FnOnce(&mut ServerConfig)) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        let mut config = ServerConfig {
            listen: "127.0.0.1:0".into(),
            data_dir: dir.path().join("data"),
            ..ServerConfig::default()
        };
        tune(&mut config);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let (admin, alice, bob, listener) = runtime.block_on(async {
            let store = server::open_store(&config.data_dir, config.database.as_deref())
                .await
                .unwrap();
            let admin = server::create_token(&store, "ops", "lab-a", true)
                .await
                .unwrap();
            let alice = server::create_token_with(
                &store,
                &server::TokenSpec {
                    name: "alice".into(),
                    group: "lab-a".into(),
                    priorities: vec![server::Priority::Urgent],
                    ..server::TokenSpec::default()
                },
            )
            .await
            .unwrap();
            let bob = server::create_token(&store, "bob", "lab-b", false)
                .await
                .unwrap();
            (admin, alice, bob, server::bind(&config).await.unwrap())
        });
        let addr = listener.local_addr().unwrap();
        let data = config.data_dir.clone();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            runtime
                .block_on(server::serve(config, listener, async {
                    let _ = rx.await;
                }))
                .unwrap();
        });
        let d = Daemon {
            addr,
            stop: Some(tx),
            thread: Some(thread),
            _dir: dir,
            data,
            admin,
            alice,
            bob,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while d.call("GET", "/readyz", None, &[], b"").status != 200 {
            assert!(Instant::now() < deadline, "the daemon never became ready");
            std::thread::sleep(Duration::from_millis(50));
        }
        d
    }

    /// One HTTP/1.1 request on a fresh connection.
    pub(crate) fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Reply {
        let mut s = TcpStream::connect(self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.addr,
            body.len()
        );
        if let Some(t) = token {
            head.push_str(&format!("Authorization: Bearer {t}\r\n"));
        }
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        s.write_all(head.as_bytes()).unwrap();
        // The server may answer (413) before reading a large body.
        let _ = s.write_all(body);
        let mut raw = Vec::new();
        let _ = s.read_to_end(&mut raw);
        Reply::parse(&raw)
    }

    pub(crate) fn get(&self, path: &str, token: &str) -> Reply {
        self.call("GET", path, Some(token), &[], b"")
    }

    pub(crate) fn post_json(&self, path: &str, token: &str, body: &Value) -> Reply {
        self.call(
            "POST",
            path,
            Some(token),
            &[("Content-Type", "application/json")],
            body.to_string().as_bytes(),
        )
    }

    pub(crate) fn upload(&self, path: &str, token: &str, bytes: &[u8]) -> Reply {
        self.call(
            "POST",
            path,
            Some(token),
            &[("Content-Type", "application/octet-stream")],
            bytes,
        )
    }

    /// Polls a run until it finishes.
    pub(crate) fn wait(&self, id: &str, token: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            let run = self.get(&format!("/v1/runs/{id}"), token).json();
            if ["COMPLETED", "FAILED", "CANCELLED"].contains(&run["status"].as_str().unwrap()) {
                return run;
            }
            assert!(Instant::now() < deadline, "run {id} never finished: {run}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

pub(crate) struct Reply {
    pub(crate) status: u16,
    headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Reply {
    fn parse(raw: &[u8]) -> Reply {
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("an HTTP response");
        let head = String::from_utf8_lossy(&raw[..split]).into_owned();
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let mut body = raw[split + 4..].to_vec();
        if headers
            .iter()
            .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"))
        {
            let mut out = Vec::new();
            let mut rest = &body[..];
            loop {
                let end = rest.windows(2).position(|w| w == b"\r\n").unwrap();
                let size =
                    usize::from_str_radix(std::str::from_utf8(&rest[..end]).unwrap().trim(), 16)
                        .unwrap();
                if size == 0 {
                    break;
                }
                out.extend_from_slice(&rest[end + 2..end + 2 + size]);
                rest = &rest[end + 2 + size + 2..];
            }
            body = out;
        }
        Reply {
            status,
            headers,
            body,
        }
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "HTTP {} is not JSON ({e}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// Asserts the status and that the body is a JSON error with `code`.
    pub(crate) fn error(&self, status: u16, code: &str) -> Value {
        assert_eq!(
            self.status,
            status,
            "{}",
            String::from_utf8_lossy(&self.body)
        );
        let v = self.json();
        assert_eq!(v["error"]["code"], code, "{v}");
        v
    }
}

pub(crate) const CHAIN: &str = r#"
[pipeline]
name = "chain"

[inputs.data]
path = "data/input.bin"

[stages.first]
module = "testkit"
params = { mode = "copy" }
inputs = { data = "inputs.data" }

[stages.second]
module = "testkit"
params = { mode = "burn", record = 1 }
inputs = { data = "first.out" }
"#;

/// A testkit `copy` of each sample's `data` (the sheet names the file): what
/// triggered runs submit.
pub(crate) const SHEET_COPY: &str = r#"
[inputs.data]

[stages.copy]
module = "testkit"
params = { mode = "copy" }
inputs = { data = "inputs.data" }
"#;

pub(crate) fn testkit() -> Vec<u8> {
    std::fs::read(petri_plugins::TESTKIT).unwrap()
}

#[test]
fn runs_over_http_with_group_isolation() {
    let d = Daemon::start(|_| {});
    let (admin, alice, bob) = (d.admin.clone(), d.alice.clone(), d.bob.clone());

    // Modules: validated before they are kept; the same bytes twice is idempotent.
    let first = d.upload("/v1/modules", &admin, &testkit());
    assert_eq!(
        first.status,
        201,
        "{}",
        String::from_utf8_lossy(&first.body)
    );
    let module = first.json();
    assert_eq!(module["name"], "testkit");
    assert_eq!(d.upload("/v1/modules", &admin, &testkit()).status, 200);
    d.upload("/v1/modules", &alice, b"not wasm")
        .error(422, "invalid_module");
    let sha = module["sha256"].as_str().unwrap();
    assert_eq!(d.get(&format!("/v1/modules/{sha}"), &bob).status, 200);
    assert_eq!(
        d.get("/v1/modules", &bob).json().as_array().unwrap().len(),
        1
    );

    // A file, then a run that names it.
    let data = b"hello, petri daemon\n".repeat(100);
    let blob = d.upload("/v1/blobs", &alice, &data);
    assert_eq!(blob.status, 201);
    let blob_sha = blob.json()["sha256"].as_str().unwrap().to_owned();
    assert_eq!(d.upload("/v1/blobs", &alice, &data).status, 200);
    let submit = json!({
        "pipeline": CHAIN,
        "files": { "data/input.bin": blob_sha },
        "description": "first run",
        "priority": "urgent",
    });
    let accepted = d.post_json("/v1/runs", &alice, &submit);
    assert_eq!(
        accepted.status,
        202,
        "{}",
        String::from_utf8_lossy(&accepted.body)
    );
    let id = accepted.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(
        accepted.header("location"),
        Some(format!("/v1/runs/{id}").as_str())
    );
    let run = d.wait(&id, &alice);
    assert_eq!(run["status"], "COMPLETED", "{run}");
    assert_eq!(run["priority"], "urgent");
    let stages = run["stages"].as_array().unwrap();
    assert_eq!(stages.len(), 2);
    assert!(stages.iter().all(|s| s["status"] == "succeeded"));
    let out = stages.iter().find(|s| s["stage"] == "second").unwrap()["outputs"][0].clone();
    assert_eq!(
        out["sha256"],
        blob_sha.as_str(),
        "copy then burn keeps the bytes"
    );
    let kinds: Vec<&str> = run["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["submitted", "validating", "running", "completed"]);

    // The same submission again: every stage is a cache hit, same root.
    let again = d.post_json("/v1/runs", &alice, &submit).json();
    let rerun = d.wait(again["id"].as_str().unwrap(), &alice);
    assert_eq!(rerun["root"], run["root"]);
    assert!(
        rerun["stages"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["cache"] == "hit")
    );

    // List: filters and pagination; another group sees none of it.
    let page = d.get("/v1/runs?limit=1", &alice).json();
    assert_eq!(page["runs"].as_array().unwrap().len(), 1);
    let cursor = page["next_cursor"].as_str().unwrap();
    let next = d
        .get(&format!("/v1/runs?limit=1&cursor={cursor}"), &alice)
        .json();
    assert_eq!(next["runs"][0]["id"], id.as_str());
    assert!(next.get("next_cursor").is_none());
    let done = d
        .get("/v1/runs?status=COMPLETED&pipeline=chain", &alice)
        .json();
    assert_eq!(done["runs"].as_array().unwrap().len(), 2);
    assert_eq!(
        d.get("/v1/runs?status=FAILED", &alice).json()["runs"],
        json!([])
    );
    assert_eq!(d.get("/v1/runs", &bob).json()["runs"], json!([]));
    assert_eq!(
        d.get("/v1/runs?group=lab-a", &bob).json()["runs"],
        json!([])
    );
    assert_eq!(
        d.get("/v1/runs?group=lab-a", &admin).json()["runs"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    d.get("/v1/runs?limit=0", &alice)
        .error(400, "invalid_request");

    // Cross-group: 404, never 403.
    d.get(&format!("/v1/runs/{id}"), &bob)
        .error(404, "not_found");
    d.post_json(&format!("/v1/runs/{id}/cancel"), &bob, &json!({}))
        .error(404, "not_found");
    d.get(&format!("/v1/runs/{id}/provenance"), &bob)
        .error(404, "not_found");
    d.get(&format!("/v1/artifacts/{blob_sha}"), &bob)
        .error(404, "not_found");
    // Bob cannot name Alice's blob in a run of his own either (at a priority he may use).
    let mut theirs = submit.clone();
    theirs["priority"] = json!("normal");
    let stolen = d
        .post_json("/v1/runs", &bob, &theirs)
        .error(422, "invalid_pipeline");
    assert!(stolen.to_string().contains("no uploaded blob"), "{stolen}");

    // Provenance in every format.
    let record = d
        .get(&format!("/v1/runs/{id}/provenance?format=json"), &alice)
        .json();
    assert_eq!(record["root"], run["root"]);
    let prov = d
        .get(&format!("/v1/runs/{id}/provenance?format=prov"), &alice)
        .json();
    assert!(prov["activity"].as_object().unwrap().len() >= 2);
    let crate_ = d
        .get(&format!("/v1/runs/{id}/provenance?format=ro-crate"), &alice)
        .json();
    assert!(crate_["@graph"].is_array());
    d.get(&format!("/v1/runs/{id}/provenance?format=xml"), &alice)
        .error(400, "invalid_request");

    // Artifacts: whole, a range, a suffix, an unsatisfiable range.
    let whole = d.get(&format!("/v1/artifacts/{blob_sha}"), &alice);
    assert_eq!(whole.status, 200);
    assert_eq!(whole.body, data);
    let part = d.call(
        "GET",
        &format!("/v1/artifacts/{blob_sha}"),
        Some(&alice),
        &[("Range", "bytes=7-18")],
        b"",
    );
    assert_eq!(part.status, 206);
    assert_eq!(part.body, &data[7..19]);
    assert_eq!(
        part.header("content-range"),
        Some(format!("bytes 7-18/{}", data.len()).as_str())
    );
    let tail = d.call(
        "GET",
        &format!("/v1/artifacts/{blob_sha}"),
        Some(&alice),
        &[("Range", "bytes=-5")],
        b"",
    );
    assert_eq!(tail.body, &data[data.len() - 5..]);
    d.call(
        "GET",
        &format!("/v1/artifacts/{blob_sha}"),
        Some(&alice),
        &[("Range", "bytes=99999-")],
        b"",
    )
    .error(416, "range_not_satisfiable");

    // Logs and events.
    let logs = d.get(&format!("/v1/runs/{id}/logs"), &alice).json();
    assert_eq!(logs["events"].as_array().unwrap().len(), 4);

    // Validation: every problem, located, and nothing queued.
    let bad = d
        .post_json(
            "/v1/runs",
            &alice,
            &json!({"pipeline": "[stages.a]\nmodule = \"nope\"\n\n[stages.b]\nmodule = \"testkit\"\nparams = { mode = \"dance\" }\n"}),
        )
        .error(422, "invalid_pipeline");
    let problems = bad["error"]["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 2, "{bad}");
    assert_eq!(
        (problems[0]["line"].as_u64(), problems[0]["file"].as_str()),
        (Some(2), Some("pipeline.toml"))
    );
    assert_eq!(problems[1]["line"], 6);
    let escape = d
        .post_json(
            "/v1/runs",
            &alice,
            &json!({"pipeline": "[inputs.x]\npath = \"/etc/passwd\"\n[stages.a]\nmodule = \"../a.wasm\"\n"}),
        )
        .error(422, "invalid_pipeline");
    assert_eq!(
        escape["error"]["problems"].as_array().unwrap().len(),
        2,
        "{escape}"
    );
    d.post_json("/v1/runs", &alice, &json!({"pipeline": 5}))
        .error(400, "invalid_request");
    d.post_json("/v1/runs", &alice, &json!({}))
        .error(422, "invalid_pipeline");
    d.upload("/v1/blobs", &alice, b"")
        .error(400, "invalid_request");

    // Cancel: a long run stops; a finished run cannot be cancelled.
    let long = CHAIN
        .replace(
            "record = 1 }",
            "record = 100000 }\npolicy = { fuel = 100_000_000_000_000 }",
        )
        .replace("name = \"chain\"", "name = \"long\"");
    let long_id = d
        .post_json(
            "/v1/runs",
            &alice,
            &json!({"pipeline": long, "files": {"data/input.bin": blob_sha}}),
        )
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    std::thread::sleep(Duration::from_millis(300));
    let cancelled = d.post_json(&format!("/v1/runs/{long_id}/cancel"), &alice, &json!({}));
    assert_eq!(
        cancelled.status,
        200,
        "{}",
        String::from_utf8_lossy(&cancelled.body)
    );
    let long_run = d.wait(&long_id, &alice);
    assert_eq!(long_run["status"], "CANCELLED");
    d.post_json(&format!("/v1/runs/{long_id}/cancel"), &alice, &json!({}))
        .error(409, "conflict");
    d.get(&format!("/v1/runs/{long_id}/provenance"), &alice)
        .error(409, "conflict");

    // Health, readiness, metrics, the OpenAPI document and the API page.
    assert_eq!(d.call("GET", "/healthz", None, &[], b"").status, 200);
    let metrics = String::from_utf8(d.call("GET", "/metrics", None, &[], b"").body).unwrap();
    assert!(
        metrics.contains("petri_runs{status=\"COMPLETED\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("petri_stage_cache_total{result=\"hit\"}"),
        "{metrics}"
    );
    let api = d.call("GET", "/openapi.json", None, &[], b"").json();
    assert!(api["openapi"].as_str().unwrap().starts_with("3."));
    assert!(api["paths"]["/v1/runs/{id}/provenance"].is_object());
    assert_eq!(d.call("GET", "/docs/", None, &[], b"").status, 200);
    d.call("GET", "/v1/nothing", Some(&alice), &[], b"")
        .error(404, "not_found");
    d.call("DELETE", "/v1/runs", Some(&alice), &[], b"")
        .error(405, "method_not_allowed");
}

#[test]
fn auth_failures_body_limits_and_rate_limits_are_json() {
    let d = Daemon::start(|c| {
        c.max_body_bytes = 4096;
        c.max_upload_bytes = 1 << 16;
        c.rate_limit_per_second = 1.0;
        c.rate_limit_burst = 5;
    });
    let alice = d.alice.clone();
    let r = d.call("GET", "/v1/runs", None, &[], b"");
    r.error(401, "unauthorized");
    assert!(r.header("www-authenticate").unwrap().starts_with("Bearer"));
    d.get("/v1/runs", "petri_not-a-token")
        .error(401, "unauthorized");
    d.call(
        "GET",
        "/v1/runs",
        None,
        &[("Authorization", "Basic YTpi")],
        b"",
    )
    .error(401, "unauthorized");

    // Body limits: JSON and uploads.
    let big = json!({ "pipeline": "#".repeat(10_000) });
    d.post_json("/v1/runs", &alice, &big)
        .error(413, "payload_too_large");
    d.upload("/v1/blobs", &alice, &vec![0u8; 1 << 17])
        .error(413, "payload_too_large");

    // Two used above, three left in the burst; then 429 with Retry-After.
    for _ in 0..3 {
        assert_eq!(d.get("/v1/runs", &alice).status, 200);
    }
    let limited = d.get("/v1/runs", &alice);
    limited.error(429, "rate_limited");
    let wait: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=2).contains(&wait));
    // Per token: another token is not limited.
    assert_eq!(d.get("/v1/runs", &d.bob.clone()).status, 200);
    std::thread::sleep(Duration::from_secs(wait));
    assert_eq!(d.get("/v1/runs", &alice).status, 200);
}

#[test]
fn instruments_are_listed_and_admins_change_state_and_maintenance() {
    let calendar =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/instruments/core.toml");
    let d = Daemon::start(|c| c.instruments = Some(calendar));
    let list = d.get("/v1/instruments", &d.alice);
    assert_eq!(list.status, 200);
    let all = list.json();
    let names: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"novaseq-1"), "{all}");
    let nova = all
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "novaseq-1")
        .unwrap();
    assert_eq!(
        (nova["class"].as_str(), nova["state"].as_str()),
        (Some("sequencer"), Some("up"))
    );
    assert!(!nova["maintenance"].as_array().unwrap().is_empty());

    let put = |token: &str, name: &str, body: &str| {
        d.call(
            "PUT",
            &format!("/v1/instruments/{name}/state"),
            Some(token),
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        )
    };
    // Only admins change instruments; unknown names are 404; bad states 400.
    put(&d.alice, "novaseq-1", r#"{"state":"down"}"#).error(403, "forbidden");
    put(&d.admin, "nope", r#"{"state":"down"}"#).error(404, "not_found");
    put(&d.admin, "novaseq-1", r#"{"state":"broken"}"#).error(400, "invalid_request");
    let down = put(&d.admin, "novaseq-1", r#"{"state":"down"}"#);
    assert_eq!(down.status, 200);
    assert_eq!(down.json()["state"], "down");

    let window =
        json!({"start": "2030-01-01T08:00:00Z", "end": "2030-01-01T12:00:00Z", "note": "service"});
    let added = d.post_json("/v1/instruments/gpu-box/maintenance", &d.admin, &window);
    assert_eq!(
        added.status,
        201,
        "{}",
        String::from_utf8_lossy(&added.body)
    );
    let backwards = json!({"start": "2030-01-01T12:00:00Z", "end": "2030-01-01T08:00:00Z"});
    d.post_json("/v1/instruments/gpu-box/maintenance", &d.admin, &backwards)
        .error(422, "invalid_field");

    // The change is durable: another listing (from SQLite) shows it.
    let again = d.get("/v1/instruments", &d.bob).json();
    let nova = again
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "novaseq-1")
        .unwrap();
    assert_eq!(nova["state"], "down");
    let gpu = again
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "gpu-box")
        .unwrap();
    assert_eq!(gpu["maintenance"][0]["note"], "service");
}

/// An instrument taken down through the API while a run's stage runs on it:
/// the stage is preempted (an event says so), waits while it is down, runs
/// again when it is back up, and the run completes.
#[test]
fn runs_follow_instrument_changes_made_through_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let calendar = dir.path().join("instruments.toml");
    std::fs::write(
        &calendar,
        "[instruments.seq-1]\nclass = \"sequencer\"\ncapacity = 1\n",
    )
    .unwrap();
    let d = Daemon::start(|c| c.instruments = Some(calendar));
    assert_eq!(d.upload("/v1/modules", &d.admin, &testkit()).status, 201);
    let pipeline = r#"
[inputs.data]
path = "data.bin"

[stages.long]
module = "testkit"
params = { mode = "burn", record = 1500 }
inputs = { data = "inputs.data" }
resources = { instrument = "sequencer" }
"#;
    let blob = d.upload("/v1/blobs", &d.alice, b"reads").json()["sha256"].clone();
    let submit = json!({ "pipeline": pipeline, "files": { "data.bin": blob } });
    let id = d.post_json("/v1/runs", &d.alice, &submit).json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let long = |run: &Value| run["stages"][0].clone();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let run = d.get(&format!("/v1/runs/{id}"), &d.alice).json();
        if long(&run)["status"] == "running" {
            assert_eq!(long(&run)["instrument"], "seq-1", "{run}");
            break;
        }
        assert!(Instant::now() < deadline, "`long` never started: {run}");
        std::thread::sleep(Duration::from_millis(20));
    }
    let state = |s: &str| {
        let body = format!(r#"{{"state":"{s}"}}"#);
        let reply = d.call(
            "PUT",
            "/v1/instruments/seq-1/state",
            Some(&d.admin),
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        );
        assert_eq!(reply.status, 200);
    };
    state("down");
    // While the sequencer is down the stage is back in the queue, not running.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let run = d.get(&format!("/v1/runs/{id}"), &d.alice).json();
        if long(&run)["status"] == "pending" {
            assert_eq!(run["status"], "RUNNING", "{run}");
            break;
        }
        assert!(Instant::now() < deadline, "`long` was not preempted: {run}");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    let run = d.get(&format!("/v1/runs/{id}"), &d.alice).json();
    assert_eq!(
        long(&run)["status"],
        "pending",
        "nothing starts on a down instrument"
    );
    state("up");
    let run = d.wait(&id, &d.alice);
    assert_eq!(run["status"], "COMPLETED", "{run}");
    assert_eq!(long(&run)["instrument"], "seq-1");
    let preempted: Vec<&str> = run["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "preempted")
        .map(|e| e["detail"].as_str().unwrap())
        .collect();
    assert_eq!(
        preempted,
        ["default/long on `seq-1`: instrument `seq-1` went down"],
        "{run}"
    );
    let metrics = String::from_utf8(d.call("GET", "/metrics", None, &[], b"").body).unwrap();
    for line in [
        "petri_instrument_capacity{instrument=\"seq-1\"} 1",
        "petri_instrument_up{instrument=\"seq-1\"} 1",
        "petri_instrument_running{instrument=\"seq-1\"} 0",
    ] {
        assert!(metrics.contains(line), "{line} not in:\n{metrics}");
    }
    assert!(
        metrics.contains("petri_stage_preemptions_total{instrument=\"seq-1\"}"),
        "{metrics}"
    );
}
