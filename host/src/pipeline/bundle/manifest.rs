//! The bundle manifest (every file with its SHA-256) and the ed25519 signature over it and the run's Merkle root.

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use super::BundleError;
use crate::store::digest::Digest;
use crate::store::keys::fingerprint;

/// Format tag of [`Manifest`].
pub const BUNDLE_SCHEMA: &str = "petri.bundle/v1";
/// The manifest's path inside a bundle.
pub const MANIFEST_FILE: &str = "manifest.json";
/// The signature's path inside a bundle.
pub const SIGNATURE_FILE: &str = "signature.json";

/// Every file of a bundle but the manifest and the signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub schema: String,
    pub run_id: String,
    /// The run's Merkle root (also signed on its own).
    pub root: Digest,
    /// Fingerprint of the key that signed the bundle.
    pub key: String,
    /// Sorted by path, each path once.
    pub files: Vec<FileEntry>,
    /// Pipeline inputs left out (`petri bundle --no-inputs`): only their digests travel.
    #[serde(default)]
    pub omitted_inputs: Vec<Digest>,
}

/// One file of a bundle.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FileEntry {
    pub path: String,
    pub sha256: Digest,
    pub size: u64,
}

/// `signature.json`: who signed, and the signature over [`signed_message`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignatureFile {
    pub algorithm: String,
    /// Fingerprint of `public_key`.
    pub key: String,
    /// The ed25519 public key, hex.
    pub public_key: String,
    /// The signature, hex.
    pub signature: String,
}

impl Manifest {
    /// The canonical encoding that is signed: compact JSON, fields in
    /// declaration order, files sorted by path (no maps, no floats: serde_json
    /// writes one byte sequence for one value).
    pub fn canonical(&self) -> Result<Vec<u8>, BundleError> {
        let mut sorted = self.clone();
        sorted.files.sort();
        sorted.omitted_inputs.sort();
        serde_json::to_vec(&sorted).map_err(|e| BundleError::Format {
            path: MANIFEST_FILE.into(),
            message: e.to_string(),
        })
    }
}

/// What the key signs: the schema, the run's Merkle root and the SHA-256 of
/// the manifest's exact bytes.
pub fn signed_message(root: &Digest, manifest_bytes: &[u8]) -> Vec<u8> {
    format!(
        "{BUNDLE_SCHEMA}\nroot sha256:{root}\nmanifest sha256:{}\n",
        Digest::of(manifest_bytes)
    )
    .into_bytes()
}

/// Signs a manifest's bytes.
pub fn sign(key: &SigningKey, root: &Digest, manifest_bytes: &[u8]) -> SignatureFile {
    let public = key.verifying_key();
    let signature = key.sign(&signed_message(root, manifest_bytes));
    SignatureFile {
        algorithm: "ed25519".into(),
        key: fingerprint(&public),
        public_key: hex::encode(public.as_bytes()),
        signature: hex::encode(signature.to_bytes()),
    }
}

/// Checks `signature` over the manifest bytes as found in the bundle; returns
/// the parsed manifest and the signer's fingerprint.
pub fn check(signature: &SignatureFile, manifest_bytes: &[u8]) -> Result<Manifest, BundleError> {
    let manifest: Manifest =
        serde_json::from_slice(manifest_bytes).map_err(|e| BundleError::Format {
            path: MANIFEST_FILE.into(),
            message: e.to_string(),
        })?;
    if manifest.schema != BUNDLE_SCHEMA {
        return Err(BundleError::Format {
            path: MANIFEST_FILE.into(),
            message: format!("schema `{}`, expected `{BUNDLE_SCHEMA}`", manifest.schema),
        });
    }
    let public = public_key(signature)?;
    let named = fingerprint(&public);
    if named != signature.key || named != manifest.key {
        return Err(BundleError::Signature(format!(
            "the public key is {named}; signature.json names {}, the manifest {}",
            signature.key, manifest.key
        )));
    }
    let bytes: [u8; 64] = hex::decode(&signature.signature)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| BundleError::Signature("the signature is not 64 hex bytes".into()))?;
    public
        .verify_strict(
            &signed_message(&manifest.root, manifest_bytes),
            &Signature::from_bytes(&bytes),
        )
        .map_err(|_| {
            BundleError::Signature(format!(
                "it does not match {MANIFEST_FILE} and the run's root under key {named}"
            ))
        })?;
    Ok(manifest)
}

fn public_key(signature: &SignatureFile) -> Result<VerifyingKey, BundleError> {
    let bad = || BundleError::Signature("the public key is not 32 hex bytes of ed25519".into());
    if signature.algorithm != "ed25519" {
        return Err(BundleError::Signature(format!(
            "algorithm `{}`, expected `ed25519`",
            signature.algorithm
        )));
    }
    let bytes: [u8; 32] = hex::decode(&signature.public_key)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(bad)?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn manifest(key: &SigningKey) -> Manifest {
        Manifest {
            schema: BUNDLE_SCHEMA.into(),
            run_id: "run-1".into(),
            root: Digest::of(b"root"),
            key: fingerprint(&key.verifying_key()),
            files: vec![
                FileEntry {
                    path: "b".into(),
                    sha256: Digest::of(b"b"),
                    size: 1,
                },
                FileEntry {
                    path: "a".into(),
                    sha256: Digest::of(b"a"),
                    size: 1,
                },
            ],
            omitted_inputs: Vec::new(),
        }
    }

    #[test]
    fn the_canonical_encoding_sorts_files_and_does_not_depend_on_their_order() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let m = manifest(&key);
        let mut reversed = m.clone();
        reversed.files.reverse();
        let bytes = m.canonical().unwrap();
        assert_eq!(bytes, reversed.canonical().unwrap());
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.find("\"path\":\"a\"").unwrap() < text.find("\"path\":\"b\"").unwrap());
    }

    #[test]
    fn a_signed_manifest_checks_and_any_change_is_refused() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let bytes = manifest(&key).canonical().unwrap();
        let sig = sign(&key, &Digest::of(b"root"), &bytes);
        assert_eq!(check(&sig, &bytes).unwrap(), {
            let mut m = manifest(&key);
            m.files.sort();
            m
        });
        // One byte of the manifest changed.
        let edited = String::from_utf8(bytes.clone())
            .unwrap()
            .replace("run-1", "run-2");
        let err = check(&sig, edited.as_bytes()).unwrap_err();
        assert!(matches!(err, BundleError::Signature(_)), "{err}");
        // Signed for another root.
        let other = sign(&key, &Digest::of(b"other root"), &bytes);
        assert!(matches!(
            check(&other, &bytes),
            Err(BundleError::Signature(_))
        ));
        // Re-signed by another key that the manifest does not name.
        let stranger = SigningKey::from_bytes(&[9; 32]);
        let forged = sign(&stranger, &Digest::of(b"root"), &bytes);
        assert!(matches!(
            check(&forged, &bytes),
            Err(BundleError::Signature(_))
        ));
        // A signature that is not one.
        let mut garbled = sig.clone();
        garbled.signature = "00".into();
        assert!(matches!(
            check(&garbled, &bytes),
            Err(BundleError::Signature(_))
        ));
    }
}
