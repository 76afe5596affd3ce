//! Building a client and its requests, and reading its answers.

use std::time::Duration;

use reqwest::header::{HeaderName, HeaderValue};

use super::error::describe_reqwest_error;
use super::proxy::Proxies;
use super::trust::Trust;

const USER_AGENT: &str = concat!("chief-upload/", env!("CARGO_PKG_VERSION"));

/// An answer body larger than this is not a valid answer, from the API or from storage.
const MAX_BODY: usize = 1 << 20;

/// How every client of the run reaches the network: whom it trusts and which proxies it
/// goes through, as `settings` decided them.
#[derive(Clone, Debug, Default)]
pub(crate) struct Network {
    pub(crate) trust: Trust,
    pub(crate) proxies: Proxies,
}

/// The settings every client of the run starts from: this user agent, no redirect followed
/// (a token or signed URL goes nowhere it was not sent), no `Referer`, `timeout` to
/// connect, connections kept alive for `pool` requests at once per host, and the
/// network's trusted roots and proxies (and no others: reqwest reads no environment
/// variable). A caller adds only what is its own (the API its credential headers and a
/// whole-request timeout).
pub(crate) fn client_builder(
    timeout: Duration,
    pool: usize,
    network: &Network,
) -> reqwest::ClientBuilder {
    let builder = reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .redirect(reqwest::redirect::Policy::none())
        .referer(false)
        // The system's resolver, whose failure the outage detector knows by its type.
        .dns_resolver(std::sync::Arc::new(super::resolve::SystemResolver))
        .connect_timeout(timeout)
        // hyper races a new connection against one coming back to the pool when none is
        // idle; room for a spare per request keeps the loser for reuse instead of
        // dropping it and paying a new TLS handshake later.
        .pool_max_idle_per_host(pool.saturating_mul(2))
        .tcp_nodelay(true);
    network.proxies.apply(network.trust.apply(builder))
}

/// One header as a peer dictated it (the API's `upload_headers`), if it is one HTTP can
/// carry. The error names the header but never shows its value, which may be a secret.
pub(crate) fn header(name: &str, value: &str) -> Result<(HeaderName, HeaderValue), String> {
    let n = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| format!("invalid header name '{}'", name.escape_debug()))?;
    let v = HeaderValue::from_str(value).map_err(|_| format!("invalid value for header {n}"))?;
    Ok((n, v))
}

/// Reads a response body, refusing more than MAX_BODY bytes.
pub(crate) async fn read_limited(mut resp: reqwest::Response) -> Result<Vec<u8>, BodyLost> {
    let mut out = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(c)) => {
                if out.len() + c.len() > MAX_BODY {
                    return Err(BodyLost {
                        reason: format!("answer larger than {} KiB", MAX_BODY / 1024),
                        timed_out: false,
                    });
                }
                out.extend_from_slice(&c);
            }
            Ok(None) => return Ok(out),
            Err(e) => {
                return Err(BodyLost {
                    reason: describe_reqwest_error(&e),
                    timed_out: e.is_timeout(),
                })
            }
        }
    }
}

/// An answer's body that could not be read whole: why, in words, and whether it was the
/// request's timeout (a timeout for admission, whatever the words).
#[derive(Debug)]
pub(crate) struct BodyLost {
    pub(crate) reason: String,
    pub(crate) timed_out: bool,
}
