//! `petri export --url` and `petri report --url`: a daemon run's outputs as files, downloaded and verified,
//! and its report page, for the run's own group only; a sample id that could leave the directory is refused at submit.

use std::process::Command;

use super::daemon::{client, ok_json, ok_output, start, stop};
use super::petri;

const PIPELINE: &str = r#"
[pipeline]
name = "publish"

[inputs.data]
format = "any"

[stages.first]
module = "testkit"
params = { mode = "copy" }
inputs = { data = "inputs.data" }
"#;

#[test]
fn a_daemon_run_exports_for_its_own_group_only() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("daemon");
    ok_output(&petri(&data, &["plugin", "add", petri_plugins::TESTKIT]));
    let token = |group: &str| {
        let out = petri(&data, &["token", "create", "--group", group]);
        ok_output(&out);
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    let (alice, bob) = (token("alice-lab"), token("bob-lab"));
    let (daemon, url) = start(&data, &dir.path().join("daemon.log"), &[]);

    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::write(work.join("pipeline.toml"), PIPELINE).unwrap();
    std::fs::write(work.join("a.bin"), b"first sample\n".repeat(100)).unwrap();
    std::fs::write(work.join("b.bin"), b"second sample\n".repeat(100)).unwrap();
    let pipeline = work.join("pipeline.toml");
    let submit = |sheet: &str| {
        std::fs::write(work.join("samples.tsv"), sheet).unwrap();
        let samples = work.join("samples.tsv");
        client(
            &url,
            &alice,
            &[
                "submit",
                pipeline.to_str().unwrap(),
                "--samples",
                samples.to_str().unwrap(),
                "--wait",
                "--json",
            ],
        )
    };

    // A sample id is a directory of the published outputs: `..` never gets that far.
    let refused = submit("sample\tdata\n../escape\ta.bin\n");
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("samples.tsv:2:1") && err.contains("sample id `../escape`"),
        "{err}"
    );

    let run = ok_json(submit("sample\tdata\nS-1\ta.bin\nS-2.rep\tb.bin\n"));
    assert_eq!(run["status"], "COMPLETED", "{run}");
    let id = run["id"].as_str().unwrap();

    let out_dir = dir.path().join("out");
    let files = ok_json(client(
        &url,
        &alice,
        &["export", id, out_dir.to_str().unwrap(), "--json"],
    ));
    assert_eq!(files["files"].as_array().unwrap().len(), 2, "{files}");
    for (sample, input) in [("S-1", "a.bin"), ("S-2.rep", "b.bin")] {
        let published = out_dir.join(sample).join("first/out.bin");
        assert_eq!(
            std::fs::read(&published).unwrap(),
            std::fs::read(work.join(input)).unwrap()
        );
        let sum = Command::new("sha256sum").arg(&published).output().unwrap();
        let sum = String::from_utf8(sum.stdout).unwrap();
        let manifest = std::fs::read_to_string(out_dir.join("manifest.tsv")).unwrap();
        assert!(
            manifest.contains(&format!(
                "{sample}/first/out.bin\t{}",
                sum.split_whitespace().next().unwrap()
            )),
            "{manifest}"
        );
    }

    // Another group's token: the run does not exist for it, and nothing is written.
    let theirs = dir.path().join("theirs");
    let out = client(&url, &bob, &["export", id, theirs.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&format!("no run {id}")),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!theirs.exists());

    // The run's report page from the daemon (`petri report --url`), for its group only.
    let page = dir.path().join("report.html");
    let args = [
        "report",
        id,
        "-o",
        page.to_str().unwrap(),
        "--lower-is-better",
    ];
    let out = client(&url, &alice, &args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("<section id=\"provenance\">"), "{html}");
    assert!(html.contains(run["root"].as_str().unwrap()), "{html}");
    let theirs = dir.path().join("their-report.html");
    let out = client(&url, &bob, &["report", id, "-o", theirs.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("no run {id}")));
    assert!(!theirs.exists());

    stop(daemon);
}
