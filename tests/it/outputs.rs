//! Outputs under pressure: a `--json` reader that stops reading holds only its own
//! output, and an output that cannot be written is named and fails the run. (The faults
//! that need strace are in tests/faults/.)

use crate::common::{cannot_interrupt, files_by_path, json_lines, skip, summary, text, TestEnv};
use fake_chief::{FakeChief, PROJECT};

/// `--json` into a full device: named once on stderr, every file still uploaded, exit 1.
#[test]
fn json_into_a_full_device_is_named_and_fails_the_run() {
    if !cfg!(target_os = "linux") {
        return skip("/dev/full, a device every write to fails with ENOSPC, is Linux's");
    }
    let fake = FakeChief::start();
    let env = TestEnv::new();
    for i in 0..5 {
        env.file(&format!("d/f{i}.txt"), format!("content {i}"));
    }
    let full = std::fs::File::options()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = env
        .child_cmd(&fake)
        .args(["--json", "d"])
        .stdout(full)
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{err}");
    assert!(
        errors[0].contains("standard output (--json)")
            && errors[0].contains("No space left on device"),
        "{err}"
    );
    assert_eq!(fake.assets(PROJECT).len(), 5, "the uploads went on");
    assert!(
        err.lines().last().unwrap().starts_with("Uploaded 5 files"),
        "the summary still comes last: {err}"
    );
}

/// A `--json` reader that stops reading (its pipe full) delays neither the files in
/// flight nor SIGTERM's summary on stderr (Ctrl-Break's on Windows); once it reads again
/// it gets every line, the summary last.
#[test]
fn a_json_reader_that_stops_reading_holds_only_its_own_output() {
    if let Some(why) = cannot_interrupt() {
        return skip(why);
    }
    use std::io::{BufRead, BufReader, Read};
    use std::time::Duration;

    use fake_chief::{Action, Gate, Rule};

    const PROMPT: Duration = Duration::from_secs(60);
    // About 280 bytes a JSON line: far more than a pipe holds (64 KiB).
    const FILES: usize = 600;
    const PASS: usize = 580;
    let fake = FakeChief::start();
    let env = TestEnv::new();
    for i in 0..FILES {
        env.file(
            &format!("d/a-file-with-a-long-name-{i:04}.txt"),
            format!("content {i}"),
        );
    }
    let gate = Gate::new();
    fake.inject(
        Rule::storage(usize::MAX, Action::Gate(gate.clone()))
            .after(PASS)
            .always(),
    );
    let mut child = env
        .child_cmd(&fake)
        .args(["--json", "-j", "4", "d"])
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    // stderr is read as it comes; stdout is not read yet.
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stderr).lines() {
            let line = line.unwrap();
            let _ = tx.send(line.clone());
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let next = || rx.recv_timeout(PROMPT).expect("another line on stderr");
    // The files go on while nobody reads stdout, until the gate holds them.
    let mut uploaded = 0;
    while uploaded < PASS {
        if next().starts_with("uploaded ") {
            uploaded += 1;
        }
    }
    gate.wait_arrived(1, PROMPT);
    // SIGTERM, as a CI runner sends it; Windows has only the interrupt.
    #[cfg(unix)]
    crate::common::kill(&child, "TERM");
    #[cfg(not(unix))]
    crate::common::interrupt(&child);
    let signal_exit = if cfg!(unix) { 143 } else { 130 };
    // The summary reaches stderr while stdout is still not read.
    let summary_line = loop {
        let line = next();
        if line.starts_with("Interrupted.") {
            break line;
        }
    };
    assert!(
        summary_line.contains(&format!("Uploaded {PASS} files")),
        "{summary_line}"
    );
    // Now the reader reads again: everything is there, the summary last.
    let mut json = Vec::new();
    BufReader::new(stdout).read_to_end(&mut json).unwrap();
    let status = child.wait().unwrap();
    gate.release();
    let err = reader.join().unwrap();
    assert_eq!(status.code(), Some(signal_exit), "{err}");
    let lines = json_lines(&json);
    assert_eq!(files_by_path(&lines).len(), PASS);
    let s = summary(&lines);
    assert_eq!(s["uploaded"], PASS as u64);
    assert_eq!(s["not_attempted"], (FILES - PASS) as u64);
}

/// A `--json` reader that stops reading holds 8,192 outcomes (the budget), then the
/// uploads wait for it; a SIGTERM then still ends the run at once: the summary reaches
/// stderr while the reader still reads nothing, and the outcomes of files in flight go
/// out without waiting for room. Linux only: the pipe is shrunk to one page
/// (`F_SETPIPE_SZ`) and filled before the run starts, so that it takes no line at all
/// and the run stalls at a known place.
#[test]
fn a_signal_ends_a_run_whose_json_reader_holds_the_whole_budget() {
    use std::io::{BufRead, BufReader, Read};
    use std::time::Duration;

    if !cfg!(target_os = "linux") {
        return skip("F_SETPIPE_SZ, to know how many lines a pipe takes, is Linux's");
    }
    const PROMPT: Duration = Duration::from_secs(120);
    const FILES: usize = 9_000;
    // At most this many outcomes can be sent while nothing is read: the budget (the pipe
    // takes none).
    const SENDABLE: u64 = 8_192;
    let fake = FakeChief::start();
    let env = TestEnv::new();
    for i in 0..FILES {
        env.file(&format!("d/f{i:05}.txt"), format!("{i}"));
    }
    let (mut stdout, into_pipe, filler) = full_pipe();
    // -j 4: at most 4 files between their upload and their outcome.
    let mut child = env
        .child_cmd(&fake)
        .args(["--json", "-q", "-j", "4", "d"])
        .stdout(into_pipe)
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    // Four files stored past what can be sent: the run's last state before it stalls. A
    // file gives back its place among the four only once its outcome is sent, so the
    // budget is spent; each of the four waits for room the unread pipe will never give
    // back, or is still reading its answer.
    fake.wait_for(PROMPT, |f| {
        f.stats(fake_chief::Target::Storage).status(200) >= SENDABLE + 4
    });
    crate::common::kill(&child, "TERM");
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let summary_line = loop {
        let line = rx
            .recv_timeout(PROMPT)
            .expect("the summary on stderr while stdout is not read");
        if line.starts_with("Interrupted.") {
            break line;
        }
    };
    let mut json = vec![0; filler];
    stdout.read_exact(&mut json).unwrap();
    assert!(json.iter().all(|&b| b == b'\n'));
    json.clear();
    stdout.read_to_end(&mut json).unwrap();
    let status = child.wait().unwrap();
    reader.join().unwrap();
    assert_eq!(status.code(), Some(143));
    let lines = json_lines(&json);
    let s = summary(&lines);
    let listed = files_by_path(&lines).len() as u64;
    // Every outcome sent is in the report, and so are those of the four that waited for
    // room (sent without it once the run was stopping). Not asserted: that at least one
    // of them waited, since one whose answer was still unread when the signal came is
    // cancelled, and counted not attempted.
    assert!(listed >= SENDABLE, "{listed} lines");
    assert_eq!(
        s["uploaded"].as_u64().unwrap() + s["not_attempted"].as_u64().unwrap(),
        FILES as u64,
        "{s}"
    );
    assert!(
        summary_line.contains(&format!("Uploaded {listed} files")),
        "{summary_line}"
    );
}

/// A pipe of one page, full (of newlines): its read end, its write end for a child's
/// stdout, and how many bytes fill it.
#[cfg(target_os = "linux")]
fn full_pipe() -> (std::fs::File, std::process::Stdio, usize) {
    use std::io::Write;
    use std::os::fd::FromRawFd;
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes; each is owned once.
    let (read, mut write, size) = unsafe {
        assert_eq!(libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC), 0);
        let size = libc::fcntl(fds[1], libc::F_SETPIPE_SZ, 4096);
        assert!(
            size >= 4096,
            "F_SETPIPE_SZ: {}",
            std::io::Error::last_os_error()
        );
        (
            std::fs::File::from_raw_fd(fds[0]),
            std::fs::File::from_raw_fd(fds[1]),
            size as usize,
        )
    };
    write.write_all(&vec![b'\n'; size]).unwrap();
    (read, std::process::Stdio::from(write), size)
}

#[cfg(not(target_os = "linux"))]
fn full_pipe() -> (std::fs::File, std::process::Stdio, usize) {
    unreachable!("the test that uses it runs on Linux only")
}
