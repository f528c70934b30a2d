//! The operators' dashboard (`/ui`) in a real headless Chromium and the `/v1/events` stream over
//! plain HTTP, against a daemon running the bundled testkit plugin: pages render real runs,
//! a stage held by an instrument that is down changes state on screen when an admin frees it,
//! groups stay isolated, forms need their CSRF token, and revoked tokens stop at once; the runs
//! list names each run's trigger and adds triggered runs live; a stage out of retries is an
//! `attention` event.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::browser::Browser;
use super::daemon::{client, ok_json, ok_output, start, stop, terminate};
use super::petri;

/// A two-stage copy that uses no instrument.
const COPY: &str = r#"
[pipeline]
name = "ui-copy"

[inputs.data]
path = "input.bin"

[stages.first]
module = "testkit"
params = { mode = "copy" }
inputs = { data = "inputs.data" }

[stages.second]
module = "testkit"
params = { mode = "copy" }
inputs = { data = "first.out" }
"#;

/// Its second stage needs the `seq` instrument; its name carries markup that must arrive escaped.
const HELD: &str = r#"
[pipeline]
name = "ui-held <img src=x onerror=alert(1)>"

[inputs.data]
path = "input.bin"

[stages.prep]
module = "testkit"
params = { mode = "copy" }
inputs = { data = "inputs.data" }

[stages.sequence]
module = "testkit"
params = { mode = "copy" }
inputs = { data = "prep.out" }
resources = { instrument = "seq" }
"#;

/// A sequencer the held stage waits for, and the compute every other stage runs on.
const INSTRUMENTS: &str = "[instruments.seq-1]\nclass = \"seq\"\ncapacity = 1\n\n[instruments.cpu]\nclass = \"compute\"\ncapacity = 4\n";

/// A daemon with a `seq` instrument and a `compute` one, the testkit registered, and tokens
/// for an admin and groups `lab-a` and `lab-b`.
struct Lab {
    daemon: Child,
    url: String,
    data: PathBuf,
    admin: String,
    a: String,
    b: String,
    dir: tempfile::TempDir,
}

impl Drop for Lab {
    fn drop(&mut self) {
        // Not asserted: a panic in drop while the test is failing would abort the report.
        let _ = terminate(&mut self.daemon);
    }
}

fn token(data: &Path, group: &str, admin: bool) -> String {
    let mut args = vec!["token", "create", "--group", group];
    if admin {
        args.push("--admin");
    }
    let out = petri(data, &args);
    ok_output(&out);
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

impl Lab {
    fn start() -> Lab {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let calendar = dir.path().join("instruments.toml");
        std::fs::write(&calendar, INSTRUMENTS).unwrap();
        ok_output(&petri(&data, &["plugin", "add", petri_plugins::TESTKIT]));
        let (admin, a, b) = (
            token(&data, "ops", true),
            token(&data, "lab-a", false),
            token(&data, "lab-b", false),
        );
        let flags = [
            "--instruments",
            calendar.to_str().unwrap(),
            "--rate-limit-per-second",
            "1000",
            "--rate-limit-burst",
            "1000",
        ];
        let (daemon, url) = start(&data, &dir.path().join("daemon.log"), &flags);
        Lab {
            daemon,
            url,
            data,
            admin,
            a,
            b,
            dir,
        }
    }

    /// Submits `pipeline` on its own input bytes as `token`'s group; the run id.
    fn submit(&self, name: &str, pipeline: &str, token: &str) -> String {
        let p = self.dir.path().join(name);
        std::fs::create_dir_all(&p).unwrap();
        std::fs::write(p.join("input.bin"), format!("{name}\n").repeat(2000)).unwrap();
        std::fs::write(p.join("pipeline.toml"), pipeline).unwrap();
        let file = p.join("pipeline.toml");
        let out = client(&self.url, token, &["submit", file.to_str().unwrap()]);
        ok_output(&out);
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    fn run(&self, id: &str, token: &str) -> Value {
        ok_json(client(&self.url, token, &["status", id, "--json"]))
    }

    /// Waits until the run satisfies `done`.
    fn wait(&self, id: &str, token: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            let run = self.run(id, token);
            if done(&run) {
                return run;
            }
            assert!(Instant::now() < deadline, "run {id} never got there: {run}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Waits until the run's `stage` is pending with its instrument down.
    fn wait_held(&self, id: &str, token: &str) {
        self.wait(id, token, |r| {
            stage_status(r, "sequence") == "pending" && stage_status(r, "prep") == "succeeded"
        });
    }

    fn set_instrument(&self, state: &str) {
        let mut r = agent()
            .put(format!("{}/v1/instruments/seq-1/state", self.url))
            .header("Authorization", &format!("Bearer {}", self.admin))
            .send_json(json!({ "state": state }))
            .unwrap();
        assert_eq!(
            r.status(),
            200,
            "{}",
            r.body_mut().read_to_string().unwrap()
        );
    }
}

fn stage_status(run: &Value, stage: &str) -> String {
    run["stages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["stage"] == stage)
        .and_then(|s| s["status"].as_str())
        .unwrap_or_default()
        .to_owned()
}

/// An HTTP client that returns every status as it is and follows no redirect.
fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into()
}

/// A response's status, `Location` and body.
fn answer(mut r: ureq::http::Response<ureq::Body>) -> (u16, String, String) {
    let location = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = r.body_mut().read_to_string().unwrap_or_default();
    (r.status().as_u16(), location, body)
}

/// Signs in with `token` over plain HTTP; the session cookie (`name=value`) or the refusal.
fn login(url: &str, token: &str) -> Result<String, (u16, String)> {
    let r = agent()
        .post(format!("{url}/ui/login"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .send(format!("token={token}"))
        .unwrap();
    let cookie = r
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    match answer(r) {
        (303, location, _) if location == "/ui/runs" => {
            let cookie = cookie.unwrap();
            for attribute in ["HttpOnly", "SameSite=Strict", "Path=/ui"] {
                assert!(cookie.contains(attribute), "{cookie}");
            }
            Ok(cookie.split(';').next().unwrap().to_owned())
        }
        (status, _, body) => Err((status, body)),
    }
}

fn ui_get(url: &str, cookie: &str, path: &str) -> (u16, String, String) {
    answer(
        agent()
            .get(format!("{url}{path}"))
            .header("Cookie", cookie)
            .call()
            .unwrap(),
    )
}

fn ui_post(url: &str, cookie: &str, path: &str, form: &str) -> (u16, String, String) {
    answer(
        agent()
            .post(format!("{url}{path}"))
            .header("Cookie", cookie)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .send(form.to_owned())
            .unwrap(),
    )
}

/// Follows `/v1/events` (with `query`) as `token`: each event's name and data, as they come.
fn listen(url: &str, token: &str, query: &str) -> mpsc::Receiver<(String, Value)> {
    let r = agent()
        .get(format!("{url}/v1/events{query}"))
        .header("Authorization", &format!("Bearer {token}"))
        .call()
        .unwrap();
    assert_eq!(r.status(), 200);
    let content_type = r.headers().get("content-type").unwrap().to_str().unwrap();
    assert!(
        content_type.starts_with("text/event-stream"),
        "{content_type}"
    );
    let reader = BufReader::new(r.into_body().into_reader());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut name = String::new();
        for line in reader.lines() {
            let Ok(line) = line else { return };
            if let Some(n) = line.strip_prefix("event:") {
                name = n.trim().to_owned();
            } else if let Some(data) = line.strip_prefix("data:") {
                let data = serde_json::from_str(data.trim()).unwrap();
                if tx.send((name.clone(), data)).is_err() {
                    return;
                }
            }
        }
    });
    rx
}

/// Events from `rx` up to and including the first that satisfies `until`.
fn read_until(
    rx: &mpsc::Receiver<(String, Value)>,
    until: impl Fn(&str, &Value) -> bool,
) -> Vec<(String, Value)> {
    let mut seen = Vec::new();
    loop {
        let e = rx
            .recv_timeout(Duration::from_secs(300))
            .unwrap_or_else(|_| panic!("the stream ended or went quiet; so far: {seen:?}"));
        let stop = until(&e.0, &e.1);
        seen.push(e);
        if stop {
            return seen;
        }
    }
}

fn mentions(events: &[(String, Value)], run: &str) -> bool {
    events.iter().any(|(_, d)| d["run_id"] == run)
}

fn has(events: &[(String, Value)], run: &str, kind: &str, status: &str) -> bool {
    events
        .iter()
        .any(|(n, d)| n == kind && d["run_id"] == run && d["status"] == status)
}

#[test]
fn the_event_stream_is_tenant_scoped_starts_with_a_snapshot_and_carries_changes() {
    let lab = Lab::start();
    lab.set_instrument("down");
    let a = lab.submit("a", HELD, &lab.a);
    let b = lab.submit("b", HELD, &lab.b);
    lab.wait_held(&a, &lab.a);
    lab.wait_held(&b, &lab.b);

    // On connect: the current state of the group's unfinished runs, then `synced`.
    let (sa, sb, sx) = (
        listen(&lab.url, &lab.a, ""),
        listen(&lab.url, &lab.b, ""),
        listen(&lab.url, &lab.admin, ""),
    );
    let first_a = read_until(&sa, |n, _| n == "synced");
    assert!(has(&first_a, &a, "run", "RUNNING"), "{first_a:?}");
    assert!(has(&first_a, &a, "stage", "pending"), "{first_a:?}");
    assert!(has(&first_a, &a, "stage", "succeeded"), "prep: {first_a:?}");
    assert!(
        !mentions(&first_a, &b),
        "lab-a sees lab-b's run: {first_a:?}"
    );
    let first_x = read_until(&sx, |n, _| n == "synced");
    assert!(
        mentions(&first_x, &a) && mentions(&first_x, &b),
        "admin sees every group"
    );

    // An admin frees the instrument: both runs go on, and their changes arrive.
    lab.set_instrument("up");
    let later_a = read_until(&sa, |n, d| {
        n == "run" && d["run_id"] == a && d["status"] == "COMPLETED"
    });
    assert!(
        later_a.iter().any(|(n, d)| n == "stage"
            && d["stage"] == "sequence"
            && d["status"] == "succeeded"
            && d["instrument"] == "seq-1"),
        "{later_a:?}"
    );
    let all_b = read_until(&sb, |n, d| {
        n == "run" && d["run_id"] == b && d["status"] == "COMPLETED"
    });
    assert!(
        !mentions(&all_b, &a),
        "lab-b's stream carried lab-a's run: {all_b:?}"
    );
    assert!(has(&all_b, &b, "stage", "succeeded"));
    drop((sa, sb, sx));

    // Reconnecting to one run: its current (final) state first.
    let one = listen(&lab.url, &lab.a, &format!("?run={a}"));
    let again = read_until(&one, |n, _| n == "synced");
    assert!(has(&again, &a, "run", "COMPLETED"), "{again:?}");
    // Another group's run, or no token: refused.
    let (status, _, body) = answer(
        agent()
            .get(format!("{}/v1/events?run={a}", lab.url))
            .header("Authorization", &format!("Bearer {}", lab.b))
            .call()
            .unwrap(),
    );
    assert_eq!(status, 404, "{body}");
    let (status, _, _) = answer(
        agent()
            .get(format!("{}/v1/events", lab.url))
            .call()
            .unwrap(),
    );
    assert_eq!(status, 401);
}

/// Where screenshots go: a temp dir, or docs/images with PETRI_SAVE_SCREENSHOTS set.
fn shot(browser: &mut Browser, dir: &Path, name: &str) {
    let path = dir.join(format!("ui-{name}.png"));
    browser.screenshot(&path);
    let png = std::fs::read(&path).unwrap();
    assert!(png.len() > 10_000, "{name}: {} bytes", png.len());
    if std::env::var_os("PETRI_SAVE_SCREENSHOTS").is_some() {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/images");
        std::fs::create_dir_all(&docs).unwrap();
        std::fs::copy(&path, docs.join(format!("ui-{name}.png"))).unwrap();
    }
}

/// Signs in through the login form in the browser.
fn browser_login(browser: &mut Browser, url: &str, token: &str) {
    browser.navigate(&format!("{url}/ui/login"));
    browser.eval(&format!(
        "document.getElementById('token').value = {}; document.forms[0].submit(); true",
        json!(token)
    ));
    browser.wait_for("location.pathname === '/ui/runs' && document.readyState === 'complete'");
}

/// Submits the form matching `selector` after `fill` (script) and waits for `then`.
fn submit_form(browser: &mut Browser, selector: &str, fill: &str, then: &str) {
    browser.eval(&format!(
        "(() => {{ const f = document.querySelector({}); {fill}; f.submit(); return true; }})()",
        json!(selector)
    ));
    browser.wait_for(then);
}

#[test]
fn the_dashboard_shows_live_runs_to_their_group_only_behind_csrf_checked_forms() {
    let lab = Lab::start();
    let url = lab.url.clone();
    let shots = lab.dir.path().join("shots");
    std::fs::create_dir_all(&shots).unwrap();
    let mut browser = Browser::start();

    // An unsigned visit goes to the login form; an admin signs in and takes the instrument down.
    browser.navigate(&format!("{url}/ui/runs"));
    assert_eq!(browser.eval("location.pathname"), "/ui/login");
    browser_login(&mut browser, &url, &lab.admin);
    browser.goto(&format!("{url}/ui/instruments"));
    submit_form(
        &mut browser,
        "form[action='/ui/instruments/seq-1/state']",
        "f.querySelector('select').value = 'down'",
        "document.getElementById('notice')?.textContent === 'seq-1 is now down'",
    );
    submit_form(
        &mut browser,
        "form[action='/ui/instruments/seq-1/maintenance']",
        "f.start.value = '2030-01-07T08:00:00Z'; f.end.value = '2030-01-07T12:00:00Z'; f.note.value = 'vendor <visit>'",
        "document.getElementById('notice')?.textContent === 'maintenance added to seq-1'",
    );
    let instruments = browser.dom();
    assert!(
        instruments.contains("vendor &lt;visit&gt;"),
        "{instruments}"
    );
    assert!(
        instruments.contains("data-key=\"state-seq-1\">down<"),
        "{instruments}"
    );

    // Real runs: one that completes, one held by the instrument, one of another group.
    let copy = lab.submit("copy", COPY, &lab.a);
    let held = lab.submit("held", HELD, &lab.a);
    let other = lab.submit("other", COPY, &lab.b);
    lab.wait(&copy, &lab.a, |r| r["status"] == "COMPLETED");
    lab.wait(&other, &lab.b, |r| r["status"] == "COMPLETED");
    lab.wait_held(&held, &lab.a);

    // The held run's page, live: the stage goes from pending to succeeded on screen.
    browser.goto(&format!("{url}/ui/runs/{held}"));
    browser.wait_for("document.body.dataset.live === 'synced'");
    let sequence = "document.querySelector('[data-key=\"default/sequence\"]').textContent";
    assert_eq!(browser.eval(sequence), "pending");
    browser.eval("window.samePage = 'yes'");
    shot(&mut browser, &shots, "run-live");
    lab.set_instrument("up");
    browser.wait_for(&format!("{sequence} === 'succeeded'"));
    browser.wait_for("document.querySelector('[data-key=\"run\"]').textContent === 'COMPLETED'");
    assert_eq!(
        browser.eval("window.samePage"),
        "yes",
        "the page was reloaded"
    );

    // Every section of the finished run, as Chromium built it.
    browser.goto(&format!("{url}/ui/runs/{held}"));
    let run = browser.dom();
    for part in [
        "id=\"dag\"",
        "data-node=\"prep\"",
        "data-node=\"sequence\"",
        "id=\"timeline-seq-1\"",
        "id=\"attempts\"",
        "id=\"outputs\"",
        "id=\"logs\"",
        "id=\"events\"",
        "id=\"modules\"",
        "ui-held &lt;img src=x onerror=alert(1)&gt;",
    ] {
        assert!(run.contains(part), "{part} is not on the run page:\n{run}");
    }
    assert!(!run.contains("<img"), "markup injected into the page");
    let root = lab.run(&held, &lab.a)["root"].as_str().unwrap().to_owned();
    assert!(run.contains(&root), "the Merkle root");
    let download = browser.eval(
        "fetch(document.querySelector('#outputs a').href).then(r => r.status + ' ' + r.headers.get('content-type'))",
    );
    assert!(download.as_str().unwrap().starts_with("200"), "{download}");
    shot(&mut browser, &shots, "run");
    submit_form(
        &mut browser,
        "form[action$=verify]",
        "",
        "document.getElementById('verdict') !== null",
    );
    let verdict = browser.eval("document.getElementById('verdict').textContent");
    assert!(
        verdict
            .as_str()
            .unwrap()
            .starts_with("Verified: 2 stage(s)"),
        "{verdict}"
    );
    browser.goto(&format!("{url}/ui/runs/{held}/report"));
    assert!(
        browser.dom().contains("<table id=\"dag\""),
        "the run's report"
    );

    // The other pages, with the runs above.
    browser.goto(&format!("{url}/ui/runs"));
    let runs = browser.dom();
    for id in [&copy, &held, &other] {
        assert!(runs.contains(id.as_str()), "an admin sees run {id}");
    }
    shot(&mut browser, &shots, "runs");
    browser.goto(&format!("{url}/ui/runs?status=COMPLETED&pipeline=ui-copy"));
    let filtered = browser.dom();
    assert!(
        filtered.contains(&copy) && !filtered.contains(&held),
        "filtered by pipeline"
    );
    browser.goto(&format!("{url}/ui/instruments"));
    shot(&mut browser, &shots, "instruments");
    // A promotion (shadowed on the runs above) is in the name's history with its verdict.
    let rebuilt = lab.dir.path().join("rebuilt.wasm");
    std::fs::write(&rebuilt, petri_plugins::testkit_rebuilt().unwrap()).unwrap();
    let promoted = petri(
        &lab.data,
        &[
            "plugin",
            "promote",
            "testkit",
            rebuilt.to_str().unwrap(),
            "--shadow",
            "3",
            "--json",
        ],
    );
    ok_output(&promoted);
    let report: Value = serde_json::from_slice(&promoted.stdout).unwrap();
    let compared = report["executions"].as_array().unwrap().len();
    assert!(compared > 0, "{report}");
    browser.goto(&format!("{url}/ui/modules"));
    let modules = browser.dom();
    assert!(
        modules.contains("id=\"registry\"") && modules.contains(">testkit<"),
        "{modules}"
    );
    for part in [
        ">registered<".to_owned(),
        ">promoted<".to_owned(),
        "data-shadow=\"identical\"".to_owned(),
        format!("{compared} of {compared} execution(s) identical"),
    ] {
        assert!(modules.contains(&part), "{part}: {modules}");
    }
    shot(&mut browser, &shots, "modules");
    browser.goto(&format!("{url}/ui/usage"));
    let usage = browser.dom();
    for group in ["lab-a", "lab-b", "ops"] {
        assert!(usage.contains(&format!(">{group}<")), "{group}: {usage}");
    }
    shot(&mut browser, &shots, "usage");

    // Signed out, then in as lab-b: lab-a's run is as missing as a run that does not exist.
    submit_form(
        &mut browser,
        "form[action='/ui/logout']",
        "",
        "location.pathname === '/ui/login'",
    );
    browser_login(&mut browser, &url, &lab.b);
    let runs_b = browser.dom();
    assert!(runs_b.contains(&other) && !runs_b.contains(&held) && !runs_b.contains(&copy));
    browser.goto(&format!("{url}/ui/runs/{held}"));
    let hidden = browser.dom();
    assert!(
        hidden.contains("id=\"error\"") && !hidden.contains("ui-held"),
        "{hidden}"
    );

    let cookie_b = login(&url, &lab.b).unwrap();
    let missing = "0190d0d0-0000-7000-8000-000000000000";
    let (s1, _, foreign) = ui_get(&url, &cookie_b, &format!("/ui/runs/{held}"));
    let (s2, _, absent) = ui_get(&url, &cookie_b, &format!("/ui/runs/{missing}"));
    assert_eq!((s1, s2), (404, 404));
    assert_eq!(
        foreign.replace(&held, "ID"),
        absent.replace(missing, "ID"),
        "the same 404"
    );
    let output = lab.run(&held, &lab.a)["stages"][0]["outputs"][0]["sha256"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        ui_get(&url, &cookie_b, &format!("/ui/artifacts/{output}")).0,
        404
    );
    assert_eq!(
        ui_get(&url, &cookie_b, &format!("/ui/events?run={held}")).0,
        404
    );
    assert_eq!(
        ui_get(&url, &cookie_b, &format!("/ui/runs/{held}/report")).0,
        404
    );

    // State changes need the session's CSRF token.
    let cookie_x = login(&url, &lab.admin).unwrap();
    for form in ["state=down", "state=down&csrf=sha256%3D00"] {
        let (status, _, body) = ui_post(&url, &cookie_x, "/ui/instruments/seq-1/state", form);
        assert_eq!(status, 403, "{body}");
    }
    assert_eq!(
        ui_post(&url, &cookie_x, &format!("/ui/runs/{held}/verify"), "").0,
        403
    );
    assert_eq!(ui_post(&url, &cookie_x, "/ui/logout", "").0, 403);
    let instruments = ui_get(&url, &cookie_x, "/ui/instruments").2;
    assert!(
        instruments.contains("data-key=\"state-seq-1\">up<"),
        "the refused form changed nothing"
    );
    // A lab token is no admin: the form is refused even with its token.
    let (_, _, page_b) = ui_get(&url, &cookie_b, "/ui/runs");
    let csrf_b = page_b
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .replace('=', "%3D");
    let form = format!("state=down&csrf={csrf_b}");
    assert_eq!(
        ui_post(&url, &cookie_b, "/ui/instruments/seq-1/state", &form).0,
        403
    );

    // Bad and revoked tokens: refused at login, and a revoked session ends at once.
    assert_eq!(login(&url, "petri_0000").unwrap_err().0, 401);
    let c = token(&lab.data, "lab-a", false);
    let cookie_c = login(&url, &c).unwrap();
    assert_eq!(ui_get(&url, &cookie_c, "/ui/runs").0, 200);
    let id = &petri_host::server::token_digest(&c)[..petri_host::server::TOKEN_ID_LEN];
    let (status, _, body) = answer(
        agent()
            .post(format!("{url}/v1/tokens/{id}/revoke"))
            .header("Authorization", &format!("Bearer {}", lab.admin))
            .send_empty()
            .unwrap(),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(ui_get(&url, &cookie_c, "/ui/runs").1, "/ui/login");
    assert_eq!(login(&url, &c).unwrap_err().0, 401);
}

#[test]
fn the_session_cookie_is_secure_only_where_the_config_asks_for_it() {
    for (config, secure) in [("", false), ("[ui]\nsecure-cookie = true\n", true)] {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let lab = token(&data, "lab-a", false);
        let file = dir.path().join("petri.toml");
        std::fs::write(&file, config).unwrap();
        let (daemon, url) = start(
            &data,
            &dir.path().join("daemon.log"),
            &["--config", file.to_str().unwrap()],
        );
        let r = agent()
            .post(format!("{url}/ui/login"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .send(format!("token={lab}"))
            .unwrap();
        let cookie = r
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        stop(daemon);
        assert_eq!(r.status().as_u16(), 303, "{cookie}");
        assert!(cookie.starts_with("petri_session=petri_"), "{cookie}");
        assert_eq!(
            cookie.split("; ").any(|a| a == "Secure"),
            secure,
            "{config}: {cookie}"
        );
    }
}

/// A daemon whose webhook trigger `lims` (secret `s3cret`) submits a one-stage copy for
/// lab-a, with tokens of lab-a and lab-b.
struct Triggered {
    daemon: Child,
    url: String,
    a: String,
    b: String,
    _dir: tempfile::TempDir,
}

impl Triggered {
    fn start() -> Triggered {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        ok_output(&petri(&data, &["plugin", "add", petri_plugins::TESTKIT]));
        let (a, b) = (token(&data, "lab-a", false), token(&data, "lab-b", false));
        let pipeline = dir.path().join("sheet-copy.toml");
        std::fs::write(
            &pipeline,
            "[inputs.data]\n\n[stages.copy]\nmodule = \"testkit\"\nparams = { mode = \"copy\" }\n\
             inputs = { data = \"inputs.data\" }\n",
        )
        .unwrap();
        let secret = dir.path().join("secret");
        std::fs::write(&secret, "s3cret\n").unwrap();
        let config = dir.path().join("petri.toml");
        std::fs::write(
            &config,
            format!(
                "[triggers.lims]\npipeline = \"{}\"\ngroup = \"lab-a\"\nsecret-file = \"{}\"\n",
                pipeline.display(),
                secret.display()
            ),
        )
        .unwrap();
        let (daemon, url) = start(
            &data,
            &dir.path().join("daemon.log"),
            &["--config", config.to_str().unwrap()],
        );
        Triggered {
            daemon,
            url,
            a,
            b,
            _dir: dir,
        }
    }

    /// Lab-a uploads reads and the LIMS delivers a sheet naming them; the run's id.
    fn deliver(&self, reads: &[u8]) -> String {
        let uploaded = agent()
            .post(format!("{}/v1/blobs", self.url))
            .header("Authorization", &format!("Bearer {}", self.a))
            .send(reads)
            .unwrap();
        let (_, _, uploaded) = answer(uploaded);
        let sha: Value = serde_json::from_str(&uploaded).unwrap();
        let body = json!({
            "samples": "sample\tdata\ns1\treads/s1.bin\n",
            "files": { "reads/s1.bin": sha["sha256"] },
        })
        .to_string();
        let delivered = agent()
            .post(format!("{}/v1/triggers/lims", self.url))
            .header("Content-Type", "application/json")
            .header(
                "X-Petri-Signature",
                &petri_host::server::sign(b"s3cret", body.as_bytes()),
            )
            .send(body.as_bytes())
            .unwrap();
        let (status, _, accepted) = answer(delivered);
        assert_eq!(status, 202, "{accepted}");
        serde_json::from_str::<Value>(&accepted).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}

impl Drop for Triggered {
    fn drop(&mut self) {
        terminate(&mut self.daemon);
    }
}

#[test]
fn a_webhook_delivery_is_a_trigger_event_of_its_groups_stream_and_on_its_run_page() {
    let t = Triggered::start();
    let (sa, sb) = (listen(&t.url, &t.a, ""), listen(&t.url, &t.b, ""));
    read_until(&sa, |n, _| n == "synced");
    let id = t.deliver(b"reads of s1\n");

    // lab-a's stream names the delivery before the run's events go on.
    let seen = read_until(&sa, |n, d| {
        n == "run" && d["run_id"] == id.as_str() && d["status"] == "COMPLETED"
    });
    let trigger = seen
        .iter()
        .position(|(n, d)| n == "trigger" && d["run_id"] == id.as_str())
        .unwrap_or_else(|| panic!("no trigger event: {seen:?}"));
    assert_eq!(seen[trigger].1["trigger"], "lims", "{seen:?}");
    assert!(
        seen[trigger].1["received_at"].as_str().unwrap().len() >= 20,
        "{seen:?}"
    );
    assert!(
        !seen[trigger..]
            .iter()
            .skip(1)
            .any(|(n, d)| n == "trigger" && d["run_id"] == id.as_str()),
        "sent twice: {seen:?}"
    );
    // lab-b's stream carried nothing of it (a poll later, still nothing).
    std::thread::sleep(Duration::from_secs(1));
    let other: Vec<(String, Value)> = sb.try_iter().collect();
    assert!(!mentions(&other, &id), "{other:?}");

    // The run page says which trigger started the run.
    let cookie = login(&t.url, &t.a).unwrap();
    let (status, _, page) = ui_get(&t.url, &cookie, &format!("/ui/runs/{id}"));
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("id=\"trigger\""), "{page}");
    assert!(page.contains(">lims</span>"), "{page}");
}

#[test]
fn the_runs_list_shows_which_trigger_submitted_each_run_and_adds_new_ones_live() {
    let t = Triggered::start();
    let first = t.deliver(b"reads before the page\n");
    let mut browser = Browser::start();
    browser_login(&mut browser, &t.url, &t.a);
    let cell = |id: &str| format!("document.querySelector('[data-trigger=\"{id}\"]')?.textContent");
    // Rendered by the server for a run that was there before the page.
    assert_eq!(browser.eval(&cell(&first)), "lims");
    browser.wait_for("document.body.dataset.live === 'synced'");
    browser.eval("window.samePage = 'yes'");

    // A delivery while the page is open: its row appears, named after its trigger, and its
    // status follows the run to its end, without a reload.
    let id = t.deliver(b"reads while the page is open\n");
    browser.wait_for(&format!("{} === 'lims'", cell(&id)));
    let status = format!("document.querySelector('[data-key=\"status-{id}\"]')?.textContent");
    browser.wait_for(&format!("{status} === 'COMPLETED'"));
    assert_eq!(
        browser.eval("window.samePage"),
        "yes",
        "the page was reloaded"
    );
    let row = browser.eval(&format!(
        "document.querySelector('[data-trigger=\"{id}\"]').closest('tr').cells[3].textContent"
    ));
    assert_eq!(row, "lab-a");

    // Another group's list shows neither run.
    let cookie = login(&t.url, &t.b).unwrap();
    let (code, _, page) = ui_get(&t.url, &cookie, "/ui/runs");
    assert_eq!(code, 200, "{page}");
    assert!(!page.contains(&first) && !page.contains(&id), "{page}");
}

/// One stage that spins until its fuel runs out, retried once with twice the fuel.
const EXHAUSTED: &str = r#"
[pipeline]
name = "ui-exhausted"

[inputs.data]
path = "input.bin"

[stages.spin]
module = "testkit"
params = { mode = "spin" }
inputs = { data = "inputs.data" }
policy = { fuel = 2_000_000, fuel-growth = 2, max-attempts = 2, allow = ["retry", "abort"] }
"#;

#[test]
fn a_stage_that_exhausts_its_retries_is_a_typed_attention_event_of_its_groups_stream() {
    let lab = Lab::start();
    let (sa, sb) = (listen(&lab.url, &lab.a, ""), listen(&lab.url, &lab.b, ""));
    read_until(&sa, |n, _| n == "synced");
    let id = lab.submit("exhausted", EXHAUSTED, &lab.a);
    let seen = read_until(&sa, |n, d| {
        n == "run" && d["run_id"] == id.as_str() && d["status"] == "FAILED"
    });
    let attention: Vec<&Value> = seen
        .iter()
        .filter(|(n, d)| n == "attention" && d["run_id"] == id.as_str())
        .map(|(_, d)| d)
        .collect();
    assert_eq!(attention.len(), 1, "{seen:?}");
    assert_eq!(attention[0]["kind"], "retries-exhausted", "{seen:?}");
    let detail = attention[0]["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("default/spin failed after 2 attempts: "),
        "{detail}"
    );
    assert!(attention[0]["at"].as_str().unwrap().len() >= 20);
    // Reconnecting to the run: the attention comes with its state, once.
    let one = listen(&lab.url, &lab.a, &format!("?run={id}"));
    let again = read_until(&one, |n, _| n == "synced");
    let kinds: Vec<&Value> = again
        .iter()
        .filter(|(n, _)| n == "attention")
        .map(|(_, d)| &d["kind"])
        .collect();
    assert_eq!(kinds, [&json!("retries-exhausted")], "{again:?}");
    // lab-b's stream carried nothing of it.
    std::thread::sleep(Duration::from_secs(1));
    let other: Vec<(String, Value)> = sb.try_iter().collect();
    assert!(!mentions(&other, &id), "{other:?}");
}
