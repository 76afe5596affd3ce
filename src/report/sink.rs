//! Line outputs written on their own threads (`--json`'s stdout, the `--report` file,
//! `--junit`'s test cases on their way to its scratch file), so that a reader that stops
//! reading, or a slow disk, holds only its own output: stderr, the other outputs and the
//! ledger go on.
//!
//! What waits for a writer is bounded by the room of the outcomes it carries
//! (`event::Room`, `EVENT_QUEUE`): a writer that falls behind keeps the room of the lines
//! it has not written, and once the budget is spent the pipeline waits for it, until the
//! run is stopping (`Inbox::stop_waiting`).
//!
//! A write that fails ends that output. It is a lost output (`Lost`), told to the ledger,
//! except a closed stdout (EPIPE: `| head`), which only means the reader has what it
//! wanted.

use std::io::{self, Write};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use crate::event::Room;
use crate::sync::lock;

/// A writer takes the lines waiting for it together, up to about this many bytes a write.
const WRITE_AT_ONCE: usize = 256 * 1024;

/// An output the user asked for that could not be written, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lost {
    /// What it is, as a message names it: "the report file 'out.ndjson'".
    pub what: String,
    pub reason: String,
}

/// The outputs lost so far, shared by the writers and the ledger, which names each once.
#[derive(Debug, Default)]
pub(super) struct Losses(Mutex<Vec<Lost>>);

impl Losses {
    pub(super) fn add(&self, lost: Lost) {
        lock(&self.0).push(lost);
    }

    pub(super) fn any(&self) -> bool {
        !lock(&self.0).is_empty()
    }

    /// The losses not taken yet.
    pub(super) fn take(&self) -> Vec<Lost> {
        std::mem::take(&mut *lock(&self.0))
    }
}

/// Where a line writer writes, and what it does when it cannot.
pub(super) enum Target {
    /// Standard output: a closed pipe ends the output quietly.
    Stdout,
    /// A file the run created; synced at the end, so that a full disk is found.
    File(std::fs::File),
    /// A scratch file another output is made from at the end (`--junit`'s test cases):
    /// not synced, the output made from it is.
    Scratch(std::fs::File),
}

/// Lines for a writer, with the room of the outcomes they carry.
struct Lines {
    text: String,
    _room: Option<Arc<Room>>,
}

/// One line output on its own thread.
pub(super) struct LineWriter {
    tx: Option<Sender<Lines>>,
    /// The writer's end: whether it wrote (and synced) every line.
    done: Receiver<bool>,
    thread: Option<JoinHandle<()>>,
}

impl LineWriter {
    /// Starts the writer of `target`, called `what` in a message when it cannot be
    /// written.
    pub(super) fn start(target: Target, what: String, losses: Arc<Losses>) -> LineWriter {
        let (tx, rx) = mpsc::channel::<Lines>();
        let (done_tx, done) = mpsc::channel();
        let pipe = matches!(target, Target::Stdout);
        let spawned = std::thread::Builder::new()
            .name("chief-upload-out".into())
            .spawn({
                let (what, losses) = (what.clone(), losses.clone());
                move || {
                    let written = write_all(target, &rx);
                    if let Err(e) = &written {
                        if !(pipe && e.kind() == io::ErrorKind::BrokenPipe) {
                            losses.add(Lost {
                                what,
                                reason: crate::io_words::io_reason(e),
                            });
                        }
                    }
                    // Lines sent after a failure are dropped with the channel, and their
                    // room with them.
                    drop(rx);
                    let _ = done_tx.send(written.is_ok());
                }
            });
        // No thread to write it: the output is lost from the start, and said so.
        let thread = match spawned {
            Ok(t) => Some(t),
            Err(e) => {
                losses.add(Lost {
                    what,
                    reason: crate::io_words::io_reason(&e),
                });
                None
            }
        };
        LineWriter {
            tx: thread.is_some().then_some(tx),
            done,
            thread,
        }
    }

    /// Queues `text` (whole lines) for writing. Never waits.
    pub(super) fn send(&self, text: String, room: Option<Arc<Room>>) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(Lines { text, _room: room });
        }
    }

    /// No more lines: waits until the writer has written (and synced) what it has,
    /// or until `deadline`. Whether it wrote every line by then.
    pub(super) fn close(&mut self, deadline: Option<Instant>) -> bool {
        self.tx = None;
        if self.thread.is_none() {
            return false;
        }
        let written = match deadline {
            None => self.done.recv().ok(),
            Some(at) => self
                .done
                .recv_timeout(at.saturating_duration_since(Instant::now()))
                .ok(),
        };
        if written.is_some() {
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        }
        written == Some(true)
    }
}

/// The writer's loop: everything waiting is written in one piece and flushed, so a
/// reader (or a run killed by a second signal) has every line sent before.
fn write_all(target: Target, rx: &Receiver<Lines>) -> io::Result<()> {
    let stdout = io::stdout();
    let (mut out, file): (Box<dyn Write>, Option<&std::fs::File>) = match &target {
        Target::Stdout => (Box::new(stdout.lock()), None),
        Target::File(f) => (Box::new(f), Some(f)),
        Target::Scratch(f) => (Box::new(f), None),
    };
    while let Ok(first) = rx.recv() {
        let mut text = first.text;
        let mut held = vec![first._room];
        while text.len() < WRITE_AT_ONCE {
            let Ok(more) = rx.try_recv() else { break };
            text.push_str(&more.text);
            held.push(more._room);
        }
        out.write_all(text.as_bytes())?;
        out.flush()?;
        drop(held);
    }
    if let Some(f) = file {
        f.sync_data()?;
    }
    Ok(())
}
