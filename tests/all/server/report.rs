//! `GET /v1/runs/{id}/report`: the run's HTML report for its own group; another group's run
//! answers exactly like a missing one.

use super::*;

#[test]
fn the_report_route_serves_html_to_the_runs_group_only() {
    let d = Daemon::start(|_| {});
    assert_eq!(d.upload("/v1/modules", &d.admin, &testkit()).status, 201);
    let data = d.upload("/v1/blobs", &d.alice, b"<sample & data>\n");
    let data = data.json()["sha256"].as_str().unwrap().to_owned();
    let body = json!({ "pipeline": CHAIN, "files": { "data/input.bin": data } });
    let r = d.post_json("/v1/runs", &d.alice, &body);
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    let id = r.json()["id"].as_str().unwrap().to_owned();
    let run = d.wait(&id, &d.alice);
    assert_eq!(run["status"], "COMPLETED", "{run}");

    let page = d.get(&format!("/v1/runs/{id}/report"), &d.alice);
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let html = String::from_utf8(page.body.clone()).unwrap();
    for part in [
        "<section id=\"provenance\">",
        "<table id=\"dag\">",
        "<svg id=\"timeline-gantt\"",
        run["root"].as_str().unwrap(),
    ] {
        assert!(html.contains(part), "{part} missing: {html}");
    }
    assert!(!html.contains("<script"), "no script");
    // `petri report`'s options as a query; an unknown one is a 400.
    let chosen = d.get(
        &format!("/v1/runs/{id}/report?metrics=first.bytes,second.bytes&lower-is-better=true"),
        &d.alice,
    );
    assert_eq!(chosen.status, 200);
    let unknown = d.get(&format!("/v1/runs/{id}/report?metric=x"), &d.alice);
    unknown.error(400, "invalid_request");

    // Another group, and a run that does not exist: the same 404, naming only the id asked for.
    let theirs = d.get(&format!("/v1/runs/{id}/report"), &d.bob);
    let missing_id = "01900000-0000-7000-8000-000000000000";
    let missing = d.get(&format!("/v1/runs/{missing_id}/report"), &d.alice);
    assert_eq!(theirs.error(404, "not_found"), {
        let v = missing.error(404, "not_found").to_string();
        serde_json::from_str::<Value>(&v.replace(missing_id, &id)).unwrap()
    });
    assert!(
        d.call("GET", "/openapi.json", None, &[], b"").json()["paths"]["/v1/runs/{id}/report"]
            .is_object()
    );
}
