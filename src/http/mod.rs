//! What the API client (`api`) and the uploader (`transfer`) share about HTTP: how a
//! client is built, which URLs may be used, how answers are read, how failures are
//! described and classified, and the one retry loop that every request goes through.
//!
//! * `client`: the client builder (user agent, timeouts, pool, no redirects, no
//!   `Referer`, the `Network`'s roots and proxies) and bounded body reads.
//! * `trust`: the trusted roots (built-in, replaced by `SSL_CERT_FILE`/`SSL_CERT_DIR`,
//!   plus `--ca-cert`) and the check of a PEM file's certificates.
//! * `proxy`: proxies and `NO_PROXY` as curl reads them; `ProxyUrl` hides its password.
//! * `transport`: https anywhere, plain http only to loopback.
//! * `error`: failures in words without URLs, which statuses are worth another try,
//!   `Retry-After`, error bodies.
//! * `failure`: how one attempt failed (`Failure`), typed where it is made, and what
//!   that tells admission (`RequestEnd`).
//! * `retry`: the retry policy and loop; `jitter`: randomness for spreading retries.
//! * `origin`: what the run learns about each origin (fatal failures, outages,
//!   pushback), consulted by the retry loop before and after each attempt.
//!
//! The retry loop tells `admission` (files in flight) of every answer, pushback,
//! timeout and outage.
//! * `bandwidth`: `--bwlimit`, one pace for all upload bodies.
//! * `resolve`: name resolution whose failure is known by its type.

mod bandwidth;
mod client;
mod error;
mod failure;
mod jitter;
mod origin;
mod proxy;
mod resolve;
mod retry;
mod transport;
mod trust;

pub(crate) use bandwidth::Bandwidth;
pub(crate) use client::{client_builder, header, read_limited, Network};
#[cfg(feature = "fuzzing")]
pub(crate) use error::parse_retry_after;
#[cfg(test)]
pub(crate) use error::Fatal;
pub(crate) use error::FatalKind;
pub(crate) use error::{
    clean, fatal_status, is_transient, is_transient_storage, parse_error_body, retry_after,
    HealthSign,
};
pub(crate) use failure::Failure;
pub(crate) use origin::{Origins, Role, Stop, StopKind};
pub(crate) use proxy::{shown_proxy, NoProxy, Proxies, ProxyUrl};
pub(crate) use retry::{Retrier, RetryPolicy};
pub(crate) use transport::check_transport;
pub(crate) use trust::{pem_roots, Trust};
