//! Promotions over HTTP: admins only, a refused promotion answers 409 with its report and moves
//! nothing, moves are audited with their reason, and any group pins a module of a name's history.

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
    let refused = d.post_json(path, &d.admin, &request);
    assert_eq!(
        refused.status,
        409,
        "{}",
        String::from_utf8_lossy(&refused.body)
    );
    let view = refused.json();
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
