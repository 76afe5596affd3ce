//! `--shard K/N` (and `CHIEF_SHARD`).
//!
//! Input: the text of the flag; also a path to place in a shard.
//! Invariants: an accepted shard has 1 <= K <= N and is printed as it is read back; a
//! path's shard is between 1 and N.
#![no_main]

use chief_upload::shard::{shard_of, Shard};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(s) = Shard::parse(raw) {
        assert!(1 <= s.index && s.index <= s.count, "{s:?}");
        assert_eq!(Shard::parse(&s.to_string()), Ok(s));
        assert!((1..=s.count).contains(&shard_of(raw, s.count)));
        assert_eq!(s.holds(raw), shard_of(raw, s.count) == s.index);
    }
});
