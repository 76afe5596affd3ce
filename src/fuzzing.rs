//! The parsers of what other people control, for the fuzz targets in `fuzz/`
//! (CONTRIBUTING.md, "Fuzzing"): the API's answers, the header values the clients read,
//! the config file, pattern files and globs, `--files-from` lists, the units, `--shard`
//! and the proxy settings. Built only with the `fuzzing` feature and hidden from the
//! docs: not an interface, and not in the release binary. Each function takes what the
//! outside sends and returns plain values, so that a target states its invariants
//! without reaching into the crate.

use std::io::{self, Read};
use std::path::PathBuf;
use std::time::{Duration, UNIX_EPOCH};

use crate::api::{self, ApiError, Created};
use crate::bounded::{LineError, PathLines};
use crate::http::{self, Failure, NoProxy, ProxyUrl};
use crate::secret::ApiKey;
use crate::settings;
use crate::walk::{Filter, Pattern, PatternOrigin, SizeAgeLimits};

/// The token the API client holds while reading `api_answer`'s answers: nothing the
/// server sends may bring it into a message.
pub const TOKEN: &str = "pat_FuzzFuzzFuzzFuzzFuzzFuzzFuzzFuzz";

/// What an answer of the API meant to the client.
#[derive(Debug)]
pub enum ApiAnswer {
    /// A dedup hit: the file is skipped.
    Exists { asset_id: String },
    /// A new asset, with where to send the bytes.
    Upload {
        asset_id: String,
        url: String,
        headers: Vec<(String, String)>,
    },
    /// A new asset whose upload method this version does not perform.
    Unsupported { asset_id: String, method: String },
    /// The credentials were refused: the run stops.
    Auth(String),
    /// A failure of this file that no retry mends.
    Final(String),
    /// A failure worth another try, and the wait the server asked for.
    Transient {
        message: String,
        retry_after: Option<Duration>,
    },
    /// A failure no request would get past: the run stops.
    Fatal(String),
}

/// An answer of `POST /v1/assets`: its status, its `Retry-After`, its body.
pub fn api_answer(status: u16, retry_after: Option<Duration>, body: &[u8]) -> ApiAnswer {
    let key = ApiKey::parse(TOKEN).expect("a token of the right shape");
    match api::answer(status, retry_after, body, &key, 1) {
        Ok(Created::Exists { asset_id, .. }) => ApiAnswer::Exists { asset_id },
        Ok(Created::Upload {
            asset_id, target, ..
        }) => ApiAnswer::Upload {
            asset_id,
            url: target.url.expose().to_string(),
            headers: target.headers,
        },
        Ok(Created::Unsupported {
            asset_id, method, ..
        }) => ApiAnswer::Unsupported { asset_id, method },
        Err(Failure::Final(e @ ApiError::Auth { .. })) => ApiAnswer::Auth(e.to_string()),
        Err(Failure::Final(e) | Failure::Local(e)) => ApiAnswer::Final(e.to_string()),
        Err(Failure::Transient {
            error, retry_after, ..
        }) => ApiAnswer::Transient {
            message: error.to_string(),
            retry_after,
        },
        Err(Failure::Fatal { error, .. }) => ApiAnswer::Fatal(error.to_string()),
    }
}

/// A `Retry-After` header's bytes, as the clients read them, at `now` (seconds since
/// 1970).
pub fn retry_after(value: &[u8], now: u64) -> Option<Duration> {
    let value = reqwest::header::HeaderValue::from_bytes(value).ok()?;
    http::parse_retry_after(value.to_str().ok()?, UNIX_EPOCH + Duration::from_secs(now))
}

/// An `ETag` header's bytes: the MD5 it carries, if it is a single-part one.
pub fn etag_md5(value: &[u8]) -> Option<String> {
    let value = reqwest::header::HeaderValue::from_bytes(value).ok()?;
    crate::transfer::etag_md5(value.to_str().ok()?).map(str::to_string)
}

/// The code and message of a storage's refusal, from its body, scrubbed of the secrets of
/// `signed_url` (which must parse).
pub fn storage_refusal(body: &[u8], signed_url: &str) -> (Option<String>, Option<String>) {
    let url = reqwest::Url::parse(signed_url).expect("a valid signed URL");
    crate::transfer::storage_refusal(body, &url)
}

/// An upload header the API asks for, as the uploader checks it before sending it.
pub fn upload_header(name: &str, value: &str) -> Result<(), String> {
    http::header(name, value).map(|_| ())
}

/// A config file's text through `profile`, read as a run reads it: the values found
/// (and the warnings), or the usage error's message and hints.
pub fn config(text: &str, profile: Option<&str>) -> Result<Vec<String>, (String, Vec<String>)> {
    settings::fuzz_config(text, profile).map_err(|e| (e.message, e.hints))
}

/// The globs of a pattern file, each with its line number.
pub fn pattern_file(text: &str) -> Vec<(usize, String)> {
    settings::pattern_lines(text)
        .map(|(line, glob)| (line, glob.to_string()))
        .collect()
}

/// The globs a run's filter is compiled from.
pub struct Globs(Filter);

impl Globs {
    /// Include and exclude globs, as from `--include-from` and `--exclude-from` files.
    pub fn new(include: &[String], exclude: &[String]) -> Result<Globs, String> {
        let patterns = |flag: &'static str, globs: &[String]| -> Vec<Pattern> {
            globs
                .iter()
                .enumerate()
                .map(|(i, g)| Pattern {
                    glob: g.clone(),
                    origin: PatternOrigin::File {
                        flag,
                        path: PathBuf::from("patterns.txt"),
                        line: i + 1,
                    },
                })
                .collect()
        };
        Filter::new(
            &patterns("--include-from", include),
            &patterns("--exclude-from", exclude),
            SizeAgeLimits::default(),
        )
        .map(Globs)
        .map_err(|e| e.message)
    }

    pub fn wants_file(&self, rel: &str) -> bool {
        self.0.wants_file(rel)
    }

    pub fn wants_dir(&self, rel: &str) -> bool {
        self.0.wants_dir(rel)
    }
}

/// The longest `--files-from` line, and the longest name in it, a run takes.
pub const PATH_LINE: usize = crate::bounded::PATH_LINE;
pub const NAME: usize = crate::bounded::NAME;

/// A `--files-from` list (NUL-separated with `null`), read as the walk reads it, in
/// reads of at most `chunk` bytes, as a pipe gives them, with paths of at most
/// `max_path` bytes and names of at most `max_name`: the paths, or the number of the
/// first line that cannot be a path.
pub fn files_from(
    data: &[u8],
    null: bool,
    max_path: usize,
    max_name: usize,
    chunk: usize,
) -> Result<Vec<Vec<u8>>, u64> {
    struct Chunks<'a>(&'a [u8], usize);
    impl Read for Chunks<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.0.len().min(buf.len()).min(self.1.max(1));
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }
    let sep = if null { b'\0' } else { b'\n' };
    let mut lines = PathLines::new(Chunks(data, chunk), sep, max_path, max_name);
    let mut out = Vec::new();
    loop {
        let _ = lines.line_ready();
        match lines.next_line() {
            None => return Ok(out),
            Some(Ok(line)) => out.push(line.to_vec()),
            Some(Err(LineError::NotAPath(bad))) => return Err(bad.number),
            Some(Err(LineError::Io(e))) => panic!("reading from memory failed: {e}"),
        }
    }
}

/// SIZE: bytes.
pub fn size(raw: &str) -> Result<u64, String> {
    settings::units::parse_size(raw)
}

/// RATE: bytes per second, `None` for no cap.
pub fn rate(raw: &str) -> Result<Option<u64>, String> {
    settings::units::parse_rate(raw).map(|r| r.map(|n| n.get()))
}

/// A rate as `--show-config` shows it: `20M (20971520 bytes/s)`.
pub fn shown_rate(rate: Option<u64>) -> String {
    settings::shown_rate(settings::units::Rate(
        rate.and_then(std::num::NonZeroU64::new),
    ))
}

/// DURATION.
pub fn duration(raw: &str) -> Result<Duration, String> {
    crate::duration::parse(raw)
}

/// A duration as the program prints it.
pub fn shown_duration(d: Duration) -> String {
    crate::duration::shown(d)
}

/// JOBS: `auto` or a number of files in flight.
pub fn jobs(raw: &str) -> Result<Option<usize>, String> {
    crate::admission::parse_jobs(raw).map(|j| match j {
        settings::Jobs::Auto => None,
        settings::Jobs::Fixed(n) => Some(n),
    })
}

/// A proxy URL as read from `HTTPS_PROXY`/`ALL_PROXY`: how messages show it, and its
/// `Debug` form (neither may show the password).
pub fn proxy_url(raw: &str) -> Result<(String, String), String> {
    ProxyUrl::parse(raw).map(|p| (p.redacted(), format!("{p:?}")))
}

/// A proxy setting as messages show it, valid or not.
pub fn shown_proxy(raw: &str) -> String {
    http::shown_proxy(raw)
}

/// Whether a `NO_PROXY` list sends a request to `url` direct; `None` if `url` is not one.
pub fn no_proxy(list: &str, url: &str) -> Option<bool> {
    let url = reqwest::Url::parse(url).ok()?;
    Some(NoProxy::parse(list).matches(&url))
}
