//! The shapes of the connection settings (`docs/api.md#request-headers`): the project id's
//! (`ProjectId`; the token's is `secret::ApiKey`), and the API URL with its transport rule.

use std::fmt;

use crate::http::check_transport;

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
