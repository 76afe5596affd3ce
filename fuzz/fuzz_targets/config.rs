//! The config file: TOML to settings, profiles included, each key read as its own kind
//! (token, project id, API URL, CA path, jobs, rate, duration).
//!
//! Input: UTF-8 text. A first line `@NAME` selects the profile NAME.
//! Invariants: a usage error, its hints and the warnings are one line each, with no
//! control character (a key or profile name may hold one), and an error never quotes
//! the token given as `api_key = "…"`.
#![no_main]

use chief_upload::fuzzing::config;
use libfuzzer_sys::fuzz_target;

/// The token the seeds set; a mutated file that still holds it as a value must not see it
/// in a message.
const TOKEN: &str = "pat_SecretSecretSecretSecretSecret12";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (profile, text) = match text.strip_prefix('@') {
        Some(rest) => match rest.split_once('\n') {
            Some((name, text)) => (Some(name), text),
            None => (Some(rest), ""),
        },
        None => (None, text),
    };
    let (message, hints) = match config(text, profile) {
        Ok(values) => {
            for v in &values {
                assert!(!v.chars().any(char::is_control), "{v:?}");
            }
            return;
        }
        Err(e) => e,
    };
    for line in std::iter::once(&message).chain(&hints) {
        assert!(!line.chars().any(char::is_control), "{line:?}");
    }
    let as_value = ["= \"", "=\"", "= '", "='"]
        .iter()
        .any(|q| text.contains(&format!("{q}{TOKEN}")));
    if as_value && text.matches(TOKEN).count() == 1 && profile.is_none_or(|p| !p.contains(TOKEN)) {
        assert!(!message.contains(TOKEN), "the token in: {message:?}");
        for hint in &hints {
            assert!(!hint.contains(TOKEN), "the token in: {hint:?}");
        }
    }
});
