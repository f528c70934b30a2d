//! PostgreSQL's native column types (migration 0011): enums named by the Rust enums, `jsonb`,
//! `timestamptz`, checked from `information_schema`; PostgreSQL refusing values no enum names
//! when they are written behind petri's back; rows written at migration 0010 read back the same
//! after 0011; and the same rows reading back the same text on both backends.

use std::process::Command;

use petri_host::server::{Priority, RunFilter, RunRow, RunStatus, ServerStore, TokenSpec};
use petri_host::{Change, DeliveryState, NotifyEvent, StateStore, TrackedState};

use super::{on_both, row};
use crate::postgres::Postgres;

/// Runs `sql` with psql on `url`: its rows (`|`-separated), or PostgreSQL's error.
fn psql(url: &str, sql: &str) -> Result<String, String> {
    let out = Command::new("psql")
        .args([
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            url,
            "-c",
            sql,
        ])
        .output()
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).trim().to_owned();
    match out.status.success() {
        true => Ok(text(&out.stdout)),
        false => Err(text(&out.stderr)),
    }
}

/// An enum type's labels, as PostgreSQL lists them.
fn labels(url: &str, pg_type: &str) -> Vec<String> {
    let sql = format!("SELECT unnest(enum_range(NULL::{pg_type}))");
    psql(url, &sql)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// `names`, sorted as the enum declares them (byte order: ORDER BY as on TEXT).
fn sorted(names: impl IntoIterator<Item = &'static str>) -> Vec<String> {
    let mut v: Vec<String> = names.into_iter().map(str::to_owned).collect();
    v.sort();
    v
}

#[test]
fn postgres_columns_have_native_types_named_by_the_rust_enums() {
    let pg = Postgres::start();
    petri_tests::block_on(async {
        StateStore::open_url(&pg.url).await.unwrap();
    });
    let types = psql(
        &pg.url,
        "SELECT table_name || '.' || column_name || ' ' || udt_name
         FROM information_schema.columns
         WHERE table_schema = 'public' AND column_name IN
           ('status', 'priority', 'state', 'event', 'kind', 'request', 'detail', 'spec',
            'manifest', 'model', 'at', 'submitted_at', 'started_at', 'finished_at',
            'created_at', 'expires_at', 'revoked_at', 'uploaded_at', 'received_at', 'delivered_at')
           AND table_name NOT IN ('api_audit')
         ORDER BY 1",
    )
    .unwrap();
    let expected = [
        "api_instruments.spec jsonb",
        "api_modules.manifest jsonb",
        "api_modules.uploaded_at timestamptz",
        "api_run_events.at timestamptz",
        "api_run_events.detail text",
        "api_run_events.kind text",
        "api_run_stages.detail jsonb",
        "api_runs.finished_at timestamptz",
        "api_runs.priority run_priority",
        "api_runs.request jsonb",
        "api_runs.started_at timestamptz",
        "api_runs.status run_status",
        "api_runs.submitted_at timestamptz",
        "api_tokens.created_at timestamptz",
        "api_tokens.expires_at timestamptz",
        "api_tokens.revoked_at timestamptz",
        "fuel_model.model jsonb",
        "notification_deliveries.created_at timestamptz",
        "notification_deliveries.delivered_at timestamptz",
        "notification_deliveries.event notify_event",
        "notification_deliveries.state delivery_state",
        "notification_subscriptions.created_at timestamptz",
        "registry_history.kind registry_change",
        "runs.finished_at timestamptz",
        "runs.started_at timestamptz",
        "runs.status text",
        "slurm_jobs.state slurm_job_state",
        "trigger_deliveries.received_at timestamptz",
    ];
    assert_eq!(types.lines().collect::<Vec<_>>(), expected);

    // One mapping each: the labels are exactly the Rust enums' names.
    assert_eq!(
        labels(&pg.url, "run_status"),
        sorted(RunStatus::ALL.map(RunStatus::as_str))
    );
    let priorities = [Priority::Normal, Priority::Urgent, Priority::Clinical];
    assert_eq!(
        labels(&pg.url, "run_priority"),
        sorted(priorities.map(Priority::as_str))
    );
    let states = [
        TrackedState::Submitted,
        TrackedState::Ended,
        TrackedState::Requeued,
    ];
    assert_eq!(
        labels(&pg.url, "slurm_job_state"),
        sorted(states.map(TrackedState::as_str))
    );
    let deliveries = [
        DeliveryState::Pending,
        DeliveryState::Delivered,
        DeliveryState::Failed,
    ];
    assert_eq!(
        labels(&pg.url, "delivery_state"),
        sorted(deliveries.map(DeliveryState::as_str))
    );
    assert_eq!(
        labels(&pg.url, "notify_event"),
        sorted(NotifyEvent::ALL.map(NotifyEvent::as_str))
    );
    let changes = [Change::Registered, Change::Promoted, Change::RolledBack];
    assert_eq!(
        labels(&pg.url, "registry_change"),
        sorted(changes.map(Change::as_str))
    );
}

#[test]
fn postgres_refuses_values_written_behind_petris_back() {
    let pg = Postgres::start();
    petri_tests::block_on(async {
        let store = ServerStore::open(StateStore::open_url(&pg.url).await.unwrap());
        let run = RunRow {
            submitted_at: "2026-11-27T10:00:00.250000Z".into(),
            ..row("r1", "lab", "urgent")
        };
        store.insert_run(&run, 1, "n1").await.unwrap();

        for (set, refused) in [
            ("status = 'DONE'", "invalid input value for enum run_status"),
            (
                "status = 'pending'",
                "invalid input value for enum run_status",
            ),
            (
                "priority = 'stat'",
                "invalid input value for enum run_priority",
            ),
            (
                "request = '{not json'",
                "invalid input syntax for type json",
            ),
            (
                "submitted_at = 'soon'",
                "invalid input syntax for type timestamp",
            ),
        ] {
            let err = psql(&pg.url, &format!("UPDATE api_runs SET {set}")).unwrap_err();
            assert!(err.contains(refused), "{set}: {err}");
        }
        let stored = store.run("r1").await.unwrap().unwrap();
        assert_eq!(stored.status, RunStatus::Pending);
        assert_eq!(stored.priority, "urgent");
        assert_eq!(stored.submitted_at, "2026-11-27T10:00:00.250000Z");
    });
}

/// Rows as petri 0010 wrote them: TEXT everywhere, RFC 3339 with µs.
const ROWS_AT_0010: &str = "
INSERT INTO api_runs (id, grp, status, pipeline, description, priority, rank, request,
                      submitted_at, started_at, finished_at, root)
VALUES ('r-done', 'lab', 'COMPLETED', 'p', 'd', 'clinical', 2, '{\"pipeline\":\"x\",\"n\":[1,2.5]}',
        '2026-11-20T08:00:00.000001Z', '2026-11-20T08:00:01.500000Z', '2026-11-20T09:00:00.000000Z', 'root'),
       ('r-queued', 'lab', 'PENDING', 'p', '', 'normal', 0, '{}',
        '2026-11-21T08:00:00.123456Z', NULL, NULL, NULL);
INSERT INTO api_run_events (run_id, at, kind, detail)
VALUES ('r-done', '2026-11-20T08:00:00.000001Z', 'submitted', 'n1'),
       ('r-done', '2026-11-20T09:00:00.000000Z', 'completed', 'n1');
INSERT INTO api_run_stages (run_id, sample, stage, detail)
VALUES ('r-done', 's1', 'qc', '{\"stage\":\"qc\"}');
INSERT INTO api_tokens (token_sha256, name, grp, admin, created_at, expires_at, priorities)
VALUES ('abcdef0123456789', 'robot', 'lab', 0, '2026-11-19T00:00:00.000000Z',
        '2027-01-01T00:00:00.000000Z', 'urgent');
INSERT INTO slurm_jobs (array_job, array_index, run_id, sample, stage, attempt, task, state, submitted_ms)
VALUES (7, 0, 'r-done', 's1', 'qc', 1, repeat('ab', 32), 'ended', 1000);
INSERT INTO registry_history (name, version, sha256, added_at, forced, kind)
VALUES ('qc', '1', 'aa', '2026-11-19T00:00:00.000000Z', 0, 'promoted');
INSERT INTO trigger_deliveries (trigger_name, body_sha256, run_id, received_at)
VALUES ('watch:in', 'bb', 'r-done', '2026-11-20T07:59:59.999999Z');
INSERT INTO runs (run_id, run_key, pipeline, status, started_at, finished_at)
VALUES ('local-1', 'k', 'p', 'completed', '2026-11-20T08:00:00.123Z', '2026-11-20T08:00:01.000Z');
";

#[test]
fn rows_written_at_migration_0010_read_back_the_same_after_0011() {
    let pg = Postgres::start();
    petri_tests::block_on(async {
        StateStore::create_postgres_at(&pg.url, 10).await.unwrap();
        psql(&pg.url, ROWS_AT_0010).unwrap();
        assert_eq!(
            psql(&pg.url, "SELECT pg_typeof(status) FROM api_runs LIMIT 1").unwrap(),
            "text"
        );

        let state = StateStore::open_url(&pg.url).await.unwrap();
        let store = ServerStore::open(state.clone());
        let done = store.run("r-done").await.unwrap().unwrap();
        assert_eq!(done.status, RunStatus::Completed);
        assert_eq!(done.priority, "clinical");
        assert_eq!(done.submitted_at, "2026-11-20T08:00:00.000001Z");
        assert_eq!(
            done.started_at.as_deref(),
            Some("2026-11-20T08:00:01.500000Z")
        );
        assert_eq!(
            done.finished_at.as_deref(),
            Some("2026-11-20T09:00:00.000000Z")
        );
        let request: serde_json::Value = serde_json::from_str(&done.request).unwrap();
        assert_eq!(request, serde_json::json!({"pipeline": "x", "n": [1, 2.5]}));
        let queued = RunFilter {
            status: Some(RunStatus::Pending),
            limit: 10,
            ..RunFilter::default()
        };
        let ids: Vec<String> = store
            .runs(&queued)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(ids, ["r-queued"]);
        assert_eq!(
            store.events("r-done").await.unwrap(),
            [
                (
                    "2026-11-20T08:00:00.000001Z".into(),
                    "submitted".into(),
                    "n1".into()
                ),
                (
                    "2026-11-20T09:00:00.000000Z".into(),
                    "completed".into(),
                    "n1".into()
                ),
            ]
        );
        let stages = store.stages("r-done").await.unwrap();
        let stage: serde_json::Value = serde_json::from_str(&stages[0]).unwrap();
        assert_eq!(stage, serde_json::json!({"stage": "qc"}));
        let tokens = store.tokens().await.unwrap();
        assert_eq!(tokens[0].created_at, "2026-11-19T00:00:00.000000Z");
        assert_eq!(
            tokens[0].expires_at.as_deref(),
            Some("2027-01-01T00:00:00.000000Z")
        );
        let jobs = state.jobs().of_run("r-done").await.unwrap();
        assert_eq!(jobs[0].state, TrackedState::Ended);
        assert_eq!(
            state.deliveries().of_run("r-done").await.unwrap(),
            Some(("watch:in".into(), "2026-11-20T07:59:59.999999Z".into()))
        );
        assert_eq!(
            psql(
                &pg.url,
                "SELECT rfc3339_millis(started_at), CAST(kind AS TEXT) FROM runs, registry_history"
            )
            .unwrap(),
            "2026-11-20T08:00:00.123Z|promoted"
        );
        // And the converted database goes on as any other: a run moves on.
        let moved = store
            .transition(
                "r-queued",
                &[RunStatus::Pending],
                RunStatus::Cancelled,
                Some(("cancelled", "by test")),
                "2026-11-21T09:00:00.000000Z",
                None,
            )
            .await
            .unwrap();
        assert!(moved);
        let cancelled = store.run("r-queued").await.unwrap().unwrap();
        assert_eq!(
            (cancelled.status, cancelled.finished_at.as_deref()),
            (RunStatus::Cancelled, Some("2026-11-21T09:00:00.000000Z"))
        );
    });
}

#[test]
fn both_backends_read_back_the_text_petri_wrote() {
    on_both(|store| async move {
        let run = RunRow {
            submitted_at: "2026-11-27T10:00:00.000100Z".into(),
            request: r#"{"pipeline":"p"}"#.into(),
            ..row("r1", "lab", "clinical")
        };
        store.insert_run(&run, 2, "n1").await.unwrap();
        let spec = TokenSpec {
            name: "t".into(),
            group: "lab".into(),
            expires_at: Some("2027-02-03T04:05:06.789000Z".into()),
            ..TokenSpec::default()
        };
        let now = "2026-11-27T10:00:01.000000Z";
        store.add_token("00ff", &spec, now).await.unwrap();
        store
            .add_module("aa", "qc", "1", 3, r#"{"name":"qc"}"#, now)
            .await
            .unwrap();

        let stored = store.run("r1").await.unwrap().unwrap();
        assert_eq!(stored.submitted_at, run.submitted_at);
        assert_eq!(stored.priority, "clinical");
        assert_eq!(stored.status, RunStatus::Pending);
        let token = &store.tokens().await.unwrap()[0];
        assert_eq!(
            (token.created_at.as_str(), token.expires_at.as_deref()),
            (now, spec.expires_at.as_deref())
        );
        let module = &store.modules(None).await.unwrap()[0];
        assert_eq!(module.5, now);
        let manifest: serde_json::Value = serde_json::from_str(&module.4).unwrap();
        assert_eq!(manifest, serde_json::json!({"name": "qc"}));
        assert_eq!(
            store.events("r1").await.unwrap(),
            [(run.submitted_at.clone(), "submitted".into(), "n1".into())]
        );
        assert_eq!(
            store.count_by_group().await.unwrap(),
            [("lab".into(), "PENDING".into(), 1)]
        );
    });
}
