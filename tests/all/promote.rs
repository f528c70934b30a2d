//! Promotions and rollbacks that cannot be made: each is refused naming why, and the name
//! stays where it was.

use petri_host::pipeline::{Promote, PromoteError, Require, promote, rollback};
use petri_host::{Digest, Registry, RegistryEntry};
use petri_tests::{Fixture, block_on};

/// A fixture whose registry names `testkit` (bytes stored), and that registry.
fn registered() -> (Fixture, Registry, Digest) {
    let f = Fixture::new();
    let wasm = std::fs::read(petri_plugins::TESTKIT).unwrap();
    let digest = f.petri.blobs().put(&wasm).unwrap();
    let registry = Registry::new(&f.state);
    let entry = RegistryEntry {
        name: "testkit".into(),
        version: "1.0".into(),
        sha256: digest,
    };
    block_on(registry.add(entry)).unwrap();
    (f, registry, digest)
}

#[test]
fn a_promotion_to_what_cannot_replace_the_module_is_refused() {
    let (f, registry, current) = registered();
    let qc = f
        .petri
        .blobs()
        .put(&std::fs::read(petri_plugins::FASTQ_QC).unwrap())
        .unwrap();
    let junk = f.petri.blobs().put(b"not a component").unwrap();
    let absent = Digest::of(b"never stored");
    let to = |candidate: Digest| {
        let p = Promote {
            name: "testkit".into(),
            candidate,
            shadow: 1,
            require: Require::Nothing,
        };
        let err = block_on(promote(&f.petri, &f.state, &registry, &p, None)).unwrap_err();
        (err.to_string(), err)
    };
    let (message, _) = to(current);
    assert_eq!(
        message,
        format!("`testkit` already points to sha256:{current}")
    );
    let (message, _) = to(qc);
    assert_eq!(
        message,
        format!("candidate sha256:{qc} is the stage `fastq-qc`, not `testkit`")
    );
    for candidate in [junk, absent] {
        let (message, err) = to(candidate);
        assert!(
            matches!(err, PromoteError::Candidate { digest, .. } if digest == candidate),
            "{message}"
        );
        assert!(
            message.starts_with(&format!("candidate sha256:{candidate}: ")),
            "{message}"
        );
    }
    let now = block_on(registry.resolve("testkit")).unwrap().unwrap();
    assert_eq!(now.sha256, current, "nothing moved");
}

#[test]
fn a_rollback_needs_an_earlier_other_module_from_the_names_history() {
    let (_f, registry, current) = registered();
    let err = |to: Option<Digest>| {
        block_on(rollback(&registry, "testkit", to))
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        err(None),
        "`testkit` has no earlier module to roll back to (give one from its history)"
    );
    let never = Digest::of(b"never registered");
    assert_eq!(
        err(Some(never)),
        format!(
            "sha256:{never} was never registered as `testkit` (see `petri plugin history testkit`)"
        )
    );
    assert_eq!(
        err(Some(current)),
        format!("`testkit` already points to sha256:{current}")
    );
}
