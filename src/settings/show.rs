//! The `--show-config` view: every connection and transfer setting, its value (token
//! redacted) and its source.

use super::source::Source;
use super::units::{Jobs, Rate};
use super::validate::{check_api_url, shown_url, shown_value, ProjectId};
use super::Gathered;
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
