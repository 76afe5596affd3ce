//! The header values the clients read: `Retry-After` (seconds or an HTTP date), `ETag`
//! (the MD5 a storage reports), the upload headers the API asks for; and a storage's
//! refusal body, scrubbed of the signed URL's secrets.
//!
//! Input: a header value (or a refusal body); up to its first NUL, a header name for
//! the upload-header check.
//! Invariants: `Retry-After` in digits is that many seconds; an ETag's MD5 is 32 hex
//! digits; a refusal's code and message never hold a secret of the signed URL, nor a
//! line break.
#![no_main]

use std::time::Duration;

use chief_upload::fuzzing::{etag_md5, retry_after, storage_refusal, upload_header};
use libfuzzer_sys::fuzz_target;

const SIGNATURE: &str = "9f1c2e5d7a3b4c6d8e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d";
/// The credential's value, decoded (in the URL its `/` is `%2F`).
const CREDENTIAL: &str = "AKIAFUZZFUZZFUZZ/20261127/us-east-1/s3/aws4_request";

fuzz_target!(|data: &[u8]| {
    // 2026-11-27 10:15:00 UTC.
    let now = 1_795_774_500;
    if let Some(wait) = retry_after(data, now) {
        if let Ok(text) = std::str::from_utf8(data) {
            let t = text.trim();
            if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
                if let Ok(secs) = t.parse::<u64>() {
                    assert_eq!(wait, Duration::from_secs(secs));
                }
            }
        }
    }
    if let Some(md5) = etag_md5(data) {
        assert_eq!(md5.len(), 32);
        assert!(md5.bytes().all(|b| b.is_ascii_hexdigit()), "{md5}");
    }
    let url = format!(
        "https://bucket.s3.example.com/key?X-Amz-Credential={}&X-Amz-Signature={SIGNATURE}",
        CREDENTIAL.replace('/', "%2F")
    );
    let (code, message) = storage_refusal(data, &url);
    for text in [code, message].into_iter().flatten() {
        assert!(!text.contains(SIGNATURE), "the signature: {text:?}");
        assert!(!text.contains(CREDENTIAL), "the credential: {text:?}");
        assert!(!text.contains('\n') && !text.contains('\r'), "{text:?}");
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let (name, value) = text.split_once('\0').unwrap_or(("x-amz-meta-fuzz", text));
        let _ = upload_header(name, value);
    }
});
