//! The Chief API client: `POST /v1/assets` (`docs/api.md#create`), with retries of
//! transient failures.
//!
//! The token travels only to the configured API origin: this client follows no redirect
//! (a 3xx is an error naming the target host) and sends no `Referer`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE, LOCATION};
use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};

use crate::admission::Limiter;
use crate::event::{Event, Reporter};
use crate::http::{
    self, check_transport, clean, is_transient, parse_error_body, read_limited, Failure,
    HealthSign, Origins, Retrier, RetryPolicy, Role, Stop,
};
use crate::secret::{redact_parsed, ApiKey, SignedUrl};
use crate::settings::ApiSettings;

/// Why a call to the API failed. `Auth`, `Redirect` and `Stopped` stop the whole run.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
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
    /// A failure no retry mends, or an outage longer than `--max-outage`.
    #[error("{0}")]
    Stopped(Stop),
}

impl From<Stop> for ApiError {
    fn from(stop: Stop) -> ApiError {
        ApiError::Stopped(stop)
    }
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
pub(crate) struct UploadTarget {
    pub(crate) url: SignedUrl,
    /// The method the API named; only methods this version performs get this far.
    pub(crate) method: Method,
    /// To apply verbatim; each is a valid header name and value.
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) expires_at: Option<SystemTime>,
}

/// The two shapes of a successful answer.
#[derive(Clone, Debug)]
pub(crate) enum Created {
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
    /// 201 with an `upload_method` this version cannot perform (the API reference says new
    /// methods, such as resumable multi-part uploads, may come:
    /// `docs/api.md#forward-compatibility`); its other fields are not read.
    Unsupported {
        asset_id: String,
        status: Option<String>,
        method: String,
    },
}

pub(crate) struct ApiClient {
    http: reqwest::Client,
    endpoint: reqwest::Url,
    retrier: Retrier,
    reporter: Reporter,
    /// Kept only to scrub it from anything a server echoes back.
    key: ApiKey,
}

/// The body of `POST /v1/assets`.
#[derive(Serialize)]
struct CreateRequest<'a> {
    filename: &'a str,
    md5: &'a str,
    mime_type: &'a str,
}

impl ApiClient {
    pub(crate) fn new(
        api: &ApiSettings,
        policy: RetryPolicy,
        timeout: Duration,
        limiter: Arc<Limiter>,
        origins: Arc<Origins>,
        reporter: Reporter,
    ) -> anyhow::Result<ApiClient> {
        let mut headers = HeaderMap::new();
        let mut key = HeaderValue::from_str(api.key.expose())?;
        key.set_sensitive(true);
        headers.insert("x-api-key", key);
        headers.insert("x-project-id", HeaderValue::from_str(api.project.as_str())?);
        let http = http::client_builder(timeout, limiter.max(), &api.network)
            .default_headers(headers)
            .timeout(timeout)
            .build()?;
        let base = api.base_url.as_str().trim_end_matches('/');
        let endpoint = reqwest::Url::parse(&format!("{base}/v1/assets"))?;
        Ok(ApiClient {
            http,
            endpoint,
            retrier: Retrier::new(policy, reporter.clone())
                .gated(origins, Role::Api)
                .limited(limiter),
            reporter,
            key: api.key.clone(),
        })
    }

    /// `POST /v1/assets`, retrying transient failures.
    pub(crate) async fn create(
        &self,
        filename: &str,
        mime_type: &str,
        md5_hex: &str,
    ) -> Result<Created, ApiError> {
        let body = serde_json::to_vec(&CreateRequest {
            filename,
            md5: md5_hex,
            mime_type,
        })
        .map_err(|e| ApiError::Invalid(e.to_string()))?;
        let body = Bytes::from(body);
        let target = redact_parsed(&self.endpoint);
        self.retrier
            .run_at(
                &self.endpoint,
                || "POST /v1/assets".to_string(),
                |attempt| self.attempt(&body, &target, attempt),
            )
            .await
    }

    /// One `POST`: its answer, or how it failed.
    async fn attempt(
        &self,
        body: &Bytes,
        target: &str,
        attempt: u32,
    ) -> Result<Created, Failure<ApiError>> {
        let unreachable = |reason: String| ApiError::Transport {
            reason,
            attempts: attempt,
        };
        let started = Instant::now();
        let sent = self
            .http
            .post(self.endpoint.clone())
            .header(CONTENT_TYPE, "application/json")
            .body(body.clone())
            .send()
            .await;
        let resp = match sent {
            Ok(resp) => resp,
            Err(e) => {
                self.log(target, None, started, attempt);
                return Err(Failure::unanswered(&e, unreachable));
            }
        };
        let status = resp.status();
        self.log(target, Some(status.as_u16()), started, attempt);
        if status.is_redirection() {
            return Err(Failure::Final(ApiError::Redirect {
                status: status.as_u16(),
                target: redirect_target(&self.endpoint, resp.headers()),
            }));
        }
        let retry_after = http::retry_after(resp.headers());
        let body = read_limited(resp)
            .await
            .map_err(|lost| Failure::body_lost(unreachable, lost))?;
        answer(status.as_u16(), retry_after, &body, &self.key, attempt)
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

/// Where a redirect points, as host and port only.
fn redirect_target(endpoint: &reqwest::Url, headers: &HeaderMap) -> String {
    headers
        .get(LOCATION)
        .and_then(|l| l.to_str().ok())
        .map(|l| match endpoint.join(l) {
            Ok(u) => match (u.host_str(), u.port()) {
                (Some(h), Some(p)) => format!("{h}:{p}"),
                (Some(h), None) => h.to_string(),
                (None, _) => "?".into(),
            },
            Err(_) => "an invalid location".into(),
        })
        .unwrap_or_else(|| "no location".into())
}

/// What an answer means, from its status and body: the typed answer (a 2xx), or how the
/// attempt failed (refused credentials, a status no retry mends, a fatal one, or a
/// transient one with the wait `Retry-After` asked for); `attempt` counts from 1. Any
/// text the server sends back is scrubbed of the token.
// The type `attempt` hands the retry loop, as it was: a large error is one per request.
#[allow(clippy::result_large_err)]
pub(crate) fn answer(
    status: u16,
    retry_after: Option<Duration>,
    body: &[u8],
    key: &ApiKey,
    attempt: u32,
) -> Result<Created, Failure<ApiError>> {
    if (200..300).contains(&status) {
        // A malformed answer is quoted (an asset id, an upload URL): never the token a
        // server echoes there.
        return parse_created(status, body).map_err(|e| {
            Failure::Final(match e {
                ApiError::Invalid(m) => {
                    ApiError::Invalid(crate::secret::scrub(&m, &[key.expose()]))
                }
                other => other,
            })
        });
    }
    let (code, message) = parse_error_body(body);
    let scrub = |t: Option<String>| t.map(|t| crate::secret::scrub(&t, &[key.expose()]));
    let (code, message) = (scrub(code), scrub(message));
    let s = status;
    if let Some(fatal) = http::fatal_status(s) {
        let error = ApiError::Status {
            status: s,
            code,
            message,
            attempts: attempt,
        };
        return Err(Failure::Fatal { error, fatal });
    }
    if s == 401 || s == 403 {
        return Err(Failure::Final(ApiError::Auth {
            status: s,
            code,
            message,
        }));
    }
    let reason = status_text(s, code.as_deref(), message.as_deref());
    let error = ApiError::Status {
        status: s,
        code,
        message,
        attempts: attempt,
    };
    if !is_transient(s) {
        return Err(Failure::Final(error));
    }
    Err(Failure::Transient {
        error,
        reason,
        retry_after,
        sign: HealthSign::of_status(s, retry_after),
    })
}

/// What every 2xx answer carries. Unknown fields are ignored, and any `status` is taken.
#[derive(Deserialize)]
struct Answer {
    asset_id: String,
    already_exists: bool,
    status: Option<String>,
    upload_method: Option<String>,
}

/// The fields of a new `PUT` upload, read only once the method is known: another method
/// may shape them differently.
#[derive(Deserialize)]
struct PutAnswer {
    upload_url: Option<String>,
    upload_headers: Option<BTreeMap<String, String>>,
    expires_at: Option<String>,
}

/// Reads a 2xx answer. Unknown fields and unknown `status` values are accepted; missing or
/// mistyped required fields are not.
pub(crate) fn parse_created(http_status: u16, body: &[u8]) -> Result<Created, ApiError> {
    let bad = |m: String| ApiError::Invalid(format!("{m} (HTTP {http_status})"));
    let answer: Answer = decode(body).map_err(bad)?;
    if !is_asset_id(&answer.asset_id) {
        return Err(bad(format!(
            "asset_id '{}' is not asset_ followed by 20 letters or digits",
            clean(&answer.asset_id).chars().take(60).collect::<String>()
        )));
    }
    let asset_id = answer.asset_id;
    let status = answer.status.as_deref().map(clean);
    if answer.already_exists {
        return Ok(Created::Exists { asset_id, status });
    }
    // The method first: a future method may come with fields of its own instead of a URL.
    let method = match answer.upload_method.as_deref().map(clean) {
        Some(m) if !m.is_empty() => m,
        Some(_) => return Err(bad("upload_method is empty".into())),
        None => return Err(bad("upload_method is missing from a new upload".into())),
    };
    if !method.eq_ignore_ascii_case("PUT") {
        return Ok(Created::Unsupported {
            asset_id,
            status,
            method,
        });
    }
    let target = decode(body).and_then(put_target).map_err(bad)?;
    Ok(Created::Upload {
        asset_id,
        status,
        target,
    })
}

/// Checks the fields of a `PUT` upload.
fn put_target(answer: PutAnswer) -> Result<UploadTarget, String> {
    let url = answer
        .upload_url
        .ok_or("upload_url is missing from a new upload")?;
    let url = reqwest::Url::parse(&url).map_err(|_| "upload_url is not a valid URL")?;
    check_transport(&url)
        .map_err(|why| format!("upload_url {} is refused: {why}", redact_parsed(&url)))?;
    let headers = answer.upload_headers.unwrap_or_default();
    for (name, value) in &headers {
        http::header(name, value).map_err(|why| format!("upload_headers: {why}"))?;
    }
    let expires_at = match answer.expires_at {
        None => None,
        Some(s) => Some(parse_rfc3339(&s).map_err(|why| {
            format!(
                "expires_at '{}' {why}",
                clean(&s).chars().take(40).collect::<String>()
            )
        })?),
    };
    Ok(UploadTarget {
        url: SignedUrl::new(url),
        method: Method::PUT,
        headers: headers.into_iter().collect(),
        expires_at,
    })
}

/// Decodes a JSON object, or says in a few words which field is wrong and how.
fn decode<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    // Checked first because a derived struct would also accept an array of its fields.
    if body.trim_ascii_start().first() != Some(&b'{') {
        return Err(
            match serde_json::from_slice::<serde::de::IgnoredAny>(body) {
                Ok(_) => "the body is not a JSON object".into(),
                Err(e) => format!("the body is not JSON ({e})"),
            },
        );
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        field_error(&path, e.inner())
    })?;
    de.end()
        .map_err(|e| format!("the body is not JSON ({e})"))?;
    Ok(value)
}

/// "asset_id is missing", "already_exists is not a boolean", "upload_headers.a is not a
/// string": serde's words for a missing field or a wrong type, said of the field.
fn field_error(path: &str, e: &serde_json::Error) -> String {
    if !e.is_data() {
        return format!("the body is not JSON ({e})");
    }
    let text = e.to_string();
    let text = text
        .strip_suffix(&format!(" at line {} column {}", e.line(), e.column()))
        .unwrap_or(&text);
    if let Some(field) = text
        .strip_prefix("missing field `")
        .and_then(|t| t.strip_suffix('`'))
    {
        return format!("{field} is missing");
    }
    match text.split_once(", expected ") {
        Some((_, expected)) => format!("{path} is not {expected}"),
        None => format!("{path}: {text}"),
    }
}

fn is_asset_id(s: &str) -> bool {
    s.strip_prefix("asset_").is_some_and(|r| {
        r.len() == 20
            && r.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    })
}

/// An RFC 3339 date-time (`2026-11-27T10:00:00Z`, `…T10:00:00.5+01:00`) as an instant, or
/// why it is none. (Not chrono's `SystemTime::from`: it panics on an instant the system's
/// clock cannot hold, and on Windows that is any before 1601.)
fn parse_rfc3339(s: &str) -> Result<SystemTime, &'static str> {
    let t = chrono::DateTime::parse_from_rfc3339(s).map_err(|_| "is not an RFC 3339 date-time")?;
    let secs = t.timestamp();
    let whole = if secs >= 0 {
        SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(secs.unsigned_abs()))
    } else {
        SystemTime::UNIX_EPOCH.checked_sub(Duration::from_secs(secs.unsigned_abs()))
    };
    whole
        .and_then(|w| w.checked_add(Duration::from_nanos(u64::from(t.timestamp_subsec_nanos()))))
        .ok_or("is out of the range of this system's clock")
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
    fn upload_headers_must_be_headers_http_can_carry() {
        for (headers, want) in [
            (r#"{"bad name":"x"}"#, "invalid header name 'bad name'"),
            (
                r#"{"X-Meta":"SECRET\nline"}"#,
                "invalid value for header x-meta",
            ),
        ] {
            let body = format!(
                r#"{{"asset_id":"{ID}","already_exists":false,"upload_url":"https://x/y","upload_method":"PUT","upload_headers":{headers}}}"#
            );
            let err = parse_created(201, body.as_bytes()).unwrap_err().to_string();
            assert!(err.contains(want), "{err}");
            assert!(!err.contains("SECRET"), "values are not shown: {err}");
        }
    }

    #[test]
    fn fields_of_another_upload_method_may_have_any_shape() {
        let body = format!(
            r#"{{"asset_id":"{ID}","already_exists":false,"upload_method":"RESUMABLE","upload_url":{{"parts":3}},"upload_headers":[1]}}"#
        );
        assert!(matches!(
            parse_created(201, body.as_bytes()),
            Ok(Created::Unsupported { .. })
        ));
    }

    #[test]
    fn rfc3339_instants() {
        use std::time::UNIX_EPOCH;
        let t = |s| {
            parse_rfc3339(s)
                .ok()
                .map(|t| t.duration_since(UNIX_EPOCH).unwrap().as_secs_f64())
        };
        assert_eq!(t("1970-01-01T00:00:00Z"), Some(0.0));
        assert_eq!(t("2026-11-27T10:15:00Z"), Some(1_795_774_500.0));
        assert_eq!(t("2026-11-27T11:15:00+01:00"), Some(1_795_774_500.0));
        assert_eq!(t("2026-11-27T10:15:00.250Z"), Some(1_795_774_500.25));
        assert_eq!(t("2024-02-29T00:00:00Z"), Some(1_709_164_800.0));
        assert_eq!(t("2026-11-27T10:00:00.5+01:00"), Some(1_795_770_000.5));
        for bad in [
            "",
            "2026-11-27",
            "2026-13-01T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2026-11-27T10:15:00",
            "2026-11-27T10:15:00.Z",
            "2026-11-27T10:15:00+1:00",
            "２０２６-11-27T10:15:00Z",
        ] {
            assert_eq!(
                parse_rfc3339(bad),
                Err("is not an RFC 3339 date-time"),
                "{bad}"
            );
        }
        // Windows' clock holds nothing before 1601: refused there, not a panic.
        let ancient = parse_rfc3339("1600-12-31T23:59:59Z");
        assert_eq!(ancient.is_err(), cfg!(windows), "{ancient:?}");
        assert_eq!(
            parse_rfc3339("1601-01-01T00:00:00Z").map(|t| UNIX_EPOCH.duration_since(t).unwrap()),
            Ok(Duration::from_secs(11_644_473_600))
        );
    }

    #[test]
    fn rfc3339_never_panics_on_any_prefix_or_byte_change() {
        let good = "2026-11-27T10:15:00.123456789+05:30";
        for i in 0..=good.len() {
            let _ = parse_rfc3339(&good[..i]);
        }
        for i in 0..good.len() {
            for c in ['x', '9', '-', ':', 'é', '.', '+', 'Z', '\u{0}'] {
                let mut s: Vec<char> = good.chars().collect();
                s[i] = c;
                let _ = parse_rfc3339(&s.into_iter().collect::<String>());
            }
        }
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

    /// Found by the fuzz target `api_answer`: an answer the client refuses is quoted in
    /// the file's error, and a server that echoes the token there (in the upload URL, the
    /// asset id, the expiry) must not bring it into the output.
    #[test]
    fn a_refused_answer_never_quotes_the_token() {
        let key = ApiKey::parse("pat_abcdefghijklmnopqrstuvwxyz012345").unwrap();
        let token = key.expose();
        for body in [
            format!(
                r#"{{"asset_id":"{ID}","already_exists":false,"upload_method":"PUT","upload_url":"http:)82./0718dddd{token}ddd?dd0/u"}}"#
            ),
            format!(
                r#"{{"asset_id":"{ID}","already_exists":false,"upload_method":"PUT","upload_url":"http://example.com/{token}"}}"#
            ),
            format!(r#"{{"asset_id":"{token}","already_exists":true}}"#),
            format!(
                r#"{{"asset_id":"{ID}","already_exists":false,"upload_method":"PUT","upload_url":"https://s.example.com/k","expires_at":"{token}"}}"#
            ),
        ] {
            let Err(Failure::Final(e)) = answer(201, None, body.as_bytes(), &key, 1) else {
                panic!("{body} is refused");
            };
            let text = e.to_string();
            assert!(text.starts_with("unexpected answer from the API"), "{text}");
            assert!(!text.contains(token), "{text}");
        }
    }
}
