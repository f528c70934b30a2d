//! The memory budget for blobs being written: how many bytes, all writers of a store together,
//! may be staged in memory rather than in a temp file.
//!
//! A blob staged in memory that turns out to be stored already costs no temp
//! file and no second hash (its bytes are compared with the stored copy), and
//! can be kept among the recent blobs ([`super::recent`]). The budget bounds
//! what many concurrent writers hold; a writer that finds it spent stages on
//! disk, as every writer did before.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Bytes all writers of one store may stage in memory together.
pub(crate) const BUDGET: usize = 256 << 20;

/// What a store's writers have taken of [`BUDGET`].
#[derive(Debug, Default)]
pub(crate) struct StagingBudget {
    taken: AtomicUsize,
}

/// Bytes one writer holds of the budget, given back when dropped.
#[derive(Debug)]
pub(crate) struct Reservation {
    budget: Arc<StagingBudget>,
    bytes: usize,
}

impl Reservation {
    /// Holds nothing yet.
    pub(crate) fn new(budget: Arc<StagingBudget>) -> Reservation {
        Reservation { budget, bytes: 0 }
    }

    /// Grows the reservation to `total` bytes, if the budget allows.
    pub(crate) fn grow_to(&mut self, total: usize) -> bool {
        let more = total.saturating_sub(self.bytes);
        if more == 0 {
            return true;
        }
        let taken = self
            .budget
            .taken
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |taken| {
                taken.checked_add(more).filter(|t| *t <= BUDGET)
            });
        if taken.is_ok() {
            self.bytes = total;
        }
        taken.is_ok()
    }

    /// Gives everything back.
    pub(crate) fn release(&mut self) {
        self.budget.taken.fetch_sub(self.bytes, Ordering::AcqRel);
        self.bytes = 0;
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_share_the_budget_and_give_it_back() {
        let budget = Arc::new(StagingBudget::default());
        let mut a = Reservation::new(budget.clone());
        let mut b = Reservation::new(budget.clone());
        assert!(a.grow_to(BUDGET - 10));
        assert!(!b.grow_to(11), "over the budget");
        assert!(b.grow_to(10));
        drop(a);
        assert!(b.grow_to(BUDGET), "given back on drop");
        b.release();
        assert_eq!(budget.taken.load(Ordering::Acquire), 0);
    }
}
