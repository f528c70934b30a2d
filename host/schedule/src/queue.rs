//! The ready queue: per instrument class, tasks ordered by (priority key, id).
//!
//! A `BTreeSet` per class: insert, remove and re-key are O(log n), the best
//! task is the first element, and iteration is in dispatch order. Nothing is
//! re-sorted except by an explicit full rebuild, which bulk-loads each set
//! from a sorted vector.

use std::collections::BTreeSet;

use super::task::TaskId;

/// Classes are numbered by the scheduler (their index in its sorted class list).
#[derive(Debug, Clone, Default)]
pub struct ReadyQueue {
    classes: Vec<BTreeSet<(i64, TaskId)>>,
    len: usize,
}

impl ReadyQueue {
    pub fn new(classes: usize) -> ReadyQueue {
        ReadyQueue {
            classes: vec![BTreeSet::new(); classes],
            len: 0,
        }
    }

    /// Adds an empty class after the existing ones.
    pub fn add_class(&mut self) {
        self.classes.push(BTreeSet::new());
    }

    pub fn insert(&mut self, class: usize, key: i64, id: TaskId) {
        if let Some(set) = self.classes.get_mut(class)
            && set.insert((key, id))
        {
            self.len += 1;
        }
    }

    pub fn remove(&mut self, class: usize, key: i64, id: TaskId) -> bool {
        let removed = self
            .classes
            .get_mut(class)
            .is_some_and(|set| set.remove(&(key, id)));
        if removed {
            self.len -= 1;
        }
        removed
    }

    /// The tasks of `class` in dispatch order.
    pub fn iter(&self, class: usize) -> impl Iterator<Item = (i64, TaskId)> + '_ {
        self.classes.get(class).into_iter().flatten().copied()
    }

    pub fn class_len(&self, class: usize) -> usize {
        self.classes.get(class).map_or(0, BTreeSet::len)
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Replaces everything: one vector of (key, id) per class.
    pub fn rebuild(&mut self, classes: Vec<Vec<(i64, TaskId)>>) {
        self.len = classes.iter().map(Vec::len).sum();
        self.classes = classes
            .into_iter()
            .map(|mut v| {
                v.sort_unstable();
                // Sorted input: std bulk-builds the tree in linear time.
                v.into_iter().collect()
            })
            .collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duplicate_or_unknown_class_does_not_count_and_removing_nothing_says_so() {
        let mut q = ReadyQueue::new(1);
        q.insert(0, 5, TaskId(1));
        q.insert(0, 5, TaskId(1));
        q.insert(7, 5, TaskId(2));
        assert_eq!(q.len(), 1);
        assert!(!q.remove(0, 5, TaskId(9)));
        assert!(!q.remove(7, 5, TaskId(2)));
        assert!(q.remove(0, 5, TaskId(1)));
        assert_eq!(q.len(), 0);
    }
}
