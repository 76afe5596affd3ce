//! Choosing files: `--min-size`, `--max-size`, `--min-age`, `--max-age`, and the pattern
//! files `--include-from`/`--exclude-from`, through the real binary. Files left out get no
//! line and are counted `excluded`; bad values are usage errors. Ages are set with
//! `File::set_modified`, never waited for. (The exact boundaries, to the nanosecond, are
//! proved by the unit tests in `src/walk.rs`, where the clock is given.)

use std::path::Path;
use std::process::Output;
use std::time::{Duration, SystemTime};

use crate::common::{files_by_path, json_lines, summary, text, TestEnv};
use fake_chief::FakeChief;
use serde_json::Value;

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);

/// A file of `size` bytes, last modified `age` ago.
fn file(env: &TestEnv, rel: &str, size: u64, age: Duration) {
    let path = env.file(rel, "");
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.set_len(size).unwrap();
    f.set_modified(SystemTime::now() - age).unwrap();
}

/// A dry run over `.` with `args`: the paths planned, and the JSON summary.
fn dry_run(env: &TestEnv, args: &[&str]) -> (Vec<String>, Value, String) {
    let out = env
        .cmd()
        .args(["--dry-run", "--json"])
        .args(args)
        .arg(".")
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
    let lines = json_lines(&out.stdout);
    let planned = files_by_path(&lines).into_keys().collect();
    (planned, summary(&lines), err)
}

fn paths(list: &[&str]) -> Vec<String> {
    list.iter().map(|p| format!("./{p}")).collect()
}

#[test]
fn sizes_keep_a_file_exactly_at_either_limit() {
    let env = TestEnv::new();
    for (name, size) in [
        ("1023", 1023),
        ("1024", 1024),
        ("2048", 2048),
        ("2049", 2049),
    ] {
        file(&env, name, size, HOUR);
    }

    let (planned, s, err) = dry_run(&env, &["--min-size", "1K"]);
    assert_eq!(planned, paths(&["1024", "2048", "2049"]));
    assert_eq!(s["excluded"], 1, "{s}");
    assert!(err.contains("; 1 file excluded"), "{err}");

    let (planned, s, _) = dry_run(&env, &["--max-size", "2K"]);
    assert_eq!(planned, paths(&["1023", "1024", "2048"]));
    assert_eq!(s["excluded"], 1, "{s}");

    // Plain bytes, and lower-case units.
    let (planned, s, err) = dry_run(&env, &["--min-size", "1024", "--max-size", "2k"]);
    assert_eq!(planned, paths(&["1024", "2048"]));
    assert_eq!(
        (&s["planned"], &s["excluded"]),
        (&2.into(), &2.into()),
        "{s}"
    );
    assert!(err.contains("; 2 files excluded"), "{err}");
    assert!(
        !err.contains("1023") && !err.contains("2049"),
        "no line: {err}"
    );
}

#[test]
fn min_age_leaves_out_files_written_recently() {
    let env = TestEnv::new();
    file(&env, "just-written", 1, Duration::ZERO);
    file(&env, "a-minute-short", 1, 15 * MINUTE - MINUTE);
    // Exactly 15 minutes old when set; older by the moments until the walk reaches it.
    file(&env, "at-the-limit", 1, 15 * MINUTE);
    file(&env, "old", 1, 2 * HOUR);
    // A clock that is ahead of ours, or a file touched into the future: as young as can be.
    file(&env, "future", 1, Duration::ZERO);
    let future = SystemTime::now() + HOUR;
    std::fs::File::options()
        .write(true)
        .open(env.root().join("future"))
        .unwrap()
        .set_modified(future)
        .unwrap();

    let (planned, s, err) = dry_run(&env, &["--min-age", "15m"]);
    assert_eq!(planned, paths(&["at-the-limit", "old"]));
    assert_eq!(s["excluded"], 3, "{s}");
    assert!(err.contains("; 3 files excluded"), "{err}");
}

#[test]
fn max_age_leaves_out_files_older_than_it() {
    let env = TestEnv::new();
    file(&env, "new", 1, Duration::ZERO);
    file(&env, "a-minute-inside", 1, 24 * HOUR - MINUTE);
    file(&env, "a-minute-over", 1, 24 * HOUR + MINUTE);
    file(&env, "last-year", 1, 365 * 24 * HOUR);

    let (planned, s, _) = dry_run(&env, &["--max-age", "1d"]);
    assert_eq!(planned, paths(&["a-minute-inside", "new"]));
    assert_eq!(s["excluded"], 2, "{s}");

    // A window: older than an hour, younger than a day. Plain numbers count seconds.
    let (planned, s, _) = dry_run(&env, &["--min-age", "3600", "--max-age", "24h"]);
    assert_eq!(planned, paths(&["a-minute-inside"]));
    assert_eq!(s["excluded"], 3, "{s}");
}

/// An upload sends nothing for a file left out; the JSON and human summaries count it.
#[test]
fn an_upload_sends_nothing_for_the_files_left_out() {
    let fake = FakeChief::start();
    let env = TestEnv::new();
    file(&env, "keep.bin", 100, HOUR);
    file(&env, "too-big.bin", 101, HOUR);
    file(&env, "too-new.bin", 10, Duration::ZERO);
    let out = env
        .cmd_for(&fake)
        .args(["--max-size", "100", "--min-age", "5m", "--json", "."])
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let lines = json_lines(&out.stdout);
    assert_eq!(
        files_by_path(&lines).into_keys().collect::<Vec<_>>(),
        paths(&["keep.bin"])
    );
    let s = summary(&lines);
    assert_eq!(
        (&s["uploaded"], &s["excluded"], &s["not_attempted"]),
        (&1.into(), &2.into(), &0.into()),
        "{s}"
    );
    assert!(
        err.contains("Uploaded 1 file") && err.contains("; 2 files excluded"),
        "{err}"
    );
    assert!(
        !err.contains("too-big") && !err.contains("too-new"),
        "{err}"
    );
    let created: Vec<_> = fake
        .api_requests()
        .iter()
        .filter_map(|r| r.json.as_ref()?.get("filename")?.as_str().map(String::from))
        .collect();
    assert_eq!(created, ["keep.bin"]);
    assert_eq!(fake.storage_requests().len(), 1);
}

#[test]
fn bad_values_are_usage_errors_that_quote_them_and_show_a_valid_one() {
    let fake = FakeChief::start();
    let env = TestEnv::new();
    file(&env, "a", 1, HOUR);
    for (args, quoted, example) in [
        (["--min-size", "10KB"], "'10KB'", "e.g. 2G"),
        (["--max-size", "2 GiB"], "'2 GiB'", "e.g. 2G"),
        (["--max-size", "-1"], "'-1'", "e.g. 2G"),
        (["--min-age", "5min"], "'5min'", "e.g. 5m"),
        (["--max-age", "1d12"], "'1d12'", "e.g. 5m"),
        (["--max-age", "week"], "'week'", "e.g. 5m"),
    ] {
        let out = env.cmd_for(&fake).args(args).arg(".").output().unwrap();
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains(&format!("{quoted} from flag {}", args[0])),
            "{args:?}: {err}"
        );
        assert!(err.contains("hint:") && err.contains(example), "{err}");
    }
    let out = env
        .cmd_for(&fake)
        .args(["--min-size", "2G", "--max-size", "1G", "."])
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--min-size 2G is more than --max-size 1G"),
        "{err}"
    );
    assert!(fake.requests().is_empty(), "nothing is attempted");
}

fn write(path: &Path, text: &str) -> String {
    std::fs::write(path, text).unwrap();
    path.display().to_string()
}

#[test]
fn pattern_files_skip_comments_and_blank_lines_and_join_the_flags() {
    let env = TestEnv::new();
    for f in [
        "a.png",
        "b.jpg",
        "c.gif",
        "d.txt",
        "drafts/e.png",
        "f-old.png",
        "tmp/g.png",
    ] {
        file(&env, f, 1, HOUR);
    }
    let lists = env.dir.path();
    let include = write(
        &lists.join("include.txt"),
        "# Pictures only\n*.png\n\n   \n  *.jpg  \r\n#*.gif\n",
    );
    let exclude = write(
        &lists.join("exclude.txt"),
        "# scratch folders\ntmp/\n\n  # and drafts\ndrafts\n",
    );

    let (planned, s, _) = dry_run(&env, &["--include-from", &include]);
    assert_eq!(
        planned,
        paths(&["a.png", "b.jpg", "drafts/e.png", "f-old.png", "tmp/g.png"])
    );
    assert_eq!(s["excluded"], 2, "c.gif and d.txt: {s}");

    // The pruned folders are not entered, so their files are not counted.
    let (planned, s, _) = dry_run(&env, &["--exclude-from", &exclude]);
    assert_eq!(
        planned,
        paths(&["a.png", "b.jpg", "c.gif", "d.txt", "f-old.png"])
    );
    assert_eq!(s["excluded"], 0, "{s}");

    // One filter: the files' globs and the flags' together, --exclude winning.
    let (planned, s, _) = dry_run(
        &env,
        &[
            "--include-from",
            &include,
            "--include",
            "*.gif",
            "--exclude-from",
            &exclude,
            "--exclude",
            "*-old.*",
        ],
    );
    assert_eq!(planned, paths(&["a.png", "b.jpg", "c.gif"]));
    assert_eq!(s["excluded"], 2, "d.txt and f-old.png: {s}");

    // Repeatable.
    let more = write(&lists.join("more.txt"), "*.txt\n");
    let (planned, _, _) = dry_run(&env, &["--exclude-from", &exclude, "--exclude-from", &more]);
    assert_eq!(planned, paths(&["a.png", "b.jpg", "c.gif", "f-old.png"]));
}

#[test]
fn an_unreadable_or_bad_pattern_file_is_a_usage_error_naming_it() {
    let env = TestEnv::new();
    file(&env, "a", 1, HOUR);
    let missing = env.dir.path().join("no-such-list.txt");
    let out = env
        .cmd()
        .args(["--dry-run", "--exclude-from"])
        .arg(&missing)
        .arg(".")
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "cannot read --exclude-from file '{}': no such file or directory",
            missing.display()
        )),
        "{err}"
    );

    let bad = write(&env.dir.path().join("bad.txt"), "# ok\n*.png\nimg[0-9\n");
    let out = env
        .cmd()
        .args(["--dry-run", "--include-from", &bad, "."])
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "invalid --include-from pattern 'img[0-9' (line 3 of {bad})"
        )),
        "{err}"
    );
}

fn run_if_no_files(env: &TestEnv, fake: &FakeChief, args: &[&str]) -> (Output, String) {
    let out = env
        .cmd_for(fake)
        .args(args)
        .args(["--json", "."])
        .output()
        .unwrap();
    let err = text(&out.stderr);
    (out, err)
}

/// When the filters leave out every file, `--if-no-files` says which filters did.
#[test]
fn if_no_files_names_the_filters_that_left_everything_out() {
    let fake = FakeChief::start();
    let env = TestEnv::new();
    file(&env, "a.log", 10, Duration::ZERO);
    file(&env, "b.log", 10, Duration::ZERO);

    let (out, err) = run_if_no_files(&env, &fake, &["--min-age", "15m"]);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("warning: nothing to upload: all 2 files found were left out by --min-age"),
        "{err}"
    );
    assert_eq!(summary(&json_lines(&out.stdout))["excluded"], 2);

    let (out, err) = run_if_no_files(
        &env,
        &fake,
        &[
            "--if-no-files",
            "error",
            "--exclude",
            "a.*",
            "--max-size",
            "5",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(
            "error: nothing to upload: all 2 files found were left out by the filters (--include/--exclude, --max-size)"
        ),
        "{err}"
    );

    let (out, err) = run_if_no_files(&env, &fake, &["--if-no-files", "ignore", "--max-size", "5"]);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(!err.contains("nothing to upload"), "{err}");
    assert!(fake.requests().is_empty());

    // One file taken is enough.
    let (out, err) = run_if_no_files(&env, &fake, &["--if-no-files", "error", "--max-size", "10"]);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(!err.contains("nothing to upload"), "{err}");
}
