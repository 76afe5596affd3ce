//! What a failed request means: its description (never with the URL, whose query may be
//! a secret), whether another try may mend it, when the server asks to be retried, and
//! what an error body says.

use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, RETRY_AFTER};
use serde_json::Value;

/// 408, 429 and the 5xx that mean "try again" (`docs/api.md#status-handling`).
pub(crate) fn is_transient(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
}

/// For storage, also any other 5xx but 501, which means "not supported" (a chunked body,
/// say) and would be answered again (`docs/api.md#upload-answers`).
pub(crate) fn is_transient_storage(status: u16) -> bool {
    is_transient(status) || (status >= 500 && status != 501)
}

/// A reqwest error in words, without the URL (a signed URL's query is a secret) but with
/// the underlying cause ("connection refused", "operation timed out").
pub(crate) fn describe_reqwest_error(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_request() {
        "connection error"
    } else if e.is_decode() {
        "could not read the answer"
    } else {
        "request failed"
    };
    // The innermost cause says what happened ("Connection refused"); the outer layers
    // only repeat it, and reqwest's own text would print the URL.
    let mut inner = None;
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        let text = s.to_string();
        if !text.is_empty() && !text.contains("://") {
            inner = Some(text);
        }
        src = s.source();
    }
    match inner {
        Some(t) => {
            let t = t
                .find(" (os error")
                .map(|i| t[..i].to_string())
                .unwrap_or(t);
            format!("{kind}: {t}")
        }
        None => kind.to_string(),
    }
}

/// What a request that got no answer says about the network, read from the error's chain
/// of causes by type (reqwest's own words would print the URL).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum NoAnswer {
    /// No retry can mend it: a certificate that is not trusted, or a proxy that refuses
    /// the credentials.
    Fatal(Fatal),
    /// Nothing listens there, or the name does not resolve: a mistyped address if the
    /// origin has never answered, else a sign that it is down.
    Unreachable(String),
    /// The connection failed or was dropped.
    Dropped(String),
    /// No answer within the timeout.
    TimedOut(String),
}

/// A failure that no retry mends, whatever the request: it stops the run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Fatal {
    pub(crate) kind: FatalKind,
    /// What went wrong, in words without a URL.
    pub(crate) reason: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FatalKind {
    /// The peer's certificate is not trusted (unknown issuer, expired, another name).
    Certificate,
    /// The proxy answered 407: it wants other credentials.
    ProxyAuth,
    /// Nothing answers at the API's address (refused, or the name does not resolve).
    Unreachable,
}

/// Sorts a failed request by its chain of causes.
pub(crate) fn no_answer(e: &reqwest::Error) -> NoAnswer {
    let described = describe_reqwest_error(e);
    let mut src: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = src {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::ConnectionRefused {
                return NoAnswer::Unreachable("connection refused".into());
            }
        }
        // tokio-rustls reports a TLS failure as an io::Error around rustls's own.
        if let Some(rustls::Error::InvalidCertificate(why)) = s.downcast_ref::<rustls::Error>() {
            return NoAnswer::Fatal(Fatal {
                kind: FatalKind::Certificate,
                reason: format!("the certificate is not trusted: {}", certificate_words(why)),
            });
        }
        if let Some(nx) = s.downcast_ref::<super::resolve::NotResolved>() {
            return NoAnswer::Unreachable(nx.to_string());
        }
        if is_proxy_auth_refusal(s) {
            return NoAnswer::Fatal(Fatal {
                kind: FatalKind::ProxyAuth,
                reason:
                    "the proxy refused the credentials (HTTP 407 Proxy Authentication Required)"
                        .into(),
            });
        }
        src = cause(s);
    }
    if e.is_timeout() {
        NoAnswer::TimedOut(described)
    } else {
        NoAnswer::Dropped(described)
    }
}

/// The next cause down the chain. An io::Error's `source` skips the error it wraps (it
/// gives that error's own source), so it is opened here instead.
fn cause<'a>(
    e: &'a (dyn std::error::Error + 'static),
) -> Option<&'a (dyn std::error::Error + 'static)> {
    if let Some(inner) = e
        .downcast_ref::<std::io::Error>()
        .and_then(|io| io.get_ref())
    {
        return Some(inner);
    }
    e.source()
}

/// A refused CONNECT. hyper-util, which makes reqwest's tunnels, reports a 407 with an
/// error type of its own that it does not export, so only its words tell it apart; the
/// test `a_proxy_refusing_the_credentials_is_fatal` fails if they change.
fn is_proxy_auth_refusal(e: &(dyn std::error::Error + 'static)) -> bool {
    e.to_string().ends_with("proxy authorization required")
}

fn certificate_words(e: &rustls::CertificateError) -> String {
    use rustls::CertificateError as C;
    match e {
        C::UnknownIssuer => "it is signed by an unknown authority".into(),
        C::Expired | C::ExpiredContext { .. } => {
            "it has expired (or the computer's clock is wrong)".into()
        }
        C::NotValidYet | C::NotValidYetContext { .. } => {
            "it is not valid yet (or the computer's clock is wrong)".into()
        }
        C::NotValidForName | C::NotValidForNameContext { .. } => "it is for another name".into(),
        C::Revoked => "it has been revoked".into(),
        C::BadSignature => "its signature is invalid".into(),
        other => format!("{other:?}"),
    }
}

/// A status that no retry mends and that says nothing about the file: a 407 from a
/// proxy forwarding plain http.
pub(crate) fn fatal_status(status: u16) -> Option<Fatal> {
    (status == 407).then(|| Fatal {
        kind: FatalKind::ProxyAuth,
        reason: "the proxy refused the credentials (HTTP 407 Proxy Authentication Required)".into(),
    })
}

/// What a transient failure says about its origin's health, for the outage detector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum HealthSign {
    /// A 5xx other than 501: the origin is there, but failing.
    ServerError(u16),
    /// 503 with `Retry-After`: failing, and saying when to come back (also pushback).
    Busy(u16),
    /// 429: the origin is fine but wants fewer requests.
    Pushback,
    /// No answer (see `NoAnswer`), in words.
    Dropped(String),
    /// No answer, or no bytes moving, within the timeout, in words.
    TimedOut(String),
    /// Nothing listens, or the name does not resolve, in words.
    Unreachable(String),
    /// Worth another try, but says nothing about the origin (a 408).
    Other,
}

impl HealthSign {
    /// The sign of a transient status.
    pub(crate) fn of_status(status: u16, retry_after: Option<Duration>) -> HealthSign {
        match status {
            429 => HealthSign::Pushback,
            503 if retry_after.is_some() => HealthSign::Busy(status),
            501 => HealthSign::Other,
            s if s >= 500 => HealthSign::ServerError(s),
            _ => HealthSign::Other,
        }
    }

    /// A few words for the outage notice: "HTTP 503", "connection refused".
    pub(crate) fn short(&self) -> String {
        match self {
            HealthSign::ServerError(s) | HealthSign::Busy(s) => format!("HTTP {s}"),
            HealthSign::Pushback => "HTTP 429".into(),
            HealthSign::Dropped(w) | HealthSign::TimedOut(w) | HealthSign::Unreachable(w) => {
                w.clone()
            }
            HealthSign::Other => "failing".into(),
        }
    }
}

/// The wait an answer's `Retry-After` header asks for, if it has a valid one.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, SystemTime::now()))
}

/// `Retry-After: 120` or `Retry-After: Fri, 27 Nov 2026 10:00:00 GMT`.
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

/// `{"code","message"}` or `{"error":{"code","message"}}`; otherwise the start of the body.
pub(crate) fn parse_error_body(body: &[u8]) -> (Option<String>, Option<String>) {
    if let Ok(Value::Object(o)) = serde_json::from_slice::<Value>(body) {
        let inner = match o.get("error") {
            Some(Value::Object(e)) => e,
            _ => &o,
        };
        let s = |k: &str| inner.get(k).and_then(Value::as_str).map(clean);
        let (code, message) = (s("code"), s("message"));
        if code.is_some() || message.is_some() {
            return (code, message);
        }
    }
    let text = String::from_utf8_lossy(body);
    let snippet: String = text.chars().take(200).collect();
    let snippet = clean(&snippet);
    (None, (!snippet.is_empty()).then_some(snippet))
}

/// One line of printable text: a server's words must not move the cursor or add lines.
pub(crate) fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    /// The error of a request to a port nobody listens on (the listener is gone).
    fn refused(path: &str) -> reqwest::Error {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(
            reqwest::Client::new()
                .put(format!("http://127.0.0.1:{port}{path}"))
                .send(),
        )
        .unwrap_err()
    }

    #[test]
    fn retry_after_forms() {
        let now = UNIX_EPOCH + Duration::from_secs(1_795_774_500);
        assert_eq!(parse_retry_after("3", now), Some(Duration::from_secs(3)));
        assert_eq!(
            parse_retry_after("Fri, 27 Nov 2026 10:15:07 GMT", now),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            parse_retry_after("Fri, 27 Nov 2026 10:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn which_statuses_are_worth_another_try() {
        for s in [408, 429, 500, 502, 503, 504] {
            assert!(is_transient(s) && is_transient_storage(s), "{s}");
        }
        for s in [400, 401, 403, 404, 409, 501, 505] {
            assert!(!is_transient(s), "{s}");
        }
        assert!(is_transient_storage(505) && is_transient_storage(599));
        for s in [400, 403, 404, 501] {
            assert!(!is_transient_storage(s), "{s}");
        }
    }

    #[test]
    fn error_bodies() {
        assert_eq!(
            parse_error_body(
                br#"{"code":"publicapi.tenancy.project.missing","message":"bad project"}"#
            ),
            (
                Some("publicapi.tenancy.project.missing".into()),
                Some("bad project".into())
            )
        );
        assert_eq!(
            parse_error_body(br#"{"error":{"code":"x","message":"y"}}"#),
            (Some("x".into()), Some("y".into()))
        );
        let long = "e".repeat(500);
        let (c, m) = parse_error_body(long.as_bytes());
        assert_eq!((c, m.map(|m| m.len())), (None, Some(200)));
        assert_eq!(
            parse_error_body(b"line1\n\x1b[2Jline2").1.as_deref(),
            Some("line1  [2Jline2")
        );
    }

    #[test]
    fn a_refused_connection_is_known_by_its_kind() {
        let err = refused("/");
        assert_eq!(
            no_answer(&err),
            NoAnswer::Unreachable("connection refused".into())
        );
    }

    /// A TLS listener on loopback with a self-signed certificate nobody trusts.
    async fn untrusted_listener() -> u16 {
        use tokio_rustls::rustls;
        let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(
            rustls::pki_types::PrivatePkcs8KeyDer::from(cert.signing_key.serialize_der()),
        );
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert.cert.der().clone()], key)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let _ = acceptor.accept(tcp).await;
            }
        });
        port
    }

    #[test]
    fn an_untrusted_certificate_is_fatal() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let err = rt
            .block_on(async {
                let port = untrusted_listener().await;
                reqwest::Client::new()
                    .get(format!("https://127.0.0.1:{port}/"))
                    .send()
                    .await
            })
            .unwrap_err();
        let mut chain = vec![];
        let mut src: Option<&(dyn std::error::Error + 'static)> = Some(&err);
        while let Some(s) = src {
            chain.push(format!("{s:?}"));
            src = s.source();
        }
        match no_answer(&err) {
            NoAnswer::Fatal(f) => {
                assert_eq!(f.kind, FatalKind::Certificate);
                assert!(f.reason.contains("unknown authority"), "{}", f.reason);
            }
            other => panic!("{other:?}: {chain:#?}"),
        }
    }

    #[test]
    fn signs_of_statuses() {
        let ra = Some(Duration::from_secs(1));
        assert_eq!(HealthSign::of_status(429, ra), HealthSign::Pushback);
        assert_eq!(HealthSign::of_status(503, ra), HealthSign::Busy(503));
        assert_eq!(
            HealthSign::of_status(503, None),
            HealthSign::ServerError(503)
        );
        assert_eq!(HealthSign::of_status(502, ra), HealthSign::ServerError(502));
        assert_eq!(HealthSign::of_status(501, None), HealthSign::Other);
        assert_eq!(HealthSign::of_status(408, None), HealthSign::Other);
        assert_eq!(
            fatal_status(407).map(|f| f.kind),
            Some(FatalKind::ProxyAuth)
        );
        assert_eq!(fatal_status(403), None);
    }

    #[test]
    fn transport_errors_never_show_the_url() {
        let err = refused("/u?signature=S3CR3TS1G");
        assert!(
            err.to_string().contains("S3CR3TS1G"),
            "reqwest itself would leak it"
        );
        let shown = describe_reqwest_error(&err);
        assert!(shown.starts_with("connection failed"), "{shown}");
        assert!(
            !shown.contains("S3CR3TS1G") && !shown.contains("://"),
            "{shown}"
        );
    }
}
