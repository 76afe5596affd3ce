//! `--bwlimit`: one cap over every upload body of the run together. Each chunk of body
//! reserves its time on one shared timeline (its size divided by the rate) and goes out when
//! its turn comes, so N uploads share the cap and together never exceed it. Chunks are
//! small under a cap (about `SLICE` of it), so the bytes flow evenly: no second-long burst
//! followed by silence, and the progress bars, rate and ETA, which count bytes as they go
//! out, follow the cap.

use crate::sync::lock;
use std::num::NonZeroU64;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The time one chunk of body takes under the cap, about.
const SLICE: Duration = Duration::from_millis(20);
/// The smallest chunk: below it, the cost of each chunk outweighs the smoothness.
const MIN_CHUNK: usize = 1024;

#[derive(Debug)]
pub(crate) struct Bandwidth {
    per_sec: u64,
    /// When the link is free again: the end of the last chunk reserved.
    next: Mutex<Instant>,
}

impl Bandwidth {
    pub(crate) fn new(per_sec: NonZeroU64) -> Bandwidth {
        Bandwidth {
            per_sec: per_sec.get(),
            next: Mutex::new(Instant::now()),
        }
    }

    /// The chunk size to read under this cap: about `SLICE` of it, from `MIN_CHUNK` up to
    /// `max` (the size without a cap).
    pub(crate) fn chunk(&self, max: usize) -> usize {
        let slice = (self.per_sec as f64 * SLICE.as_secs_f64()) as usize;
        slice.clamp(MIN_CHUNK.min(max), max)
    }

    /// Reserves the link for `n` bytes and returns when they may go out. A link left idle
    /// earns one `SLICE` of credit at most: enough to make up for a body that woke up a
    /// little late, too little for a burst.
    pub(crate) async fn take(&self, n: u64) {
        let at = self.reserve(n, Instant::now());
        tokio::time::sleep_until(at.into()).await;
    }

    /// When `n` bytes reserved at `now` may go out.
    fn reserve(&self, n: u64, now: Instant) -> Instant {
        let mut next = lock(&self.next);
        let start = (*next).max(now.checked_sub(SLICE).unwrap_or(now));
        *next = start + Duration::from_secs_f64(n as f64 / self.per_sec as f64);
        start
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(n: u64) -> Bandwidth {
        Bandwidth::new(NonZeroU64::new(n).unwrap())
    }

    #[test]
    fn chunks_are_a_slice_of_the_cap() {
        assert_eq!(
            rate(20 << 20).chunk(256 << 10),
            256 << 10,
            "capped at the usual size"
        );
        assert_eq!(rate(1 << 20).chunk(256 << 10), 20971);
        assert_eq!(rate(100).chunk(256 << 10), 1024);
        assert_eq!(rate(100).chunk(10), 10);
    }

    #[test]
    fn reservations_share_one_timeline() {
        let b = rate(1000);
        let t0 = Instant::now() + Duration::from_secs(1);
        *b.next.lock().unwrap() = t0;
        // Three bodies asking at once go one after another, 100 bytes = 100 ms each.
        let starts: Vec<Duration> = (0..3).map(|_| b.reserve(100, t0) - t0).collect();
        assert_eq!(
            starts,
            [0, 100, 200].map(Duration::from_millis),
            "each waits for the ones before"
        );
        // Over any span, the bytes let out stay within the cap plus one chunk.
        let mut out = Vec::new();
        let mut now = t0 + Duration::from_millis(300);
        for _ in 0..50 {
            let at = b.reserve(50, now);
            out.push(at);
            now = at;
        }
        for w in out.windows(21) {
            let span = w[20] - w[0];
            assert!(span >= Duration::from_millis(1000), "{span:?}");
        }
        // An idle link earns one slice of credit, no more.
        let later = now + Duration::from_secs(10);
        assert_eq!(b.reserve(50, later), later - SLICE, "at once");
        assert_eq!(
            b.reserve(50, later),
            later - SLICE + Duration::from_millis(50),
            "the next waits its turn"
        );
    }
}
