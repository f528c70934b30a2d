//! Recent blobs: bytes this process hashed as it wrote them, kept in memory (bounded) so that a
//! later stage of the run is fed them without reading and hashing the stored copy again.
//!
//! The trust model checks a digest before a blob is fed to a stage because
//! the bytes on disk may have changed since they were named. Bytes that never
//! left this process's memory cannot have: they are the very bytes whose
//! hash named them. A blob read back from disk (evicted here, or written by
//! another process) is still hashed as it is fed.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use crate::store::digest::Digest;

/// Most bytes kept, all blobs together.
pub(crate) const CAPACITY: usize = 256 << 20;

/// Most blobs kept (many tiny blobs cost more in bookkeeping than in bytes).
const MAX_BLOBS: usize = 1 << 16;

/// The recent blobs of one store, oldest evicted first.
#[derive(Debug, Default)]
pub(crate) struct Recent {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    blobs: HashMap<Digest, Arc<Vec<u8>>>,
    /// Insertion order, for eviction.
    order: VecDeque<Digest>,
    /// Bytes held (allocated capacity).
    bytes: usize,
}

impl Recent {
    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A map, a queue and a sum updated together under the lock: a panic
        // elsewhere while holding it leaves them consistent.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Keeps `bytes`, which hash to `digest` (the caller hashed exactly
    /// these), evicting the oldest blobs to make room. A blob bigger than a
    /// quarter of the capacity is not kept.
    pub(crate) fn insert(&self, digest: Digest, bytes: Vec<u8>) {
        let size = bytes.capacity();
        if size > CAPACITY / 4 {
            return;
        }
        let mut inner = self.inner();
        if inner.blobs.contains_key(&digest) {
            return;
        }
        while inner.bytes + size > CAPACITY || inner.blobs.len() >= MAX_BLOBS {
            let Some(old) = inner.order.pop_front() else {
                break;
            };
            if let Some(gone) = inner.blobs.remove(&old) {
                inner.bytes -= gone.capacity();
            }
        }
        inner.bytes += size;
        inner.order.push_back(digest);
        inner.blobs.insert(digest, Arc::new(bytes));
    }

    /// The bytes of `digest`, if kept.
    pub(crate) fn get(&self, digest: &Digest) -> Option<Arc<Vec<u8>>> {
        self.inner().blobs.get(digest).cloned()
    }

    /// Bytes held now.
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> usize {
        self.inner().bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_blobs_by_digest_and_evicts_the_oldest_past_its_capacity() {
        let recent = Recent::default();
        let blob = |i: u8| vec![i; CAPACITY / 8];
        for i in 0..8 {
            recent.insert(Digest::of(&blob(i)), blob(i));
        }
        assert!(recent.bytes() <= CAPACITY);
        let first = Digest::of(&blob(0));
        assert_eq!(recent.get(&first).as_deref(), Some(&blob(0)));
        recent.insert(Digest::of(&blob(8)), blob(8));
        assert!(recent.get(&first).is_none(), "the oldest went first");
        assert_eq!(recent.get(&Digest::of(&blob(8))).as_deref(), Some(&blob(8)));
        assert!(recent.bytes() <= CAPACITY);
        let huge = vec![1u8; CAPACITY / 2];
        recent.insert(Digest::of(&huge), huge.clone());
        assert!(recent.get(&Digest::of(&huge)).is_none(), "too big to keep");
    }
}
