//! The one retry loop, after cargo's `util/network/retry.rs`: a `Retry` holds one
//! operation's policy and attempt count and decides, failure by failure, whether to try
//! again; `Retrier::run` drives an attempt function through it and tells the user about
//! each retry. Delays are capped exponential backoff with full jitter (the AWS SDK's
//! "standard" mode), or the server's `Retry-After` when it gave one.
//!
//! A `Retrier` is the place for what many requests share: what the run learns about an
//! origin (it is out, it answers with errors no retry mends, it pushes back) belongs in
//! it, consulted before each attempt and told of each failure, so that no caller keeps
//! such state of its own.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::limit::Limiter;
use crate::event::{Event, Reporter};

#[derive(Clone, Debug)]
pub(crate) struct RetryPolicy {
    /// Retries after the first attempt.
    pub(crate) retries: u32,
    /// Upper bound of the first delay; doubles each attempt.
    pub(crate) base: Duration,
    /// No delay exceeds this, `Retry-After` included.
    pub(crate) cap: Duration,
}

impl RetryPolicy {
    /// `retries` more tries, each at once: for failures that waiting does not mend (an
    /// upload URL that expired is replaced by asking for a fresh one).
    pub(crate) fn immediate(retries: u32) -> RetryPolicy {
        RetryPolicy {
            retries,
            base: Duration::ZERO,
            cap: Duration::ZERO,
        }
    }

    /// The wait before retry number `attempt` (1-based): a server's `Retry-After` when it
    /// gave one (plus up to half of it again, so that requests pushed back together do not
    /// all come back together), else a random time in [0, min(cap, base * 2^(attempt-1))].
    pub(crate) fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(ra) = retry_after {
            return ra.mul_f64(1.0 + 0.5 * jitter()).min(self.cap);
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

/// How one attempt failed.
#[derive(Debug)]
pub(crate) enum Failure<E> {
    /// No retry would mend it: `E` is the answer now.
    Final(E),
    /// Another try may succeed. `reason` is what the retry notice says, `error` the answer
    /// if no try is left, `retry_after` the wait the server asked for.
    Transient {
        error: E,
        reason: String,
        retry_after: Option<Duration>,
    },
}

impl<E> Failure<E> {
    pub(crate) fn transient(error: E, reason: impl Into<String>) -> Failure<E> {
        Failure::Transient {
            error,
            reason: reason.into(),
            retry_after: None,
        }
    }
}

/// One operation's tries: its policy and the attempts made so far.
struct Retry<'a> {
    policy: &'a RetryPolicy,
    attempts: u32,
}

/// After a failed attempt: wait this long, then try again; the notice says why.
struct Again {
    delay: Duration,
    reason: String,
}

impl<'a> Retry<'a> {
    fn new(policy: &'a RetryPolicy) -> Retry<'a> {
        Retry {
            policy,
            attempts: 0,
        }
    }

    /// Counts the attempt about to be made; returns its number, from 1.
    fn start(&mut self) -> u32 {
        self.attempts += 1;
        self.attempts
    }

    /// The one decision: another try after this failure of the latest attempt, or the
    /// error to give up with.
    fn after<E>(&self, failure: Failure<E>) -> Result<Again, E> {
        match failure {
            Failure::Final(e) => Err(e),
            Failure::Transient { error, .. } if self.attempts > self.policy.retries => Err(error),
            Failure::Transient {
                reason,
                retry_after,
                ..
            } => Ok(Again {
                delay: self.policy.delay(self.attempts, retry_after),
                reason,
            }),
        }
    }
}

/// Runs attempts under a policy, telling `reporter` of each retry.
pub(crate) struct Retrier {
    policy: RetryPolicy,
    reporter: Reporter,
    /// Told how each attempt went: the files in flight follow the answers and pushback.
    limiter: Option<Arc<Limiter>>,
}

impl Retrier {
    pub(crate) fn new(policy: RetryPolicy, reporter: Reporter) -> Retrier {
        Retrier {
            policy,
            reporter,
            limiter: None,
        }
    }

    /// Each attempt's outcome is told to `limiter`.
    pub(crate) fn limited(mut self, limiter: Arc<Limiter>) -> Retrier {
        self.limiter = Some(limiter);
        self
    }

    /// Calls `attempt` with the attempt's number (from 1) until it succeeds, fails for
    /// good, or the retries are spent. `what` names the operation in retry notices.
    pub(crate) async fn run<T, E, Fut>(
        &self,
        what: impl Fn() -> String,
        mut attempt: impl FnMut(u32) -> Fut,
    ) -> Result<T, E>
    where
        Fut: Future<Output = Result<T, Failure<E>>>,
    {
        let mut retry = Retry::new(&self.policy);
        loop {
            let n = retry.start();
            let began = Instant::now();
            let result = attempt(n).await;
            if let Some(limiter) = &self.limiter {
                match &result {
                    Ok(_) => limiter.answered(),
                    Err(f) => limiter.failed(f, began),
                }
            }
            let failure = match result {
                Ok(v) => return Ok(v),
                Err(f) => f,
            };
            let Again { delay, reason } = retry.after(failure)?;
            self.reporter.emit(Event::Retry {
                what: what(),
                attempt: n,
                delay,
                reason,
            });
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let ra = Duration::from_millis(400);
        let waits: std::collections::HashSet<_> = (0..20).map(|_| p.delay(1, Some(ra))).collect();
        assert!(
            waits.iter().all(|w| *w >= ra && *w <= ra * 3 / 2),
            "at least Retry-After, at most half as much again: {waits:?}"
        );
        assert!(waits.len() > 10, "spread, not all at once: {waits:?}");
        let spread: std::collections::HashSet<_> = (0..20).map(|_| p.delay(5, None)).collect();
        assert!(spread.len() > 10, "delays are jittered");
    }

    #[test]
    fn immediate_retries_do_not_wait_even_when_asked_to() {
        let p = RetryPolicy::immediate(3);
        for attempt in 1..5 {
            assert_eq!(p.delay(attempt, None), Duration::ZERO);
            assert_eq!(
                p.delay(attempt, Some(Duration::from_secs(9))),
                Duration::ZERO
            );
        }
    }

    #[test]
    fn a_retry_decides_by_failure_and_attempts_left() {
        let p = RetryPolicy::immediate(2);
        let mut r = Retry::new(&p);
        r.start();
        assert!(matches!(r.after(Failure::Final("no")), Err("no")));
        let mut r = Retry::new(&p);
        for _ in 0..2 {
            r.start();
            let again = r.after(Failure::transient("spent", "busy")).ok().unwrap();
            assert_eq!(again.reason, "busy");
        }
        r.start();
        assert!(matches!(
            r.after(Failure::transient("spent", "busy")),
            Err("spent")
        ));
    }

    /// Runs `attempt` under `policy` and returns its result with the retry notices sent.
    fn run_with(
        policy: RetryPolicy,
        attempt: impl FnMut(u32) -> Result<u32, Failure<String>>,
    ) -> (Result<u32, String>, Vec<(u32, String)>) {
        let (reporter, events) = Reporter::channel();
        let retrier = Retrier::new(policy, reporter);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let mut attempt = attempt;
        let result =
            rt.block_on(retrier.run(|| "PUT x".to_string(), |n| std::future::ready(attempt(n))));
        drop(retrier);
        let notices = events
            .try_iter()
            .map(|e| match e {
                Event::Retry {
                    what,
                    attempt,
                    delay,
                    reason,
                } => {
                    assert_eq!((what.as_str(), delay), ("PUT x", Duration::ZERO));
                    (attempt, reason)
                }
                other => panic!("{other:?}"),
            })
            .collect();
        (result, notices)
    }

    #[test]
    fn the_loop_retries_transient_failures_until_they_pass_or_run_out() {
        let (result, notices) = run_with(RetryPolicy::immediate(5), |n| {
            if n < 3 {
                Err(Failure::transient(
                    format!("gave up at {n}"),
                    format!("busy {n}"),
                ))
            } else {
                Ok(n)
            }
        });
        assert_eq!(result, Ok(3));
        assert_eq!(notices, vec![(1, "busy 1".into()), (2, "busy 2".into())]);

        let (result, notices) = run_with(RetryPolicy::immediate(2), |n| {
            Err(Failure::transient(format!("gave up at {n}"), "busy"))
        });
        assert_eq!(
            result,
            Err("gave up at 3".into()),
            "the last attempt's error"
        );
        assert_eq!(notices.len(), 2);

        let (result, notices) = run_with(RetryPolicy::immediate(5), |n| {
            if n < 2 {
                Err(Failure::transient(String::new(), "busy"))
            } else {
                Err(Failure::Final(format!("refused at {n}")))
            }
        });
        assert_eq!(
            result,
            Err("refused at 2".into()),
            "a final failure ends it"
        );
        assert_eq!(notices.len(), 1);
    }
}
