//! What people and CI logs see: bars on a (pretend) terminal, plain lines elsewhere,
//! quiet/verbose, dry run, JSON beside bars, a closed stdout, errors, help, completions.
//!
//! Snapshots: `INSTA_UPDATE=always cargo test --test it ui::` rewrites
//! `tests/it/snapshots/` (files `it__ui__NAME.snap`, after this module's path).
//! Completions: `UPDATE_COMPLETIONS=1 cargo test --test it ui::` rewrites `completions/`.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command as StdCommand, Stdio};
use std::time::Duration;

use crate::common::{files_by_path, json_lines, summary, TestEnv};
use chief_upload::event::{FileReport, Outcome, Summary};
use chief_upload::report::{file_json, file_line, summary_json, summary_line};
use fake_chief::{Action, FakeChief, Rule, TOKEN, UNKNOWN_TOKEN};

const PRETEND_TERM: &str = "CHIEF_UPLOAD_PRETEND_TERM";

/// Why the bars cannot be seen through a pipe that pretends to be a terminal, where they
/// cannot: on Windows the `console` crate moves the cursor and clears lines through the
/// console API (or escape codes once a real console has virtual terminal processing on),
/// so a pipe gets the frames without any of that.
fn bars_unseen_through_a_pipe() -> Option<&'static str> {
    cfg!(windows).then_some(
        "on Windows the bars draw through the console API, which a pipe pretending to be \
         a terminal does not record",
    )
}

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Colour codes (SGR: `ESC [ … m`), as opposed to cursor movement.
fn has_sgr(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i + 1 < b.len() {
        if b[i] == 0x1b && b[i + 1] == b'[' {
            let mut j = i + 2;
            while j < b.len() && (b[j].is_ascii_digit() || b[j] == b';') {
                j += 1;
            }
            if j < b.len() && b[j] == b'm' {
                return true;
            }
        }
        i += 1;
    }
    false
}

/// A minimal terminal: replays what was written to stderr (text, CR, LF, cursor up and
/// down, erase line/screen, colours ignored) on a `width`-column screen and returns the
/// lines left on it at the end, right-trimmed, without trailing empty lines.
fn final_screen(raw: &str, width: usize) -> Vec<String> {
    let mut rows: Vec<Vec<char>> = vec![Vec::new()];
    let (mut row, mut col) = (0usize, 0usize);
    let mut chars = raw.chars().peekable();
    let ensure = |rows: &mut Vec<Vec<char>>, row: usize| {
        while rows.len() <= row {
            rows.push(Vec::new());
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '\x1b' => {
                if chars.peek() != Some(&'[') {
                    continue;
                }
                chars.next();
                let mut params = String::new();
                let mut fin = ' ';
                for c in chars.by_ref() {
                    if c.is_ascii_digit() || c == ';' || c == '?' {
                        params.push(c);
                    } else {
                        fin = c;
                        break;
                    }
                }
                let n: usize = params.parse().unwrap_or(1).max(1);
                match fin {
                    'A' => row = row.saturating_sub(n),
                    'B' => {
                        row += n;
                        ensure(&mut rows, row);
                    }
                    'G' => col = n - 1,
                    'K' => {
                        let r = &mut rows[row];
                        if params == "2" {
                            r.clear();
                        } else {
                            r.truncate(col);
                        }
                    }
                    'J' => {
                        rows[row].truncate(col);
                        rows.truncate(row + 1);
                    }
                    _ => {} // colours, cursor show/hide
                }
            }
            '\r' => col = 0,
            '\n' => {
                row += 1;
                col = 0;
                ensure(&mut rows, row);
            }
            c => {
                if col >= width {
                    row += 1;
                    col = 0;
                    ensure(&mut rows, row);
                }
                let r = &mut rows[row];
                while r.len() <= col {
                    r.push(' ');
                }
                r[col] = c;
                col += 1;
            }
        }
    }
    let mut lines: Vec<String> = rows
        .into_iter()
        .map(|r| r.into_iter().collect::<String>().trim_end().to_string())
        .collect();
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines
}

// ---------------------------------------------------------------------------------------
// (1) A terminal, through the pretend-term switch

#[test]
fn terminal_bars_draw_then_leave_only_lines_and_the_summary() {
    if let Some(why) = bars_unseen_through_a_pipe() {
        return crate::common::skip(why);
    }
    let fake = FakeChief::start();
    // Keep the big transfer on screen for a moment so its bar is drawn.
    fake.inject(Rule::storage(1, Action::Delay(Duration::from_millis(600))).for_file("big.bin"));
    let env = TestEnv::new();
    env.file("a.txt", "alpha");
    env.file("sub/b.txt", "bravo!");
    // Over the pipeline's thresholds for a hashing bar (8 MiB) and a transfer bar.
    let big: Vec<u8> = (0..(12u32 << 20)).map(|i| (i % 251) as u8).collect();
    env.file("big.bin", &big);
    crate::common::symlink("nowhere", &env.root().join("dangling")).unwrap();

    let out = env
        .cmd_for(&fake)
        .env(PRETEND_TERM, "1")
        .arg(".")
        .output()
        .unwrap();
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(out.stdout.is_empty(), "nothing on stdout without --json");

    // Bars were drawn (cursor movement, line erasing) with their content.
    assert!(err.contains("\x1b[2K"), "bars erase lines: {err:?}");
    let drawn = console::strip_ansi_codes(&err).into_owned();
    let frames: Vec<&str> = drawn.split(['\r', '\n']).collect();
    let overall = frames
        .iter()
        .find(|f| f.contains("uploading [") && f.contains("/3 files") && f.contains("ETA"))
        .unwrap_or_else(|| panic!("an overall bar with bytes, files and ETA: {drawn:?}"));
    assert!(overall.contains("MiB"), "{overall}");
    // (The hashing bar is proven in report::human's unit test: a 12 MiB hash is over
    // before a frame is certain to be drawn.)
    assert!(
        frames.iter().any(|f| f.contains("uploading ./big.bin")
            && f.contains("/12.00 MiB")
            && f.contains("/s")),
        "a transfer bar for the big file (name, bytes, rate): {drawn:?}"
    );

    // The screen at the end: the warning and the file lines intact, then the summary; no bar.
    let screen = final_screen(&err, 80);
    let joined = screen.join("\n");
    assert!(
        screen
            .iter()
            .all(|l| !l.contains("ETA") && !l.contains('[') && !l.contains("hashing")),
        "bars are cleared:\n{joined}"
    );
    let last = screen.last().unwrap();
    assert!(
        last.starts_with("Uploaded 3 files (12.0 MiB), skipped 0, failed 0 in "),
        "summary last:\n{joined}"
    );
    let uploaded: Vec<&String> = screen
        .iter()
        .filter(|l| l.starts_with("uploaded "))
        .collect();
    assert_eq!(uploaded.len(), 3, "one line per file:\n{joined}");
    for (path, size) in [
        ("./a.txt", "5 B"),
        ("./sub/b.txt", "6 B"),
        ("./big.bin", "12.0 MiB"),
    ] {
        let line = uploaded
            .iter()
            .find(|l| l.contains(&format!(" {path} ")))
            .unwrap_or_else(|| panic!("{path}:\n{joined}"));
        let rest = line
            .strip_prefix(&format!("uploaded {path}  {size}  asset_"))
            .unwrap_or_else(|| panic!("garbled line {line:?}:\n{joined}"));
        assert_eq!(rest.len(), 20, "{line:?}");
    }
    assert!(
        screen.contains(&"warning: skipped ./dangling: broken symbolic link".to_string()),
        "warnings print above the bars, intact:\n{joined}"
    );
    assert_eq!(screen.len(), 5, "nothing else left on screen:\n{joined}");
}

#[test]
fn no_color_keeps_bars_but_drops_colours() {
    if let Some(why) = bars_unseen_through_a_pipe() {
        return crate::common::skip(why);
    }
    let fake = FakeChief::start();
    let env = TestEnv::new();
    env.file("a.txt", "alpha");
    env.file("b.txt", "bravo");
    for extra in [&[("NO_COLOR", "1")][..], &[]] {
        let mut cmd = env.cmd_for(&fake);
        cmd.env(PRETEND_TERM, "1").arg(".");
        for (k, v) in extra {
            cmd.env(k, v);
        }
        if extra.is_empty() {
            cmd.args(["--color", "never"]);
        }
        let out = cmd.output().unwrap();
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(0), "{err}");
        assert!(!has_sgr(&err), "no colour codes ({extra:?}): {err:?}");
        assert!(err.contains("\x1b[2K"), "bars still draw: {err:?}");
        let screen = final_screen(&err, 80);
        let last = screen.last().unwrap();
        assert!(
            last.starts_with("Uploaded ") && last.contains(", failed 0 in "),
            "{last}"
        );
    }
    // And on the pretend terminal without NO_COLOR, there is colour.
    let out = env
        .cmd_for(&fake)
        .env(PRETEND_TERM, "1")
        .arg(".")
        .output()
        .unwrap();
    assert!(has_sgr(&stderr_of(&out)), "colour on a terminal by default");
}

// ---------------------------------------------------------------------------------------
// (2) Not a terminal: CI logs and pipes

fn small_tree(env: &TestEnv) {
    env.file("a.txt", "alpha");
    env.file("docs/b.txt", "bravo!");
    env.file("img/c.png", b"\x89PNG\r\n\x1a\nc");
}

#[test]
fn not_a_terminal_one_plain_line_per_file_and_a_summary() {
    let fake = FakeChief::start();
    let env = TestEnv::new();
    small_tree(&env);
    let out = env.cmd_for(&fake).arg(".").output().unwrap();
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(!err.contains('\x1b'), "no escape byte at all: {err:?}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 4, "{err}");
    for path in ["./a.txt", "./docs/b.txt", "./img/c.png"] {
        let n = lines
            .iter()
            .filter(|l| l.starts_with(&format!("uploaded {path}  ")))
            .count();
        assert_eq!(n, 1, "{path}: {err}");
    }
    assert!(lines[3].starts_with("Uploaded 3 files (20 B), skipped 0, failed 0 in "));

    // A second run: the same shape, all skipped.
    let out = env.cmd_for(&fake).arg(".").output().unwrap();
    let err = stderr_of(&out);
    assert_eq!(
        err.lines()
            .filter(|l| l.starts_with("skipped ") && l.ends_with("(already in the project)"))
            .count(),
        3,
        "{err}"
    );
}

#[test]
fn color_always_colours_plain_lines() {
    let fake = FakeChief::start();
    let env = TestEnv::new();
    small_tree(&env);
    let out = env
        .cmd_for(&fake)
        .args(["--color", "always", "."])
        .output()
        .unwrap();
    let err = stderr_of(&out);
    assert!(err.contains("\x1b[32muploaded\x1b[0m"), "{err:?}");
    assert!(
        !err.contains("\x1b[2K"),
        "no bars off a terminal, even with colour"
    );
    assert_eq!(console::strip_ansi_codes(&err).lines().count(), 4);
}

// ---------------------------------------------------------------------------------------
// (3) -q and -v

#[test]
fn quiet_keeps_only_errors_and_the_summary() {
    let fake = FakeChief::start();
    fake.inject(Rule::api(1, Action::status(400)).for_file("b.txt").always());
    let env = TestEnv::new();
    small_tree(&env);
    // A warning too: a config file others can read.
    let cfg = env.config("");
    crate::common::set_mode(&cfg, 0o644);
    for term in [false, true] {
        let mut cmd = env.cmd_for(&fake);
        if term {
            cmd.env(PRETEND_TERM, "1");
        }
        let out = cmd.args(["-q", "."]).output().unwrap();
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(!err.contains('\x1b') || term, "{err:?}");
        let lines: Vec<String> = console::strip_ansi_codes(&err)
            .lines()
            .map(str::to_string)
            .collect();
        assert_eq!(lines.len(), 2, "only the failure and the summary: {err:?}");
        assert!(
            lines[0].starts_with("failed   ./docs/b.txt  6 B  "),
            "{err}"
        );
        assert!(lines[1].contains("failed 1"), "{err}");
    }
}

#[test]
fn verbose_shows_requests_and_retries_without_secrets() {
    let fake = FakeChief::start();
    fake.inject(Rule::api(1, Action::status(503)));
    let env = TestEnv::new();
    env.file("one.bin", vec![1u8; 2000]);
    let out = env.cmd_for(&fake).args(["-v", "."]).output().unwrap();
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let api = fake.api_url();
    let storage = fake.storage_url();
    let lines: Vec<&str> = err.lines().collect();
    let posts: Vec<&&str> = lines
        .iter()
        .filter(|l| l.starts_with(&format!("POST {api}/v1/assets -> ")))
        .collect();
    assert_eq!(posts.len(), 2, "503 then 201: {err}");
    assert!(
        posts[0].contains("-> 503 in ") && posts[0].contains(" ms"),
        "{err}"
    );
    assert!(
        posts[1].contains("-> 201 in ") && posts[1].contains("(attempt 2)"),
        "{err}"
    );
    let put = lines
        .iter()
        .find(|l| l.starts_with(&format!("PUT {storage}/")))
        .unwrap_or_else(|| panic!("a PUT line: {err}"));
    assert!(put.contains("-> 200 in "), "{put}");
    let retry = lines
        .iter()
        .find(|l| l.starts_with("retry 1 of POST /v1/assets in "))
        .unwrap_or_else(|| panic!("a retry line: {err}"));
    assert!(retry.contains("503"), "{retry}");
    assert!(!err.contains(TOKEN), "never the token");
    assert!(!err.contains('?'), "never a query string: {err}");
    let signed = fake.storage_requests()[0].query.clone().unwrap_or_default();
    assert!(!signed.is_empty() && !err.contains(&signed));
}

// ---------------------------------------------------------------------------------------
// (4) --dry-run

#[test]
fn dry_run_lists_path_size_type_md5_and_totals() {
    let env = TestEnv::new();
    small_tree(&env);
    let out = env.cmd().args(["--dry-run", "."]).output().unwrap();
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(0), "no credentials needed: {err}");
    let mut lines: Vec<&str> = err.lines().collect();
    let total = lines.pop().unwrap();
    assert!(
        total.starts_with("Dry run: would upload 3 files (20 B); nothing was sent ("),
        "{total}"
    );
    lines.sort();
    assert_eq!(
        lines,
        [
            format!(
                "planned  ./a.txt  5 B  text/plain md5 {}",
                fake_chief::md5_hex(b"alpha")
            ),
            format!(
                "planned  ./docs/b.txt  6 B  text/plain md5 {}",
                fake_chief::md5_hex(b"bravo!")
            ),
            format!(
                "planned  ./img/c.png  9 B  image/png md5 {}",
                fake_chief::md5_hex(b"\x89PNG\r\n\x1a\nc")
            ),
        ]
    );

    let out = env.cmd().args(["-n", "--json", "."]).output().unwrap();
    let lines = json_lines(&out.stdout);
    let files = files_by_path(&lines);
    assert!(
        files.values().all(|f| f["outcome"] == "planned"),
        "{files:?}"
    );
    assert_eq!(files["./img/c.png"]["mime_type"], "image/png");
    assert_eq!(summary(&lines)["planned"], 3);
}

// ---------------------------------------------------------------------------------------
// (5) --json beside bars, and a closed stdout

#[test]
fn json_stdout_stays_pure_while_bars_draw_on_stderr() {
    let fake = FakeChief::start();
    let env = TestEnv::new();
    small_tree(&env);
    env.file("big.bin", vec![3u8; 600_000]);
    let out = env
        .cmd_for(&fake)
        .env(PRETEND_TERM, "1")
        .args(["--json", "."])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let stdout = String::from_utf8(out.stdout.clone()).unwrap();
    assert!(!stdout.contains('\x1b'));
    let lines = json_lines(&out.stdout);
    assert_eq!(lines.len(), 5);
    assert_eq!(summary(&lines)["uploaded"], 4);
    if let Some(why) = bars_unseen_through_a_pipe() {
        return crate::common::skip(&format!("the bars' half: {why}"));
    }
    let err = stderr_of(&out);
    assert!(
        err.contains("\x1b[2K") && err.contains("files"),
        "bars on stderr"
    );
    assert!(final_screen(&err, 80)
        .last()
        .unwrap()
        .starts_with("Uploaded 4 files"));
}

#[test]
fn a_closed_stdout_is_not_an_error() {
    let env = TestEnv::new();
    // More JSON than a pipe buffer holds, so the writer meets the closed pipe.
    for i in 0..600 {
        env.file(&format!("d/file-{i:04}.txt"), format!("content {i}"));
    }
    let bin = crate::common::bin();
    let mut child = StdCommand::new(bin)
        .env_clear()
        .envs(env.dirs_env())
        .current_dir(env.root())
        .args(["--dry-run", "--json", "."])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    {
        let stdout = child.stdout.take().unwrap();
        BufReader::new(stdout).read_line(&mut first).unwrap();
        // Dropping the reader closes the pipe, as `| head -1` does.
    }
    assert!(first.starts_with(r#"{"event":"file""#), "{first}");
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(!err.contains("error"), "{err}");
    assert!(
        err.lines()
            .last()
            .unwrap_or_default()
            .starts_with("Dry run: would upload 600 files"),
        "the run completes: {err}"
    );
}

// ---------------------------------------------------------------------------------------
// (6) Completions and man page, generated and committed

#[test]
fn committed_completions_and_man_page_are_fresh() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("completions");
    let update = std::env::var_os("UPDATE_COMPLETIONS").is_some();
    let mut stale = Vec::new();
    for (shell, name) in chief_upload::cli::GENERATED_FILES {
        let fresh = match shell {
            Some(shell) => chief_upload::cli::completion_script(shell),
            None => chief_upload::cli::man_page().unwrap(),
        };
        let path = dir.join(name);
        if update {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &fresh).unwrap();
        } else if std::fs::read(&path).ok().as_deref() != Some(&fresh[..]) {
            stale.push(name);
        }
    }
    assert!(
        stale.is_empty(),
        "completions/{stale:?} are stale or missing: the command-line definition changed.\n\
         Regenerate them with:  UPDATE_COMPLETIONS=1 cargo test --test it ui::committed_completions"
    );
}

#[test]
fn the_binary_prints_the_committed_scripts() {
    let env = TestEnv::new();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("completions");
    for (shell, name) in chief_upload::cli::GENERATED_FILES {
        let mut cmd = env.cmd();
        match shell {
            Some(s) => cmd.args(["--completions", &s.to_string()]),
            None => cmd.arg("--man"),
        };
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(0));
        assert_eq!(out.stdout, std::fs::read(dir.join(name)).unwrap(), "{name}");
    }
}

// ---------------------------------------------------------------------------------------
// (7) Snapshots: help, per-file lines, summary lines, JSON shapes

#[test]
fn help_snapshots() {
    let mut cmd = chief_upload::cli::command().term_width(100);
    insta::assert_snapshot!("help_short", cmd.render_help().to_string());
    insta::assert_snapshot!("help_long", cmd.render_long_help().to_string());
}

#[test]
fn short_help_is_short_and_the_binary_agrees() {
    let env = TestEnv::new();
    let out = env.cmd().env("COLUMNS", "100").arg("-h").output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        text,
        chief_upload::cli::command()
            .term_width(100)
            .render_help()
            .to_string()
    );
    assert!(text.lines().count() <= 45, "{text}");
    assert!(!text.contains("--retries"), "rare flags stay out of -h");
    let out = env.cmd().arg("--help").output().unwrap();
    let long = String::from_utf8(out.stdout).unwrap();
    assert!(long.contains("In CI:") && long.contains("--retries"));
}

fn report(outcome: Outcome) -> FileReport {
    FileReport {
        path: "./renders/shot 01.png".into(),
        filename: "shot 01.png".into(),
        size: Some(1_572_864),
        md5: Some("900150983cd24fb0d6963f7d28e17f72".into()),
        mime_type: Some("image/png".into()),
        outcome,
        asset_id: Some("asset_0123456789abcdefghij".into()),
        status: Some("uploaded".into()),
        error: None,
        note: None,
        took: None,
    }
}

fn file_cases() -> Vec<(&'static str, FileReport)> {
    let failed = FileReport {
        asset_id: None,
        status: None,
        error: Some("storage answered 403 Forbidden after 6 attempts".into()),
        ..report(Outcome::Failed)
    };
    let unreadable = FileReport {
        size: None,
        md5: None,
        mime_type: None,
        asset_id: None,
        status: None,
        error: Some("cannot open: permission denied".into()),
        ..report(Outcome::Failed)
    };
    let planned = FileReport {
        asset_id: None,
        status: None,
        ..report(Outcome::Planned)
    };
    let same_run = FileReport {
        note: Some("same content as ./renders/shot 00.png".into()),
        ..report(Outcome::Skipped)
    };
    vec![
        ("uploaded", report(Outcome::Uploaded)),
        ("skipped", report(Outcome::Skipped)),
        ("skipped_same_run", same_run),
        ("failed", failed),
        ("failed_unreadable", unreadable),
        ("planned", planned),
    ]
}

#[test]
fn file_line_snapshots() {
    let text: String = file_cases()
        .iter()
        .map(|(name, r)| format!("{name:<18} | {}\n", file_line(r)))
        .collect();
    insta::assert_snapshot!("file_lines", text);
}

fn summaries() -> Vec<(&'static str, Summary, bool)> {
    let base = Summary {
        uploaded: 41,
        skipped: 7,
        failed: 0,
        bytes_uploaded: 734_003_200,
        elapsed: Duration::from_millis(83_400),
        ..Summary::default()
    };
    vec![
        ("success", base.clone(), false),
        (
            "one",
            Summary {
                uploaded: 1,
                skipped: 0,
                bytes_uploaded: 2048,
                elapsed: Duration::from_millis(400),
                ..base.clone()
            },
            false,
        ),
        (
            "all_skipped",
            Summary {
                uploaded: 0,
                bytes_uploaded: 0,
                elapsed: Duration::from_millis(900),
                ..base.clone()
            },
            false,
        ),
        (
            "failures",
            Summary {
                failed: 2,
                ..base.clone()
            },
            false,
        ),
        (
            "interrupted",
            Summary {
                interrupted: true,
                not_attempted: 12,
                ..base.clone()
            },
            false,
        ),
        (
            "dry_run",
            Summary {
                uploaded: 0,
                skipped: 0,
                bytes_uploaded: 0,
                planned: 48,
                bytes_planned: 1_073_741_824,
                elapsed: Duration::from_millis(2_100),
                ..Summary::default()
            },
            true,
        ),
        (
            "dry_run_unreadable",
            Summary {
                planned: 3,
                bytes_planned: 3000,
                failed: 1,
                elapsed: Duration::from_millis(100),
                ..Summary::default()
            },
            true,
        ),
    ]
}

#[test]
fn summary_line_snapshots() {
    let text: String = summaries()
        .iter()
        .map(|(name, s, dry)| format!("{name:<18} | {}\n", summary_line(s, *dry)))
        .collect();
    insta::assert_snapshot!("summary_lines", text);
}

#[test]
fn json_shape_snapshots() {
    let mut text: String = file_cases()
        .iter()
        .map(|(name, r)| format!("{name:<18} | {}\n", file_json(r)))
        .collect();
    for (name, s, dry) in summaries() {
        text.push_str(&format!("{name:<18} | {}\n", summary_json(&s, dry)));
    }
    insta::assert_snapshot!("json_lines", text);
}

// ---------------------------------------------------------------------------------------
// (8) Errors: `error:` then `hint:` lines; close flags suggested

fn assert_error_with_hint(out: &std::process::Output, code: i32, what: &str) {
    let err = stderr_of(out);
    assert_eq!(out.status.code(), Some(code), "{what}: {err}");
    // The error comes last (after the summary, when a run had started).
    let at = err
        .find("error: ")
        .unwrap_or_else(|| panic!("{what}: {err}"));
    assert!(at == 0 || err[..at].ends_with('\n'), "{what}: {err}");
    let tail = &err[at..];
    assert_eq!(tail.matches("error: ").count(), 1, "{what}: {err}");
    assert!(tail.contains("\n  hint: "), "{what} has a hint: {err}");
    assert!(
        !err.contains(TOKEN) && !err.contains(UNKNOWN_TOKEN),
        "{what}: {err}"
    );
}

#[test]
fn every_error_says_what_failed_and_how_to_fix_it() {
    let fake = FakeChief::start();
    let env = TestEnv::new();
    env.file("a.txt", "alpha");
    type Case<'a> = (&'a str, Vec<&'a str>, Vec<(&'a str, String)>);
    let cases: Vec<Case> = vec![
        ("no path", vec![], vec![]),
        ("no token", vec!["."], vec![]),
        (
            "malformed token",
            vec!["."],
            vec![
                ("CHIEF_API_KEY", "nonsense".into()),
                ("CHIEF_PROJECT_ID", fake_chief::PROJECT.into()),
            ],
        ),
        (
            "malformed project",
            vec!["--project", "proj-1", "."],
            vec![("CHIEF_API_KEY", TOKEN.into())],
        ),
        ("bad jobs", vec!["-n", "-j", "0", "."], vec![]),
        ("bad glob", vec!["-n", "--exclude", "[", "."], vec![]),
        ("null without list", vec!["-n", "-0", "."], vec![]),
        (
            "plain http to a remote host",
            vec!["--api-url", "http://chief.example.com", "."],
            vec![
                ("CHIEF_API_KEY", TOKEN.into()),
                ("CHIEF_PROJECT_ID", fake_chief::PROJECT.into()),
            ],
        ),
        (
            "missing config file",
            vec!["--config", "/nonexistent/chief.toml", "."],
            vec![],
        ),
    ];
    for (what, args, envs) in cases {
        let out = env.cmd().args(&args).envs(envs).output().unwrap();
        assert_error_with_hint(&out, 2, what);
    }
    // Credentials the server refuses.
    let out = env
        .cmd()
        .envs(fake.env())
        .env("CHIEF_API_KEY", UNKNOWN_TOKEN)
        .arg(".")
        .output()
        .unwrap();
    assert_error_with_hint(&out, 2, "401");
}

#[test]
fn an_unknown_flag_suggests_the_close_one() {
    let env = TestEnv::new();
    let out = env.cmd().args(["--dryrun", "."]).output().unwrap();
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        err.starts_with("error: unexpected argument '--dryrun'"),
        "{err}"
    );
    assert!(
        err.contains("similar argument exists: '--dry-run'"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------
// (9) The plain progress line of long runs

#[test]
fn ci_logs_get_a_progress_line_at_the_interval() {
    let env = TestEnv::new();
    env.file("a.txt", "alpha");
    let bin = crate::common::bin();
    // The list of paths stays open: the run lasts until the test closes it.
    let mut child = StdCommand::new(bin)
        .env_clear()
        .envs(env.dirs_env())
        .current_dir(env.root())
        .args([
            "--dry-run",
            "--progress-interval",
            "0.05",
            "--files-from",
            "-",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"a.txt\n").unwrap();
    stdin.flush().unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = Vec::new();
    let progress = loop {
        let mut line = String::new();
        if stderr.read_line(&mut line).unwrap() == 0 {
            panic!("ended without a progress line: {seen:?}");
        }
        if line.starts_with("progress: ") {
            break line;
        }
        seen.push(line);
    };
    drop(stdin);
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(0), "{rest}");
    assert!(
        progress.contains(" files (")
            && progress.contains(" planned, 0 failed), ")
            && progress.contains(" elapsed"),
        "the counts: {progress}"
    );
    assert!(!progress.contains('\x1b'));
    assert!(
        rest.contains("Dry run: would upload 1 file (5 B)"),
        "{rest}"
    );
}

#[test]
fn no_progress_line_when_quiet_or_turned_off() {
    let env = TestEnv::new();
    env.file("a.txt", "alpha");
    for args in [&["-q"][..], &["--progress-interval", "0"]] {
        let out = env.cmd().args(["-n", "."]).args(args).output().unwrap();
        assert!(!stderr_of(&out).contains("progress:"), "{args:?}");
    }
}

// ---------------------------------------------------------------------------------------
// A real pseudo-terminal, when util-linux `script` is there.

#[test]
fn a_real_pseudo_terminal_gets_colour_and_a_clean_end() {
    if !cfg!(target_os = "linux") {
        return crate::common::skip("the pseudo-terminal is util-linux `script`'s, on Linux");
    }
    if StdCommand::new("script").arg("--version").output().is_err() {
        return crate::common::skip("no `script` command (util-linux)");
    }
    let env = TestEnv::new();
    small_tree(&env);
    let bin = crate::common::bin();
    let out = StdCommand::new("script")
        .args([
            "-qfec",
            &format!("{} --dry-run .", bin.display()),
            "/dev/null",
        ])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(env.dirs_env())
        .env("TERM", "xterm")
        .current_dir(env.root())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(has_sgr(&text), "a terminal gets colour: {text:?}");
    let screen = final_screen(&text.replace("\r\n", "\n"), 80);
    assert!(
        screen
            .last()
            .unwrap()
            .starts_with("Dry run: would upload 3 files (20 B)"),
        "{screen:#?}"
    );
    assert_eq!(
        screen.iter().filter(|l| l.starts_with("planned ")).count(),
        3
    );
}

// ---------------------------------------------------------------------------------------
// (8) The version: `--version` names the build, `-V` (and the man page) stay plain

#[test]
fn version_names_the_build_and_v_stays_plain() {
    let env = TestEnv::new();
    let version = env!("CARGO_PKG_VERSION");
    let short = env.cmd().arg("-V").output().unwrap();
    assert_eq!(
        crate::common::text(&short.stdout),
        format!("chief-upload {version}\n")
    );

    let long = crate::common::text(&env.cmd().arg("--version").output().unwrap().stdout);
    // chief-upload 0.1.0 (3f2a9c1 2026-12-01, x86_64-unknown-linux-musl), or without a
    // commit: chief-upload 0.1.0 (x86_64-unknown-linux-musl)
    let inner = long
        .strip_prefix(&format!("chief-upload {version} ("))
        .and_then(|rest| rest.strip_suffix(")\n"))
        .unwrap_or_else(|| panic!("--version: {long:?}"));
    let (build, target) = inner.rsplit_once(", ").unwrap_or(("", inner));
    assert!(
        target.split('-').count() >= 3
            && target
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c)),
        "not a target triple: {long:?}"
    );
    if !build.is_empty() {
        let (commit, date) = build.split_once(' ').expect("commit and date");
        assert!(commit.len() >= 7 && commit.chars().all(|c| c.is_ascii_hexdigit()));
        assert!(date.len() == 10 && date.as_bytes()[4] == b'-' && date.as_bytes()[7] == b'-');
    }
    if std::env::var_os("CHIEF_UPLOAD_BIN").is_none() {
        // The binary cargo built beside this test: the same build information.
        assert_eq!(target, env!("CHIEF_UPLOAD_TARGET"));
        assert_eq!(
            build.split(' ').next().unwrap_or(""),
            env!("CHIEF_UPLOAD_COMMIT")
        );
        let checkout = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".git");
        assert_eq!(
            !build.is_empty(),
            checkout.exists(),
            "commit iff built in a checkout"
        );
    }
}
