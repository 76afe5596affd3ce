//! `--watch` through the real binary against the fake server: files that appear after the
//! start, a file written slowly, new folders, renames into the tree, a restart over the
//! same tree, the end by a signal, and the flags it refuses.
//!
//! The tests wait on events: the JSON lines the child writes as files finish, its status
//! line on stderr (printed once the first pass is done), the fake's request log. They
//! never sleep to wait for the watch; one test paces its own writes, as a slow writer
//! would.

use crate::common::TestEnv;
use fake_chief::FakeChief;

/// The watches themselves, ended by signals (on Windows by the interrupt, Ctrl-Break).
mod watching {
    use super::*;

    use crate::common::{cannot_interrupt, interrupt, kill, skip};

    use std::io::{BufRead, BufReader, Write};
    use std::path::{Path, PathBuf};
    use std::process::{Child, ExitStatus};
    use std::sync::mpsc::{self, Receiver};
    use std::thread::JoinHandle;
    use std::time::{Duration, Instant, SystemTime};

    use fake_chief::{md5_hex, Action, Origins, Outage, Rule, PROJECT};
    use serde_json::Value;

    /// Generous bound for anything that should happen soon, on a loaded machine.
    const PROMPT: Duration = Duration::from_secs(60);

    /// A running `chief-upload --watch --json`, its output read as it comes.
    struct Watching {
        child: Child,
        stdout: Receiver<Value>,
        stdout_reader: Option<JoinHandle<()>>,
        stderr: Receiver<String>,
        stderr_reader: Option<JoinHandle<()>>,
        /// Every stderr line read so far.
        err_lines: Vec<String>,
        /// Every file line read so far.
        files: Vec<Value>,
    }

    /// What a watch left when it ended.
    struct Ended {
        status: ExitStatus,
        /// Every JSON line, the summary last.
        lines: Vec<Value>,
        stderr: String,
    }

    impl Ended {
        /// Warnings other than the one the stopping signal gives.
        fn warnings(&self) -> Vec<&str> {
            self.stderr
                .lines()
                .filter(|l| l.starts_with("warning:") && !l.contains("stopping transfers"))
                .collect()
        }

        fn files_named(&self, name: &str) -> Vec<&Value> {
            self.lines
                .iter()
                .filter(|l| l["event"] == "file" && l["filename"] == name)
                .collect()
        }

        fn summary(&self) -> &Value {
            let last = self.lines.last().expect("a summary line");
            assert_eq!(last["event"], "summary", "{last}");
            last
        }
    }

    impl Watching {
        /// Starts a watch of `.` (the test tree) with these extra arguments and a quick
        /// status line, and waits until its first pass is over.
        fn start(env: &TestEnv, fake: &FakeChief, args: &[&str]) -> Watching {
            let mut w = Watching::spawn(env, fake, args);
            w.wait_stderr("first pass done", |l| l.starts_with("watching "));
            w
        }

        fn spawn(env: &TestEnv, fake: &FakeChief, args: &[&str]) -> Watching {
            let mut child = env
                .child_cmd(fake)
                .args(if args.contains(&"--retry-base-ms") {
                    &[][..]
                } else {
                    &["--retry-base-ms", "5"][..]
                })
                .args(["--watch", "--json"])
                .args(["--progress-interval", "0.05"])
                .args(args)
                .arg(".")
                .spawn()
                .unwrap();
            let (tx, stdout) = mpsc::channel();
            let out = BufReader::new(child.stdout.take().unwrap());
            let stdout_reader = std::thread::spawn(move || {
                for line in out.lines().map_while(Result::ok) {
                    let v: Value = serde_json::from_str(&line)
                        .unwrap_or_else(|e| panic!("not JSON: {line:?}: {e}"));
                    if tx.send(v).is_err() {
                        return;
                    }
                }
            });
            let (tx, stderr) = mpsc::channel();
            let err = BufReader::new(child.stderr.take().unwrap());
            let stderr_reader = std::thread::spawn(move || {
                for line in err.lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        return;
                    }
                }
            });
            Watching {
                child,
                stdout,
                stdout_reader: Some(stdout_reader),
                stderr,
                stderr_reader: Some(stderr_reader),
                err_lines: Vec::new(),
                files: Vec::new(),
            }
        }

        /// Waits for a stderr line for which `pred` holds.
        fn wait_stderr(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
            let deadline = Instant::now() + PROMPT;
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                match self.stderr.recv_timeout(left) {
                    Ok(line) => {
                        self.err_lines.push(line.clone());
                        if pred(&line) {
                            return line;
                        }
                    }
                    Err(_) => panic!(
                        "no stderr line for {what}; stderr so far:\n{}",
                        self.err_lines.join("\n")
                    ),
                }
            }
        }

        /// Waits for the file line of the file named `name` and returns it.
        fn wait_file(&mut self, name: &str) -> Value {
            self.wait_line(name, |_| true)
        }

        /// Waits for the file line of the file named `name` with this content.
        fn wait_content(&mut self, name: &str, content: &[u8]) -> Value {
            let md5 = md5_hex(content);
            self.wait_line(name, |l| l["md5"] == md5.as_str())
        }

        fn wait_line(&mut self, name: &str, pred: impl Fn(&Value) -> bool) -> Value {
            if let Some(f) = self.files.iter().find(|f| f["filename"] == name && pred(f)) {
                return f.clone();
            }
            let deadline = Instant::now() + PROMPT;
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                match self.stdout.recv_timeout(left) {
                    Ok(line) => {
                        assert_eq!(
                            line["event"], "file",
                            "only file lines before the end: {line}"
                        );
                        self.files.push(line.clone());
                        if line["filename"] == name && pred(&line) {
                            return line;
                        }
                    }
                    Err(_) => {
                        let err: Vec<String> = self.stderr.try_iter().collect();
                        panic!(
                            "no file line for {name}; lines so far: {:?}\nstderr: {}\n{}",
                            self.files,
                            self.err_lines.join("\n"),
                            err.join("\n")
                        )
                    }
                }
            }
        }

        /// File lines that came so far, without waiting.
        fn files_so_far(&mut self) -> &[Value] {
            self.files.extend(self.stdout.try_iter());
            &self.files
        }

        /// Sends `signal` (on Windows, which has only the interrupt, Ctrl-Break whatever
        /// the name: each ends a watch alike) and waits for the end. `None` where a watch
        /// cannot be stopped so (`cannot_interrupt`): it is killed, the rest of the test
        /// is said to be skipped, and the test returns.
        fn stop(self, signal: &str) -> Option<Ended> {
            if let Some(why) = cannot_interrupt() {
                skip(&format!("from the end of the watch on: {why}"));
                return None;
            }
            if cfg!(windows) {
                interrupt(&self.child);
            } else {
                kill(&self.child, signal);
            }
            Some(self.wait_end())
        }

        fn wait_end(mut self) -> Ended {
            let deadline = Instant::now() + PROMPT;
            let status = loop {
                if let Some(status) = self.child.try_wait().unwrap() {
                    break status;
                }
                if Instant::now() > deadline {
                    let _ = self.child.kill();
                    panic!(
                        "the watch did not end; stderr: {}",
                        self.err_lines.join("\n")
                    );
                }
                std::thread::sleep(Duration::from_millis(20));
            };
            // The pipes close with the process: read what is left.
            if let Some(r) = self.stdout_reader.take() {
                r.join().unwrap();
            }
            if let Some(r) = self.stderr_reader.take() {
                r.join().unwrap();
            }
            let mut lines = std::mem::take(&mut self.files);
            lines.extend(self.stdout.try_iter());
            self.err_lines.extend(self.stderr.try_iter());
            Ended {
                status,
                lines,
                stderr: self.err_lines.join("\n"),
            }
        }
    }

    impl Drop for Watching {
        fn drop(&mut self) {
            // A test that failed midway leaves no process behind.
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    /// Sets a file's modification time an hour back, as for a file written long ago.
    fn age(path: &Path) {
        let f = std::fs::File::options().write(true).open(path).unwrap();
        f.set_modified(SystemTime::now() - Duration::from_secs(3600))
            .unwrap();
    }

    /// A file outside the watched tree (to be moved in).
    fn outside(env: &TestEnv, rel: &str, content: &[u8]) -> PathBuf {
        let p = env.dir.path().join("outside").join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, content).unwrap();
        p
    }

    fn assert_uploaded(line: &Value, content: &[u8]) {
        assert_eq!(line["outcome"], "uploaded", "{line}");
        assert_eq!(line["md5"], md5_hex(content), "{line}");
        assert_eq!(line["size"], content.len() as u64, "{line}");
    }

    /// A second signal ends a watch at once, with the first's exit status rules: 0 when no
    /// file failed (the file held at the storage is left for the next start), the summary
    /// written.
    #[test]
    fn a_second_signal_ends_a_watch_at_once_with_0_and_a_summary() {
        if let Some(why) = cannot_interrupt() {
            return skip(why);
        }
        let fake = FakeChief::start();
        let env = TestEnv::new();
        env.file("held.bin", vec![1u8; 1000]);
        let gate = fake_chief::Gate::new();
        fake.inject(Rule::storage(1, Action::Gate(gate.clone())).always());
        let mut w = Watching::start(&env, &fake, &["--min-age", "1s"]);
        gate.wait_arrived(1, PROMPT);
        let send = |w: &Watching| {
            if cfg!(windows) {
                interrupt(&w.child);
            } else {
                kill(&w.child, "TERM");
            }
        };
        send(&w);
        w.wait_stderr("the first signal heard", |l| {
            l.contains("stopping transfers")
        });
        send(&w);
        let end = w.wait_end();
        gate.release();
        assert_eq!(end.status.code(), Some(0), "{}", end.stderr);
        assert!(end.stderr.contains("signalled again"), "{}", end.stderr);
        let s = end.summary();
        assert_eq!(
            (&s["not_attempted"], &s["failed"]),
            (&1.into(), &0.into()),
            "{s}"
        );
        assert!(
            s.get("interrupted").is_none(),
            "a watch's end is no interruption: {s}"
        );
    }

    #[test]
    fn a_file_created_after_the_start_is_uploaded_and_sigterm_ends_with_0_and_a_summary() {
        let fake = FakeChief::start();
        let env = TestEnv::new();
        env.file("before.txt", "there from the start");
        let report = env.dir.path().join("report.ndjson");
        let mut w = Watching::start(
            &env,
            &fake,
            &["--min-age", "1s", "--report", report.to_str().unwrap()],
        );
        assert_uploaded(&w.wait_file("before.txt"), b"there from the start");
        // The report has each line as its file finishes, not at the end: it reaches the
        // report (written on its own thread) while the watch goes on.
        let since = Instant::now();
        while !std::fs::read_to_string(&report)
            .unwrap()
            .contains("before.txt")
        {
            assert!(
                since.elapsed() < PROMPT,
                "the line never reached the report"
            );
            std::thread::sleep(Duration::from_millis(10));
        }

        env.file("after.txt", "written after the start");
        let line = w.wait_file("after.txt");
        assert_uploaded(&line, b"written after the start");
        assert_eq!(line["path"], "./after.txt");
        assert_eq!(fake.assets(PROJECT).len(), 2);

        let Some(end) = w.stop("TERM") else {
            return;
        };
        assert_eq!(end.status.code(), Some(0), "{}", end.stderr);
        let s = end.summary();
        assert_eq!(
            (&s["uploaded"], &s["failed"]),
            (&2.into(), &0.into()),
            "{s}"
        );
        assert_eq!(
            s["interrupted"],
            Value::Null,
            "a signal is how a watch ends: {s}"
        );
        assert!(
            end.stderr.contains("Uploaded 2 files") && !end.stderr.contains("Interrupted"),
            "{}",
            end.stderr
        );
        assert!(
            end.stderr.contains("1 uploaded, 0 failed since"),
            "the status line: {}",
            end.stderr
        );
        let written = std::fs::read_to_string(&report).unwrap();
        assert_eq!(
            written.lines().count(),
            3,
            "two files and the summary: {written}"
        );
        assert!(written
            .lines()
            .last()
            .unwrap()
            .contains("\"event\":\"summary\""));
    }

    #[test]
    fn a_watch_with_a_failed_file_ends_with_1() {
        let fake = FakeChief::start();
        fake.inject(Rule::api(1, Action::status(400)).for_file("bad.txt"));
        let env = TestEnv::new();
        let mut w = Watching::start(&env, &fake, &["--min-age", "1s"]);
        env.file("bad.txt", "refused");
        assert_eq!(w.wait_file("bad.txt")["outcome"], "failed");
        let Some(end) = w.stop("INT") else {
            return;
        };
        assert_eq!(end.status.code(), Some(1), "{}", end.stderr);
        assert_eq!(end.summary()["failed"], 1);
    }

    /// Written in pieces for about 5 s, each piece well within the settle time of the last:
    /// uploaded once, complete.
    #[test]
    fn a_file_written_slowly_is_uploaded_once_complete() {
        let fake = FakeChief::start();
        let env = TestEnv::new();
        let mut w = Watching::start(&env, &fake, &["--min-age", "3s"]);
        let path = env.root().join("slow.bin");
        let mut f = std::fs::File::create(&path).unwrap();
        let mut written = Vec::new();
        for i in 0..25u8 {
            let piece = vec![i; 1000];
            f.write_all(&piece).unwrap();
            f.flush().unwrap();
            written.extend_from_slice(&piece);
            assert!(
                w.files_so_far().is_empty(),
                "taken while still being written (after {i} pieces)"
            );
            // The writer's own pace, not a wait for the watch.
            std::thread::sleep(Duration::from_millis(200));
        }
        drop(f);
        let line = w.wait_file("slow.bin");
        assert_uploaded(&line, &written);
        let Some(end) = w.stop("TERM") else {
            return;
        };
        assert_eq!(end.status.code(), Some(0), "{}", end.stderr);
        assert_eq!(end.files_named("slow.bin").len(), 1, "{:?}", end.lines);
        let stored: Vec<_> = fake.assets(PROJECT);
        assert_eq!(stored.len(), 1, "{stored:?}");
        assert_eq!(stored[0].md5, md5_hex(&written));
    }

    #[test]
    fn new_folders_and_files_and_folders_moved_in_are_uploaded() {
        let fake = FakeChief::start();
        let env = TestEnv::new();
        let mut w = Watching::start(&env, &fake, &["--min-age", "1s"]);

        // A folder made after the start, two levels deep at once.
        env.file("new/deeper/in-new.txt", "in a new folder");
        assert_uploaded(&w.wait_file("in-new.txt"), b"in a new folder");
        assert_eq!(w.wait_file("in-new.txt")["path"], "./new/deeper/in-new.txt");

        // A file renamed into the tree (written long ago elsewhere).
        let single = outside(&env, "renamed.txt", b"renamed into place");
        age(&single);
        std::fs::rename(&single, env.root().join("renamed.txt")).unwrap();
        assert_uploaded(&w.wait_file("renamed.txt"), b"renamed into place");

        // A whole folder moved in, as scanners and exporters do: its files made no events.
        outside(&env, "batch/one.txt", b"one of a batch");
        outside(&env, "batch/sub/two.txt", b"two of a batch");
        std::fs::rename(
            env.dir.path().join("outside/batch"),
            env.root().join("batch"),
        )
        .unwrap();
        assert_uploaded(&w.wait_file("one.txt"), b"one of a batch");
        let two = w.wait_file("two.txt");
        assert_uploaded(&two, b"two of a batch");
        assert_eq!(two["path"], "./batch/sub/two.txt");

        // A link to a folder is not followed without --follow, as in a walk.
        outside(&env, "linked/behind-a-link.txt", b"behind a link");
        crate::common::symlink(
            env.dir.path().join("outside/linked"),
            &env.root().join("link"),
        )
        .unwrap();

        // A file deleted is ignored; a file in a new folder after that still comes.
        std::fs::remove_file(env.root().join("renamed.txt")).unwrap();
        env.file("new/last.txt", "the last one");
        assert_uploaded(&w.wait_file("last.txt"), b"the last one");

        let Some(end) = w.stop("TERM") else {
            return;
        };
        assert_eq!(end.status.code(), Some(0), "{}", end.stderr);
        assert_eq!(end.summary()["uploaded"], 5, "{:?}", end.lines);
        assert!(end.files_named("behind-a-link.txt").is_empty());
        assert!(end.warnings().is_empty(), "{}", end.stderr);
    }

    /// What was sent is remembered: a restart over the same tree sends nothing for files that
    /// did not change (one touched, with the same content, included), and a changed one again.
    #[test]
    fn a_restart_sends_nothing_for_unchanged_files() {
        let fake = FakeChief::start();
        let env = TestEnv::new();
        for (name, content) in [("a.txt", "alpha"), ("b.txt", "bravo"), ("c.txt", "charlie")] {
            age(&env.file(name, content));
        }
        let mut w = Watching::start(&env, &fake, &[]);
        for name in ["a.txt", "b.txt", "c.txt"] {
            assert_eq!(w.wait_file(name)["outcome"], "uploaded");
        }
        // Changed while watched: sent again, the new content.
        std::fs::write(env.root().join("c.txt"), "charlie, changed").unwrap();
        assert_uploaded(
            &w.wait_content("c.txt", b"charlie, changed"),
            b"charlie, changed",
        );
        let Some(first) = w.stop("TERM") else {
            return;
        };
        assert_eq!(first.status.code(), Some(0), "{}", first.stderr);
        assert_eq!(first.files_named("c.txt").len(), 2, "{:?}", first.lines);

        // Between the runs: b is touched (same content), c changed again.
        let b = env.root().join("b.txt");
        std::fs::File::options()
            .write(true)
            .open(&b)
            .unwrap()
            .set_modified(SystemTime::now() - Duration::from_secs(1800))
            .unwrap();
        std::fs::write(env.root().join("c.txt"), "charlie, changed again").unwrap();
        age(&env.root().join("c.txt"));
        fake.clear_requests();

        let mut w = Watching::start(&env, &fake, &[]);
        assert_uploaded(&w.wait_file("c.txt"), b"charlie, changed again");
        // A file after the restart: by the time it is done, the first pass has been looked at.
        env.file("d.txt", "delta");
        assert_uploaded(&w.wait_file("d.txt"), b"delta");
        let Some(second) = w.stop("TERM") else {
            return;
        };
        assert_eq!(second.status.code(), Some(0), "{}", second.stderr);
        let named: Vec<String> = second
            .lines
            .iter()
            .filter(|l| l["event"] == "file")
            .map(|l| l["filename"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(
            named,
            ["c.txt", "d.txt"],
            "only the changed and the new file"
        );
        let announced: Vec<String> = fake
            .api_requests()
            .iter()
            .filter_map(|r| r.json.as_ref()?["filename"].as_str().map(String::from))
            .collect();
        assert_eq!(
            announced
                .iter()
                .filter(|n| *n == "a.txt" || *n == "b.txt")
                .count(),
            0,
            "no request for the unchanged files: {announced:?}"
        );
        assert_eq!(fake.storage_requests().len(), 2, "two uploads");
    }

    /// The API goes out after the first file. The two files that meet it make it an
    /// outage (one file failing alone is that file's problem), which the watch waits out
    /// (with no --max-outage, however long it lasts); a file that appears meanwhile waits
    /// too, and all are uploaded when the API is back.
    #[test]
    fn an_outage_is_waited_out_and_files_that_appeared_meanwhile_are_uploaded() {
        let fake = FakeChief::builder()
            .with_knobs(|k| k.outage = Some(Outage::unavailable(Origins::Api, 1, None)))
            .start()
            .unwrap();
        let env = TestEnv::new();
        age(&env.file("first.txt", "before the outage"));
        let mut w = Watching::start(
            &env,
            &fake,
            &[
                "--min-age",
                "1s",
                "--retries",
                "30",
                "--retry-base-ms",
                "200",
            ],
        );
        assert_uploaded(&w.wait_file("first.txt"), b"before the outage");

        env.file("meets-1.txt", "meets the outage");
        env.file("meets-2.txt", "meets it too");
        w.wait_stderr("the outage notice", |l| l.starts_with("API unavailable"));
        env.file("sub/during.txt", "appeared during the outage");
        // It has settled and waits for the API too.
        w.wait_stderr("the third file waiting", |l| {
            l.contains("uploading 3 files")
        });
        assert_eq!(w.files_so_far().len(), 1, "nothing failed: {:?}", w.files);
        fake.end_outage();
        assert_uploaded(&w.wait_file("meets-1.txt"), b"meets the outage");
        assert_uploaded(&w.wait_file("meets-2.txt"), b"meets it too");
        assert_uploaded(&w.wait_file("during.txt"), b"appeared during the outage");
        let Some(end) = w.stop("TERM") else {
            return;
        };
        assert_eq!(end.status.code(), Some(0), "{}", end.stderr);
        let s = end.summary();
        assert_eq!(
            (&s["uploaded"], &s["failed"]),
            (&4.into(), &0.into()),
            "{s}"
        );
    }

    /// Without file events (`--poll`), rescans find new files; a file already sent is not
    /// sent again by the next rescan, also with `--no-cache` (a record for the run only).
    #[test]
    fn rescans_without_events_find_new_files_and_resend_nothing() {
        let fake = FakeChief::start();
        let env = TestEnv::new();
        let mut w = Watching::start(
            &env,
            &fake,
            &[
                "--poll",
                "--rescan-interval",
                "1",
                "--min-age",
                "1s",
                "--no-cache",
            ],
        );
        env.file("first.txt", "found by a rescan");
        assert_uploaded(&w.wait_file("first.txt"), b"found by a rescan");
        // The rescan that finds the second file also passes the first, already sent.
        env.file("second.txt", "found by a later rescan");
        assert_uploaded(&w.wait_file("second.txt"), b"found by a later rescan");
        let Some(end) = w.stop("TERM") else {
            return;
        };
        assert_eq!(end.status.code(), Some(0), "{}", end.stderr);
        assert_eq!(end.files_named("first.txt").len(), 1, "{:?}", end.lines);
        assert_eq!(fake.api_requests().len(), 2);
        assert!(
            end.warnings().is_empty() && end.stderr.contains("(rescanning)"),
            "asked for, so no warning; the status says so: {}",
            end.stderr
        );
        assert!(
            !env.cache_file("sent.sqlite").exists(),
            "--no-cache keeps no record on disk"
        );
    }

    /// `excluded` counts every file the filters leave out when it appears, in the status
    /// line and the summary: from the first pass and from file events, each once.
    #[test]
    fn files_left_out_after_the_first_pass_count_as_excluded() {
        let fake = FakeChief::start();
        let env = TestEnv::new();
        env.file("old.tmp", "left out by the first pass");
        env.file("pruned/keep.txt", "in a folder --exclude prunes");
        let mut w = Watching::start(
            &env,
            &fake,
            &[
                "--exclude",
                "*.tmp",
                "--exclude",
                "pruned",
                "--min-age",
                "1s",
            ],
        );
        // A file in a pruned folder is not looked at, as the walk does not walk there; it
        // settles before kept.txt below, so it would have been counted by then.
        env.file("pruned/new.txt", "in a folder --exclude prunes");
        env.file("new.tmp", "left out once it is still");
        w.wait_stderr("the status line counting both", |l| {
            l.starts_with("watching ") && l.contains("2 excluded")
        });
        env.file("kept.txt", "uploaded");
        assert_uploaded(&w.wait_file("kept.txt"), b"uploaded");
        let Some(end) = w.stop("TERM") else {
            return;
        };
        assert_eq!(end.status.code(), Some(0), "{}", end.stderr);
        assert_eq!(end.summary()["excluded"], 2, "{}", end.summary());
        assert!(end.files_named("new.tmp").is_empty());
        assert!(end.files_named("new.txt").is_empty());
    }

    /// A rescan passes every file again: what it left out before, unchanged, adds nothing;
    /// a file left out that changed counts again.
    #[test]
    fn a_rescan_counts_only_what_is_new_or_changed_as_excluded() {
        let fake = FakeChief::start();
        let env = TestEnv::new();
        env.file("old.tmp", "left out by the first pass");
        let mut w = Watching::start(
            &env,
            &fake,
            &[
                "--poll",
                "--rescan-interval",
                "1",
                "--min-age",
                "1s",
                "--exclude",
                "*.tmp",
            ],
        );
        env.file("new.tmp", "found by a rescan");
        w.wait_stderr("the rescan's count", |l| {
            l.starts_with("watching ") && l.contains("2 excluded")
        });
        // Each upload below was found by a later rescan, which passed both .tmp files.
        env.file("a.txt", "a");
        assert_uploaded(&w.wait_file("a.txt"), b"a");
        env.file("b.txt", "b");
        assert_uploaded(&w.wait_file("b.txt"), b"b");
        // Changed: counts again.
        std::fs::write(env.root().join("new.tmp"), "changed, still left out").unwrap();
        w.wait_stderr("the changed file's count", |l| {
            l.starts_with("watching ") && l.contains("3 excluded")
        });
        env.file("c.txt", "c");
        assert_uploaded(&w.wait_file("c.txt"), b"c");
        let Some(end) = w.stop("TERM") else {
            return;
        };
        assert_eq!(end.status.code(), Some(0), "{}", end.stderr);
        assert_eq!(end.summary()["excluded"], 3, "{}", end.summary());
    }

    /// A damaged record of files sent is moved aside with one warning that says what it
    /// costs, and the watch goes on.
    #[test]
    fn a_damaged_record_is_said_once_and_the_watch_goes_on() {
        let fake = FakeChief::start();
        let env = TestEnv::new();
        let record = env.cache_file("sent.sqlite");
        std::fs::create_dir_all(record.parent().unwrap()).unwrap();
        std::fs::write(&record, "not a database ".repeat(1000)).unwrap();
        let mut w = Watching::start(&env, &fake, &["--min-age", "1s"]);
        env.file("a.txt", "a");
        assert_uploaded(&w.wait_file("a.txt"), b"a");
        let Some(end) = w.stop("TERM") else {
            return;
        };
        assert_eq!(end.status.code(), Some(0), "{}", end.stderr);
        let damaged: Vec<&str> = end
            .warnings()
            .into_iter()
            .filter(|l| l.contains("sent.sqlite"))
            .collect();
        assert_eq!(damaged.len(), 1, "{}", end.stderr);
        assert!(
            damaged[0].contains("sent.sqlite.corrupt") && damaged[0].contains("announced again"),
            "{}",
            damaged[0]
        );
        assert!(record.with_extension("sqlite.corrupt").exists());
    }

    /// N watches with `--shard K/N` share the files as N runs do.
    #[test]
    fn a_shard_takes_only_its_files() {
        use chief_upload::shard::shard_of;
        let fake = FakeChief::start();
        let env = TestEnv::new();
        let mut w = Watching::start(&env, &fake, &["--shard", "1/2", "--min-age", "1s"]);
        let names: Vec<String> = (0..8).map(|i| format!("f{i}.txt")).collect();
        for n in &names {
            env.file(n, n.as_bytes());
        }
        let (mine, others): (Vec<&String>, Vec<&String>) = names
            .iter()
            .partition(|n| shard_of(&format!("./{n}"), 2) == 1);
        assert!(
            !mine.is_empty() && !others.is_empty(),
            "both shards have files"
        );
        for n in &mine {
            assert_eq!(w.wait_file(n)["outcome"], "uploaded");
        }
        let Some(end) = w.stop("TERM") else {
            return;
        };
        assert_eq!(end.status.code(), Some(0), "{}", end.stderr);
        for n in &others {
            assert!(end.files_named(n).is_empty(), "{n} is the other shard's");
        }
        assert_eq!(fake.api_requests().len(), mine.len());
    }
}

#[test]
fn watch_refuses_a_dry_run_and_its_flags_need_it() {
    let env = TestEnv::new();
    for (args, says) in [
        (
            &["--watch", "--dry-run", "."][..],
            "--dry-run cannot be combined with --watch",
        ),
        (&["--poll", "."][..], "--poll only applies to --watch"),
        (
            &["--rescan-interval", "5s", "."][..],
            "--rescan-interval only applies to --watch",
        ),
        (
            &["--watch", "--files-from", "list", "."][..],
            "--files-from cannot be combined with --watch",
        ),
    ] {
        let out = env.cmd().args(args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains(says) && err.contains("hint:"),
            "{args:?}: {err}"
        );
    }
    let fake = FakeChief::start();
    let out = env
        .cmd_for(&fake)
        .args(["--watch", "--rescan-interval", "0", "."])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("'0'") && err.contains("--rescan-interval"),
        "{err}"
    );
    assert!(fake.requests().is_empty());
}
