//! Testkit variants for promotion tests: other digests with the same manifest, built from the
//! one testkit component by changing its bytes (no second build).

use std::io;

/// The marker in testkit's data whose last two bytes `flavour` mode appends.
const FLAVOUR: &[u8] = b"petri-testkit-flavour:00";

/// Testkit with a custom section appended: another digest, the same behaviour.
pub fn testkit_rebuilt() -> io::Result<Vec<u8>> {
    let mut bytes = std::fs::read(crate::TESTKIT)?;
    // Section id 0 (custom), 9 bytes: a name of 8 bytes and no payload.
    bytes.extend_from_slice(&[0, 9, 8]);
    bytes.extend_from_slice(b"rebuilt!");
    Ok(bytes)
}

/// Testkit with its flavour marker patched to `01`: in `flavour` mode it
/// writes other bytes and reports another `flavour`; in every other mode it
/// behaves as testkit.
pub fn testkit_reflavoured() -> io::Result<Vec<u8>> {
    let mut bytes = std::fs::read(crate::TESTKIT)?;
    let mut at = bytes
        .windows(FLAVOUR.len())
        .enumerate()
        .filter(|(_, w)| *w == FLAVOUR)
        .map(|(i, _)| i);
    let (Some(first), None) = (at.next(), at.next()) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "testkit's flavour marker is not in its bytes exactly once",
        ));
    };
    bytes[first + FLAVOUR.len() - 1] = b'1';
    Ok(bytes)
}
