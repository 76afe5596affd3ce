//! What the pipeline reports. The pipeline never prints: it sends these to the output
//! layer (`report`), which alone decides what reaches stdout and stderr.

use crate::sync::{lock, wait};
use std::time::Duration;

use serde::Serialize;
use std::sync::{mpsc, Arc, Condvar, Mutex, MutexGuard};

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
    /// Counts one file's outcome: the one rule, for the pipeline's totals and for the
    /// summary the output writes when a second signal leaves no time for those.
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
    HashStart {
        id: TaskId,
        path: String,
        size: u64,
    },
    /// `bytes` more were hashed.
    HashProgress {
        id: TaskId,
        bytes: u64,
    },
    HashEnd {
        id: TaskId,
    },
    TransferStart {
        id: TaskId,
        path: String,
        size: u64,
    },
    /// `bytes` more were sent.
    TransferProgress {
        id: TaskId,
        bytes: u64,
    },
    /// The transfer starts again from byte 0: `sent` bytes roll back.
    TransferRestart {
        id: TaskId,
        sent: u64,
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
    /// A file's final outcome.
    File(FileReport),
    /// Events of one pipeline thread, in their order, sent together: a tree of small
    /// files then costs the output thread one wake-up per batch, not one per file.
    /// Never holds a `Summary`.
    Batch(Batch),
    /// The run is over (always the last event).
    Summary(Summary),
}

/// Events waiting for the output thread, at most: as many messages, and as many events in
/// batches (a batch is one message).
const EVENT_QUEUE: usize = 8192;

/// Events sent together (`Reporter::emit_all`).
#[derive(Debug)]
pub struct Batch {
    pub events: Vec<Event>,
    /// Their room in the queue, given back when the batch is dropped (by the output
    /// thread, once it has taken the events).
    _room: EventPermit,
}

/// How many batched events wait for the output thread; a sender waits while a batch
/// would bring them over `EVENT_QUEUE`. (The channel bounds messages; without this, 8192
/// batches of 128 file lines could wait at once.)
#[derive(Debug, Default)]
struct EventBudget {
    state: Mutex<EventBudgetState>,
    freed: Condvar,
}

#[derive(Debug, Default)]
struct EventBudgetState {
    queued: usize,
    waiting: usize,
}

impl EventBudget {
    fn lock(&self) -> MutexGuard<'_, EventBudgetState> {
        lock(&self.state)
    }

    fn take(self: &Arc<EventBudget>, events: usize) -> EventPermit {
        let mut state = self.lock();
        // A batch always fits in an empty queue, however big.
        while state.queued > 0 && state.queued + events > EVENT_QUEUE {
            state.waiting += 1;
            state = wait(&self.freed, state);
            state.waiting -= 1;
        }
        state.queued += events;
        EventPermit {
            room: self.clone(),
            events,
        }
    }
}

#[derive(Debug)]
struct EventPermit {
    room: Arc<EventBudget>,
    events: usize,
}

impl Drop for EventPermit {
    fn drop(&mut self) {
        let mut state = self.room.lock();
        state.queued -= self.events;
        if state.waiting > 0 {
            self.room.freed.notify_all();
        }
    }
}

/// Cheap, cloneable handle the pipeline reports through.
#[derive(Clone, Debug)]
pub struct Reporter {
    tx: mpsc::SyncSender<Event>,
    room: Arc<EventBudget>,
}

impl Reporter {
    /// The sending half for the pipeline, and the receiving half for the output thread.
    /// The queue is bounded: if the output stalls (a `--json` reader that stops
    /// reading), the pipeline waits for it instead of piling events up in memory.
    pub fn channel() -> (Reporter, mpsc::Receiver<Event>) {
        let (tx, rx) = mpsc::sync_channel(EVENT_QUEUE);
        let room = Arc::new(EventBudget::default());
        (Reporter { tx, room }, rx)
    }

    pub fn emit(&self, event: Event) {
        // The output layer outlives the pipeline; if it is gone, there is no one to tell.
        let _ = self.tx.send(event);
    }

    /// Sends `events` in their order, as one message when there are several.
    pub fn emit_all(&self, mut events: Vec<Event>) {
        match events.len() {
            0 => {}
            1 => self.emit(events.pop().expect("one event")),
            n => {
                let room = self.room.take(n);
                self.emit(Event::Batch(Batch {
                    events,
                    _room: room,
                }));
            }
        }
    }

    pub fn warn(&self, message: impl Into<String>) {
        self.emit(Event::Warning(message.into()));
    }

    /// Batched events waiting for the output thread.
    #[cfg(test)]
    fn queued(&self) -> usize {
        self.room.lock().queued
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(n: usize) -> Vec<Event> {
        (0..n).map(|_| Event::WalkDone).collect()
    }

    #[test]
    fn batched_events_count_against_the_queue_until_taken() {
        let (reporter, rx) = Reporter::channel();
        for _ in 0..80 {
            reporter.emit_all(batch(100));
        }
        reporter.emit_all(batch(1));
        reporter.emit(Event::WalkDone);
        assert_eq!(reporter.queued(), 8000, "a lone event is no batch");

        // The queue is full for a batch of 200: the sender waits until the output
        // thread has taken (and dropped) enough.
        let sender = {
            let reporter = reporter.clone();
            std::thread::spawn(move || reporter.emit_all(batch(200)))
        };
        let Ok(Event::Batch(first)) = rx.recv() else {
            panic!("a batch first")
        };
        assert_eq!(first.events.len(), 100);
        drop(first);
        let Ok(Event::Batch(second)) = rx.recv() else {
            panic!("a batch")
        };
        drop(second);
        sender.join().unwrap();
        assert_eq!(reporter.queued(), 8000);

        // Batches dropped unread (the output thread gone) give their room back too.
        drop(rx);
        assert_eq!(reporter.queued(), 0);
    }
}
