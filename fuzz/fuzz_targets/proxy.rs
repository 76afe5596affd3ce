//! The proxy settings: `HTTPS_PROXY`/`ALL_PROXY` URLs (curl's forms: `host:port`, a
//! scheme, credentials) and `NO_PROXY` lists.
//!
//! Input: a proxy setting, then a NUL, then a `NO_PROXY` list (and the host to ask it
//! about: the setting's text).
//! Invariants: a password put in the setting (`…:PASSWORD@…`) is never shown, whether
//! the setting is valid or not; `NO_PROXY` matching does not depend on letter case.
#![no_main]

use chief_upload::fuzzing::{no_proxy, proxy_url, shown_proxy};
use libfuzzer_sys::fuzz_target;

const PASSWORD: &str = "Pa55w0rdFuzzSecret";

/// The setting as a URL parser reads it (WHATWG and curl alike drop ASCII tabs and line
/// breaks), so that a user name which becomes the password's text once they are gone is
/// not taken for a shown password: `"Pa55w0rdF\tuzzSecret@host"` is such a name.
fn as_parsed(setting: &str) -> String {
    setting.replace(['\t', '\n', '\r'], "")
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (setting, list) = text.split_once('\0').unwrap_or((text, ""));
    let _ = proxy_url(setting);
    let _ = shown_proxy(setting);
    // The same setting with a password: user@host becomes user:PASSWORD@host.
    if let Some((user, host)) = setting.split_once('@') {
        if !as_parsed(setting).contains(PASSWORD) {
            let raw = format!("{user}:{PASSWORD}@{host}");
            let shown = shown_proxy(&raw);
            assert!(!shown.contains(PASSWORD), "{raw:?} shown as {shown:?}");
            match proxy_url(&raw) {
                Ok((redacted, debug)) => {
                    assert!(!redacted.contains(PASSWORD), "{redacted:?}");
                    assert!(!debug.contains(PASSWORD), "{debug:?}");
                }
                Err(why) => assert!(!why.contains(PASSWORD), "{why:?}"),
            }
        }
    }
    let url = format!("https://{setting}/");
    if let Some(direct) = no_proxy(list, &url) {
        assert_eq!(
            no_proxy(&list.to_ascii_uppercase(), &url),
            Some(direct),
            "{list:?} {url:?}"
        );
        assert_eq!(
            no_proxy(&list.to_ascii_lowercase(), &url),
            Some(direct),
            "{list:?} {url:?}"
        );
        assert_eq!(
            no_proxy(list, &url.to_ascii_uppercase()),
            Some(direct),
            "{list:?} {url:?}"
        );
    }
});
