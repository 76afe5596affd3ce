//! The signals that end a run early: SIGINT (Ctrl-C), SIGTERM (CI runners, `docker stop`,
//! Kubernetes) and SIGHUP (a closed terminal).
//!
//! The first stops new work and aborts transfers; the run then ends normally, with its
//! summary, and the exit status names the signal (130, 143, 129). A second signal of any
//! of the three ends the process within a second: the output thread writes the summary
//! it has (every finished file's line is already written) and exits.

use std::future::Future;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::event::Reporter;
use crate::exit::Exit;

/// Which signal stopped the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    Interrupt,
    Terminate,
    HangUp,
}

impl Signal {
    pub fn exit(self) -> Exit {
        match self {
            Signal::Interrupt => Exit::Interrupted,
            Signal::Terminate => Exit::Terminated,
            Signal::HangUp => Exit::HangUp,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Signal::Interrupt if cfg!(windows) => "interrupted (Ctrl-C)",
            Signal::HangUp if cfg!(windows) => "hang-up (console closed)",
            Signal::Interrupt => "interrupted (SIGINT)",
            Signal::Terminate => "terminated (SIGTERM)",
            Signal::HangUp => "hang-up (SIGHUP)",
        }
    }

    fn code(self) -> u8 {
        self.exit() as u8
    }

    fn from_code(code: u8) -> Option<Signal> {
        [Signal::Interrupt, Signal::Terminate, Signal::HangUp]
            .into_iter()
            .find(|s| s.code() == code)
    }
}

/// What the signals have said so far, shared by the signal task, the run and the output
/// thread.
#[derive(Debug, Default)]
pub struct Stops {
    /// The first signal's exit code (0: none yet).
    first: AtomicU8,
    /// Set by a second signal: leave now.
    now: AtomicU8,
}

impl Stops {
    pub fn new() -> Arc<Stops> {
        Arc::new(Stops::default())
    }

    /// The signal that stopped the run, if any.
    pub fn first(&self) -> Option<Signal> {
        Signal::from_code(self.first.load(Ordering::SeqCst))
    }

    /// After a second signal: the exit status to leave with at once.
    pub fn leave_now(&self) -> Option<Exit> {
        Signal::from_code(self.now.load(Ordering::SeqCst)).map(Signal::exit)
    }

    /// Records the first signal (a later one changes nothing); whether it was the first.
    pub(crate) fn record(&self, s: Signal) -> bool {
        self.first
            .compare_exchange(0, s.code(), Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    }

    /// A second signal: leave now, with the first one's exit status.
    pub(crate) fn record_second(&self, s: Signal) {
        let code = self.first().unwrap_or(s);
        self.now.store(code.code(), Ordering::SeqCst);
    }
}

/// How long the output thread has to write its summary after a second signal before the
/// process leaves regardless.
const LAST_WORDS: Duration = Duration::from_millis(900);

/// Starts listening at once (from here on a signal no longer kills the process), and
/// returns the task that waits for signals for the whole run. Call it inside the runtime.
pub fn watch(
    cancel: CancellationToken,
    stops: Arc<Stops>,
    reporter: Reporter,
) -> impl Future<Output = ()> {
    let signals = Signals::new();
    async move {
        match signals {
            Ok(signals) => wait(signals, cancel, stops, reporter).await,
            Err(e) => reporter.warn(format!("cannot watch for signals: {e}")),
        }
    }
}

async fn wait(
    mut signals: Signals,
    cancel: CancellationToken,
    stops: Arc<Stops>,
    reporter: Reporter,
) {
    let Some(first) = signals.next().await else {
        return;
    };
    stops.record(first);
    cancel.cancel();
    reporter.warn(format!(
        "{}: stopping transfers (send it again, or Ctrl-C, to quit at once)",
        first.name()
    ));
    let Some(second) = signals.next().await else {
        return;
    };
    stops.record_second(second);
    // The output thread sees `leave_now` within its tick and exits after its summary; if
    // it is stuck (a blocked terminal, a reader that stopped reading), leave anyway.
    tokio::time::sleep(LAST_WORDS).await;
    let exit = stops.leave_now().unwrap_or(second.exit());
    std::process::exit(exit as i32);
}

#[cfg(unix)]
struct Signals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl Signals {
    fn new() -> std::io::Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
            hup: signal(SignalKind::hangup())?,
        })
    }

    async fn next(&mut self) -> Option<Signal> {
        tokio::select! {
            s = self.int.recv() => s.map(|()| Signal::Interrupt),
            s = self.term.recv() => s.map(|()| Signal::Terminate),
            s = self.hup.recv() => s.map(|()| Signal::HangUp),
        }
    }
}

/// Windows has console events, not signals: Ctrl-C and Ctrl-Break interrupt (Ctrl-Break is
/// also what another program can send to one process group alone, as CI runners and test
/// harnesses do), and the console window closing is the hang-up: Windows then gives the
/// process 5 s, enough for the summary. All are listened to from `new` on.
#[cfg(windows)]
struct Signals {
    c: tokio::signal::windows::CtrlC,
    brk: tokio::signal::windows::CtrlBreak,
    close: tokio::signal::windows::CtrlClose,
}

#[cfg(windows)]
impl Signals {
    fn new() -> std::io::Result<Signals> {
        use tokio::signal::windows::{ctrl_break, ctrl_c, ctrl_close};
        Ok(Signals {
            c: ctrl_c()?,
            brk: ctrl_break()?,
            close: ctrl_close()?,
        })
    }

    async fn next(&mut self) -> Option<Signal> {
        tokio::select! {
            s = self.c.recv() => s.map(|()| Signal::Interrupt),
            s = self.brk.recv() => s.map(|()| Signal::Interrupt),
            s = self.close.recv() => s.map(|()| Signal::HangUp),
        }
    }
}
