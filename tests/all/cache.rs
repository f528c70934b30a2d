//! The compiled-code cache: reused on a second load, rebuilt (never executed) when corrupted or foreign.

use petri_host::{CacheOutcome, CompiledCache, Petri};
use petri_tests::{block_on, request, run, succeeded};

fn entry_path(petri: &Petri, wasm: &[u8]) -> std::path::PathBuf {
    let digest = petri_host::Digest::of(wasm);
    petri.cache().entry_path(&CompiledCache::key(
        petri.engine(),
        petri.profile(),
        &digest,
    ))
}

#[test]
fn second_load_reuses_compiled_code() {
    let dir = tempfile::tempdir().unwrap();
    let first = Petri::open(dir.path()).unwrap();
    assert_eq!(
        first
            .load_file(petri_plugins::TESTKIT.as_ref())
            .unwrap()
            .cache,
        CacheOutcome::Miss
    );
    // A new host (as a new process would be) finds the entry.
    let second = Petri::open(dir.path()).unwrap();
    let stage = second.load_file(petri_plugins::TESTKIT.as_ref()).unwrap();
    assert_eq!(stage.cache, CacheOutcome::Hit);
    succeeded(&run(&second, &stage, request(&[("mode", "copy")], &[])));
}

#[test]
fn corrupted_entry_is_rejected_and_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = std::fs::read(petri_plugins::TESTKIT).unwrap();
    let petri = Petri::open(dir.path()).unwrap();
    petri.load(&wasm).unwrap();
    let path = entry_path(&petri, &wasm);
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();

    let stage = Petri::open(dir.path()).unwrap().load(&wasm).unwrap();
    match &stage.cache {
        CacheOutcome::Rebuilt { reason } => assert!(reason.contains("corrupted"), "{reason}"),
        other => panic!("corrupted entry was used: {other:?}"),
    }
    // The rebuilt entry is good again, and the stage runs.
    let petri = Petri::open(dir.path()).unwrap();
    let stage = petri.load(&wasm).unwrap();
    assert_eq!(stage.cache, CacheOutcome::Hit);
    succeeded(&run(&petri, &stage, request(&[("mode", "copy")], &[])));
}

#[test]
fn foreign_entry_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let petri = Petri::open(dir.path()).unwrap();
    let testkit = std::fs::read(petri_plugins::TESTKIT).unwrap();
    let qc = std::fs::read(petri_plugins::FASTQ_QC).unwrap();
    petri.load(&testkit).unwrap();
    petri.load(&qc).unwrap();
    // Put the QC stage's compiled code where the testkit's belongs.
    std::fs::copy(entry_path(&petri, &qc), entry_path(&petri, &testkit)).unwrap();
    let stage = petri.load(&testkit).unwrap();
    match &stage.cache {
        CacheOutcome::Rebuilt { reason } => assert!(reason.contains("foreign"), "{reason}"),
        other => panic!("foreign entry was used: {other:?}"),
    }
    let manifest = block_on(petri.describe(&stage)).unwrap();
    assert_eq!(manifest.name, "testkit");
}

#[test]
fn truncated_entry_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = std::fs::read(petri_plugins::TESTKIT).unwrap();
    let petri = Petri::open(dir.path()).unwrap();
    petri.load(&wasm).unwrap();
    std::fs::write(entry_path(&petri, &wasm), b"petri").unwrap();
    assert!(matches!(
        petri.load(&wasm).unwrap().cache,
        CacheOutcome::Rebuilt { .. }
    ));
}
