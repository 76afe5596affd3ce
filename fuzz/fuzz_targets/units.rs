//! The units: SIZE, RATE, DURATION and JOBS as flags, variables and config values give
//! them.
//!
//! Input: text to parse; its first 12 bytes are also a duration (seconds, nanoseconds)
//! to print.
//! Invariants: a printed duration parses back to itself, and so does a printed size or
//! rate; a plain number of seconds is that many seconds; jobs are 1 to 256.
#![no_main]

use std::time::Duration;

use chief_upload::fuzzing::{duration, jobs, rate, shown_duration, shown_rate, size};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let [s0, s1, s2, s3, s4, s5, s6, s7, n0, n1, n2, n3, ..] = *data {
        let secs = u64::from_le_bytes([s0, s1, s2, s3, s4, s5, s6, s7]);
        let nanos = u32::from_le_bytes([n0, n1, n2, n3]) % 1_000_000_000;
        let d = Duration::new(secs, nanos);
        assert_eq!(duration(&shown_duration(d)), Ok(d), "{}", shown_duration(d));
    }
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(d) = duration(raw) {
        let shown = shown_duration(d);
        assert_eq!(duration(&shown), Ok(d), "{raw:?} shown as {shown}");
        let t = raw.trim();
        if !t.is_empty() && t.len() < 19 && t.bytes().all(|b| b.is_ascii_digit()) {
            assert_eq!(d, Duration::from_secs(t.parse().unwrap()));
        }
    }
    if let Ok(n) = size(raw) {
        assert_eq!(size(&n.to_string()), Ok(n));
    }
    if let Ok(r) = rate(raw) {
        let shown = shown_rate(r);
        let first = shown.split(' ').next().unwrap();
        assert_eq!(rate(first), Ok(r), "{raw:?} shown as {shown}");
    }
    if let Ok(Some(n)) = jobs(raw) {
        assert!((1..=256).contains(&n), "{n}");
    }
});
