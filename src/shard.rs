//! `--shard K/N`: which files this run handles (`docs/interface.md#shard`).
//!
//! A file's shard is `XXH64(path, seed 0) mod N + 1` over the UTF-8 bytes of its `path` as
//! in the JSON lines, with `/` separators. The function is fixed forever: a re-run of shard
//! 3 of 8 must handle the same files next month, on any OS, built with any Rust, and anyone
//! can compute it with any XXH64 implementation (`xxhsum -H64`, Python's `xxhash`).
//!
//! XXH64, not FNV-1a: FNV-1a's low bits depend only on the low bits of each byte, so
//! `mod 4` saw two bits per character and split trees of numbered files unevenly (187, 67,
//! 63 and 83 of 400). The balance test below keeps FNV-1a to prove it can tell them apart.

use std::fmt;

use xxhash_rust::xxh64::xxh64;

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

/// The shard (1..=count) of a path: `XXH64(path with / separators, seed 0) mod count + 1`.
pub fn shard_of(path: &str, count: u64) -> u64 {
    let hash = if path.contains('\\') && cfg!(windows) {
        xxh64(path.replace('\\', "/").as_bytes(), 0)
    } else {
        xxh64(path.as_bytes(), 0)
    };
    hash % count.max(1) + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The published vectors, as the outside interface states them.
    #[test]
    fn xxh64_matches_the_documented_vectors() {
        assert_eq!(xxh64(b"", 0), 0xef46db3751d8e999);
        assert_eq!(xxh64(b"a.txt", 0), 0x0f213631bd15b8ef);
        assert_eq!(xxh64(b"dist/assets/app.js", 0), 0x7c242fbd82d335fc);
    }

    /// Pinned: these assignments must never change between versions.
    #[test]
    fn shards_of_fixed_paths_never_change() {
        // Computed once with Python's `xxhash` package (xxh64_intdigest, seed 0), an
        // implementation independent of this one, and frozen.
        let frozen: [(&str, u64, u64); 16] = [
            ("", 4, 2),
            ("", 7, 7),
            ("a.txt", 4, 4),
            ("a.txt", 7, 1),
            ("dist/assets/app.js", 4, 1),
            ("dist/assets/app.js", 7, 5),
            ("./photos/2026/IMG_0001.JPG", 4, 1),
            ("./photos/2026/IMG_0001.JPG", 10, 5),
            ("d/été.png", 3, 2),
            ("d/été.png", 8, 4),
            ("files/a.txt", 4, 3),
            ("files/a.txt", 10, 7),
            ("s3/f012.bin", 8, 7),
            ("frames/shot_000123.exr", 2, 1),
            ("frames/shot_000123.exr", 10, 5),
            ("x", 1, 1),
        ];
        for (path, n, want) in frozen {
            assert_eq!(shard_of(path, n), want, "{path:?} of {n}");
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

    /// FNV-1a 64, the function `--shard` used before: kept only to show that the balance
    /// test below can tell a function that splits evenly from one that does not.
    fn fnv1a64(bytes: &[u8]) -> u64 {
        bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        })
    }

    /// The chi-square value above which counts this uneven happen by chance less than once
    /// in a thousand (significance 0.001), for 1 to 15 degrees of freedom.
    const CHI2_999: [f64; 15] = [
        10.828, 13.816, 16.266, 18.467, 20.515, 22.458, 24.322, 26.124, 27.877, 29.588, 31.264,
        32.909, 34.528, 36.123, 37.697,
    ];

    /// The shard counts N (2 to 16) for which the split of `paths` by `hash` fails a
    /// chi-square goodness-of-fit test against an even split, at significance 0.001.
    fn uneven_counts(paths: &[String], hash: fn(&[u8]) -> u64) -> Vec<u64> {
        (2..=16u64)
            .filter(|&n| {
                let mut counts = vec![0u64; n as usize];
                for p in paths {
                    counts[(hash(p.as_bytes()) % n) as usize] += 1;
                }
                let expected = paths.len() as f64 / n as f64;
                let chi2: f64 = counts
                    .iter()
                    .map(|&o| (o as f64 - expected).powi(2) / expected)
                    .sum();
                chi2 > CHI2_999[(n - 2) as usize]
            })
            .collect()
    }

    /// File `i` of a tree filled round-robin over nine folders.
    fn round_robin(files: usize) -> Vec<String> {
        (0..files)
            .map(|i| format!("s{}/f{i:03}.bin", i % 9))
            .collect()
    }

    #[test]
    fn shards_balance_on_the_trees_people_shard() {
        let xxh = |b: &[u8]| xxh64(b, 0);
        let numbered: Vec<String> = (0..50)
            .flat_map(|d| (0..200).map(move |f| format!("d{d:02}/f{f:03}.dat")))
            .collect();
        let frames: Vec<String> = (0..10)
            .flat_map(|s| (1001..2001).map(move |f| format!("shot_{s:02}/frame_{f:06}.exr")))
            .collect();
        for (name, paths) in [
            ("round-robin, 400 files", round_robin(400)),
            ("round-robin, 10,000 files", round_robin(10_000)),
            ("numbered files in numbered folders", numbered),
            ("frame sequences", frames),
        ] {
            assert_eq!(uneven_counts(&paths, xxh), Vec::<u64>::new(), "{name}");
        }
    }

    /// The same test fails FNV-1a on the tree an independent check found uneven: it can
    /// tell a good split from a bad one.
    #[test]
    fn the_balance_test_fails_the_old_fnv1a_split() {
        let tree = round_robin(400);
        let mut counts = [0u64; 4];
        for p in &tree {
            counts[(fnv1a64(p.as_bytes()) % 4) as usize] += 1;
        }
        // Shard 2 of 4 holds 187 of the 400 files, nearly twice its share.
        assert_eq!(counts, [67, 187, 83, 63]);
        assert!(uneven_counts(&tree, fnv1a64).contains(&4));
        assert!(uneven_counts(&round_robin(10_000), fnv1a64).contains(&4));
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
