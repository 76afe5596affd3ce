//! Issue 27, a CI log that survives a big run: not on a terminal, only the first
//! `LISTED_FILES` uploaded, skipped or planned files get a line, every failed file does,
//! and the summary is last; and GitLab's collapsible sections (`--ci gitlab`), checked
//! against the marker format of GitLab's docs.

use crate::common::{files_by_path, json_lines, text, TestEnv};
use chief_upload::report::LISTED_FILES;
use fake_chief::{Action, FakeChief, Rule, PROJECT};

/// More files than the budget, with failures that come after it.
const FILES: usize = LISTED_FILES as usize + 100;
const PASS: usize = LISTED_FILES as usize + 50;

fn many_files(env: &TestEnv) {
    for i in 0..FILES {
        env.file(&format!("d{}/f{i:04}.txt", i % 7), format!("file {i}"));
    }
}

fn starting(err: &str, word: &str) -> usize {
    err.lines().filter(|l| l.starts_with(word)).count()
}

/// Past the budget one line says so; failed files still get theirs (every one, also
/// after the budget); the summary is last and counts every file; `--json` still lists
/// every file.
#[test]
fn past_the_budget_only_failures_get_a_line_and_the_summary_is_last() {
    let fake = FakeChief::start();
    let env = TestEnv::new();
    many_files(&env);
    // Every request after the first PASS fails. One file in flight at a time: every
    // file before them has its outcome first.
    fake.inject(
        Rule::api(usize::MAX, Action::status(400))
            .after(PASS)
            .always(),
    );
    let out = env
        .cmd_for(&fake)
        .args([
            "-j", "1", "--json", "d0", "d1", "d2", "d3", "d4", "d5", "d6",
        ])
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(!err.contains('\x1b'), "no escape codes off a terminal");
    assert_eq!(starting(&err, "uploaded "), LISTED_FILES as usize);
    assert_eq!(starting(&err, "failed "), FILES - PASS, "every failure");
    let notes: Vec<&str> = err.lines().filter(|l| l.starts_with("note: ")).collect();
    assert_eq!(notes.len(), 1, "{err}");
    assert!(
        notes[0].starts_with("note: 1,000 files listed; further uploaded and skipped files")
            && notes[0].contains("The --json output lists every file")
            && notes[0].contains("-v lists every file here"),
        "{}",
        notes[0]
    );
    let note_at = err.lines().position(|l| l.starts_with("note: ")).unwrap();
    let first_failure = err.lines().position(|l| l.starts_with("failed ")).unwrap();
    assert!(note_at < first_failure, "the failures come past the budget");
    let last = err.lines().last().unwrap();
    assert!(
        last.starts_with(&format!("Uploaded {PASS} files")) && last.contains("failed 50 "),
        "the summary last: {last}"
    );
    let lines = json_lines(&out.stdout);
    assert_eq!(files_by_path(&lines).len(), FILES, "--json has every file");
    assert_eq!(fake.assets(PROJECT).len(), PASS);
}

/// A dry run keeps to the same budget (its listing is `--json` or `-v`), `-v` lists
/// every file, and `-q` only the summary.
#[test]
fn a_dry_run_keeps_the_budget_and_v_lists_every_file() {
    let env = TestEnv::new();
    many_files(&env);
    let report = env.dir.path().join("r.ndjson");
    let run = |args: &[&str]| {
        let out = env.cmd().args(["-n"]).args(args).arg(".").output().unwrap();
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{err}");
        err
    };
    let err = run(&["--report", report.to_str().unwrap()]);
    assert_eq!(starting(&err, "planned "), LISTED_FILES as usize);
    assert!(
        err.contains("note: 1,000 files listed; further planned files")
            && err.contains("The report file '"),
        "{err}"
    );
    assert!(err
        .lines()
        .last()
        .unwrap()
        .starts_with("Dry run: would upload 1100 files"));
    let err = run(&["-v"]);
    assert_eq!(starting(&err, "planned "), FILES);
    assert!(!err.contains("note: "), "{err}");
    let err = run(&["-q"]);
    assert_eq!(err.lines().count(), 1, "{err}");
}

/// A line of GitLab's custom collapsible sections, parsed.
#[derive(Debug)]
struct Marker {
    start: bool,
    time: u64,
    name: String,
    collapsed: bool,
    header: String,
}

/// `ESC[0Ksection_start:TIME:NAME[collapsed=true]\rESC[0KHEADER` or
/// `ESC[0Ksection_end:TIME:NAME\rESC[0K`, as GitLab's docs give them.
fn marker(line: &str) -> Option<Marker> {
    let rest = line.strip_prefix("\x1b[0Ksection_")?;
    let (start, rest) = if let Some(r) = rest.strip_prefix("start:") {
        (true, r)
    } else {
        (false, rest.strip_prefix("end:")?)
    };
    let (time, rest) = rest.split_once(':')?;
    let (name, header) = rest.split_once("\r\x1b[0K")?;
    let (name, collapsed) = match name.strip_suffix("[collapsed=true]") {
        Some(n) => (n, true),
        None => (name, false),
    };
    assert!(
        !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)),
        "a section name of letters, digits, _ . -: {line:?}"
    );
    if !start {
        assert!(header.is_empty() && !collapsed, "{line:?}");
    }
    Some(Marker {
        start,
        time: time.parse().ok()?,
        name: name.into(),
        collapsed,
        header: header.into(),
    })
}

/// `--ci gitlab` (or `GITLAB_CI=true`): the walk and the upload in collapsed sections,
/// each opened and closed once, in order, with the time; every file line inside them;
/// the failed files again after them; the summary last.
#[test]
fn gitlab_sections_hold_the_files_and_the_failures_follow_them() {
    let fake = FakeChief::start();
    let env = TestEnv::new();
    for i in 0..6 {
        env.file(&format!("d/ok-{i}.txt"), format!("ok {i}"));
    }
    env.file("d/bad.txt", "bad");
    fake.inject(Rule::api(1, Action::status(400)).for_file("bad.txt"));
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let out = env
        .cmd_for(&fake)
        .env("GITLAB_CI", "true")
        .arg("d")
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let lines: Vec<&str> = err.lines().collect();
    let markers: Vec<(usize, Marker)> = lines
        .iter()
        .enumerate()
        .filter_map(|(i, l)| marker(l).map(|m| (i, m)))
        .collect();
    let shape: Vec<(bool, &str)> = markers
        .iter()
        .map(|(_, m)| (m.start, m.name.as_str()))
        .collect();
    assert_eq!(
        shape,
        vec![
            (true, "chief_upload_walk"),
            (false, "chief_upload_walk"),
            (true, "chief_upload_upload"),
            (false, "chief_upload_upload"),
        ],
        "{err:?}"
    );
    assert_eq!(markers[0].0, 0, "the walk's section opens the log");
    for (_, m) in &markers {
        assert!((before..before + 600).contains(&m.time), "Unix time: {m:?}");
        if m.start {
            assert!(m.collapsed, "{m:?}");
            assert!(m.header.starts_with("chief-upload: "), "{m:?}");
        }
    }
    assert!(
        markers[2].1.header.contains("7 files found"),
        "{:?}",
        markers[2]
    );
    // Every file line inside the sections, none of the escape codes elsewhere.
    let end = markers[3].0;
    for (i, l) in lines.iter().enumerate() {
        if l.starts_with("uploaded ") {
            assert!(i < end, "{l} inside a section");
        }
        if marker(l).is_none() {
            assert!(!l.contains('\x1b'), "{l:?}");
        }
    }
    assert_eq!(starting(&err, "uploaded "), 6);
    // After the last section: the failure again, then the summary, last.
    let after: Vec<&str> = lines[end + 1..].to_vec();
    assert_eq!(after.len(), 3, "{after:#?}");
    assert_eq!(after[0], "chief-upload: 1 file failed:");
    assert!(
        after[1].starts_with("failed   d/bad.txt  3 B  "),
        "{}",
        after[1]
    );
    assert!(after[2].starts_with("Uploaded 6 files"), "{}", after[2]);
    let inside = lines[..end]
        .iter()
        .filter(|l| l.starts_with("failed   d/bad.txt"))
        .count();
    assert_eq!(inside, 1, "the failure has its line in the section too");

    // Off: no marker; GitHub's variable wins over GitLab's.
    for env_var in [("CHIEF_CI", "off"), ("GITHUB_ACTIONS", "true")] {
        let out = env
            .cmd_for(&fake)
            .env("GITLAB_CI", "true")
            .env(env_var.0, env_var.1)
            .arg("d")
            .output()
            .unwrap();
        assert!(!text(&out.stderr).contains("section_"), "{env_var:?}");
    }
}
