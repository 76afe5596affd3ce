//! Small helpers of the fake: encodings, clock, ids, signatures.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use sha2::{Digest as _, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// Standard base64 (with padding), as used by `Content-MD5`.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Hex to bytes (lower or upper case); `None` if not hex.
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    let pairs = s.as_bytes().chunks_exact(2);
    if !pairs.remainder().is_empty() {
        return None;
    }
    pairs
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).ok()?, 16).ok())
        .collect()
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn is_lower_hex(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// `prefix` + exactly `n` characters of `[a-z0-9]`.
pub fn is_id(s: &str, prefix: &str, n: usize) -> bool {
    s.strip_prefix(prefix).is_some_and(|rest| {
        rest.len() == n
            && rest
                .bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
    })
}

pub fn now_millis() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

/// RFC 3339 UTC with second precision, e.g. `2026-11-27T10:15:00Z`.
pub fn rfc3339(unix_secs: u64) -> String {
    let days = (unix_secs / 86_400) as i64;
    let rem = unix_secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// Source of unpredictable-enough ids and secrets (no `rand` dependency needed).
pub(crate) struct Entropy {
    seed: [u8; 32],
    counter: AtomicU64,
}

impl Entropy {
    pub fn new() -> Entropy {
        let mut h = Sha256::new();
        for i in 0..4u64 {
            let mut s = RandomState::new().build_hasher();
            s.write_u64(i);
            h.update(s.finish().to_le_bytes());
        }
        h.update(now_millis().to_le_bytes());
        h.update(std::process::id().to_le_bytes());
        Entropy {
            seed: h.finalize().into(),
            counter: AtomicU64::new(0),
        }
    }

    pub fn bytes32(&self, label: &str) -> [u8; 32] {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let mut h = Sha256::new();
        h.update(self.seed);
        h.update(label.as_bytes());
        h.update(n.to_le_bytes());
        h.finalize().into()
    }

    /// `n` characters from `alphabet` (n <= 32).
    pub fn token(&self, label: &str, alphabet: &[u8], n: usize) -> String {
        self.bytes32(label)
            .iter()
            .take(n)
            .map(|b| alphabet[usize::from(*b) % alphabet.len()] as char)
            .collect()
    }
}

pub const LOWER_ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
pub const MIXED_ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// Signature of an upload URL: HMAC-SHA256 over method, path, expiry and each signed
/// header (lower-case name, exact value), header names sorted.
pub fn sign(
    secret: &[u8],
    method: &str,
    path: &str,
    expires: u64,
    headers: &[(String, Option<String>)],
) -> String {
    let mut mac = HmacSha256::new_from_slice(secret).expect("hmac accepts any key length");
    mac.update(method.as_bytes());
    mac.update(b"\n");
    mac.update(path.as_bytes());
    mac.update(b"\n");
    mac.update(expires.to_string().as_bytes());
    mac.update(b"\n");
    let mut sorted: Vec<_> = headers
        .iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), v.as_deref()))
        .collect();
    sorted.sort();
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        match value {
            Some(v) => {
                mac.update(b":");
                mac.update(v.as_bytes());
            }
            None => mac.update(b"\x00missing"),
        }
        mac.update(b"\n");
    }
    hex(&mac.finalize().into_bytes())
}

/// Constant-time-ish comparison of two signatures.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}
