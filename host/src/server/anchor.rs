//! The audit log's anchor: a file outside the database that the chain's head (seq and hash) is
//! appended to after every entry, so that removing the newest entries — which leaves a valid,
//! shorter chain — is detected by `petri audit verify`.
//!
//! The chain fixes every entry before an anchored one, so only the newest
//! anchor line needs checking: the entry it names must exist with that hash.
//! Keep the file where the database's administrators cannot write (another
//! disk, a WORM mount, a log shipper); by default it is
//! `<data-dir>/audit-anchor.log`.

use std::fs::OpenOptions;
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use super::audit::{AuditEntry, Verdict, list};
use crate::store::daemon::ServerStore;
use crate::store::state::StateError;

/// The anchor file's name in the data dir, unless `audit-anchor` says otherwise.
pub const DEFAULT_FILE: &str = "audit-anchor.log";

/// Why an anchor file cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum AnchorError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("{}:{line}: expected `SEQ HASH` (a number and 64 hex digits)", path.display())]
    Malformed { path: PathBuf, line: usize },
    #[error(transparent)]
    State(#[from] StateError),
}

/// One anchored head: where it was written, and what it says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anchor {
    pub line: usize,
    pub seq: i64,
    pub hash: String,
}

/// Appends `entry` as the chain's head to the anchor at `path`.
pub fn note(path: &Path, entry: &AuditEntry) -> io::Result<()> {
    let mut file = OpenOptions::new().create(true).append(true).open(path)?;
    // One write of one short line: appends from several processes never interleave.
    file.write_all(format!("{} {}\n", entry.seq, entry.hash).as_bytes())
}

/// The newest head anchored at `path` (none when it holds no line).
pub fn newest(path: &Path) -> Result<Option<Anchor>, AnchorError> {
    let io = |source| AnchorError::Io {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut newest: Option<Anchor> = None;
    for (n, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(io)?;
        let anchor = parse(&line, n + 1).ok_or_else(|| AnchorError::Malformed {
            path: path.to_owned(),
            line: n + 1,
        })?;
        if newest.as_ref().is_none_or(|a| anchor.seq >= a.seq) {
            newest = Some(anchor);
        }
    }
    Ok(newest)
}

fn parse(text: &str, line: usize) -> Option<Anchor> {
    let (seq, hash) = text.trim_end().split_once(' ')?;
    let hex = hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit());
    Some(Anchor {
        line,
        seq: seq.parse().ok().filter(|s| *s > 0)?,
        hash: hex.then(|| hash.to_owned())?,
    })
}

/// Checks the chain in `store` against the newest head anchored at `path`:
/// the entry it names must still be there, with that hash.
pub async fn check(store: &ServerStore, path: &Path) -> Result<Verdict, AnchorError> {
    let Some(anchor) = newest(path)? else {
        return Ok(Verdict::Intact {
            entries: 0,
            head: String::new(),
        });
    };
    let at = format!("{}:{}", path.display(), anchor.line);
    let found = list(store, anchor.seq - 1, 1).await?;
    Ok(match found.first() {
        Some(e) if e.seq == anchor.seq && e.hash == anchor.hash => Verdict::Intact {
            entries: u64::try_from(anchor.seq).unwrap_or(0),
            head: anchor.hash,
        },
        Some(e) if e.seq == anchor.seq => Verdict::Broken {
            seq: anchor.seq,
            problem: format!(
                "entry {} does not have the hash {at} anchored: it was rewritten",
                anchor.seq
            ),
        },
        _ => Verdict::Broken {
            seq: anchor.seq,
            problem: format!(
                "entry {} is missing but {at} anchored it: the newest entries were removed",
                anchor.seq
            ),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_a_positive_seq_and_64_hex_digits() {
        let hash = "ab".repeat(32);
        let a = parse(&format!("7 {hash}"), 3).unwrap();
        assert_eq!((a.line, a.seq, a.hash.as_str()), (3, 7, hash.as_str()));
        assert!(parse(&format!("0 {hash}"), 1).is_none());
        assert!(parse("7 abc", 1).is_none());
        assert!(parse(&format!("x {hash}"), 1).is_none());
        assert!(parse("", 1).is_none());
    }
}
