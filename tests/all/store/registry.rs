//! The module registry in the database, on SQLite and PostgreSQL: a name and version keep their
//! bytes unless forced, every registration is kept, adders in two daemons at once lose nothing,
//! and an older data dir's `registry.json` is imported once.

use petri_host::{Added, Digest, Registry, RegistryEntry, RegistryError, StateStore};

use super::on_both_urls;

fn entry(name: &str, version: &str, bytes: &[u8]) -> RegistryEntry {
    RegistryEntry {
        name: name.to_owned(),
        version: version.to_owned(),
        sha256: Digest::of(bytes),
    }
}

/// The registry of the database at `url`, through a pool of its own (another daemon).
async fn open(url: &str) -> Registry {
    Registry::new(&StateStore::open_url(url).await.unwrap())
}

fn conflict<T>(r: Result<T, RegistryError>, registered: &[u8]) -> bool {
    matches!(r, Err(RegistryError::Conflict { registered: d, .. }) if d == Digest::of(registered))
}

/// (version, bytes' digest, forced) of each registration of `name`.
async fn history(r: &Registry, name: &str) -> Vec<(String, Digest, bool)> {
    let named = r.list_with_history().await.unwrap();
    let m = named.iter().find(|m| m.entry.name == name).unwrap();
    m.history
        .iter()
        .map(|h| (h.version.clone(), h.sha256, h.forced))
        .collect()
}

#[test]
fn a_version_keeps_its_bytes_unless_forced_and_every_registration_is_kept() {
    on_both_urls(|url| async move {
        let r = open(&url).await;
        assert!(r.resolve("qc").await.unwrap().is_none());
        assert_eq!(r.add(entry("qc", "1.0", b"a")).await.unwrap(), Added::New);
        assert_eq!(
            r.add(entry("qc", "1.0", b"a")).await.unwrap(),
            Added::Unchanged
        );
        assert!(conflict(r.add(entry("qc", "1.0", b"b")).await, b"a"));
        assert_eq!(r.add(entry("qc", "2.0", b"c")).await.unwrap(), Added::New);
        // 1.0 named `a` once: it still may not name other bytes.
        assert!(conflict(r.add(entry("qc", "1.0", b"b")).await, b"a"));
        assert_eq!(
            r.add_with(entry("qc", "1.0", b"b"), true).await.unwrap(),
            Added::Replaced
        );
        assert_eq!(
            r.add(entry("align", "0.1", b"d")).await.unwrap(),
            Added::New
        );

        // Another daemon on the same database sees all of it.
        let other = open(&url).await;
        assert_eq!(
            other.resolve("qc").await.unwrap(),
            Some(entry("qc", "1.0", b"b"))
        );
        assert_eq!(
            other.list().await.unwrap(),
            [entry("align", "0.1", b"d"), entry("qc", "1.0", b"b")]
        );
        let v = |s: &str| s.to_owned();
        assert_eq!(
            history(&other, "qc").await,
            [
                (v("1.0"), Digest::of(b"a"), false),
                (v("2.0"), Digest::of(b"c"), false),
                (v("1.0"), Digest::of(b"b"), true),
            ]
        );
        let named = other.list_with_history().await.unwrap();
        assert!(
            named
                .iter()
                .flat_map(|m| &m.history)
                .all(|h| !h.added_at.is_empty())
        );
        // The refused and the unchanged adds left no trace.
        assert_eq!(history(&other, "align").await.len(), 1);
    });
}

#[test]
fn adders_in_two_daemons_at_once_lose_nothing() {
    on_both_urls(|url| async move {
        let daemons = [open(&url).await, open(&url).await];
        // Two daemons, four adders each, registering versions of two shared names.
        let mut adders = Vec::new();
        for (d, r) in daemons.iter().enumerate() {
            for a in 0..4 {
                let r = r.clone();
                adders.push(tokio::spawn(async move {
                    for n in 0..5 {
                        let version = format!("{d}.{a}.{n}");
                        let name = format!("m{}", a % 2);
                        let e = entry(&name, &version, version.as_bytes());
                        assert_eq!(r.add(e).await.unwrap(), Added::New);
                    }
                }));
            }
        }
        for adder in adders {
            adder.await.unwrap();
        }
        let named = daemons[0].list_with_history().await.unwrap();
        let mut versions: Vec<&str> = named
            .iter()
            .flat_map(|m| m.history.iter().map(|h| h.version.as_str()))
            .collect();
        versions.sort();
        versions.dedup();
        assert_eq!(versions.len(), 2 * 4 * 5, "every registration kept once");
        for m in &named {
            let last = m.history.last().unwrap();
            assert_eq!(
                (&m.entry.version, m.entry.sha256),
                (&last.version, last.sha256),
                "the current entry is the latest registration"
            );
        }

        // The same name and version offered with other bytes by both at
        // once: one registers, the other is refused.
        for round in 0..10 {
            let name = format!("race-{round}");
            let offers: Vec<_> = daemons
                .iter()
                .zip([b"x", b"y"])
                .map(|(r, bytes)| {
                    let (r, e) = (r.clone(), entry(&name, "1.0", bytes));
                    tokio::spawn(async move { r.add(e).await })
                })
                .collect();
            let mut outcomes = Vec::new();
            for offer in offers {
                outcomes.push(offer.await.unwrap());
            }
            let won = outcomes.iter().filter(|o| o.is_ok()).count();
            let refused = outcomes
                .iter()
                .filter(|o| matches!(o, Err(RegistryError::Conflict { .. })))
                .count();
            assert_eq!((won, refused), (1, 1), "{name}: {outcomes:?}");
            assert_eq!(history(&daemons[1], &name).await.len(), 1);
        }
    });
}

#[test]
fn an_older_registry_json_is_imported_once() {
    on_both_urls(|url| async move {
        let dir = tempfile::tempdir().unwrap();
        let hex = |b: &[u8]| Digest::of(b).to_hex();
        // As petri wrote it before the registry was in the database: `qc`
        // forced over other bytes of 1.0, `align` from before history was kept.
        let old = serde_json::json!({
            "qc": {"name": "qc", "version": "1.0", "sha256": hex(b"b"), "history": [
                {"version": "1.0", "sha256": hex(b"a"), "added_at": "2026-01-01T00:00:00Z"},
                {"version": "1.0", "sha256": hex(b"b"), "added_at": "2026-01-02T00:00:00Z"}
            ]},
            "align": {"name": "align", "version": "0.1", "sha256": hex(b"d")}
        });
        let file = dir.path().join("registry.json");
        std::fs::write(&file, old.to_string()).unwrap();

        let state = StateStore::open_url(&url).await.unwrap();
        let r = Registry::open_in(&state, dir.path()).await.unwrap();
        assert_eq!(
            r.list().await.unwrap(),
            [entry("align", "0.1", b"d"), entry("qc", "1.0", b"b")]
        );
        let v = |s: &str| s.to_owned();
        assert_eq!(
            history(&r, "qc").await,
            [
                (v("1.0"), Digest::of(b"a"), false),
                (v("1.0"), Digest::of(b"b"), true),
            ]
        );
        let named = r.list_with_history().await.unwrap();
        assert_eq!(named[0].history[0].added_at, "", "time unknown");
        // Imported versions keep their bytes.
        assert!(conflict(r.add(entry("align", "0.1", b"x")).await, b"d"));
        assert_eq!(r.add(entry("qc", "2.0", b"c")).await.unwrap(), Added::New);

        // Opening again (another process, another daemon) imports nothing:
        // the database is the truth.
        let before = r.list_with_history().await.unwrap();
        let state = StateStore::open_url(&url).await.unwrap();
        let again = Registry::open_in(&state, dir.path()).await.unwrap();
        assert_eq!(again.import_file(&file).await.unwrap(), 0);
        assert_eq!(again.list_with_history().await.unwrap(), before);

        // A damaged file is an error, not an empty registry.
        let damaged = tempfile::tempdir().unwrap();
        std::fs::write(damaged.path().join("registry.json"), "{not json").unwrap();
        assert!(matches!(
            Registry::open_in(&state, damaged.path()).await,
            Err(RegistryError::Parse { .. })
        ));
    });
}
