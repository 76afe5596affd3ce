//! The connection, decided: every gathered connection setting checked, the first problem
//! found is the error, and the network (roots, proxies) resolved.

use super::network;
use super::quote::{quote_url, quote_value};
use super::shapes::{check_api_url, ProjectId};
use super::{ApiSettings, Gathered, ENV_API_KEY, ENV_API_URL, ENV_PROJECT};
use crate::exit::UsageError;
use crate::secret::ApiKey;

/// Checks every gathered value; the first problem found is the error.
pub(crate) fn api_settings(g: &Gathered) -> Result<ApiSettings, UsageError> {
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
                quote_value(&p.value),
                p.source
            ))
            .hint("a project id looks like project_ followed by 20 lower-case letters or digits")
        })?,
    };
    let base_url = check_api_url(&g.api_url.value).map_err(|why| {
        UsageError::new(format!(
            "the API URL '{}' from {} is not usable: {why}",
            quote_url(&g.api_url.value),
            g.api_url.source
        ))
        .hint(format!("pass --api-url https://HOST or set {ENV_API_URL}"))
    })?;
    let network = Box::new(network::resolve(&g.network)?);
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
