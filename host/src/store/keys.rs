//! The data dir's signing key (ed25519, PKCS#8 PEM at `<data-dir>/keys/bundle.pem`): it signs reproducibility bundles.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use ed25519_dalek::{SigningKey, VerifyingKey};
use rand::TryRngCore;

use super::digest::Digest;

/// Errors reading or making the signing key.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("signing key {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("signing key {path} is not an ed25519 PKCS#8 PEM key: {message}")]
    Format { path: PathBuf, message: String },
    #[error("no signing key at {0}: make one with `petri key generate`")]
    Missing(PathBuf),
    #[error("a signing key already exists at {0}; it is kept")]
    Exists(PathBuf),
    #[error("the OS random source failed: {0}")]
    Random(String),
}

/// Where the key lives in `data_dir`.
pub fn key_path(data_dir: &Path) -> PathBuf {
    data_dir.join("keys").join("bundle.pem")
}

/// A public key's fingerprint: `sha256:` and the SHA-256 of its 32 raw bytes.
pub fn fingerprint(key: &VerifyingKey) -> String {
    format!("sha256:{}", Digest::of(key.as_bytes()))
}

/// Makes a new key in `data_dir`; never replaces one.
pub fn generate(data_dir: &Path) -> Result<SigningKey, KeyError> {
    let path = key_path(data_dir);
    if path.exists() {
        return Err(KeyError::Exists(path));
    }
    let mut secret = [0u8; 32];
    rand::rngs::OsRng
        .try_fill_bytes(&mut secret)
        .map_err(|e| KeyError::Random(e.to_string()))?;
    let key = SigningKey::from_bytes(&secret);
    let pem = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| format_error(&path, e))?;
    write_private(&path, pem.as_bytes())?;
    Ok(key)
}

/// Loads the key of `data_dir`.
pub fn load(data_dir: &Path) -> Result<SigningKey, KeyError> {
    let path = key_path(data_dir);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(KeyError::Missing(path)),
        Err(source) => return Err(KeyError::Io { path, source }),
    };
    SigningKey::from_pkcs8_pem(&text).map_err(|e| format_error(&path, e))
}

fn format_error(path: &Path, e: impl std::fmt::Display) -> KeyError {
    KeyError::Format {
        path: path.to_owned(),
        message: e.to_string(),
    }
}

/// Writes a new file readable by its owner only.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), KeyError> {
    let io = |source| KeyError::Io {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(io)?;
    }
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(io)?;
    io::Write::write_all(&mut file, bytes).map_err(io)?;
    file.sync_all().map_err(io)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_generated_key_loads_back_and_is_never_replaced() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(load(dir.path()), Err(KeyError::Missing(_))));
        let made = generate(dir.path()).unwrap();
        let loaded = load(dir.path()).unwrap();
        assert_eq!(made.to_bytes(), loaded.to_bytes());
        assert!(matches!(generate(dir.path()), Err(KeyError::Exists(_))));
        assert_eq!(load(dir.path()).unwrap().to_bytes(), made.to_bytes());
        assert!(fingerprint(&made.verifying_key()).starts_with("sha256:"));
    }
}
