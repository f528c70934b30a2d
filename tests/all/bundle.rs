//! Bundles opened as untrusted input: each kind of damage to the archive, its signature or its
//! manifest is refused naming the file; a bundle of a sample-sheet run carries the sheet.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use petri_host::generate_key;
use petri_host::pipeline::{BundleError, Inputs, RunRecord, open_bundle, write_bundle};
use petri_tests::Fixture;

const PER_SAMPLE: &str = r#"
[inputs.data]

[stages.copy]
module = "TESTKIT"
params = { mode = "copy" }
inputs = { data = "inputs.data" }
"#;

/// One archive entry: its header and bytes.
type Entry = (tar::Header, Vec<u8>);

/// A change to a bundle's entries.
type Edit = Box<dyn FnOnce(&mut Vec<Entry>)>;

/// A bundle of a two-sample sheet run, written with a new key.
fn bundled() -> (Fixture, RunRecord, PathBuf) {
    let f = Fixture::new();
    for s in ["a", "b"] {
        std::fs::write(f.dir.path().join(format!("{s}.bin")), s).unwrap();
    }
    let sheet = f.dir.path().join("lab sheet.tsv");
    std::fs::write(&sheet, "sample\tdata\na\ta.bin\nb\tb.bin\n").unwrap();
    let path = f.pipeline("per-sample.toml", PER_SAMPLE);
    let run = f.run_sheet(&path, Some(&sheet), false);
    assert_eq!(run.status, "completed", "{run:#?}");
    let bundle = write(&f, &run, "run.petri");
    (f, run, bundle)
}

fn write(f: &Fixture, run: &RunRecord, name: &str) -> PathBuf {
    let key = generate_key(&f.dir.path().join("data"))
        .or_else(|_| petri_host::load_key(&f.dir.path().join("data")))
        .unwrap();
    let out = f.dir.path().join(name);
    write_bundle(&f.petri, run, &key, Inputs::Included, &out).unwrap();
    out
}

/// Copies the bundle `from` to a new file, letting `edit` change its entries.
fn rewrite(from: &Path, name: &str, edit: impl FnOnce(&mut Vec<Entry>)) -> PathBuf {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(
        std::fs::File::open(from).unwrap(),
    ));
    let mut entries: Vec<Entry> = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        entries.push((entry.header().clone(), bytes));
    }
    edit(&mut entries);
    let to = from.with_file_name(name);
    let out = std::fs::File::create(&to).unwrap();
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        out,
        flate2::Compression::fast(),
    ));
    for (header, bytes) in &entries {
        builder.append(header, bytes.as_slice()).unwrap();
    }
    builder
        .into_inner()
        .unwrap()
        .finish()
        .unwrap()
        .flush()
        .unwrap();
    to
}

/// A regular-file (or other `kind`) entry at `path` holding `bytes`.
fn entry(path: &str, kind: tar::EntryType, bytes: &[u8]) -> Entry {
    let mut header = tar::Header::new_gnu();
    header.set_path(path).unwrap();
    header.set_size(bytes.len() as u64);
    header.set_mode(0o644);
    header.set_entry_type(kind);
    header.set_cksum();
    (header, bytes.to_vec())
}

/// Replaces the bytes of entry `path` with what `edit` makes of them.
fn replace(path: &'static str, edit: impl Fn(&mut Vec<u8>)) -> impl FnOnce(&mut Vec<Entry>) {
    move |entries| {
        let (header, bytes) = entries
            .iter_mut()
            .find(|(h, _)| h.path().unwrap().to_str() == Some(path))
            .unwrap();
        edit(bytes);
        header.set_size(bytes.len() as u64);
        header.set_cksum();
    }
}

/// Replaces the JSON of entry `path` with what `edit` makes of it.
fn edit_json(
    path: &'static str,
    edit: impl Fn(&mut serde_json::Value),
) -> impl FnOnce(&mut Vec<Entry>) {
    replace(path, move |bytes| {
        let mut value: serde_json::Value = serde_json::from_slice(bytes).unwrap();
        edit(&mut value);
        *bytes = serde_json::to_vec(&value).unwrap();
    })
}

/// The error opening `bundle` in an empty data dir.
fn refused(bundle: &Path) -> String {
    let fresh = Fixture::new();
    open_bundle(&fresh.petri, bundle).unwrap_err().to_string()
}

#[test]
fn a_sheet_runs_bundle_opens_elsewhere_with_its_sheet_and_directories_are_skipped() {
    let (_kept, run, bundle) = bundled();
    let fresh = Fixture::new();
    let opened = open_bundle(&fresh.petri, &bundle).unwrap();
    assert_eq!(opened.run, run);
    let paths: Vec<&str> = opened
        .manifest
        .files
        .iter()
        .map(|e| e.path.as_str())
        .collect();
    assert!(paths.contains(&"samples.tsv"), "{paths:?}");
    // A directory entry (as `tar` writes for each folder) is not a file: skipped.
    let with_dir = rewrite(&bundle, "with-dir.petri", |e| {
        e.insert(2, entry("modules/", tar::EntryType::Directory, b""));
    });
    assert_eq!(
        open_bundle(&Fixture::new().petri, &with_dir).unwrap().run,
        run
    );
}

#[test]
fn each_kind_of_damage_is_refused_naming_the_file() {
    let (f, run, bundle) = bundled();
    let cases: Vec<(&str, Edit, String)> = vec![
        (
            "unlisted",
            Box::new(|e: &mut Vec<Entry>| {
                e.push(entry("extra.txt", tar::EntryType::Regular, b"x"))
            }),
            "bundle file `extra.txt` is not listed in the signed manifest".into(),
        ),
        (
            "huge",
            Box::new(|e: &mut Vec<Entry>| {
                let (mut header, _) = entry("huge.bin", tar::EntryType::Regular, b"");
                header.set_size(1 << 40);
                header.set_cksum();
                e.insert(0, (header, Vec::new()));
            }),
            "bundle entry `huge.bin` refused: more bytes or entries than a bundle may hold".into(),
        ),
        (
            "signature-not-json",
            Box::new(replace("signature.json", |bytes| {
                *bytes = b"not json".to_vec()
            })),
            "bundle file `signature.json`: expected ident at line 1 column 2".into(),
        ),
        (
            "manifest-not-a-manifest",
            Box::new(edit_json("manifest.json", |m| *m = serde_json::json!({}))),
            "bundle file `manifest.json`: missing field `schema` at line 1 column 2".into(),
        ),
        (
            "other-schema",
            Box::new(edit_json("manifest.json", |m| {
                m["schema"] = "petri-bundle/0".into()
            })),
            format!(
                "bundle file `manifest.json`: schema `petri-bundle/0`, expected `{}`",
                petri_host::pipeline::BUNDLE_SCHEMA
            ),
        ),
        (
            "other-algorithm",
            Box::new(edit_json("signature.json", |s| {
                s["algorithm"] = "rsa".into()
            })),
            "the bundle's signature is refused: algorithm `rsa`, expected `ed25519`".into(),
        ),
    ];
    for (name, edit, expected) in cases {
        let damaged = rewrite(&bundle, &format!("{name}.petri"), edit);
        assert_eq!(refused(&damaged), expected, "{name}");
    }

    // A run record whose root does not match its stages, signed as it is: refused.
    let mut forged = run.clone();
    forged.root = petri_host::Digest::of(b"another root");
    let err = refused(&write(&f, &forged, "forged.petri"));
    assert_eq!(
        err,
        format!(
            "the run record's Merkle root is sha256:{}; the signed manifest says sha256:{}",
            run.compute_root(),
            forged.root
        )
    );
}

#[test]
fn a_bundle_that_cannot_be_written_or_read_names_its_path() {
    let (f, run, _) = bundled();
    let key = petri_host::load_key(&f.dir.path().join("data")).unwrap();
    let out = f.dir.path().join("no-such-dir/run.petri");
    let err = write_bundle(&f.petri, &run, &key, Inputs::Included, &out).unwrap_err();
    assert!(
        matches!(&err, BundleError::Io { path, .. } if path == &out),
        "{err}"
    );
    let missing = f.dir.path().join("missing.petri");
    let err = open_bundle(&f.petri, &missing).unwrap_err();
    assert!(
        matches!(&err, BundleError::Io { path, .. } if path == &missing),
        "{err}"
    );
}
