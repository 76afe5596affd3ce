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
pub(crate) mod media;
pub(crate) mod pipeline;
#[cfg(test)]
mod repo_tests;
pub mod report;
pub(crate) mod secret;
pub mod settings;
pub mod shard;
pub(crate) mod signal;
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
use crate::settings::{Env, Mode, OutputSettings};
use crate::signal::{Signal, Stops};

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
    let mut stdin_used = false;
    if cli.show_config {
        let gathered = settings::gather(&cli, &env, &mut stdin_used)?;
        for w in &gathered.warnings {
            report::print_warning(w, output.color);
        }
        let _ = std::io::stdout().write_all(settings::describe(&cli, &env, &gathered).as_bytes());
        return Ok(Exit::Success);
    }
    let settings = settings::resolve(&cli, &env, output, &mut stdin_used)?;
    let watching = settings.watch().is_some();
    let report_file = match &settings.report {
        Some(path) => Some(report::ReportFile::create(path)?),
        None => None,
    };
    let runtime = pipeline::runtime()?;
    let stops = Stops::new();
    let (reporter, events) = Reporter::channel();
    let output = report::spawn(
        report::Setup {
            output: settings.output.clone(),
            dry_run: settings.mode.is_dry_run(),
            watch: watching,
            report: report_file,
            ci: settings.ci.clone(),
            stops: stops.clone(),
        },
        events,
    );
    for w in &settings.warnings {
        reporter.warn(w.clone());
    }
    // For the hint when the credentials are refused, which only an upload has.
    let project = match &settings.mode {
        Mode::Upload { api, .. } => api.project.to_string(),
        Mode::DryRun => String::new(),
    };
    let cancel = CancellationToken::new();
    let result = runtime.block_on(async {
        tokio::spawn(signal::watch(
            cancel.clone(),
            stops.clone(),
            reporter.clone(),
        ));
        pipeline::run(Arc::new(settings), reporter.clone(), cancel.clone()).await
    });
    drop(reporter);
    let _ = output.join();
    // A hash of a huge file may still be winding down; do not wait for it.
    runtime.shutdown_timeout(Duration::from_millis(200));
    let result = result?;
    if let Some(redirect @ api::ApiError::Redirect { .. }) = result.auth_error {
        return Err(UsageError::new(redirect.to_string())
            .hint("check --api-url (or CHIEF_API_URL, or api_url in the config file): it must be the API's own address, not one that redirects")
            .hint("chief-upload --show-config shows which settings are in effect")
            .into());
    }
    if let Some(auth) = result.auth_error {
        return Err(UsageError::new(auth.to_string())
            .hint(format!(
                "check the token (CHIEF_API_KEY, --api-key-file or api_key in the config file) and that it has access to project {project}"
            ))
            .hint("chief-upload --show-config shows which settings are in effect")
            .into());
    }
    if let Some(list) = result.list_error {
        return Err(list.into());
    }
    if let Some(stop) = result.stopped {
        return Err(stop_error(stop));
    }
    let s = &result.summary;
    if s.interrupted {
        return Ok(stops.first().map_or(Exit::Interrupted, Signal::exit));
    }
    if let Some(why) = result.no_files {
        return Err(anyhow::anyhow!(why));
    }
    // A file left without an outcome is no success; but a watch ends on a signal with files
    // queued, which its next start takes.
    Ok(if s.failed > 0 || (s.not_attempted > 0 && !watching) {
        Exit::Failures
    } else {
        Exit::Success
    })
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
