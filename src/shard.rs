//! `--shard K/N`: which files this run handles (`docs/interface.md#shard`).
//!
//! A file's shard is `FNV-1a-64(path) mod N + 1` over the UTF-8 bytes of its `path` as in
//! the JSON lines, with `/` separators. The function is fixed forever: a re-run of shard
//! 3 of 8 must handle the same files next month, on any OS, built with any Rust.

use std::fmt;

/// This run's part of the work: shard `index` of `count` (1-based).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl Shard {
    /// How a valid shard looks, for the line under an invalid one.
    pub const HINT: &'static str =
        "write K/N with 1 <= K <= N, e.g. --shard 2/4 for the second of four runs";

    /// Parses `K/N` with 1 <= K <= N; the error says why `raw` is not one (the caller
    /// names the flag or variable it came from, see `settings`).
    pub fn parse(raw: &str) -> Result<Shard, String> {
        let (k, n) = raw.trim().split_once('/').ok_or("there is no '/'")?;
        // `u64::from_str` takes a leading '+'; K/N is digits only.
        let num = |s: &str| {
            let s = s.trim();
            s.bytes()
                .all(|b| b.is_ascii_digit())
                .then(|| s.parse::<u64>().ok())
                .flatten()
        };
        let (Some(index), Some(count)) = (num(k), num(n)) else {
            return Err("K and N must be whole numbers".into());
        };
        if count == 0 || index == 0 || index > count {
            return Err("K must be between 1 and N".into());
        }
        Ok(Shard { index, count })
    }

    /// Whether the file whose JSON `path` is `path` belongs to this shard.
    pub fn holds(&self, path: &str) -> bool {
        shard_of(path, self.count) == self.index
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The shard (1..=count) of a path: `FNV-1a-64(path with / separators) mod count + 1`.
pub fn shard_of(path: &str, count: u64) -> u64 {
    let hash = if path.contains('\\') && cfg!(windows) {
        fnv1a64(path.replace('\\', "/").as_bytes())
    } else {
        fnv1a64(path.as_bytes())
    };
    hash % count.max(1) + 1
}

/// FNV-1a, 64 bits (the offset basis and prime of the FNV specification).
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes
        .iter()
        .fold(OFFSET, |h, &b| (h ^ u64::from(b)).wrapping_mul(PRIME))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a64_matches_the_published_test_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a64(b"a"), 0xaf63dc4c8601ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x85944171f73967e8);
    }

    /// Pinned: these assignments must never change between versions.
    #[test]
    fn shards_of_fixed_paths_never_change() {
        // Computed once from the definition (an independent script) and frozen.
        let frozen: [(&str, u64, u64); 6] = [
            // 0xaf63dc4c8601ec8c % 2 + 1, 0x85944171f73967e8 % 10 + 1 (the vectors above).
            ("a", 2, 1),
            ("foobar", 10, 9),
            ("files/a.txt", 8, 3),
            ("./photos/2026/IMG_0001.JPG", 4, 2),
            ("d/été.png", 3, 2),
            ("x", 1, 1),
        ];
        for (path, n, want) in frozen {
            assert_eq!(shard_of(path, n), want, "{path} of {n}");
        }
    }

    #[test]
    fn every_path_falls_in_exactly_one_shard() {
        for i in 0..500 {
            let p = format!("dir/{i}.bin");
            let holders: Vec<u64> = (1..=7)
                .filter(|k| {
                    Shard {
                        index: *k,
                        count: 7,
                    }
                    .holds(&p)
                })
                .collect();
            assert_eq!(holders.len(), 1, "{p}: {holders:?}");
        }
    }

    #[test]
    fn parsing() {
        assert_eq!(Shard::parse("3/8").unwrap(), Shard { index: 3, count: 8 });
        assert_eq!(Shard::parse(" 1/1 ").unwrap().to_string(), "1/1");
        for bad in [
            "0/4", "5/4", "1/0", "a/4", "3", "3/", "/3", "-1/4", "1.5/4", "", "+1/4",
        ] {
            let why = Shard::parse(bad).unwrap_err();
            assert!(!why.is_empty(), "{bad}");
        }
        assert!(Shard::HINT.contains("2/4"));
        // The message naming the flag or variable: settings/tests.rs.
    }
}
