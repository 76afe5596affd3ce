//! The one retry loop, after cargo's `util/network/retry.rs`: a `Retry` holds one
//! operation's policy and attempt count and decides, failure by failure, whether to try
//! again; `Retrier::run_at` drives an attempt function through it and tells the user about
//! each retry. Delays are capped exponential backoff with full jitter (the AWS SDK's
//! "standard" mode), or the server's `Retry-After` when it gave one.
//!
//! What many requests share lives beside it, in `origin.rs`: what the run learns about
//! each origin (it is out, it answers with errors no retry mends, it pushes back). Each
//! attempt passes its origin's gate first and tells the origin how it went after, so that
//! no caller keeps such state of its own; and in `admission::Limiter`, the files in
//! flight, told of every answer, pushback and outage.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::failure::Failure;
use super::jitter::jitter;
use super::origin::{FailureVerdict, GatePass, Origin, Origins, Role, Stop};
use crate::admission::Limiter;
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

/// One operation's tries: its policy and the attempts made so far.
struct Retry<'a> {
    policy: &'a RetryPolicy,
    attempts: u32,
    /// The streak of origin failures the latest counted attempts belong to, and how many
    /// of them: given back if that streak turns out to be an outage.
    streak: Option<(u64, u32)>,
}

/// After a failed attempt: wait this long, then try again; the notice says why.
struct NextTry {
    delay: Duration,
    reason: String,
}

impl<'a> Retry<'a> {
    fn new(policy: &'a RetryPolicy) -> Retry<'a> {
        Retry {
            policy,
            attempts: 0,
            streak: None,
        }
    }

    /// Counts the attempt about to be made; returns its number, from 1.
    fn start(&mut self) -> u32 {
        self.attempts += 1;
        self.attempts
    }

    /// The latest attempt counts; it belongs to `streak`, if any.
    fn counted(&mut self, streak: Option<u64>) {
        let Some(id) = streak else { return };
        match &mut self.streak {
            Some((current, n)) if *current == id => *n += 1,
            other => *other = Some((id, 1)),
        }
    }

    /// The latest attempt failed during an outage: neither it nor the attempts that failed
    /// in the same streak count.
    fn forgive(&mut self, streak: u64) {
        let earlier = match self.streak.take() {
            Some((id, n)) if id == streak => n,
            other => {
                self.streak = other;
                0
            }
        };
        self.attempts = self.attempts.saturating_sub(1 + earlier);
    }

    /// The one decision: another try after this failure of the latest attempt, or the
    /// error to give up with.
    fn after<E>(&self, failure: Failure<E>) -> Result<NextTry, E> {
        match failure {
            Failure::Final(e) | Failure::Local(e) | Failure::Fatal { error: e, .. } => Err(e),
            Failure::Transient { error, .. } if self.attempts > self.policy.retries => Err(error),
            Failure::Transient {
                reason,
                retry_after,
                ..
            } => Ok(NextTry {
                delay: self.policy.delay(self.attempts, retry_after),
                reason,
            }),
        }
    }
}

/// Runs attempts under a policy, telling `reporter` of each retry, and (for network
/// requests) their origins of each outcome.
pub(crate) struct Retrier {
    policy: RetryPolicy,
    reporter: Reporter,
    network: Option<(Arc<Origins>, Role)>,
    /// Told how each attempt went: the files in flight follow the answers, pushback and
    /// outages.
    limiter: Option<Arc<Limiter>>,
}

/// An origin whose gate each attempt passes first, and how its stop becomes the caller's
/// error.
type OriginGate<'a, E> = (&'a Arc<Origin>, u64, &'a (dyn Fn(Stop) -> E + Sync));

impl Retrier {
    pub(crate) fn new(policy: RetryPolicy, reporter: Reporter) -> Retrier {
        Retrier {
            policy,
            reporter,
            network: None,
            limiter: None,
        }
    }

    /// This retrier's requests go to origins of this role, whose health `origins` keeps.
    pub(crate) fn gated(mut self, origins: Arc<Origins>, role: Role) -> Retrier {
        self.network = Some((origins, role));
        self
    }

    /// Each attempt's outcome is told to `limiter`, with the role `gated` gave (a retrier
    /// not gated tells it nothing).
    pub(crate) fn limited(mut self, limiter: Arc<Limiter>) -> Retrier {
        self.limiter = Some(limiter);
        self
    }

    /// Calls `attempt` with the attempt's number (from 1) until it succeeds, fails for
    /// good, or the retries are spent. `what` names the operation in retry notices. For
    /// what is not a request to one origin (asking the API for a fresh upload URL).
    pub(crate) async fn run<T, E, Fut>(
        &self,
        what: impl Fn() -> String,
        attempt: impl FnMut(u32) -> Fut,
    ) -> Result<T, E>
    where
        Fut: Future<Output = Result<T, Failure<E>>>,
    {
        self.drive(None, what, attempt).await
    }

    /// As `run`, for a request to `url`: each attempt waits at the origin's gate (paused
    /// during an outage, one probe at a time), and each outcome is told to the origin. A
    /// failure during an outage does not count against the retries; a fatal failure, or
    /// an outage longer than `--max-outage`, ends it with the run-stopping `Stop`.
    pub(crate) async fn run_at<T, E, Fut>(
        &self,
        url: &reqwest::Url,
        what: impl Fn() -> String,
        attempt: impl FnMut(u32) -> Fut,
    ) -> Result<T, E>
    where
        Fut: Future<Output = Result<T, Failure<E>>>,
        E: From<Stop>,
    {
        match &self.network {
            Some((origins, role)) => {
                let origin = origins.origin(url, *role);
                let op = origins.next_op();
                self.drive(Some((&origin, op, &E::from)), what, attempt)
                    .await
            }
            None => self.drive(None, what, attempt).await,
        }
    }

    async fn drive<T, E, Fut>(
        &self,
        gate: Option<OriginGate<'_, E>>,
        what: impl Fn() -> String,
        mut attempt: impl FnMut(u32) -> Fut,
    ) -> Result<T, E>
    where
        Fut: Future<Output = Result<T, Failure<E>>>,
    {
        let mut retry = Retry::new(&self.policy);
        let limiter = self
            .limiter
            .as_ref()
            .zip(self.network.as_ref().map(|(_, role)| *role));
        loop {
            let pass = match gate {
                Some((origin, op, stopped)) => Some(origin.enter(op).await.map_err(stopped)?),
                None => None,
            };
            let n = retry.start();
            let began = Instant::now();
            let failure = match attempt(n).await {
                Ok(v) => {
                    if let Some(pass) = pass {
                        pass.alive();
                    }
                    if let Some((limiter, role)) = limiter {
                        limiter.answered(role, began);
                    }
                    return Ok(v);
                }
                Err(f) => f,
            };
            if let (Some(pass), Some((_, _, stopped))) = (pass, gate) {
                match judge(pass, &failure) {
                    FailureVerdict::Stop(stop) => return Err(stopped(stop)),
                    // The gate paces the next try, and the outage notice replaces the
                    // retry notice; the files in flight hold still until it ends.
                    FailureVerdict::Free { streak } => {
                        if let Some((limiter, _)) = limiter {
                            limiter.hold(true);
                        }
                        retry.forgive(streak);
                        continue;
                    }
                    FailureVerdict::Count { streak } => retry.counted(streak),
                }
            }
            if let Some((limiter, role)) = limiter {
                limiter.ended(failure.request_end(), role, began);
            }
            let NextTry { delay, reason } = retry.after(failure)?;
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

/// Tells the origin how an attempt failed, and returns what to make of it.
fn judge<E>(pass: GatePass, failure: &Failure<E>) -> FailureVerdict {
    match failure {
        Failure::Final(_) => {
            pass.alive();
            FailureVerdict::Count { streak: None }
        }
        Failure::Local(_) => {
            pass.neutral();
            FailureVerdict::Count { streak: None }
        }
        Failure::Fatal { fatal, .. } => FailureVerdict::Stop(pass.fatal(fatal)),
        Failure::Transient {
            sign, retry_after, ..
        } => pass.failed(sign, *retry_after),
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

    #[test]
    fn failures_during_an_outage_are_given_back() {
        let p = RetryPolicy::immediate(2);
        let mut r = Retry::new(&p);
        assert_eq!(r.start(), 1);
        r.counted(Some(4));
        assert_eq!(r.start(), 2);
        r.counted(Some(4));
        assert_eq!(r.start(), 3);
        // The streak of the first two turned out to be an outage: none of the three count.
        r.forgive(4);
        assert_eq!(r.start(), 1);
        r.counted(Some(5));
        assert_eq!(r.start(), 2);
        // Another streak's outage gives back only the latest attempt.
        r.forgive(6);
        assert_eq!(r.start(), 2);
        assert!(r.after(Failure::transient("spent", "busy")).is_ok());
        r.counted(None);
        assert_eq!(r.start(), 3);
        assert!(r.after(Failure::transient("spent", "busy")).is_err());
    }

    /// Runs `attempt` under `policy` and returns its result with the retry notices sent.
    fn run_with(
        policy: RetryPolicy,
        attempt: impl FnMut(u32) -> Result<u32, Failure<String>>,
    ) -> (Result<u32, String>, Vec<(u32, String)>) {
        let (reporter, mut events) = Reporter::channel();
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
            .drain()
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
