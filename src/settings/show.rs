//! The `--show-config` view: every connection and transfer setting, its value (token and
//! proxy password redacted) and its source.

use std::path::PathBuf;

use super::network::{dir_roots, read_roots, NetworkSources};
use super::source::{Source, Sourced};
use super::units::{Jobs, Rate};
use super::validate::{check_api_url, shown_url, shown_value, ProjectId};
use super::Gathered;
use crate::http::{shown_proxy, NoProxy, ProxyUrl};
use crate::secret::ApiKey;

/// The `--show-config` text.
pub(crate) fn describe(g: &Gathered) -> String {
    let mut out = String::new();
    let mut line = |name: &str, value: String, source: String| {
        out.push_str(&format!("{name:<11} {value:<40} {source}\n"));
    };
    let cfg = match &g.config_path.value {
        Some(p) if p.exists() => p.display().to_string(),
        Some(p) => format!("{} (not found)", p.display()),
        None => "(none)".to_string(),
    };
    line("config", cfg, g.config_path.source.to_string());
    match &g.profile {
        Some(p) => line("profile", p.value.clone(), p.source.to_string()),
        None => line(
            "profile",
            "(top-level keys)".into(),
            Source::Default.to_string(),
        ),
    }
    match &g.api_key {
        Some(k) => {
            let shown = match ApiKey::parse(&k.value) {
                Ok(key) => key.redacted(),
                Err(why) => format!("(invalid: {why})"),
            };
            line("api_key", shown, k.source.to_string())
        }
        None => line("api_key", "(not set)".into(), String::new()),
    }
    match &g.project {
        Some(p) => {
            let shown = match ProjectId::parse(&p.value) {
                Ok(id) => id.to_string(),
                Err(why) => format!("{} (invalid: {why})", shown_value(&p.value)),
            };
            line("project_id", shown, p.source.to_string())
        }
        None => line("project_id", "(not set)".into(), String::new()),
    }
    let url = match check_api_url(&g.api_url.value) {
        Ok(_) => g.api_url.value.clone(),
        Err(why) => format!("{} (invalid: {why})", shown_url(&g.api_url.value)),
    };
    line("api_url", url, g.api_url.source.to_string());
    for (name, value, source) in network_lines(&g.network, &g.api_url.value) {
        line(name, value, source);
    }
    let jobs = &g.transfer.jobs;
    let shown = match jobs.value {
        Jobs::Auto => "auto (adapts during the run)".to_string(),
        Jobs::Fixed(n) => format!("{n} files in flight"),
    };
    line("jobs", shown, jobs.source.to_string());
    let bwlimit = &g.transfer.bwlimit;
    line(
        "bwlimit",
        shown_rate(bwlimit.value),
        bwlimit.source.to_string(),
    );
    out
}

/// The trusted roots, the extra CA, and the proxy that requests to the API go through.
fn network_lines(n: &NetworkSources, api_url: &str) -> Vec<(&'static str, String, String)> {
    let mut lines = Vec::new();
    let certificates = |path: &PathBuf| match read_roots(path) {
        Ok(c) => format!("{} ({})", path.display(), count(c.len())),
        Err(why) => format!("{} (invalid: {why})", path.display()),
    };
    if let Some(f) = &n.cert_file {
        lines.push(("roots", certificates(&f.value), f.source.to_string()));
    }
    if let Some(d) = &n.cert_dir {
        let found = count(dir_roots(&d.value).len());
        let shown = format!("{} ({found})", d.value.to_string_lossy());
        lines.push(("roots", shown, d.source.to_string()));
    }
    if n.cert_file.is_none() && n.cert_dir.is_none() {
        lines.push(("roots", "system".into(), Source::Default.to_string()));
    }
    match &n.ca_cert {
        Some(c) => lines.push(("ca_cert", certificates(&c.value), c.source.to_string())),
        None => lines.push(("ca_cert", "(not set)".into(), String::new())),
    }
    lines.push(proxy_line(n, api_url));
    if let Some(no) = &n.no_proxy {
        lines.push((
            "no_proxy",
            no.value.escape_debug().to_string(),
            no.source.to_string(),
        ));
    }
    lines
}

fn count(n: usize) -> String {
    match n {
        1 => "1 certificate".into(),
        n => format!("{n} certificates"),
    }
}

/// The proxy for the API URL's scheme, unless `NO_PROXY` sends the API direct.
fn proxy_line(n: &NetworkSources, api_url: &str) -> (&'static str, String, String) {
    let url = check_api_url(api_url).ok();
    let chosen: Option<&Sourced<String>> = match url.as_ref().map(|u| u.scheme()) {
        Some("http") => n.http_proxy.as_ref(),
        _ => n.https_proxy.as_ref(),
    };
    let Some(p) = chosen else {
        return ("proxy", "(none)".into(), String::new());
    };
    let bypassed = match (&url, &n.no_proxy) {
        (Some(u), Some(no)) if NoProxy::parse(&no.value).matches(u) => Some(no),
        _ => None,
    };
    match (ProxyUrl::parse(&p.value), bypassed) {
        (Err(why), _) => (
            "proxy",
            format!("{} (invalid: {why})", shown_proxy(&p.value)),
            p.source.to_string(),
        ),
        (Ok(proxy), Some(no)) => (
            "proxy",
            format!(
                "direct (the API host is in {}); other hosts: {proxy}",
                env_name(&no.source)
            ),
            no.source.to_string(),
        ),
        (Ok(proxy), None) => ("proxy", proxy.redacted(), p.source.to_string()),
    }
}

fn env_name(s: &Source) -> &'static str {
    match s {
        Source::Env(var) => var,
        _ => "NO_PROXY",
    }
}

/// A rate in the units it was most likely given in, and in bytes per second.
fn shown_rate(rate: Rate) -> String {
    let Some(n) = rate.0 else {
        return "off (no cap)".into();
    };
    let n = n.get();
    let unit = [(30, "G"), (20, "M"), (10, "K")]
        .into_iter()
        .find(|(shift, _)| n % (1 << shift) == 0);
    match unit {
        Some((shift, letter)) => format!("{}{letter} ({n} bytes/s)", n >> shift),
        None => format!("{n} bytes/s"),
    }
}
