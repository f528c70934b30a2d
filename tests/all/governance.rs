//! The daemon's governance over HTTP: tokens listed, revoked at once (also from another
//! process) and expired; priorities granted per token; the audit log; what `/metrics` shows
//! to whom; uploads streamed to disk; the header-read timeout; leftover temp files.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use petri_host::server::{self, Revocation, TokenSpec, Verdict};
use serde_json::{Value, json};

use super::server::{CHAIN, Daemon, testkit};

/// Runs `f` against the data dir's store on a runtime of its own (another
/// "process" as far as the daemon's caches go).
fn with_store<T>(data: &Path, f: impl AsyncFnOnce(&server::ServerStore) -> T) -> T {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = server::open_store(data, None).await.unwrap();
        f(&store).await
    })
}

/// Polls `path` with `token` until the answer is `status` (a cache may
/// hold the old answer for a few seconds).
fn until_status(d: &Daemon, path: &str, token: &str, status: u16) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = d.get(path, token);
        if r.status == status {
            return r.json();
        }
        assert!(Instant::now() < deadline, "{path} never answered {status}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn post(d: &Daemon, path: &str, token: &str, reason: &str) -> super::server::Reply {
    d.call(
        "POST",
        path,
        Some(token),
        &[("X-Petri-Reason", reason)],
        b"",
    )
}

#[test]
fn tokens_are_listed_without_secrets_revoked_at_once_and_expire() {
    let d = Daemon::start(|_| {});
    let listed = d.get("/v1/tokens", &d.admin);
    assert_eq!(listed.status, 200);
    let body = String::from_utf8_lossy(&listed.body).into_owned();
    for t in [&d.admin, &d.alice, &d.bob] {
        assert!(!body.contains(t.as_str()), "a secret is listed: {body}");
        assert!(
            !body.contains(&server::token_digest(t)),
            "a digest is listed"
        );
    }
    let tokens = listed.json();
    let alice = tokens
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "alice")
        .unwrap()
        .clone();
    assert_eq!(alice["group"], "lab-a");
    assert_eq!(alice["admin"], false);
    assert_eq!(alice["priorities"], json!(["urgent"]));
    assert_eq!(alice["state"], "active");
    assert_eq!(alice["id"].as_str().unwrap().len(), server::TOKEN_ID_LEN);
    assert!(alice["created_at"].is_string());
    d.get("/v1/tokens", &d.alice).error(403, "forbidden");

    // Only an admin revokes: another group's token cannot lock alice out.
    let id = alice["id"].as_str().unwrap();
    post(&d, &format!("/v1/tokens/{id}/revoke"), &d.bob, "").error(403, "forbidden");
    // Revoked through the API: refused on the very next call, though cached.
    assert_eq!(d.get("/v1/runs", &d.alice).status, 200);
    let revoked = post(
        &d,
        &format!("/v1/tokens/{id}/revoke"),
        &d.admin,
        "left the lab",
    );
    assert_eq!(
        revoked.status,
        200,
        "{}",
        String::from_utf8_lossy(&revoked.body)
    );
    assert_eq!(revoked.json()["state"], "revoked");
    let refused = d.get("/v1/runs", &d.alice).error(401, "unauthorized");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("revoked"),
        "{refused}"
    );
    post(&d, &format!("/v1/tokens/{id}/revoke"), &d.admin, "").error(409, "conflict");
    post(&d, "/v1/tokens/nobody-at-all/revoke", &d.admin, "").error(404, "not_found");
    post(&d, "/v1/tokens/ops/revoke", &d.admin, "").error(409, "conflict");
    assert_eq!(
        d.get("/v1/runs", &d.admin).status,
        200,
        "an admin revoked itself"
    );

    // Revoked by another process (`petri token revoke`): refused within the cache's time to live.
    assert_eq!(d.get("/v1/runs", &d.bob).status, 200);
    let now = humantime::format_rfc3339_micros(SystemTime::now()).to_string();
    let outcome = with_store(&d.data, async |s| s.revoke_token("bob", &now, None).await);
    assert!(matches!(outcome.unwrap(), Revocation::Revoked(_)));
    let refused = until_status(&d, "/v1/runs", &d.bob, 401);
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("revoked")
    );

    // Expired: 401 saying so.
    let past = humantime::format_rfc3339(SystemTime::now() - Duration::from_secs(60)).to_string();
    let old = with_store(&d.data, async |s| {
        let spec = TokenSpec {
            name: "old".into(),
            group: "lab-a".into(),
            expires_at: Some(past),
            ..TokenSpec::default()
        };
        server::create_token_with(s, &spec).await.unwrap()
    });
    let refused = d.get("/v1/runs", &old).error(401, "unauthorized");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("expired"),
        "{refused}"
    );
}

/// A pipeline over a sample sheet (its `data` column).
const PER_SAMPLE: &str = r#"
[pipeline]
name = "per-sample"

[inputs.data]

[stages.copy]
module = "testkit"
params = { mode = "copy" }
inputs = { data = "inputs.data" }
"#;

#[test]
fn urgent_and_clinical_work_needs_a_grant() {
    let d = Daemon::start(|_| {});
    assert_eq!(d.upload("/v1/modules", &d.admin, &testkit()).status, 201);
    let data = b"granted\n".repeat(10);
    let sha = |token: &str| {
        let r = d.upload("/v1/blobs", token, &data);
        r.json()["sha256"].as_str().unwrap().to_owned()
    };
    let (for_alice, for_bob) = (sha(&d.alice), sha(&d.bob));
    let submit = |token: &str, blob: &str, priority: &str| {
        let body = json!({
            "pipeline": CHAIN,
            "files": { "data/input.bin": blob },
            "priority": priority,
        });
        d.post_json("/v1/runs", token, &body)
    };
    let refused = submit(&d.bob, &for_bob, "clinical").error(403, "forbidden");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--allow-priority clinical"),
        "{refused}"
    );
    submit(&d.bob, &for_bob, "urgent").error(403, "forbidden");
    assert_eq!(submit(&d.bob, &for_bob, "normal").status, 202);
    assert_eq!(submit(&d.alice, &for_alice, "urgent").status, 202);
    submit(&d.alice, &for_alice, "clinical").error(403, "forbidden");

    // A clinical sample in the sheet is a claim too.
    let sheet = |priority: &str| {
        json!({
            "pipeline": PER_SAMPLE,
            "samples": format!("sample\tdata\tpriority\ns1\ts1.bin\t{priority}\n"),
            "files": { "s1.bin": for_alice },
        })
    };
    d.post_json("/v1/runs", &d.alice, &sheet("clinical"))
        .error(403, "forbidden");
    let ok = d.post_json("/v1/runs", &d.alice, &sheet("urgent"));
    assert_eq!(ok.status, 202, "{}", String::from_utf8_lossy(&ok.body));
}

#[test]
fn every_change_is_in_the_hash_chained_audit_log() {
    let d = Daemon::start(|_| {});
    let r = d.call(
        "POST",
        "/v1/blobs",
        Some(&d.alice),
        &[("X-Petri-Reason", "sample intake 42")],
        b"audited bytes",
    );
    assert_eq!(r.status, 201);
    let blob = r.json()["sha256"].as_str().unwrap().to_owned();
    let accepted = d.post_json(
        "/v1/runs",
        &d.alice,
        &json!({ "pipeline": CHAIN, "files": { "data/input.bin": blob } }),
    );
    // The module is not there: nothing changed, nothing recorded.
    accepted.error(422, "invalid_pipeline");
    assert_eq!(d.upload("/v1/modules", &d.admin, &testkit()).status, 201);
    let accepted = d.post_json(
        "/v1/runs",
        &d.alice,
        &json!({ "pipeline": CHAIN, "files": { "data/input.bin": blob } }),
    );
    let run = accepted.json()["id"].as_str().unwrap().to_owned();
    d.wait(&run, &d.alice);

    d.get("/v1/audit", &d.alice).error(403, "forbidden");
    let page = d.get("/v1/audit", &d.admin).json();
    let entries = page["entries"].as_array().unwrap();
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["POST /v1/blobs", "POST /v1/modules", "POST /v1/runs"]
    );
    let upload = &entries[0];
    assert!(
        upload["actor"]
            .as_str()
            .unwrap()
            .starts_with("token alice (")
    );
    assert_eq!(upload["group"], "lab-a");
    assert_eq!(upload["target"], format!("sha256:{blob}"));
    assert_eq!(upload["reason"], "sample intake 42");
    assert_eq!(upload["prev_hash"], server::GENESIS);
    assert_eq!(entries[1]["prev_hash"], upload["hash"]);
    assert_eq!(entries[2]["target"], run.as_str());
    assert!(entries[2]["at"].is_string());
    // Each head is anchored outside the database as it is written.
    let anchor = std::fs::read_to_string(d.data.join("audit-anchor.log")).unwrap();
    let heads: Vec<String> = entries
        .iter()
        .map(|e| format!("{} {}", e["seq"], e["hash"].as_str().unwrap()))
        .collect();
    assert_eq!(anchor.lines().collect::<Vec<_>>(), heads, "{anchor}");

    let cancelled = d.call(
        "POST",
        &format!("/v1/runs/{run}/cancel"),
        Some(&d.alice),
        &[("X-Petri-Reason", "too late")],
        b"",
    );
    assert_eq!(cancelled.status, 409, "a finished run cannot be cancelled");
    let page = d.get("/v1/audit?after=3", &d.admin).json();
    assert_eq!(
        page["entries"],
        json!([]),
        "a refused change is not a change"
    );
    let verdict = with_store(&d.data, async |s| server::audit_verify(s).await.unwrap());
    assert!(
        matches!(verdict, Verdict::Intact { entries: 3, .. }),
        "{verdict:?}"
    );
    d.get("/v1/audit?limit=0", &d.admin)
        .error(400, "invalid_request");
}

#[test]
fn metrics_show_groups_only_to_admins() {
    let d = Daemon::start(|_| {});
    assert_eq!(d.upload("/v1/modules", &d.admin, &testkit()).status, 201);
    let blob = d.upload("/v1/blobs", &d.bob, b"metrics\n").json()["sha256"].clone();
    let body = json!({ "pipeline": CHAIN, "files": { "data/input.bin": blob } });
    assert_eq!(d.post_json("/v1/runs", &d.bob, &body).status, 202);
    let text = |token: Option<&str>| {
        let r = d.call("GET", "/metrics", token, &[], b"");
        assert_eq!(r.status, 200);
        String::from_utf8(r.body).unwrap()
    };
    let anonymous = text(None);
    assert!(anonymous.contains("petri_runs"), "{anonymous}");
    assert!(!anonymous.contains("group="), "{anonymous}");
    let bob = text(Some(&d.bob));
    assert!(!bob.contains("group="), "{bob}");
    let admin = text(Some(&d.admin));
    assert!(
        admin.contains("petri_group_runs{group=\"lab-b\""),
        "{admin}"
    );
    d.call("GET", "/metrics", Some("petri_nope"), &[], b"")
        .error(401, "unauthorized");
}

#[test]
fn leftover_temp_files_are_removed_when_the_daemon_starts() {
    let mut leftover = None;
    let d = Daemon::start(|c| {
        let tmp = c.data_dir.join("blobs/tmp");
        std::fs::create_dir_all(&tmp).unwrap();
        let file = tmp.join(".tmpAbc123");
        std::fs::write(&file, b"half an upload").unwrap();
        // Left by a process killed a while ago (a fresh file may be one
        // another process is about to lock and write).
        let ago = std::time::SystemTime::now() - std::time::Duration::from_secs(120);
        std::fs::File::options()
            .write(true)
            .open(&file)
            .unwrap()
            .set_modified(ago)
            .unwrap();
        leftover = Some(file);
    });
    let leftover = leftover.unwrap();
    assert!(
        !leftover.exists(),
        "{} survived the start",
        leftover.display()
    );
    assert!(d.data.join("blobs/tmp").is_dir());
}

#[test]
fn a_request_head_that_never_ends_is_cut_off() {
    let d = Daemon::start(|c| c.header_read_timeout_secs = 1);
    let mut s = TcpStream::connect(d.addr).unwrap();
    // Far longer than the timeout: a read that times out means the server kept the connection.
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    s.write_all(b"GET /healthz HT").unwrap();
    let mut rest = Vec::new();
    let closed = s.read_to_end(&mut rest);
    assert!(
        closed.is_ok(),
        "the server kept a half-sent request open: {closed:?}"
    );
    // Whole requests still work.
    assert_eq!(d.call("GET", "/healthz", None, &[], b"").status, 200);
}

/// Waits until `dir` is empty (an abandoned upload's temp file is removed).
fn temp_files_gone(dir: &Path) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::fs::read_dir(dir).unwrap().count() > 0 {
        assert!(
            Instant::now() < deadline,
            "abandoned uploads left temp files"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Whether a temp file in `dir` comes to hold at least `len` bytes (within a minute).
fn temp_file_reaches(dir: &Path, len: u64) -> bool {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let big = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok()?.metadata().ok())
            .any(|m| m.len() >= len);
        if big {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

#[test]
fn uploads_stream_to_disk_as_they_arrive_and_are_capped() {
    let d = Daemon::start(|c| {
        c.max_upload_bytes = 8 << 20;
        c.max_module_bytes = 6 << 20;
    });
    let tmp = d.data.join("blobs/tmp");
    for route in ["/v1/modules", "/v1/blobs"] {
        let mut s = TcpStream::connect(d.addr).unwrap();
        let head = format!(
            "POST {route} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
            d.admin,
            4 << 20
        );
        s.write_all(head.as_bytes()).unwrap();
        let mut half = b"\0asm\x0d\x00\x01\x00".to_vec();
        half.resize(2 << 20, 7);
        s.write_all(&half).unwrap();
        // Half the body sent, none of it answered yet: it is already on disk.
        assert!(
            temp_file_reaches(&tmp, 1 << 20),
            "{route}: the first half of the upload is not on disk"
        );
        drop(s);
        temp_files_gone(&tmp);
    }
    // Over a cap: 413, and nothing is left behind.
    let module = vec![0u8; 7 << 20];
    d.upload("/v1/modules", &d.admin, &module)
        .error(413, "payload_too_large");
    assert_eq!(d.upload("/v1/blobs", &d.admin, &module).status, 201);
    d.upload("/v1/blobs", &d.admin, &vec![1u8; 9 << 20])
        .error(413, "payload_too_large");
    temp_files_gone(&tmp);
}

#[test]
fn an_admin_upload_does_not_re_register_a_version_with_other_bytes() {
    let d = Daemon::start(|_| {});
    assert_eq!(d.upload("/v1/modules", &d.admin, &testkit()).status, 201);
    // The same component with a custom section appended: same manifest, other bytes.
    let mut other = testkit();
    other.extend_from_slice(&[0, 5, 4, b'n', b'o', b't', b'e']);
    let refused = d
        .upload("/v1/modules", &d.admin, &other)
        .error(409, "conflict");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("already registered"),
        "{refused}"
    );
}
