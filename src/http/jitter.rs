//! Randomness for spreading retries: no extra dependency, and no state to share.

use std::time::{SystemTime, UNIX_EPOCH};

/// A uniform number in [0, 1), from the standard library's randomly keyed hasher: plenty
/// for spreading retries, and no extra dependency.
pub(crate) fn jitter() -> f64 {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    let mut h = RandomState::new().build_hasher();
    h.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}
