//! The decisions of `-j auto`, as a pure state machine: what the number of files in flight
//! becomes after a round of measurements, a pushback, a timeout, or an outage. It keeps no
//! clock and does no I/O; `Limiter` feeds it and applies what it returns.
//!
//! * **Slow start.** Each answer while files wait for room adds one to the limit, so it
//!   doubles every round (every file in flight has had one answer), new files starting
//!   among the others rather than all at once, as TCP's slow start does. It goes on while
//!   each round's throughput rises by at least `RISE` over the round before (in proportion,
//!   when the limit grew less than twofold, and not judged at all below `JUDGE_GROWTH`);
//!   when it stops rising (two rounds in a row, the second held at the limit the first
//!   ended with, so that a server short of CPU does not get twice that many files more to
//!   queue), the limit settles where the gain ran out.
//! * **Probing (AIMD).** From there, one step of about an eighth up at a time, each judged
//!   on at least `PROBE_ANSWERS` answers; kept when throughput rises with it, given back
//!   when it does not (and the next probe waits longer). Pushback and timeouts cut the
//!   limit to `DECREASE` of itself (`SLOW_START_DECREASE` in slow start), once a round
//!   (and probes wait longer after each).
//! * **Holding.** During an outage nothing is measured and nothing changes.
//!
//! Only rounds in which the limit held back a file count: when the files run out, or
//! another bound (bytes in flight, memory) holds them back, more room would change nothing.

use std::time::Duration;

/// Throughput must rise by this fraction a round for slow start to go on.
pub(crate) const RISE: f64 = 0.25;
/// Slow start judges a round against an earlier one only once the limit has grown by
/// this factor since (it doubles in a round when every answer finds a file waiting).
const JUDGE_GROWTH: f64 = 1.5;
/// Pushback or a timeout multiplies the limit by this.
pub(crate) const DECREASE: f64 = 0.7;
/// ... or by this in slow start, where the limit doubled in the round trip the news took
/// to come back (TCP halves its window there too).
pub(crate) const SLOW_START_DECREASE: f64 = 0.5;
/// A probe is kept when throughput rises by at least this fraction (or half the probe's
/// relative size, if larger).
const PROBE_GAIN: f64 = 0.05;
/// Rounds between probes at most, after probes that did not pay.
const MAX_PROBE_GAP: u32 = 16;
/// While probing, rounds are pooled until they hold this many answers: a few answers
/// measure noise, not the few percent a probe may gain.
const PROBE_ANSWERS: u64 = 64;

/// What one round measured.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sample {
    /// Answers received (each request of a file counts: its POST, its upload).
    pub(crate) answers: u64,
    /// Upload bytes sent.
    pub(crate) bytes: u64,
    pub(crate) elapsed: Duration,
    /// The limit held back at least one file during the round.
    pub(crate) binding: bool,
}

/// Answers and bytes per second.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Throughput {
    answers: f64,
    bytes: f64,
}

impl Throughput {
    fn of(s: &Sample) -> Throughput {
        let secs = s.elapsed.as_secs_f64().max(1e-6);
        Throughput {
            answers: s.answers as f64 / secs,
            bytes: s.bytes as f64 / secs,
        }
    }

    /// How much higher `self` is than `base`: the geometric mean of the two ratios (files
    /// and bytes), so that a round of bigger files is not taken for a faster link; the
    /// answers alone when either moved no bytes.
    fn ratio(&self, base: &Throughput) -> f64 {
        let answers = self.answers / base.answers.max(1e-9);
        if self.bytes > 0.0 && base.bytes > 0.0 {
            (answers * self.bytes / base.bytes).sqrt()
        } else {
            answers
        }
    }
}

/// Why the limit changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Why {
    /// Slow start: throughput still rises.
    Rising,
    /// Slow start is over: throughput stopped rising.
    Plateau,
    /// A probe one step up.
    Probe,
    /// The probe did not raise throughput: back.
    NoGain,
    /// The server pushed back (429, or 503 with Retry-After).
    Pushback,
    /// Requests timed out.
    Timeout,
}

impl Why {
    pub(crate) fn words(self) -> &'static str {
        match self {
            Why::Rising => "throughput is rising",
            Why::Plateau => "throughput stopped rising",
            Why::Probe => "probing for more throughput",
            Why::NoGain => "the probe did not raise throughput",
            Why::Pushback => "the server pushed back",
            Why::Timeout => "requests timed out",
        }
    }
}

/// A change of the limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Change {
    pub(crate) from: usize,
    pub(crate) to: usize,
    pub(crate) why: Why,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Phase {
    /// Doubling; the last binding round judged, its throughput and limit; `doubted`: the
    /// round after it did not rise enough.
    SlowStart {
        last: Option<(Throughput, usize)>,
        doubted: bool,
    },
    /// Settled at `base`, whose throughput is `rate` (unknown right after a cut).
    Probing {
        base: usize,
        rate: Option<Throughput>,
        probe: Probe,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Probe {
    /// Rounds to wait before the next probe.
    Waiting(u32),
    /// The limit is one step above `base` this round.
    Up,
}

#[derive(Clone, Debug)]
pub(crate) struct Controller {
    limit: usize,
    cap: usize,
    phase: Phase,
    held: bool,
    /// Rounds to let pass after a cut before another cut or a probe.
    cooldown: u32,
    /// Rounds between probes now; doubles after each probe that did not pay.
    gap: u32,
    /// Rounds pooled so far while probing.
    pooled: Option<Sample>,
    /// The limit when this round began.
    round_from: usize,
}

impl Controller {
    /// Starts at `initial` files in flight (at most `cap`), in slow start.
    pub(crate) fn new(initial: usize, cap: usize) -> Controller {
        let cap = cap.max(1);
        let limit = initial.clamp(1, cap);
        Controller {
            limit,
            round_from: limit,
            cap,
            phase: Phase::SlowStart {
                last: None,
                doubted: false,
            },
            held: false,
            cooldown: 0,
            gap: 1,
            pooled: None,
        }
    }

    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    #[cfg(test)]
    pub(crate) fn in_slow_start(&self) -> bool {
        matches!(self.phase, Phase::SlowStart { .. })
    }

    /// An outage begins (`true`) or ends: while it lasts, nothing changes, so the run
    /// resumes at the speed it had.
    pub(crate) fn hold(&mut self, on: bool) {
        self.held = on;
    }

    pub(crate) fn held(&self) -> bool {
        self.held
    }

    /// A request was answered; `binding`: a file waits for room. In slow start, one more
    /// file may go (the round's change is reported when it ends).
    pub(crate) fn on_answer(&mut self, binding: bool) {
        // At most a doubling a round, also when a round spans many round trips (a round
        // lasts at least `MIN_ROUND`; on loopback a round trip is far shorter).
        let most = self.round_from.saturating_mul(2).min(self.cap);
        if binding && !self.held && self.limit < most {
            // A round in doubt (the one before fell short of the rise) is measured at the
            // limit it began with: if the gain has run out, doubling again would only put
            // twice the files in flight that the server then queues (on a server short of
            // CPU, more still: each costs it more).
            if let Phase::SlowStart { doubted: false, .. } = self.phase {
                self.limit += 1;
            }
        }
    }

    /// A round is over.
    pub(crate) fn on_round(&mut self, sample: Sample) -> Option<Change> {
        let change = self.judge(sample);
        self.round_from = self.limit;
        change
    }

    fn judge(&mut self, sample: Sample) -> Option<Change> {
        if self.held {
            return None;
        }
        if self.cooldown > 0 {
            self.cooldown -= 1;
            if let (true, Phase::Probing { rate, .. }) = (sample.binding, &mut self.phase) {
                *rate = Some(Throughput::of(&sample));
            }
            return None;
        }
        if !sample.binding {
            return None;
        }
        match self.phase {
            Phase::SlowStart { last, doubted } => {
                self.slow_start(Throughput::of(&sample), last, doubted)
            }
            Phase::Probing { base, rate, probe } => {
                let pooled = match self.pooled.take() {
                    Some(p) => Sample {
                        answers: p.answers + sample.answers,
                        bytes: p.bytes + sample.bytes,
                        elapsed: p.elapsed + sample.elapsed,
                        binding: true,
                    },
                    None => sample,
                };
                if pooled.answers < PROBE_ANSWERS {
                    self.pooled = Some(pooled);
                    return None;
                }
                self.probing(Throughput::of(&pooled), base, rate, probe)
            }
        }
    }

    fn slow_start(
        &mut self,
        now: Throughput,
        last: Option<(Throughput, usize)>,
        doubted: bool,
    ) -> Option<Change> {
        let from = self.round_from;
        let rising = (self.limit != from).then_some(Change {
            from,
            to: self.limit,
            why: Why::Rising,
        });
        if let Some((before, limit_before)) = last {
            // Throughput can rise only as much as the limit did, and in a round in which
            // few files waited for room (the walk behind, a slow disk) it grew little:
            // such a round is no sign of a plateau. It is not judged, and the next round
            // is compared with the same one.
            let grew = from as f64 / limit_before.max(1) as f64;
            if grew < JUDGE_GROWTH {
                return rising;
            }
            let ratio = now.ratio(&before);
            if ratio < 1.0 + RISE * (grew - 1.0).min(1.0) {
                if !doubted {
                    // A round's answers come in bursts a round trip apart, so one round
                    // can measure half its real rate: it takes a second round short of
                    // the rise, judged against the same one, to end slow start (BBR
                    // waits for three).
                    self.phase = Phase::SlowStart {
                        last,
                        doubted: true,
                    };
                    return rising;
                }
                // The gain ran out between `limit_before` and `from`; settle where the
                // throughput measured says it did (a ratio of 1.1 means about 10% past
                // `limit_before` still helped).
                let settle = ((limit_before as f64 * ratio.max(1.0)).round() as usize)
                    .clamp(limit_before.min(from), from);
                return self.settle(settle, now, Why::Plateau);
            }
        }
        self.phase = Phase::SlowStart {
            last: Some((now, from)),
            doubted: false,
        };
        rising
    }

    fn settle(&mut self, limit: usize, rate: Throughput, why: Why) -> Option<Change> {
        self.phase = Phase::Probing {
            base: limit,
            rate: Some(rate),
            probe: Probe::Waiting(self.gap),
        };
        self.set(limit, why).or(Some(Change {
            from: limit,
            to: limit,
            why,
        }))
    }

    fn probing(
        &mut self,
        now: Throughput,
        base: usize,
        rate: Option<Throughput>,
        probe: Probe,
    ) -> Option<Change> {
        let Some(rate) = rate else {
            // The first round after a cut measures the new level.
            self.phase = Phase::Probing {
                base,
                rate: Some(now),
                probe,
            };
            return None;
        };
        match probe {
            Probe::Waiting(0) => {
                let step = (base / 8).max(1);
                let up = (base + step).min(self.cap);
                if up == base {
                    self.phase = Phase::Probing {
                        base,
                        rate: Some(now),
                        probe: Probe::Waiting(self.gap),
                    };
                    return None;
                }
                self.phase = Phase::Probing {
                    base,
                    rate: Some(rate),
                    probe: Probe::Up,
                };
                self.set(up, Why::Probe)
            }
            Probe::Waiting(n) => {
                // Keep the base's throughput fresh: the files and the network change.
                self.phase = Phase::Probing {
                    base,
                    rate: Some(now),
                    probe: Probe::Waiting(n - 1),
                };
                None
            }
            Probe::Up => {
                let step = self.limit.saturating_sub(base) as f64;
                let needed = PROBE_GAIN.max(0.5 * step / base as f64);
                if now.ratio(&rate) >= 1.0 + needed {
                    self.gap = 1;
                    self.phase = Phase::Probing {
                        base: self.limit,
                        rate: Some(now),
                        probe: Probe::Waiting(0),
                    };
                    None
                } else {
                    self.gap = (self.gap * 2).min(MAX_PROBE_GAP);
                    self.phase = Phase::Probing {
                        base,
                        rate: Some(rate),
                        probe: Probe::Waiting(self.gap),
                    };
                    self.set(base, Why::NoGain)
                }
            }
        }
    }

    /// The server pushed back while other requests to it succeed.
    pub(crate) fn on_pushback(&mut self) -> Option<Change> {
        self.cut(Why::Pushback)
    }

    /// A request timed out while other requests to the same service succeed.
    pub(crate) fn on_timeout(&mut self) -> Option<Change> {
        self.cut(Why::Timeout)
    }

    /// Multiplicative decrease, once a round: the requests already in flight when the limit
    /// was cut may still be pushed back, and that is no news.
    fn cut(&mut self, why: Why) -> Option<Change> {
        if self.held || self.cooldown > 0 {
            return None;
        }
        let factor = match self.phase {
            Phase::SlowStart { .. } => SLOW_START_DECREASE,
            Phase::Probing { .. } => DECREASE,
        };
        let to = ((self.limit as f64 * factor) as usize).max(1);
        self.cooldown = 1;
        // Each cut costs the files pushed back their Retry-After: probe less often.
        self.gap = (self.gap * 2).clamp(2, MAX_PROBE_GAP);
        self.pooled = None;
        self.phase = Phase::Probing {
            base: to,
            rate: None,
            probe: Probe::Waiting(self.gap),
        };
        self.set(to, why)
    }

    fn set(&mut self, to: usize, why: Why) -> Option<Change> {
        let from = self.limit;
        self.limit = to.clamp(1, self.cap);
        (self.limit != from).then_some(Change {
            from,
            to: self.limit,
            why,
        })
    }
}
