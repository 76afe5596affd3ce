//! How the fake's network behaves (latency, bandwidth, throttling, outages, chaos) and
//! what it counted. One [`Knobs`] value holds every setting a test may change while the
//! fake runs; [`Stats`] and [`Second`] are what it measured, per listener.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use super::{lock, Target};

/// Which origins a setting covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origins {
    Api,
    Storage,
    Both,
}

impl Origins {
    pub fn covers(self, target: Target) -> bool {
        matches!(
            (self, target),
            (Origins::Both, _) | (Origins::Api, Target::Api) | (Origins::Storage, Target::Storage)
        )
    }
}

/// Every run-time setting of the emulated network, in one place: set it with
/// `FakeChief::builder().with_knobs(..)` before the start, or `FakeChief::update_knobs`
/// while it runs. The default is a perfect loopback.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Knobs {
    pub api: OriginKnobs,
    pub storage: OriginKnobs,
    /// Per-body pacing of uploads and whether the storage computes the MD5 itself.
    pub link: Option<Link>,
    /// One cap, in bytes per second, over all upload bodies together (a token bucket at
    /// the storage, not per connection): N uploads in parallel share it.
    pub shared_link: Option<u64>,
    /// A whole-origin outage; replacing it starts a new window.
    pub outage: Option<Outage>,
}

impl Knobs {
    pub fn origin(&self, target: Target) -> &OriginKnobs {
        match target {
            Target::Api => &self.api,
            Target::Storage => &self.storage,
        }
    }

    pub fn origin_mut(&mut self, target: Target) -> &mut OriginKnobs {
        match target {
            Target::Api => &mut self.api,
            Target::Storage => &mut self.storage,
        }
    }
}

/// Settings of one listener.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OriginKnobs {
    /// Delay before every answer (a round trip to a distant region); connection drops
    /// are not delayed.
    pub latency: Duration,
    /// Answer 429 to a request arriving while this many are already being served.
    pub max_in_flight: Option<InFlightLimit>,
    /// Fail a random fraction of requests with a 5xx or a dropped connection.
    pub chaos: Option<Chaos>,
}

/// An emulated network link to the storage, for benchmarks: each upload's body is
/// received no faster than `bytes_per_sec` (paced by sleeping, so it costs no CPU).
/// With `verify: false` the storage trusts the signed Content-MD5 instead of computing
/// the MD5 itself, as a remote server would on its own CPU, not this machine's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    pub bytes_per_sec: u64,
    pub verify: bool,
}

/// A server that pushes back: at most `max` requests are served at once; one more is
/// answered 429 (with `Retry-After: retry_after` seconds when set).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InFlightLimit {
    pub max: usize,
    pub retry_after: Option<u32>,
}

impl InFlightLimit {
    pub fn new(max: usize, retry_after: Option<u32>) -> InFlightLimit {
        InFlightLimit { max, retry_after }
    }
}

/// Random faults while the origin is otherwise healthy. Of the requests hit (`fraction`
/// of all), `resets` (a fraction) lose their connection, the others get 500, 502, 503
/// or 504 without `Retry-After`. The draws come from `seed` and the order of arrival,
/// so sequential requests see the same faults in every run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Chaos {
    pub fraction: f64,
    pub resets: f64,
    pub seed: u64,
}

impl Chaos {
    /// `fraction` of requests fail, half of them by a reset.
    pub fn new(fraction: f64) -> Chaos {
        Chaos {
            fraction,
            resets: 0.5,
            seed: 0x00c4_1ef0,
        }
    }

    /// Does the `n`-th draw hit, and how: `Some(None)` a reset, `Some(Some(status))`.
    pub(super) fn draw(&self, n: u64) -> Option<Option<u16>> {
        let x = splitmix64(self.seed ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        if unit(x) >= self.fraction {
            return None;
        }
        let y = splitmix64(x);
        if unit(y) < self.resets {
            Some(None)
        } else {
            Some(Some([500, 502, 503, 504][(y & 3) as usize]))
        }
    }
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A uniform draw in [0, 1).
fn unit(x: u64) -> f64 {
    (x >> 11) as f64 / (1u64 << 53) as f64
}

/// A whole-origin outage: the first `after` requests to the covered origins pass, then
/// every request is failed for `duration` (from the arrival of request `after + 1`), or
/// forever when `duration` is `None` (until `FakeChief::end_outage`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outage {
    pub origins: Origins,
    pub after: usize,
    pub duration: Option<Duration>,
    pub mode: OutageMode,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutageMode {
    /// Answer every request with this status (normally 503), optionally `Retry-After`.
    Status {
        status: u16,
        retry_after: Option<String>,
    },
    /// Drop each connection after reading the request head, without answering.
    Reset,
    /// Stop listening: open connections are cut and new ones refused by the system,
    /// as when the server is down. Refused connections never reach the fake, so only
    /// the request that started the outage (and any in flight) count in
    /// `Stats::outage_requests`.
    Refuse,
}

impl Outage {
    /// 503 on everything to `origins` for `duration`, after `after` requests.
    pub fn unavailable(origins: Origins, after: usize, duration: Option<Duration>) -> Outage {
        Outage {
            origins,
            after,
            duration,
            mode: OutageMode::Status {
                status: 503,
                retry_after: None,
            },
        }
    }

    pub fn with_mode(mut self, mode: OutageMode) -> Outage {
        self.mode = mode;
        self
    }
}

/// Where a request falls relative to an outage window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Before,
    /// This request starts the outage.
    Begins,
    During,
    Over,
}

/// The state of one outage window; a pure function of the arrivals and their times.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutageWindow {
    seen: usize,
    started: Option<Instant>,
    ended: bool,
}

impl OutageWindow {
    /// A request reached a covered origin at `now`.
    pub fn on_request(&mut self, outage: &Outage, now: Instant) -> Phase {
        if self.ended {
            return Phase::Over;
        }
        match self.started {
            Some(start) => {
                if outage.duration.is_some_and(|d| now >= start + d) {
                    self.ended = true;
                    Phase::Over
                } else {
                    Phase::During
                }
            }
            None => {
                self.seen += 1;
                if self.seen > outage.after {
                    self.started = Some(now);
                    Phase::Begins
                } else {
                    Phase::Before
                }
            }
        }
    }

    /// End the outage now, whatever its duration.
    pub fn end(&mut self) {
        self.ended = true;
    }

    pub fn is_active(&self) -> bool {
        self.started.is_some() && !self.ended
    }
}

/// What one listener counted since the start (see `FakeChief::stats`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// TCP connections accepted.
    pub connections: u64,
    /// TLS handshakes completed (each is a new connection the client could not reuse).
    pub tls_handshakes: u64,
    /// TLS handshakes that failed, e.g. because the client refused the certificate.
    pub tls_failures: u64,
    /// Request heads received.
    pub requests: u64,
    /// Requests being served now.
    pub in_flight: u64,
    /// Most requests served at once (since the start or `reset_peak_in_flight`).
    pub peak_in_flight: u64,
    /// 429 answers of the in-flight limit.
    pub throttled: u64,
    /// Requests received while an outage covered this origin.
    pub outage_requests: u64,
    /// Requests failed by chaos.
    pub chaos: u64,
    /// Body bytes received (for the storage: paced by the links).
    pub body_bytes: u64,
    /// Requests by the status answered; `0`: no answer (connection dropped by the fake
    /// or by the client).
    pub statuses: BTreeMap<u16, u64>,
}

impl Stats {
    pub fn status(&self, status: u16) -> u64 {
        self.statuses.get(&status).copied().unwrap_or(0)
    }
}

/// One second of a listener's life, counted from the fake's start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Second {
    /// Request heads received in this second.
    pub requests: u64,
    /// Body bytes received in this second (for paced uploads: when the link delivered
    /// them).
    pub bytes: u64,
    /// Most requests in flight at any moment of this second.
    pub peak_in_flight: u64,
}

/// Rung on every counted event, so a test can wait for what the fake sees rather than
/// sleep: the client may give up on a connection before the fake has counted it.
#[derive(Default)]
pub(super) struct Signal {
    events: Mutex<u64>,
    rung: Condvar,
}

impl Signal {
    pub fn ring(&self) {
        *lock(&self.events) += 1;
        self.rung.notify_all();
    }

    /// Block until `done()` holds, re-checking after every event; false after `within`.
    pub fn wait(&self, within: Duration, done: impl Fn() -> bool) -> bool {
        let deadline = Instant::now() + within;
        let mut events = lock(&self.events);
        loop {
            let seen = *events;
            drop(events);
            if done() {
                return true;
            }
            events = lock(&self.events);
            while *events == seen {
                let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                    return done();
                };
                events = self
                    .rung
                    .wait_timeout(events, left)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
        }
    }
}

/// The live counters of one listener.
pub(super) struct Counters {
    pub connections: AtomicU64,
    pub tls_handshakes: AtomicU64,
    pub tls_failures: AtomicU64,
    pub requests: AtomicU64,
    pub in_flight: AtomicU64,
    pub peak_in_flight: AtomicU64,
    /// Requests holding a slot of the in-flight limit.
    pub admitted: AtomicU64,
    pub throttled: AtomicU64,
    pub outage_requests: AtomicU64,
    pub chaos: AtomicU64,
    pub body_bytes: AtomicU64,
    statuses: Mutex<BTreeMap<u16, u64>>,
    series: Mutex<Vec<Second>>,
    epoch: Instant,
    signal: Arc<Signal>,
}

impl Counters {
    pub fn new(epoch: Instant, signal: Arc<Signal>) -> Counters {
        Counters {
            connections: AtomicU64::new(0),
            tls_handshakes: AtomicU64::new(0),
            tls_failures: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            peak_in_flight: AtomicU64::new(0),
            admitted: AtomicU64::new(0),
            throttled: AtomicU64::new(0),
            outage_requests: AtomicU64::new(0),
            chaos: AtomicU64::new(0),
            body_bytes: AtomicU64::new(0),
            statuses: Mutex::new(BTreeMap::new()),
            series: Mutex::new(Vec::new()),
            epoch,
            signal,
        }
    }

    /// Count one event in `counter`, one of these counters.
    pub fn bump(&self, counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
        self.signal.ring();
    }

    /// The bucket of `at`, after filling the seconds since the last event with the
    /// in-flight level, which only events change.
    fn bucket<'a>(&self, series: &'a mut Vec<Second>, at: Instant) -> &'a mut Second {
        let i = at.saturating_duration_since(self.epoch).as_secs() as usize;
        if series.len() <= i {
            let level = self.in_flight.load(Ordering::Relaxed);
            series.resize(
                i + 1,
                Second {
                    peak_in_flight: level,
                    ..Second::default()
                },
            );
        }
        &mut series[i]
    }

    /// A request arrived.
    pub fn enter(&self) {
        let now = Instant::now();
        let mut series = lock(&self.series);
        let level = self.in_flight.load(Ordering::Relaxed) + 1;
        let second = self.bucket(&mut series, now);
        second.requests += 1;
        second.peak_in_flight = second.peak_in_flight.max(level);
        self.in_flight.store(level, Ordering::Relaxed);
        self.peak_in_flight.fetch_max(level, Ordering::Relaxed);
        drop(series);
        self.bump(&self.requests);
    }

    /// A request ended with `status` (0: no answer).
    pub fn leave(&self, status: u16) {
        let mut series = lock(&self.series);
        self.bucket(&mut series, Instant::now());
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        drop(series);
        *lock(&self.statuses).entry(status).or_insert(0) += 1;
        self.signal.ring();
    }

    /// `n` body bytes arrived (or were delivered by a paced link) at `at`.
    pub fn received(&self, n: u64, at: Instant) {
        self.body_bytes.fetch_add(n, Ordering::Relaxed);
        let mut series = lock(&self.series);
        self.bucket(&mut series, at).bytes += n;
    }

    /// Take a slot of an in-flight limit of `max`; false if all are taken.
    pub fn admit(&self, max: usize) -> bool {
        self.admitted
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max as u64).then_some(n + 1)
            })
            .is_ok()
    }

    pub fn release(&self) {
        self.admitted.fetch_sub(1, Ordering::AcqRel);
    }

    pub fn reset_peak(&self) {
        let _series = lock(&self.series);
        self.peak_in_flight
            .store(self.in_flight.load(Ordering::Relaxed), Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> Stats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Stats {
            connections: get(&self.connections),
            tls_handshakes: get(&self.tls_handshakes),
            tls_failures: get(&self.tls_failures),
            requests: get(&self.requests),
            in_flight: get(&self.in_flight),
            peak_in_flight: get(&self.peak_in_flight),
            throttled: get(&self.throttled),
            outage_requests: get(&self.outage_requests),
            chaos: get(&self.chaos),
            body_bytes: get(&self.body_bytes),
            statuses: lock(&self.statuses).clone(),
        }
    }

    /// Every second from the start up to now.
    pub fn series(&self) -> Vec<Second> {
        let mut series = lock(&self.series);
        self.bucket(&mut series, Instant::now());
        series.clone()
    }
}

/// One bandwidth cap shared by every upload body: each chunk of body reserves its time
/// on one timeline, so N bodies together never exceed the rate, each getting its share.
#[derive(Debug)]
pub(super) struct Pacer {
    bytes_per_sec: u64,
    next: Instant,
}

impl Pacer {
    pub fn new(bytes_per_sec: u64) -> Pacer {
        Pacer {
            bytes_per_sec: bytes_per_sec.max(1),
            next: Instant::now(),
        }
    }

    /// Reserve the link for `n` bytes arriving now; returns when they are delivered.
    pub fn reserve(&mut self, n: u64, now: Instant) -> Instant {
        let start = self.next.max(now);
        self.next = start + Duration::from_secs_f64(n as f64 / self.bytes_per_sec as f64);
        self.next
    }
}
