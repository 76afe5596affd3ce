//! How a setting's value is quoted in a message: a URL without its user info, a token put
//! in the wrong setting redacted like the token itself.

use crate::secret::ApiKey;

/// A URL as it may be shown: without a user name or password, which may be secrets.
pub(crate) fn quote_url(raw: &str) -> String {
    match reqwest::Url::parse(raw.trim()) {
        Ok(mut u) if !u.username().is_empty() || u.password().is_some() => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            format!("{u} (user info removed)")
        }
        Ok(_) => raw.escape_debug().to_string(),
        // Unparsable: anything before an `@` may be a password.
        Err(_) if raw.contains('@') => "<an unparsable URL with user info>".to_string(),
        Err(_) => quote_value(raw),
    }
}

/// A setting's value as it may be shown: a token put in the wrong setting (it happens
/// when secrets are swapped in CI) is shown redacted, like the token itself.
pub(crate) fn quote_value(raw: &str) -> String {
    match ApiKey::parse(raw) {
        Ok(key) => format!("{} (looks like an API token)", key.redacted()),
        Err(_) if raw.trim().starts_with("pat_") => "pat_… (looks like an API token)".into(),
        Err(_) => raw.escape_debug().to_string(),
    }
}
