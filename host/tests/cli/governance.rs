//! `petri token list | revoke`, `petri audit list | verify` (an edited and a removed entry are
//! named), `petri plugin add` keeping a version's bytes unless `--force`, and an older data
//! dir's `registry.json` imported into the database once.

use std::path::Path;
use std::process::Output;

use petri_host::DataDir;
use petri_host::server::token_digest;

use super::{json, petri, stderr};

fn ok(out: Output) -> Output {
    assert!(out.status.success(), "{}", stderr(&out));
    out
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Three tokens created and one revoked: four audit entries.
fn governed(data: &Path) -> Vec<String> {
    let create = |args: &[&str]| {
        let mut all = vec!["token", "create"];
        all.extend_from_slice(args);
        stdout(&ok(petri(data, &all))).trim().to_owned()
    };
    let tokens = vec![
        create(&["--group", "lab-a", "--name", "ops", "--admin"]),
        create(&[
            "--group",
            "lab-b",
            "--name",
            "carol",
            "--allow-priority",
            "clinical",
            "--expires-in",
            "30d",
            "--reason",
            "new hire",
        ]),
        create(&["--group", "lab-b", "--name", "dave"]),
    ];
    ok(petri(
        data,
        &["token", "revoke", "dave", "--reason", "left the lab"],
    ));
    tokens
}

/// Runs SQL on the data dir's database, as someone with file access could.
fn sql(data: &Path, statements: &[&'static str]) -> Result<(), sqlx::Error> {
    let db = DataDir::new(data).state_db();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let url = format!("sqlite:{}", db.display());
            let pool = sqlx::sqlite::SqlitePool::connect(&url).await?;
            for s in statements {
                sqlx::query(*s).execute(&pool).await?;
            }
            pool.close().await;
            Ok(())
        })
}

#[test]
fn tokens_are_listed_without_secrets_and_revoked_by_name_or_id() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let tokens = governed(&data);
    let listed = ok(petri(&data, &["token", "list", "--json"]));
    let text = stdout(&listed);
    for t in &tokens {
        assert!(!text.contains(t.as_str()), "a secret is listed");
        assert!(!text.contains(&token_digest(t)), "a whole digest is listed");
    }
    let all = json(&listed);
    let find = |name: &str| {
        all.as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .unwrap()
            .clone()
    };
    let carol = find("carol");
    assert_eq!(carol["group"], "lab-b");
    assert_eq!(carol["priorities"], serde_json::json!(["clinical"]));
    assert_eq!(carol["state"], "active");
    assert!(carol["expires_at"].is_string(), "{carol}");
    assert_eq!(find("dave")["state"], "revoked");
    assert_eq!(find("ops")["admin"], true);

    // By id; the table names every column.
    let id = carol["id"].as_str().unwrap();
    ok(petri(&data, &["token", "revoke", id]));
    let table = stdout(&ok(petri(&data, &["token", "list"])));
    assert!(table.starts_with("ID"), "{table}");
    assert_eq!(table.matches("revoked").count(), 2, "{table}");
    let missing = petri(&data, &["token", "revoke", "nobody"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        stderr(&missing).contains("no token"),
        "{}",
        stderr(&missing)
    );
}

#[test]
fn audit_verify_names_the_first_edited_or_removed_entry() {
    let dir = tempfile::tempdir().unwrap();
    let (edited, removed) = (dir.path().join("edited"), dir.path().join("removed"));
    let truncated = dir.path().join("truncated");
    for data in [&edited, &removed, &truncated] {
        governed(data);
        let intact = ok(petri(data, &["audit", "verify"]));
        assert!(
            stdout(&intact).contains("intact: 4 entries")
                && stdout(&intact).contains("audit-anchor.log anchors entry 4, present"),
            "{}",
            stdout(&intact)
        );
    }
    let list = stdout(&ok(petri(&edited, &["audit", "list"])));
    assert!(list.contains("cli token create"), "{list}");
    assert!(list.contains("reason: left the lab"), "{list}");

    // The table refuses casual edits; someone who drops the guard is caught.
    assert!(
        sql(
            &edited,
            &["UPDATE api_audit SET detail = 'x' WHERE seq = 2"]
        )
        .is_err()
    );
    sql(
        &edited,
        &[
            "DROP TRIGGER api_audit_no_update",
            "UPDATE api_audit SET detail = 'name `carol`, group lab-a' WHERE seq = 2",
        ],
    )
    .unwrap();
    let out = petri(&edited, &["audit", "verify"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("entry 2 was edited"),
        "{}",
        stderr(&out)
    );

    sql(
        &removed,
        &[
            "DROP TRIGGER api_audit_no_delete",
            "DELETE FROM api_audit WHERE seq = 3",
        ],
    )
    .unwrap();
    let out = petri(&removed, &["audit", "verify"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("entry 3 is missing"),
        "{}",
        stderr(&out)
    );

    // Removing the newest entry leaves a valid shorter chain; the anchor,
    // kept outside the database (here moved away), still names it.
    let kept = dir.path().join("elsewhere.log");
    std::fs::rename(truncated.join("audit-anchor.log"), &kept).unwrap();
    sql(
        &truncated,
        &[
            "DROP TRIGGER api_audit_no_delete",
            "DELETE FROM api_audit WHERE seq = 4",
        ],
    )
    .unwrap();
    let unanchored = ok(petri(&truncated, &["audit", "verify"]));
    assert!(
        stdout(&unanchored).contains("no anchor file"),
        "{}",
        stdout(&unanchored)
    );
    let anchor = kept.to_str().unwrap();
    let out = petri(&truncated, &["audit", "verify", "--anchor", anchor]);
    assert_eq!(out.status.code(), Some(1));
    let expected =
        format!("entry 4 is missing but {anchor}:4 anchored it: the newest entries were removed");
    assert!(stderr(&out).contains(&expected), "{}", stderr(&out));
}

#[test]
fn a_registered_version_keeps_its_bytes_unless_forced() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // The same component with a custom section appended: same manifest, other bytes.
    let mut bytes = std::fs::read(petri_plugins::TESTKIT).unwrap();
    bytes.extend_from_slice(&[0, 5, 4, b'n', b'o', b't', b'e']);
    let variant = dir.path().join("variant.wasm");
    std::fs::write(&variant, &bytes).unwrap();
    let variant = variant.to_str().unwrap();

    ok(petri(&data, &["plugin", "add", petri_plugins::TESTKIT]));
    ok(petri(&data, &["plugin", "add", petri_plugins::TESTKIT]));
    let refused = petri(&data, &["plugin", "add", variant]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        stderr(&refused).contains("already registered"),
        "{}",
        stderr(&refused)
    );
    let forced = ok(petri(&data, &["plugin", "add", "--force", variant]));
    assert!(stdout(&forced).contains("forced"), "{}", stdout(&forced));

    let listed = json(&ok(petri(&data, &["plugin", "list", "--json"])));
    let testkit = &listed[0];
    let history = testkit["history"].as_array().unwrap();
    assert_eq!(history.len(), 2, "{testkit}");
    assert_ne!(history[0]["sha256"], history[1]["sha256"]);
    assert_eq!(testkit["sha256"], history[1]["sha256"]);
    assert!(history.iter().all(|h| h["added_at"].is_string()));
    let text = stdout(&ok(petri(&data, &["plugin", "list", "--history"])));
    for h in history {
        assert!(text.contains(h["sha256"].as_str().unwrap()), "{text}");
    }
}

#[test]
fn an_older_data_dirs_registry_json_is_imported_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // Stores the bytes; the registry.json below names them, as petri wrote
    // it before the registry was in the database.
    let inspected = json(&ok(petri(
        &data,
        &["inspect", petri_plugins::TESTKIT, "--json"],
    )));
    let (name, version) = (
        &inspected["manifest"]["name"],
        &inspected["manifest"]["version"],
    );
    let name = name.as_str().unwrap();
    let sha = &inspected["sha256"];
    let old = serde_json::json!({ name: {
        "name": name, "version": version, "sha256": sha,
        "history": [{"version": version, "sha256": sha, "added_at": "2026-01-01T00:00:00Z"}]
    }});
    let file = DataDir::new(&data).registry();
    std::fs::write(&file, old.to_string()).unwrap();

    let listed = json(&ok(petri(&data, &["plugin", "list", "--json"])));
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["sha256"], *sha);
    assert_eq!(listed[0]["history"][0]["added_at"], "2026-01-01T00:00:00Z");
    // The imported version keeps its bytes.
    let mut bytes = std::fs::read(petri_plugins::TESTKIT).unwrap();
    bytes.extend_from_slice(&[0, 5, 4, b'n', b'o', b't', b'e']);
    let variant = dir.path().join("variant.wasm");
    std::fs::write(&variant, &bytes).unwrap();
    let refused = petri(&data, &["plugin", "add", variant.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(stderr(&refused).contains("already registered"));
    // A pipeline names it; opening again imports nothing more, and the file
    // is left as it was.
    let pipeline = dir.path().join("p.toml");
    std::fs::write(dir.path().join("data.bin"), b"x").unwrap();
    let text = format!(
        "[inputs.data]\npath = \"data.bin\"\n\n[stages.a]\nmodule = {name:?}\n\
         params = {{ mode = \"copy\" }}\ninputs = {{ data = \"inputs.data\" }}\n"
    );
    std::fs::write(&pipeline, text).unwrap();
    ok(petri(&data, &["validate", pipeline.to_str().unwrap()]));
    assert_eq!(
        json(&ok(petri(&data, &["plugin", "list", "--json"]))),
        listed
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), old.to_string());
}
