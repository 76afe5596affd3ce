//! What a failed request means: its description (never with the URL, whose query may be
//! a secret), whether another try may mend it, when the server asks to be retried, and
//! what an error body says.

use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, RETRY_AFTER};
use serde_json::Value;

/// 408, 429 and the 5xx that mean "try again" (API.md §1).
pub(crate) fn is_transient(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
}

/// For storage, also any other 5xx but 501, which means "not supported" (a chunked body,
/// say) and would be answered again (API.md §2).
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

/// The wait an answer's `Retry-After` header asks for, if it has a valid one.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, SystemTime::now()))
}

/// `Retry-After: 120` or `Retry-After: Fri, 27 Nov 2026 10:00:00 GMT`.
fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
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
    fn transport_errors_never_show_the_url() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let err = rt
            .block_on(
                reqwest::Client::new()
                    .put(format!("http://127.0.0.1:{port}/u?signature=S3CR3TS1G"))
                    .send(),
            )
            .unwrap_err();
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
