//! Admission of files: how many are in flight (`-j`), a fixed number or (`auto`) one that
//! adapts during the run, within the memory, open files and bytes in flight the machine
//! and the link allow. A `Limiter` admits a file when there is room and takes it back when
//! the file is done; the retry loop tells it how every request ended (`Limiter::answered`,
//! `Limiter::ended`, as a `RequestEnd` it decides where the failure is made), and the
//! uploads of every byte sent (`Limiter::sent`).
//!
//! With `auto`, `control::Controller` decides the limit round by round; a round ends when
//! as many answers came back as there were files in flight at its start (one round trip
//! of every file). Two more bounds hold in `auto`, whatever the limit:
//!
//! * **Bytes in flight.** A file bigger than one buffer is not started while the files in
//!   flight already hold more bytes than the link moves in `HORIZON` (at least `MIN_FILES`
//!   go at once): uploads beyond what fills the link only slow every file down and lose
//!   more on an interruption. Small files, whose time is round trips rather than bytes,
//!   pass, so their number can grow fast.
//! * **Memory and open files.** Each file in flight costs about `PER_FILE` bytes (its
//!   task, two connections and their buffers) plus a body buffer of up to `BUFFER`; their
//!   total stays under `MEMORY`. Each file in flight holds three descriptors (the file, a
//!   connection to the API, one to the storage): the limit stays within `ulimit -n`.
//!
//! An outage (an origin out, `http::origin`) is no reason to change the limit: `hold`
//! freezes it until the next answer; and pushback and timeouts count only while other
//! requests to the same service (the API, or the storage) succeed.

mod control;
mod jobs;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::event::{Event, Reporter};
use crate::sync::lock;
use crate::walk::seen;

pub(crate) use control::{Change, Controller, Sample, Why};
pub(crate) use jobs::{jobs_in_range, parse_jobs, Jobs};

/// Which service an origin is: the API is the one the user named, so nothing answering
/// there before it ever did is a mistyped address; a storage host is the API's choice.
/// Admission judges pushback from one by the answers of the same one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    Api,
    Storage,
}

/// How a request ended, for admission: the retry loop says it of every attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RequestEnd {
    /// The origin answered (also with an answer no retry changes).
    Answered,
    /// It asked for fewer requests (429, or 503 with `Retry-After`).
    PushedBack,
    /// The request timed out (no answer, or no bytes moving, for the idle timeout).
    TimedOut,
    /// Anything else: says nothing about how many files should be in flight.
    Other,
}

/// Files in flight when `auto` starts.
pub(crate) const INITIAL: usize = 16;
/// The most files in flight `auto` goes to, and only while throughput keeps rising: twice
/// what `-j` takes, since against a distant server small files still gain beyond 256
/// (benchmark row W1: 2,000 x 4 KiB at 50 ms, 0.97 s with `-j 256`, 0.8 to 1.0 s with
/// `auto` up to 512). Open files and memory bound it further.
pub(crate) const AUTO_MAX: usize = 512;
/// This many files may always be in flight, whatever their size.
const MIN_FILES: usize = 4;
/// Bytes in flight may keep the link busy this long.
const HORIZON: Duration = Duration::from_secs(1);
/// The bytes in flight allowed before the link's rate is known.
const FIRST_WINDOW: u64 = 64 << 20;
/// The body buffer an upload holds at most (`transfer::CHUNK`).
pub(crate) const BUFFER: u64 = 256 << 10;
/// What a file in flight costs beyond its body buffer, about: measured as peak RSS over
/// files in flight (100,000 x 1 KiB on loopback: 20.7 MiB with `-j 8`, 43 MiB with
/// `-j 256`).
const PER_FILE: u64 = 96 << 10;
/// The files in flight together stay under this, so that a run's peak RSS stays under
/// 64 MiB (about 20 MiB of it are the rest of the program), less what the run keeps per
/// file found (`seen::COST_PER_FILE`).
const MEMORY: u64 = 32 << 20;

/// What a file of `size` bytes costs in flight.
fn memory(size: u64) -> u64 {
    PER_FILE + size.min(BUFFER)
}
/// Descriptors kept for everything else (the hashing threads, the cache, stdio).
#[cfg(unix)]
const RESERVED_FDS: u64 = 64;
/// A round lasts at least this long: shorter ones (on a LAN, where a round trip takes
/// well under a millisecond) measure the scheduler's noise.
const MIN_ROUND: Duration = Duration::from_millis(50);
/// The rate of the link is measured over about this long.
const RATE_WINDOW: Duration = Duration::from_secs(1);

pub(crate) struct Limiter {
    state: Mutex<AdmissionState>,
    /// Rung when room may have appeared (a file done, a higher limit).
    room: Notify,
    /// Upload bytes sent so far, counted as the bodies stream.
    sent: AtomicU64,
    /// Files found so far (`found`).
    found: AtomicU64,
    reporter: Reporter,
}

struct AdmissionState {
    limit: usize,
    in_flight: usize,
    /// Sizes of the files in flight, together.
    bytes: u64,
    /// What they cost in memory, together (`memory`).
    memory: u64,
    /// `None`: a fixed limit.
    auto: Option<Auto>,
}

struct Auto {
    control: Controller,
    round: Round,
    meter: Meter,
    /// A file waits because of the limit (not because of bytes or memory).
    waiting: bool,
    /// What each service's answers said (the API's, the storage's): the storage
    /// answering says nothing of an API that is out.
    heard: [Heard; 2],
    /// When the limit was last cut: pushback to a request sent before is no news.
    cut_at: Option<Instant>,
}

/// What one service's answers told admission.
#[derive(Clone, Copy, Default)]
struct Heard {
    /// When a request to it was last answered: pushback counts only while other requests
    /// to it succeed, i.e. if one was answered while the pushed-back one was in flight.
    last_answer: Option<Instant>,
    /// Whether a request to it sent since the last cut has been answered: until one has,
    /// the cut's effect is unknown and no other cut follows (TCP's once a window). Answers
    /// to requests sent before it say nothing: at an outage's start they are the last of
    /// what was already under way.
    since_cut: bool,
}

struct Round {
    start: Instant,
    limit: usize,
    answers: u64,
    sent_at_start: u64,
    binding: bool,
}

impl Round {
    fn new(now: Instant, limit: usize, sent: u64, binding: bool) -> Round {
        Round {
            start: now,
            limit,
            answers: 0,
            sent_at_start: sent,
            binding,
        }
    }
}

/// The link's recent rate, from the bytes sent: samples at least a tenth of the window
/// apart, spanning about `RATE_WINDOW`.
struct Meter {
    samples: VecDeque<(Instant, u64)>,
}

impl Meter {
    fn new() -> Meter {
        Meter {
            samples: VecDeque::with_capacity(16),
        }
    }

    /// Bytes per second over the last window, once it spans a fifth of one.
    fn rate(&mut self, now: Instant, sent: u64) -> Option<f64> {
        if self
            .samples
            .back()
            .is_none_or(|(t, _)| now.duration_since(*t) >= RATE_WINDOW / 10)
        {
            self.samples.push_back((now, sent));
        }
        while self.samples.len() > 2
            && self
                .samples
                .get(1)
                .is_some_and(|(t, _)| now.duration_since(*t) >= RATE_WINDOW)
        {
            self.samples.pop_front();
        }
        let (t0, b0) = *self.samples.front()?;
        let span = now.duration_since(t0);
        (span >= RATE_WINDOW / 5).then(|| sent.saturating_sub(b0) as f64 / span.as_secs_f64())
    }
}

/// A file's place in flight; dropping it gives the place back.
pub(crate) struct Permit {
    limiter: Arc<Limiter>,
    bytes: u64,
}

impl Drop for Permit {
    fn drop(&mut self) {
        {
            let mut s = self.limiter.lock();
            s.in_flight -= 1;
            s.bytes -= self.bytes;
            s.memory -= memory(self.bytes);
        }
        self.limiter.room.notify_waiters();
    }
}

impl Limiter {
    /// The limiter `jobs` asks for.
    pub(crate) fn new(jobs: Jobs, reporter: Reporter) -> Arc<Limiter> {
        let (limit, auto) = match jobs {
            Jobs::Fixed(n) => (n, None),
            Jobs::Auto => {
                let cap = AUTO_MAX.min(open_files_cap());
                let control = Controller::new(INITIAL, cap);
                let limit = control.limit();
                let auto = Auto {
                    control,
                    round: Round::new(Instant::now(), limit, 0, false),
                    meter: Meter::new(),
                    waiting: false,
                    heard: [Heard::default(); 2],
                    cut_at: None,
                };
                (limit, Some(auto))
            }
        };
        Arc::new(Limiter {
            state: Mutex::new(AdmissionState {
                limit,
                in_flight: 0,
                bytes: 0,
                memory: 0,
                auto,
            }),
            room: Notify::new(),
            sent: AtomicU64::new(0),
            found: AtomicU64::new(0),
            reporter,
        })
    }

    fn lock(&self) -> MutexGuard<'_, AdmissionState> {
        lock(&self.state)
    }

    /// The most files that may ever be in flight at once (for connection pools).
    pub(crate) fn max(&self) -> usize {
        let s = self.lock();
        match &s.auto {
            Some(_) => AUTO_MAX.min(open_files_cap()),
            None => s.limit,
        }
    }

    /// The limit now.
    #[cfg(test)]
    pub(crate) fn limit(&self) -> usize {
        self.lock().limit
    }

    /// Waits for room for one more file of `size` bytes.
    pub(crate) async fn acquire(self: &Arc<Self>, size: u64) -> Permit {
        loop {
            let room = self.room.notified();
            tokio::pin!(room);
            // Registered before looking, so a file done in between is not missed.
            room.as_mut().enable();
            if self.try_admit(size) {
                return Permit {
                    limiter: self.clone(),
                    bytes: size,
                };
            }
            room.await;
        }
    }

    fn try_admit(&self, size: u64) -> bool {
        let now = Instant::now();
        let sent = self.sent.load(Ordering::Relaxed);
        let mut s = self.lock();
        let s = &mut *s;
        if s.in_flight >= s.limit {
            if let Some(a) = &mut s.auto {
                a.waiting = true;
                a.round.binding = true;
            }
            return false;
        }
        if let Some(a) = &mut s.auto {
            a.waiting = false;
            if s.in_flight >= MIN_FILES {
                let seen = self
                    .found
                    .load(Ordering::Relaxed)
                    .saturating_mul(seen::COST_PER_FILE);
                if s.memory + memory(size) > MEMORY.saturating_sub(seen) {
                    return false;
                }
                if size > BUFFER {
                    let window = match a.meter.rate(now, sent) {
                        Some(rate) => (rate * HORIZON.as_secs_f64()) as u64,
                        None => FIRST_WINDOW,
                    };
                    if s.bytes.saturating_add(size) > window {
                        return false;
                    }
                }
            }
        }
        s.in_flight += 1;
        s.bytes += size;
        s.memory += memory(size);
        true
    }

    /// The run has found this many files so far: what it keeps for them leaves less
    /// memory for the files in flight.
    pub(crate) fn found(&self, files: u64) {
        self.found.store(files, Ordering::Relaxed);
    }

    /// `n` more upload bytes went out.
    pub(crate) fn sent(&self, n: u64) {
        self.sent.fetch_add(n, Ordering::Relaxed);
    }

    /// A request to `role` sent at `began` got an answer (any answer but pushback): a
    /// round may be over.
    pub(crate) fn answered(&self, role: Role, began: Instant) {
        self.answered_at(role, began, Instant::now());
    }

    fn answered_at(&self, role: Role, began: Instant, now: Instant) {
        let sent = self.sent.load(Ordering::Relaxed);
        let (grew, change) = {
            let mut s = self.lock();
            let s = &mut *s;
            let Some(a) = &mut s.auto else { return };
            if a.control.held() {
                // The first answer after an outage ends it: measure afresh from here.
                a.control.hold(false);
                a.round = Round::new(now, a.control.limit(), sent, a.waiting);
            }
            let cut_at = a.cut_at;
            let heard = &mut a.heard[role as usize];
            heard.last_answer = Some(now);
            if cut_at.is_some_and(|cut| began >= cut) {
                heard.since_cut = true;
            }
            a.round.answers += 1;
            a.meter.rate(now, sent);
            a.control.on_answer(a.waiting);
            let r = &a.round;
            let change = if r.answers >= r.limit as u64
                && now.saturating_duration_since(r.start) >= MIN_ROUND
            {
                let sample = Sample {
                    answers: r.answers,
                    bytes: sent.saturating_sub(r.sent_at_start),
                    elapsed: now.saturating_duration_since(r.start),
                    binding: r.binding || a.waiting,
                };
                let change = a.control.on_round(sample);
                a.round = Round::new(now, a.control.limit(), sent, a.waiting);
                change
            } else {
                None
            };
            let grew = a.control.limit() > s.limit;
            s.limit = a.control.limit();
            (grew, change)
        };
        if grew {
            self.room.notify_waiters();
        }
        self.report(change);
    }

    /// An attempt to `role` begun at `began` failed: pushback (429, or 503 with
    /// Retry-After) and timeouts, while other requests to the same service succeed, lower
    /// the limit (once for the requests in flight when it was cut, as TCP does once a
    /// window); an answer no retry changes counts as an answer.
    pub(crate) fn ended(&self, end: RequestEnd, role: Role, began: Instant) {
        let why = match end {
            RequestEnd::Answered => return self.answered(role, began),
            RequestEnd::PushedBack => Why::Pushback,
            RequestEnd::TimedOut => Why::Timeout,
            RequestEnd::Other => return,
        };
        let change = {
            let mut s = self.lock();
            let s = &mut *s;
            let Some(a) = &mut s.auto else { return };
            let heard = a.heard[role as usize];
            if heard.last_answer.is_none_or(|t| t < began) {
                // Nothing else of that service succeeded meanwhile: the start of an
                // outage, or a lone request, not a server asking for less.
                return;
            }
            // Once a window, as TCP: not for requests sent before the last cut, nor before
            // one sent after it has been answered, nor while the files in flight still
            // outnumber the limit it set.
            let window_open = match a.cut_at {
                None => true,
                Some(cut) => began >= cut && heard.since_cut,
            };
            if !window_open || s.in_flight > s.limit {
                return;
            }
            let change = match why {
                Why::Pushback => a.control.on_pushback(),
                _ => a.control.on_timeout(),
            };
            if change.is_some() {
                a.cut_at = Some(Instant::now());
                for h in &mut a.heard {
                    h.since_cut = false;
                }
            }
            s.limit = a.control.limit();
            change
        };
        self.report(change);
    }

    /// An outage begins (`true`, from the retry loop when an origin is out) or ends (also
    /// by the first answer after it): the limit holds still meanwhile, and the round that
    /// spans it is not measured.
    pub(crate) fn hold(&self, on: bool) {
        let sent = self.sent.load(Ordering::Relaxed);
        let mut s = self.lock();
        let Some(a) = &mut s.auto else { return };
        a.control.hold(on);
        if !on {
            a.round = Round::new(Instant::now(), a.control.limit(), sent, a.waiting);
        }
    }

    fn report(&self, change: Option<Change>) {
        let Some(c) = change else { return };
        if c.to > c.from {
            self.room.notify_waiters();
        }
        self.reporter.emit(Event::Concurrency {
            from: c.from,
            to: c.to,
            why: c.why.words(),
        });
    }
}

/// The most files in flight the open-file limit allows: three descriptors each.
#[cfg(unix)]
fn open_files_cap() -> usize {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return AUTO_MAX;
    }
    // `rlim_t` is u64 on the common targets, narrower on a few.
    #[allow(clippy::unnecessary_cast)]
    let soft = limit.rlim_cur as u64;
    usize::try_from(soft.saturating_sub(RESERVED_FDS) / 3)
        .unwrap_or(usize::MAX)
        .clamp(1, AUTO_MAX)
}

/// Windows has no small per-process limit of handles or sockets.
#[cfg(not(unix))]
fn open_files_cap() -> usize {
    AUTO_MAX
}

#[cfg(test)]
mod tests;
