//! An origin's history, as far as the decisions of `origin.rs` need it: pure, so that
//! tests give the time.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum HealthMode {
    /// Every request goes.
    Open,
    /// Failures in a row: one request at a time probes it.
    Suspect,
    /// An outage: as suspect, and failures cost no request its retries.
    Out,
}

/// Failures since the last sign of life.
#[derive(Clone, Debug)]
pub(super) struct Streak {
    pub(super) id: u64,
    pub(super) since: Instant,
    pub(super) failures: u32,
    pub(super) first_op: u64,
    pub(super) several_ops: bool,
    /// The latest failure, in a few words ("HTTP 503").
    pub(super) reason: String,
}

/// One request's part in the decisions.
#[derive(Clone, Copy, Debug)]
pub(super) struct Attempt {
    pub(super) op: u64,
    pub(super) probe: bool,
}

pub(super) enum Admit {
    Go,
    Probe,
    /// Until this instant (the next probe's turn), or a change (`None`: a probe is out).
    Wait(Option<Instant>),
    Stop(Stop),
}

/// An origin's history, as far as the decisions need it: pure, so tests give the time.
#[derive(Debug)]
pub(super) struct Health {
    /// It has sent an HTTP answer (of any status) in this run.
    pub(super) answered: bool,
    pub(super) streak: Option<Streak>,
    pub(super) streaks: u64,
    pub(super) mode: HealthMode,
    pub(super) probing: bool,
    /// Requests waiting for the probe's turn, first come first served: a request whose
    /// probe failed goes to the back, so no one spends all its retries probing.
    pub(super) queue: VecDeque<u64>,
    pub(super) next_probe: Instant,
    pub(super) backoff: Duration,
    pub(super) last_notice: Option<Instant>,
    pub(super) stopped: Option<Stop>,
    pub(super) pushbacks: u64,
}

/// Half of `d`, plus a random part of the other half.
pub(super) fn equal_jitter(d: Duration) -> Duration {
    d / 2 + (d / 2).mul_f64(jitter())
}

impl Health {
    pub(super) fn new(now: Instant) -> Health {
        Health {
            answered: false,
            streak: None,
            streaks: 0,
            mode: HealthMode::Open,
            probing: false,
            queue: VecDeque::new(),
            next_probe: now,
            backoff: PROBE_FIRST,
            last_notice: None,
            stopped: None,
            pushbacks: 0,
        }
    }

    /// Whether request `op` may go now. A request told to wait is in the queue (the
    /// caller takes it out when it stops waiting).
    pub(super) fn admit(&mut self, now: Instant, op: u64, limits: &HealthLimits) -> Admit {
        if let Some(stop) = &self.stopped {
            return Admit::Stop(stop.clone());
        }
        if self.mode == HealthMode::Open {
            return Admit::Go;
        }
        if let Some(stop) = self.overdue(now, limits) {
            return Admit::Stop(stop);
        }
        if !self.queue.contains(&op) {
            self.queue.push_back(op);
        }
        if self.probing {
            return Admit::Wait(None);
        }
        if now < self.next_probe {
            return Admit::Wait(Some(self.next_probe));
        }
        if self.queue.front() != Some(&op) {
            // Another's turn: it is being woken too.
            return Admit::Wait(None);
        }
        self.queue.pop_front();
        self.probing = true;
        Admit::Probe
    }

    /// Out (or suspect) for longer than `--max-outage`: the origin stops.
    pub(super) fn overdue(&mut self, now: Instant, limits: &HealthLimits) -> Option<Stop> {
        let streak = self.streak.as_ref()?;
        let down_for = now.saturating_duration_since(streak.since);
        if self.mode == HealthMode::Open || down_for < limits.max_outage {
            return None;
        }
        let stop = Stop {
            kind: StopKind::Outage {
                down_for,
                limit: limits.max_outage,
            },
            who: limits.who.clone(),
            name: limits.name.clone(),
            reason: streak.reason.clone(),
        };
        self.stopped = Some(stop.clone());
        Some(stop)
    }

    /// A sign of life: the streak ends, every request goes again.
    pub(super) fn alive(
        &mut self,
        now: Instant,
        probe: bool,
        limits: &HealthLimits,
    ) -> Option<Event> {
        if probe {
            self.probing = false;
        }
        self.answered = true;
        let event = match (&self.streak, self.mode) {
            (Some(s), HealthMode::Out) => Some(Event::OutageOver {
                origin: limits.name.clone(),
                down_for: now.saturating_duration_since(s.since),
            }),
            _ => None,
        };
        self.streak = None;
        self.mode = HealthMode::Open;
        self.backoff = PROBE_FIRST;
        self.last_notice = None;
        event
    }

    pub(super) fn neutral(&mut self, now: Instant, probe: bool) {
        if probe {
            self.probing = false;
            if self.mode != HealthMode::Open {
                self.next_probe = now + equal_jitter(self.backoff);
            }
        }
    }

    pub(super) fn fatal(&mut self, fatal: &Fatal, limits: &HealthLimits) -> Stop {
        self.probing = false;
        let stop = Stop {
            kind: StopKind::Fatal(fatal.kind),
            who: limits.who.clone(),
            name: limits.name.clone(),
            reason: fatal.reason.clone(),
        };
        self.stopped.get_or_insert(stop).clone()
    }

    pub(super) fn failed(
        &mut self,
        now: Instant,
        attempt: Attempt,
        sign: &HealthSign,
        retry_after: Option<Duration>,
        limits: &HealthLimits,
    ) -> (FailureVerdict, Option<Event>) {
        if attempt.probe {
            self.probing = false;
        }
        if let Some(stop) = &self.stopped {
            return (FailureVerdict::Stop(stop.clone()), None);
        }
        if matches!(sign, HealthSign::Pushback | HealthSign::Busy(_)) {
            self.pushbacks += 1;
        }
        let evidence = match sign {
            HealthSign::ServerError(_) | HealthSign::Busy(_) => {
                self.answered = true;
                true
            }
            // It answers, and asks for less: alive, never out.
            HealthSign::Pushback => {
                let event = self.alive(now, false, limits);
                return (FailureVerdict::Count { streak: None }, event);
            }
            HealthSign::Unreachable(why) if !self.answered && limits.role == Role::Api => {
                let stop = self.fatal(
                    &Fatal {
                        kind: FatalKind::Unreachable,
                        reason: why.clone(),
                    },
                    limits,
                );
                return (FailureVerdict::Stop(stop), None);
            }
            // Before its first answer, a lost connection is that request's problem.
            HealthSign::Dropped(_) | HealthSign::TimedOut(_) | HealthSign::Unreachable(_) => {
                self.answered
            }
            HealthSign::Other => false,
        };
        if !evidence {
            self.neutral(now, attempt.probe);
            return (FailureVerdict::Count { streak: None }, None);
        }
        let streak = self.streak.get_or_insert_with(|| {
            self.streaks += 1;
            Streak {
                id: self.streaks,
                since: now,
                failures: 0,
                first_op: attempt.op,
                several_ops: false,
                reason: String::new(),
            }
        });
        streak.failures += 1;
        streak.several_ops |= streak.first_op != attempt.op;
        streak.reason = sign.short();
        let (id, since) = (streak.id, streak.since);
        if self.mode == HealthMode::Open && streak.failures >= SUSPECT_AFTER && streak.several_ops {
            self.mode = HealthMode::Suspect;
            self.backoff = PROBE_FIRST;
            self.next_probe = now + equal_jitter(PROBE_FIRST);
        }
        if self.mode == HealthMode::Open {
            return (FailureVerdict::Count { streak: Some(id) }, None);
        }
        let asked = retry_after.map(|ra| ra.min(limits.retry_after_cap));
        if attempt.probe {
            self.next_probe = now + asked.unwrap_or_else(|| equal_jitter(self.backoff));
            self.backoff = (self.backoff * 2).min(PROBE_CAP);
        } else if let Some(ra) = asked {
            self.next_probe = self.next_probe.max(now + ra);
        }
        // Never wait past the limit: the turn after it stops the run.
        self.next_probe = self.next_probe.min(since + limits.max_outage);
        let down_for = now.saturating_duration_since(since);
        let mut notice = false;
        if self.mode == HealthMode::Suspect && down_for >= OUTAGE_AFTER.min(limits.max_outage) {
            self.mode = HealthMode::Out;
            notice = true;
        }
        if self.mode != HealthMode::Out {
            // A probe when the streak is old enough to judge, so that an outage is known
            // (and shown) then, not whenever the backoff happens to end.
            // (A server's `Retry-After` is honoured all the same.)
            if asked.is_none() {
                let judged = since + OUTAGE_AFTER.min(limits.max_outage);
                self.next_probe = self.next_probe.min(judged);
            }
            return (FailureVerdict::Count { streak: Some(id) }, None);
        }
        if let Some(stop) = self.overdue(now, limits) {
            return (FailureVerdict::Stop(stop), None);
        }
        notice |= attempt.probe
            && self
                .last_notice
                .is_none_or(|t| now.saturating_duration_since(t) >= NOTICE_EVERY);
        let event = notice.then(|| {
            self.last_notice = Some(now);
            Event::Outage {
                origin: limits.name.clone(),
                reason: sign.short(),
                down_for,
                retry_in: self.next_probe.saturating_duration_since(now),
            }
        });
        (FailureVerdict::Free { streak: id }, event)
    }
}
