//! `petri bundle` and `petri verify BUNDLE` (issue 14): a bundle re-executes in an empty data
//! dir; a changed file is named; a signature that does not match is refused.

use std::io::{Read, Write};
use std::path::Path;

use super::{example, json, petri, stderr};

/// Copies the bundle `from` to `to`, letting `edit` change any file's bytes.
fn rewrite(from: &Path, to: &Path, edit: impl Fn(&str, &mut Vec<u8>)) {
    let file = std::fs::File::open(from).unwrap();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let out = std::fs::File::create(to).unwrap();
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        out,
        flate2::Compression::fast(),
    ));
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        edit(&path, &mut bytes);
        let mut header = entry.header().clone();
        header.set_size(bytes.len() as u64);
        header.set_cksum();
        builder.append(&header, bytes.as_slice()).unwrap();
    }
    builder
        .into_inner()
        .unwrap()
        .finish()
        .unwrap()
        .flush()
        .unwrap();
}

/// The one path of the bundle starting with `prefix`, as listed in its manifest.
fn first_path(manifest: &serde_json::Value, prefix: &str) -> String {
    manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_owned())
        .find(|p| p.starts_with(prefix))
        .unwrap()
}

#[test]
fn a_lambda_bundle_verifies_in_an_empty_data_dir_and_tampering_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let pipeline = example(dir.path(), &data, "lambda");
    let out = petri(&data, &["run", pipeline.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let id = json(&out)["run_id"].as_str().unwrap().to_owned();

    let bundle = dir.path().join("run.petri");
    let out = petri(&data, &["bundle", &id, "-o", bundle.to_str().unwrap()]);
    assert!(!out.status.success(), "no key yet: refused");
    assert!(
        stderr(&out).contains("petri key generate"),
        "{}",
        stderr(&out)
    );
    let out = petri(&data, &["key", "generate"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = petri(
        &data,
        &["bundle", &id, "-o", bundle.to_str().unwrap(), "--json"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let manifest = json(&out)["manifest"].clone();
    let fingerprint = manifest["key"].as_str().unwrap().to_owned();

    // An empty data dir: everything comes from the bundle.
    let fresh = dir.path().join("fresh");
    let out = petri(
        &fresh,
        &[
            "verify",
            bundle.to_str().unwrap(),
            "--key",
            &fingerprint,
            "--json",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["verified"], true);
    assert_eq!(report["run_id"], id.as_str());

    // One byte of a module changed: the file is named, nothing verifies.
    let module = first_path(&manifest, "modules/");
    let tampered = dir.path().join("tampered.petri");
    rewrite(&bundle, &tampered, |path, bytes| {
        if path == module {
            let last = bytes.len() - 1;
            bytes[last] ^= 1;
        }
    });
    let out = petri(
        &dir.path().join("fresh2"),
        &["verify", tampered.to_str().unwrap()],
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains(&module), "{}", stderr(&out));

    // A signature that does not match the manifest is refused.
    let forged = dir.path().join("forged.petri");
    rewrite(&bundle, &forged, |path, bytes| {
        if path == "signature.json" {
            let mut sig: serde_json::Value = serde_json::from_slice(bytes).unwrap();
            let hex = sig["signature"].as_str().unwrap();
            let flipped = if hex.starts_with('0') { "1" } else { "0" };
            sig["signature"] = format!("{flipped}{}", &hex[1..]).into();
            *bytes = serde_json::to_vec(&sig).unwrap();
        }
    });
    let out = petri(
        &dir.path().join("fresh3"),
        &["verify", forged.to_str().unwrap()],
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("signature"), "{}", stderr(&out));

    // --no-inputs: only the inputs' digests travel; re-execution reports them missing.
    let light = dir.path().join("light.petri");
    let out = petri(
        &data,
        &[
            "bundle",
            &id,
            "-o",
            light.to_str().unwrap(),
            "--no-inputs",
            "--json",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let omitted = json(&out)["manifest"]["omitted_inputs"].clone();
    let reads = omitted.as_array().unwrap();
    assert!(!reads.is_empty());
    let light_manifest = json(&out)["manifest"].clone();
    for d in reads {
        let path = format!("data/{}", d.as_str().unwrap());
        assert!(
            light_manifest["files"]
                .as_array()
                .unwrap()
                .iter()
                .all(|f| f["path"] != path.as_str())
        );
    }
    let out = petri(
        &dir.path().join("fresh5"),
        &["verify", light.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("missing blob"), "{}", stderr(&out));

    // Signed, but not by the key the recipient expects.
    let other = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
    let out = petri(
        &dir.path().join("fresh4"),
        &["verify", bundle.to_str().unwrap(), "--key", other],
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains(&fingerprint), "{}", stderr(&out));
}
