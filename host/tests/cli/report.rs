//! `petri report`: the lambda sweep's report as one HTML file, checked as text and in a real
//! headless Chromium (its DOM and a screenshot); untrusted text arrives escaped.

use std::path::Path;
use std::process::Command;

use super::{example, json, petri, stderr};

/// Debian's `chromium` (`.ci/run` installs it); the test fails without it.
fn chromium(args: &[&str], page: &Path) -> String {
    let out = Command::new("chromium")
        .args(["--headless", "--no-sandbox", "--disable-gpu"])
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap_or_else(|e| panic!("chromium ({e}): `.ci/run` installs Debian's chromium"));
    assert!(out.status.success(), "{}", stderr(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_sweep_report_opens_in_chromium_with_every_plot_and_table() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let pipeline = example(dir.path(), &data, "sweep");
    // The pipeline's name is free text: it reaches the page escaped, never as markup.
    let text = std::fs::read_to_string(&pipeline).unwrap().replace(
        "name = \"lambda-sweep\"",
        "name = \"lambda-sweep <img src=x onerror=alert(1)>\"",
    );
    std::fs::write(&pipeline, text).unwrap();
    let out = petri(&data, &["run", pipeline.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let id = json(&out)["run_id"].as_str().unwrap().to_owned();
    let rows = json(&petri(&data, &["results", &id, "--format", "json"]));
    let best = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["metrics"]["call.pass"].as_i64().unwrap())
        .max()
        .unwrap();

    let page = dir.path().join("report.html");
    let out = petri(
        &data,
        &[
            "report",
            &id,
            "-o",
            page.to_str().unwrap(),
            "--metric",
            "call.pass",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        !html.contains("<img") && !html.contains("<script"),
        "{html}"
    );
    assert!(html.contains("lambda-sweep &lt;img src=x onerror=alert(1)&gt;"));
    assert!(
        html.contains(&format!("with call.pass = {best}.")),
        "the best combination is the results table's best"
    );
    let heatmap = html.split("<svg id=\"sweep-0-0-heatmap\"").nth(1).unwrap();
    let heatmap = &heatmap[..heatmap.find("</svg>").unwrap()];
    assert_eq!(
        heatmap.matches("<rect").count(),
        1 + 8 + 1,
        "a cell per combination"
    );

    // Chromium parses it into the DOM we meant: every plot and table, nothing injected.
    let dom = chromium(&["--dump-dom"], &page);
    for id in [
        "<table id=\"modules\"",
        "<table id=\"dag\"",
        "<svg id=\"sweep-0-0-lines\"",
        "<svg id=\"sweep-0-0-heatmap\"",
        "<svg id=\"timeline-gantt\"",
        "<svg id=\"quality-0\"",
        "<svg id=\"coverage-0\"",
        "<table id=\"variants-0\"",
        "<svg id=\"inserts-0\"",
        "<table id=\"overhead\"",
    ] {
        assert!(dom.contains(id), "{id} is not in the DOM");
    }
    assert!(!dom.contains("<img"), "injected markup in the DOM");
    let variants = dom.split("<table id=\"variants-0\"").nth(1).unwrap();
    let variants = &variants[..variants.find("</table>").unwrap()];
    assert!(variants.matches("<tr>").count() > 1, "variant rows");

    let shot = dir.path().join("report.png");
    chromium(
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1280,4000",
        ],
        &page,
    );
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 50_000,
        "{} bytes",
        png.len()
    );
    if std::env::var_os("PETRI_SAVE_SCREENSHOTS").is_some() {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/images");
        std::fs::create_dir_all(&docs).unwrap();
        std::fs::copy(&shot, docs.join("report.png")).unwrap();
    }
}
