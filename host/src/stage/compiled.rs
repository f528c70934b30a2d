//! The compiled-code cache: native code for a component, keyed by everything that shaped it.
//!
//! Key = SHA-256 over (module digest, wasmtime version, engine profile id,
//! wasmtime's own compatibility hash of the engine configuration). v48 does not
//! check NaN canonicalisation when deserialising, which is why the profile is in
//! the key. Each entry is `MAGIC | key | SHA-256(payload) | payload`; an entry
//! whose header, key or payload digest does not match is deleted and rebuilt,
//! never executed.

use std::fs;
use std::hash::{Hash, Hasher as _};
use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest as _, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use crate::stage::engine::{EngineProfile, WASMTIME_VERSION};
use crate::store::digest::Digest;

const MAGIC: &[u8; 16] = b"petri-cwasm-v1\0\0";
const HEADER_LEN: usize = MAGIC.len() + 32 + 32;

/// How a component was obtained.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "cache", rename_all = "kebab-case")]
pub enum CacheOutcome {
    /// Loaded from a verified cache entry; nothing was compiled.
    Hit,
    /// No entry: compiled and stored.
    Miss,
    /// An entry existed but was rejected; compiled again and replaced.
    Rebuilt { reason: String },
}

/// Errors of the compiled cache that are not "compile failed".
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("compiled cache at {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("not a valid WebAssembly component: {0:#}")]
    Compile(wasmtime::Error),
}

/// A directory of compiled components.
#[derive(Debug, Clone)]
pub struct CompiledCache {
    dir: PathBuf,
}

/// Feeds `Hash` output into SHA-256 so wasmtime's compatibility hash can be
/// part of a stable key.
struct ShaHasher(Sha256);

impl std::hash::Hasher for ShaHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
    fn finish(&self) -> u64 {
        0
    }
}

impl CompiledCache {
    pub fn open(dir: impl Into<PathBuf>) -> Result<CompiledCache, CacheError> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(|source| CacheError::Io {
            path: dir.clone(),
            source,
        })?;
        Ok(CompiledCache { dir })
    }

    /// The cache key for `module` under this engine and profile.
    pub fn key(engine: &Engine, profile: &EngineProfile, module: &Digest) -> Digest {
        let mut h = ShaHasher(Sha256::new());
        h.write(b"petri compiled cache\0");
        h.write(module.as_bytes());
        h.write(WASMTIME_VERSION.as_bytes());
        h.write(profile.id().as_bytes());
        engine.precompile_compatibility_hash().hash(&mut h);
        Digest::of(&h.0.finalize())
    }

    /// Where the entry for `key` lives.
    pub fn entry_path(&self, key: &Digest) -> PathBuf {
        self.dir.join(format!("{key}.cwasm"))
    }

    /// Loads `wasm` (whose digest is `module`) as a compiled component,
    /// from the cache when a valid entry exists.
    pub fn load(
        &self,
        engine: &Engine,
        profile: &EngineProfile,
        module: &Digest,
        wasm: &[u8],
    ) -> Result<(Component, CacheOutcome), CacheError> {
        let key = Self::key(engine, profile, module);
        let path = self.entry_path(&key);
        let outcome = match fs::read(&path) {
            Ok(entry) => match verified_payload(&entry, &key) {
                Ok(payload) => {
                    // SAFETY: `payload` is byte-for-byte what `serialize` produced
                    // for this key (its SHA-256 is checked above), in a directory
                    // only petri writes; wasmtime checks its own version and
                    // engine compatibility while deserialising.
                    match unsafe { Component::deserialize(engine, payload) } {
                        Ok(component) => return Ok((component, CacheOutcome::Hit)),
                        Err(e) => CacheOutcome::Rebuilt {
                            reason: format!("rejected by wasmtime: {e}"),
                        },
                    }
                }
                Err(reason) => CacheOutcome::Rebuilt {
                    reason: reason.to_owned(),
                },
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => CacheOutcome::Miss,
            Err(source) => return Err(CacheError::Io { path, source }),
        };
        let component = Component::new(engine, wasm).map_err(CacheError::Compile)?;
        let payload = component.serialize().map_err(CacheError::Compile)?;
        self.store(&path, &key, &payload)
            .map_err(|source| CacheError::Io {
                path: path.clone(),
                source,
            })?;
        Ok((component, outcome))
    }

    fn store(&self, path: &Path, key: &Digest, payload: &[u8]) -> io::Result<()> {
        let sha = Digest::of(payload);
        let parts: [&[u8]; 4] = [MAGIC, key.as_bytes(), sha.as_bytes(), payload];
        crate::store::atomic::write(path, &parts)
    }
}

/// The payload of a cache entry, if its header, key and digest all check out.
fn verified_payload<'a>(entry: &'a [u8], key: &Digest) -> Result<&'a [u8], &'static str> {
    if entry.len() < HEADER_LEN || &entry[..MAGIC.len()] != MAGIC {
        return Err("not a petri cache entry (bad header)");
    }
    let (stored_key, rest) = entry[MAGIC.len()..].split_at(32);
    let (stored_digest, payload) = rest.split_at(32);
    if stored_key != key.as_bytes() {
        return Err("foreign entry (written for a different key)");
    }
    if stored_digest != Digest::of(payload).as_bytes() {
        return Err("corrupted entry (payload digest mismatch)");
    }
    Ok(payload)
}
