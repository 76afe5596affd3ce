//! Files waiting to settle: seen to appear or change, not yet still for the settle time.
//!
//! A file is ready when it has not changed for the settle time, judged each time it is
//! looked at (never frozen when it was first seen): either its modification time is that
//! old, or its key (size and times) has stayed the same that long by our own clock, which
//! copes with a file system whose clock is not ours. A file still changing is looked at
//! again when it could first be ready.
//!
//! Bounded: at most `capacity` files wait. Past that the watch forgets the newcomers and
//! rescans later, when the queue has drained.

use std::cmp::Reverse;
use std::collections::hash_map::Entry;
use std::collections::{BinaryHeap, HashMap};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use crate::file_key::FileKey;

/// One file waiting.
struct Waiting {
    path: PathBuf,
    /// The key when last looked at, and since when it has been the same.
    key: Option<FileKey>,
    still_since: Instant,
}

/// What a look at a waiting file decided.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum SettleVerdict {
    /// Still for long enough: take it.
    Ready,
    /// Not yet: look again at this instant.
    Later(Instant),
}

pub(super) struct Settling {
    settle: Duration,
    capacity: usize,
    waiting: HashMap<String, Waiting>,
    /// When each waiting file is next looked at: exactly one entry per waiting file.
    due: BinaryHeap<Reverse<(Instant, String)>>,
}

impl Settling {
    pub(super) fn new(settle: Duration, capacity: usize) -> Settling {
        Settling {
            settle,
            capacity,
            waiting: HashMap::new(),
            due: BinaryHeap::new(),
        }
    }

    pub(super) fn len(&self) -> usize {
        self.waiting.len()
    }

    pub(super) fn contains(&self, display: &str) -> bool {
        self.waiting.contains_key(display)
    }

    /// Adds a file, to be looked at `at`. False when the queue is full (the file is not
    /// added); a file already waiting keeps its turn.
    pub(super) fn add(&mut self, display: String, path: PathBuf, at: Instant) -> bool {
        if self.waiting.len() >= self.capacity && !self.waiting.contains_key(&display) {
            return false;
        }
        if let Entry::Vacant(v) = self.waiting.entry(display.clone()) {
            v.insert(Waiting {
                path,
                key: None,
                still_since: at,
            });
            self.due.push(Reverse((at, display)));
        }
        true
    }

    /// When the next file is due, if any.
    pub(super) fn next_due(&self) -> Option<Instant> {
        self.due.peek().map(|Reverse((at, _))| *at)
    }

    /// The next file due by `now`, taken out of the queue: its display path and path.
    /// Give it back with `again` if it is not ready.
    pub(super) fn pop_due(&mut self, now: Instant) -> Option<Due> {
        let Reverse((at, _)) = self.due.peek()?;
        if *at > now {
            return None;
        }
        let Reverse((_, display)) = self.due.pop()?;
        let w = self.waiting.remove(&display)?;
        Some(Due {
            display,
            path: w.path,
            key: w.key,
            still_since: w.still_since,
        })
    }

    /// A file not waiting yet, to be judged at once (found by a walk).
    pub(super) fn fresh(display: String, path: PathBuf, now: Instant) -> Due {
        Due {
            display,
            path,
            key: None,
            still_since: now,
        }
    }

    /// Puts a file that is not ready (back) in the queue, to be looked at `at`. False
    /// when the queue is full (only a `fresh` one can find it so).
    pub(super) fn again(&mut self, due: Due, at: Instant) -> bool {
        if self.waiting.len() >= self.capacity {
            return false;
        }
        self.due.push(Reverse((at, due.display.clone())));
        self.waiting.insert(
            due.display,
            Waiting {
                path: due.path,
                key: due.key,
                still_since: due.still_since,
            },
        );
        true
    }

    /// Judges a file taken with `pop_due`, whose key is now `key` and whose modification
    /// time is `modified`, at `now` (and `wall`, the clock the file system stamps with).
    pub(super) fn judge(
        &self,
        due: &mut Due,
        key: FileKey,
        modified: Option<SystemTime>,
        now: Instant,
        wall: SystemTime,
    ) -> SettleVerdict {
        if due.key != Some(key) {
            due.key = Some(key);
            due.still_since = now;
        }
        let by_mtime = modified
            .and_then(|m| wall.duration_since(m).ok())
            .unwrap_or_default();
        let by_clock = now.saturating_duration_since(due.still_since);
        let still = by_mtime.max(by_clock);
        if still >= self.settle {
            SettleVerdict::Ready
        } else {
            SettleVerdict::Later(now + (self.settle - still))
        }
    }
}

/// A file taken out of the queue to be looked at.
pub(super) struct Due {
    pub(super) display: String,
    pub(super) path: PathBuf,
    key: Option<FileKey>,
    still_since: Instant,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(size: u64, t: i128) -> FileKey {
        FileKey {
            dev: 1,
            ino: 1,
            size,
            mtime_ns: t,
            ctime_ns: t,
        }
    }

    #[test]
    fn a_file_is_ready_once_still_for_the_settle_time() {
        let settle = Duration::from_secs(2);
        let mut s = Settling::new(settle, 10);
        let t0 = Instant::now();
        let wall = SystemTime::now();
        assert!(s.add("a".into(), "a".into(), t0));
        assert!(
            s.add("a".into(), "a".into(), t0 + settle),
            "already waiting"
        );
        assert_eq!(s.len(), 1);

        // Written just now: not ready; looked at again when it could be.
        let mut d = s.pop_due(t0).unwrap();
        assert!(s.pop_due(t0).is_none());
        let v = s.judge(&mut d, key(1, 1), Some(wall), t0, wall);
        assert_eq!(v, SettleVerdict::Later(t0 + settle));
        assert!(s.again(d, t0 + settle));
        assert!(s.pop_due(t0 + Duration::from_secs(1)).is_none());

        // Grown meanwhile (the file system stamped it a second later): not yet.
        let t1 = t0 + settle;
        let mut d = s.pop_due(t1).unwrap();
        let written = wall + Duration::from_secs(1);
        let v = s.judge(&mut d, key(2, 2), Some(written), t1, wall + settle);
        assert_eq!(v, SettleVerdict::Later(t1 + Duration::from_secs(1)));
        assert!(s.again(d, t1 + Duration::from_secs(1)));

        // Unchanged since: ready.
        let t2 = t1 + Duration::from_secs(1);
        let mut d = s.pop_due(t2).unwrap();
        let v = s.judge(&mut d, key(2, 2), Some(written), t2, written + settle);
        assert_eq!(v, SettleVerdict::Ready);
        assert_eq!(s.len(), 0);
        assert_eq!(s.next_due(), None);
    }

    #[test]
    fn an_old_file_is_ready_at_once_and_a_future_one_by_our_clock() {
        let settle = Duration::from_secs(2);
        let mut s = Settling::new(settle, 10);
        let t0 = Instant::now();
        let wall = SystemTime::now();
        s.add("old".into(), "old".into(), t0);
        let mut d = s.pop_due(t0).unwrap();
        let old = wall - Duration::from_secs(3600);
        assert_eq!(
            s.judge(&mut d, key(1, 1), Some(old), t0, wall),
            SettleVerdict::Ready
        );

        // Stamped an hour ahead (a server's clock): ready after the settle time by ours.
        s.add("future".into(), "future".into(), t0);
        let mut d = s.pop_due(t0).unwrap();
        let ahead = wall + Duration::from_secs(3600);
        let v = s.judge(&mut d, key(1, 1), Some(ahead), t0, wall);
        assert_eq!(v, SettleVerdict::Later(t0 + settle));
        assert!(s.again(d, t0 + settle));
        let mut d = s.pop_due(t0 + settle).unwrap();
        let v = s.judge(&mut d, key(1, 1), Some(ahead), t0 + settle, wall + settle);
        assert_eq!(v, SettleVerdict::Ready);
    }

    #[test]
    fn the_queue_is_bounded() {
        let mut s = Settling::new(Duration::from_secs(1), 2);
        let t = Instant::now();
        assert!(s.add("a".into(), "a".into(), t));
        assert!(s.add("b".into(), "b".into(), t));
        assert!(!s.add("c".into(), "c".into(), t));
        assert!(
            s.add("a".into(), "a".into(), t),
            "one already waiting is no newcomer"
        );
        assert!(s.contains("b") && !s.contains("c"));
        assert_eq!(s.len(), 2);
    }
}
