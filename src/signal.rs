//! The signals that end a run early: SIGINT (Ctrl-C), SIGTERM (CI runners, `docker stop`,
//! Kubernetes) and SIGHUP (a closed terminal).
//!
//! The first stops new work and aborts transfers; the run then ends normally, with its
//! summary, and the exit status names the signal (130, 143, 129). A second signal of any
//! of the three ends the process within a second: the ledger writes the summary it has
//! (every finished file's line is already written) and the run returns at once.

use std::time::Duration;

use crate::exit::Exit;

/// Which signal stopped the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    Interrupt,
    /// SIGTERM: nothing on Windows sends it.
    #[cfg_attr(windows, allow(dead_code))]
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

    pub fn name(self) -> &'static str {
        match self {
            Signal::Interrupt if cfg!(windows) => "interrupted (Ctrl-C)",
            Signal::HangUp if cfg!(windows) => "hang-up (console closed)",
            Signal::Interrupt => "interrupted (SIGINT)",
            Signal::Terminate => "terminated (SIGTERM)",
            Signal::HangUp => "hang-up (SIGHUP)",
        }
    }
}

/// How long the ledger has to write its summary after a second signal before the process
/// leaves regardless.
const LAST_WORDS: Duration = Duration::from_millis(900);

/// Waits for signals for the whole run: `stop` hears the first, `leave` the second (with
/// the first, whose exit status the process leaves with). Listening starts when
/// `Signals::new` is called, before this is awaited.
pub async fn listen(mut signals: Signals, stop: impl FnOnce(Signal), leave: impl FnOnce(Signal)) {
    let Some(first) = signals.next().await else {
        return;
    };
    stop(first);
    if signals.next().await.is_none() {
        return;
    }
    leave(first);
    // The ledger writes its summary and the run returns from `main` well within this.
    // This is the one `process::exit`: for a ledger stuck on a write that never ends (a
    // terminal that does not read), which nothing else can end. A second signal means
    // "now", and nothing that destructors would tidy is worth more than that. It leaves
    // with the first signal's code, in a watch too: a run that could not write its
    // summary ended no clean way.
    tokio::time::sleep(LAST_WORDS).await;
    std::process::exit(first.exit() as i32);
}

/// The signals a run listens to, from the moment it is made.
#[cfg(unix)]
pub struct Signals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl Signals {
    /// Starts listening (a signal no longer kills the process). Call it inside the
    /// runtime.
    pub fn new() -> std::io::Result<Signals> {
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
pub struct Signals {
    c: tokio::signal::windows::CtrlC,
    brk: tokio::signal::windows::CtrlBreak,
    close: tokio::signal::windows::CtrlClose,
}

#[cfg(windows)]
impl Signals {
    /// Starts listening (a console event no longer ends the process). Call it inside
    /// the runtime.
    pub fn new() -> std::io::Result<Signals> {
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
