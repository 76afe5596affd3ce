//! `--watch` (`docs/interface.md#watching`): how long a file must be still before it is
//! taken, how often to rescan without file events, and where the record of files sent is
//! kept.

use std::path::PathBuf;
use std::time::Duration;

use super::env::Env;
use super::source::{invalid, Source, Sourced};
use super::ApiSettings;
use crate::cli::Cli;
use crate::duration;
use crate::exit::UsageError;

/// The settle time when `--min-age` does not give one.
pub(crate) const DEFAULT_SETTLE: Duration = Duration::from_secs(2);
/// How often the PATHs are rescanned when file events cannot be relied on.
pub(crate) const DEFAULT_RESCAN: Duration = Duration::from_secs(60);

/// "No limit" on an outage: far beyond any watch's life, and near enough that adding it
/// to an `Instant` cannot overflow.
const NO_OUTAGE_LIMIT: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

/// The longest outage to wait for (`docs/interface.md#watching`): a watch waits out an
/// outage however long it lasts (a service should not die because the API was down for ten
/// minutes), unless `--max-outage` or its variable is given.
pub(super) fn max_outage(picked: Sourced<Duration>, watch: bool) -> Duration {
    if watch && picked.source == Source::Default {
        NO_OUTAGE_LIMIT
    } else {
        picked.value
    }
}

/// A watch, decided.
#[derive(Clone, Debug)]
pub struct WatchSettings {
    /// A file is taken once it has not changed for this long (`--min-age`).
    pub(crate) settle: Duration,
    /// Rescan this often when events are unavailable or lost (`--rescan-interval`).
    pub(crate) rescan_every: Duration,
    /// `--poll`: no file events; rescans only.
    pub(crate) poll: bool,
    /// The record of files sent; `None`: a temporary one (`--no-cache`, or no cache
    /// directory on this platform).
    pub(crate) record: Option<PathBuf>,
    /// What the record's rows are about: the API and the project.
    pub(crate) target: String,
}

/// The flags that only a watch takes, refused without `--watch`; and `--watch` with what
/// it cannot be combined with. Checked before the credentials, so that the message is
/// about the flags.
pub(super) fn check(cli: &Cli) -> Result<(), UsageError> {
    if !cli.watch {
        if cli.poll || cli.rescan_interval.is_some() {
            let flag = if cli.poll {
                "--poll"
            } else {
                "--rescan-interval"
            };
            return Err(UsageError::new(format!("{flag} only applies to --watch"))
                .hint("add --watch to keep uploading new and changed files"));
        }
        return Ok(());
    }
    if cli.dry_run {
        return Err(UsageError::new(
            "--dry-run cannot be combined with --watch: a watch never ends",
        )
        .hint("drop --watch to see what one pass would upload: chief-upload --dry-run PATH..."));
    }
    if cli.files_from.is_some() {
        return Err(
            UsageError::new("--files-from cannot be combined with --watch")
                .hint("give the folders to watch as PATHs"),
        );
    }
    Ok(())
}

/// The watch's settings, or `None` without `--watch`, for an upload to `api`. `check` has
/// passed.
pub(super) fn watch(
    cli: &Cli,
    env: &Env,
    api: &ApiSettings,
) -> Result<Option<WatchSettings>, UsageError> {
    if !cli.watch {
        return Ok(None);
    }
    let settle = super::filter::min_age(cli, env)?.unwrap_or(DEFAULT_SETTLE);
    let rescan_every = match &cli.rescan_interval {
        Some(raw) => positive("--rescan-interval", raw)?,
        None => DEFAULT_RESCAN,
    };
    Ok(Some(WatchSettings {
        settle,
        rescan_every,
        poll: cli.poll,
        record: if cli.no_cache {
            None
        } else {
            env.record_path()
        },
        target: format!("{} {}", api.base_url, api.project),
    }))
}

/// A DURATION flag's value, more than zero.
pub(super) fn positive(flag: &'static str, raw: &str) -> Result<Duration, UsageError> {
    let why = match duration::parse(raw) {
        Ok(d) if d.is_zero() => "it must be more than 0".to_string(),
        Ok(d) => return Ok(d),
        Err(why) => why,
    };
    Err(invalid::<Duration>(raw, &Source::Flag(flag), &why))
}
