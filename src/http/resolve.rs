//! Name resolution for every client: the system's resolver, with a failure of a type of
//! our own, so that "this name does not resolve" is told apart from other connection
//! failures by its type rather than by reqwest's words.
//!
//! Names under `.invalid` never resolve (RFC 6761 asks resolvers to say so at once,
//! without asking a DNS server): the tests use one for a mistyped `--api-url`, and do not
//! depend on this machine's DNS.

use std::net::{SocketAddr, ToSocketAddrs};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// A host name that does not resolve, and why.
#[derive(Debug)]
pub(crate) struct NotResolved {
    why: String,
}

impl std::fmt::Display for NotResolved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the name does not resolve ({})", self.why)
    }
}

impl std::error::Error for NotResolved {}

/// The system's resolver (getaddrinfo, on a blocking thread, as reqwest's own does).
#[derive(Debug, Default)]
pub(crate) struct SystemResolver;

impl Resolve for SystemResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            match lookup(host).await {
                Ok(addrs) => Ok(Box::new(addrs.into_iter()) as Addrs),
                // Boxed once, so that the chain of causes holds the `NotResolved` itself.
                Err(e) => Err(e.into()),
            }
        })
    }
}

async fn lookup(host: String) -> Result<Vec<SocketAddr>, NotResolved> {
    if is_invalid_tld(&host) {
        return Err(NotResolved {
            why: "an .invalid name never does".into(),
        });
    }
    let found = tokio::task::spawn_blocking(move || {
        (host.as_str(), 0).to_socket_addrs().map(Iterator::collect)
    })
    .await;
    match found {
        Ok(Ok(addrs)) => {
            let addrs: Vec<SocketAddr> = addrs;
            if addrs.is_empty() {
                Err(NotResolved {
                    why: "no address".into(),
                })
            } else {
                Ok(addrs)
            }
        }
        Ok(Err(e)) => Err(NotResolved { why: e.to_string() }),
        Err(e) => Err(NotResolved { why: e.to_string() }),
    }
}

fn is_invalid_tld(host: &str) -> bool {
    let h = host.trim_end_matches('.');
    h.eq_ignore_ascii_case("invalid")
        || h.len()
            .checked_sub(8)
            .and_then(|i| h.get(i..))
            .is_some_and(|tail| tail.eq_ignore_ascii_case(".invalid"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_names_never_resolve_and_others_go_to_the_system() {
        for h in ["chief.invalid", "API.CHIEF.INVALID.", "invalid"] {
            assert!(is_invalid_tld(h), "{h}");
        }
        for h in ["invalid.example.com", "xinvalid", "localhost", "127.0.0.1"] {
            assert!(!is_invalid_tld(h), "{h}");
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let err = rt.block_on(lookup("api.chief.invalid".into())).unwrap_err();
        assert!(err.to_string().contains("does not resolve"), "{err}");
        let ok = rt.block_on(lookup("127.0.0.1".into())).unwrap();
        assert!(ok.iter().all(|a| a.ip().is_loopback()), "{ok:?}");
    }
}
