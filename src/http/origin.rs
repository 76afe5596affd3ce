//! What the run learns about each origin (the API; each storage host), shared by every
//! request to it through `Retrier::run_at`: before each attempt the request passes the
//! origin's gate, after it the origin is told how it went. From that, one place sorts
//! failures into the four kinds of `docs/interface.md#network`:
//!
//! * **Fatal**: no retry can mend it (an untrusted certificate, a proxy's 407, or an API
//!   that refuses connections or whose name does not resolve before it ever answered).
//!   The origin stops, every request to it ends with the same `Stop`, and the run stops.
//! * **Outage**: an origin that has answered in this run fails every request for a while.
//!   After `SUSPECT_AFTER` failures in a row from at least two requests (no sign of life
//!   between them) it is *suspect*: new requests wait while one at a time probes it, with
//!   a backoff up to `PROBE_CAP` (or the server's `Retry-After`). Suspect for
//!   `OUTAGE_AFTER`, it is *out*: a failure then costs no request its retries, and the
//!   user is told the run is waiting. The first answer ends it and every request goes
//!   again at once. Out for longer than `--max-outage`, the origin stops the run.
//! * **Pushback**: a 429 (or a 503 with `Retry-After`, which also counts towards an
//!   outage if nothing else succeeds). The request waits as told and is retried; the
//!   count is told to admission (`admission::Limiter`), which adapts the files in flight.
//! * **Per-file**: everything else; the request's own retries decide, as before.
//!
//! Random failures among successes (a flaky network) never make an origin out: a success
//! between them ends the streak, and a single request that keeps failing while no other
//! fails is that request's problem, not the origin's.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use super::error::{Fatal, FatalKind, HealthSign};
use super::jitter::jitter;
use crate::duration;
use crate::event::{Event, Reporter};
use crate::sync::lock;

/// Failures in a row, from at least two requests, that make an origin suspect.
const SUSPECT_AFTER: u32 = 3;
/// How long a suspect origin fails every request before it is out (an outage).
const OUTAGE_AFTER: Duration = Duration::from_secs(5);
/// The first wait between probes, doubled after each failed probe up to `PROBE_CAP`.
const PROBE_FIRST: Duration = Duration::from_millis(250);
const PROBE_CAP: Duration = Duration::from_secs(5);
/// The outage notice is repeated at most this often (and once per probe at most).
const NOTICE_EVERY: Duration = Duration::from_secs(10);

/// Which service an origin is (defined with admission, which judges pushback by it).
pub(crate) use crate::admission::Role;

/// Why the run stops because of an origin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Stop {
    pub(crate) kind: StopKind,
    /// "the API (api.example.com)", "the storage at s3.example.com".
    who: String,
    /// "API", "storage at s3.example.com", for the outage's words.
    name: String,
    reason: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StopKind {
    /// No retry can mend it (exit 2).
    Fatal(FatalKind),
    /// Out for longer than `--max-outage` (exit 1).
    Outage { down_for: Duration, limit: Duration },
}

impl Stop {
    /// A stop of this kind from a made-up origin (the ledger's tests).
    #[cfg(test)]
    pub(crate) fn for_tests(kind: StopKind) -> Stop {
        Stop {
            kind,
            who: "the API (api.example.com)".into(),
            name: "API".into(),
            reason: "a test".into(),
        }
    }
}

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.kind {
            StopKind::Fatal(FatalKind::Certificate) => {
                write!(f, "cannot connect securely to {}: {}", self.who, self.reason)
            }
            StopKind::Fatal(FatalKind::ProxyAuth | FatalKind::Unreachable) => {
                write!(f, "cannot reach {}: {}", self.who, self.reason)
            }
            StopKind::Outage { down_for, limit } => write!(
                f,
                "{} unavailable ({}) for {}, longer than --max-outage {} allows: stopped; run again to upload the files not done",
                self.name,
                self.reason,
                duration::whole_seconds(down_for),
                duration::whole_seconds(limit)
            ),
        }
    }
}

/// What the run knows of every origin it has talked to, shared by the API client and the
/// uploader (created once per run).
pub(crate) struct Origins {
    map: Mutex<HashMap<String, Arc<Origin>>>,
    shared: Arc<OriginsShared>,
    next_op: AtomicU64,
}

/// What every origin of the run shares.
struct OriginsShared {
    reporter: Reporter,
    max_outage: Duration,
    /// No probe waits longer than this for a `Retry-After`.
    retry_after_cap: Duration,
}

impl Origins {
    /// `max_outage`: how long an origin may be out before the run stops.
    pub(crate) fn new(
        reporter: Reporter,
        max_outage: Duration,
        retry_after_cap: Duration,
    ) -> Origins {
        Origins {
            map: Mutex::new(HashMap::new()),
            shared: Arc::new(OriginsShared {
                reporter,
                max_outage,
                retry_after_cap,
            }),
            next_op: AtomicU64::new(0),
        }
    }

    /// The state of `url`'s origin (scheme, host and port), made on first use.
    pub(crate) fn origin(&self, url: &reqwest::Url, role: Role) -> Arc<Origin> {
        let key = url.origin().ascii_serialization();
        lock(&self.map)
            .entry(key)
            .or_insert_with(|| Arc::new(Origin::new(url, role, self.shared.clone())))
            .clone()
    }

    /// A number for one operation (a request and its retries), so that an origin can tell
    /// one request failing again from many failing at once.
    pub(crate) fn next_op(&self) -> u64 {
        self.next_op.fetch_add(1, Ordering::Relaxed)
    }
}

/// One origin: its health, and the gate its requests pass.
pub(crate) struct Origin {
    limits: HealthLimits,
    shared: Arc<OriginsShared>,
    health: Mutex<Health>,
    changed: Notify,
}

/// What an origin's decisions depend on besides its history.
#[derive(Clone, Debug)]
struct HealthLimits {
    role: Role,
    who: String,
    name: String,
    max_outage: Duration,
    retry_after_cap: Duration,
}

impl Origin {
    fn new(url: &reqwest::Url, role: Role, shared: Arc<OriginsShared>) -> Origin {
        let host = match (url.host_str(), url.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            (None, _) => "?".into(),
        };
        let (who, name) = match role {
            Role::Api => (format!("the API ({host})"), "API".to_string()),
            Role::Storage => (
                format!("the storage at {host}"),
                format!("storage at {host}"),
            ),
        };
        Origin {
            limits: HealthLimits {
                role,
                who,
                name,
                max_outage: shared.max_outage,
                retry_after_cap: shared.retry_after_cap,
            },
            shared,
            health: Mutex::new(Health::new(Instant::now())),
            changed: Notify::new(),
        }
    }

    fn health(&self) -> MutexGuard<'_, Health> {
        lock(&self.health)
    }

    /// Waits until a request may go: at once while the origin is fine; while it is
    /// suspect or out, when it is this request's turn to probe it. `Err` when the run
    /// must stop.
    pub(crate) async fn enter(self: &Arc<Self>, op: u64) -> Result<GatePass, Stop> {
        // Leaves the queue however this ends (a turn, a stop, or the request cancelled).
        let _queued = Queued { origin: self, op };
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            // Registered before the state is read, so no change between is missed.
            notified.as_mut().enable();
            let admit = self.health().admit(Instant::now(), op, &self.limits);
            let wake = match admit {
                Admit::Go => return Ok(GatePass::new(self, op, false)),
                Admit::Probe => return Ok(GatePass::new(self, op, true)),
                Admit::Stop(stop) => {
                    // Every request waiting here hears it too.
                    self.changed.notify_waiters();
                    return Err(stop);
                }
                Admit::Wait(until) => until,
            };
            match wake {
                Some(at) => {
                    tokio::select! {
                        () = &mut notified => {}
                        () = tokio::time::sleep_until(tokio::time::Instant::from_std(at)) => {}
                    }
                }
                None => notified.await,
            }
        }
    }

    fn emit(&self, event: Option<Event>) {
        if let Some(e) = event {
            self.shared.reporter.emit(e);
        }
    }
}

/// A request waiting at the gate, in the queue for the probe's turn until dropped.
struct Queued<'a> {
    origin: &'a Origin,
    op: u64,
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        let mut h = self.origin.health();
        if let Some(i) = h.queue.iter().position(|&q| q == self.op) {
            h.queue.remove(i);
            drop(h);
            // The next in line may be due.
            self.origin.changed.notify_waiters();
        }
    }
}

/// Leave to send one request; tell the origin how it went. Dropped untold (the request
/// was cancelled), it frees the probe's turn.
pub(crate) struct GatePass {
    origin: Arc<Origin>,
    op: u64,
    probe: bool,
}

/// What to make of a failed request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum FailureVerdict {
    /// It counts against the request's retries; `streak` is the run of failures it
    /// belongs to, if it says the origin may be down.
    Count { streak: Option<u64> },
    /// The origin is out: it does not count, nor do the request's failures in the same
    /// streak; the request waits at the gate for its turn.
    Free { streak: u64 },
    /// The run stops.
    Stop(Stop),
}

impl GatePass {
    fn new(origin: &Arc<Origin>, op: u64, probe: bool) -> GatePass {
        GatePass {
            origin: origin.clone(),
            op,
            probe,
        }
    }

    /// The origin answered (a success, or an answer no retry would change).
    pub(crate) fn alive(self) {
        let event = self
            .origin
            .health()
            .alive(Instant::now(), self.probe, &self.origin.limits);
        self.done(event);
    }

    /// The request failed before it reached the origin: nothing learnt.
    pub(crate) fn neutral(self) {
        self.origin.health().neutral(Instant::now(), self.probe);
        self.done(None);
    }

    /// No retry can mend it: the origin stops, and with it the run.
    pub(crate) fn fatal(self, fatal: &Fatal) -> Stop {
        let stop = self.origin.health().fatal(fatal, &self.origin.limits);
        self.origin.changed.notify_waiters();
        self.done(None);
        stop
    }

    /// A transient failure, with the server's `Retry-After` if it gave one.
    pub(crate) fn failed(self, sign: &HealthSign, retry_after: Option<Duration>) -> FailureVerdict {
        let (verdict, event) = self.origin.health().failed(
            Instant::now(),
            Attempt {
                op: self.op,
                probe: self.probe,
            },
            sign,
            retry_after,
            &self.origin.limits,
        );
        if let FailureVerdict::Stop(_) = &verdict {
            // Every request waiting here hears it too.
            self.origin.changed.notify_waiters();
        }
        self.done(event);
        verdict
    }

    fn done(mut self, event: Option<Event>) {
        // Told: the health above has freed the probe's turn.
        self.probe = false;
        self.origin.changed.notify_waiters();
        self.origin.emit(event);
    }
}

impl Drop for GatePass {
    fn drop(&mut self) {
        if self.probe {
            self.origin.health().probing = false;
            self.origin.changed.notify_waiters();
        }
    }
}

mod health;

use health::{Admit, Attempt, Health};

#[cfg(test)]
mod tests;
