//! Faults the operating system makes: the real binary, its real system calls made to
//! fail by `strace`'s fault injection (`-e inject=SYSCALL:error=ERRNO`, on one path with
//! `-P PATH`), during a real upload to the fake Chief server.
//!
//! What a user needs from each: an output the user asked for that cannot be written
//! (the report, the step outputs) is named and makes the exit status 1, never 0; a file
//! that cannot be read fails alone; what only speeds things up (the hash cache) or
//! remembers them (a watch's record) never stops an upload.
//!
//! Only with `--features faults` (needs Linux and `strace` on PATH, as `.ci/run`
//! installs it): `cargo test --features faults --test faults`. An LD_PRELOAD shim cannot
//! reach a static binary and FUSE needs /dev/fuse; ptrace reaches every binary.

// The integration tests' TestEnv, shared with this binary.
#[path = "../it/common.rs"]
mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use common::{files_by_path, finish, json_lines, summary, text, TestEnv};
use fake_chief::{FakeChief, PROJECT};

/// Generous bound for a traced run on a loaded machine: a hang fails, slowness does not.
const PROMPT: Duration = Duration::from_secs(120);

/// Forty files, as the fault table was measured with.
const FILES: usize = 40;

fn tree(env: &TestEnv) {
    for i in 0..FILES {
        env.file(
            &format!("d/f{i:02}.bin"),
            format!("content of file {i} ").repeat(50),
        );
    }
}

/// `chief-upload ARGS` under `strace -f` with these injections, pointed at `fake`, its
/// stdout and stderr piped.
fn traced(env: &TestEnv, fake: &FakeChief, strace: &[&str], args: &[&str]) -> Child {
    let mut c = env.std_cmd_of(Path::new("strace"));
    c.args(["-f", "-qq", "-o", "/dev/null"])
        .args(strace)
        .arg("--")
        .arg(common::bin())
        .args(["--retry-base-ms", "5"])
        .args(args)
        .envs(fake.env())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c.spawn().expect("strace on PATH (apt-get install strace)")
}

fn run(env: &TestEnv, fake: &FakeChief, strace: &[&str], args: &[&str]) -> Output {
    finish(traced(env, fake, strace, args), PROMPT)
}

fn abs(env: &TestEnv, rel: &str) -> String {
    env.root().join(rel).display().to_string()
}

/// Every error line of stderr.
fn errors(out: &Output) -> Vec<String> {
    text(&out.stderr)
        .lines()
        .filter(|l| l.starts_with("error:"))
        .map(str::to_string)
        .collect()
}

/// ENOSPC on every write to the report file: the uploads go on, the report is named
/// once, and the run ends 1 however well the files did.
#[test]
fn a_report_on_a_full_disk_is_named_and_fails_the_run() {
    let fake = FakeChief::start();
    let env = TestEnv::new();
    tree(&env);
    let report = abs(&env, "report.ndjson");
    let out = run(
        &env,
        &fake,
        &["-P", &report, "-e", "inject=write,writev:error=ENOSPC"],
        &["--report", &report, "--json", "d"],
    );
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let named = errors(&out);
    assert_eq!(named.len(), 1, "named once: {err}");
    assert!(
        named[0].contains("report.ndjson") && named[0].contains("No space left on device"),
        "{err}"
    );
    // Every other output still has everything, the summary last.
    let lines = json_lines(&out.stdout);
    assert_eq!(files_by_path(&lines).len(), FILES);
    assert_eq!(summary(&lines)["uploaded"], FILES as u64);
    assert_eq!(fake.assets(PROJECT).len(), FILES);
    assert!(
        err.lines()
            .last()
            .unwrap_or_default()
            .starts_with("Uploaded"),
        "{err}"
    );
}

/// ENOSPC from the third write on: the report stops mid-run with what was written, and
/// the run still ends 1.
#[test]
fn a_report_that_fills_the_disk_mid_run_fails_the_run() {
    let fake = FakeChief::start();
    let env = TestEnv::new();
    tree(&env);
    let report = abs(&env, "report.ndjson");
    let out = run(
        &env,
        &fake,
        &[
            "-P",
            &report,
            "-e",
            "inject=write,writev:error=ENOSPC:when=3+",
        ],
        &["-j", "1", "--report", &report, "d"],
    );
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(errors(&out).len(), 1, "{err}");
    assert_eq!(fake.assets(PROJECT).len(), FILES, "the uploads went on");
    let written = std::fs::read_to_string(&report).unwrap();
    assert!(
        !written.contains("summary"),
        "the report ends mid-run: {written}"
    );
}

/// `GITHUB_OUTPUT` on a full disk: later steps must not read empty outputs as success.
#[test]
fn step_outputs_on_a_full_disk_fail_the_run() {
    let fake = FakeChief::start();
    let env = TestEnv::new();
    tree(&env);
    let outputs = abs(&env, "github_output");
    let summary_md = abs(&env, "step_summary.md");
    let mut child = env.std_cmd_of(Path::new("strace"));
    child
        .args(["-f", "-qq", "-o", "/dev/null", "-P", &outputs])
        .args(["-e", "inject=write,writev:error=ENOSPC", "--"])
        .arg(common::bin())
        .arg("d")
        .envs(fake.env())
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_OUTPUT", &outputs)
        .env("GITHUB_STEP_SUMMARY", &summary_md)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let out = finish(child.spawn().unwrap(), PROMPT);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let named = errors(&out);
    assert!(
        named.len() == 1 && named[0].contains("GITHUB_OUTPUT"),
        "{err}"
    );
    assert_eq!(fake.assets(PROJECT).len(), FILES);
    // The job summary, another file, was written.
    assert!(std::fs::read_to_string(&summary_md)
        .unwrap()
        .contains("| uploaded | 40 |"));
}

/// The hash cache only saves time: its database failing every write changes nothing.
#[test]
fn a_hash_cache_that_cannot_be_written_does_not_stop_the_upload() {
    let fake = FakeChief::start();
    let env = TestEnv::new();
    // Big enough for the cache.
    for i in 0..FILES {
        env.file(&format!("d/f{i:02}.bin"), vec![i as u8; 20_000]);
    }
    let db = env
        .dir
        .path()
        .join("cache")
        .join("chief")
        .join("hashes.sqlite");
    let db = db.display().to_string();
    let (wal, journal) = (format!("{db}-wal"), format!("{db}-journal"));
    let out = run(
        &env,
        &fake,
        &[
            "-P",
            &db,
            "-P",
            &wal,
            "-P",
            &journal,
            "-e",
            "inject=write,pwrite64,writev,pwritev:error=ENOSPC",
        ],
        &["--json", "d"],
    );
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert_eq!(summary(&json_lines(&out.stdout))["uploaded"], FILES as u64);
    assert_eq!(fake.assets(PROJECT).len(), FILES);
}

/// One file that cannot be read (a bad sector): it fails, named with the reason, and
/// every other file goes. Once while it is hashed, once while it is sent: its hash then
/// comes from the hash cache, and a fresh server has no copy (strace counts `when=` per
/// thread, and reads spread over threads, so "from the Nth read" cannot aim at the
/// upload).
#[test]
fn an_unreadable_file_fails_alone() {
    let env = TestEnv::new();
    tree(&env);
    env.file("d/bad.bin", vec![7u8; 1 << 20]);
    let bad = abs(&env, "d/bad.bin");
    let inject = "inject=read,pread64,readv,preadv,preadv2:error=EIO";
    for case in ["while it is hashed", "while it is sent"] {
        let fake = FakeChief::start();
        let args: &[&str] = match case {
            "while it is hashed" => &["--no-cache", "--json", "d"],
            _ => {
                // Hashed once, into the cache, by a dry run.
                let dry = env.cmd().args(["--dry-run", "d"]).output().unwrap();
                assert!(dry.status.success(), "{}", text(&dry.stderr));
                &["--json", "d"]
            }
        };
        let out = run(&env, &fake, &["-P", &bad, "-e", inject], args);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{case}: {err}");
        let files = files_by_path(&json_lines(&out.stdout));
        assert_eq!(files.len(), FILES + 1, "{case}");
        let failed: Vec<_> = files
            .iter()
            .filter(|(_, l)| l["outcome"] == "failed")
            .collect();
        assert_eq!(failed.len(), 1, "{case}: {failed:?}");
        assert_eq!(failed[0].0, "d/bad.bin", "{case}");
        assert!(
            failed[0].1["error"]
                .as_str()
                .unwrap()
                .contains("Input/output error"),
            "{case}: {failed:?}"
        );
        assert_eq!(fake.assets(PROJECT).len(), FILES, "{case}");
    }
}

/// Every 7th `openat` of the process fails with EMFILE (too many open files), with 16
/// files in flight: every file is accounted for, uploaded or failed.
#[test]
fn running_out_of_file_descriptors_loses_no_file() {
    let fake = FakeChief::start();
    let env = TestEnv::new();
    tree(&env);
    let out = run(
        &env,
        &fake,
        &["-e", "inject=openat:error=EMFILE:when=7+7"],
        &["-j", "16", "--json", "d"],
    );
    let err = text(&out.stderr);
    let lines = json_lines(&out.stdout);
    let files = files_by_path(&lines);
    let s = summary(&lines);
    assert_eq!(files.len(), FILES, "{err}");
    let (up, failed) = (
        s["uploaded"].as_u64().unwrap(),
        s["failed"].as_u64().unwrap(),
    );
    assert_eq!(up + failed, FILES as u64, "{s}");
    assert_eq!(s["not_attempted"], 0, "{s}");
    assert_eq!(
        out.status.code(),
        Some(if failed > 0 { 1 } else { 0 }),
        "{err}"
    );
    assert_eq!(fake.assets(PROJECT).len() as u64, up);
}

/// Standard input (`-`) whose spool folder is full: every write to the spool file fails
/// with ENOSPC. The spool file has no name to aim `-P` at, but in a run without the hash
/// cache nothing else writes with `pwrite64`. The file `-` fails with a reason that names
/// the folder and TMPDIR, nothing of it is sent, the file beside it goes, and the run
/// ends 1.
#[test]
fn a_full_spool_folder_fails_standard_input_and_sends_nothing_of_it() {
    use std::io::Write;
    let fake = FakeChief::start();
    let env = TestEnv::new();
    env.file("a.txt", "beside it");
    let spool = env.dir.path().join("spool");
    std::fs::create_dir_all(&spool).unwrap();
    let mut c = env.std_cmd_of(Path::new("strace"));
    c.args(["-f", "-qq", "-o", "/dev/null"])
        .args(["-e", "inject=pwrite64,pwritev,pwritev2:error=ENOSPC"])
        .arg("--")
        .arg(common::bin())
        .args(["--retry-base-ms", "5", "--no-cache", "--json"])
        .args(["--name", "dump.sql", "-", "a.txt"])
        .envs(fake.env())
        .env("TMPDIR", &spool)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().expect("strace on PATH (apt-get install strace)");
    let mut stdin = child.stdin.take().unwrap();
    // More than stays in memory: it must go to the spool folder. The run may stop
    // reading once the spool fails.
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&vec![b'x'; 8 << 20]);
    });
    let out = finish(child, PROMPT);
    writer.join().unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let files = files_by_path(&json_lines(&out.stdout));
    let line = &files["-"];
    assert_eq!(line["outcome"], "failed", "{line}");
    let why = line["error"].as_str().unwrap();
    assert!(
        why.contains(&*spool.to_string_lossy())
            && why.contains("TMPDIR")
            && why.contains("No space left on device"),
        "{why}"
    );
    assert_eq!(files["a.txt"]["outcome"], "uploaded");
    let posted: Vec<_> = fake
        .api_requests()
        .iter()
        .filter_map(|r| r.json.as_ref().map(|j| j["filename"].clone()))
        .collect();
    assert_eq!(posted, ["a.txt"], "nothing of standard input was sent");
    assert!(
        std::fs::read_dir(&spool).unwrap().next().is_none(),
        "nothing left in the spool folder"
    );
}

/// The pid of chief-upload, which strace runs (strace also forks children of its own to
/// probe what ptrace can do).
fn tracee(strace: &Child) -> u32 {
    let children = format!("/proc/{0}/task/{0}/children", strace.id());
    let started = Instant::now();
    loop {
        let found = std::fs::read_to_string(&children)
            .unwrap_or_default()
            .split_whitespace()
            .find(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/comm"))
                    .is_ok_and(|comm| comm.trim_end() == "chief-upload")
            })
            .map(|pid| pid.parse().unwrap());
        if let Some(pid) = found {
            return pid;
        }
        assert!(started.elapsed() < PROMPT, "strace started no chief-upload");
        std::thread::yield_now();
    }
}

/// A watch whose record (`sent.sqlite`) is on a full disk: the uploads go on, and the
/// watch ends cleanly on SIGTERM.
#[test]
fn a_watch_whose_record_cannot_be_written_goes_on_uploading() {
    let fake = FakeChief::start();
    let env = TestEnv::new();
    tree(&env);
    let db: PathBuf = env
        .dir
        .path()
        .join("cache")
        .join("chief")
        .join("sent.sqlite");
    let db = db.display().to_string();
    let (wal, journal) = (format!("{db}-wal"), format!("{db}-journal"));
    let mut child = traced(
        &env,
        &fake,
        &[
            "-P",
            &db,
            "-P",
            &wal,
            "-P",
            &journal,
            "-e",
            "inject=write,pwrite64,writev,pwritev:error=ENOSPC",
        ],
        &["--watch", "--min-age", "0s", "--json", "d"],
    );
    let pid = tracee(&child);
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut uploaded = 0;
    while uploaded < FILES {
        let line = lines.next().expect("a file line").unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        if v["outcome"] == "uploaded" {
            uploaded += 1;
        }
    }
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .output()
        .unwrap();
    assert!(kill.status.success(), "kill {pid}: {}", text(&kill.stderr));
    let out = finish(child, PROMPT);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "a watch's clean end: {err}");
    assert_eq!(fake.assets(PROJECT).len(), FILES);
}
