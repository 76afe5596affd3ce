//! Standard input as a file (`-` with `--name`), and `--mime-type`.

use std::path::Path;

use fake_chief::{md5_hex, Action, FakeChief, Rule, PROJECT};

use crate::common::{files_by_path, json_lines, summary, text, TestEnv};

/// Bytes that are not all alike, fast to make.
fn content(len: usize) -> Vec<u8> {
    let mut x: u32 = 2_463_534_242;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// A folder for `TMPDIR`, outside the tree the runs upload.
fn spool_dir(env: &TestEnv) -> std::path::PathBuf {
    let dir = env.dir.path().join("spool");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn is_empty(dir: &Path) -> bool {
    std::fs::read_dir(dir).unwrap().next().is_none()
}

/// Standard input beside a file: both uploaded, the input byte for byte (the fake hashes
/// what it receives), also when its first upload fails and is sent again from the spool;
/// its lines say `-`; the spool folder is left empty. A rerun is a dedup hit: nothing is
/// sent to storage.
#[test]
fn standard_input_round_trip_then_a_dedup_hit() {
    let fake = FakeChief::start();
    fake.inject(Rule::storage(1, Action::status(503)).for_file("backup.tar"));
    let env = TestEnv::new();
    env.file("a.txt", "beside it");
    let tmp = spool_dir(&env);
    // Beyond what stays in memory: spooled on disk, and uploaded from there.
    let data = content(6 << 20);
    let run = || {
        env.cmd_for(&fake)
            .env("TMPDIR", &tmp)
            .args(["--json", "--name", "backup.tar", "-", "a.txt"])
            .write_stdin(data.clone())
            .output()
            .unwrap()
    };
    let out = run();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let lines = json_lines(&out.stdout);
    let files = files_by_path(&lines);
    let line = &files["-"];
    assert_eq!(line["filename"], "backup.tar");
    assert_eq!(line["size"], data.len() as u64);
    assert_eq!(line["md5"], md5_hex(&data));
    assert_eq!(line["mime_type"], "application/x-tar");
    assert_eq!(line["outcome"], "uploaded");
    assert_eq!(files["a.txt"]["outcome"], "uploaded");
    let stored: Vec<_> = fake
        .assets(PROJECT)
        .into_iter()
        .filter(|a| a.filename == "backup.tar")
        .collect();
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(
        (stored[0].md5.as_str(), stored[0].size),
        (md5_hex(&data).as_str(), data.len() as u64),
        "the fake received exactly the input"
    );
    assert!(is_empty(&tmp), "nothing left in TMPDIR");
    let puts: Vec<_> = fake.storage_requests().iter().map(|r| r.status).collect();
    assert_eq!(puts.iter().filter(|s| **s == 503).count(), 1, "{puts:?}");

    let sent = fake.storage_requests().len();
    let again = run();
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
    let lines = json_lines(&again.stdout);
    assert_eq!(files_by_path(&lines)["-"]["outcome"], "skipped");
    assert_eq!(summary(&lines)["skipped"], 2);
    assert_eq!(fake.storage_requests().len(), sent, "nothing sent again");
    assert!(is_empty(&tmp));
}

/// An empty standard input is a zero-byte file; a small one stays in memory; a dry run
/// reads and hashes it without credentials or network.
#[test]
fn empty_input_is_a_zero_byte_file_and_a_dry_run_hashes_it() {
    let fake = FakeChief::start();
    let env = TestEnv::new();
    let out = env
        .cmd_for(&fake)
        .args(["--json", "--name", "empty.txt", "-"])
        .write_stdin("")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let line = &files_by_path(&json_lines(&out.stdout))["-"];
    assert_eq!(
        (&line["size"], &line["md5"], &line["outcome"]),
        (&0.into(), &md5_hex(b"").into(), &"uploaded".into())
    );
    assert_eq!(fake.assets(PROJECT)[0].size, 0);

    let out = env
        .cmd()
        .args(["--dry-run", "--json", "--name", "notes", "-"])
        .write_stdin("%PDF-1.7 hello")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let lines = json_lines(&out.stdout);
    let line = &files_by_path(&lines)["-"];
    assert_eq!(line["outcome"], "planned");
    assert_eq!(line["md5"], md5_hex(b"%PDF-1.7 hello"));
    assert_eq!(
        line["mime_type"], "application/pdf",
        "sniffed: no extension"
    );
    assert_eq!(summary(&lines)["planned"], 1);
}

/// `--mime-type` is what the API receives, for standard input and for paths alike.
#[test]
fn mime_type_overrides_the_detected_type_for_every_file() {
    let fake = FakeChief::start();
    let env = TestEnv::new();
    env.file("photo.png", b"\x89PNG\r\n\x1a\n not really");
    let out = env
        .cmd_for(&fake)
        .args([
            "--json",
            "--mime-type",
            "Application/X-Custom",
            "--name",
            "data.json",
            "-",
            "photo.png",
        ])
        .write_stdin("{}")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let sent: Vec<String> = fake
        .api_requests()
        .iter()
        .filter_map(|r| r.json.as_ref())
        .map(|j| j["mime_type"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(sent, ["application/x-custom", "application/x-custom"]);
    let files = files_by_path(&json_lines(&out.stdout));
    assert_eq!(files["-"]["mime_type"], "application/x-custom");
    assert_eq!(files["photo.png"]["mime_type"], "application/x-custom");
}

/// What cannot go with `-`, and `--name` or `--mime-type` given wrong: usage errors
/// (exit 2) that say what is wrong and how to fix it, before anything is read or sent.
#[test]
fn standard_input_usage_errors() {
    let fake = FakeChief::start();
    let env = TestEnv::new();
    env.file("a.txt", "a");
    let cases: &[(&[&str], &str, &str)] = &[
        (&["-"], "needs --name NAME", "./-"),
        (
            &["--name", "x.txt", "a.txt"],
            "--name only applies to -",
            "add -",
        ),
        (&["--name", "x", "-", "-"], "more than once", "give - once"),
        (
            &["--watch", "--name", "x", "-"],
            "cannot be combined with --watch",
            "without --watch",
        ),
        (
            &["--files-from", "-", "--name", "x", "-"],
            "--files-from - cannot both read standard input",
            "--files-from FILE",
        ),
        (
            &["--api-key-file", "-", "--name", "x", "-"],
            "--api-key-file - cannot both read standard input",
            "CHIEF_API_KEY",
        ),
        (
            &["--name", "dir/x.tar", "-"],
            "is not a file name",
            "--name dump.sql",
        ),
        (
            &["--name", "", "-"],
            "is not a file name: it is empty",
            "--name",
        ),
        (
            &["--mime-type", "text", "a.txt"],
            "is not a media type",
            "type/subtype",
        ),
        (
            &[
                "--mime-type",
                "text/plain; charset=utf-8",
                "--name",
                "x",
                "-",
            ],
            "parameters",
            "application/x-tar",
        ),
    ];
    for (args, message, hint) in cases {
        let out = env
            .cmd_for(&fake)
            .args(*args)
            .write_stdin("input")
            .output()
            .unwrap();
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        let first = err.lines().next().unwrap_or_default();
        assert!(
            first.starts_with("error:") && first.contains(message),
            "{args:?}: {err}"
        );
        assert!(
            err.lines().skip(1).any(|l| l.contains(hint)),
            "{args:?} hints {hint:?}: {err}"
        );
    }
    assert!(fake.requests().is_empty(), "{:?}", fake.requests());
}

/// A file that is really named `-` is given as `./-`.
#[test]
fn a_file_named_dash_is_given_as_dot_slash_dash() {
    let fake = FakeChief::start();
    let env = TestEnv::new();
    env.file("-", "a file named dash");
    let out = env.cmd_for(&fake).args(["--json", "./-"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let files = files_by_path(&json_lines(&out.stdout));
    assert_eq!(files["./-"]["filename"], "-");
    assert_eq!(files["./-"]["md5"], md5_hex(b"a file named dash"));
}

/// `--name` reaches the API in NFC, as a file's name does.
#[test]
fn the_name_of_standard_input_is_sent_in_nfc() {
    let fake = FakeChief::start();
    let env = TestEnv::new();
    let out = env
        .cmd_for(&fake)
        .args(["--json", "--name", "Re\u{301}sume\u{301}.pdf", "-"])
        .write_stdin("CV")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let received: Vec<_> = fake
        .api_requests()
        .iter()
        .filter_map(|r| r.json.as_ref().map(|j| j["filename"].clone()))
        .collect();
    assert_eq!(received, ["R\u{e9}sum\u{e9}.pdf"]);
    let files = files_by_path(&json_lines(&out.stdout));
    assert_eq!(files["-"]["filename"], "R\u{e9}sum\u{e9}.pdf");
}

/// The peak resident memory of a child (its `VmHWM`, polled from /proc while it runs:
/// the kernel's account at reaping, `wait4`'s `ru_maxrss`, also counts the test process
/// it was forked from, big when other tests run beside it), with its exit status, its
/// stdout and its stderr.
#[cfg(target_os = "linux")]
fn wait_measured(
    mut child: std::process::Child,
) -> (std::process::ExitStatus, u64, Vec<u8>, Vec<u8>) {
    use std::io::Read;
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = r.read_to_end(&mut v);
            v
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    // Until the process is a zombie (no memory left to report): its pid is not reaped,
    // so it cannot name another process meanwhile.
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak = 0u64;
    loop {
        let hwm = std::fs::read_to_string(&status_file).ok().and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        });
        let Some(kib) = hwm else { break };
        peak = peak.max(kib * 1024);
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let status = child.wait().unwrap();
    let (out, err) = (out.join().unwrap(), err.join().unwrap());
    (status, peak, out, err)
}

/// 256 MiB through standard input: spooled on disk and uploaded from there, with memory
/// flat (the process's peak resident set stays far below the input).
#[test]
fn a_large_input_keeps_memory_flat() {
    if !cfg!(target_os = "linux") {
        return crate::common::skip("the peak resident set is read as Linux reports it");
    }
    #[cfg(target_os = "linux")]
    {
        use std::io::Write;
        const MIB: usize = 1 << 20;
        const TOTAL: usize = 256;
        let fake = FakeChief::start();
        let env = TestEnv::new();
        let tmp = spool_dir(&env);
        let mut child = env
            .child_cmd(&fake)
            .env("TMPDIR", &tmp)
            .args(["--json", "--name", "big.bin", "-"])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let writer = std::thread::spawn(move || {
            // One MiB block, each copy with its number in front: not all alike.
            let block = content(MIB);
            let mut sum = md5::Md5::default();
            for i in 0..TOTAL {
                let mut b = block.clone();
                b[..8].copy_from_slice(&(i as u64).to_le_bytes());
                md5::Digest::update(&mut sum, &b);
                stdin.write_all(&b).unwrap();
            }
            hex::encode(md5::Digest::finalize(sum))
        });
        let (status, peak, stdout, stderr) = wait_measured(child);
        let md5 = writer.join().unwrap();
        assert!(status.success(), "{}", text(&stderr));
        eprintln!(
            "peak resident set {:.1} MiB for a {TOTAL} MiB input",
            peak as f64 / MIB as f64
        );
        let line = &files_by_path(&json_lines(&stdout))["-"];
        assert_eq!(line["size"], (TOTAL * MIB) as u64);
        assert_eq!(line["md5"], md5);
        assert_eq!(fake.assets(PROJECT)[0].md5, md5, "received whole");
        assert!(
            peak < 100 * MIB as u64,
            "peak resident set {} MiB for a {TOTAL} MiB input",
            peak / MIB as u64
        );
        assert!(is_empty(&tmp));
    }
}

/// SIGTERM while standard input is being spooled on disk: the run ends 143 with `-` not
/// attempted and nothing sent, and the spool folder holds nothing, during the run (the
/// spool file has no name) and after.
#[test]
fn sigterm_mid_spool_leaves_no_temporary_file() {
    if !cfg!(target_os = "linux") {
        return crate::common::skip("the spool's open file is found through /proc");
    }
    #[cfg(target_os = "linux")]
    {
        use std::io::Write;
        use std::time::Duration;
        // Generous bound for what should happen promptly: a hang fails, slowness does not.
        const PROMPT: Duration = Duration::from_secs(120);
        let fake = FakeChief::start();
        let env = TestEnv::new();
        let tmp = spool_dir(&env);
        // As the kernel names the spool file's folder.
        let real = tmp.canonicalize().unwrap();
        let mut child = env
            .child_cmd(&fake)
            .env("TMPDIR", &tmp)
            .args(["--json", "--name", "dump.sql", "-"])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        // More than memory holds; then the pipe stays open, the input unfinished.
        stdin.write_all(&content(6 << 20)).unwrap();
        let fds = format!("/proc/{}/fd", child.id());
        let spooling = || {
            std::fs::read_dir(&fds)
                .into_iter()
                .flatten()
                .flatten()
                .any(|fd| {
                    std::fs::read_link(fd.path()).is_ok_and(|target| target.starts_with(&real))
                })
        };
        let started = std::time::Instant::now();
        while !spooling() {
            assert!(
                started.elapsed() < PROMPT,
                "no spool file opened in {tmp:?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(is_empty(&tmp), "the spool file has no name");
        let status = std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let out = crate::common::finish(child, PROMPT);
        drop(stdin);
        assert_eq!(out.status.code(), Some(143), "{}", text(&out.stderr));
        let lines = json_lines(&out.stdout);
        let s = summary(&lines);
        assert_eq!(
            (&s["not_attempted"], &s["interrupted"]),
            (&1.into(), &true.into()),
            "{s}"
        );
        assert!(fake.requests().is_empty(), "{:?}", fake.requests());
        assert!(is_empty(&tmp), "nothing left in TMPDIR");
    }
}
