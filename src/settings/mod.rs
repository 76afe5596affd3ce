//! Resolves the command line, the environment and the config file into one `Settings`,
//! once: every decision the run depends on (upload or dry run, the compiled filter, the
//! output) is made here, and nothing downstream derives it again. Nothing else in the
//! program reads the environment.
//!
//! * `env.rs`: the environment snapshot and the platform paths (config file, hash cache).
//! * `source.rs`: the vocabulary: where a value came from, a setting's names, how a kind of
//!   value is read. `layers.rs`: the one precedence rule.
//! * `file.rs`: the TOML config file and its profiles; `key_file.rs`: `--api-key-file`.
//! * `shapes.rs`: the shapes of the project id and the API URL; `connection.rs`: the
//!   connection settings checked and the network resolved; `quote.rs`: values as
//!   messages quote them.
//! * `network.rs`: trusted roots and proxies (`--ca-cert`, `SSL_CERT_*`, `*_PROXY`).
//! * `units.rs`: the SIZE, RATE and DURATION value forms.
//! * `show.rs`: the `--show-config` view.
//! * `ci.rs`: `--ci` and `--shard`, the settings of a CI job.
//! * `filter.rs`: which files a run takes: globs, pattern files, size and age limits.
//! * `watch.rs`: `--watch`: the settle time, rescans, the record of files sent.
//! * `stdin.rs`: `-` (standard input, `--name`, the spool folder) and `--mime-type`.
//!
//! A new setting: a `Key` below (its flag, variable and config key, added to
//! `CONFIG_KEYS`), a `String` field in `Cli`, and one `Layers::pick` (or `pick_or`) whose
//! type says how the value is read.

mod ci;
mod connection;
mod env;
mod file;
mod filter;
mod key_file;
mod layers;
mod network;
mod quote;
mod shapes;
mod show;
mod source;
mod stdin;
pub(crate) mod units;
mod watch;

use std::io::IsTerminal;
use std::num::NonZeroU64;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cli::{Cli, ColorChoice, IfNoFiles};
use crate::exit::UsageError;
use crate::http::{Network, RetryPolicy};
use crate::secret::ApiKey;
use crate::shard::Shard;
use crate::walk::{Filter, WalkSettings};

pub(crate) use crate::admission::Jobs;
pub use ci::{Ci, GithubFiles};
pub(crate) use connection::api_settings;
pub use env::Env;
pub(crate) use layers::Layers;
pub(crate) use shapes::ProjectId;
pub(crate) use show::describe;
pub(crate) use source::{Key, Source, Sourced};
pub use stdin::StdinSettings;
pub use watch::WatchSettings;

use file::ConfigFile;
#[cfg(feature = "fuzzing")]
pub(crate) use filter::pattern_lines;
use key_file::read_key_file;
use network::{NetworkSources, CA_CERT};
#[cfg(feature = "fuzzing")]
pub(crate) use show::shown_rate;
use units::Rate;

/// Where the API lives when nothing says otherwise. The public reference page names no
/// base URL; override it with `--api-url`, `CHIEF_API_URL` or `api_url` in the config file.
pub(crate) const DEFAULT_API_URL: &str = "https://api.chief.app";

pub(crate) const ENV_API_KEY: &str = "CHIEF_API_KEY";
pub(crate) const ENV_PROJECT: &str = "CHIEF_PROJECT_ID";
pub(crate) const ENV_API_URL: &str = "CHIEF_API_URL";
pub(crate) const ENV_CONFIG: &str = "CHIEF_CONFIG";
pub(crate) const ENV_PROFILE: &str = "CHIEF_PROFILE";
pub(crate) const ENV_JOBS: &str = "CHIEF_JOBS";
pub(crate) const ENV_BWLIMIT: &str = "CHIEF_BWLIMIT";
/// Test-mode switch: draw progress bars although stderr is not a terminal.
pub(crate) const ENV_PRETEND_TERM: &str = "CHIEF_UPLOAD_PRETEND_TERM";
/// How long an outage is waited for.
pub(crate) const MAX_OUTAGE: Key<Duration> =
    Key::new("--max-outage", Some("CHIEF_MAX_OUTAGE"), "max_outage");
const DEFAULT_MAX_OUTAGE: Duration = Duration::from_secs(5 * 60);

/// The token: `--api-key-file` gives the file's text (the flag never takes the token).
pub(crate) const API_KEY: Key<String> = Key::new("--api-key-file", Some(ENV_API_KEY), "api_key");
pub(crate) const PROJECT: Key<String> = Key::new("--project", Some(ENV_PROJECT), "project_id");
pub(crate) const API_URL: Key<String> = Key::new("--api-url", Some(ENV_API_URL), "api_url");
pub(crate) const JOBS: Key<Jobs> = Key::new("--jobs", Some(ENV_JOBS), "jobs");
pub(crate) const BWLIMIT: Key<Rate> = Key::new("--bwlimit", Some(ENV_BWLIMIT), "bwlimit");
/// The keys a config file may set; any other is warned about.
pub(crate) const CONFIG_KEYS: [&str; 7] = [
    API_KEY.file,
    PROJECT.file,
    API_URL.file,
    CA_CERT.file,
    JOBS.file,
    BWLIMIT.file,
    MAX_OUTAGE.file,
];

/// Everything the run does, decided.
#[derive(Clone, Debug)]
pub struct Settings {
    pub(crate) walk: WalkSettings,
    /// `-` as a PATH: standard input, uploaded as one file named by `--name`.
    pub(crate) stdin: Option<StdinSettings>,
    /// `--mime-type`: the media type sent for every file instead of the detected one.
    pub(crate) mime_type: Option<String>,
    /// `--include`/`--exclude`, the pattern files, the size and age limits, compiled.
    pub(crate) filter: Filter,
    /// `--shard K/N`: only the files of this shard; the others count as excluded.
    pub(crate) shard: Option<Shard>,
    /// What to do when, after the filters (before sharding), there is no file at all.
    pub(crate) if_no_files: IfNoFiles,
    /// Files in flight: adapted during the run, or fixed.
    pub(crate) jobs: Jobs,
    /// `--bwlimit`: bytes per second of all uploads together; `None`, no cap.
    pub(crate) bwlimit: Option<NonZeroU64>,
    pub(crate) mode: Mode,
    pub(crate) output: OutputSettings,
    /// `--report FILE`: the JSON lines, also written there.
    pub(crate) report: Option<PathBuf>,
    /// `--junit FILE`: a JUnit XML report, one test case per file.
    pub(crate) junit: Option<PathBuf>,
    /// The CI system told about the run (`--ci`, `CHIEF_CI`, `GITHUB_ACTIONS`).
    pub(crate) ci: Ci,
    pub(crate) retry: RetryPolicy,
    /// Idle timeout of a connection (connect, or no bytes moving).
    pub(crate) timeout: Duration,
    /// How long an origin may be out before the run stops.
    pub(crate) max_outage: Duration,
    /// The hash cache's file; `None` with `--no-cache` (or no known cache directory).
    pub(crate) cache: Option<PathBuf>,
    /// Things to tell the user once output is set up (e.g. config file permissions).
    pub(crate) warnings: Vec<String>,
}

/// What the run does with the files it hashes.
#[derive(Clone, Debug)]
pub(crate) enum Mode {
    /// `--dry-run`: report what would be uploaded; no network, no credentials.
    DryRun,
    /// Upload with these credentials; with `--watch`, keep going after the first pass (a
    /// watch always uploads: `--watch --dry-run` is refused).
    Upload {
        api: ApiSettings,
        watch: Option<Box<WatchSettings>>,
    },
}

impl Mode {
    pub(crate) fn is_dry_run(&self) -> bool {
        matches!(self, Mode::DryRun)
    }
}

impl Settings {
    /// The watch's settings, with `--watch`.
    pub(crate) fn watch(&self) -> Option<&WatchSettings> {
        match &self.mode {
            Mode::Upload { watch, .. } => watch.as_deref(),
            Mode::DryRun => None,
        }
    }
}

/// The connection to the API: everything a network call needs, validated.
#[derive(Clone, Debug)]
pub struct ApiSettings {
    pub(crate) key: ApiKey,
    pub(crate) project: ProjectId,
    pub(crate) base_url: reqwest::Url,
    /// Trusted roots and proxies, for the API and the storage alike.
    pub(crate) network: Box<Network>,
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

/// The connection settings before validation, and the transfer settings, each with its
/// source: what `--show-config` shows.
#[derive(Clone, Debug)]
pub(crate) struct Gathered {
    pub(crate) config_path: Sourced<Option<PathBuf>>,
    pub(crate) profile: Option<Sourced<String>>,
    pub(crate) api_key: Option<Sourced<String>>,
    pub(crate) project: Option<Sourced<String>>,
    pub(crate) api_url: Sourced<String>,
    pub(crate) network: NetworkSources,
    pub(crate) transfer: Transfer,
    pub(crate) warnings: Vec<String>,
}

/// How the run moves bytes: files in flight, the bandwidth cap, the longest outage.
#[derive(Clone, Debug)]
pub(crate) struct Transfer {
    pub(crate) jobs: Sourced<Jobs>,
    pub(crate) bwlimit: Sourced<Rate>,
    pub(crate) max_outage: Sourced<Duration>,
}

impl Transfer {
    /// `-j` and `--bwlimit` through `layers`. The flag `-j` keeps its own message, which
    /// names the flag as it was typed ("--jobs 0 ...").
    fn pick(cli: &Cli, layers: &Layers<'_>) -> Result<Transfer, UsageError> {
        if let Some(raw) = &cli.jobs {
            if let Err(why) = crate::admission::parse_jobs(raw) {
                return Err(UsageError::new(format!(
                    "--jobs {} is not valid: {why}",
                    quote::quote_value(raw)
                ))
                .hint(<Jobs as source::SettingValue>::HINT));
            }
        }
        Ok(Transfer {
            jobs: layers.pick_or(&JOBS, cli.jobs.as_deref(), Jobs::Auto)?,
            bwlimit: layers.pick_or(&BWLIMIT, cli.bwlimit.as_deref(), Rate(None))?,
            max_outage: layers.pick_or(
                &MAX_OUTAGE,
                cli.max_outage.as_deref(),
                DEFAULT_MAX_OUTAGE,
            )?,
        })
    }
}

/// Decides everything else from the command line and the environment. The output settings
/// are decided first (`output_settings`), so that even an error from here is shown in the
/// right colours; they are passed in to be kept.
pub(crate) fn resolve(
    cli: &Cli,
    env: &Env,
    output: OutputSettings,
) -> Result<Settings, UsageError> {
    if cli.paths.is_empty() && cli.files_from.is_none() {
        return Err(UsageError::new("no PATH to upload was given")
            .hint("usage: chief-upload [OPTIONS] <PATH>...  (see chief-upload --help)"));
    }
    if cli.null && cli.files_from.is_none() {
        return Err(UsageError::new("-0/--null only applies to --files-from")
            .hint("add --files-from FILE (or - for stdin)"));
    }
    // Before anything reads standard input (`--api-key-file -`).
    let (paths, stdin) = stdin::split(cli, env)?;
    let mime_type = stdin::mime_type(cli)?;
    let walk = WalkSettings {
        paths,
        files_from: cli.files_from.clone(),
        null: cli.null,
        follow: cli.follow,
    };
    if cli.timeout.is_zero() {
        return Err(UsageError::new("--timeout must be more than 0")
            .hint("give the idle time after which a connection is dropped, e.g. --timeout 90s"));
    }
    watch::check(cli)?;
    let shard = ci::shard(cli, env)?;
    let ci = ci::ci(cli, env)?;
    let mut warnings = Vec::new();
    let (mode, transfer) = if cli.dry_run {
        // A dry run reads no config file; the flags and variables are still checked.
        let layers = Layers {
            env,
            file: None,
            profile: None,
        };
        (Mode::DryRun, Transfer::pick(cli, &layers)?)
    } else {
        if cli.files_from.as_deref() == Some(Path::new("-"))
            && cli.api_key_file.as_deref() == Some(Path::new("-"))
        {
            return Err(UsageError::new(
                "--files-from - and --api-key-file - cannot both read standard input",
            )
            .hint("pass the token through CHIEF_API_KEY or a file instead"));
        }
        let g = gather(cli, env)?;
        warnings.extend(g.warnings.iter().cloned());
        let api = api_settings(&g)?;
        let watch = watch::watch(cli, env, &api)?.map(Box::new);
        (Mode::Upload { api, watch }, g.transfer)
    };
    let filter = filter::filter(cli, env)?;
    let max_outage = watch::max_outage(transfer.max_outage, cli.watch);
    Ok(Settings {
        walk,
        stdin,
        mime_type,
        filter,
        shard,
        if_no_files: cli.if_no_files,
        jobs: transfer.jobs.value,
        bwlimit: transfer.bwlimit.value.0,
        mode,
        output,
        report: cli.report.clone(),
        junit: cli.junit.clone(),
        ci,
        retry: RetryPolicy {
            retries: cli.retries,
            base: Duration::from_millis(cli.retry_base_ms),
            cap: cli.retry_max_delay,
        },
        timeout: cli.timeout,
        max_outage,
        cache: if cli.no_cache { None } else { env.cache_path() },
        warnings,
    })
}

/// How the run talks to the user: decided before anything else, so that every error,
/// including one in the other settings, is shown the same way.
pub(crate) fn output_settings(cli: &Cli, env: &Env) -> OutputSettings {
    let term = env.get(ENV_PRETEND_TERM).is_some()
        || (std::io::stderr().is_terminal() && env.get("TERM").as_deref() != Some("dumb"));
    let color = match cli.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => term && env.get("NO_COLOR").is_none() && console_shows_colours(),
    };
    OutputSettings {
        json: cli.json,
        quiet: cli.quiet,
        verbose: cli.verbose,
        color,
        bars: term && !cli.quiet,
        progress_every: Some(cli.progress_interval).filter(|d| !d.is_zero()),
    }
}

/// Whether stderr, a terminal, shows colour codes as colours. A Windows console does only
/// once asked to (virtual terminal processing, Windows 10 and later), which `console`'s
/// check does; without it they would print as `←[32m`. (A pipe that pretends to be a
/// terminal says no there: no colour.)
fn console_shows_colours() -> bool {
    !cfg!(windows) || console::Term::stderr().features().colors_supported()
}

/// Reads the connection settings from flags, environment and config file, without
/// validating them.
pub(crate) fn gather(cli: &Cli, env: &Env) -> Result<Gathered, UsageError> {
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
            value: env.config_path(),
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
        Some(path) => ConfigFile::load(path, explicit, &CONFIG_KEYS, &mut warnings)?,
        None => None,
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
    let layers = Layers {
        env,
        file: file.as_ref(),
        profile: profile.as_ref().map(|p| p.value.as_str()),
    };

    let key_text = match &cli.api_key_file {
        Some(path) => Some(read_key_file(path)?),
        None => None,
    };
    let api_key = layers.pick(&API_KEY, key_text.as_deref())?;
    let project = layers.pick(&PROJECT, cli.project.as_deref())?;
    let api_url = layers.pick_or(&API_URL, cli.api_url.as_deref(), DEFAULT_API_URL.into())?;
    let network = network::gather(cli.ca_cert.as_deref(), env, &layers)?;
    let transfer = Transfer::pick(cli, &layers)?;
    Ok(Gathered {
        config_path,
        profile,
        api_key,
        project,
        api_url,
        network,
        transfer,
        warnings,
    })
}

/// For the fuzz targets (through the hidden `fuzzing` module): a config file's text read
/// as a run reads it, through `profile`, every key picked and checked as its own kind;
/// no file is opened. The values found (Debug), or the first usage error.
#[cfg(feature = "fuzzing")]
pub(crate) fn fuzz_config(text: &str, profile: Option<&str>) -> Result<Vec<String>, UsageError> {
    let mut warnings = Vec::new();
    let file = ConfigFile::parse(Path::new("config.toml"), text, &CONFIG_KEYS, &mut warnings)?;
    let env = Env::default();
    let layers = Layers {
        env: &env,
        file: Some(&file),
        profile,
    };
    let strings = |key: &Key<String>| -> Result<Option<String>, UsageError> {
        Ok(layers.pick(key, None)?.map(|s| s.value))
    };
    let mut values = warnings;
    if let Some(key) = strings(&API_KEY)? {
        values.push(format!("{:?}", ApiKey::parse(&key).map(|_| ())));
    }
    if let Some(project) = strings(&PROJECT)? {
        values.push(format!("{:?}", ProjectId::parse(&project)));
    }
    if let Some(url) = strings(&API_URL)? {
        values.push(format!("{:?}", shapes::check_api_url(&url)));
    }
    values.push(format!("{:?}", strings(&CA_CERT)?));
    let transfer = Transfer::pick(
        &Cli::parse_args(["chief-upload", "x"]).expect("a valid command line"),
        &layers,
    )?;
    values.push(format!("{transfer:?}"));
    Ok(values)
}

#[cfg(test)]
mod tests;
