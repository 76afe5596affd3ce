//! How one attempt of a request failed (`Failure`), decided where the failure is made:
//! final, local, transient (with what it says about the origin's health) or fatal.

use std::time::Duration;

use super::client::BodyLost;
use super::error::{describe_reqwest_error, no_answer, Fatal, HealthSign, NoAnswer};
use crate::admission::RequestEnd;

/// How one attempt failed.
#[derive(Debug)]
pub(crate) enum Failure<E> {
    /// The origin answered, and no retry would change the answer: `E` is the answer now.
    Final(E),
    /// It failed before reaching the origin (the file could not be read): `E` is the
    /// answer now, and the origin's health is none the wiser.
    Local(E),
    /// Another try may succeed. `reason` is what the retry notice says, `error` the answer
    /// if no try is left, `retry_after` the wait the server asked for, `sign` what the
    /// failure says about the origin.
    Transient {
        error: E,
        reason: String,
        retry_after: Option<Duration>,
        sign: HealthSign,
    },
    /// No retry can mend it, and no other request would fare better: the run stops
    /// (with `error` when no origin is watched).
    Fatal { error: E, fatal: Fatal },
}

impl<E> Failure<E> {
    /// A request that got no answer: fatal (a certificate not trusted, a proxy refusing
    /// the credentials), or worth another try. `error` makes the answer from the words.
    pub(crate) fn unanswered(e: &reqwest::Error, error: impl FnOnce(String) -> E) -> Failure<E> {
        let reason = describe_reqwest_error(e);
        let sign = match no_answer(e) {
            NoAnswer::Fatal(fatal) => {
                return Failure::Fatal {
                    error: error(reason),
                    fatal,
                }
            }
            NoAnswer::Unreachable(words) => HealthSign::Unreachable(words),
            NoAnswer::Dropped(words) => HealthSign::Dropped(words),
            NoAnswer::TimedOut(words) => HealthSign::TimedOut(words),
        };
        Failure::Transient {
            error: error(reason.clone()),
            reason,
            retry_after: None,
            sign,
        }
    }

    /// No answer, or no bytes moving, for the idle timeout, in `reason`'s words.
    pub(crate) fn timed_out(error: E, reason: String) -> Failure<E> {
        Failure::Transient {
            error,
            sign: HealthSign::TimedOut(reason.clone()),
            reason,
            retry_after: None,
        }
    }

    /// How the attempt ended, for admission (`Limiter::ended`): decided by the kind of
    /// failure, never by its words.
    pub(crate) fn request_end(&self) -> RequestEnd {
        match self {
            Failure::Final(_) => RequestEnd::Answered,
            Failure::Transient { sign, .. } => match sign {
                HealthSign::Pushback | HealthSign::Busy(_) => RequestEnd::PushedBack,
                HealthSign::TimedOut(_) => RequestEnd::TimedOut,
                _ => RequestEnd::Other,
            },
            Failure::Local(_) | Failure::Fatal { .. } => RequestEnd::Other,
        }
    }

    /// An answer whose body could not be read: timed out, or dropped.
    pub(crate) fn body_lost(error: impl FnOnce(String) -> E, lost: BodyLost) -> Failure<E> {
        let e = error(lost.reason.clone());
        if lost.timed_out {
            Failure::timed_out(e, lost.reason)
        } else {
            Failure::dropped(e, lost.reason)
        }
    }

    /// A connection lost while reading an answer, in `reason`'s words.
    pub(crate) fn dropped(error: E, reason: String) -> Failure<E> {
        Failure::Transient {
            error,
            sign: HealthSign::Dropped(reason.clone()),
            reason,
            retry_after: None,
        }
    }

    /// Worth another try, for a reason that says nothing about the origin's health.
    pub(crate) fn transient(error: E, reason: impl Into<String>) -> Failure<E> {
        Failure::Transient {
            error,
            reason: reason.into(),
            retry_after: None,
            sign: HealthSign::Other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Admission hears a timeout by the failure's kind, whatever its words: rewording a
    /// message cannot change how `-j auto` reacts.
    #[test]
    fn a_timeout_is_known_by_its_kind_not_its_words() {
        let timed_out = Failure::timed_out((), "the connection stalled".into());
        assert_eq!(timed_out.request_end(), RequestEnd::TimedOut);
        let worded = Failure::dropped((), "timed out: operation timed out".into());
        assert_eq!(worded.request_end(), RequestEnd::Other);
        let pushback = Failure::Transient {
            error: (),
            reason: "HTTP 429".into(),
            retry_after: None,
            sign: HealthSign::Pushback,
        };
        assert_eq!(pushback.request_end(), RequestEnd::PushedBack);
        let busy = Failure::Transient {
            error: (),
            reason: "HTTP 503".into(),
            retry_after: Some(Duration::from_secs(1)),
            sign: HealthSign::Busy(503),
        };
        assert_eq!(busy.request_end(), RequestEnd::PushedBack);
        assert_eq!(Failure::Final(()).request_end(), RequestEnd::Answered);
        assert_eq!(Failure::Local(()).request_end(), RequestEnd::Other);
        assert_eq!(
            Failure::transient((), "busy").request_end(),
            RequestEnd::Other
        );
    }
}
