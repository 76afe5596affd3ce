//! Retry timing: capped exponential backoff with full jitter (the AWS SDK's "standard"
//! mode), and `Retry-After` (seconds or HTTP-date).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub retries: u32,
    /// Upper bound of the first delay; doubles each attempt.
    pub base: Duration,
    /// No delay exceeds this, `Retry-After` included.
    pub cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            retries: 5,
            base: Duration::from_millis(250),
            cap: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `attempt` (1-based): a server's `Retry-After` when it
    /// gave one, else a random time in [0, min(cap, base * 2^(attempt-1))].
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(ra) = retry_after {
            return ra.min(self.cap);
        }
        let exp = self.base.saturating_mul(
            1u32.checked_shl(attempt.saturating_sub(1).min(20))
                .unwrap_or(u32::MAX),
        );
        let ceiling = exp.min(self.cap);
        ceiling.mul_f64(jitter())
    }
}

/// A uniform number in [0, 1), from the standard library's randomly keyed hasher: plenty
/// for spreading retries, and no extra dependency.
fn jitter() -> f64 {
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

/// `Retry-After: 120` or `Retry-After: Fri, 27 Nov 2026 10:00:00 GMT`.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        let now = UNIX_EPOCH + Duration::from_secs(1_795_774_500);
        assert_eq!(parse_retry_after("3", now), Some(Duration::from_secs(3)));
        assert_eq!(
            parse_retry_after("Fri, 27 Nov 2026 10:15:07 GMT", now),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            parse_retry_after("Fri, 27 Nov 2026 10:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn backoff_is_capped_and_jittered() {
        let p = RetryPolicy {
            retries: 9,
            base: Duration::from_millis(100),
            cap: Duration::from_secs(1),
        };
        for attempt in 1..40 {
            let d = p.delay(attempt, None);
            assert!(d <= Duration::from_secs(1));
            assert!(d <= Duration::from_millis(100) * 2u32.pow(attempt.min(10) - 1));
        }
        assert_eq!(
            p.delay(1, Some(Duration::from_secs(120))),
            Duration::from_secs(1),
            "Retry-After is capped"
        );
        let spread: std::collections::HashSet<_> = (0..20).map(|_| p.delay(5, None)).collect();
        assert!(spread.len() > 10, "delays are jittered");
    }
}
