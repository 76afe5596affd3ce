//! What the API client (`api`) and the uploader (`transfer`) share about HTTP: how a
//! client is built, which URLs may be used, how answers are read, how failures are
//! described and classified, and the one retry loop that every request goes through.
//!
//! * `client`: the client builder (user agent, timeouts, pool, no redirects, no
//!   `Referer`) and bounded body reads.
//! * `transport`: https anywhere, plain http only to loopback.
//! * `error`: failures in words without URLs, which statuses are worth another try,
//!   `Retry-After`, error bodies.
//! * `retry`: the retry policy and loop, and the home of state shared across requests.
//! * `limit`: the files in flight (`-j`, fixed or `auto`), told of every answer and
//!   pushback by the retry loop.
//! * `bandwidth`: `--bwlimit`, one pace for all upload bodies.

mod bandwidth;
mod client;
mod error;
pub(crate) mod limit;
mod retry;
mod transport;

pub(crate) use bandwidth::Bandwidth;

pub(crate) use client::{client_builder, header, read_limited};
pub(crate) use error::{
    clean, describe_reqwest_error, is_transient, is_transient_storage, parse_error_body,
    retry_after,
};
pub(crate) use retry::{Failure, Retrier, RetryPolicy};
pub(crate) use transport::check_transport;
