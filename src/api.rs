//! The Chief API client: `POST /v1/assets` (API.md §1), with retries of transient failures.
//!
//! The token travels only to the configured API origin: this client follows no redirect
//! (a 3xx is an error naming the target host) and sends no `Referer`.

use std::time::{Duration, Instant, SystemTime};

use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use reqwest::StatusCode;
use serde_json::{json, Map, Value};

use crate::event::{Event, Reporter};
use crate::retry::{parse_retry_after, parse_rfc3339, RetryPolicy};
use crate::secret::{redact_parsed, SignedUrl};
use crate::settings::{check_transport, ApiSettings};

pub const USER_AGENT: &str = concat!("chief-upload/", env!("CARGO_PKG_VERSION"));
/// An API answer larger than this is not a valid answer.
const MAX_BODY: usize = 1 << 20;

/// Why a call to the API failed. `Auth` and `Redirect` stop the whole run.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("the API refused the credentials: {}", status_text(*.status, .code.as_deref(), .message.as_deref()))]
    Auth {
        status: u16,
        code: Option<String>,
        message: Option<String>,
    },
    #[error("the API answered {}{}", status_text(*.status, .code.as_deref(), .message.as_deref()), after_attempts(*.attempts))]
    Status {
        status: u16,
        code: Option<String>,
        message: Option<String>,
        attempts: u32,
    },
    #[error("the API answered a redirect ({status}) to {target}; not following it, so the token goes nowhere else (check --api-url)")]
    Redirect { status: u16, target: String },
    #[error("cannot reach the API after {attempts} attempts: {reason}")]
    Transport { reason: String, attempts: u32 },
    #[error("unexpected answer from the API: {0}")]
    Invalid(String),
}

/// " (after 6 attempts)" when a transient failure was retried until the retries ran out.
fn after_attempts(attempts: u32) -> String {
    if attempts > 1 {
        format!(" (after {attempts} attempts)")
    } else {
        String::new()
    }
}

fn status_text(status: u16, code: Option<&str>, message: Option<&str>) -> String {
    let reason = StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    let mut s = format!("HTTP {status}");
    if !reason.is_empty() {
        s.push_str(&format!(" {reason}"));
    }
    if let Some(c) = code {
        s.push_str(&format!(" [{c}]"));
    }
    if let Some(m) = message.filter(|m| !m.is_empty()) {
        s.push_str(&format!(": {m}"));
    }
    s
}

/// Where and how to send the bytes of a new asset.
#[derive(Clone, Debug)]
pub struct UploadTarget {
    pub url: SignedUrl,
    pub method: String,
    /// To apply verbatim, in the server's order.
    pub headers: Vec<(String, String)>,
    pub expires_at: Option<SystemTime>,
}

/// The two shapes of a successful answer.
#[derive(Clone, Debug)]
pub enum Created {
    /// 201: a new asset, waiting for its bytes.
    Upload {
        asset_id: String,
        status: Option<String>,
        target: UploadTarget,
    },
    /// 200: the project already holds this content.
    Exists {
        asset_id: String,
        status: Option<String>,
    },
    /// 201 with an `upload_method` this version cannot perform (the seed says new methods,
    /// such as resumable multi-part uploads, may come); its other fields are not read.
    Unsupported {
        asset_id: String,
        status: Option<String>,
        method: String,
    },
}

pub struct ApiClient {
    http: reqwest::Client,
    endpoint: reqwest::Url,
    policy: RetryPolicy,
    reporter: Reporter,
    /// Kept only to scrub it from anything a server echoes back.
    key: crate::secret::ApiKey,
}

impl ApiClient {
    pub fn new(
        api: &ApiSettings,
        policy: RetryPolicy,
        timeout: Duration,
        jobs: usize,
        reporter: Reporter,
    ) -> anyhow::Result<ApiClient> {
        let mut headers = HeaderMap::new();
        let mut key = HeaderValue::from_str(api.key.expose())?;
        key.set_sensitive(true);
        headers.insert("x-api-key", key);
        headers.insert("x-project-id", HeaderValue::from_str(api.project.as_str())?);
        let http = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .default_headers(headers)
            .redirect(reqwest::redirect::Policy::none())
            .referer(false)
            .connect_timeout(timeout)
            .timeout(timeout)
            .pool_max_idle_per_host(jobs)
            .tcp_nodelay(true)
            .build()?;
        let base = api.base_url.as_str().trim_end_matches('/');
        let endpoint = reqwest::Url::parse(&format!("{base}/v1/assets"))?;
        Ok(ApiClient {
            http,
            endpoint,
            policy,
            reporter,
            key: api.key.clone(),
        })
    }

    /// `POST /v1/assets`, retrying transient failures.
    pub async fn create(
        &self,
        filename: &str,
        mime_type: &str,
        md5_hex: &str,
    ) -> Result<Created, ApiError> {
        let body = serde_json::to_vec(
            &json!({ "filename": filename, "mime_type": mime_type, "md5": md5_hex }),
        )
        .map_err(|e| ApiError::Invalid(e.to_string()))?;
        let target = redact_parsed(&self.endpoint);
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let started = Instant::now();
            let sent = self
                .http
                .post(self.endpoint.clone())
                .header(CONTENT_TYPE, "application/json")
                .body(body.clone())
                .send()
                .await;
            let (retry_reason, retry_after) = match sent {
                Err(e) => {
                    self.log(&target, None, started, attempt);
                    (describe_reqwest_error(&e), None)
                }
                Ok(resp) => {
                    let status = resp.status();
                    self.log(&target, Some(status.as_u16()), started, attempt);
                    let retry_after = resp
                        .headers()
                        .get(RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| parse_retry_after(v, SystemTime::now()));
                    if status.is_redirection() {
                        let target = resp
                            .headers()
                            .get(reqwest::header::LOCATION)
                            .and_then(|l| l.to_str().ok())
                            .map(|l| match self.endpoint.join(l) {
                                Ok(u) => match (u.host_str(), u.port()) {
                                    (Some(h), Some(p)) => format!("{h}:{p}"),
                                    (Some(h), None) => h.to_string(),
                                    (None, _) => "?".into(),
                                },
                                Err(_) => "an invalid location".into(),
                            })
                            .unwrap_or_else(|| "no location".into());
                        return Err(ApiError::Redirect {
                            status: status.as_u16(),
                            target,
                        });
                    }
                    let body = match read_limited(resp).await {
                        Ok(b) => b,
                        Err(e) => {
                            if attempt <= self.policy.retries {
                                self.retry_later(attempt, None, &e).await;
                                continue;
                            }
                            return Err(ApiError::Transport {
                                reason: e,
                                attempts: attempt,
                            });
                        }
                    };
                    if status.is_success() {
                        return parse_created(status.as_u16(), &body);
                    }
                    let (code, message) = parse_error_body(&body);
                    let scrub = |t: Option<String>| {
                        t.map(|t| crate::secret::scrub(&t, &[self.key.expose()]))
                    };
                    let (code, message) = (scrub(code), scrub(message));
                    let s = status.as_u16();
                    if s == 401 || s == 403 {
                        return Err(ApiError::Auth {
                            status: s,
                            code,
                            message,
                        });
                    }
                    if !is_transient(s) || attempt > self.policy.retries {
                        return Err(ApiError::Status {
                            status: s,
                            code,
                            message,
                            attempts: attempt,
                        });
                    }
                    (
                        status_text(s, code.as_deref(), message.as_deref()),
                        retry_after,
                    )
                }
            };
            if attempt > self.policy.retries {
                return Err(ApiError::Transport {
                    reason: retry_reason,
                    attempts: attempt,
                });
            }
            self.retry_later(attempt, retry_after, &retry_reason).await;
        }
    }

    async fn retry_later(&self, attempt: u32, retry_after: Option<Duration>, reason: &str) {
        let delay = self.policy.delay(attempt, retry_after);
        self.reporter.emit(Event::Retry {
            what: "POST /v1/assets".into(),
            attempt,
            delay,
            reason: reason.to_string(),
        });
        tokio::time::sleep(delay).await;
    }

    fn log(&self, target: &str, status: Option<u16>, started: Instant, attempt: u32) {
        self.reporter.emit(Event::Request {
            method: "POST".into(),
            target: target.to_string(),
            status,
            elapsed: started.elapsed(),
            attempt,
        });
    }
}

/// 408, 429 and the 5xx that mean "try again" (API.md).
pub fn is_transient(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
}

/// Reads a response body, refusing more than MAX_BODY bytes.
pub async fn read_limited(mut resp: reqwest::Response) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(c)) => {
                if out.len() + c.len() > MAX_BODY {
                    return Err(format!("answer larger than {} KiB", MAX_BODY / 1024));
                }
                out.extend_from_slice(&c);
            }
            Ok(None) => return Ok(out),
            Err(e) => return Err(describe_reqwest_error(&e)),
        }
    }
}

/// A reqwest error in words, without the URL (a signed URL's query is a secret) but with
/// the underlying cause ("connection refused", "operation timed out").
pub fn describe_reqwest_error(e: &reqwest::Error) -> String {
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

/// `{"code","message"}` or `{"error":{"code","message"}}`; otherwise the start of the body.
pub fn parse_error_body(body: &[u8]) -> (Option<String>, Option<String>) {
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
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_string()
}

pub fn is_asset_id(s: &str) -> bool {
    s.strip_prefix("asset_").is_some_and(|r| {
        r.len() == 20
            && r.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    })
}

/// Reads a 2xx answer. Unknown fields and unknown `status` values are accepted; missing or
/// mistyped required fields are not.
pub fn parse_created(http_status: u16, body: &[u8]) -> Result<Created, ApiError> {
    let bad = |m: String| Err(ApiError::Invalid(format!("{m} (HTTP {http_status})")));
    let v: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return bad(format!("the body is not JSON ({e})")),
    };
    let Some(o) = v.as_object() else {
        return bad("the body is not a JSON object".into());
    };
    let asset_id = match o.get("asset_id") {
        Some(Value::String(s)) if is_asset_id(s) => s.clone(),
        Some(Value::String(s)) => {
            return bad(format!(
                "asset_id '{}' is not asset_ followed by 20 letters or digits",
                clean(s).chars().take(60).collect::<String>()
            ))
        }
        Some(_) => return bad("asset_id is not a string".into()),
        None => return bad("asset_id is missing".into()),
    };
    let already_exists = match o.get("already_exists") {
        Some(Value::Bool(b)) => *b,
        Some(_) => return bad("already_exists is not a boolean".into()),
        None => return bad("already_exists is missing".into()),
    };
    let status = match o.get("status") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(clean(s)),
        Some(_) => return bad("status is not a string".into()),
    };
    if already_exists {
        return Ok(Created::Exists { asset_id, status });
    }
    // The method first: a future method may come with fields of its own instead of a URL.
    let method = match o.get("upload_method") {
        Some(Value::String(s)) if !s.is_empty() => clean(s),
        Some(_) => return bad("upload_method is not a string".into()),
        None => return bad("upload_method is missing from a new upload".into()),
    };
    if !method.eq_ignore_ascii_case("PUT") {
        return Ok(Created::Unsupported {
            asset_id,
            status,
            method,
        });
    }
    let url = match o.get("upload_url") {
        Some(Value::String(s)) => match reqwest::Url::parse(s) {
            Ok(u) => u,
            Err(_) => return bad("upload_url is not a valid URL".into()),
        },
        Some(_) => return bad("upload_url is not a string".into()),
        None => return bad("upload_url is missing from a new upload".into()),
    };
    if let Err(why) = check_transport(&url) {
        return bad(format!(
            "upload_url {} is refused: {why}",
            redact_parsed(&url)
        ));
    }
    let headers = match o.get("upload_headers") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(h)) => string_pairs(h).map_err(|k| {
            ApiError::Invalid(format!(
                "upload_headers.{k} is not a string (HTTP {http_status})"
            ))
        })?,
        Some(_) => return bad("upload_headers is not an object".into()),
    };
    let expires_at = match o.get("expires_at") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => match parse_rfc3339(s) {
            Some(t) => Some(t),
            None => {
                return bad(format!(
                    "expires_at '{}' is not an RFC 3339 date-time",
                    clean(s).chars().take(40).collect::<String>()
                ))
            }
        },
        Some(_) => return bad("expires_at is not a string".into()),
    };
    Ok(Created::Upload {
        asset_id,
        status,
        target: UploadTarget {
            url: SignedUrl::new(url),
            method,
            headers,
            expires_at,
        },
    })
}

fn string_pairs(h: &Map<String, Value>) -> Result<Vec<(String, String)>, String> {
    h.iter()
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k.clone(), s.clone())),
            _ => Err(clean(k)),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "asset_0123456789abcdefghij";

    #[test]
    fn both_shapes_with_extras_and_unknown_status() {
        let hit = format!(
            r#"{{"asset_id":"{ID}","already_exists":true,"status":"archived","new_field":[1]}}"#
        );
        match parse_created(200, hit.as_bytes()).unwrap() {
            Created::Exists { asset_id, status } => assert_eq!(
                (asset_id.as_str(), status.as_deref()),
                (ID, Some("archived"))
            ),
            other => panic!("{other:?}"),
        }
        let new = format!(
            r#"{{"asset_id":"{ID}","already_exists":false,"status":"uploaded","upload_url":"https://s.example.com/b/k?sig=SECRET","upload_method":"PUT","upload_headers":{{"Content-Type":"image/png","X-Meta":"a"}},"expires_at":"2026-11-27T10:15:00Z","extra":{{}}}}"#
        );
        match parse_created(201, new.as_bytes()).unwrap() {
            Created::Upload { target, .. } => {
                assert_eq!(target.method, "PUT");
                assert_eq!(
                    target.headers,
                    vec![
                        ("Content-Type".into(), "image/png".into()),
                        ("X-Meta".into(), "a".into())
                    ]
                );
                assert!(target.expires_at.is_some());
                assert!(!format!("{target:?}").contains("SECRET"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_future_upload_method_needs_no_url_to_be_reported() {
        let body = format!(
            r#"{{"asset_id":"{ID}","already_exists":false,"status":"uploaded","upload_method":"RESUMABLE","parts":[{{"n":1}}]}}"#
        );
        match parse_created(201, body.as_bytes()).unwrap() {
            Created::Unsupported {
                method, asset_id, ..
            } => {
                assert_eq!((method.as_str(), asset_id.as_str()), ("RESUMABLE", ID))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn malformed_answers_are_clear_errors() {
        for (body, want) in [
            ("not json", "not JSON"),
            ("[]", "not a JSON object"),
            (r#"{"already_exists":true}"#, "asset_id is missing"),
            (
                r#"{"asset_id":"asset_x","already_exists":true}"#,
                "asset_id 'asset_x'",
            ),
            (r#"{"asset_id":7,"already_exists":true}"#, "not a string"),
            (
                &format!(r#"{{"asset_id":"{ID}","already_exists":"yes"}}"#),
                "not a boolean",
            ),
            (
                &format!(r#"{{"asset_id":"{ID}","already_exists":false}}"#),
                "upload_method is missing",
            ),
            (
                &format!(r#"{{"asset_id":"{ID}","already_exists":false,"upload_method":"PUT"}}"#),
                "upload_url is missing",
            ),
            (
                &format!(
                    r#"{{"asset_id":"{ID}","already_exists":false,"upload_url":"http://evil.example/x?sig=S3CR3T","upload_method":"PUT"}}"#
                ),
                "plain http",
            ),
            (
                &format!(
                    r#"{{"asset_id":"{ID}","already_exists":false,"upload_url":"https://x/y","upload_method":"PUT","upload_headers":{{"a":1}}}}"#
                ),
                "upload_headers.a",
            ),
            (
                &format!(
                    r#"{{"asset_id":"{ID}","already_exists":false,"upload_url":"https://x/y","upload_method":"PUT","expires_at":"tomorrow"}}"#
                ),
                "expires_at 'tomorrow'",
            ),
        ] {
            let err = parse_created(201, body.as_bytes()).unwrap_err().to_string();
            assert!(err.contains(want), "{body}: {err}");
            assert!(!err.contains("S3CR3T"), "{err}");
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
    fn plain_http_upload_urls_only_to_loopback() {
        let answer = |url: &str| {
            format!(
                r#"{{"asset_id":"{ID}","already_exists":false,"upload_url":"{url}","upload_method":"PUT"}}"#
            )
        };
        for ok in [
            "https://s.example.com/k?sig=1",
            "http://127.0.0.1:9/k",
            "http://localhost:9/k",
            "http://[::1]:9/k",
        ] {
            assert!(parse_created(201, answer(ok).as_bytes()).is_ok(), "{ok}");
        }
        for bad in [
            "http://s.example.com/k?sig=S3CR3T",
            "http://192.168.1.10/k?sig=S3CR3T",
            "http://localhost.example.com/k?sig=S3CR3T",
            "ftp://s.example.com/k?sig=S3CR3T",
        ] {
            let err = parse_created(201, answer(bad).as_bytes())
                .unwrap_err()
                .to_string();
            assert!(err.contains("is refused"), "{bad}: {err}");
            assert!(!err.contains("S3CR3T"), "{err}");
        }
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

    #[test]
    fn parsing_never_panics_on_mangled_answers() {
        let good = format!(
            r#"{{"asset_id":"{ID}","already_exists":false,"status":"uploaded","upload_url":"https://s.example.com/k?sig=1","upload_method":"PUT","upload_headers":{{"Content-Type":"a/b"}},"expires_at":"2026-11-27T10:15:00Z"}}"#
        );
        let bytes = good.as_bytes();
        for i in 0..bytes.len() {
            let _ = parse_created(201, &bytes[..i]);
            for b in [b'"', b'{', b'}', b'0', b'x', 0xff, b'\\', b':'] {
                let mut m = bytes.to_vec();
                m[i] = b;
                let _ = parse_created(201, &m);
                let _ = parse_error_body(&m);
            }
        }
    }
}
