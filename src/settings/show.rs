//! The `--show-config` view: every setting that a flag, an environment variable or a
//! config key can set, its value (token and proxy password redacted) and its source.
//!
//! One line per setting, named after its config key or flag (`max_outage`, `include`).
//! `LINES` says which line shows each flag; a test walks the command line definition,
//! the variables the code reads and the config keys, and fails on one that is neither
//! shown nor in `NOT_SETTINGS`.

use std::path::PathBuf;
use std::time::Duration;

use super::ci::{CiChoice, CiSystem};
use super::env::Env;
use super::network::{dir_roots, read_roots, NetworkSources};
use super::quote::{quote_url, quote_value};
use super::shapes::{check_api_url, ProjectId};
use super::source::{Source, Sourced};
use super::units::Rate;
use super::{ci, filter, stdin, watch, Gathered};
use crate::admission::Jobs;
use crate::cli::{Cli, ColorChoice};
use crate::duration;
use crate::exit::UsageError;
use crate::http::{shown_proxy, NoProxy, ProxyUrl};
use crate::secret::ApiKey;

#[cfg(test)]
/// The flags shown on a line of another name (flag id, line). Every other flag's line has
/// the flag's own name (`--max-size`: `max_size`).
pub(crate) const LINES: [(&str, &str); 6] = [
    ("api_key_file", "api_key"),
    ("project", "project_id"),
    ("no_cache", "cache"),
    ("retry_base_ms", "retries"),
    ("retry_max_delay", "retries"),
    ("paths", "paths"),
];

#[cfg(test)]
/// Flags that are not settings: actions and modes, each shown by what it does.
pub(crate) const NOT_SETTINGS: [&str; 6] = [
    "dry_run",     // a mode: report what would be uploaded
    "show_config", // this view
    "completions", // an action: print a completion script
    "man",         // an action: print the man page
    "help",
    "version",
];

/// The lines of the view, aligned when written.
#[derive(Default)]
struct View(Vec<(&'static str, String, String)>);

impl View {
    fn line(&mut self, name: &'static str, value: impl Into<String>, source: impl ToString) {
        self.0.push((name, value.into(), source.to_string()));
    }

    /// A value that may not be valid: the value, or what is wrong with it.
    fn checked<T>(
        &mut self,
        name: &'static str,
        picked: Result<Option<Sourced<T>>, UsageError>,
        show: impl Fn(&T) -> String,
        unset: &str,
    ) {
        match picked {
            Ok(Some(s)) => self.line(name, show(&s.value), &s.source),
            Ok(None) => self.line(name, unset, Source::Default),
            Err(e) => self.line(name, format!("(invalid: {})", e.message), ""),
        }
    }

    fn text(&self) -> String {
        let mut out = String::new();
        for (name, value, source) in &self.0 {
            let line = format!("{name:<17} {value:<40} {source}");
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// Where a plain flag's value came from: the command line, or its default.
fn flag(cli: &Cli, id: &str, flag: &'static str) -> Source {
    if cli.gave(id) {
        Source::Flag(flag)
    } else {
        Source::Default
    }
}

/// The `--show-config` text: the connection settings as gathered (`g`, not yet
/// validated: an invalid value is shown with what is wrong), then every other setting.
pub(crate) fn describe(cli: &Cli, env: &Env, g: &Gathered) -> String {
    let mut v = View::default();
    connection(&mut v, g);
    transfer(&mut v, cli, env, g);
    files(&mut v, cli, env);
    output(&mut v, cli, env);
    watching(&mut v, cli, env);
    v.text()
}

fn connection(v: &mut View, g: &Gathered) {
    let cfg = match &g.config_path.value {
        Some(p) if p.exists() => p.display().to_string(),
        Some(p) => format!("{} (not found)", p.display()),
        None => "(none)".to_string(),
    };
    v.line("config", cfg, &g.config_path.source);
    match &g.profile {
        Some(p) => v.line("profile", p.value.clone(), &p.source),
        None => v.line("profile", "(top-level keys)", Source::Default),
    }
    match &g.api_key {
        Some(k) => {
            let shown = match ApiKey::parse(&k.value) {
                Ok(key) => key.redacted(),
                Err(why) => format!("(invalid: {why})"),
            };
            v.line("api_key", shown, &k.source)
        }
        None => v.line("api_key", "(not set)", ""),
    }
    match &g.project {
        Some(p) => {
            let shown = match ProjectId::parse(&p.value) {
                Ok(id) => id.to_string(),
                Err(why) => format!("{} (invalid: {why})", quote_value(&p.value)),
            };
            v.line("project_id", shown, &p.source)
        }
        None => v.line("project_id", "(not set)", ""),
    }
    let url = match check_api_url(&g.api_url.value) {
        Ok(_) => g.api_url.value.clone(),
        Err(why) => format!("{} (invalid: {why})", quote_url(&g.api_url.value)),
    };
    v.line("api_url", url, &g.api_url.source);
    for (name, value, source) in network_lines(&g.network, &g.api_url.value) {
        v.line(name, value, source);
    }
}

fn transfer(v: &mut View, cli: &Cli, env: &Env, g: &Gathered) {
    let jobs = &g.transfer.jobs;
    let shown = match jobs.value {
        Jobs::Auto => "auto (adapts during the run)".to_string(),
        Jobs::Fixed(n) => format!("{n} files in flight"),
    };
    v.line("jobs", shown, &jobs.source);
    let bwlimit = &g.transfer.bwlimit;
    v.line("bwlimit", shown_rate(bwlimit.value), &bwlimit.source);
    let retried = ["retries", "retry_base_ms", "retry_max_delay"]
        .into_iter()
        .find(|id| cli.gave(id));
    v.line(
        "retries",
        format!(
            "{} (backoff from {}, at most {} apart)",
            cli.retries,
            duration::shown(Duration::from_millis(cli.retry_base_ms)),
            duration::shown(cli.retry_max_delay)
        ),
        match retried {
            Some("retry_base_ms") => Source::Flag("--retry-base-ms"),
            Some("retry_max_delay") => Source::Flag("--retry-max-delay"),
            Some(_) => Source::Flag("--retries"),
            None => Source::Default,
        },
    );
    v.line(
        "timeout",
        duration::shown(cli.timeout),
        flag(cli, "timeout", "--timeout"),
    );
    let outage = &g.transfer.max_outage;
    let shown = if cli.watch && outage.source == Source::Default {
        "none: a watch waits out any outage".to_string()
    } else {
        duration::shown(outage.value)
    };
    v.line("max_outage", shown, &outage.source);
    match env.cache_path() {
        _ if cli.no_cache => v.line("cache", "off", Source::Flag("--no-cache")),
        Some(p) => v.line("cache", p.display().to_string(), Source::Default),
        None => v.line(
            "cache",
            "off (no cache folder on this system)",
            Source::Default,
        ),
    }
}

fn files(v: &mut View, cli: &Cli, env: &Env) {
    let paths: Vec<String> = cli.paths.iter().map(|p| p.display().to_string()).collect();
    v.line("paths", listed(&paths), flag(cli, "paths", "PATH"));
    let name = cli.name.as_deref().map(|n| n.escape_debug().to_string());
    v.line(
        "name",
        name.unwrap_or_else(|| "(none: no - among the PATHs)".into()),
        flag(cli, "name", "--name"),
    );
    let spool = stdin::spool_dir(env);
    v.line(
        "spool",
        format!(
            "{} (for stdin past {} MiB)",
            spool.value.display(),
            crate::spool::MEMORY_MAX >> 20
        ),
        &spool.source,
    );
    let mime = match cli.mime_type.as_deref().map(stdin::media_type) {
        None => "(detected: by name, else by the first bytes)".to_string(),
        Some(Ok(m)) => m,
        Some(Err(why)) => format!("(invalid: {why})"),
    };
    v.line("mime_type", mime, flag(cli, "mime_type", "--mime-type"));
    let from = cli.files_from.as_ref().map(|p| p.display().to_string());
    v.line(
        "files_from",
        from.unwrap_or_else(|| "(none)".into()),
        flag(cli, "files_from", "--files-from"),
    );
    v.line("null", on_off(cli.null), flag(cli, "null", "--null"));
    v.line(
        "follow",
        on_off(cli.follow),
        flag(cli, "follow", "--follow"),
    );
    v.line(
        "include",
        listed(&cli.include),
        flag(cli, "include", "--include"),
    );
    v.line(
        "exclude",
        listed(&cli.exclude),
        flag(cli, "exclude", "--exclude"),
    );
    let shown = |ps: &[PathBuf]| {
        listed(
            &ps.iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>(),
        )
    };
    v.line(
        "include_from",
        shown(&cli.include_from),
        flag(cli, "include_from", "--include-from"),
    );
    v.line(
        "exclude_from",
        shown(&cli.exclude_from),
        flag(cli, "exclude_from", "--exclude-from"),
    );
    let limits = filter::limits_sourced(cli, env);
    let size = |s: &super::units::Size| format!("{} bytes", s.0);
    v.checked("min_size", limits.min_size, size, "(none)");
    v.checked("max_size", limits.max_size, size, "(none)");
    if cli.watch {
        v.line("min_age", "(the settle time in a watch: see settle)", "");
    } else {
        v.checked("min_age", limits.min_age, |d| duration::shown(*d), "(none)");
    }
    v.checked("max_age", limits.max_age, |d| duration::shown(*d), "(none)");
    v.checked(
        "shard",
        ci::shard_sourced(cli, env),
        |s| format!("{s} (XXH64 of the path, mod {}, plus 1)", s.count),
        "(none: every file)",
    );
    v.line(
        "if_no_files",
        format!("{:?}", cli.if_no_files).to_lowercase(),
        flag(cli, "if_no_files", "--if-no-files"),
    );
}

fn output(v: &mut View, cli: &Cli, env: &Env) {
    v.line("json", on_off(cli.json), flag(cli, "json", "--json"));
    let report = cli.report.as_ref().map(|p| p.display().to_string());
    v.line(
        "report",
        report.unwrap_or_else(|| "(none)".into()),
        flag(cli, "report", "--report"),
    );
    let junit = cli.junit.as_ref().map(|p| p.display().to_string());
    v.line(
        "junit",
        junit.unwrap_or_else(|| "(none)".into()),
        flag(cli, "junit", "--junit"),
    );
    match ci::ci_sourced(cli, env) {
        Ok((choice, system)) => {
            let shown = match (choice.value, system) {
                (CiChoice::Auto, CiSystem::Github) => "github (auto: GITHUB_ACTIONS=true)",
                (CiChoice::Auto, CiSystem::Gitlab) => "gitlab (auto: GITLAB_CI=true)",
                (CiChoice::Auto, CiSystem::Off) => {
                    "off (auto: neither GITHUB_ACTIONS nor GITLAB_CI is true)"
                }
                (CiChoice::Github, _) => "github",
                (CiChoice::Gitlab, _) => "gitlab",
                (CiChoice::Off, _) => "off",
            };
            v.line("ci", shown, &choice.source)
        }
        Err(e) => v.line("ci", format!("(invalid: {})", e.message), ""),
    }
    v.line("quiet", on_off(cli.quiet), flag(cli, "quiet", "--quiet"));
    v.line(
        "verbose",
        cli.verbose.to_string(),
        flag(cli, "verbose", "--verbose"),
    );
    let color = match cli.color {
        ColorChoice::Always => "always".to_string(),
        ColorChoice::Never => "never".to_string(),
        ColorChoice::Auto if env.get("NO_COLOR").is_some() => {
            "auto: never (NO_COLOR is set)".to_string()
        }
        ColorChoice::Auto => "auto (on a terminal)".to_string(),
    };
    v.line("color", color, flag(cli, "color", "--color"));
    let every = if !cli.progress_interval.is_zero() {
        format!(
            "every {} when not on a terminal",
            duration::shown(cli.progress_interval)
        )
    } else {
        "off".to_string()
    };
    v.line(
        "progress_interval",
        every,
        flag(cli, "progress_interval", "--progress-interval"),
    );
}

fn watching(v: &mut View, cli: &Cli, env: &Env) {
    v.line("watch", on_off(cli.watch), flag(cli, "watch", "--watch"));
    let record = match env.record_path() {
        _ if cli.no_cache => "a temporary one (--no-cache)".to_string(),
        Some(p) => p.display().to_string(),
        None => "a temporary one (no cache folder on this system)".to_string(),
    };
    v.line("record", record, Source::Default);
    if !cli.watch {
        return;
    }
    let settle = filter::limits_sourced(cli, env).min_age;
    match settle {
        Ok(Some(s)) => v.line("settle", duration::shown(s.value), &s.source),
        Ok(None) => v.line(
            "settle",
            duration::shown(watch::DEFAULT_SETTLE),
            Source::Default,
        ),
        Err(e) => v.line("settle", format!("(invalid: {})", e.message), ""),
    }
    let rescan = cli
        .rescan_interval
        .as_deref()
        .map(|raw| watch::positive("--rescan-interval", raw));
    match rescan {
        Some(Ok(d)) => v.line(
            "rescan_interval",
            duration::shown(d),
            Source::Flag("--rescan-interval"),
        ),
        Some(Err(e)) => v.line("rescan_interval", format!("(invalid: {})", e.message), ""),
        None => v.line(
            "rescan_interval",
            duration::shown(watch::DEFAULT_RESCAN),
            Source::Default,
        ),
    }
    v.line(
        "poll",
        if cli.poll {
            "on: rescans only"
        } else {
            "off: file events"
        },
        flag(cli, "poll", "--poll"),
    );
}

fn on_off(on: bool) -> &'static str {
    if on {
        "on"
    } else {
        "off"
    }
}

fn listed(items: &[String]) -> String {
    if items.is_empty() {
        "(none)".into()
    } else {
        items
            .iter()
            .map(|i| i.escape_debug().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }
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
    // The proxy of the other scheme, for hosts reached over it (a storage host, say).
    let other = match check_api_url(api_url).ok().as_ref().map(|u| u.scheme()) {
        Some("http") => n.https_proxy.as_ref().map(|p| ("https_proxy", p)),
        _ => n.http_proxy.as_ref().map(|p| ("http_proxy", p)),
    };
    if let Some((name, p)) = other {
        let shown = match ProxyUrl::parse(&p.value) {
            Ok(proxy) => format!(
                "{} (for {name}s hosts)",
                proxy.redacted(),
                name = &name[..name.len() - 6]
            ),
            Err(why) => format!("{} (invalid: {why})", shown_proxy(&p.value)),
        };
        lines.push((name, shown, p.source.to_string()));
    }
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
pub(crate) fn shown_rate(rate: Rate) -> String {
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
