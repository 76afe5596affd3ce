//! Issue 11, "CI-native": the `--report` file, signals as CI runners send them, GitHub
//! Actions annotations, job summary and outputs, `--if-no-files`, and `--shard`, run
//! through the real binary against the fake server. Tests wait on events (a gate at the
//! fake, a line on stderr), never on a guessed amount of time.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Child, Output};
use std::time::Duration;

use crate::common::{files_by_path, finish, json_lines, summary, text, TestEnv};
use chief_upload::shard::shard_of;
use fake_chief::{Action, FakeChief, Rule, PROJECT};
use serde_json::Value;

/// The binary as a child process with the isolated environment of `TestEnv::cmd_for`,
/// stdout and stderr piped.
fn spawn(env: &TestEnv, fake: &FakeChief, extra_env: &[(&str, &OsStr)], args: &[&str]) -> Child {
    env.child_cmd(fake)
        .envs(extra_env.iter().map(|(k, v)| (k, v)))
        .args(["--retry-base-ms", "5"])
        .args(args)
        .spawn()
        .unwrap()
}

/// The JSON lines of a report file.
fn report_lines(path: &Path) -> Vec<Value> {
    json_lines(&std::fs::read(path).unwrap())
}

// ---------------------------------------------------------------------------------------
// --report
// ---------------------------------------------------------------------------------------

#[test]
fn the_report_holds_the_json_lines_and_stderr_is_unchanged() {
    let fake = FakeChief::start();
    let env = TestEnv::new();
    env.file("a.txt", "a");
    env.file("sub/b.png", "b");
    let report = env.dir.path().join("report.ndjson");
    std::fs::write(&report, "stale content of an earlier run\n".repeat(100)).unwrap();
    let out = env
        .cmd_for(&fake)
        .args(["--json", "--report"])
        .arg(&report)
        .arg(".")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let written = std::fs::read(&report).unwrap();
    assert_eq!(
        text(&written),
        text(&out.stdout),
        "the same lines, truncated first"
    );
    let lines = report_lines(&report);
    assert_eq!(files_by_path(&lines).len(), 2);
    let s = summary(&lines);
    assert_eq!((&s["uploaded"], &s["excluded"]), (&2.into(), &0.into()));
    assert_eq!(s["not_attempted"], 0, "always present: {s}");

    // Without --json: stdout stays empty, stderr is as always.
    let plain = env.cmd_for(&fake).arg(".").output().unwrap();
    let out = env
        .cmd_for(&fake)
        .arg("--report")
        .arg(&report)
        .arg(".")
        .output()
        .unwrap();
    assert!(out.stdout.is_empty());
    // The same lines (in whatever order the files finished), times aside.
    let lines_of = |o: &Output| -> BTreeSet<String> {
        text(&o.stderr)
            .lines()
            .map(|l| l.split(" in ").next().unwrap_or(l).to_string())
            .collect()
    };
    assert_eq!(lines_of(&out), lines_of(&plain));
    assert_eq!(files_by_path(&report_lines(&report)).len(), 2);
}

#[test]
fn a_report_that_cannot_be_created_stops_the_run_before_any_request() {
    let fake = FakeChief::start();
    let env = TestEnv::new();
    env.file("a.txt", "a");
    for bad in [
        env.dir.path().join("no-such-dir").join("r.ndjson"),
        env.root(),
    ] {
        let out = env
            .cmd_for(&fake)
            .arg("--report")
            .arg(&bad)
            .arg(".")
            .output()
            .unwrap();
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(
            err.contains("cannot create the report file") && err.contains(&*bad.to_string_lossy()),
            "names the file: {err}"
        );
    }
    assert!(fake.requests().is_empty(), "{:?}", fake.requests());
}

// ---------------------------------------------------------------------------------------
// Signals
// ---------------------------------------------------------------------------------------

/// SIGTERM and SIGHUP on Unix; on Windows, which has neither, the interrupt (Ctrl-Break)
/// in their place, and visible skips for what has no Windows form.
mod signals {
    use super::*;
    use std::io::{BufRead, BufReader};
    use std::sync::mpsc;

    use crate::common::{cannot_interrupt, interrupt, kill, skip};
    use fake_chief::Gate;

    /// Generous upper bound for anything that should happen "at once".
    const PROMPT: Duration = Duration::from_secs(20);

    /// How a test stops the run: a Unix signal by name, or the interrupt (`interrupt`:
    /// SIGINT, or Ctrl-Break on Windows).
    #[derive(Clone, Copy)]
    enum Stop {
        Signal(&'static str),
        Interrupt,
    }

    impl Stop {
        fn send(self, child: &Child) {
            match self {
                Stop::Signal(name) => kill(child, name),
                Stop::Interrupt => interrupt(child),
            }
        }

        /// What chief-upload says it was stopped by.
        fn said(self) -> &'static str {
            match self {
                Stop::Signal("TERM") => "(SIGTERM)",
                Stop::Signal("HUP") => "(SIGHUP)",
                Stop::Signal(_) | Stop::Interrupt if cfg!(windows) => "(Ctrl-C)",
                Stop::Signal(_) | Stop::Interrupt => "(SIGINT)",
            }
        }
    }

    /// Six files of distinct content.
    fn six_files(env: &TestEnv) {
        for i in 0..6 {
            env.file(&format!("f{i}.bin"), vec![i as u8; 50_000]);
        }
    }

    /// Two files uploaded, the third held at the storage, then `stop`: the run stops with
    /// `code`, its summary on stderr, in the report (after every finished file's line) and in
    /// the GitHub step outputs.
    fn stopped_by(stop: Stop, code: i32) {
        let fake = FakeChief::start();
        let env = TestEnv::new();
        six_files(&env);
        let gate = Gate::new();
        fake.inject(
            Rule::storage(1, Action::Gate(gate.clone()))
                .after(2)
                .always(),
        );
        let report = env.dir.path().join("report.ndjson");
        let outputs = env.dir.path().join("github-output");
        let child = spawn(
            &env,
            &fake,
            &[
                ("GITHUB_ACTIONS", OsStr::new("true")),
                ("GITHUB_OUTPUT", outputs.as_os_str()),
            ],
            &[
                "-j",
                "1",
                "--json",
                "--report",
                report.to_str().unwrap(),
                ".",
            ],
        );
        gate.wait_arrived(1, PROMPT);
        stop.send(&child);
        let out = finish(child, PROMPT);
        gate.release();
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{err}");
        assert!(
            err.contains(&format!("{}: stopping transfers", stop.said())),
            "{err}"
        );
        assert!(
            err.contains("Interrupted. Uploaded 2 files")
                && err.contains("4 files found were not attempted"),
            "summary on stderr: {err}"
        );
        let lines = report_lines(&report);
        assert_eq!(text(&std::fs::read(&report).unwrap()), text(&out.stdout));
        let files = files_by_path(&lines);
        assert_eq!(files.len(), 2, "every finished file's line: {lines:?}");
        assert!(files.values().all(|f| f["outcome"] == "uploaded"));
        let s = summary(&lines);
        assert_eq!(
            (&s["uploaded"], &s["not_attempted"], &s["interrupted"]),
            (&2.into(), &4.into(), &true.into()),
            "{s}"
        );
        let outputs = std::fs::read_to_string(&outputs).unwrap();
        assert!(
            outputs.contains("uploaded=2\n") && outputs.contains("failed=0\n"),
            "{outputs}"
        );
        assert_eq!(fake.assets(PROJECT).len(), 2);
    }

    #[test]
    fn sigterm_stops_the_run_with_143_a_summary_and_the_whole_report() {
        if cfg!(windows) {
            return skip("Windows has no SIGTERM (the interrupt test stands for it)");
        }
        stopped_by(Stop::Signal("TERM"), 143);
    }

    #[test]
    fn sighup_stops_the_run_with_129_a_summary_and_the_whole_report() {
        if cfg!(windows) {
            return skip(
                "Windows has no SIGHUP; its hang-up, the console window closing, \
                 cannot be sent by a program",
            );
        }
        stopped_by(Stop::Signal("HUP"), 129);
    }

    /// Ctrl-C in a terminal; on Windows Ctrl-Break, what a CI runner can send to one
    /// process group.
    #[test]
    fn an_interrupt_stops_the_run_with_130_a_summary_and_the_whole_report() {
        if let Some(why) = cannot_interrupt() {
            return skip(why);
        }
        stopped_by(Stop::Interrupt, 130);
    }

    /// A second signal while the first one's wind-down is held up ends the process at once,
    /// with the first signal's status, the summary on stderr and in the report.
    ///
    /// The first signal aborts every transfer, so a stalled server cannot hold the run after
    /// it; what can is the hash cache, written last, when another process holds its write
    /// lock (it waits up to 5 s for it). The test holds that lock; the stderr line of the
    /// second signal's way out tells the two endings apart, without a stopwatch.
    #[test]
    fn a_second_signal_ends_a_held_up_run_at_once_with_its_summary() {
        if let Some(why) = cannot_interrupt() {
            return skip(why);
        }
        // SIGTERM on Unix, as a CI runner sends it; the interrupt on Windows.
        let (stop, code) = if cfg!(windows) {
            (Stop::Interrupt, 130)
        } else {
            (Stop::Signal("TERM"), 143)
        };
        let fake = FakeChief::start();
        let env = TestEnv::new();
        six_files(&env);
        let gate = Gate::new();
        fake.inject(
            Rule::storage(1, Action::Gate(gate.clone()))
                .after(1)
                .always(),
        );
        let report = env.dir.path().join("report.ndjson");
        let mut child = spawn(
            &env,
            &fake,
            &[],
            &["-j", "1", "--report", report.to_str().unwrap(), "."],
        );
        // stderr, line by line, as it comes.
        let (tx, lines) = mpsc::channel::<String>();
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let reader = std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let wait_for = |what: &str| loop {
            let line = lines
                .recv_timeout(PROMPT)
                .unwrap_or_else(|_| panic!("no stderr line with {what:?}"));
            if line.contains(what) {
                return;
            }
        };
        gate.wait_arrived(1, PROMPT);
        // The run has opened its cache; hold the write lock.
        let cache = env.cache_file("hashes.sqlite");
        let lock = rusqlite::Connection::open(&cache).unwrap();
        lock.busy_timeout(PROMPT).unwrap();
        lock.execute_batch("BEGIN IMMEDIATE").unwrap();

        stop.send(&child);
        wait_for(&format!("{}: stopping transfers", stop.said()));
        stop.send(&child);
        let out = finish(child, PROMPT);
        let mut rest: Vec<String> = Vec::new();
        reader.join().unwrap();
        rest.extend(lines.try_iter());
        drop(lock);
        gate.release();
        let err = rest.join("\n");
        assert_eq!(out.status.code(), Some(code), "{err}");
        assert!(err.contains("signalled again: leaving now"), "{err}");
        assert!(
            err.contains("Interrupted. Uploaded 1 file") && err.contains("5 files found"),
            "{err}"
        );
        let lines = report_lines(&report);
        assert_eq!(files_by_path(&lines).len(), 1, "{lines:?}");
        let s = summary(&lines);
        assert_eq!(
            (&s["uploaded"], &s["not_attempted"], &s["interrupted"]),
            (&1.into(), &5.into(), &true.into()),
            "{s}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// GitHub Actions
// ---------------------------------------------------------------------------------------

/// GitHub's files for the job summary and the outputs, each with a line of an earlier
/// step (they are appended to, never truncated).
struct GithubFiles {
    summary: PathBuf,
    output: PathBuf,
}

impl GithubFiles {
    fn new(env: &TestEnv) -> GithubFiles {
        let g = GithubFiles {
            summary: env.dir.path().join("step-summary.md"),
            output: env.dir.path().join("github-output"),
        };
        std::fs::write(&g.summary, "# earlier step\n").unwrap();
        std::fs::write(&g.output, "earlier=1\n").unwrap();
        g
    }

    fn apply(&self, cmd: &mut assert_cmd::Command) {
        cmd.env("GITHUB_ACTIONS", "true")
            .env("GITHUB_STEP_SUMMARY", &self.summary)
            .env("GITHUB_OUTPUT", &self.output);
    }

    fn summary(&self) -> String {
        std::fs::read_to_string(&self.summary).unwrap()
    }

    fn output(&self) -> String {
        std::fs::read_to_string(&self.output).unwrap()
    }
}

/// Lines a GitHub runner would take as workflow commands (leading blanks are trimmed).
fn commands(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter(|l| l.trim_start().starts_with("::"))
        .map(str::to_string)
        .collect()
}

/// Rows of the "Failed files" table of the job summary.
fn failed_rows(md: &str) -> Vec<String> {
    md.lines()
        .skip_while(|l| !l.starts_with("#### Failed files"))
        .filter(|l| l.starts_with("| ") && !l.starts_with("| file |"))
        .map(str::to_string)
        .collect()
}

#[test]
fn github_gets_capped_annotations_a_job_summary_and_outputs() {
    let fake = FakeChief::start();
    let env = TestEnv::new();
    let gh = GithubFiles::new(&env);
    env.file("ok-1.txt", "one");
    env.file("ok-2.txt", "two!");
    for i in 0..12 {
        let name = format!("bad-{i:02}.txt");
        env.file(&name, format!("bad {i}"));
        fake.inject(Rule::api(1, Action::status(400)).for_file(&name));
    }
    let mut cmd = env.cmd_for(&fake);
    gh.apply(&mut cmd);
    let out = cmd.arg(".").output().unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");

    let commands = commands(&err);
    assert_eq!(
        commands.len(),
        11,
        "10 errors and one warning: {commands:#?}"
    );
    for c in &commands[..10] {
        assert!(
            c.starts_with("::error file=./bad-") && c.contains(".txt,title=chief-upload::"),
            "{c}"
        );
        assert!(c.contains("400"), "the reason: {c}");
    }
    assert!(
        commands[10].starts_with("::warning title=chief-upload::2 more files failed"),
        "{}",
        commands[10]
    );

    let md = gh.summary();
    assert!(
        md.starts_with("# earlier step\n### chief-upload\n"),
        "appended: {md}"
    );
    for row in ["| uploaded | 2 |", "| skipped | 0 |", "| failed | 12 |"] {
        assert!(md.contains(row), "{row} in {md}");
    }
    assert!(md.contains("7 B uploaded in "), "bytes and time: {md}");
    let rows = failed_rows(&md);
    assert_eq!(rows.len(), 12, "{md}");
    assert!(rows.iter().all(|r| r.starts_with("| ./bad-")), "{md}");

    assert_eq!(
        gh.output(),
        "earlier=1\nuploaded=2\nskipped=0\nfailed=12\nbytes_uploaded=7\n"
    );
}

/// A file name with a newline, `::`, `%`, `,`, `:` and `|` makes no command of its own
/// and breaks neither the annotation's properties nor the summary's table.
#[test]
fn hostile_file_names_cannot_inject_commands_or_break_the_table() {
    if cfg!(windows) {
        return crate::common::skip(
            "Windows file names cannot hold a newline, ':' or '|' (the escaping itself is \
             the same code on every system)",
        );
    }
    let fake = FakeChief::start();
    let env = TestEnv::new();
    let gh = GithubFiles::new(&env);
    let hostile = "x\n::add-mask::s3cr3t,a:b 100%|c.txt";
    env.file(hostile, "hostile");
    fake.inject(Rule::api(1, Action::status(400)).for_file(hostile));
    let uploaded = "y\n::error::fake|alarm.txt";
    env.file(uploaded, "fine");
    let mut cmd = env.cmd_for(&fake);
    gh.apply(&mut cmd);
    let out = cmd.arg(".").output().unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");

    let commands = commands(&err);
    assert_eq!(
        commands.len(),
        1,
        "one annotation, nothing injected: {commands:#?}"
    );
    assert!(
        commands[0].starts_with(
            "::error file=./x%0A%3A%3Aadd-mask%3A%3As3cr3t%2Ca%3Ab 100%25|c.txt,title=chief-upload::"
        ),
        "{}",
        commands[0]
    );

    let md = gh.summary();
    let rows = failed_rows(&md);
    assert_eq!(rows.len(), 1, "one row, on one line: {md}");
    let bare = rows[0].replace("\\|", "");
    assert_eq!(bare.matches('|').count(), 3, "{}", rows[0]);
    assert!(
        md.lines().all(|l| !l.trim_start().starts_with("::")),
        "{md}"
    );
    assert!(gh.output().contains("uploaded=1\nskipped=0\nfailed=1\n"));
}

#[test]
fn ci_off_tells_github_nothing() {
    let fake = FakeChief::start();
    let env = TestEnv::new();
    let gh = GithubFiles::new(&env);
    env.file("bad.txt", "bad");
    fake.inject(Rule::api(1, Action::status(400)).for_file("bad.txt"));
    let mut cmd = env.cmd_for(&fake);
    gh.apply(&mut cmd);
    let out = cmd.args(["--ci", "off", "."]).output().unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(commands(&err).is_empty(), "{err}");
    assert_eq!(gh.summary(), "# earlier step\n");
    assert_eq!(gh.output(), "earlier=1\n");

    // Not on GitHub: nothing either, unless asked for.
    let out = env.cmd_for(&fake).arg(".").output().unwrap();
    assert!(commands(&text(&out.stderr)).is_empty());
}

// ---------------------------------------------------------------------------------------
// --if-no-files and excluded files
// ---------------------------------------------------------------------------------------

#[test]
fn if_no_files_warns_fails_or_keeps_quiet() {
    let fake = FakeChief::start();
    let env = TestEnv::new();
    std::fs::create_dir_all(env.root().join("empty")).unwrap();

    let out = env.cmd_for(&fake).arg("empty").output().unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("warning: nothing to upload"), "{err}");

    let out = env
        .cmd_for(&fake)
        .args(["--if-no-files", "error", "empty"])
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("error: nothing to upload: the PATHs hold no file"),
        "{err}"
    );

    let out = env
        .cmd_for(&fake)
        .args(["--if-no-files", "ignore", "--json", "empty"])
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        !err.contains("warning") && !err.contains("nothing"),
        "{err}"
    );
    summary(&json_lines(&out.stdout));
    assert!(fake.requests().is_empty());
}

#[test]
fn if_no_files_is_judged_after_the_filters_and_before_the_shard() {
    let fake = FakeChief::start();
    let env = TestEnv::new();
    env.file("notes.txt", "n");
    env.file("tmp/a.png", "a");

    // The globs leave nothing: that is "no files".
    let out = env
        .cmd_for(&fake)
        .args([
            "--if-no-files",
            "error",
            "--exclude",
            "*.txt",
            "--exclude",
            "tmp",
        ])
        .args(["--json", "."])
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("the only file found was left out by --include/--exclude"),
        "{err}"
    );
    // tmp/ is pruned, never walked: its file is not counted.
    let s = summary(&json_lines(&out.stdout));
    assert_eq!(s["excluded"], 1, "{s}");

    // A shard without a file of its own, of a tree that has one: fine.
    let other = if shard_of("./notes.txt", 2) == 1 {
        2
    } else {
        1
    };
    let out = env
        .cmd_for(&fake)
        .args(["--if-no-files", "error", "--exclude", "tmp", "--json"])
        .args(["--shard", &format!("{other}/2"), "."])
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(!err.contains("nothing to upload"), "{err}");
    let lines = json_lines(&out.stdout);
    assert!(files_by_path(&lines).is_empty());
    let s = summary(&lines);
    assert_eq!(
        (&s["excluded"], &s["uploaded"]),
        (&1.into(), &0.into()),
        "{s}"
    );
    assert!(err.contains("; 1 file excluded"), "{err}");
    assert!(fake.requests().is_empty());
}

#[test]
fn files_left_out_by_the_globs_are_counted_excluded() {
    let fake = FakeChief::start();
    let env = TestEnv::new();
    env.file("a.png", "a");
    env.file("b.txt", "b");
    env.file("sub/c.txt", "c");
    env.file("sub/d.png", "d");
    let out = env
        .cmd_for(&fake)
        .args(["--include", "*.png", "--json", "."])
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let lines = json_lines(&out.stdout);
    let files = files_by_path(&lines);
    assert_eq!(
        files.keys().collect::<Vec<_>>(),
        vec!["./a.png", "./sub/d.png"]
    );
    let s = summary(&lines);
    assert_eq!(
        (&s["uploaded"], &s["excluded"]),
        (&2.into(), &2.into()),
        "{s}"
    );
    assert!(err.contains("; 2 files excluded"), "{err}");
}

// ---------------------------------------------------------------------------------------
// --shard
// ---------------------------------------------------------------------------------------

#[test]
fn a_dry_run_shows_which_files_a_shard_holds() {
    let env = TestEnv::new();
    for i in 0..40 {
        env.file(&format!("d{}/f{i}.bin", i % 3), format!("{i}"));
    }
    let mut seen = BTreeSet::new();
    for k in 1..=3u64 {
        let out = env
            .cmd()
            .args(["--dry-run", "--json", "--shard", &format!("{k}/3"), "."])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let lines = json_lines(&out.stdout);
        let files = files_by_path(&lines);
        for (path, line) in &files {
            assert_eq!(shard_of(path, 3), k, "{path}");
            assert_eq!(line["outcome"], "planned");
            assert!(seen.insert(path.clone()), "{path} in two shards");
        }
        let s = summary(&lines);
        assert_eq!(s["excluded"], 40 - files.len() as u64, "{s}");
    }
    assert_eq!(seen.len(), 40);
    // The same from the environment.
    let out = env
        .cmd()
        .env("CHIEF_SHARD", "2/3")
        .args(["--dry-run", "--json", "."])
        .output()
        .unwrap();
    let files = files_by_path(&json_lines(&out.stdout));
    assert!(files.keys().all(|p| shard_of(p, 3) == 2) && !files.is_empty());
}

/// Four runs at once, one shard each, share 2,000 files: each file is uploaded by exactly
/// one of them, and each takes its fair part.
#[test]
fn four_shards_at_once_upload_every_file_exactly_once() {
    const FILES: usize = 2000;
    let fake = FakeChief::start();
    let env = TestEnv::new();
    for i in 0..FILES {
        env.file(
            &format!("tree/d{:02}/f{i:04}.bin", i % 16),
            format!("file {i}"),
        );
    }
    let reports: Vec<PathBuf> = (1..=4)
        .map(|k| env.dir.path().join(format!("shard-{k}.ndjson")))
        .collect();
    let children: Vec<Child> = reports
        .iter()
        .enumerate()
        .map(|(i, report)| {
            let shard = format!("{}/4", i + 1);
            spawn(
                &env,
                &fake,
                &[],
                &[
                    "--shard",
                    &shard,
                    "--report",
                    report.to_str().unwrap(),
                    "tree",
                ],
            )
        })
        .collect();
    for child in children {
        let out = finish(child, Duration::from_secs(300));
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    }

    let mut owner: BTreeMap<String, usize> = BTreeMap::new();
    for (i, report) in reports.iter().enumerate() {
        let lines = report_lines(report);
        let files = files_by_path(&lines);
        let share = files.len() as f64 / FILES as f64;
        assert!(
            (0.20..=0.30).contains(&share),
            "shard {} holds {} files",
            i + 1,
            files.len()
        );
        let s = summary(&lines);
        assert_eq!(s["uploaded"], files.len() as u64, "{s}");
        assert_eq!(s["excluded"], (FILES - files.len()) as u64, "{s}");
        for path in files.keys() {
            if let Some(other) = owner.insert(path.clone(), i + 1) {
                panic!("{path} in the reports of shards {other} and {}", i + 1);
            }
        }
    }
    assert_eq!(owner.len(), FILES, "every file in one report");

    let mut posts: BTreeMap<String, usize> = BTreeMap::new();
    for r in fake.api_requests() {
        let name = r.json.as_ref().unwrap()["filename"].as_str().unwrap();
        *posts.entry(name.to_string()).or_default() += 1;
    }
    assert_eq!(posts.len(), FILES);
    assert!(posts.values().all(|&n| n == 1), "one POST per file");
    let puts = fake
        .storage_requests()
        .iter()
        .filter(|r| r.status == 200)
        .count();
    assert_eq!(puts, FILES, "one upload per file");
    assert_eq!(fake.assets(PROJECT).len(), FILES);
}
