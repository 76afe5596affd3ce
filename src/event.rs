//! What the pipeline reports. The pipeline never prints: it sends these to the ledger
//! (`ledger.rs`), which counts them and has the output layer (`report`) write them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore, TryAcquireError};
use tokio_util::sync::CancellationToken;

/// How one file ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Uploaded,
    /// The project already held this content (or another file of this run carried it).
    Skipped,
    Failed,
    /// `--dry-run`: what would be sent.
    Planned,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Uploaded => "uploaded",
            Outcome::Skipped => "skipped",
            Outcome::Failed => "failed",
            Outcome::Planned => "planned",
        }
    }
}

/// The result line of one file; its JSON form is the `"event":"file"` line of
/// `docs/interface.md#json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FileReport {
    pub path: String,
    pub filename: String,
    pub size: Option<u64>,
    pub md5: Option<String>,
    pub mime_type: Option<String>,
    pub outcome: Outcome,
    pub asset_id: Option<String>,
    pub status: Option<String>,
    pub error: Option<String>,
    /// Extra words for humans ("same content as …"); not part of the JSON contract.
    #[serde(skip)]
    pub note: Option<String>,
    /// How long the file took, from the start of its hash to its outcome (`--junit`'s
    /// `time`); not part of the JSON contract. `None`: it ended before it was opened.
    #[serde(skip)]
    pub took: Option<Duration>,
}

#[cfg(test)]
impl FileReport {
    /// A file of one byte at `path` with `outcome` and nothing else known, for the
    /// outputs' tests (which set what else they need).
    pub(crate) fn for_test(path: &str, outcome: Outcome) -> FileReport {
        FileReport {
            path: path.into(),
            filename: path.rsplit('/').next().unwrap_or(path).into(),
            size: Some(1),
            md5: None,
            mime_type: None,
            outcome,
            asset_id: None,
            status: None,
            error: None,
            note: None,
            took: None,
        }
    }
}

/// Totals of a run; its JSON form is the `"event":"summary"` line.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Summary {
    pub uploaded: u64,
    pub skipped: u64,
    pub failed: u64,
    pub planned: u64,
    /// Bytes of files whose upload completed.
    pub bytes_uploaded: u64,
    /// `--dry-run`: bytes of the planned files.
    pub bytes_planned: u64,
    pub elapsed: Duration,
    /// Files left out by a filter or because they belong to another shard.
    pub excluded: u64,
    /// A signal (Ctrl-C, SIGTERM, SIGHUP) stopped the run.
    pub interrupted: bool,
    /// Files found but never finished because the run stopped early.
    pub not_attempted: u64,
}

impl Summary {
    /// Counts one file's outcome: the ledger's one rule (tests count with it too).
    pub fn count(&mut self, report: &FileReport) {
        let size = report.size.unwrap_or(0);
        match report.outcome {
            Outcome::Uploaded => {
                self.uploaded += 1;
                self.bytes_uploaded += size;
            }
            Outcome::Skipped => self.skipped += 1,
            Outcome::Failed => self.failed += 1,
            Outcome::Planned => {
                self.planned += 1;
                self.bytes_planned += size;
            }
        }
    }

    /// Files that reached an outcome.
    pub fn done(&self) -> u64 {
        self.uploaded + self.skipped + self.failed + self.planned
    }
}

/// What a watch is doing, for its status line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WatchStatus {
    /// The PATHs being watched that are folders, and those that are files.
    pub folders: u64,
    pub files: u64,
    /// Files seen to change that have not been still for the settle time yet.
    pub settling: u64,
    /// File events are unavailable or were lost: the PATHs are rescanned at an interval.
    pub rescanning: bool,
}

/// One numbered unit of work (a hash or a transfer), for progress display.
pub type TaskId = u64;

/// The bytes one task (a hash or a transfer) has moved so far, counted where they move and
/// read by the ledger when it draws: progress costs an atomic add, never a message, so a
/// stalled output cannot make it pile up.
#[derive(Clone, Debug, Default)]
pub struct Progress(Arc<AtomicU64>);

impl Progress {
    pub fn add(&self, bytes: u64) {
        self.0.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Starts again from byte 0 (a transfer that is sent again from the start).
    pub fn reset(&self) {
        self.0.store(0, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

#[derive(Debug)]
pub enum Event {
    /// The walk found `files` more files, of `bytes` bytes together: the totals grow.
    /// (Counted by the batch: one event per file would cost a thread wake-up per file.)
    Found {
        files: u64,
        bytes: u64,
    },
    /// `files` more files left out by a filter or because they belong to another shard:
    /// they get no file line, only a count in the summary.
    Excluded {
        files: u64,
    },
    /// The walk is over; totals are final. (In a watch: the first pass is over.)
    WalkDone,
    /// `--watch`: a file found (and counted) gets no outcome after all, and is no longer
    /// counted: its content is what it was last sent as, or it changed (it will settle and
    /// be found again) or vanished while it was read.
    Withdrawn {
        size: u64,
    },
    /// `--watch`: what is watched and how many files wait to settle, whenever it changes.
    Watching(WatchStatus),
    /// A big file is being hashed; `meter` counts the bytes hashed. `size` is `None`
    /// while it is not known: standard input, read to its end as it is hashed.
    HashStart {
        id: TaskId,
        path: String,
        size: Option<u64>,
        meter: Progress,
    },
    HashEnd {
        id: TaskId,
    },
    /// A transfer starts; `meter` counts the bytes of the body sent (back to 0 when the
    /// body is sent again).
    TransferStart {
        id: TaskId,
        path: String,
        size: u64,
        meter: Progress,
    },
    TransferEnd {
        id: TaskId,
    },
    /// One HTTP exchange, for `--verbose`. `target` never holds a query string.
    Request {
        method: String,
        target: String,
        status: Option<u16>,
        elapsed: Duration,
        attempt: u32,
    },
    /// A transient failure that will be retried after `delay`.
    Retry {
        what: String,
        attempt: u32,
        delay: Duration,
        reason: String,
    },
    /// `-j auto` changed the number of files in flight (`from == to`: it settled there).
    Concurrency {
        from: usize,
        to: usize,
        why: &'static str,
    },
    /// Every request to an origin has failed for `down_for` (an outage): new work for it
    /// waits, and the next probe goes in `retry_in`. `origin` is "API" or "storage at
    /// HOST"; `reason` says how the latest request failed ("HTTP 503").
    Outage {
        origin: String,
        reason: String,
        down_for: Duration,
        retry_in: Duration,
    },
    /// The origin answers again after an outage of `down_for`; the run goes on.
    OutageOver {
        origin: String,
        down_for: Duration,
    },
    /// Something the user should see that does not fail a file.
    Warning(String),
    /// A file's final outcome. Sent only inside a `Batch`, which holds its room.
    File(FileReport),
    /// Events of one pipeline thread or task, in their order, with the outcomes among
    /// them: sent together (`Reporter::outcomes`), so a tree of small files costs the
    /// ledger one wake-up per batch, and holding the room they take in the budget.
    Batch(Batch),
}

/// Outcomes on their way to the outputs, at most: a sender of outcomes waits (an async
/// task awaits, a blocking thread blocks) while the ledger and the writers behind it
/// hold this many. Every other event is sent without waiting; what bounds those is the
/// work in flight (a few events a request, one a file started or ended, one a warning),
/// and progress is no event at all (`Progress`). Once the run is stopping
/// (`Inbox::stop_waiting`) outcomes wait no more: what is left is the files in flight,
/// and a stuck output must not keep the run from its end.
pub const EVENT_QUEUE: usize = 8192;

/// Events sent together with the room they take (`Reporter::outcomes`).
#[derive(Debug)]
pub struct Batch {
    pub events: Vec<Event>,
    /// Their room in the budget, given back when the last holder drops it: the ledger,
    /// or the writer of a slow output that still has their lines to write. `None`: sent
    /// once the run was stopping, without waiting for room.
    pub room: Option<Room>,
}

/// Room in the budget of outcomes on their way (`EVENT_QUEUE`); free again when dropped.
#[derive(Debug)]
pub struct Room(#[allow(dead_code)] OwnedSemaphorePermit);

/// Cheap, cloneable handle the pipeline reports through. Nothing it does blocks an async
/// task: `emit` never waits, and `outcomes` awaits its room.
#[derive(Clone, Debug)]
pub struct Reporter {
    tx: mpsc::UnboundedSender<Event>,
    room: Arc<Semaphore>,
    /// Cancelled when the run is stopping: outcomes no longer wait for room.
    stopping: CancellationToken,
}

/// The receiving half, for the ledger.
#[derive(Debug)]
pub struct Inbox {
    rx: mpsc::UnboundedReceiver<Event>,
    room: Arc<Semaphore>,
    stopping: CancellationToken,
}

/// What waiting for room came to.
enum Wait {
    Room(Room),
    /// The run is stopping: send without room.
    Stopping,
    /// The ledger is gone: nobody to tell.
    Gone,
}

impl Reporter {
    /// The sending half for the pipeline, and the receiving half for the ledger.
    pub fn channel() -> (Reporter, Inbox) {
        let (tx, rx) = mpsc::unbounded_channel();
        let room = Arc::new(Semaphore::new(EVENT_QUEUE));
        let stopping = CancellationToken::new();
        (
            Reporter {
                tx,
                room: room.clone(),
                stopping: stopping.clone(),
            },
            Inbox { rx, room, stopping },
        )
    }

    /// Sends an event that is no outcome, without waiting.
    pub fn emit(&self, event: Event) {
        // The ledger outlives the pipeline; if it is gone, there is no one to tell.
        let _ = self.tx.send(event);
    }

    pub fn warn(&self, message: impl Into<String>) {
        self.emit(Event::Warning(message.into()));
    }

    /// Sends `events`, outcomes among them, in their order, once there is room for them
    /// (or the run is stopping). For async code: it awaits, and never blocks the thread.
    pub async fn outcomes(&self, events: Vec<Event>) {
        if events.is_empty() {
            return;
        }
        let wait = self.wait_for_room(weight(&events)).await;
        self.send_with(events, wait);
    }

    /// As `outcomes`, for a blocking thread (a hashing worker, the walk): it blocks while
    /// there is no room. Never call it from async code.
    pub fn outcomes_blocking(&self, events: Vec<Event>) {
        if events.is_empty() {
            return;
        }
        let n = weight(&events);
        let wait = match self.room.clone().try_acquire_many_owned(n) {
            Ok(room) => Wait::Room(Room(room)),
            Err(TryAcquireError::Closed) => Wait::Gone,
            Err(TryAcquireError::NoPermits) => match tokio::runtime::Handle::try_current() {
                Ok(rt) => rt.block_on(self.wait_for_room(n)),
                // Outside any runtime (a unit test): a small one to wait on.
                Err(_) => match tokio::runtime::Builder::new_current_thread().build() {
                    Ok(rt) => rt.block_on(self.wait_for_room(n)),
                    Err(_) => Wait::Gone,
                },
            },
        };
        self.send_with(events, wait);
    }

    /// Room for `n` events, unless the run stops (or the ledger leaves) first.
    async fn wait_for_room(&self, n: u32) -> Wait {
        tokio::select! {
            biased;
            room = self.room.clone().acquire_many_owned(n) => match room {
                Ok(room) => Wait::Room(Room(room)),
                Err(_) => Wait::Gone,
            },
            () = self.stopping.cancelled() => Wait::Stopping,
        }
    }

    fn send_with(&self, events: Vec<Event>, wait: Wait) {
        let room = match wait {
            Wait::Room(room) => Some(room),
            Wait::Stopping => None,
            Wait::Gone => return,
        };
        self.emit(Event::Batch(Batch { events, room }));
    }
}

/// The room a batch takes: one per event, and a batch always fits in an empty budget.
fn weight(events: &[Event]) -> u32 {
    events.len().min(EVENT_QUEUE) as u32
}

impl Inbox {
    /// The next event; `None` once every `Reporter` is gone.
    pub async fn recv(&mut self) -> Option<Event> {
        self.rx.recv().await
    }

    /// The next event if one is waiting.
    pub fn try_recv(&mut self) -> Option<Event> {
        self.rx.try_recv().ok()
    }

    /// Every event waiting now (tests).
    pub fn drain(&mut self) -> impl Iterator<Item = Event> + '_ {
        std::iter::from_fn(|| self.try_recv())
    }

    /// The run is stopping: outcomes no longer wait for room. What is left to send is
    /// the files in flight, and an output that does not take its lines (a reader that
    /// stopped reading) must not keep the run from ending and writing its summary.
    pub fn stop_waiting(&self) {
        self.stopping.cancel();
    }

    /// No more events will be taken: senders waiting for room give up (their events are
    /// dropped) instead of waiting for a ledger that has left.
    pub fn close(&mut self) {
        self.room.close();
        self.rx.close();
    }

    /// Outcomes on their way to the outputs (tests).
    #[cfg(test)]
    fn queued(&self) -> usize {
        EVENT_QUEUE - self.room.available_permits()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(n: usize) -> Vec<Event> {
        (0..n).map(|_| Event::WalkDone).collect()
    }

    /// Outcomes wait for room while the ledger (or a writer behind it) holds a full
    /// budget; every other event goes at once, and closing the ledger's end frees
    /// whoever waits.
    #[test]
    fn outcomes_wait_for_room_and_other_events_never_wait() {
        let (reporter, mut events) = Reporter::channel();
        for _ in 0..80 {
            reporter.outcomes_blocking(batch(100));
        }
        assert_eq!(events.queued(), 8000);
        for _ in 0..10_000 {
            reporter.warn("never waits");
        }

        // A batch of 200 does not fit: its sender waits until enough room is given back.
        let sender = {
            let reporter = reporter.clone();
            std::thread::spawn(move || reporter.outcomes_blocking(batch(200)))
        };
        let Some(Event::Batch(first)) = events.try_recv() else {
            panic!("a batch first")
        };
        assert_eq!(first.events.len(), 100);
        let Some(Event::Batch(second)) = events.try_recv() else {
            panic!("a batch")
        };
        drop((first, second));
        sender.join().unwrap();
        assert_eq!(events.queued(), 8000);

        // An async sender awaits instead; closing the ledger's end lets it go, its
        // events dropped.
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let waiting = {
            let reporter = reporter.clone();
            std::thread::spawn(move || rt.block_on(reporter.outcomes(batch(500))))
        };
        events.close();
        waiting.join().unwrap();
        let warnings = events
            .drain()
            .filter(|e| matches!(e, Event::Warning(_)))
            .count();
        assert_eq!(warnings, 10_000);
        assert_eq!(
            events.queued(),
            0,
            "batches dropped unread give their room back"
        );
    }

    /// Once the run is stopping, outcomes wait no more for room: a sender waiting for it
    /// goes on, its batch sent without room, and so does every later one.
    #[test]
    fn once_the_run_is_stopping_outcomes_wait_no_more() {
        let (reporter, mut events) = Reporter::channel();
        reporter.outcomes_blocking(batch(EVENT_QUEUE));
        assert_eq!(events.queued(), EVENT_QUEUE, "the budget is spent");
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let waiting = {
            let reporter = reporter.clone();
            std::thread::spawn(move || rt.block_on(reporter.outcomes(batch(300))))
        };
        events.stop_waiting();
        waiting.join().unwrap();
        reporter.outcomes_blocking(batch(200));
        let batches: Vec<(usize, bool)> = events
            .drain()
            .map(|e| match e {
                Event::Batch(b) => (b.events.len(), b.room.is_some()),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            batches,
            vec![(EVENT_QUEUE, true), (300, false), (200, false)],
            "sent without room, none dropped"
        );
    }
}
