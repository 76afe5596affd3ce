//! The API's answer to `POST /v1/assets`: a status, a `Retry-After` wait and a body, to
//! the typed answer or a classified failure.
//!
//! Input: two bytes of status (100 to 999), one byte of `Retry-After` (odd: given, the
//! rest is its seconds), then the body.
//! Invariants: a dedup hit or a new asset has a valid `asset_id` and a 2xx status; an
//! upload target is a URL the uploader may send to, with headers it can send; refused
//! credentials are 401 or 403; a transient failure carries the server's wait; no message
//! holds the token or a control character (a server's words cannot add lines).
#![no_main]

use std::time::Duration;

use chief_upload::fuzzing::{api_answer, upload_header, ApiAnswer, TOKEN};
use libfuzzer_sys::fuzz_target;

fn is_asset_id(s: &str) -> bool {
    s.strip_prefix("asset_").is_some_and(|r| {
        r.len() == 20
            && r.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    })
}

fn check_message(m: &str) {
    assert!(!m.contains(TOKEN), "the token in a message: {m:?}");
    assert!(
        !m.chars().any(char::is_control),
        "a control character: {m:?}"
    );
}

fuzz_target!(|data: &[u8]| {
    let [lo, hi, wait, body @ ..] = data else {
        return;
    };
    let status = 100 + u16::from_le_bytes([*lo, *hi]) % 900;
    let retry_after = (wait & 1 == 1).then(|| Duration::from_secs(u64::from(wait >> 1)));
    let success = (200..300).contains(&status);
    match api_answer(status, retry_after, body) {
        ApiAnswer::Exists { asset_id } | ApiAnswer::Unsupported { asset_id, .. } => {
            assert!(success, "{status}");
            assert!(is_asset_id(&asset_id), "{asset_id:?}");
        }
        ApiAnswer::Upload {
            asset_id,
            url,
            headers,
        } => {
            assert!(success, "{status}");
            assert!(is_asset_id(&asset_id), "{asset_id:?}");
            let u = url::Url::parse(&url).expect("the upload URL parses again");
            assert!(
                u.scheme() == "https" || (u.scheme() == "http" && loopback(&u)),
                "{url}"
            );
            for (name, value) in &headers {
                upload_header(name, value).expect("an upload header the uploader can send");
            }
        }
        ApiAnswer::Auth(m) => {
            assert!(status == 401 || status == 403, "{status}");
            check_message(&m);
        }
        ApiAnswer::Transient {
            message,
            retry_after: wait,
        } => {
            assert!(!success, "{status}");
            assert_eq!(wait, retry_after);
            check_message(&message);
        }
        ApiAnswer::Final(m) | ApiAnswer::Fatal(m) => check_message(&m),
    }
});

fn loopback(u: &url::Url) -> bool {
    match u.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}
