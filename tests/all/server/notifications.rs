//! Notifications over HTTP against real receivers on 127.0.0.1: a delivery is retried until it
//! is taken, signed with the subscription's secret; a receiver down at first gets it once after
//! a daemon restart; each run event reaches only its subscribers; subscriptions are the
//! group's own; a URL to a host the operator did not allow is refused; an https receiver under
//! the operator's CA file gets its delivery, one under an unknown CA gets none, and the
//! delivery records why.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use petri_host::server::{NotifyConfig, is_signed};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};
use serde_json::{Value, json};

use super::Daemon;
use super::tenant::{blob, copy_of, submit};

/// One request a receiver got.
#[derive(Debug, Clone)]
struct Received {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Received {
    fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// A webhook receiver: answers each request with the next status of its
/// script (200 once the script runs out) and keeps what it got.
struct Receiver {
    addr: SocketAddr,
    got: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    fn start(script: &[u16]) -> Receiver {
        Receiver::on(TcpListener::bind("127.0.0.1:0").unwrap(), script, None)
    }

    /// A receiver speaking TLS with `tls`'s certificate.
    fn https(tls: ServerConfig) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        Receiver::on(listener, &[], Some(Arc::new(tls)))
    }

    fn on(listener: TcpListener, script: &[u16], tls: Option<Arc<ServerConfig>>) -> Receiver {
        let addr = listener.local_addr().unwrap();
        let got = Arc::new(Mutex::new(Vec::new()));
        let kept = got.clone();
        let mut script: VecDeque<u16> = script.iter().copied().collect();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let (status, stream) = (script.pop_front().unwrap_or(200), stream.unwrap());
                let received = match &tls {
                    None => answer(stream, status),
                    Some(tls) => {
                        let conn = ServerConnection::new(tls.clone()).unwrap();
                        answer(StreamOwned::new(conn, stream), status)
                    }
                };
                if let Some(r) = received {
                    kept.lock().unwrap().push(r);
                }
            }
        });
        Receiver { addr, got }
    }

    fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    fn https_url(&self) -> String {
        format!("https://{}/hook", self.addr)
    }

    fn got(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// Waits until it got `n` requests.
    fn until(&self, n: usize) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let got = self.got();
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "{} request(s), not {n}",
                got.len()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Reads one HTTP/1.1 request and answers `status`.
fn answer(stream: impl Read + Write, status: u16) -> Option<Received> {
    let mut reader = BufReader::new(stream);
    let mut headers = Vec::new();
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    loop {
        line.clear();
        reader.read_line(&mut line).ok()?;
        let Some((k, v)) = line.trim_end().split_once(':') else {
            break;
        };
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
    }
    let length = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .map_or(0, |(_, v)| v.parse().unwrap());
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    let reply = format!("HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    reader.get_mut().write_all(reply.as_bytes()).ok()?;
    Some(Received { headers, body })
}

/// A daemon (on `data`, if given) that may notify 127.0.0.1, retrying after 1 s, 2 s, 4 s…
fn daemon(data: Option<&Path>) -> Daemon {
    let data = data.map(Path::to_owned);
    let d = Daemon::start(move |c| {
        if let Some(data) = data {
            c.data_dir = data;
        }
        c.notifications = NotifyConfig {
            hosts: vec!["127.0.0.1".into()],
            retry_secs: 1,
            max_attempts: 10,
            timeout_secs: 5,
            ca_file: None,
        };
    });
    let r = d.upload("/v1/modules", &d.admin, &super::testkit());
    assert!(r.status == 201 || r.status == 200, "{}", r.status);
    d
}

/// Subscribes `token`'s group; returns (id, secret).
fn subscribe(d: &Daemon, token: &str, url: &str, events: &[&str]) -> (String, String) {
    let r = d.post_json(
        "/v1/notifications",
        token,
        &json!({ "url": url, "events": events }),
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let v = r.json();
    let secret = v["secret"].as_str().unwrap().to_owned();
    (v["id"].as_str().unwrap().to_owned(), secret)
}

/// Runs a one-stage testkit pipeline for `token` (`mode`: `copy` or `fail`); returns its id.
fn run(d: &Daemon, token: &str, mode: &str) -> String {
    let data = blob(d, token, format!("reads for {mode}\n").as_bytes());
    let pipeline = copy_of("data/input.bin")
        .replace("mode = \"copy\"", &format!("mode = \"{mode}\", record = 9"));
    let id = submit(
        d,
        token,
        &json!({ "pipeline": pipeline, "files": { "data/input.bin": data } }),
    );
    d.wait(&id, token);
    id
}

/// Waits until the subscription's newest delivery is no longer pending.
fn settled(d: &Daemon, token: &str, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let list = d
            .get(&format!("/v1/notifications/{id}/deliveries"), token)
            .json();
        if list[0]["state"].as_str().is_some_and(|s| s != "pending") {
            return list;
        }
        assert!(Instant::now() < deadline, "still pending: {list}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_delivery_is_retried_until_taken_and_signed_with_the_subscriptions_secret() {
    let receiver = Receiver::start(&[500, 500]);
    let d = daemon(None);
    let (sub, secret) = subscribe(&d, &d.alice, &receiver.url(), &["completed", "failed"]);
    // The secret is shown once.
    let listed = d.get("/v1/notifications", &d.alice).json();
    assert_eq!(listed[0]["id"], sub.as_str());
    assert!(listed[0].get("secret").is_none(), "{listed}");

    let id = run(&d, &d.alice, "copy");
    let got = receiver.until(3);
    let delivery = got[0].header("x-petri-delivery").to_owned();
    for r in &got {
        assert_eq!(
            r.header("x-petri-delivery"),
            delivery,
            "one delivery, retried"
        );
        assert_eq!(r.header("x-petri-event"), "completed");
        let signature = r.header("x-petri-signature");
        assert!(
            is_signed(secret.as_bytes(), &r.body, signature),
            "{signature}"
        );
        assert!(!is_signed(b"another secret", &r.body, signature));
    }
    let payload = got[2].json();
    assert_eq!(payload["event"], "completed");
    assert_eq!(payload["run_id"], id.as_str());
    assert_eq!(payload["group"], "lab-a");
    assert_eq!(payload["status"], "COMPLETED");
    assert_eq!(payload["link"], format!("/v1/runs/{id}"));
    assert!(
        payload["id"].is_string() && payload["at"].is_string(),
        "{payload}"
    );

    let list = settled(&d, &d.alice, &sub);
    let row = &list[0];
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(row["state"], "delivered", "{row}");
    assert_eq!(row["attempts"], 3);
    assert_eq!(row["last_status"], 200);
    assert_eq!(row["id"].to_string(), delivery);
    assert_eq!(row["payload"], payload);
    assert!(row["delivered_at"].is_string() && row["next_attempt_at"].is_null());

    let metrics = String::from_utf8(d.call("GET", "/metrics", None, &[], b"").body).unwrap();
    for outcome in ["delivered", "retried"] {
        let line = format!("petri_notification_deliveries_total{{outcome=\"{outcome}\"}}");
        assert!(metrics.contains(&line), "{line} in {metrics}");
    }
}

#[test]
fn a_receiver_down_at_first_gets_the_delivery_once_after_the_daemon_restarts() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    // A port nothing listens on yet.
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let url = format!("http://{addr}/hook");
    let sub = {
        let d = daemon(Some(&data));
        let (sub, _) = subscribe(&d, &d.alice, &url, &["completed"]);
        run(&d, &d.alice, "copy");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let list = d
                .get(&format!("/v1/notifications/{sub}/deliveries"), &d.alice)
                .json();
            if list[0]["attempts"].as_i64().unwrap_or(0) >= 1 {
                assert_eq!(list[0]["state"], "pending", "{list}");
                assert!(list[0]["last_error"].is_string(), "{list}");
                assert!(list[0]["next_attempt_at"].is_string(), "{list}");
                break;
            }
            assert!(Instant::now() < deadline, "never attempted: {list}");
            std::thread::sleep(Duration::from_millis(100));
        }
        sub
    };
    // The receiver comes up while no daemon runs; the restarted one delivers.
    let receiver = Receiver::on(TcpListener::bind(addr).unwrap(), &[], None);
    let d = daemon(Some(&data));
    let got = receiver.until(1);
    assert_eq!(got[0].json()["event"], "completed");
    let list = settled(&d, &d.alice, &sub);
    assert_eq!(list[0]["state"], "delivered", "{list}");
    assert!(list[0]["attempts"].as_i64().unwrap() >= 2, "{list}");
    // Nothing is sent twice.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(receiver.got().len(), 1);
    assert_eq!(list.as_array().unwrap().len(), 1);
}

#[test]
fn each_run_event_reaches_only_its_groups_subscribers_of_it() {
    let (failures, completions, other) = (
        Receiver::start(&[]),
        Receiver::start(&[]),
        Receiver::start(&[]),
    );
    let d = daemon(None);
    subscribe(&d, &d.alice, &failures.url(), &["failed"]);
    subscribe(
        &d,
        &d.alice,
        &completions.url(),
        &["completed", "completed"],
    );
    subscribe(
        &d,
        &d.bob,
        &other.url(),
        &["completed", "failed", "attention"],
    );
    let ok = run(&d, &d.alice, "copy");
    let failed = run(&d, &d.alice, "fail");
    assert_eq!(
        d.get(&format!("/v1/runs/{failed}"), &d.alice).json()["status"],
        "FAILED"
    );
    let f = failures.until(1);
    let c = completions.until(1);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(failures.got().len(), 1);
    assert_eq!(completions.got().len(), 1);
    assert_eq!(
        (f[0].json()["run_id"].clone(), f[0].json()["status"].clone()),
        (json!(failed), json!("FAILED"))
    );
    assert_eq!(f[0].header("x-petri-event"), "failed");
    assert_eq!(c[0].json()["run_id"], ok.as_str());
    assert!(
        other.got().is_empty(),
        "lab-b hears nothing of lab-a's runs"
    );
}

#[test]
fn subscriptions_are_the_groups_own_and_point_only_at_allowed_hosts() {
    let d = daemon(None);
    let (sub, _) = subscribe(&d, &d.alice, "http://127.0.0.1:9/hook", &["attention"]);
    // lab-b: another group's subscription is as unknown as a missing one.
    assert_eq!(d.get("/v1/notifications", &d.bob).json(), json!([]));
    for id in [sub.as_str(), "0190-missing"] {
        d.get(&format!("/v1/notifications/{id}/deliveries"), &d.bob)
            .error(404, "not_found");
        d.call(
            "DELETE",
            &format!("/v1/notifications/{id}"),
            Some(&d.bob),
            &[],
            b"",
        )
        .error(404, "not_found");
    }
    assert_eq!(
        d.get(&format!("/v1/notifications/{sub}/deliveries"), &d.alice)
            .json(),
        json!([])
    );
    d.call("GET", "/v1/notifications", None, &[], b"")
        .error(401, "unauthorized");

    // The daemon POSTs only to http:// URLs of the hosts its operator listed.
    for url in [
        "http://169.254.169.254/latest/meta-data",
        "http://localhost:8080/",
        "https://localhost/hook",
        "http://user@127.0.0.1/",
        "file:///etc/passwd",
    ] {
        let r = d.post_json(
            "/v1/notifications",
            &d.alice,
            &json!({ "url": url, "events": ["failed"] }),
        );
        let v = r.error(422, "invalid_field");
        assert!(
            v["error"]["message"].as_str().unwrap().starts_with("url: "),
            "{v}"
        );
    }
    let none = json!({ "url": "http://127.0.0.1/", "events": [] });
    let v = d
        .post_json("/v1/notifications", &d.alice, &none)
        .error(422, "invalid_field");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("events: "),
        "{v}"
    );
    let unknown = json!({ "url": "http://127.0.0.1/", "events": ["started"] });
    d.post_json("/v1/notifications", &d.alice, &unknown)
        .error(400, "invalid_request");

    // Deleting is the group's: then it is gone.
    let path = format!("/v1/notifications/{sub}");
    assert_eq!(
        d.call("DELETE", &path, Some(&d.alice), &[], b"").status,
        204
    );
    d.call("DELETE", &path, Some(&d.alice), &[], b"")
        .error(404, "not_found");
    assert_eq!(d.get("/v1/notifications", &d.alice).json(), json!([]));
}

/// Runs `openssl` in `dir`.
fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA `NAME.pem` (key `NAME.key`) in `dir`, and a server certificate it
/// signed for 127.0.0.1: the TLS config of a receiver presenting it.
fn ca_and_server(dir: &Path, name: &str) -> ServerConfig {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let (ca, ca_key) = (format!("{name}.pem"), format!("{name}.key"));
    let (leaf, leaf_key) = (format!("{name}-server.pem"), format!("{name}-server.key"));
    let subject = format!("/CN=petri test CA {name}");
    let mut args = vec!["req", "-x509", "-days", "2", "-subj", &subject];
    args.extend(ec);
    args.extend(["-keyout", &ca_key, "-out", &ca]);
    args.extend(["-addext", "basicConstraints=critical,CA:TRUE"]);
    args.extend(["-addext", "keyUsage=critical,keyCertSign"]);
    openssl(dir, &args);
    let mut args = vec!["req", "-subj", "/CN=127.0.0.1", "-out", "server.csr"];
    args.extend(ec);
    args.extend(["-keyout", &leaf_key]);
    openssl(dir, &args);
    std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            &ca,
            "-CAkey",
            &ca_key,
            "-days",
            "2",
            "-extfile",
            "san.ext",
            "-out",
            &leaf,
        ],
    );
    let chain = vec![CertificateDer::from_pem_file(dir.join(&leaf)).unwrap()];
    let key = PrivateKeyDer::from_pem_file(dir.join(&leaf_key)).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap()
}

#[test]
fn an_https_receiver_under_the_ca_file_gets_the_delivery_and_an_unknown_ca_records_why() {
    let certs = tempfile::tempdir().unwrap();
    let (trusted, unknown) = (
        Receiver::https(ca_and_server(certs.path(), "lab")),
        Receiver::https(ca_and_server(certs.path(), "elsewhere")),
    );
    let ca_file = certs.path().join("lab.pem");
    let d = Daemon::start(move |c| {
        c.notifications = NotifyConfig {
            hosts: vec!["127.0.0.1".into()],
            retry_secs: 1,
            max_attempts: 1,
            timeout_secs: 5,
            ca_file: Some(ca_file),
        };
    });
    let r = d.upload("/v1/modules", &d.admin, &super::testkit());
    assert!(r.status == 201 || r.status == 200, "{}", r.status);
    let (good, secret) = subscribe(&d, &d.alice, &trusted.https_url(), &["completed"]);
    let (bad, _) = subscribe(&d, &d.alice, &unknown.https_url(), &["completed"]);
    let id = run(&d, &d.alice, "copy");

    let got = trusted.until(1);
    assert_eq!(got[0].json()["run_id"], id.as_str());
    assert!(is_signed(
        secret.as_bytes(),
        &got[0].body,
        got[0].header("x-petri-signature")
    ));
    let list = settled(&d, &d.alice, &good);
    assert_eq!(list[0]["state"], "delivered", "{list}");
    assert_eq!(list[0]["last_status"], 200);

    let list = settled(&d, &d.alice, &bad);
    assert_eq!(list[0]["state"], "failed", "{list}");
    assert!(list[0]["last_status"].is_null(), "{list}");
    let why = list[0]["last_error"].as_str().unwrap_or_default();
    assert!(
        why.starts_with("TLS: ") && why.contains("UnknownIssuer") && why.contains("ca-file"),
        "{why}"
    );
    assert!(
        unknown.got().is_empty(),
        "no request crossed the failed handshake"
    );
}
