//! The run's ledger: the one owner of its bookkeeping and of why it ended.
//!
//! One thread, fed by two channels: the pipeline's events (`event::Inbox`) and the
//! run's control messages (`Ledger`: a signal, a stop, the end of the stages). It
//!
//! * counts every file found, left out, withdrawn and finished (`Summary`);
//! * has every output written (`report::Outputs`): human lines and bars, `--json`,
//!   `--report`, `--junit`, GitHub's annotations, job summary and step outputs, GitLab's
//!   sections;
//! * in a watch, tells the watch each outcome (`Watch::finished`), which writes its
//!   record: SQLite and the file system are touched here, never on an async worker;
//! * decides one `RunEnd`, by one precedence rule (`decide`), and answers it with the
//!   outputs that were lost (`Verdict`); `lib.rs` maps it to the exit status.
//!
//! The summary is written last, after every file line, in every output: the ledger
//! writes both. After a second signal it writes the summary of what it has, at once.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use crate::api::ApiError;
use crate::cli::IfNoFiles;
use crate::event::{Batch, Event, FileReport, Inbox, Summary};
use crate::exit::UsageError;
use crate::http::{Stop, StopKind};
use crate::report::{OutputSetup, Outputs};
use crate::signal::Signal;
use crate::watch::Watch;

/// Events taken at once before the outputs tick (control messages wait no longer).
const DRAIN: usize = 256;
/// After a second signal, how long the ledger may spend on events already queued (files
/// that finished just before) before its summary.
const LAST_EVENTS: Duration = Duration::from_millis(150);
/// After a second signal, how long the writers (`--json`, `--report`, `--junit`) get to
/// write the summary (a reader that stopped reading gets none).
const LAST_WRITES: Duration = Duration::from_millis(250);

/// Why the run ended.
#[derive(Debug)]
pub(crate) enum RunEnd {
    /// Every file the run found got an outcome, or a watch ended on a signal (its normal
    /// end). `failures`: a file failed, or (not in a watch) was left without an outcome.
    Finished { failures: bool },
    /// `--if-no-files error`, and the PATHs held no file to upload: why.
    NoFiles(String),
    /// The API refused the credentials, or sent the client elsewhere (a redirect).
    Refused(ApiError),
    /// The `--files-from` list held a line no path can be.
    BadList(UsageError),
    /// A failure no retry mends, or an outage longer than `--max-outage`.
    Stopped(Stop),
    /// SIGINT, SIGTERM or SIGHUP stopped the run (not a watch: that ends it).
    Signal(Signal),
}

/// What the ledger answers when the run is over.
#[derive(Debug)]
pub(crate) struct Verdict {
    pub(crate) end: RunEnd,
    /// An output the user asked for could not be written (each was named on stderr).
    pub(crate) lost_output: bool,
}

/// What the ledger needs besides the outputs.
pub(crate) struct LedgerSetup {
    pub(crate) outputs: OutputSetup,
    /// `--watch`: told every outcome; a signal is its normal end.
    pub(crate) watch: Option<Arc<Watch>>,
    pub(crate) if_no_files: IfNoFiles,
    /// The filters in use, in words (`Filter::describe`), for `--if-no-files`.
    pub(crate) filters: String,
}

/// Why the pipeline asks the run to stop.
#[derive(Debug)]
pub(crate) enum Halt {
    Refused(ApiError),
    BadList(UsageError),
    Stopped(Stop),
}

enum Control {
    /// The first signal: the run stops.
    Signal(Signal),
    /// A second signal: the summary of what was seen, now.
    Leave,
    Halt(Halt),
    /// The stages are over; `candidates`: the files the filters let through, for
    /// `--if-no-files` (`None`: not judged, as in a watch or a walk left behind).
    End {
        candidates: Option<u64>,
    },
    /// The run ended before its first file (an error): no summary.
    Close,
}

/// The sending end of the ledger's control messages: cheap to clone.
#[derive(Clone)]
pub(crate) struct Ledger {
    tx: mpsc::UnboundedSender<Control>,
}

/// The ledger's answer, once the run is over.
pub(crate) struct Ending {
    rx: oneshot::Receiver<Verdict>,
    thread: Option<JoinHandle<()>>,
}

impl Ledger {
    /// Starts the ledger's thread; it takes `events` until the run is over.
    pub(crate) fn start(setup: LedgerSetup, events: Inbox) -> std::io::Result<(Ledger, Ending)> {
        let (tx, control) = mpsc::unbounded_channel();
        let (answer, rx) = oneshot::channel();
        let thread = std::thread::Builder::new()
            .name("chief-upload-ledger".into())
            .spawn(move || {
                let books = Books::new(setup);
                if let Some(verdict) = books.run(events, control) {
                    let _ = answer.send(verdict);
                }
            })?;
        Ok((
            Ledger { tx },
            Ending {
                rx,
                thread: Some(thread),
            },
        ))
    }

    fn send(&self, c: Control) {
        // The ledger is gone only once the run is over.
        let _ = self.tx.send(c);
    }

    pub(crate) fn signal(&self, s: Signal) {
        self.send(Control::Signal(s));
    }

    pub(crate) fn leave(&self) {
        self.send(Control::Leave);
    }

    pub(crate) fn halt(&self, why: Halt) {
        self.send(Control::Halt(why));
    }

    pub(crate) fn end(&self, candidates: Option<u64>) {
        self.send(Control::End { candidates });
    }

    pub(crate) fn close(&self) {
        self.send(Control::Close);
    }

    /// A ledger nobody listens to, for the pipeline's unit tests.
    #[cfg(test)]
    pub(crate) fn unheard() -> Ledger {
        Ledger {
            tx: mpsc::unbounded_channel().0,
        }
    }
}

impl Ending {
    /// The verdict, once the ledger has written the summary (`None`: it was closed, or
    /// it failed).
    pub(crate) async fn verdict(&mut self) -> Option<Verdict> {
        (&mut self.rx).await.ok()
    }

    /// Waits for the ledger's thread (after `verdict`, or after `Ledger::close`).
    pub(crate) fn join(mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The ledger's state, on its thread.
struct Books {
    outputs: Outputs,
    watch: Option<Arc<Watch>>,
    if_no_files: IfNoFiles,
    filters: String,
    started: Instant,
    tally: Summary,
    found: u64,
    signal: Option<Signal>,
    halts: Halts,
}

/// The first reason of each kind the pipeline gave to stop the run.
#[derive(Default)]
struct Halts {
    refused: Option<ApiError>,
    bad_list: Option<UsageError>,
    fatal: Option<Stop>,
    outage: Option<Stop>,
}

impl Books {
    fn new(setup: LedgerSetup) -> Books {
        Books {
            outputs: Outputs::new(setup.outputs),
            watch: setup.watch,
            if_no_files: setup.if_no_files,
            filters: setup.filters,
            started: Instant::now(),
            tally: Summary::default(),
            found: 0,
            signal: None,
            halts: Halts::default(),
        }
    }

    /// The ledger's loop, until the stages end (or a second signal). Events and control
    /// messages are taken as they come; between them the outputs tick.
    fn run(
        mut self,
        mut events: Inbox,
        mut control: mpsc::UnboundedReceiver<Control>,
    ) -> Option<Verdict> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .ok()?;
        let verdict = rt.block_on(async {
            let mut open = true;
            let tick = tokio::time::sleep(self.outputs.tick_interval());
            tokio::pin!(tick);
            loop {
                tokio::select! {
                    biased;
                    c = control.recv() => match c {
                        Some(Control::End { candidates }) => {
                            // Everything sent before the end is in the queue.
                            self.drain(&mut events, None);
                            return Some(self.end(candidates));
                        }
                        Some(Control::Leave) => return Some(self.leave(&mut events)),
                        Some(Control::Close) | None => {
                            // The warnings sent before, then a clean terminal.
                            self.drain(&mut events, None);
                            self.outputs.close();
                            return None;
                        }
                        // The run is stopping: what is left is the files in flight, whose
                        // outcomes must not wait for an output that does not take them.
                        Some(Control::Signal(s)) => {
                            events.stop_waiting();
                            self.signalled(s);
                        }
                        Some(Control::Halt(why)) => {
                            events.stop_waiting();
                            self.halted(why);
                        }
                    },
                    e = events.recv(), if open => match e {
                        Some(e) => {
                            self.event(e);
                            // What else waits, before the outputs tick: one pass of the
                            // loop per burst, not per event.
                            for _ in 0..DRAIN {
                                let Some(e) = events.try_recv() else { break };
                                self.event(e);
                            }
                        }
                        None => open = false,
                    },
                    () = &mut tick => {}
                }
                self.outputs.name_losses();
                self.outputs.tick(&self.tally);
                tick.as_mut()
                    .reset(tokio::time::Instant::now() + self.outputs.tick_interval());
            }
        });
        // Senders waiting for room give up: nobody takes their events any more.
        events.close();
        verdict
    }

    /// Takes the events waiting now (until `deadline`, if one is given).
    fn drain(&mut self, events: &mut Inbox, deadline: Option<Instant>) {
        while deadline.is_none_or(|d| Instant::now() < d) {
            let Some(e) = events.try_recv() else { break };
            self.event(e);
        }
    }

    fn signalled(&mut self, s: Signal) {
        if self.signal.is_some() {
            return;
        }
        self.signal = Some(s);
        self.outputs.warn(format!(
            "{}: stopping transfers (send it again, or Ctrl-C, to quit at once)",
            s.name()
        ));
    }

    fn halted(&mut self, why: Halt) {
        let h = &mut self.halts;
        match why {
            Halt::Refused(e) => {
                h.refused.get_or_insert(e);
            }
            Halt::BadList(e) => {
                h.bad_list.get_or_insert(e);
            }
            Halt::Stopped(stop) => {
                let slot = match stop.kind {
                    StopKind::Fatal(_) => &mut h.fatal,
                    StopKind::Outage { .. } => &mut h.outage,
                };
                slot.get_or_insert(stop);
            }
        }
    }

    fn event(&mut self, event: Event) {
        match event {
            Event::Batch(Batch { events, room }) => {
                self.outputs.begin_batch();
                for e in events {
                    self.event(e);
                }
                self.outputs.end_batch(room);
            }
            Event::File(report) => self.file(report),
            Event::Found { files, .. } => {
                self.found += files;
                self.outputs.event(event);
            }
            Event::Excluded { files } => {
                self.tally.excluded += files;
                self.outputs.event(event);
            }
            Event::WalkDone => self.outputs.walk_done(self.found),
            Event::Withdrawn { .. } => {
                self.found = self.found.saturating_sub(1);
                self.outputs.event(event);
            }
            event => self.outputs.event(event),
        }
    }

    /// One outcome: in a watch, the watch hears of it first, and a file that failed
    /// because it changed or vanished meanwhile gets none (it is withdrawn); then it is
    /// counted, and written.
    fn file(&mut self, report: FileReport) {
        if let Some(w) = &self.watch {
            if !w.finished(&report) {
                self.event(Event::Withdrawn {
                    size: report.size.unwrap_or(0),
                });
                return;
            }
        }
        self.tally.count(&report);
        self.outputs.file(&report);
    }

    /// The totals as they stand.
    fn summary(&self, interrupted: bool) -> Summary {
        Summary {
            elapsed: self.started.elapsed(),
            interrupted,
            not_attempted: self.found.saturating_sub(self.tally.done()),
            ..self.tally.clone()
        }
    }

    /// The stages are over: the verdict, and the summary written everywhere.
    fn end(mut self, candidates: Option<u64>) -> Verdict {
        let mut no_files = None;
        if candidates == Some(0) {
            let why = nothing_to_upload(self.tally.excluded, &self.filters);
            match self.if_no_files {
                IfNoFiles::Warn => self.outputs.warn(why),
                IfNoFiles::Error => no_files = Some(why),
                IfNoFiles::Ignore => {}
            }
        }
        let signal = self.signal;
        self.conclude(signal, no_files, None)
    }

    /// A second signal: the lines of the files that finished just before (still in the
    /// queue), then the summary of everything seen, wherever a summary goes. How the run
    /// ended is decided as at any end (`decide`): a watch ends on signals with 0 or 1.
    fn leave(mut self, events: &mut Inbox) -> Verdict {
        // Said first: on a machine too busy to finish in time, the process still says
        // why it left when `signal.rs` ends it.
        self.outputs.warn(
            "signalled again: leaving now; files still in flight are counted as not attempted"
                .into(),
        );
        self.drain(events, Some(Instant::now() + LAST_EVENTS));
        let signal = self.signal.or(Some(Signal::Interrupt));
        self.conclude(signal, None, Some(Instant::now() + LAST_WRITES))
    }

    /// How the run ended (`decide`), and the summary written everywhere; the writers get
    /// until `deadline` (`None`: as long as they need).
    fn conclude(
        mut self,
        signal: Option<Signal>,
        no_files: Option<String>,
        deadline: Option<Instant>,
    ) -> Verdict {
        let end = decide(
            signal,
            std::mem::take(&mut self.halts),
            no_files,
            self.watch.is_some(),
            &self.summary(false),
        );
        let summary = self.summary(matches!(end, RunEnd::Signal(_)));
        self.outputs.finish(&summary, deadline);
        Verdict {
            end,
            lost_output: self.outputs.any_lost(),
        }
    }
}

/// Why the run ended, when several reasons meet: the one precedence rule, which the exit
/// table of `docs/interface.md` states. A signal (its own code) over what gives exit 2
/// (credentials refused, a `--files-from` list that is none, a failure no retry mends)
/// over what gives 1 (an outage, then no files, then failed files) over success. A
/// watch ends on a signal normally, so there the signal weighs nothing. (A lost output
/// raises 0 to 1: `lib.rs`.)
fn decide(
    signal: Option<Signal>,
    halts: Halts,
    no_files: Option<String>,
    watching: bool,
    summary: &Summary,
) -> RunEnd {
    if let Some(s) = signal.filter(|_| !watching) {
        return RunEnd::Signal(s);
    }
    if let Some(e) = halts.refused {
        return RunEnd::Refused(e);
    }
    if let Some(e) = halts.bad_list {
        return RunEnd::BadList(e);
    }
    if let Some(stop) = halts.fatal.or(halts.outage) {
        return RunEnd::Stopped(stop);
    }
    if let Some(why) = no_files {
        return RunEnd::NoFiles(why);
    }
    // A file left without an outcome is no success; but a watch ends on a signal with
    // files queued, which its next start takes.
    RunEnd::Finished {
        failures: summary.failed > 0 || (summary.not_attempted > 0 && !watching),
    }
}

/// What `--if-no-files` says when the PATHs hold no file to upload; `filters` names the
/// filters in use (`Filter::describe`).
fn nothing_to_upload(excluded: u64, filters: &str) -> String {
    match excluded {
        0 => "nothing to upload: the PATHs hold no file".into(),
        1 => format!("nothing to upload: the only file found was left out by {filters}"),
        n => format!("nothing to upload: all {n} files found were left out by {filters}"),
    }
}

#[cfg(test)]
mod tests;
