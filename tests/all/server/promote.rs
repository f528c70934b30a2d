//! Promotions over HTTP: admins only, a refused promotion answers 409 with its report and moves
//! nothing, moves are audited with their reason, and any group pins a module of a name's history;
//! shadow runs are charged to the promoting group's fuel quota, and refused when it is used up.

use petri_host::GroupQuota;
use serde_json::{Value, json};

use super::{Daemon, testkit};

/// Testkit in `copy` and `flavour` mode on the uploaded `data.bin`.
fn pipeline(module: &str) -> String {
    format!(
        "[inputs.data]\npath = \"data.bin\"\n\n\
         [stages.copy]\nmodule = \"{module}\"\nparams = {{ mode = \"copy\" }}\ninputs = {{ data = \"inputs.data\" }}\n\n\
         [stages.flavour]\nmodule = \"{module}\"\nparams = {{ mode = \"flavour\" }}\ninputs = {{ data = \"inputs.data\" }}\n"
    )
}

fn sha(reply: &super::Reply) -> String {
    assert!(
        [200, 201].contains(&reply.status),
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    reply.json()["sha256"].as_str().unwrap().to_owned()
}

/// Submits the pipeline over `module` as `token` with `blob` as its data; the accepted reply.
fn submit(d: &Daemon, token: &str, module: &str, blob: &str) -> super::Reply {
    let body = json!({ "pipeline": pipeline(module), "files": { "data.bin": blob } });
    d.post_json("/v1/runs", token, &body)
}

/// The module digest of a finished run's `flavour` stage.
fn flavour_module(d: &Daemon, token: &str, accepted: &super::Reply) -> String {
    assert_eq!(
        accepted.status,
        202,
        "{}",
        String::from_utf8_lossy(&accepted.body)
    );
    let run = d.wait(accepted.json()["id"].as_str().unwrap(), token);
    assert_eq!(run["status"], "COMPLETED", "{run}");
    let stages = run["stages"].as_array().unwrap();
    let flavour = stages.iter().find(|s| s["stage"] == "flavour").unwrap();
    flavour["module_sha256"].as_str().unwrap().to_owned()
}

fn history(d: &Daemon, token: &str) -> Value {
    let reply = d.get("/v1/modules/testkit/history", token);
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    reply.json()
}

#[test]
fn promotions_are_admin_only_audited_and_pins_reach_every_group() {
    let d = Daemon::start(|_| {});
    let original = sha(&d.upload("/v1/modules", &d.admin, &testkit()));
    let variant = petri_plugins::testkit_reflavoured().unwrap();
    let candidate = sha(&d.upload("/v1/modules?register=false", &d.admin, &variant));
    let blob = sha(&d.upload("/v1/blobs", &d.alice, &b"promoted bytes\n".repeat(40)));
    let ran = submit(&d, &d.alice, "testkit", &blob);
    assert_eq!(flavour_module(&d, &d.alice, &ran), original);

    let path = "/v1/modules/testkit/promotions";
    let request = json!({ "candidate": format!("sha256:{candidate}"), "require": "identical" });
    d.post_json(path, &d.alice, &request)
        .error(403, "forbidden");
    let view = answered(&d.post_json(path, &d.admin, &request), 409);
    assert_eq!(view["moved"], false, "{view}");
    let executions = view["report"]["executions"].as_array().unwrap();
    assert_eq!(executions.len(), 2, "{view}");
    assert_eq!(
        executions.iter().filter(|e| e["identical"] == true).count(),
        1,
        "{view}"
    );
    assert_eq!(history(&d, &d.bob)["sha256"], original.as_str());

    let promoted = d.call(
        "POST",
        path,
        Some(&d.admin),
        &[
            ("Content-Type", "application/json"),
            ("X-Petri-Reason", "flavour 01 for the spring batch"),
        ],
        json!({ "candidate": format!("sha256:{candidate}"), "shadow": 1 })
            .to_string()
            .as_bytes(),
    );
    assert_eq!(
        promoted.status,
        201,
        "{}",
        String::from_utf8_lossy(&promoted.body)
    );
    let view = promoted.json();
    assert_eq!(view["moved"], true);
    assert_eq!(view["report"]["executions"].as_array().unwrap().len(), 1);
    assert_eq!(view["registration"]["kind"], "promoted");
    let h = history(&d, &d.bob);
    assert_eq!(h["sha256"], candidate.as_str());
    assert_eq!(h["history"][1]["report"], view["report_sha256"]);

    // Another group pins the module the name pointed to before; it runs exactly that.
    let bob_blob = sha(&d.upload("/v1/blobs", &d.bob, b"bob's bytes"));
    let pinned = submit(&d, &d.bob, &format!("testkit@sha256:{original}"), &bob_blob);
    assert_eq!(flavour_module(&d, &d.bob, &pinned), original);
    // A module of its own that the name never pointed to is refused where it is written.
    let rebuilt = petri_plugins::testkit_rebuilt().unwrap();
    let own = sha(&d.upload("/v1/modules?register=false", &d.bob, &rebuilt));
    let bad = submit(&d, &d.bob, &format!("testkit@sha256:{own}"), &bob_blob);
    let problems = bad.error(422, "invalid_pipeline")["error"]["problems"].clone();
    assert_eq!(problems[0]["file"], "pipeline.toml", "{problems}");
    assert_eq!(problems[0]["line"], 5, "{problems}");
    assert!(
        problems[0]["message"]
            .as_str()
            .unwrap()
            .contains("never pointed to"),
        "{problems}"
    );

    d.post_json("/v1/modules/testkit/rollbacks", &d.bob, &json!({}))
        .error(403, "forbidden");
    let back = d.post_json("/v1/modules/testkit/rollbacks", &d.admin, &json!({}));
    assert_eq!(back.status, 201, "{}", String::from_utf8_lossy(&back.body));
    assert_eq!(back.json()["kind"], "rolled-back");
    assert_eq!(history(&d, &d.alice)["sha256"], original.as_str());
    d.post_json("/v1/modules/testkit/rollbacks", &d.admin, &json!({}))
        .error(409, "conflict");

    let audit = d.get("/v1/audit", &d.admin).json();
    let entries: Vec<&Value> = audit["entries"]
        .as_array()
        .unwrap_or_else(|| panic!("{audit}"))
        .iter()
        .filter(|e| {
            e["action"]
                .as_str()
                .unwrap()
                .starts_with("POST /v1/modules/{name}/")
        })
        .collect();
    assert_eq!(entries.len(), 2, "{audit}");
    assert_eq!(entries[0]["action"], "POST /v1/modules/{name}/promotions");
    assert_eq!(entries[0]["reason"], "flavour 01 for the spring batch");
    let target = entries[0]["target"].as_str().unwrap();
    assert!(
        target.starts_with(&format!(
            "testkit sha256:{original} -> sha256:{candidate} (report sha256:"
        )),
        "{target}"
    );
    assert_eq!(entries[1]["action"], "POST /v1/modules/{name}/rollbacks");
}

/// The JSON of a reply that must have `status`.
fn answered(reply: &super::Reply, status: u16) -> Value {
    assert_eq!(
        reply.status,
        status,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    reply.json()
}

/// The fuel `token`'s group used today, as `/v1/usage` counts it.
fn fuel_today(d: &Daemon, token: &str) -> u64 {
    let usage = d.get("/v1/usage", token).json();
    usage["fuel_today"]
        .as_u64()
        .unwrap_or_else(|| panic!("{usage}"))
}

#[test]
fn shadow_runs_are_charged_to_the_promoting_groups_fuel_quota_and_refused_when_it_is_used_up() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let quota = |fuel_per_day: u64| {
        let data = data.clone();
        move |c: &mut petri_host::server::ServerConfig| {
            c.data_dir = data;
            let limits = GroupQuota {
                fuel_per_day: Some(fuel_per_day),
                ..GroupQuota::default()
            };
            c.group_quota.insert("lab-a".into(), limits);
        }
    };
    let variant = petri_plugins::testkit_reflavoured().unwrap();
    let path = "/v1/modules/testkit/promotions";
    let (original, candidate) = {
        let d = Daemon::start(quota(u64::MAX / 4));
        let original = sha(&d.upload("/v1/modules", &d.admin, &testkit()));
        let candidate = sha(&d.upload("/v1/modules?register=false", &d.admin, &variant));
        let blob = sha(&d.upload("/v1/blobs", &d.alice, b"charged bytes\n"));
        flavour_module(&d, &d.alice, &submit(&d, &d.alice, "testkit", &blob));
        let before = fuel_today(&d, &d.admin);
        assert!(before > 0, "the run's own fuel is counted");
        let request = json!({ "candidate": format!("sha256:{candidate}"), "shadow": 2 });
        let view = answered(&d.post_json(path, &d.admin, &request), 201);
        let shadowed: u64 = view["report"]["executions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["fuel"]["candidate"].as_u64().unwrap())
            .sum();
        assert!(shadowed > 0, "{view}");
        assert_eq!(fuel_today(&d, &d.admin), before + shadowed, "{view}");
        // Lab-b paid nothing.
        assert_eq!(fuel_today(&d, &d.bob), 0);
        let back = d.post_json("/v1/modules/testkit/rollbacks", &d.admin, &json!({}));
        assert_eq!(back.status, 201, "{}", String::from_utf8_lossy(&back.body));
        (original, candidate)
    };
    // The same group, now with less fuel per day than it already used.
    let d = Daemon::start(quota(1));
    let request = json!({ "candidate": format!("sha256:{candidate}"), "shadow": 2 });
    let refused = d
        .post_json(path, &d.admin, &request)
        .error(429, "quota_exhausted");
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("lab-a") && message.contains("fuel-per-day"),
        "{refused}"
    );
    assert_eq!(history(&d, &d.alice)["sha256"], original.as_str());
}
