//! The files a watch's filters left out, each remembered as it was then, so that
//! `excluded` counts a file once per appearance or change (as an upload is counted once
//! per new content), and a rescan that finds nothing new adds nothing.
//!
//! Bounded: a path and a state are kept as two 64-bit hashes (about 32 bytes a file);
//! past `MAX_REMEMBERED` files the memory starts anew, so a later rescan may count a file
//! left out long ago once more.

use std::collections::HashMap;

use xxhash_rust::xxh64::xxh64;

use crate::file_key::FileKey;

/// How many left-out files are remembered: about 32 MiB.
const MAX_REMEMBERED: usize = 1 << 20;

#[derive(Default)]
pub(super) struct LeftOut {
    /// The hash of each display path, and of the state it was left out in.
    seen: HashMap<u64, u64>,
}

impl LeftOut {
    /// Whether the file `display`, now `key` (`None`: it could not be read), is newly left
    /// out: never before, or changed since. It is then remembered so.
    pub(super) fn newly(&mut self, display: &str, key: Option<&FileKey>) -> bool {
        let state = key.map_or(0, |k| {
            let mut b = [0u8; 56];
            b[..8].copy_from_slice(&k.dev.to_le_bytes());
            b[8..16].copy_from_slice(&k.ino.to_le_bytes());
            b[16..24].copy_from_slice(&k.size.to_le_bytes());
            b[24..40].copy_from_slice(&k.mtime_ns.to_le_bytes());
            b[40..56].copy_from_slice(&k.ctime_ns.to_le_bytes());
            xxh64(&b, 0)
        });
        let path = xxh64(display.as_bytes(), 0);
        if self.seen.get(&path) == Some(&state) {
            return false;
        }
        if self.seen.len() >= MAX_REMEMBERED && !self.seen.contains_key(&path) {
            self.seen.clear();
        }
        self.seen.insert(path, state);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(size: u64, t: i128) -> FileKey {
        FileKey {
            dev: 1,
            ino: 2,
            size,
            mtime_ns: t,
            ctime_ns: t,
        }
    }

    #[test]
    fn a_file_counts_once_per_appearance_or_change() {
        let mut l = LeftOut::default();
        assert!(l.newly("a.tmp", Some(&key(1, 10))));
        assert!(
            !l.newly("a.tmp", Some(&key(1, 10))),
            "found again, unchanged"
        );
        assert!(l.newly("a.tmp", Some(&key(2, 11))), "changed");
        assert!(!l.newly("a.tmp", Some(&key(2, 11))));
        assert!(l.newly("b.tmp", Some(&key(2, 11))), "another file");
        assert!(l.newly("c.tmp", None));
        assert!(!l.newly("c.tmp", None), "unreadable, counted once");
    }
}
