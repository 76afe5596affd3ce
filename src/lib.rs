//! chief-upload: uploads files to the Chief assets API.
//!
//! `run` is the whole program; `main.rs` only hands it the process's arguments and
//! environment. Only what the tests and the demo use is public: the CLI definition (for
//! the generated files), the event and report shapes (for snapshots), `settings::Env` and
//! the shard function (fixed forever, so tests pin it).

pub(crate) mod admission;
pub(crate) mod api;
#[cfg(test)]
mod architecture;
pub(crate) mod bounded;
pub(crate) mod cache;
pub mod cli;
pub(crate) mod db;
pub(crate) mod duration;
pub mod event;
pub(crate) mod exit;
pub(crate) mod file_key;
/// The parsers of outside input, for the fuzz targets in `fuzz/` only.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub(crate) mod hash;
pub(crate) mod http;
pub(crate) mod io_words;
pub(crate) mod ledger;
pub(crate) mod media;
pub(crate) mod pipeline;
#[cfg(test)]
mod repo_tests;
pub mod report;
pub(crate) mod secret;
pub mod settings;
pub mod shard;
pub(crate) mod signal;
pub(crate) mod spool;
pub(crate) mod sync;
pub(crate) mod transfer;
pub(crate) mod version;
pub(crate) mod walk;
pub(crate) mod watch;

use std::ffi::OsString;
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::cli::Cli;
use crate::event::Reporter;
use crate::exit::{exit_for, Exit, UsageError};
use crate::http::{FatalKind, Stop, StopKind};
use crate::ledger::{Ledger, RunEnd, Verdict};
use crate::settings::{Env, Mode, OutputSettings};
use crate::signal::Signals;

/// Runs chief-upload with these arguments (the first is the program name) and this
/// environment, and returns the exit status.
pub fn run(args: impl IntoIterator<Item = OsString>, env: Env) -> ExitCode {
    let cli = match Cli::parse_args(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(e.exit_code().clamp(0, 255) as u8);
        }
    };
    // Decided first, so that every error, one in the other settings too, is shown in the
    // colours asked for.
    let output = settings::output_settings(&cli, &env);
    let color = output.color;
    match run_cli(cli, env, output) {
        Ok(exit) => exit.into(),
        Err(err) => {
            report::print_error(&err, color);
            exit_for(&err).into()
        }
    }
}

fn run_cli(cli: Cli, env: Env, output: OutputSettings) -> anyhow::Result<Exit> {
    if let Some(shell) = cli.completions {
        // A closed stdout (`| head`) is not an error.
        let _ = std::io::stdout().write_all(&cli::completion_script(shell));
        return Ok(Exit::Success);
    }
    if cli.man {
        let _ = std::io::stdout().write_all(&cli::man_page()?);
        return Ok(Exit::Success);
    }
    if cli.show_config {
        let gathered = settings::gather(&cli, &env)?;
        for w in &gathered.warnings {
            report::print_warning(w, output.color);
        }
        let _ = std::io::stdout().write_all(settings::describe(&cli, &env, &gathered).as_bytes());
        return Ok(Exit::Success);
    }
    let settings = Arc::new(settings::resolve(&cli, &env, output)?);
    let color = settings.output.color;
    let report_file = match &settings.report {
        Some(path) => Some(report::ReportFile::create(path)?),
        None => None,
    };
    let junit_file = match &settings.junit {
        Some(path) => Some(report::JunitFile::create(path)?),
        None => None,
    };
    let runtime = pipeline::runtime()?;
    // Listening from here on: a signal no longer kills the process.
    let signals = runtime.block_on(async { Signals::new() });
    let (reporter, events) = Reporter::channel();
    for w in &settings.warnings {
        reporter.warn(w.clone());
    }
    let watch = pipeline::open_watch(&settings, &reporter);
    let (ledger, mut ending) = Ledger::start(
        ledger::LedgerSetup {
            outputs: report::OutputSetup {
                output: settings.output.clone(),
                dry_run: settings.mode.is_dry_run(),
                watch: watch.is_some(),
                report: report_file,
                junit: junit_file,
                ci: settings.ci.clone(),
            },
            watch: watch.clone(),
            if_no_files: settings.if_no_files,
            filters: settings.filter.describe(),
        },
        events,
    )?;
    // For the hint when the credentials are refused, which only an upload has.
    let project = match &settings.mode {
        Mode::Upload { api, .. } => api.project.to_string(),
        Mode::DryRun => String::new(),
    };
    let cancel = CancellationToken::new();
    let verdict = runtime.block_on(async {
        match signals {
            Ok(signals) => {
                let (first, second) = (ledger.clone(), ledger.clone());
                let stop = cancel.clone();
                tokio::spawn(signal::listen(
                    signals,
                    move |s| {
                        first.signal(s);
                        stop.cancel();
                    },
                    move |_| second.leave(),
                ));
            }
            Err(e) => reporter.warn(format!("cannot watch for signals: {e}")),
        }
        let stages = pipeline::run(settings, reporter, ledger.clone(), watch, cancel);
        tokio::pin!(stages);
        let ended = tokio::select! {
            ended = &mut stages => ended,
            // A second signal: the ledger has written its summary without waiting for
            // the stages.
            verdict = ending.verdict() => return Ok(verdict),
        };
        match ended {
            Ok(candidates) => {
                ledger.end(candidates);
                Ok(ending.verdict().await)
            }
            Err(e) => {
                ledger.close();
                Err(e)
            }
        }
    });
    // A hash of a huge file may still be winding down; do not wait for it.
    runtime.shutdown_timeout(Duration::from_millis(200));
    ending.join();
    let Some(Verdict { end, lost_output }) = verdict? else {
        anyhow::bail!("internal error: the run ended without its summary");
    };
    // How the run ended, in words and as the exit status: the one place that says it.
    Ok(match end {
        RunEnd::Finished { failures } => {
            if failures || lost_output {
                Exit::Failures
            } else {
                Exit::Success
            }
        }
        RunEnd::Signal(s) => s.exit(),
        RunEnd::NoFiles(why) => closing(anyhow::anyhow!(why), Exit::Failures, color),
        RunEnd::Refused(redirect @ api::ApiError::Redirect { .. }) => closing(
            UsageError::new(redirect.to_string())
                .hint("check --api-url (or CHIEF_API_URL, or api_url in the config file): it must be the API's own address, not one that redirects")
                .hint("chief-upload --show-config shows which settings are in effect")
                .into(),
            Exit::Usage,
            color,
        ),
        RunEnd::Refused(auth) => closing(
            UsageError::new(auth.to_string())
                .hint(format!(
                    "check the token (CHIEF_API_KEY, --api-key-file or api_key in the config file) and that it has access to project {project}"
                ))
                .hint("chief-upload --show-config shows which settings are in effect")
                .into(),
            Exit::Usage,
            color,
        ),
        RunEnd::BadList(e) => closing(e.into(), Exit::Usage, color),
        RunEnd::Stopped(stop) => {
            let exit = match stop.kind {
                StopKind::Fatal(_) => Exit::Usage,
                StopKind::Outage { .. } => Exit::Failures,
            };
            closing(stop_error(stop), exit, color)
        }
    })
}

/// The last words of a run that ended on an error, and its exit status.
fn closing(err: anyhow::Error, exit: Exit, color: bool) -> Exit {
    report::print_error(&err, color);
    exit
}

/// The error that ends a run an origin stopped: for a fatal failure, a usage error (exit 2)
/// with the fix; for an outage, a plain one (exit 1).
pub(crate) fn stop_error(stop: Stop) -> anyhow::Error {
    let fix = match stop.kind {
        StopKind::Fatal(FatalKind::Certificate) => {
            "if a company proxy or a private authority signs this connection, trust its certificate with --ca-cert FILE (or SSL_CERT_FILE)"
        }
        StopKind::Fatal(FatalKind::ProxyAuth) => {
            "check the user name and password in the proxy URL (HTTPS_PROXY, https_proxy or ALL_PROXY); percent-encode characters such as @ and :"
        }
        StopKind::Fatal(FatalKind::Unreachable) => {
            "check --api-url (or CHIEF_API_URL, or api_url in the config file), and that this computer can reach it"
        }
        StopKind::Outage { .. } => return anyhow::anyhow!("{stop}"),
    };
    UsageError::new(stop.to_string())
        .hint(fix)
        .hint("chief-upload --show-config shows which settings are in effect")
        .into()
}
