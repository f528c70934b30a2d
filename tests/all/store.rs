//! The store suite, run against both backends: SQLite (embedded) and a real PostgreSQL started
//! for the test. Claims are exclusive, leases lapse and are rescued, and a stale fencing token
//! commits nothing; the module registry is in `store/registry.rs`, the batch jobs runs submitted
//! in `store/jobs.rs`, the notification outbox in `store/notifications.rs`.

mod jobs;
mod notifications;
mod pg_types;
mod registry;

use petri_host::server::{Claim, Claimed, GroupCaps, RunEnd, RunRow, RunStatus, ServerStore};
use petri_host::{Fence, GroupQuota, Places, Quota, QuotaKind, StateError, StateStore};

use crate::postgres::Postgres;

/// Runs `suite` on a fresh SQLite store, then on a fresh PostgreSQL one.
fn on_both<F, Fut>(suite: F)
where
    F: Fn(ServerStore) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    on_both_urls(|url| {
        let suite = &suite;
        async move {
            let state = StateStore::open_url(&url).await.unwrap();
            suite(ServerStore::open(state)).await;
        }
    });
}

/// Runs `suite` with the URL of a fresh SQLite database, then of a fresh
/// PostgreSQL one, for suites that open several pools on it (as several
/// processes or daemons would).
fn on_both_urls<F, Fut>(suite: F)
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite:{}", dir.path().join("petri.sqlite").display());
    petri_tests::block_on(suite(sqlite));
    let pg = Postgres::start();
    petri_tests::block_on(suite(pg.url.clone()));
}

fn row(id: &str, group: &str, priority: &str) -> RunRow {
    RunRow {
        id: id.to_owned(),
        group: group.to_owned(),
        status: RunStatus::Pending,
        pipeline: "p".to_owned(),
        description: String::new(),
        priority: priority.to_owned(),
        request: "{}".to_owned(),
        submitted_at: "2026-11-27T00:00:00.000000Z".to_owned(),
        started_at: None,
        finished_at: None,
        record_id: None,
        root: None,
        error: None,
        recoveries: 0,
    }
}

/// A claim by `owner` at `now_ms` with a 1 s lease.
async fn claim(store: &ServerStore, owner: &str, now_ms: i64) -> Option<Claimed> {
    claim_capped(store, owner, now_ms, None).await
}

/// [`claim`] under caps on each group's runs in progress.
async fn claim_capped(
    store: &ServerStore,
    owner: &str,
    now_ms: i64,
    per_group: Option<GroupCaps<'_>>,
) -> Option<Claimed> {
    let claim = Claim {
        owner,
        now: "2026-11-27T00:00:01Z",
        now_ms,
        lease_until_ms: now_ms + 1_000,
        per_group,
    };
    store.claim_next(&claim).await.unwrap()
}

/// Four claimers at once, as four daemons would, until nothing is left for
/// them: every claim they made.
async fn claim_concurrently(
    store: &ServerStore,
    per_group: Option<GroupCaps<'static>>,
) -> Vec<Fence> {
    let claimers = (0..4).map(|n| {
        let store = store.clone();
        tokio::spawn(async move {
            let mut mine = Vec::new();
            while let Some(c) = claim_capped(&store, &format!("d{n}"), 0, per_group).await {
                mine.push(c.fence);
            }
            mine
        })
    });
    let mut all = Vec::new();
    for c in claimers {
        all.extend(c.await.unwrap());
    }
    all
}

/// Group `a` may have one run in progress, `b` two, every other group any number.
fn caps(group: &str) -> Option<u32> {
    match group {
        "a" => Some(1),
        "b" => Some(2),
        _ => None,
    }
}

fn lost<T>(r: Result<T, StateError>) -> bool {
    matches!(r, Err(StateError::LeaseLost { .. }))
}

#[test]
fn claims_are_exclusive_and_most_urgent_first() {
    on_both(|store| async move {
        for i in 0..30 {
            let priority = if i == 17 { "clinical" } else { "normal" };
            let rank = i64::from(i == 17) * 2;
            store
                .insert_run(&row(&format!("run-{i:02}"), "g", priority), rank, "")
                .await
                .unwrap();
        }
        let all = claim_concurrently(&store, None).await;
        let mut ids: Vec<&str> = all.iter().map(|f| f.run_id.as_str()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 30, "each run claimed exactly once");
        let mut tokens: Vec<i64> = all.iter().map(|f| f.token).collect();
        tokens.sort();
        tokens.dedup();
        assert_eq!(tokens.len(), 30, "every claim has its own fencing token");
        let first = all.iter().min_by_key(|f| f.token).unwrap();
        assert_eq!(first.run_id, "run-17", "the clinical run goes first");
    });
}

#[test]
fn each_groups_cap_on_runs_in_progress_holds_its_runs_back_and_lets_others_pass() {
    on_both(|store| async move {
        for (id, group) in [
            ("r1", "a"),
            ("r2", "a"),
            ("r3", "b"),
            ("r4", "b"),
            ("r5", "b"),
        ] {
            store
                .insert_run(&row(id, group, "normal"), 0, "")
                .await
                .unwrap();
        }
        store
            .insert_run(&row("r6", "c", "normal"), 0, "")
            .await
            .unwrap();
        let mut claimed = Vec::new();
        while let Some(c) = claim_capped(&store, "d", 0, Some(&caps)).await {
            claimed.push(c.fence);
        }
        let ids: Vec<&str> = claimed.iter().map(|f| f.run_id.as_str()).collect();
        assert_eq!(
            ids,
            ["r1", "r3", "r4", "r6"],
            "a's second and b's third run wait"
        );

        // A run of a ending frees a's place; b stays at its cap.
        let end = RunEnd {
            status: RunStatus::Completed,
            record_id: None,
            root: None,
            error: None,
            detail: "",
            now: "2026-11-27T00:00:09Z",
        };
        assert!(
            store
                .finish("r1", RunStatus::Validating, end, Some(&claimed[0]))
                .await
                .unwrap()
        );
        let next = claim_capped(&store, "d", 0, Some(&caps)).await.unwrap();
        assert_eq!(next.fence.run_id, "r2");
        assert!(claim_capped(&store, "d", 0, Some(&caps)).await.is_none());

        // A lapsed run is rescued although its group is at its cap: it is one of them.
        let rescued = claim_capped(&store, "e", 5_000, Some(&caps)).await.unwrap();
        assert!(rescued.rescued, "{:?}", rescued.fence);
    });
}

#[test]
fn concurrent_claims_never_take_a_group_past_its_cap() {
    on_both(|store| async move {
        for i in 0..12 {
            let group = if i % 2 == 0 { "a" } else { "b" };
            store
                .insert_run(&row(&format!("run-{i:02}"), group, "normal"), 0, "")
                .await
                .unwrap();
        }
        let fences = claim_concurrently(&store, Some(&caps)).await;
        let all: Vec<&str> = fences.iter().map(|f| f.run_id.as_str()).collect();
        let groups = |g: &str| {
            let wanted = if g == "a" { 0 } else { 1 };
            all.iter()
                .filter(|id| id[4..].parse::<u32>().unwrap() % 2 == wanted)
                .count()
        };
        assert_eq!((groups("a"), groups("b")), (1, 2), "claimed: {all:?}");
    });
}

#[test]
fn leases_are_read_off_the_databases_clock_in_ms_since_the_epoch() {
    on_both(|store| async move {
        let local = |t: std::time::SystemTime| {
            t.duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
        };
        let before = local(std::time::SystemTime::now());
        let db = store.state().now_ms().await.unwrap();
        let after = local(std::time::SystemTime::now());
        // The PostgreSQL here runs on this machine: its clock is ours, so a
        // wrong unit or epoch (seconds, microseconds, Julian days) shows.
        assert!(
            (before - 1_000..=after + 1_000).contains(&db),
            "{before} <= {db} <= {after}"
        );
    });
}

#[test]
fn a_lapsed_lease_is_rescued_and_the_stale_token_commits_nothing() {
    on_both(|store| async move {
        store
            .insert_run(&row("r1", "g", "normal"), 0, "")
            .await
            .unwrap();
        let old = claim(&store, "a", 0).await.unwrap().fence;
        assert!(store.renew(&old, 1_000).await.unwrap());
        // Within the lease nobody else may take it.
        assert!(claim(&store, "b", 500).await.is_none());
        // Past it, b rescues it with a larger token.
        let rescued = claim(&store, "b", 5_000).await.unwrap();
        assert!(rescued.rescued);
        let new = rescued.fence;
        assert!(new.token > old.token);

        // Every commit a's executor could still make is refused.
        assert!(!store.renew(&old, 9_000).await.unwrap());
        let event = store
            .event("r1", "late", "from a", "2026-11-27T00:00:09Z", Some(&old))
            .await;
        assert!(
            matches!(event, Err(StateError::LeaseLost { .. })),
            "{event:?}"
        );
        assert!(lost(
            store.put_stage("r1", "s", "x", "{}", Some(&old)).await
        ));
        let end = RunEnd {
            status: RunStatus::Completed,
            record_id: None,
            root: None,
            error: None,
            detail: "",
            now: "2026-11-27T00:00:09Z",
        };
        assert!(lost(
            store
                .transition(
                    "r1",
                    &[RunStatus::Validating],
                    RunStatus::Running,
                    None,
                    "2026-11-27T00:00:10.000000Z",
                    Some(&old)
                )
                .await
        ));
        assert!(lost(
            store
                .finish("r1", RunStatus::Validating, end, Some(&old))
                .await
        ));
        assert!(lost(
            store.state().remember("k", "rec", "seal", Some(&old)).await
        ));
        assert_eq!(store.state().cached("k").await.unwrap(), None);
        assert!(
            store
                .state()
                .cached_among(&["k".into()])
                .await
                .unwrap()
                .is_empty()
        );
        let events = store.events("r1").await.unwrap();
        assert!(events.iter().all(|(_, kind, _)| kind != "late"));
        assert!(events.iter().any(|(_, kind, _)| kind == "rescued"));

        // b's commits go through, once.
        store
            .state()
            .remember("k", "rec", "seal", Some(&new))
            .await
            .unwrap();
        assert!(
            store
                .finish("r1", RunStatus::Validating, end, Some(&new))
                .await
                .unwrap()
        );
        let run = store.run("r1").await.unwrap().unwrap();
        assert_eq!((run.status, run.recoveries), (RunStatus::Completed, 1));
        // Asked in chunks: more keys than one query binds, one of them cached.
        let mut keys: Vec<String> = (0..1200).map(|i| format!("absent-{i}")).collect();
        keys.insert(700, "k".into());
        let found = store.state().cached_among(&keys).await.unwrap();
        assert_eq!(found, std::collections::HashSet::from(["k".to_owned()]));
    });
}

#[test]
fn a_cancel_through_any_daemon_ends_the_owners_lease() {
    on_both(|store| async move {
        store
            .insert_run(&row("r1", "g", "normal"), 0, "")
            .await
            .unwrap();
        store
            .insert_run(&row("r2", "g", "normal"), 0, "")
            .await
            .unwrap();
        let a = claim(&store, "a", 0).await.unwrap().fence;
        let b = claim(&store, "b", 0).await.unwrap().fence;
        // Any daemon: an unfenced transition, as the cancel route makes.
        let from = [
            RunStatus::Pending,
            RunStatus::Validating,
            RunStatus::Running,
        ];
        let cancelled = store
            .transition(
                &a.run_id,
                &from,
                RunStatus::Cancelled,
                Some(("cancelled", "")),
                "2026-11-27T00:00:10.000000Z",
                None,
            )
            .await
            .unwrap();
        assert!(cancelled);
        assert!(
            !store.renew(&a, 9_000).await.unwrap(),
            "the owner must stop"
        );
        assert!(store.renew(&b, 9_000).await.unwrap());
        // A restart of `a` takes back only a's interrupted runs.
        assert_eq!(
            store.requeue_interrupted("b").await.unwrap(),
            vec![b.run_id]
        );
        assert!(store.requeue_interrupted("a").await.unwrap().is_empty());
    });
}

#[test]
fn instrument_places_are_shared_and_the_most_urgent_waiter_goes_first() {
    on_both(|store| async move {
        for (id, rank) in [("clinical", 2), ("normal-1", 0), ("normal-2", 0)] {
            store
                .insert_run(&row(id, "g", "normal"), rank, "")
                .await
                .unwrap();
        }
        // Three daemons, one run each (claimed most urgent first).
        let mut fences = std::collections::HashMap::new();
        for daemon in ["a", "b", "c"] {
            let fence = claim(&store, daemon, 0).await.unwrap().fence;
            fences.insert(fence.run_id.clone(), fence);
        }
        let capacity = std::collections::HashMap::from([("sequencer".to_owned(), 1)]);
        let places = |run: &str, rank: i64| {
            let lease = std::time::Duration::from_secs(30);
            Places::new(
                store.state().clone(),
                fences[run].clone(),
                rank,
                capacity.clone(),
                lease,
            )
        };
        let pause = || tokio::time::sleep(std::time::Duration::from_millis(600));
        // Not a shared instrument: no place is taken.
        assert!(
            places("normal-1", 0)
                .take("compute", "s/x")
                .await
                .unwrap()
                .is_none()
        );

        let held = places("normal-1", 0)
            .take("sequencer", "s/a")
            .await
            .unwrap();
        assert!(held.is_some());
        // The normal run starts waiting first, the clinical one after.
        let normal = places("normal-2", 0);
        let normal = tokio::spawn(async move { normal.take("sequencer", "s/b").await });
        pause().await;
        let clinical = places("clinical", 2);
        let clinical = tokio::spawn(async move { clinical.take("sequencer", "s/c").await });
        pause().await;
        assert!(
            !normal.is_finished() && !clinical.is_finished(),
            "one place, held"
        );

        drop(held);
        let within = std::time::Duration::from_secs(10);
        let clinical_place = tokio::time::timeout(within, clinical)
            .await
            .expect("the clinical waiter must get the freed place")
            .unwrap()
            .unwrap();
        assert!(clinical_place.is_some(), "the clinical waiter goes first");
        pause().await;
        assert!(!normal.is_finished(), "capacity 1: still one holder");
        drop(clinical_place);
        assert!(normal.await.unwrap().unwrap().is_some());
    });
}

#[test]
fn concurrent_grants_never_exceed_a_groups_fuel_per_day_nor_its_store() {
    on_both(|store| async move {
        let limits = GroupQuota {
            fuel_per_day: Some(1_000),
            store_bytes: Some(1_000),
            ..GroupQuota::default()
        };
        let quota = |group: &str, run: &str| Quota::new(store.state().clone(), group, run, limits);
        // Eight executions of four runs at once, as several daemons would,
        // each asking for 300: 1,000 in all is granted, never more.
        let asks = (0..8).map(|n| {
            let q = quota("g", &format!("run-{}", n % 4));
            tokio::spawn(async move { q.grant(300, 10_000).await.unwrap() })
        });
        let mut grants = Vec::new();
        for ask in asks {
            grants.push(ask.await.unwrap());
        }
        let granted: u64 = grants.iter().flatten().map(|g| g.fuel).sum();
        assert_eq!(granted, 1_000);
        let refused: Vec<_> = grants.iter().filter_map(|g| g.as_ref().err()).collect();
        assert!(!refused.is_empty());
        assert!(refused.iter().all(|e| e.kind == QuotaKind::FuelPerDay));
        // Settling returns what an execution did not use.
        let first = grants.iter().flatten().next().unwrap();
        quota("g", "run-0").settle(first, 100).await.unwrap();
        let again = quota("g", "run-9")
            .grant(300, 10_001)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(again.fuel, first.fuel - 100);
        // Another group, or the same a day later, is not held back.
        let other = quota("h", "run-h")
            .grant(300, 10_001)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((other.fuel, other.fuel_bound), (300, None));
        let tomorrow = quota("g", "run-0")
            .grant(300, 10_000 + 86_400_000)
            .await
            .unwrap();
        assert_eq!(tomorrow.unwrap().fuel, 300);
        // Stored bytes: an execution may write what is left, and nothing once it is spent.
        store
            .own_blobs("g", &[("aa".repeat(32), 700)])
            .await
            .unwrap();
        let room = quota("g", "run-s")
            .grant(1, 10_000 + 86_400_000)
            .await
            .unwrap();
        assert_eq!(room.unwrap().output_bytes, 300);
        store
            .own_blobs("g", &[("bb".repeat(32), 300)])
            .await
            .unwrap();
        let full = quota("g", "run-s")
            .grant(1, 10_000 + 86_400_000)
            .await
            .unwrap();
        assert_eq!(full.unwrap_err().kind, QuotaKind::StoreBytes);
    });
}

#[test]
fn a_late_heartbeat_keeps_the_place_until_the_run_is_claimed_again() {
    on_both(|store| async move {
        // `other` holds a claim good until far in the future; `slow`'s ran out
        // long ago, but nobody has claimed it again yet.
        let far = 4_000_000_000_000;
        store
            .insert_run(&row("other", "g", "normal"), 0, "")
            .await
            .unwrap();
        let other = claim(&store, "b", far).await.unwrap().fence;
        store
            .insert_run(&row("slow", "g", "normal"), 0, "")
            .await
            .unwrap();
        let slow = claim(&store, "a", 0).await.unwrap().fence;
        assert_eq!(
            (other.run_id.as_str(), slow.run_id.as_str()),
            ("other", "slow")
        );
        let capacity = std::collections::HashMap::from([("robot".to_owned(), 1)]);
        // A place lease of 1 ms: it has run out by the time anyone else asks.
        let places = |fence: &Fence| {
            let lease = std::time::Duration::from_millis(1);
            Places::new(
                store.state().clone(),
                fence.clone(),
                0,
                capacity.clone(),
                lease,
            )
        };
        let held = places(&slow).take("robot", "s/a").await.unwrap();
        assert!(held.is_some());
        let asks = places(&other);
        let ask = tokio::spawn(async move { asks.take("robot", "s/b").await });
        tokio::time::sleep(std::time::Duration::from_millis(800)).await;
        assert!(
            !ask.is_finished(),
            "the holder's claim stands: its place too"
        );
        // Another daemon claims the slow run again: the old claim's place is free.
        let rescued = claim(&store, "c", far + 500).await.unwrap();
        assert_eq!(rescued.fence.run_id, "slow");
        let place = tokio::time::timeout(std::time::Duration::from_secs(10), ask)
            .await
            .expect("the lapsed place must be taken")
            .unwrap()
            .unwrap();
        assert!(place.is_some());
        drop(held);
    });
}

#[test]
fn a_group_commit_of_many_rows_keeps_the_last_entry_of_a_key_given_twice() {
    use petri_host::StageRows;
    on_both(|store| async move {
        let row = |i: usize, key: &str| StageRows {
            record_id: format!("rec-{i}"),
            seal: format!("seal-{i}"),
            cache_key: Some(key.to_owned()),
        };
        // More rows than one statement binds; key-7 twice in one commit (as
        // two identical stages of a `--no-cache` run give), and key-3 again
        // in a later commit.
        let mut rows: Vec<StageRows> = (0..600).map(|i| row(i, &format!("key-{i}"))).collect();
        rows.push(row(600, "key-7"));
        rows.push(StageRows {
            cache_key: None,
            ..row(601, "")
        });
        let state = store.state();
        state.commit_stages(&rows, None).await.unwrap();
        state
            .commit_stages(&[row(602, "key-3")], None)
            .await
            .unwrap();

        let cached = |k: &'static str| async move { state.cached(k).await.unwrap() };
        assert_eq!(cached("key-0").await.as_deref(), Some("rec-0"));
        assert_eq!(cached("key-599").await.as_deref(), Some("rec-599"));
        assert_eq!(cached("key-7").await.as_deref(), Some("rec-600"));
        assert_eq!(cached("key-3").await.as_deref(), Some("rec-602"));
        for i in [0, 7, 599, 600, 601, 602] {
            let seal = state.seal_of(&format!("rec-{i}")).await.unwrap();
            assert_eq!(seal, Some(format!("seal-{i}")), "record {i}");
        }
        let keys: Vec<String> = (0..700).map(|i| format!("key-{i}")).collect();
        assert_eq!(state.cached_among(&keys).await.unwrap().len(), 600);
    });
}
