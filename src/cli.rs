//! The command-line definition, and nothing else.
//!
//! Conventions (clap derive):
//! * `help = "…"` is the one-line text `-h` shows; the doc comment is the long text of `--help`.
//! * Rare options are `hide_short_help = true`: out of `-h`, still in `--help`.
//! * Side actions are flags, not subcommands, so that a folder named `completions` stays
//!   uploadable (`docs/interface.md#invocation`).
//! * Nothing here reads the environment or the config file: `settings/` resolves that once.
//! * A flag that only the command line sets and that takes a DURATION has it read here, by
//!   `crate::duration::parse`; one with a variable or config key is a `String` for
//!   `settings/` to read with the same parser.

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Parser, ValueEnum};

const INPUT: &str = "Input";
const CHIEF: &str = "Chief API";
const OUTPUT: &str = "Output";
const TRANSFER: &str = "Transfer";

const AFTER_LONG_HELP: &str = "\
Examples:
  # Upload a folder (token and project from the environment or the config file)
  chief-upload ./renders

  # See which settings are in effect and where each came from
  chief-upload --show-config

  # What would be uploaded, without network or credentials
  chief-upload --dry-run ./renders

  # In CI: token from a secret, machine-readable results, a JUnit report for the CI's
  # test view, exit code for the job. Not on a terminal the log stays short: a line for
  # each of the first 1,000 files and for every failed one, a progress line every 15 s
  # (--progress-interval) and the summary; no bars, no colour codes.
  CHIEF_API_KEY=\"$CHIEF_TOKEN\" CHIEF_PROJECT_ID=project_0123456789abcdefghij \\
    chief-upload --json --junit upload.xml ./dist > upload-results.ndjson

  # One of four CI jobs sharing a big upload; a record of every file in a report
  chief-upload --shard 2/4 --report upload-2.ndjson ./dist

  # From cron: leave out files still being written (modified in the last 15 minutes)
  # and the patterns listed in a file
  chief-upload --min-age 15m --exclude-from upload-ignore.txt /srv/exports

  # A drop folder kept uploaded (a service: see docs/guide.md for a systemd unit);
  # each file once it has not changed for 10 s, until SIGTERM
  chief-upload --watch --min-age 10s /srv/scans

  # Standard input as one file: a database dump straight from a pipe
  pg_dump shop | chief-upload --name shop.sql -

  # Only images, skipping a scratch folder, from a list made by find
  find assets -name '*.png' -print0 | chief-upload -0 --files-from - --exclude '**/tmp/**'

Network: HTTPS_PROXY, HTTP_PROXY, ALL_PROXY and NO_PROXY are honoured as curl reads
them (http, https and socks5 proxies); SSL_CERT_FILE and SSL_CERT_DIR replace the
system's CA roots; --ca-cert adds one.

Exit status: 0 all uploaded or already present, 1 some file failed (or no file to
upload with --if-no-files error), 2 usage/configuration error or credentials refused,
130 interrupted (Ctrl-C, SIGINT), 143 terminated (SIGTERM), 129 hang-up (SIGHUP).
A --watch ends on any of those signals with 0, or 1 if some file failed.";

/// Upload files to the Chief assets API.
///
/// Every file under the given paths is hashed (MD5), announced with `POST /v1/assets`,
/// skipped when the project already holds the same content, and otherwise streamed to the
/// signed URL the API returns. Each file ends `uploaded`, `skipped` or `failed`.
#[derive(Debug, Parser)]
#[command(
    name = "chief-upload",
    // Not argv[0]'s file name, which on Windows is `chief-upload.exe`: usage lines and
    // hints say what to type, the same everywhere.
    bin_name = "chief-upload",
    version,
    long_version = crate::version::long_version(),
    after_help = "Examples for a terminal and for CI, and exit codes: chief-upload --help",
    after_long_help = AFTER_LONG_HELP
)]
pub struct Cli {
    /// Files or directories to upload. Directories are walked recursively.
    ///
    /// `-` uploads standard input as one file named by --name (`tar c dist | chief-upload
    /// --name dist.tar -`). A file that is really named `-` is given as `./-`.
    #[arg(
        value_name = "PATH",
        help = "Files or directories to upload, walked recursively ('-' = stdin, with --name)"
    )]
    pub paths: Vec<PathBuf>,

    /// With `-` as a PATH: the file name standard input's content is uploaded as. Required
    /// with `-`.
    ///
    /// NAME is a file name, not a path. Its extension decides the media type (else the
    /// first bytes do; --mime-type overrides both). Standard input is read to its end
    /// while it is hashed: kept in memory up to a few MiB, beyond that in a temporary file
    /// under TMPDIR that is removed however the run ends.
    #[arg(
        long,
        value_name = "NAME",
        help_heading = INPUT,
        hide_short_help = true,
        help = "With '-': the file name for standard input's content"
    )]
    pub name: Option<String>,

    /// Send TYPE as the media type of every file.
    ///
    /// TYPE is sent as `mime_type` instead of the type detected from the name or the first
    /// bytes, for `-` and for paths alike. It is `type/subtype`, e.g. `application/x-tar`,
    /// without parameters.
    #[arg(
        long,
        value_name = "TYPE",
        help_heading = INPUT,
        hide_short_help = true,
        help = "Send TYPE as the media type instead of the detected one"
    )]
    pub mime_type: Option<String>,

    /// Read more paths from FILE, one per line (`-` reads standard input).
    #[arg(
        long,
        value_name = "FILE",
        help_heading = INPUT,
        help = "Read more paths from FILE, one per line ('-' = stdin)"
    )]
    pub files_from: Option<PathBuf>,

    /// With --files-from: the list is NUL-separated (as `find -print0` writes it).
    #[arg(
        short = '0',
        long = "null",
        help_heading = INPUT,
        help = "With --files-from: paths are NUL-separated"
    )]
    pub null: bool,

    /// Upload only files whose walked relative path matches GLOB. Repeatable.
    ///
    /// Patterns are matched against the path relative to the PATH argument it was found
    /// under (for a file given directly or listed in --files-from: the path as given,
    /// without a leading `./`). `*` also matches `/`, so `*.png` matches at any depth;
    /// `**` is accepted too.
    #[arg(
        long,
        value_name = "GLOB",
        help_heading = INPUT,
        help = "Upload only files matching GLOB (repeatable)"
    )]
    pub include: Vec<String>,

    /// Skip files (and whole directories) whose walked relative path matches GLOB.
    /// Repeatable; wins over --include.
    #[arg(
        long,
        value_name = "GLOB",
        help_heading = INPUT,
        help = "Skip files and directories matching GLOB (repeatable)"
    )]
    pub exclude: Vec<String>,

    /// Read --include globs from FILE, one per line. Repeatable.
    ///
    /// Blank lines and lines starting with `#` are ignored, and so are the spaces around a
    /// glob. The globs join those of --include as one filter.
    #[arg(
        long,
        value_name = "FILE",
        hide_short_help = true,
        help_heading = INPUT,
        help = "Read --include globs from FILE, one per line (repeatable)"
    )]
    pub include_from: Vec<PathBuf>,

    /// Read --exclude globs from FILE, one per line. Repeatable.
    ///
    /// Blank lines and lines starting with `#` are ignored, and so are the spaces around a
    /// glob. The globs join those of --exclude as one filter: they prune directories too.
    #[arg(
        long,
        value_name = "FILE",
        hide_short_help = true,
        help_heading = INPUT,
        help = "Read --exclude globs from FILE, one per line (repeatable)"
    )]
    pub exclude_from: Vec<PathBuf>,

    /// Skip files smaller than SIZE; a file of exactly SIZE bytes is uploaded.
    ///
    /// SIZE is a number of bytes, or a number with K, M, G or T (powers of 1024), e.g.
    /// `--min-size 1K`.
    #[arg(
        long,
        value_name = "SIZE",
        allow_negative_numbers = true,
        hide_short_help = true,
        help_heading = INPUT,
        help = "Skip files smaller than SIZE (e.g. 1K; powers of 1024)"
    )]
    pub min_size: Option<String>,

    /// Skip files larger than SIZE; a file of exactly SIZE bytes is uploaded.
    ///
    /// SIZE is a number of bytes, or a number with K, M, G or T (powers of 1024), e.g.
    /// `--max-size 2G`.
    #[arg(
        long,
        value_name = "SIZE",
        allow_negative_numbers = true,
        help_heading = INPUT,
        help = "Skip files larger than SIZE (e.g. 2G; powers of 1024)"
    )]
    pub max_size: Option<String>,

    /// Skip files modified less than DURATION ago; a file exactly DURATION old is uploaded.
    ///
    /// DURATION is a number with s, m, h or d, e.g. `--min-age 15m` leaves out the files
    /// written in the last 15 minutes, so that a file still being written is not taken
    /// half-done. A file's age is judged when the walk reaches it, by its modification time.
    /// With --watch it is the settle time instead (2s unless given): a younger file waits
    /// until it has been still that long, and is not left out.
    #[arg(
        long,
        value_name = "DURATION",
        allow_negative_numbers = true,
        help_heading = INPUT,
        help = "Skip files modified less than DURATION ago (e.g. 15m)"
    )]
    pub min_age: Option<String>,

    /// Skip files modified more than DURATION ago; a file exactly DURATION old is uploaded.
    ///
    /// DURATION is a number with s, m, h or d, e.g. `--max-age 7d` takes only the files
    /// modified in the last 7 days. A file's age is judged when the walk reaches it, by
    /// its modification time.
    #[arg(
        long,
        value_name = "DURATION",
        allow_negative_numbers = true,
        hide_short_help = true,
        help_heading = INPUT,
        help = "Skip files modified more than DURATION ago (e.g. 7d)"
    )]
    pub max_age: Option<String>,

    /// Follow symbolic links to directories. Links to files are always uploaded; broken
    /// links are reported and skipped.
    #[arg(short = 'L', long, help_heading = INPUT, help = "Follow symlinked directories")]
    pub follow: bool,

    /// Take only the files of shard K of N, so that N runs (CI jobs, machines) with the
    /// same arguments and K = 1..N share the upload, each file handled by exactly one.
    ///
    /// A file's shard is XXH64 (seed 0) of its path (as in the --json lines,
    /// `/`-separated) mod N, plus 1: fixed, so a re-run of a shard takes the same files.
    /// Files of other shards count as excluded. Can also be set with CHIEF_SHARD.
    #[arg(
        long,
        value_name = "K/N",
        help_heading = INPUT,
        help = "Take only shard K of N of the files [env: CHIEF_SHARD]"
    )]
    pub shard: Option<String>,

    /// What to do when the PATHs hold no file to upload, after the filters (--include,
    /// --exclude, the pattern files, the size and age limits) and before --shard (a shard
    /// with no file of its own is fine).
    ///
    /// `warn` prints a warning and exits 0, `error` exits 1, `ignore` says nothing.
    #[arg(
        long,
        value_name = "ACTION",
        default_value = "warn",
        hide_possible_values = true,
        help_heading = INPUT,
        help = "When no file is found: warn, error (exit 1) or ignore"
    )]
    pub if_no_files: IfNoFiles,

    /// Keep running: after the first pass, upload each file that appears or changes under
    /// the PATHs once it has not changed for the settle time (--min-age, 2s by default).
    ///
    /// Folders created or moved in are walked and watched; a file or folder moved in counts
    /// as new; deleted files are ignored; a changed file is uploaded again. What was sent is
    /// kept on disk beside the hash cache (not with --no-cache), so a restart sends nothing
    /// for files that have not changed. Where file events are unavailable or get lost, the
    /// PATHs are rescanned every --rescan-interval instead, with a warning. SIGINT, SIGTERM
    /// and SIGHUP end the watch: the files in flight get a few seconds to finish, the
    /// summary is printed, and the exit status is 0, or 1 if any file failed. Not with
    /// --dry-run or --files-from; --if-no-files does not apply.
    #[arg(
        long,
        help_heading = INPUT,
        help = "Keep uploading new and changed files until stopped"
    )]
    pub watch: bool,

    /// With --watch: how often to rescan the PATHs when file events are unavailable (a
    /// network file system), were lost, or --poll asks for rescans (`30s`, `5m`; a plain
    /// number is seconds).
    #[arg(
        long,
        value_name = "DURATION",
        hide_short_help = true,
        help_heading = INPUT,
        help = "With --watch: rescan this often without file events [default: 60s]"
    )]
    pub rescan_interval: Option<String>,

    /// With --watch: do not use the platform's file events; rescan the PATHs every
    /// --rescan-interval (for file systems whose events are unreliable).
    #[arg(long, hide_short_help = true, help_heading = INPUT)]
    pub poll: bool,

    /// Project id (`project_` + 20 lower-case letters or digits).
    #[arg(
        long = "project",
        value_name = "ID",
        help_heading = CHIEF,
        help = "Project id [env: CHIEF_PROJECT_ID]"
    )]
    pub project: Option<String>,

    /// Read the API token from FILE (`-` reads standard input).
    ///
    /// The token is never taken as a command-line value: every user on the machine can read
    /// a process's arguments. The file must not be readable by group or others (chmod 600).
    /// Without this flag the token comes from CHIEF_API_KEY, which holds the token itself
    /// (not a path), or from api_key in the config file.
    #[arg(
        long,
        value_name = "FILE",
        help_heading = CHIEF,
        help = "Read the API token from FILE ('-' = stdin) [or CHIEF_API_KEY=TOKEN]"
    )]
    pub api_key_file: Option<PathBuf>,

    /// Base URL of the Chief API. `https` is required, except for loopback addresses.
    #[arg(
        long,
        value_name = "URL",
        help_heading = CHIEF,
        help = "Base URL of the Chief API [env: CHIEF_API_URL]"
    )]
    pub api_url: Option<String>,

    /// Also trust the certificate authorities in FILE (PEM).
    ///
    /// For a company proxy that re-signs TLS with its own root, or a private deployment.
    /// The certificates are added to the system's roots, or to those of SSL_CERT_FILE and
    /// SSL_CERT_DIR, which replace the system's (as for OpenSSL and curl). Also
    /// CHIEF_CA_CERT, or ca_cert in the config file, where a relative path is taken from
    /// the config file's folder.
    #[arg(
        long,
        value_name = "FILE",
        help_heading = CHIEF,
        help = "Also trust the CAs in FILE (PEM) [env: CHIEF_CA_CERT]"
    )]
    pub ca_cert: Option<PathBuf>,

    /// Config file to read instead of the platform default
    /// (`$XDG_CONFIG_HOME/chief/config.toml` on Linux).
    #[arg(
        long,
        value_name = "PATH",
        help_heading = CHIEF,
        help = "Config file [env: CHIEF_CONFIG]"
    )]
    pub config: Option<PathBuf>,

    /// Config file profile: the `[profiles.NAME]` table. Its keys override the top-level ones.
    #[arg(
        long,
        value_name = "NAME",
        help_heading = CHIEF,
        help = "Config file profile [env: CHIEF_PROFILE]"
    )]
    pub profile: Option<String>,

    /// Walk, hash and detect types, and show what would be uploaded. No network, no
    /// credentials needed.
    #[arg(short = 'n', long, help_heading = OUTPUT, help = "Show what would be uploaded; no network")]
    pub dry_run: bool,

    /// Write newline-delimited JSON results to stdout: one object per file, then a summary.
    #[arg(long, help_heading = OUTPUT, help = "NDJSON results on stdout")]
    pub json: bool,

    /// Also write the --json lines to FILE, created (or truncated) before anything is
    /// uploaded.
    ///
    /// Each file's line is written when the file finishes, the summary last, also when the
    /// run is stopped by Ctrl-C, SIGTERM or SIGHUP. Output on stderr is unchanged.
    #[arg(
        long,
        value_name = "FILE",
        help_heading = OUTPUT,
        help = "Write the JSON lines to FILE as well"
    )]
    pub report: Option<PathBuf>,

    /// Write a JUnit XML report to FILE: one test case per file, a failed file as a
    /// failure, for the test views of GitLab, Jenkins, Azure Pipelines, CircleCI or
    /// Buildkite.
    ///
    /// The report is written beside FILE under a temporary name and renamed to FILE once
    /// complete, at the end of the run (also when it is stopped by Ctrl-C, SIGTERM or
    /// SIGHUP): a run killed before that leaves no FILE, never half a file. An existing
    /// FILE is removed at the start.
    #[arg(
        long,
        value_name = "FILE",
        hide_short_help = true,
        help_heading = OUTPUT,
        help = "Write a JUnit XML report to FILE (one test case per file)"
    )]
    pub junit: Option<PathBuf>,

    /// Talk to a CI system: auto (the default), github, gitlab or off.
    ///
    /// `github`: an `::error` annotation for each failed file (at most 10), a job summary
    /// appended to $GITHUB_STEP_SUMMARY, and the step outputs uploaded, skipped, failed
    /// and bytes_uploaded appended to $GITHUB_OUTPUT. `gitlab`: the walk and the upload
    /// sit in collapsed sections of the job log, and the failed files are listed again
    /// after them, above the summary. `auto` means github when GITHUB_ACTIONS=true, gitlab
    /// when GITLAB_CI=true, as their runners set them. Can also be set with CHIEF_CI.
    #[arg(
        long,
        value_name = "CI",
        value_parser = ["auto", "github", "gitlab", "off"],
        hide_short_help = true,
        help_heading = OUTPUT,
        help = "CI integration: auto, github, gitlab, off [env: CHIEF_CI]"
    )]
    pub ci: Option<String>,

    /// Print only errors and the summary.
    #[arg(
        short,
        long,
        conflicts_with = "verbose",
        help_heading = OUTPUT,
        help = "Only errors and the summary"
    )]
    pub quiet: bool,

    /// Also print each request and each retry, and a line for every file.
    ///
    /// Not on a terminal, only the first 1,000 uploaded, skipped or planned files get a
    /// line of their own without -v (every failed file does). A request line shows the method, scheme, host and path, status and timing. Tokens
    /// and signed-URL queries are never printed.
    #[arg(
        short,
        long,
        action = ArgAction::Count,
        help_heading = OUTPUT,
        help = "Also print each request and retry"
    )]
    pub verbose: u8,

    /// When to colour stderr.
    ///
    /// `auto` colours on a terminal unless NO_COLOR is set (to anything non-empty). `never` and NO_COLOR remove colour only: on a terminal the
    /// progress bars still draw (they need cursor movement), in black and white. Not on
    /// a terminal there are never bars; `always` colours the plain lines too.
    #[arg(
        long,
        value_name = "WHEN",
        default_value = "auto",
        hide_possible_values = true,
        help_heading = OUTPUT,
        help = "Colour on stderr: auto, always, never"
    )]
    pub color: ColorChoice,

    /// Print the effective settings and where each came from (token redacted), then exit.
    #[arg(long, help_heading = OUTPUT, help = "Show effective settings and their sources")]
    pub show_config: bool,

    /// Files in flight at once: `auto` (the default) or a number from 1 to 256.
    ///
    /// `auto` starts with a few files and doubles them while files per second and bytes per
    /// second keep rising, then settles and probes gently; it backs off when the server
    /// pushes back (429, or 503 with Retry-After) or requests time out, stays within
    /// `ulimit -n` and a memory budget, and starts no more big uploads than fill the link.
    /// A number fixes it. Environment CHIEF_JOBS, config key `jobs` (`jobs = 32` or
    /// `jobs = "auto"`). With -v, each change of `auto` is shown.
    #[arg(
        short = 'j',
        long,
        value_name = "N|auto",
        help_heading = TRANSFER,
        help = "Files in flight: auto (adapts) or a number [default: auto]"
    )]
    pub jobs: Option<String>,

    /// Cap the bytes per second of all uploads together, e.g. 20M.
    ///
    /// RATE is bytes, or a number with K, M or G (powers of 1024); 0 or `off` means no cap.
    /// The cap is smooth (bodies go out in small slices, never in bursts), and the progress
    /// bars, rate and ETA follow it. Environment CHIEF_BWLIMIT, config key `bwlimit`
    /// (`bwlimit = "20M"` or `bwlimit = 20971520`).
    #[arg(
        long,
        value_name = "RATE",
        help_heading = TRANSFER,
        help = "Cap the upload rate, e.g. 20M (bytes/s; K, M, G; 0 or off: none)"
    )]
    pub bwlimit: Option<String>,

    /// Retries for a transient failure (network error, timeout, 408, 429, 5xx) of one
    /// request, with capped exponential backoff and jitter.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 5,
        hide_short_help = true,
        help_heading = TRANSFER
    )]
    pub retries: u32,

    /// Give up on a connection that sends or receives nothing for DURATION.
    ///
    /// DURATION is a number with s, m, h or d (90s, 2m, 1m30s); a plain number counts
    /// seconds, fractions included (0.5).
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "60s",
        value_parser = crate::duration::parse,
        hide_short_help = true,
        help_heading = TRANSFER
    )]
    pub timeout: Duration,

    /// Longest outage to wait for [default: 5m] [env: CHIEF_MAX_OUTAGE]
    ///
    /// In an outage the API or a storage host fails every request for a while. New work
    /// for it then pauses, one request at a time probes it, and no file spends its
    /// retries; when it answers, the run goes on. Past DURATION the run stops with exit 1,
    /// and the files not done are counted not_attempted. DURATION is a number with s, m, h
    /// or d (30s, 5m, 2h); a plain number counts seconds. A --watch waits out any outage
    /// unless this is given.
    #[arg(
        long,
        value_name = "DURATION",
        hide_short_help = true,
        help_heading = TRANSFER
    )]
    pub max_outage: Option<String>,

    /// Do not use or update the hash cache (MD5s remembered by file identity and mtime).
    #[arg(long, hide_short_help = true, help_heading = TRANSFER)]
    pub no_cache: bool,

    /// When stderr is not a terminal (CI logs), print a progress line (files by outcome,
    /// bytes, rate, elapsed) every DURATION while the run goes on (30s, 5m; a plain number
    /// counts seconds), or every sixtieth of the time elapsed when that is longer, so that
    /// a long run's log stays short. 0 turns it off.
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "15s",
        value_parser = crate::duration::parse,
        hide_short_help = true,
        help_heading = OUTPUT
    )]
    pub progress_interval: Duration,

    /// Print a shell completion script to stdout.
    #[arg(long, value_name = "SHELL", hide_short_help = true)]
    pub completions: Option<clap_complete::Shell>,

    /// Print the man page (roff) to stdout.
    #[arg(long, hide_short_help = true)]
    pub man: bool,

    /// First retry delay in milliseconds (doubles each attempt, capped). For tests and
    /// impatient networks.
    #[arg(long, value_name = "MS", default_value_t = 250, hide = true)]
    pub retry_base_ms: u64,

    /// Longest wait between retries, also the cap on a server's Retry-After (a DURATION;
    /// a plain number counts seconds).
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "30s",
        value_parser = crate::duration::parse,
        hide = true
    )]
    pub retry_max_delay: Duration,

    /// The ids of the arguments given on the command line (not defaults), so that
    /// `--show-config` can say that a value came from a flag. Filled by `Cli::parse_args`.
    #[arg(skip)]
    pub given: Vec<String>,
}

impl Cli {
    /// Parses `args` (the first is the program name), remembering which arguments the
    /// command line gave.
    pub fn parse_args<I, T>(args: I) -> Result<Cli, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        use clap::FromArgMatches;
        let matches = command().try_get_matches_from(args)?;
        let mut cli = Cli::from_arg_matches(&matches)?;
        cli.given = matches
            .ids()
            .filter(|id| {
                matches.value_source(id.as_str()) == Some(clap::parser::ValueSource::CommandLine)
            })
            .map(|id| id.to_string())
            .collect();
        Ok(cli)
    }

    /// Whether the argument `id` (the field's name) was given on the command line.
    pub fn gave(&self, id: &str) -> bool {
        self.given.iter().any(|g| g == id)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// `--if-no-files`: what an upload with nothing to upload does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum IfNoFiles {
    Warn,
    Error,
    Ignore,
}

pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

/// The pre-generated files under `completions/`: shell (None = the man page) and file name.
/// `tests/it/ui.rs` fails when they differ from what this definition generates.
pub const GENERATED_FILES: [(Option<clap_complete::Shell>, &str); 6] = {
    use clap_complete::Shell;
    [
        (Some(Shell::Bash), "chief-upload.bash"),
        (Some(Shell::Zsh), "_chief-upload"),
        (Some(Shell::Fish), "chief-upload.fish"),
        (Some(Shell::PowerShell), "_chief-upload.ps1"),
        (Some(Shell::Elvish), "chief-upload.elv"),
        (None, "chief-upload.1"),
    ]
};

/// The completion script for `shell`, generated from this definition.
pub fn completion_script(shell: clap_complete::Shell) -> Vec<u8> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut command(), "chief-upload", &mut out);
    out
}

/// The man page (roff), generated from this definition.
pub fn man_page() -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    // The plain version, as `-V` prints it: the committed page does not name a commit.
    clap_mangen::Man::new(command().long_version(None)).render(&mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn verify_cli() {
        super::command().debug_assert();
    }
}
