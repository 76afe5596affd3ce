//! The files a run has reached, by identity (device and inode), so a file reached twice
//! (PATHs that overlap, a path listed twice, a hard link, a symlink to a file in the tree)
//! gets one outcome.
//!
//! A run remembers every file it finds, so this set is most of what a million-file run
//! holds: it is kept compact. The identities sit in one sorted vector per device (8
//! bytes a file); the newest few thousand wait in a small hash set and are merged in
//! place when it fills, so the vector never exists twice (a hash set of a million costs
//! 18 MiB, and 27 MiB while it grows).

use std::collections::{HashMap, HashSet};

/// Identities gathered before they are merged into the sorted vectors.
const RECENT: usize = 16 * 1024;

/// About what one file costs here, in bytes (for the memory budget of the files in flight).
pub(crate) const COST_PER_FILE: u64 = 9;

#[derive(Default)]
pub(crate) struct Seen {
    /// Per device, the inodes merged so far, sorted and unique.
    merged: HashMap<u64, Vec<u64>>,
    /// The newest identities, none of them in `merged`.
    recent: HashSet<(u64, u64)>,
}

impl Seen {
    /// Whether this is the first time the file is seen (and remembers it).
    pub(crate) fn first_time(&mut self, (dev, ino): (u64, u64)) -> bool {
        if self
            .merged
            .get(&dev)
            .is_some_and(|m| m.binary_search(&ino).is_ok())
            || !self.recent.insert((dev, ino))
        {
            return false;
        }
        if self.recent.len() >= RECENT {
            self.merge();
        }
        true
    }

    /// Moves the recent identities into the sorted vectors.
    fn merge(&mut self) {
        let mut by_dev: HashMap<u64, Vec<u64>> = HashMap::new();
        for (dev, ino) in self.recent.drain() {
            by_dev.entry(dev).or_default().push(ino);
        }
        for (dev, mut new) in by_dev {
            new.sort_unstable();
            merge_into(self.merged.entry(dev).or_default(), &new);
        }
    }
}

/// Merges `new` (sorted, none of it in `all`) into `all` (sorted), from the back, in place:
/// `all` grows by exactly `new.len()` and no second copy of it is made.
fn merge_into(all: &mut Vec<u64>, new: &[u64]) {
    let old = all.len();
    all.reserve_exact(new.len());
    all.resize(old + new.len(), 0);
    let (mut i, mut j) = (old, new.len());
    for k in (0..all.len()).rev() {
        if j == 0 {
            break;
        }
        if i > 0 && all[i - 1] > new[j - 1] {
            all[k] = all[i - 1];
            i -= 1;
        } else {
            all[k] = new[j - 1];
            j -= 1;
        }
    }
}

/// The warning for a file reached a second time.
pub(crate) fn reached_twice(display: &str) -> String {
    format!("skipped {display}: the same file was reached before (given twice, or a hard link)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_seen_once_by_device_and_inode() {
        let mut seen = Seen::default();
        assert!(seen.first_time((1, 42)));
        assert!(!seen.first_time((1, 42)));
        assert!(seen.first_time((2, 42)), "another device");
        assert!(seen.first_time((1, 43)));
        assert!(!seen.first_time((2, 42)));
    }

    #[test]
    fn identities_are_remembered_across_merges() {
        let mut seen = Seen::default();
        // Several merges, inodes in no order, two devices, and every file seen twice:
        // once soon after its first time (still recent) and once much later (merged).
        let n = (RECENT * 3 + 123) as u64;
        let ino = |i: u64| i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 8;
        for i in 0..n {
            assert!(seen.first_time((i % 2, ino(i))), "{i}");
            if i >= 5 {
                assert!(!seen.first_time(((i - 5) % 2, ino(i - 5))), "{i}");
            }
        }
        for i in 0..n {
            assert!(!seen.first_time((i % 2, ino(i))), "{i}");
            assert!(seen.first_time((2, ino(i))), "another device {i}");
        }
        let merged: usize = seen.merged.values().map(Vec::len).sum();
        assert_eq!(merged as u64 + seen.recent.len() as u64, 2 * n);
        for v in seen.merged.values() {
            assert!(v.windows(2).all(|w| w[0] < w[1]), "sorted and unique");
        }
    }

    #[test]
    fn merging_keeps_order_at_both_ends() {
        let mut all = vec![10, 20, 30];
        merge_into(&mut all, &[5, 25, 40]);
        assert_eq!(all, [5, 10, 20, 25, 30, 40]);
        let mut all = vec![];
        merge_into(&mut all, &[1, 2]);
        assert_eq!(all, [1, 2]);
        let mut all = vec![1, 2];
        merge_into(&mut all, &[]);
        assert_eq!(all, [1, 2]);
    }
}
