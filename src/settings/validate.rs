//! The local checks of the connection settings (`docs/api.md#request-headers`): the token's
//! shape (`ApiKey`), the project id's (`ProjectId`), and the API URL with its transport
//! rule. Messages quote the bad value, never a secret.

use std::fmt;

use super::{ApiSettings, Gathered, ENV_API_KEY, ENV_API_URL, ENV_PROJECT};
use crate::exit::UsageError;
use crate::http::check_transport;
use crate::secret::ApiKey;

/// A project id of the form `docs/api.md#request-headers` fixes: `project_` + 20 lower-case
/// letters or digits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ProjectId(String);

impl ProjectId {
    /// Checks the id's shape; the error says what is wrong, without quoting the id.
    pub(crate) fn parse(id: &str) -> Result<ProjectId, String> {
        let Some(rest) = id.strip_prefix("project_") else {
            return Err("it does not start with project_".into());
        };
        if rest.len() != 20 {
            return Err(format!(
                "it has {} characters after project_, expected 20",
                rest.chars().count()
            ));
        }
        if !rest
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        {
            return Err("only lower-case letters a-z and digits 0-9 may follow project_".into());
        }
        Ok(ProjectId(id.to_string()))
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ProjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Checks every gathered value; the first problem found is the error.
pub(crate) fn validate(g: &Gathered) -> Result<ApiSettings, UsageError> {
    let key = match &g.api_key {
        None => {
            return Err(UsageError::new("no API token is set")
                .hint(format!(
                "set {ENV_API_KEY}, pass --api-key-file FILE, or put api_key in the config file"
            ))
                .hint(config_hint(g)))
        }
        Some(k) => ApiKey::parse(&k.value).map_err(|why| {
            UsageError::new(format!(
                "the API token from {} is not valid: {why}",
                k.source
            ))
            .hint("copy the personal access token again from the Chief settings page")
        })?,
    };
    let project = match &g.project {
        None => {
            return Err(UsageError::new("no project id is set")
                .hint(format!(
                    "pass --project ID, set {ENV_PROJECT}, or put project_id in the config file"
                ))
                .hint(config_hint(g)))
        }
        Some(p) => ProjectId::parse(&p.value).map_err(|why| {
            UsageError::new(format!(
                "the project id '{}' from {} is not valid: {why}",
                shown_value(&p.value),
                p.source
            ))
            .hint("a project id looks like project_ followed by 20 lower-case letters or digits")
        })?,
    };
    let base_url = check_api_url(&g.api_url.value).map_err(|why| {
        UsageError::new(format!(
            "the API URL '{}' from {} is not usable: {why}",
            shown_url(&g.api_url.value),
            g.api_url.source
        ))
        .hint(format!("pass --api-url https://HOST or set {ENV_API_URL}"))
    })?;
    let network = Box::new(super::network::resolve(&g.network)?);
    Ok(ApiSettings {
        key,
        project,
        base_url,
        network,
    })
}

fn config_hint(g: &Gathered) -> String {
    match &g.config_path.value {
        Some(p) => format!(
            "config file: {} (see chief-upload --show-config)",
            p.display()
        ),
        None => "no config directory is known on this platform; use --config PATH".into(),
    }
}

/// `https` anywhere; plain `http` only to a loopback address, where nothing crosses a network.
pub(crate) fn check_api_url(raw: &str) -> Result<reqwest::Url, String> {
    let url = reqwest::Url::parse(raw.trim()).map_err(|e| format!("{e}"))?;
    check_transport(&url)?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err("it must not have a query or fragment".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("it must not carry a user name or password".into());
    }
    Ok(url)
}

/// A URL as it may be shown: without a user name or password, which may be secrets.
pub(super) fn shown_url(raw: &str) -> String {
    match reqwest::Url::parse(raw.trim()) {
        Ok(mut u) if !u.username().is_empty() || u.password().is_some() => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            format!("{u} (user info removed)")
        }
        Ok(_) => raw.escape_debug().to_string(),
        // Unparsable: anything before an `@` may be a password.
        Err(_) if raw.contains('@') => "<an unparsable URL with user info>".to_string(),
        Err(_) => shown_value(raw),
    }
}

/// A setting's value as it may be shown: a token put in the wrong setting (it happens
/// when secrets are swapped in CI) is shown redacted, like the token itself.
pub(super) fn shown_value(raw: &str) -> String {
    match ApiKey::parse(raw) {
        Ok(key) => format!("{} (looks like an API token)", key.redacted()),
        Err(_) if raw.trim().starts_with("pat_") => "pat_… (looks like an API token)".into(),
        Err(_) => raw.escape_debug().to_string(),
    }
}
