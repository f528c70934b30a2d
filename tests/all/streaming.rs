//! Streaming: every byte hashed on the way in and out, chunking fixed, params checked up front.

use std::io::Write;

use petri_host::{Digest, Error, InputSource, Outcome};
use petri_tests::{block_on, host, request, run, succeeded};

fn bytes(n: usize) -> Vec<u8> {
    let mut state = 0x9e3779b97f4a7c15u64;
    (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

#[test]
fn bytes_round_trip_with_digests_and_stable_fuel() {
    let (petri, dir) = host();
    let data = bytes(1_000_003); // not a multiple of the chunk size
    let path = dir.path().join("data.bin");
    std::fs::write(&path, &data).unwrap();
    let stage = petri.load_file(petri_plugins::TESTKIT.as_ref()).unwrap();
    let a = run(
        &petri,
        &stage,
        request(&[("mode", "copy")], &[("data", path.clone())]),
    );
    succeeded(&a);
    let expected = Digest::of(&data);
    assert_eq!(a.inputs[0].sha256, expected);
    assert_eq!(a.outputs[0].sha256, expected);
    assert_eq!(a.outputs[0].size, data.len() as u64);
    // Inputs are kept in the store, so the run can be re-executed from it.
    assert_eq!(petri.blobs().read(&expected).unwrap(), data);
    let b = run(
        &petri,
        &stage,
        request(&[("mode", "copy")], &[("data", path)]),
    );
    assert_eq!(a.fuel_used, b.fuel_used);
    assert_ne!(a.id, b.id);
    // From the store instead of a file: same bytes, same fuel.
    let mut req = request(&[("mode", "copy")], &[]);
    req.inputs
        .push(("data".into(), InputSource::Blob(expected)));
    let c = run(&petri, &stage, req);
    assert_eq!(
        (c.outputs.clone(), c.fuel_used),
        (a.outputs.clone(), a.fuel_used)
    );
}

#[test]
fn unread_input_is_still_hashed_whole() {
    let (petri, dir) = host();
    let data = bytes(300_000);
    let path = dir.path().join("data.bin");
    std::fs::File::create(&path)
        .unwrap()
        .write_all(&data)
        .unwrap();
    let stage = petri.load_file(petri_plugins::TESTKIT.as_ref()).unwrap();
    // `probe` never reads its input.
    let r = run(
        &petri,
        &stage,
        request(&[("mode", "probe")], &[("data", path)]),
    );
    assert_eq!(r.inputs[0].sha256, Digest::of(&data));
    assert_eq!(r.inputs[0].size, data.len() as u64);
}

/// Every file under `dir`.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[test]
fn every_request_problem_is_reported_at_once() {
    let (petri, dir) = host();
    let stage = petri.load_file(petri_plugins::FASTQ_QC.as_ref()).unwrap();
    let req = request(
        &[
            ("min-length", "ten"),
            ("quality-cutoff", "200"),
            ("colour", "blue"),
        ],
        &[
            ("reeds", dir.path().join("x.fq")),
            ("mates", dir.path().join("missing.fq")),
        ],
    );
    let Err(Error::Request(problems)) = block_on(petri.run(&stage, req)) else {
        panic!("expected a request error");
    };
    let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
    let all = text.join("\n");
    for needle in [
        "param `min-length`",
        "param `quality-cutoff`",
        "param `colour`",
        "input `reeds`",
        "input `reads`: required",
        "missing.fq",
    ] {
        assert!(all.contains(needle), "missing `{needle}` in:\n{all}");
    }
    // Nothing was recorded for a rejected request: the module is the only blob.
    let blobs = walk(&dir.path().join("blobs/sha256"));
    assert_eq!(
        blobs,
        vec![petri.blobs().local_path(&stage.digest).unwrap()]
    );
}

#[test]
fn failed_run_is_recorded_with_fuel() {
    let (petri, _dir) = host();
    let stage = petri.load_file(petri_plugins::TESTKIT.as_ref()).unwrap();
    let (r, seal) = block_on(petri.run_sealed(&stage, request(&[("mode", "fail")], &[]))).unwrap();
    assert!(matches!(r.outcome, Outcome::Failed { .. }));
    assert!(r.fuel_used > 0);
    assert_eq!(petri.records().load_sealed(&r.id, &seal).unwrap(), r);
}
