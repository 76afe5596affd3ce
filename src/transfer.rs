//! Sends a file's bytes to its signed URL (`docs/api.md#upload`).
//!
//! A separate HTTP client from the API's: it never holds the token, follows no redirect and
//! sends no `Referer`. The body is streamed from the file (or from standard input's spool)
//! with an exact `Content-Length` (never chunked, never read whole into memory). Transient
//! failures resend the whole body from byte 0 after a backoff; an expired URL goes back to
//! the caller to renew.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::BytesMut;
use reqwest::header::{HeaderMap, HeaderValue, CONTENT_LENGTH, ETAG};
use tokio::io::AsyncReadExt;

use crate::admission::{self, Limiter};
use crate::api::UploadTarget;
use crate::event::{Event, Progress, Reporter};
use crate::file_key::FileKey;
use crate::http::{
    self, is_transient_storage, read_limited, Bandwidth, Failure, HealthSign, Network, Origins,
    Retrier, RetryPolicy, Role, Stop,
};
use crate::secret::scrub;
use crate::spool::Spool;

/// Bytes read from the file per body chunk (fewer under `--bwlimit`).
const CHUNK: usize = admission::BUFFER as usize;

#[derive(Debug, thiserror::Error)]
pub(crate) enum TransferError {
    /// The signed URL is no longer valid: ask the API for a new one.
    #[error("the upload URL expired")]
    Expired,
    #[error("{0}")]
    Failed(String),
    /// A failure no retry mends, or an outage longer than `--max-outage`: the run stops.
    #[error("{0}")]
    Stopped(Stop),
}

impl From<Stop> for TransferError {
    fn from(stop: Stop) -> TransferError {
        TransferError::Stopped(stop)
    }
}

/// Where the bytes to send are.
#[derive(Debug)]
pub(crate) enum UploadSource {
    /// A file, opened again by its path for each attempt.
    File {
        path: PathBuf,
        /// Identity when hashed; a difference before or after sending means it changed.
        key: FileKey,
    },
    /// Standard input, spooled: read again from byte 0 for each attempt, and never
    /// changed.
    Spool(Arc<Spool>),
}

/// What is being sent: the file as it was hashed.
pub(crate) struct UploadFile<'a> {
    pub(crate) source: &'a UploadSource,
    pub(crate) size: u64,
    pub(crate) md5_hex: &'a str,
}

impl UploadFile<'_> {
    /// Opens the bytes for sending: a file only if it is still the one that was hashed.
    async fn open(&self) -> Result<Reader, TransferError> {
        let (path, key) = match self.source {
            UploadSource::File { path, key } => (path.clone(), *key),
            UploadSource::Spool(spool) => {
                return Ok(Reader::Spool {
                    spool: spool.clone(),
                    at: 0,
                })
            }
        };
        let (file, meta) = tokio::task::spawn_blocking(move || crate::hash::open_regular(&path))
            .await
            .map_err(|e| failed(format!("cannot open: {e}")))?
            .map_err(|e| failed(format!("cannot open: {}", crate::io_words::io_reason(&e))))?;
        if FileKey::from_metadata(&meta) != key {
            return Err(failed(changed()));
        }
        Ok(Reader::File(
            tokio::fs::File::from_std(file).take(self.size),
        ))
    }

    /// Whether the file is no longer the one that was hashed (or is gone). A spool never
    /// changes.
    async fn changed(&self) -> bool {
        let UploadSource::File { path, key } = self.source else {
            return false;
        };
        match tokio::fs::metadata(path).await {
            Ok(m) => FileKey::from_metadata(&m) != *key,
            Err(_) => true,
        }
    }
}

/// One attempt's reader of the bytes to send.
enum Reader {
    File(tokio::io::Take<tokio::fs::File>),
    Spool { spool: Arc<Spool>, at: u64 },
}

impl Reader {
    /// The next `want` bytes, fewer only at the end.
    async fn next(&mut self, want: usize) -> std::io::Result<bytes::Bytes> {
        match self {
            Reader::File(file) => {
                let mut buf = BytesMut::with_capacity(want);
                while buf.len() < want {
                    if file.read_buf(&mut buf).await? == 0 {
                        break;
                    }
                }
                Ok(buf.freeze())
            }
            Reader::Spool { spool, at } => {
                let chunk = if spool.in_memory() {
                    spool.chunk(*at, want)?
                } else {
                    // From the disk: on a blocking thread, never on a runtime worker.
                    let (spool, from) = (spool.clone(), *at);
                    tokio::task::spawn_blocking(move || spool.chunk(from, want))
                        .await
                        .map_err(std::io::Error::other)??
                };
                *at += chunk.len() as u64;
                Ok(chunk)
            }
        }
    }
}

pub(crate) struct Uploader {
    http: reqwest::Client,
    retrier: Retrier,
    timeout: Duration,
    reporter: Reporter,
    /// Told of every byte sent: `-j auto` weighs the link by them.
    limiter: Arc<Limiter>,
    /// `--bwlimit`: the pace of all bodies together.
    bandwidth: Option<Arc<Bandwidth>>,
}

impl Uploader {
    pub(crate) fn new(
        network: &Network,
        policy: RetryPolicy,
        timeout: Duration,
        limiter: Arc<Limiter>,
        bandwidth: Option<Arc<Bandwidth>>,
        origins: Arc<Origins>,
        reporter: Reporter,
    ) -> anyhow::Result<Uploader> {
        // No whole-request timeout: a big file takes long. `Activity` stops a stalled one.
        let http = http::client_builder(timeout, limiter.max(), network).build()?;
        Ok(Uploader {
            http,
            retrier: Retrier::new(policy, reporter.clone())
                .gated(origins, Role::Storage)
                .limited(limiter.clone()),
            timeout,
            reporter,
            limiter,
            bandwidth,
        })
    }

    /// Uploads `src` to `target`, retrying transient failures.
    /// `sent` counts the bytes of the body sent, from 0 again at each attempt.
    pub(crate) async fn upload(
        &self,
        target: &UploadTarget,
        src: &UploadFile<'_>,
        sent: &Progress,
    ) -> Result<(), TransferError> {
        let headers = build_headers(target, src.size)?;
        let headers = &headers;
        let what = || format!("{} {}", target.method, target.url);
        self.retrier
            .run_at(target.url.expose(), what, |attempt| async move {
                sent.reset();
                self.attempt(target, headers, src, sent, attempt).await
            })
            .await
    }

    /// One request with the whole body: done, or how it failed.
    async fn attempt(
        &self,
        target: &UploadTarget,
        headers: &HeaderMap,
        src: &UploadFile<'_>,
        sent: &Progress,
        attempt: u32,
    ) -> Result<(), Failure<TransferError>> {
        let error =
            |reason: &str| failed(format!("upload failed after {attempt} attempts: {reason}"));
        let reader = src.open().await.map_err(Failure::Local)?;
        let started = Instant::now();
        let activity = Arc::new(Activity::new());
        let body = file_body(
            reader,
            src.size,
            Pace {
                sent: sent.clone(),
                activity: activity.clone(),
                limiter: self.limiter.clone(),
                bandwidth: self.bandwidth.clone(),
            },
        );
        let request = self
            .http
            .request(target.method.clone(), target.url.expose().clone())
            .headers(headers.clone())
            .body(body);
        let send = async {
            let resp = request.send().await?;
            activity.touch();
            Ok::<_, reqwest::Error>(resp)
        };
        let outcome = tokio::select! {
            r = send => Some(r),
            () = activity.idle_for(self.timeout) => None,
        };
        let log = |status: Option<u16>| {
            self.reporter.emit(Event::Request {
                method: target.method.to_string(),
                target: target.url.to_string(),
                status,
                elapsed: started.elapsed(),
                attempt,
            })
        };
        let resp = match outcome {
            None => {
                log(None);
                let reason = format!("no progress for {}", crate::duration::shown(self.timeout));
                return Err(Failure::timed_out(error(&reason), reason));
            }
            Some(Err(e)) => {
                log(None);
                // A body that ended early means the file shrank under us.
                if sent.get() < src.size && src.changed().await {
                    return Err(Failure::Local(failed(changed())));
                }
                return Err(Failure::unanswered(&e, |reason| error(&reason)));
            }
            Some(Ok(r)) => r,
        };
        let status = resp.status().as_u16();
        log(Some(status));
        let etag = resp
            .headers()
            .get(ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let retry_after = http::retry_after(resp.headers());
        // Read only for the storage's error code: a body that cannot be read is none.
        let body = tokio::time::timeout(self.timeout, read_limited(resp))
            .await
            .ok()
            .and_then(Result::ok);
        if (200..300).contains(&status) {
            if src.changed().await {
                return Err(Failure::Final(failed(changed())));
            }
            if let Some(tag) = etag.as_deref().and_then(etag_md5) {
                if !tag.eq_ignore_ascii_case(src.md5_hex) {
                    return Err(Failure::Final(failed(format!("storage reports MD5 {tag} but the file's is {}; the file may have changed, run again", src.md5_hex))));
                }
            }
            return Ok(());
        }
        let (code, message) = storage_refusal(&body.unwrap_or_default(), target.url.expose());
        let shown = match (&code, &message) {
            (Some(c), Some(m)) => format!("HTTP {status} {c}: {m}"),
            (Some(c), None) => format!("HTTP {status} {c}"),
            (None, Some(m)) => format!("HTTP {status}: {m}"),
            (None, None) => format!("HTTP {status}"),
        };
        if is_expiry(
            status,
            code.as_deref(),
            message.as_deref(),
            target.expires_at,
        ) {
            return Err(Failure::Final(TransferError::Expired));
        }
        if let Some(fatal) = http::fatal_status(status) {
            return Err(Failure::Fatal {
                error: failed(format!("storage answered {shown}")),
                fatal,
            });
        }
        if is_transient_storage(status) {
            let reason = format!("storage answered {shown}");
            return Err(Failure::Transient {
                error: error(&reason),
                reason,
                retry_after,
                sign: HealthSign::of_status(status, retry_after),
            });
        }
        let hint = match code.as_deref() {
            Some("BadDigest") | Some("InvalidDigest") => {
                "; the content did not match its MD5 (did the file change?), run again"
            }
            Some("SignatureDoesNotMatch") => "; the signed headers were not accepted",
            _ => "",
        };
        Err(Failure::Final(failed(format!(
            "storage refused the upload: {shown}{hint}"
        ))))
    }
}

/// The storage's error code and message, with every secret of the signed URL removed,
/// before and after decoding (a JSON body can hide a secret behind escapes).
pub(crate) fn storage_refusal(body: &[u8], url: &reqwest::Url) -> (Option<String>, Option<String>) {
    let secrets = query_secrets(url);
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    let text = scrub(&String::from_utf8_lossy(body), &secrets);
    let (code, message) = storage_error(&text);
    (
        code.map(|c| scrub(&c, &secrets)),
        message.map(|m| scrub(&m, &secrets)),
    )
}

/// What a storage error body must not repeat: the signed URL's query, and each of its
/// values (raw and decoded), since a server may quote only the signature.
fn query_secrets(url: &reqwest::Url) -> Vec<String> {
    let Some(query) = url.query() else {
        return Vec::new();
    };
    let mut secrets = vec![query.to_string()];
    for pair in query.split('&') {
        if let Some((_, v)) = pair.split_once('=') {
            secrets.push(v.to_string());
        }
    }
    secrets.extend(url.query_pairs().map(|(_, v)| v.into_owned()));
    // Longest first, so a value inside the query does not break the query's redaction.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    secrets
}

fn failed(msg: String) -> TransferError {
    TransferError::Failed(msg)
}

fn changed() -> String {
    "changed while uploading; run again".into()
}

/// The signed headers, verbatim, plus `Content-Length`.
fn build_headers(target: &UploadTarget, size: u64) -> Result<HeaderMap, TransferError> {
    let mut h = HeaderMap::new();
    for (name, value) in &target.headers {
        let (n, v) =
            http::header(name, value).map_err(|why| failed(format!("the API sent an {why}")))?;
        if n == CONTENT_LENGTH {
            if value.trim() != size.to_string() {
                return Err(failed(format!("the API's upload headers say Content-Length {value}, but the file has {size} bytes")));
            }
            continue;
        }
        h.append(n, v);
    }
    h.insert(CONTENT_LENGTH, HeaderValue::from(size));
    Ok(h)
}

/// An ETag that is a hex MD5 (S3's single-part ETag), without its quotes.
pub(crate) fn etag_md5(tag: &str) -> Option<&str> {
    let t = tag.trim().trim_start_matches("W/").trim_matches('"');
    (t.len() == 32 && t.bytes().all(|b| b.is_ascii_hexdigit())).then_some(t)
}

/// S3 XML `<Code>…</Code><Message>…</Message>`, or GCS JSON `{"error":{"code","message"}}`.
fn storage_error(body: &str) -> (Option<String>, Option<String>) {
    let tag = |name: &str| -> Option<String> {
        let open = format!("<{name}>");
        let start = body.find(&open)? + open.len();
        let end = body[start..].find(&format!("</{name}>"))? + start;
        let v: String = body[start..end]
            .chars()
            .filter(|c| !c.is_control())
            .take(200)
            .collect();
        (!v.trim().is_empty()).then(|| v.trim().to_string())
    };
    if body.trim_start().starts_with('<') {
        return (tag("Code"), tag("Message"));
    }
    http::parse_error_body(body.as_bytes())
}

/// Whether a storage refusal means "this URL has expired" (S3's 403 AccessDenied "Request has
/// expired", GCS's 400 ExpiredToken, or any 403 once `expires_at` has passed).
fn is_expiry(
    status: u16,
    code: Option<&str>,
    message: Option<&str>,
    expires_at: Option<SystemTime>,
) -> bool {
    if status != 400 && status != 403 {
        return false;
    }
    let words = format!("{} {}", code.unwrap_or(""), message.unwrap_or("")).to_ascii_lowercase();
    if words.contains("expired") {
        return true;
    }
    status == 403 && expires_at.is_some_and(|t| SystemTime::now() >= t)
}

/// When bytes last moved, for the idle timeout: a stalled peer cannot hang the run.
struct Activity {
    origin: Instant,
    last_ms: AtomicU64,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            origin: Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }
    fn touch(&self) {
        self.last_ms
            .store(self.origin.elapsed().as_millis() as u64, Ordering::Relaxed);
    }
    /// Resolves once nothing has moved for `limit`.
    async fn idle_for(&self, limit: Duration) {
        loop {
            let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
            let idle = self.origin.elapsed().saturating_sub(last);
            if idle >= limit {
                return;
            }
            tokio::time::sleep((limit - idle).saturating_add(Duration::from_millis(1))).await;
        }
    }
}

/// Who hears of a body's bytes, and what paces them.
struct Pace {
    /// This attempt's bytes, for the progress shown and to tell a file that shrank.
    sent: Progress,
    activity: Arc<Activity>,
    limiter: Arc<Limiter>,
    bandwidth: Option<Arc<Bandwidth>>,
}

/// The bytes as a stream of chunks, exactly `size` bytes; reports progress as it goes.
/// Under `--bwlimit` each chunk waits for its turn before it is read, and chunks are
/// smaller.
fn file_body(reader: Reader, size: u64, pace: Pace) -> reqwest::Body {
    struct TransferState {
        reader: Reader,
        remaining: u64,
        chunk: usize,
        pace: Pace,
    }
    let chunk = pace.bandwidth.as_ref().map_or(CHUNK, |b| b.chunk(CHUNK));
    let state = TransferState {
        reader,
        remaining: size,
        chunk,
        pace,
    };
    // The state moves from chunk to chunk: nothing is cloned per chunk.
    let stream = futures_util::stream::try_unfold(state, move |mut st| async move {
        if st.remaining == 0 {
            return Ok(None);
        }
        let want = (st.remaining as usize).min(st.chunk);
        if let Some(b) = &st.pace.bandwidth {
            b.take(want as u64).await;
            // Waiting for the cap is not a stall.
            st.pace.activity.touch();
        }
        let buf = st.reader.next(want).await?;
        if buf.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the file is shorter than when it was hashed",
            ));
        }
        let n = buf.len() as u64;
        st.remaining -= n;
        st.pace.sent.add(n);
        st.pace.limiter.sent(n);
        st.pace.activity.touch();
        Ok::<_, std::io::Error>(Some((buf, st)))
    });
    reqwest::Body::wrap_stream(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaped_secrets_in_json_error_bodies_are_removed_too() {
        let url = reqwest::Url::parse("https://s.example/k?sig=abcdef123456&x=1").unwrap();
        let body = br#"{"error":{"code":"AccessDenied","message":"bad sig \u0061bcdef123456"}}"#;
        let (code, message) = storage_refusal(body, &url);
        assert_eq!(code.as_deref(), Some("AccessDenied"));
        assert_eq!(message.as_deref(), Some("bad sig [redacted]"));
    }

    #[test]
    fn etags_and_storage_errors() {
        assert_eq!(
            etag_md5("\"d41d8cd98f00b204e9800998ecf8427e\""),
            Some("d41d8cd98f00b204e9800998ecf8427e")
        );
        assert_eq!(
            etag_md5("\"d41d8cd98f00b204e9800998ecf8427e-3\""),
            None,
            "multipart ETags are not MD5s"
        );
        assert_eq!(
            storage_error("<?xml version=\"1.0\"?><Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"),
            (Some("AccessDenied".into()), Some("Request has expired".into()))
        );
        assert!(is_expiry(
            403,
            Some("AccessDenied"),
            Some("Request has expired"),
            None
        ));
        assert!(is_expiry(400, Some("ExpiredToken"), None, None));
        assert!(is_expiry(
            403,
            Some("AccessDenied"),
            None,
            Some(SystemTime::now() - Duration::from_secs(1))
        ));
        assert!(!is_expiry(
            403,
            Some("SignatureDoesNotMatch"),
            None,
            Some(SystemTime::now() + Duration::from_secs(60))
        ));
        assert!(!is_expiry(500, None, Some("expired"), None));
    }

    #[test]
    fn every_piece_of_the_query_is_a_secret() {
        let u = reqwest::Url::parse(
            "https://s.example/k?X-Amz-Signature=ab%2Fcd0123&expires=1795774500",
        )
        .unwrap();
        let secrets = query_secrets(&u);
        let refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
        let echoed =
            "denied X-Amz-Signature=ab%2Fcd0123&expires=1795774500, sig ab%2Fcd0123 = ab/cd0123";
        let shown = scrub(echoed, &refs);
        assert!(
            !shown.contains("cd0123") && !shown.contains("1795774500"),
            "{shown}"
        );
        assert!(query_secrets(&reqwest::Url::parse("https://s.example/k").unwrap()).is_empty());
    }

    #[test]
    fn storage_error_parsing_never_panics() {
        let good = "<?xml version=\"1.0\"?><Error><Code>AccessDenied</Code><Message>Request has expired é</Message></Error>";
        let json = r#"{"error":{"code":"ExpiredToken","message":"expired é"}}"#;
        for text in [good, json] {
            for (i, _) in text.char_indices() {
                let _ = storage_error(&text[..i]);
                for c in ['<', '>', '/', '"', '{', 'é', '\u{0}'] {
                    let mut m = text.to_string();
                    m.replace_range(
                        i..i + text[i..].chars().next().unwrap().len_utf8(),
                        &c.to_string(),
                    );
                    let (code, message) = storage_error(&m);
                    let _ = is_expiry(403, code.as_deref(), message.as_deref(), None);
                    let _ = etag_md5(&m);
                }
            }
        }
    }
}
