//! Webhook triggers over HTTP: a signed delivery submits the trigger's pipeline as a run of its
//! group, a replay starts nothing, a bad signature is 401, and deliveries outlive the store.

use petri_host::StateStore;
use petri_host::server::{TriggerConfig, sign};
use serde_json::json;

use super::Daemon;
use super::tenant::{blob, registered_testkit};

/// A daemon with trigger `lims`: `SHEET_COPY` as a run of lab-a, signed with `s3cret`.
fn with_trigger() -> (Daemon, tempfile::TempDir) {
    let conf = tempfile::tempdir().unwrap();
    std::fs::write(conf.path().join("pipeline.toml"), super::SHEET_COPY).unwrap();
    std::fs::write(conf.path().join("secret"), "s3cret\n").unwrap();
    let trigger = TriggerConfig {
        pipeline: conf.path().join("pipeline.toml"),
        group: "lab-a".into(),
        secret_file: conf.path().join("secret"),
        priority: Default::default(),
    };
    let d = Daemon::start(|c| {
        c.triggers.insert("lims".into(), trigger);
    });
    registered_testkit(&d);
    (d, conf)
}

fn deliver(d: &Daemon, name: &str, body: &[u8], signature: &str) -> super::Reply {
    d.call(
        "POST",
        &format!("/v1/triggers/{name}"),
        None,
        &[
            ("Content-Type", "application/json"),
            ("X-Petri-Signature", signature),
        ],
        body,
    )
}

#[test]
fn a_signed_delivery_runs_the_triggers_pipeline_once_for_its_group() {
    let (d, _conf) = with_trigger();
    let sha = blob(&d, &d.alice, b"reads of s1\n");
    let body = json!({
        "samples": "sample\tdata\ns1\treads/s1.bin\n",
        "files": { "reads/s1.bin": sha },
        "description": "LIMS submission 42",
    })
    .to_string();
    let signature = sign(b"s3cret", body.as_bytes());

    // Unsigned, signed with another secret, or for a body it does not sign: 401.
    for wrong in ["", "sha256=00", &sign(b"other", body.as_bytes())] {
        let r = deliver(&d, "lims", body.as_bytes(), wrong);
        r.error(401, "unauthorized");
    }
    let tampered = body.replace("42", "43");
    deliver(&d, "lims", tampered.as_bytes(), &signature).error(401, "unauthorized");
    deliver(&d, "nope", body.as_bytes(), &signature).error(404, "not_found");

    let first = deliver(&d, "lims", body.as_bytes(), &signature);
    assert_eq!(
        first.status,
        202,
        "{}",
        String::from_utf8_lossy(&first.body)
    );
    let id = first.json()["id"].as_str().unwrap().to_owned();
    // The same delivery again (a retrying LIMS) starts nothing new.
    let again = deliver(&d, "lims", body.as_bytes(), &signature);
    assert_eq!(again.status, 200);
    assert_eq!(again.json()["id"], id.as_str());

    let run = d.wait(&id, &d.alice);
    assert_eq!(run["status"], "COMPLETED", "{run}");
    assert_eq!(run["group"], "lab-a");
    assert_eq!(run["description"], "LIMS submission 42");
    // lab-b does not see the trigger's run.
    d.get(&format!("/v1/runs/{id}"), &d.bob)
        .error(404, "not_found");
    let runs = d.get("/v1/runs", &d.alice).json();
    let ids: Vec<&str> = runs["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [id.as_str()], "one run for two deliveries");

    // /metrics counts the deliveries by outcome.
    let metrics = String::from_utf8(d.call("GET", "/metrics", None, &[], b"").body).unwrap();
    for outcome in ["accepted", "replayed", "unauthorized"] {
        let line =
            format!("petri_trigger_deliveries_total{{trigger=\"lims\",outcome=\"{outcome}\"}}");
        assert!(metrics.contains(&line), "{line} in {metrics}");
    }

    // The audit log names the trigger as who submitted it.
    let audit = d.get("/v1/audit", &d.admin).json();
    let entries = audit["entries"].as_array().unwrap();
    assert!(
        entries
            .iter()
            .any(|e| e["actor"] == "token trigger lims (hmac)" && e["target"] == id.as_str()),
        "{audit}"
    );
}

#[test]
fn a_refused_delivery_is_forgotten_and_another_groups_blob_is_unknown() {
    let (d, _conf) = with_trigger();
    // lab-b's blob: the trigger's group (lab-a) may not use it.
    let sha = blob(&d, &d.bob, b"lab-b's reads\n");
    let body = json!({
        "samples": "sample\tdata\ns1\treads/s1.bin\n",
        "files": { "reads/s1.bin": sha },
    })
    .to_string();
    let signature = sign(b"s3cret", body.as_bytes());
    let r = deliver(&d, "lims", body.as_bytes(), &signature);
    assert_eq!(r.status, 422, "{}", String::from_utf8_lossy(&r.body));
    // Refused, so not remembered: the same body is judged again, not replayed.
    assert_eq!(deliver(&d, "lims", body.as_bytes(), &signature).status, 422);
    assert_eq!(status_count(&d), 0);
    let not_json = b"sample\tdata";
    let r = deliver(&d, "lims", not_json, &sign(b"s3cret", not_json));
    r.error(400, "invalid_request");
}

fn status_count(d: &Daemon) -> usize {
    let runs = d.get("/v1/runs", &d.admin).json();
    runs["runs"].as_array().map_or(0, |r| r.len())
}

#[test]
fn a_delivery_is_remembered_across_a_restart_of_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("petri.sqlite").display());
    petri_tests::block_on(async {
        let state = StateStore::open_url(&url).await.unwrap();
        let deliveries = state.deliveries();
        let now = "2026-11-28T00:00:00Z";
        assert_eq!(
            deliveries.take("lims", "ab", now).await.unwrap(),
            petri_host::Delivery::New
        );
        assert_eq!(
            deliveries.take("lims", "ab", now).await.unwrap(),
            petri_host::Delivery::InFlight
        );
        deliveries.started("lims", "ab", "run-1").await.unwrap();
        drop(state);
        // A restarted daemon opens the database again: the delivery is known.
        let state = StateStore::open_url(&url).await.unwrap();
        let seen = state.deliveries().take("lims", "ab", now).await.unwrap();
        assert_eq!(
            seen,
            petri_host::Delivery::Started {
                run_id: "run-1".into()
            }
        );
        assert_eq!(
            state.deliveries().take("other", "ab", now).await.unwrap(),
            petri_host::Delivery::New
        );
    });
}
