//! The settings a CI job needs (`docs/interface.md#ci`, `#shard`): which CI
//! system to talk to (`--ci`, `CHIEF_CI`), which part of the files this run takes
//! (`--shard`, `CHIEF_SHARD`). `--report`, `--junit` and `--if-no-files` are plain flags.
//!
//! Neither `--ci` nor `--shard` has a config file key: the CI a job runs in and the part
//! of the work it takes belong to the job, not to the machine's config file.

use std::path::PathBuf;

use super::env::Env;
use super::layers::Layers;
use super::source::{Key, SettingValue, Sourced};
use crate::cli::Cli;
use crate::exit::UsageError;
use crate::shard::Shard;

pub(crate) const ENV_CI: &str = "CHIEF_CI";
pub(crate) const ENV_SHARD: &str = "CHIEF_SHARD";
const CI: Key<CiChoice> = Key::env_only("--ci", ENV_CI);
const SHARD: Key<Shard> = Key::env_only("--shard", ENV_SHARD);

/// What `--ci` asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum CiChoice {
    /// GitHub Actions when `GITHUB_ACTIONS=true`, GitLab CI when `GITLAB_CI=true`, else
    /// none.
    Auto,
    Github,
    Gitlab,
    Off,
}

impl SettingValue for CiChoice {
    const KIND: &'static str = "CI mode";
    const EXAMPLE: &'static str = "auto";
    const HINT: &'static str = "use auto, github, gitlab or off (auto: github when GITHUB_ACTIONS=true, gitlab when GITLAB_CI=true)";

    fn parse(raw: &str) -> Result<CiChoice, String> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(CiChoice::Auto),
            "github" => Ok(CiChoice::Github),
            "gitlab" => Ok(CiChoice::Gitlab),
            "off" => Ok(CiChoice::Off),
            _ => Err("it is not one of auto, github, gitlab, off".into()),
        }
    }
}

impl SettingValue for Shard {
    const KIND: &'static str = "shard";
    const EXAMPLE: &'static str = "2/4";
    const HINT: &'static str = Shard::HINT;

    fn parse(raw: &str) -> Result<Shard, String> {
        Shard::parse(raw)
    }
}

/// Where GitHub wants the job summary and the step outputs (from the environment).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GithubFiles {
    pub step_summary: Option<PathBuf>,
    pub output: Option<PathBuf>,
}

/// The CI system the run reports to, besides its usual output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ci {
    Off,
    /// GitHub Actions: `::error` workflow commands, and the job summary and step outputs
    /// written to these files (when the runner names them).
    Github(GithubFiles),
    /// GitLab CI: the log's collapsible sections, the failed files after them.
    Gitlab,
}

/// Which CI system `--ci` settles on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum CiSystem {
    Github,
    Gitlab,
    Off,
}

/// The layers `--ci` and `--shard` are read from: the flag and the environment.
fn layers(env: &Env) -> Layers<'_> {
    Layers {
        env,
        file: None,
        profile: None,
    }
}

/// `--ci`, then `CHIEF_CI`, then `auto`; `auto` is decided here, from `GITHUB_ACTIONS`
/// and `GITLAB_CI`.
pub(crate) fn ci(cli: &Cli, env: &Env) -> Result<Ci, UsageError> {
    let (_, system) = ci_sourced(cli, env)?;
    Ok(match system {
        CiSystem::Github => {
            let path = |var: &str| env.get_os(var).map(PathBuf::from);
            Ci::Github(GithubFiles {
                step_summary: path("GITHUB_STEP_SUMMARY"),
                output: path("GITHUB_OUTPUT"),
            })
        }
        CiSystem::Gitlab => Ci::Gitlab,
        CiSystem::Off => Ci::Off,
    })
}

/// What `--ci` asks for and where that came from, and the CI system the run talks to.
pub(super) fn ci_sourced(
    cli: &Cli,
    env: &Env,
) -> Result<(Sourced<CiChoice>, CiSystem), UsageError> {
    let choice = layers(env).pick_or(&CI, cli.ci.as_deref(), CiChoice::Auto)?;
    let system = match choice.value {
        CiChoice::Github => CiSystem::Github,
        CiChoice::Gitlab => CiSystem::Gitlab,
        CiChoice::Off => CiSystem::Off,
        // Both set them to exactly "true" on their runners.
        CiChoice::Auto if env.get("GITHUB_ACTIONS").as_deref() == Some("true") => CiSystem::Github,
        CiChoice::Auto if env.get("GITLAB_CI").as_deref() == Some("true") => CiSystem::Gitlab,
        CiChoice::Auto => CiSystem::Off,
    };
    Ok((choice, system))
}

/// `--shard`, then `CHIEF_SHARD`; none: this run takes every file.
pub(crate) fn shard(cli: &Cli, env: &Env) -> Result<Option<Shard>, UsageError> {
    Ok(shard_sourced(cli, env)?.map(|s| s.value))
}

/// As `shard`, with where it came from.
pub(super) fn shard_sourced(cli: &Cli, env: &Env) -> Result<Option<Sourced<Shard>>, UsageError> {
    layers(env).pick(&SHARD, cli.shard.as_deref())
}
