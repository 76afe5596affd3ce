//! `--watch`: the pipeline's source of files for a run that keeps going.
//!
//! The first pass walks the PATHs as a normal run does, except that a file that has not
//! been still for the settle time waits (`settle.rs`) instead of being taken. Then the
//! platform's file events (`events.rs`) say which paths may have appeared or changed; each
//! waits to settle and is taken once still. A folder created or moved in is walked (its
//! files made no events of their own). Deleted files are ignored.
//!
//! What was done with each file is kept on disk (`record.rs`): a file taken that has not
//! changed since it was sent is left alone (by its key, without reading it; or, after
//! hashing, by its MD5), so a rescan or a restart sends nothing for it.
//!
//! When events cannot be relied on (none on this platform or file system, the platform's
//! queue overflowed, the limit on watches was reached) the watch says so once and rescans
//! the PATHs at an interval from then on; `--poll` asks for that from the start. Events
//! the watch itself could not take in time (its thread was busy) cost one rescan.
//!
//! Memory stays flat: the waiting files (bounded), the files in flight (bounded by the
//! pipeline's queues) and the event channel (bounded) are all a watch holds; nothing is
//! kept per event or per finished file.
//!
//! The watch runs on one blocking thread (`Watch::run`); the pipeline tells it what
//! happened to the files it took through `hashed` and `finished`.

mod events;
mod left_out;
mod record;
mod settle;
mod source;

use source::{WalkPass, WatchSource};

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use tokio_util::sync::CancellationToken;

use crate::event::{Event, FileReport, Outcome, Reporter, WatchStatus};
use crate::file_key::FileKey;
use crate::hash::Md5Sum;
use crate::settings::{Settings, WatchSettings};
use crate::sync::lock;
use crate::walk::{self, rel_string, WalkItem, WalkedFile};

use crate::file_key::now_ns;
use events::{Backlog, Events};
use record::{FileId, Record};
use settle::{Due, SettleVerdict, Settling};

/// Files waiting to settle, at most; past that, newcomers are left to a later rescan.
const MAX_SETTLING: usize = 50_000;
/// The status line's numbers are sent at most this often.
const STATUS_EVERY: Duration = Duration::from_millis(250);
/// The longest the watch's thread sleeps with nothing to do.
const IDLE_TICK: Duration = Duration::from_secs(1);
/// How often a watch whose files are due looks whether the pipeline has room again.
const ROOM_POLL: Duration = Duration::from_millis(50);

/// What reaches the watch's thread.
pub(crate) enum Msg {
    /// The platform says this path may have appeared or changed; `moved_in`: it was
    /// created or renamed into place (a folder is then walked).
    Changed { path: PathBuf, moved_in: bool },
    /// Events cannot be relied on from now on, and why.
    Trouble(String),
    /// A file in flight changed meanwhile: look at it again.
    Requeue { display: String, path: PathBuf },
    /// Look around (the run is stopping, events were lost).
    Wake,
}

/// What the pipeline gives a watch: where its files go, and how they are counted.
pub(crate) trait Feed {
    /// A file left out by a filter or another shard (counted, no file line).
    fn exclude(&self);
    /// Whether `send` would not wait.
    fn has_room(&self) -> bool;
    /// Hands an item to the pipeline, counted as found; waits while the queue is full.
    /// False: the run is stopping.
    fn send(&self, item: WalkItem) -> bool;
    fn emit(&self, event: Event);
}

/// A file the watch took, until the pipeline is done with it.
struct Flight {
    path: PathBuf,
    id: FileId,
    /// The key when it was taken, and when (ns since the epoch).
    key: FileKey,
    observed_at: i64,
    /// The key and MD5 as hashed.
    hashed: Option<(FileKey, Md5Sum)>,
    /// An event came for it meanwhile: look at it again when it is done.
    dirty: bool,
}

/// A watch: its settings, its record, and the files it has in flight.
pub(crate) struct Watch {
    settings: Arc<Settings>,
    ws: WatchSettings,
    record: Option<Record>,
    flights: Mutex<HashMap<String, Flight>>,
    to_thread: Mutex<Option<Sender<Msg>>>,
}

impl Watch {
    /// Opens the record (blocking). One that cannot be opened is replaced by a temporary
    /// one, with a warning: the watch goes on.
    pub(crate) fn open(settings: Arc<Settings>, ws: WatchSettings, reporter: &Reporter) -> Watch {
        let record = match &ws.record {
            Some(path) => {
                let told = reporter.clone();
                let on_damage = Box::new(move |d: crate::db::Damage| told.warn(d.to_string()));
                Record::open(path, &ws.target, on_damage)
            }
            .or_else(|e| {
                reporter.warn(format!(
                    "the record of files sent is unavailable ({e:#}); a restart will announce every file again"
                ));
                Record::temporary(&ws.target)
            }),
            None => Record::temporary(&ws.target),
        };
        let record = match record {
            Ok(r) => Some(r),
            Err(e) => {
                reporter.warn(format!(
                    "cannot keep a record of files sent ({e:#}); a rescan will announce every file again"
                ));
                None
            }
        };
        Watch {
            settings,
            ws,
            record,
            flights: Mutex::new(HashMap::new()),
            to_thread: Mutex::new(None),
        }
    }

    fn flights(&self) -> MutexGuard<'_, HashMap<String, Flight>> {
        lock(&self.flights)
    }

    fn tell(&self, msg: Msg) {
        if let Some(tx) = lock(&self.to_thread).as_ref() {
            let _ = tx.send(msg);
        }
    }

    /// Wakes the watch's thread (to notice that the run is stopping).
    pub(crate) fn wake(&self) {
        self.tell(Msg::Wake);
    }

    /// A file taken was hashed. False: its content is what it was last sent as, so it is
    /// not sent again (and gets no outcome).
    pub(crate) fn hashed(&self, display: &str, key: &FileKey, md5: &Md5Sum) -> bool {
        let mut flights = self.flights();
        let Some(f) = flights.get_mut(display) else {
            return true;
        };
        f.hashed = Some((*key, *md5));
        let same = self
            .record
            .as_ref()
            .is_some_and(|r| r.same_content(&f.id, key, md5, f.observed_at));
        if same {
            if let Some(f) = flights.remove(display) {
                drop(flights);
                if f.dirty {
                    self.tell(Msg::Requeue {
                        display: display.to_string(),
                        path: f.path,
                    });
                }
            }
        }
        !same
    }

    /// A file reached its outcome. False: it gets none after all, because it failed
    /// while it changed or vanished (a changed one settles again; a deleted one is
    /// ignored).
    pub(crate) fn finished(&self, report: &FileReport) -> bool {
        let mut flights = self.flights();
        let Some(f) = flights.remove(&report.path) else {
            return true;
        };
        let mut again = f.dirty;
        let mut counts = true;
        match report.outcome {
            Outcome::Uploaded | Outcome::Skipped => {
                if let (Some(r), Some((key, md5)), Some(asset)) =
                    (&self.record, &f.hashed, &report.asset_id)
                {
                    r.sent(&f.id, key, md5, asset, f.observed_at);
                }
            }
            Outcome::Failed => {
                let seen = f.hashed.map_or(f.key, |(k, _)| k);
                match std::fs::metadata(&f.path) {
                    Err(_) => counts = false,
                    Ok(m) if FileKey::from_metadata(&m) != seen => {
                        counts = false;
                        again = true;
                    }
                    Ok(_) => {
                        if let Some(r) = &self.record {
                            r.failed(&f.id, &seen, f.observed_at);
                        }
                    }
                }
            }
            Outcome::Planned => {}
        }
        // The record was written before the file left `flights`, under its lock: a rescan
        // sees the file in one or the other, never in neither.
        drop(flights);
        if again {
            self.tell(Msg::Requeue {
                display: report.path.clone(),
                path: f.path,
            });
        }
        counts
    }

    /// If the file is in flight, marks it to be looked at again when done; whether it was.
    fn mark_in_flight(&self, display: &str) -> bool {
        match self.flights().get_mut(display) {
            Some(f) => {
                f.dirty = true;
                true
            }
            None => false,
        }
    }

    /// The watch's thread: the first pass, then events (or rescans) until `stop`.
    pub(crate) fn run(&self, feed: &dyn Feed, stop: &CancellationToken) {
        let (tx, rx) = mpsc::channel();
        *lock(&self.to_thread) = Some(tx.clone());
        let mut source = WatchSource::new(self, feed, stop, rx);
        source.start_events(tx);
        source.report_status(true);
        source.pass(WalkPass::First);
        source.report_status(true);
        feed.emit(Event::WalkDone);
        source.serve();
        *lock(&self.to_thread) = None;
    }
}
