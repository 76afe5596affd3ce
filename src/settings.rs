//! Resolves the command line, the environment and the config file into one `Settings`,
//! once. Precedence (SPEC.md): flag > environment variable > config file (profile, then
//! top-level keys) > built-in default. Nothing else in the program reads the environment.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fmt;
use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cli::{Cli, ColorChoice};
use crate::exit::UsageError;
use crate::http::{check_transport, RetryPolicy};
use crate::secret::ApiKey;

/// Where the API lives when nothing says otherwise. The public reference page names no
/// base URL; override it with `--api-url`, `CHIEF_API_URL` or `api_url` in the config file.
pub const DEFAULT_API_URL: &str = "https://api.chief.app";
pub const DEFAULT_JOBS: usize = 8;
const MAX_JOBS: usize = 256;

pub const ENV_API_KEY: &str = "CHIEF_API_KEY";
pub const ENV_PROJECT: &str = "CHIEF_PROJECT_ID";
pub const ENV_API_URL: &str = "CHIEF_API_URL";
pub const ENV_CONFIG: &str = "CHIEF_CONFIG";
pub const ENV_PROFILE: &str = "CHIEF_PROFILE";
/// Test-mode switch: draw progress bars although stderr is not a terminal.
pub const ENV_PRETEND_TERM: &str = "CHIEF_UPLOAD_PRETEND_TERM";

/// A snapshot of the environment, so tests and the demo can pass their own.
#[derive(Clone, Debug, Default)]
pub struct Env(HashMap<OsString, OsString>);

impl Env {
    pub fn from_process() -> Env {
        Env(std::env::vars_os().collect())
    }
    pub fn from_pairs<K: Into<OsString>, V: Into<OsString>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Env {
        Env(pairs
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect())
    }
    /// A variable's value; unset and empty are the same (as for NO_COLOR).
    pub fn get(&self, name: &str) -> Option<String> {
        self.0
            .get(&OsString::from(name))
            .map(|v| v.to_string_lossy().into_owned())
            .filter(|v| !v.is_empty())
    }
    fn get_os(&self, name: &str) -> Option<&OsString> {
        self.0.get(&OsString::from(name)).filter(|v| !v.is_empty())
    }
}

/// Where a setting's value came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    Flag(&'static str),
    Env(&'static str),
    File { path: PathBuf, key: String },
    Default,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Flag(name) => write!(f, "flag {name}"),
            Source::Env(name) => write!(f, "environment {name}"),
            Source::File { path, key } => write!(f, "config {} ({key})", path.display()),
            Source::Default => f.write_str("default"),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Sourced<T> {
    pub value: T,
    pub source: Source,
}

/// The connection to the API: everything a network call needs, validated.
#[derive(Clone, Debug)]
pub struct ApiSettings {
    pub(crate) key: ApiKey,
    pub project: String,
    pub base_url: reqwest::Url,
}

#[derive(Clone, Debug)]
pub struct OutputSettings {
    pub json: bool,
    pub quiet: bool,
    pub verbose: u8,
    /// ANSI colours on stderr.
    pub color: bool,
    /// Live progress bars on stderr (a terminal, not quiet).
    pub bars: bool,
    /// Without bars: how often a plain progress line is printed (`None`: never).
    pub progress_every: Option<Duration>,
}

#[derive(Clone, Debug)]
pub struct WalkSettings {
    pub paths: Vec<PathBuf>,
    pub files_from: Option<PathBuf>,
    pub null: bool,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    pub follow: bool,
}

#[derive(Clone, Debug)]
pub struct Settings {
    pub walk: WalkSettings,
    pub jobs: usize,
    pub dry_run: bool,
    /// `None` with `--dry-run`.
    pub api: Option<ApiSettings>,
    pub output: OutputSettings,
    pub(crate) retry: RetryPolicy,
    /// Idle timeout of a connection (connect, or no bytes moving).
    pub timeout: Duration,
    /// The hash cache's file; `None` with `--no-cache` (or no known cache directory).
    pub cache: Option<PathBuf>,
    /// Things to tell the user once output is set up (e.g. config file permissions).
    pub warnings: Vec<String>,
}

/// The raw settings before validation, each with its source: what `--show-config` shows.
#[derive(Clone, Debug)]
pub struct Gathered {
    pub config_path: Sourced<Option<PathBuf>>,
    pub profile: Option<Sourced<String>>,
    pub api_key: Option<Sourced<String>>,
    pub project: Option<Sourced<String>>,
    pub api_url: Sourced<String>,
    pub warnings: Vec<String>,
}

/// Decides everything from the command line and the environment.
pub fn resolve(cli: &Cli, env: &Env, stdin_used: &mut bool) -> Result<Settings, UsageError> {
    let output = output_settings(cli, env);
    let walk = WalkSettings {
        paths: cli.paths.clone(),
        files_from: cli.files_from.clone(),
        null: cli.null,
        include: cli.include.clone(),
        exclude: cli.exclude.clone(),
        follow: cli.follow,
    };
    if walk.paths.is_empty() && walk.files_from.is_none() {
        return Err(UsageError::new("no PATH to upload was given")
            .hint("usage: chief-upload [OPTIONS] <PATH>...  (see chief-upload --help)"));
    }
    if cli.null && cli.files_from.is_none() {
        return Err(UsageError::new("-0/--null only applies to --files-from")
            .hint("add --files-from FILE (or - for stdin)"));
    }
    let jobs = cli.jobs.unwrap_or(DEFAULT_JOBS);
    if jobs == 0 || jobs > MAX_JOBS {
        return Err(UsageError::new(format!("--jobs {jobs} is out of range"))
            .hint(format!("use a number from 1 to {MAX_JOBS}")));
    }
    // `try_from`: a value too large for a Duration is an error, not a panic.
    let Some(timeout) = Duration::try_from_secs_f64(cli.timeout)
        .ok()
        .filter(|d| !d.is_zero())
    else {
        return Err(UsageError::new(format!(
            "--timeout {} must be a positive number of seconds",
            cli.timeout
        )));
    };
    let Ok(retry_cap) = Duration::try_from_secs_f64(cli.retry_max_delay) else {
        return Err(UsageError::new(
            "--retry-max-delay must be a non-negative number of seconds",
        ));
    };
    let mut warnings = Vec::new();
    let api = if cli.dry_run {
        None
    } else {
        if cli.files_from.as_deref() == Some(Path::new("-"))
            && cli.api_key_file.as_deref() == Some(Path::new("-"))
        {
            return Err(UsageError::new(
                "--files-from - and --api-key-file - cannot both read standard input",
            )
            .hint("pass the token through CHIEF_API_KEY or a file instead"));
        }
        let g = gather(cli, env, stdin_used)?;
        warnings.extend(g.warnings.iter().cloned());
        Some(validate(&g)?)
    };
    Ok(Settings {
        walk,
        jobs,
        dry_run: cli.dry_run,
        api,
        output,
        retry: RetryPolicy {
            retries: cli.retries,
            base: Duration::from_millis(cli.retry_base_ms),
            cap: retry_cap,
        },
        timeout,
        cache: if cli.no_cache {
            None
        } else {
            default_cache_path(env)
        },
        warnings,
    })
}

pub fn output_settings(cli: &Cli, env: &Env) -> OutputSettings {
    let term = env.get(ENV_PRETEND_TERM).is_some()
        || (std::io::stderr().is_terminal() && env.get("TERM").as_deref() != Some("dumb"));
    let color = match cli.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => term && env.get("NO_COLOR").is_none(),
    };
    OutputSettings {
        json: cli.json,
        quiet: cli.quiet,
        verbose: cli.verbose,
        color,
        bars: term && !cli.quiet,
        progress_every: Duration::try_from_secs_f64(cli.progress_interval)
            .ok()
            .filter(|d| !d.is_zero()),
    }
}

/// Reads flags, environment and config file, without validating the values.
pub fn gather(cli: &Cli, env: &Env, stdin_used: &mut bool) -> Result<Gathered, UsageError> {
    let config_path = if let Some(p) = &cli.config {
        Sourced {
            value: Some(p.clone()),
            source: Source::Flag("--config"),
        }
    } else if let Some(p) = env.get_os(ENV_CONFIG) {
        Sourced {
            value: Some(PathBuf::from(p)),
            source: Source::Env(ENV_CONFIG),
        }
    } else {
        Sourced {
            value: default_config_path(env),
            source: Source::Default,
        }
    };
    let profile = if let Some(p) = &cli.profile {
        Some(Sourced {
            value: p.clone(),
            source: Source::Flag("--profile"),
        })
    } else {
        env.get(ENV_PROFILE).map(|p| Sourced {
            value: p,
            source: Source::Env(ENV_PROFILE),
        })
    };
    let mut warnings = Vec::new();
    let explicit = config_path.source != Source::Default;
    let file = match &config_path.value {
        Some(path) => ConfigFile::load(path, explicit, &mut warnings)?,
        None => None,
    };
    let from_file = |key: &str| -> Result<Option<Sourced<String>>, UsageError> {
        match &file {
            Some(f) => f.lookup(key, profile.as_ref().map(|p| p.value.as_str())),
            None => Ok(None),
        }
    };
    if let (Some(p), None) = (&profile, &file) {
        return Err(UsageError::new(format!(
            "profile '{}' ({}) was asked for, but there is no config file{}",
            p.value,
            p.source,
            config_path
                .value
                .as_ref()
                .map(|c| format!(" at {}", c.display()))
                .unwrap_or_default()
        ))
        .hint("create the file with a [profiles.NAME] table, or unset the profile"));
    }

    let key_flag = match &cli.api_key_file {
        Some(path) => Some((read_key_file(path, stdin_used)?, "--api-key-file")),
        None => None,
    };
    let api_key = pick(key_flag, env, ENV_API_KEY, || from_file("api_key"))?;
    let project_flag = cli.project.clone().map(|p| (p, "--project"));
    let project = pick(project_flag, env, ENV_PROJECT, || from_file("project_id"))?;
    let url_flag = cli.api_url.clone().map(|u| (u, "--api-url"));
    let api_url = pick(url_flag, env, ENV_API_URL, || from_file("api_url"))?.unwrap_or(Sourced {
        value: DEFAULT_API_URL.to_string(),
        source: Source::Default,
    });
    Ok(Gathered {
        config_path,
        profile,
        api_key,
        project,
        api_url,
        warnings,
    })
}

/// One setting by precedence: the flag's value, else the environment variable, else the
/// config file.
fn pick(
    flag: Option<(String, &'static str)>,
    env: &Env,
    var: &'static str,
    file: impl FnOnce() -> Result<Option<Sourced<String>>, UsageError>,
) -> Result<Option<Sourced<String>>, UsageError> {
    if let Some((value, name)) = flag {
        return Ok(Some(Sourced {
            value,
            source: Source::Flag(name),
        }));
    }
    if let Some(value) = env.get(var) {
        return Ok(Some(Sourced {
            value,
            source: Source::Env(var),
        }));
    }
    file()
}

/// Checks every gathered value; the first problem found is the error.
pub fn validate(g: &Gathered) -> Result<ApiSettings, UsageError> {
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
        Some(p) => {
            check_project_id(&p.value).map_err(|why| {
                UsageError::new(format!(
                    "the project id '{}' from {} is not valid: {why}",
                    shown_value(&p.value),
                    p.source
                ))
                .hint(
                    "a project id looks like project_ followed by 20 lower-case letters or digits",
                )
            })?;
            p.value.clone()
        }
    };
    let base_url = check_api_url(&g.api_url.value).map_err(|why| {
        UsageError::new(format!(
            "the API URL '{}' from {} is not usable: {why}",
            shown_url(&g.api_url.value),
            g.api_url.source
        ))
        .hint(format!("pass --api-url https://HOST or set {ENV_API_URL}"))
    })?;
    Ok(ApiSettings {
        key,
        project,
        base_url,
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

pub fn check_project_id(id: &str) -> Result<(), String> {
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
    Ok(())
}

/// `https` anywhere; plain `http` only to a loopback address, where nothing crosses a network.
pub fn check_api_url(raw: &str) -> Result<reqwest::Url, String> {
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
fn shown_url(raw: &str) -> String {
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
fn shown_value(raw: &str) -> String {
    match ApiKey::parse(raw) {
        Ok(key) => format!("{} (looks like an API token)", key.redacted()),
        Err(_) if raw.trim().starts_with("pat_") => "pat_… (looks like an API token)".into(),
        Err(_) => raw.escape_debug().to_string(),
    }
}

/// `$XDG_CACHE_HOME/chief/hashes.sqlite` (`~/.cache/chief/…`) on Linux; the platform
/// cache directory elsewhere.
fn default_cache_path(env: &Env) -> Option<PathBuf> {
    if cfg!(target_os = "linux") {
        if let Some(x) = env
            .get_os("XDG_CACHE_HOME")
            .filter(|x| Path::new(x).is_absolute())
        {
            return Some(Path::new(x).join("chief").join("hashes.sqlite"));
        }
        if let Some(h) = env.get_os("HOME") {
            return Some(
                Path::new(h)
                    .join(".cache")
                    .join("chief")
                    .join("hashes.sqlite"),
            );
        }
    }
    crate::cache::HashCache::default_path()
}

fn default_config_path(env: &Env) -> Option<PathBuf> {
    // `directories` reads XDG_CONFIG_HOME/HOME from the process environment; respect a
    // snapshot that overrides them (tests, the demo) the same way.
    if cfg!(target_os = "linux") {
        if let Some(x) = env
            .get_os("XDG_CONFIG_HOME")
            .filter(|x| Path::new(x).is_absolute())
        {
            return Some(Path::new(x).join("chief").join("config.toml"));
        }
        if let Some(h) = env.get_os("HOME") {
            return Some(
                Path::new(h)
                    .join(".config")
                    .join("chief")
                    .join("config.toml"),
            );
        }
    }
    directories::ProjectDirs::from("", "", "chief").map(|d| d.config_dir().join("config.toml"))
}

fn read_key_file(path: &Path, stdin_used: &mut bool) -> Result<String, UsageError> {
    let text = if path == Path::new("-") {
        *stdin_used = true;
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s).map_err(|e| {
            UsageError::new(format!(
                "cannot read the API token from standard input: {e}"
            ))
        })?;
        s
    } else {
        let meta = std::fs::metadata(path).map_err(|e| {
            UsageError::new(format!(
                "cannot read --api-key-file {}: {e}",
                path.display()
            ))
            .hint("check the path")
        })?;
        if let Some(mode) = loose_mode(&meta) {
            return Err(UsageError::new(format!(
                "--api-key-file {} is readable by group or others (mode {mode:03o}); refusing to use a token others can read",
                path.display()
            ))
            .hint(format!("run: chmod 600 {}", path.display())));
        }
        std::fs::read_to_string(path).map_err(|e| {
            UsageError::new(format!(
                "cannot read --api-key-file {}: {e}",
                path.display()
            ))
        })?
    };
    let trimmed = text.trim();
    if trimmed.lines().count() > 1 {
        return Err(UsageError::new(format!(
            "--api-key-file {} has more than one line; it must hold only the token",
            path.display()
        )));
    }
    Ok(trimmed.to_string())
}

/// The permission bits that let group or others read a regular file, if any.
fn loose_mode(meta: &std::fs::Metadata) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        (meta.is_file() && mode & 0o077 != 0).then_some(mode)
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        None
    }
}

/// The TOML config file: top-level keys, and `[profiles.NAME]` tables that override them.
struct ConfigFile {
    path: PathBuf,
    table: toml::Table,
}

const CONFIG_KEYS: [&str; 3] = ["api_key", "project_id", "api_url"];

impl ConfigFile {
    fn load(
        path: &Path,
        explicit: bool,
        warnings: &mut Vec<String>,
    ) -> Result<Option<ConfigFile>, UsageError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => return Ok(None),
            Err(e) => {
                return Err(UsageError::new(format!(
                    "cannot read config file {}: {e}",
                    path.display()
                ))
                .hint("check --config / CHIEF_CONFIG"))
            }
        };
        if let Ok(meta) = std::fs::metadata(path) {
            if let Some(mode) = loose_mode(&meta) {
                warnings.push(format!(
                    "config file {} is readable by group or others (mode {mode:03o}) and may hold your token; run: chmod 600 {}",
                    path.display(),
                    path.display()
                ));
            }
        }
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            // toml's message quotes the offending line, which may be the token: keep only
            // the first line of the message and the position.
            let first = e
                .message()
                .lines()
                .next()
                .unwrap_or("syntax error")
                .to_string();
            let at = e
                .span()
                .map(|s| format!(" at byte {}", s.start))
                .unwrap_or_default();
            UsageError::new(format!(
                "config file {} is not valid TOML: {first}{at}",
                path.display()
            ))
        })?;
        for (k, v) in &table {
            if k == "profiles" {
                let Some(profiles) = v.as_table() else {
                    return Err(UsageError::new(format!(
                        "config file {}: `profiles` must be a table of [profiles.NAME] tables",
                        path.display()
                    )));
                };
                for (name, p) in profiles {
                    let Some(p) = p.as_table() else {
                        return Err(UsageError::new(format!(
                            "config file {}: profiles.{name} must be a table",
                            path.display()
                        )));
                    };
                    for pk in p.keys().filter(|pk| !CONFIG_KEYS.contains(&pk.as_str())) {
                        warnings.push(format!(
                            "config file {}: unknown key profiles.{name}.{pk} ignored (known: {})",
                            path.display(),
                            CONFIG_KEYS.join(", ")
                        ));
                    }
                }
            } else if !CONFIG_KEYS.contains(&k.as_str()) {
                warnings.push(format!(
                    "config file {}: unknown key {k} ignored (known: {}, profiles)",
                    path.display(),
                    CONFIG_KEYS.join(", ")
                ));
            }
        }
        Ok(Some(ConfigFile {
            path: path.to_path_buf(),
            table,
        }))
    }

    fn lookup(
        &self,
        key: &str,
        profile: Option<&str>,
    ) -> Result<Option<Sourced<String>>, UsageError> {
        if let Some(name) = profile {
            let p = self
                .table
                .get("profiles")
                .and_then(|p| p.as_table())
                .and_then(|p| p.get(name))
                .and_then(|p| p.as_table())
                .ok_or_else(|| {
                    let known: Vec<String> = self
                        .table
                        .get("profiles")
                        .and_then(|p| p.as_table())
                        .map(|p| p.keys().cloned().collect())
                        .unwrap_or_default();
                    UsageError::new(format!(
                        "profile '{name}' is not in config file {}",
                        self.path.display()
                    ))
                    .hint(if known.is_empty() {
                        "the file has no [profiles.NAME] tables".to_string()
                    } else {
                        format!("profiles there: {}", known.join(", "))
                    })
                })?;
            if let Some(v) = self.string(p.get(key), &format!("profiles.{name}.{key}"))? {
                return Ok(Some(v));
            }
        }
        self.string(self.table.get(key), key)
    }

    fn string(
        &self,
        v: Option<&toml::Value>,
        key: &str,
    ) -> Result<Option<Sourced<String>>, UsageError> {
        match v {
            None => Ok(None),
            Some(toml::Value::String(s)) => Ok(Some(Sourced {
                value: s.clone(),
                source: Source::File {
                    path: self.path.clone(),
                    key: key.to_string(),
                },
            })),
            Some(other) => Err(UsageError::new(format!(
                "config file {}: {key} must be a string, found a {}",
                self.path.display(),
                other.type_str()
            ))
            .hint(format!("write it as {key} = \"...\""))),
        }
    }
}

/// The `--show-config` text: every setting, its value (token redacted) and its source.
pub fn describe(g: &Gathered) -> String {
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
            let shown = match check_project_id(&p.value) {
                Ok(()) => p.value.clone(),
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
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn cli(args: &[&str]) -> Cli {
        Cli::parse_from(std::iter::once("chief-upload").chain(args.iter().copied()))
    }

    #[test]
    fn url_passwords_are_never_shown() {
        let g = Gathered {
            config_path: Sourced {
                value: None,
                source: Source::Default,
            },
            profile: None,
            api_key: None,
            project: None,
            api_url: Sourced {
                value: "https://me:hunter2@api.example.com".into(),
                source: Source::Default,
            },
            warnings: vec![],
        };
        assert!(!describe(&g).contains("hunter2"), "{}", describe(&g));
        let g = Gathered {
            api_key: Some(Sourced {
                value: "pat_abcdefghijklmnopqrstuvwxyz012345".into(),
                source: Source::Default,
            }),
            project: Some(Sourced {
                value: "project_aaaaaaaaaaaaaaaaaaaa".into(),
                source: Source::Default,
            }),
            ..g
        };
        let err = validate(&g).unwrap_err();
        assert!(
            err.message.contains("user name or password") && !err.message.contains("hunter2"),
            "{err}"
        );
    }

    #[test]
    fn project_ids() {
        assert!(check_project_id("project_0123456789abcdefghij").is_ok());
        assert!(check_project_id("project_0123456789ABCDEFGHIJ").is_err());
        assert!(check_project_id("project_0123").is_err());
        assert!(check_project_id("proj_0123456789abcdefghij").is_err());
    }

    #[test]
    fn http_only_to_loopback() {
        assert!(check_api_url("https://api.example.com").is_ok());
        assert!(check_api_url("http://127.0.0.1:8080").is_ok());
        assert!(check_api_url("http://127.1.2.3").is_ok());
        assert!(check_api_url("http://[::1]:9").is_ok());
        assert!(check_api_url("http://localhost:9").is_ok());
        assert!(check_api_url("http://api.example.com").is_err());
        assert!(check_api_url("http://10.0.0.1").is_err());
        assert!(check_api_url("ftp://x").is_err());
        assert!(check_api_url("https://u:p@x").is_err());
    }

    #[test]
    fn profiles_override_top_level_and_flags_override_all() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "project_id = \"project_aaaaaaaaaaaaaaaaaaaa\"\napi_url = \"https://top.example\"\n[profiles.ci]\nproject_id = \"project_bbbbbbbbbbbbbbbbbbbb\"\n",
        )
        .unwrap();
        let p = path.to_str().unwrap();
        let env = Env::default();
        let mut used = false;
        let g = gather(&cli(&["--config", p, "x"]), &env, &mut used).unwrap();
        assert_eq!(g.project.unwrap().value, "project_aaaaaaaaaaaaaaaaaaaa");
        let g = gather(
            &cli(&["--config", p, "--profile", "ci", "x"]),
            &env,
            &mut used,
        )
        .unwrap();
        assert_eq!(
            g.project.as_ref().unwrap().value,
            "project_bbbbbbbbbbbbbbbbbbbb"
        );
        assert_eq!(
            g.api_url.value, "https://top.example",
            "profiles inherit top-level keys"
        );
        let env = Env::from_pairs([(ENV_PROJECT, "project_cccccccccccccccccccc")]);
        let g = gather(
            &cli(&["--config", p, "--profile", "ci", "x"]),
            &env,
            &mut used,
        )
        .unwrap();
        assert_eq!(g.project.as_ref().unwrap().source, Source::Env(ENV_PROJECT));
        let g = gather(
            &cli(&[
                "--config",
                p,
                "--project",
                "project_dddddddddddddddddddd",
                "x",
            ]),
            &env,
            &mut used,
        )
        .unwrap();
        assert_eq!(g.project.unwrap().value, "project_dddddddddddddddddddd");
        let err = gather(
            &cli(&["--config", p, "--profile", "nope", "x"]),
            &Env::default(),
            &mut used,
        )
        .unwrap_err();
        assert!(err.message.contains("'nope'"), "{err}");
        assert!(err.hints[0].contains("ci"));
    }

    #[test]
    fn toml_errors_do_not_quote_the_token() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "api_key = pat_abcdefghijklmnopqrstuvwxyz012345\n").unwrap();
        let mut used = false;
        let err = gather(
            &cli(&["--config", path.to_str().unwrap(), "x"]),
            &Env::default(),
            &mut used,
        )
        .unwrap_err();
        assert!(err.message.contains("not valid TOML"), "{err}");
        assert!(!format!("{err:?}").contains("abcdefghijklmnop"), "{err:?}");
    }

    #[test]
    fn out_of_range_durations_are_errors_not_panics() {
        for args in [
            ["--timeout", "1e300"],
            ["--timeout", "0"],
            ["--timeout", "NaN"],
            ["--retry-max-delay", "1e300"],
            ["--retry-max-delay", "inf"],
        ] {
            let c = cli(&[args[0], args[1], "--dry-run", "x"]);
            let mut used = false;
            let err = resolve(&c, &Env::default(), &mut used).unwrap_err();
            assert!(err.message.contains(args[0]), "{err}");
        }
    }

    /// Issue 4 item 12: no config file, however mangled, makes reading it panic, and a
    /// parse error never quotes the token.
    #[test]
    fn config_parsing_never_panics_on_mangled_files() {
        let token_body = "abcdefghijklmnopqrstuvwxyz012345";
        let good = format!(
            "# chief\napi_key = \"pat_{token_body}\"\nproject_id = 'project_aaaaaaaaaaaaaaaaaaaa'\napi_url = \"https://x.example\"\n[profiles.ci]\nproject_id = \"project_bbbbbbbbbbbbbbbbbbbb\"\napi_url = 7\n[profiles.x]\napi_key = [1]\n"
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        let p = path.to_str().unwrap();
        let plain = cli(&["--config", p, "x"]);
        let ci = cli(&["--config", p, "--profile", "ci", "x"]);
        let x = cli(&["--config", p, "--profile", "x", "x"]);
        let check = |bytes: &[u8]| {
            std::fs::write(&path, bytes).unwrap();
            for c in [&plain, &ci, &x] {
                let mut used = false;
                match gather(c, &Env::default(), &mut used) {
                    Ok(g) => {
                        let _ = validate(&g);
                        let _ = describe(&g);
                    }
                    Err(e) => assert!(!format!("{e:?}").contains(token_body), "{e:?}"),
                }
            }
        };
        let bytes = good.as_bytes();
        for i in 0..bytes.len() {
            check(&bytes[..i]);
            for b in [b'"', b'\'', b'=', b'[', b']', b'\n', b'\\', b'#', 0xff, 0] {
                let mut m = bytes.to_vec();
                m[i] = b;
                check(&m);
            }
        }
    }
}
