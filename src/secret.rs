//! Secrets and how they are shown: the API token and signed upload URLs.
//!
//! Neither type can print its secret part: `Debug` and `Display` redact, and the raw value
//! is only reachable through an explicitly named method used where it is sent.

use std::fmt;

/// The personal access token (`pat_` + 32 characters).
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct ApiKey(String);

const KEY_PREFIX: &str = "pat_";
const KEY_BODY_LEN: usize = 32;

impl ApiKey {
    /// Checks the token's shape. The error never contains the token.
    pub(crate) fn parse(raw: &str) -> Result<ApiKey, String> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err("the token is empty".into());
        }
        let Some(body) = raw.strip_prefix(KEY_PREFIX) else {
            return Err(format!(
                "the token does not start with `{KEY_PREFIX}` (a personal access token looks like pat_ followed by {KEY_BODY_LEN} characters)"
            ));
        };
        let n = body.chars().count();
        if n != KEY_BODY_LEN {
            return Err(format!(
                "the token has {n} characters after `{KEY_PREFIX}`, expected {KEY_BODY_LEN}"
            ));
        }
        if !body.chars().all(|c| c.is_ascii_graphic()) {
            return Err("the token contains spaces, control or non-ASCII characters".into());
        }
        Ok(ApiKey(raw.to_string()))
    }

    /// The raw token, for the one header that carries it.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    /// `pat_…` plus the last four characters: enough to tell two tokens apart.
    pub(crate) fn redacted(&self) -> String {
        let tail: String = self
            .0
            .chars()
            .rev()
            .take(4)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        format!("{KEY_PREFIX}…{tail}")
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey({})", self.redacted())
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// A URL shown without its query or fragment (where a signed URL keeps its signature)
/// and without user info.
pub(crate) fn redact_parsed(u: &reqwest::Url) -> String {
    let mut s = format!("{}://{}", u.scheme(), u.host_str().unwrap_or(""));
    if let Some(port) = u.port() {
        s.push_str(&format!(":{port}"));
    }
    s.push_str(u.path());
    s
}

/// A signed upload URL: usable to send, shown only as scheme, host and path.
#[derive(Clone)]
pub(crate) struct SignedUrl(reqwest::Url);

impl SignedUrl {
    pub(crate) fn new(url: reqwest::Url) -> SignedUrl {
        SignedUrl(url)
    }
    pub(crate) fn expose(&self) -> &reqwest::Url {
        &self.0
    }
}

impl fmt::Debug for SignedUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SignedUrl({})", redact_parsed(&self.0))
    }
}

impl fmt::Display for SignedUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact_parsed(&self.0))
    }
}

/// Text from a peer (an error body) can echo what we sent it, the signed URL's query
/// included. Removes any occurrence of `secret` pieces before the text is shown.
pub(crate) fn scrub(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_string();
    for s in secrets.iter().filter(|s| s.len() >= 8) {
        out = out.replace(s, "[redacted]");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "pat_abcdefghijklmnopqrstuvwxyz012345";

    #[test]
    fn token_shape_is_checked_and_errors_never_echo_it() {
        assert!(ApiKey::parse(KEY).is_ok());
        assert!(
            ApiKey::parse(&format!("{KEY}\n")).is_ok(),
            "a trailing newline from a file is fine"
        );
        for bad in [
            "",
            "abc",
            "pat_short",
            "tok_abcdefghijklmnopqrstuvwxyz012345",
            "pat_abcdefghijklmnopqrstuvwxyz01234 ",
            "pat_abcdefghijklmnopqrstuvwxyz0123456",
        ] {
            let err = ApiKey::parse(bad).unwrap_err();
            if bad.len() > 4 {
                assert!(!err.contains(&bad[4..]), "{err}");
            }
        }
    }

    #[test]
    fn token_never_formats() {
        let k = ApiKey::parse(KEY).unwrap();
        for shown in [format!("{k}"), format!("{k:?}"), format!("{:#?}", Some(&k))] {
            assert!(!shown.contains(&KEY[4..]), "{shown}");
            assert!(shown.contains("…2345"), "{shown}");
        }
    }

    #[test]
    fn signed_urls_lose_their_query() {
        let u =
            "https://user:pw@store.example.com:8443/bucket/a%20b?X-Amz-Signature=deadbeef&x=1#frag";
        let u = reqwest::Url::parse(u).unwrap();
        assert_eq!(
            redact_parsed(&u),
            "https://store.example.com:8443/bucket/a%20b"
        );
        let s = SignedUrl::new(u);
        assert!(!format!("{s} {s:?}").contains("deadbeef"));
    }
}
