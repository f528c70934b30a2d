//! Publishing a run's outputs as files: what is refused (and named) before or while writing,
//! copies where a hard link cannot reach, and a module whose stored bytes changed.

use std::path::Path;

use petri_host::pipeline::{
    Output, Placement, PublishError, RunRecord, outputs, publish_from_store,
};
use petri_tests::{COPY_DATA, Fixture, block_on};

/// A completed run copying `data.bin`, and its one output.
fn copied() -> (Fixture, RunRecord, Output) {
    let f = Fixture::new();
    std::fs::write(f.dir.path().join("data.bin"), b"published bytes").unwrap();
    let run = f.run(&f.pipeline("copy.toml", COPY_DATA), false);
    assert_eq!(run.status, "completed", "{run:#?}");
    let mut all = block_on(outputs(&f.petri, &run)).unwrap();
    assert_eq!(all.len(), 1, "{all:#?}");
    (f, run, all.remove(0))
}

/// The path and I/O error kind of an `Io` error (fails the test on any other).
fn io(e: PublishError) -> (std::path::PathBuf, std::io::ErrorKind) {
    match e {
        PublishError::Io { path, source } => (path, source.kind()),
        other => panic!("not an I/O error: {other}"),
    }
}

fn dangling_link(at: &Path) {
    std::os::unix::fs::symlink(at.with_extension("nowhere"), at).unwrap();
}

#[test]
fn what_cannot_be_written_is_refused_naming_the_path() {
    let (f, _, output) = copied();
    let blobs = f.petri.blobs();

    // Two outputs on one path: refused before anything is written.
    let dir = f.dir.path().join("clash");
    let err = publish_from_store(blobs, &dir, vec![output.clone(), output.clone()]).unwrap_err();
    let file = dir.join("default/copy/out.bin");
    assert_eq!(
        err.to_string(),
        format!("two outputs would both be written to {}", file.display())
    );
    assert!(!dir.exists());

    // A file where a directory must be: refused while planning.
    let dir = f.dir.path().join("file-in-the-way");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("default"), b"not a directory").unwrap();
    let err = publish_from_store(blobs, &dir, vec![output.clone()]).unwrap_err();
    assert_eq!(io(err), (file_in(&dir), std::io::ErrorKind::NotADirectory));

    // A dangling link where a directory must be made: the directory is named.
    let dir = f.dir.path().join("dangling");
    std::fs::create_dir(&dir).unwrap();
    dangling_link(&dir.join("default"));
    let err = publish_from_store(blobs, &dir, vec![output.clone()]).unwrap_err();
    assert_eq!(
        io(err),
        (dir.join("default/copy"), std::io::ErrorKind::AlreadyExists)
    );

    // No outputs, and the directory itself a dangling link: the manifest's directory is named.
    let dir = f.dir.path().join("dangling-dir");
    dangling_link(&dir);
    let err = publish_from_store(blobs, &dir, Vec::new()).unwrap_err();
    assert_eq!(io(err), (dir, std::io::ErrorKind::AlreadyExists));
}

fn file_in(dir: &Path) -> std::path::PathBuf {
    dir.join("default/copy/out.bin")
}

#[test]
fn outputs_on_another_filesystem_are_verified_copies() {
    let (f, _, output) = copied();
    // /dev/shm is a tmpfs: a hard link from the store cannot reach it.
    let other = tempfile::tempdir_in("/dev/shm").unwrap();
    let dir = other.path().join("out");
    let published = publish_from_store(f.petri.blobs(), &dir, vec![output.clone()]).unwrap();
    assert_eq!(published[0].placement, Placement::Copied);
    assert_eq!(std::fs::read(file_in(&dir)).unwrap(), b"published bytes");
    // Again: the file is there with these bytes, nothing is rewritten.
    let again = publish_from_store(f.petri.blobs(), &dir, vec![output]).unwrap();
    assert_eq!(again[0].placement, Placement::Present);
}

#[test]
fn a_module_whose_stored_bytes_changed_gives_no_formats() {
    let (f, run, _) = copied();
    let module = run.stages[0].module_sha256;
    let path = f.petri.blobs().local_path(&module).unwrap();
    let mut wasm = std::fs::read(&path).unwrap();
    let last = wasm.len() - 1;
    wasm[last] ^= 1;
    let mut perms = std::fs::metadata(&path).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)] // the test plays a disk gone wrong
    perms.set_readonly(false);
    std::fs::set_permissions(&path, perms).unwrap();
    std::fs::write(&path, wasm).unwrap();
    let err = block_on(outputs(&f.petri, &run)).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "module sha256:{module} of stage `copy`: the stored bytes no longer hash to this digest"
        )
    );
}
