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
