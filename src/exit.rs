//! Exit codes (`docs/interface.md#exit-status`) and the errors that end a run before or
//! instead of its files.

use std::process::ExitCode;

/// The process exit status, in one place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Every file was uploaded or already present.
    Success = 0,
    /// At least one file failed; all others were attempted.
    Failures = 1,
    /// Usage or configuration error, or the API refused the credentials.
    Usage = 2,
    /// Ctrl-C (SIGINT).
    Interrupted = 130,
    /// SIGTERM, as CI runners, `docker stop` and Kubernetes send.
    Terminated = 143,
    /// SIGHUP.
    HangUp = 129,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e as u8)
    }
}

/// An error that stops the run with exit status 2: what is wrong, and how to fix it.
/// The message quotes the offending value, never a secret.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct UsageError {
    pub message: String,
    pub hints: Vec<String>,
}

impl UsageError {
    pub fn new(message: impl Into<String>) -> UsageError {
        UsageError {
            message: message.into(),
            hints: Vec::new(),
        }
    }
    pub fn hint(mut self, hint: impl Into<String>) -> UsageError {
        self.hints.push(hint.into());
        self
    }
}

/// Picks the exit status for an error that ended the run.
pub fn exit_for(err: &anyhow::Error) -> Exit {
    if err.downcast_ref::<UsageError>().is_some() {
        Exit::Usage
    } else {
        Exit::Failures
    }
}
