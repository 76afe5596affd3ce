//! The ledger's unit tests: the precedence of endings, a second signal's summary, a lost
//! output. The binary's own tests (tests/it) check the rest through real runs.

use std::path::Path;

use super::*;
use crate::event::{Outcome, Reporter};
use crate::http::FatalKind;
use crate::report::ReportFile;
use crate::settings::{Ci, OutputSettings};

fn file(path: &str, outcome: Outcome) -> FileReport {
    FileReport {
        path: path.into(),
        filename: path.into(),
        size: Some(10),
        md5: None,
        mime_type: None,
        outcome,
        asset_id: None,
        status: None,
        error: (outcome == Outcome::Failed).then(|| "HTTP 400".into()),
        note: None,
        took: None,
    }
}

/// A ledger whose only output is the report file at `report` (stderr quiet).
fn start(report: &Path) -> (Reporter, Ledger, Ending) {
    let (reporter, inbox) = Reporter::channel();
    let (ledger, ending) = Ledger::start(
        LedgerSetup {
            outputs: OutputSetup {
                output: OutputSettings {
                    json: false,
                    quiet: true,
                    verbose: 0,
                    color: false,
                    bars: false,
                    progress_every: None,
                },
                dry_run: false,
                watch: false,
                report: Some(ReportFile::create(report).unwrap()),
                junit: None,
                ci: Ci::Off,
            },
            watch: None,
            if_no_files: IfNoFiles::Warn,
            filters: String::new(),
        },
        inbox,
    )
    .unwrap();
    (reporter, ledger, ending)
}

fn verdict(ending: &mut Ending) -> Verdict {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(ending.verdict()).expect("a verdict")
}

fn json_lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A second signal: the ledger writes what it has, the summary last, and answers with
/// the first signal, without waiting for the stages (the sender is still alive).
#[test]
fn a_second_signal_writes_the_summary_of_what_was_seen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.ndjson");
    let (reporter, ledger, mut ending) = start(&path);
    reporter.emit(Event::Found {
        files: 4,
        bytes: 40,
    });
    reporter.emit(Event::Excluded { files: 1 });
    reporter.outcomes_blocking(vec![
        Event::File(file("a", Outcome::Uploaded)),
        Event::File(file("b", Outcome::Failed)),
    ]);
    ledger.signal(Signal::Terminate);
    ledger.leave();
    let v = verdict(&mut ending);
    ending.join();
    assert!(matches!(v.end, RunEnd::Signal(Signal::Terminate)), "{v:?}");
    assert!(!v.lost_output);
    let lines = json_lines(&path);
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(
        (&lines[0]["path"], &lines[1]["path"]),
        (&"a".into(), &"b".into())
    );
    let s = &lines[2];
    assert_eq!(s["event"], "summary");
    assert_eq!(
        (&s["uploaded"], &s["failed"], &s["bytes_uploaded"]),
        (&1.into(), &1.into(), &10.into())
    );
    assert_eq!(
        (&s["excluded"], &s["not_attempted"]),
        (&1.into(), &2.into())
    );
    assert_eq!(s["interrupted"], true);
    drop(reporter);
}

/// A report on a full disk: every file still counted, the loss in the verdict.
#[cfg(target_os = "linux")]
#[test]
fn a_report_that_cannot_be_written_is_a_lost_output() {
    let (reporter, ledger, mut ending) = start(Path::new("/dev/full"));
    reporter.emit(Event::Found {
        files: 2,
        bytes: 20,
    });
    for name in ["a", "b"] {
        reporter.outcomes_blocking(vec![Event::File(file(name, Outcome::Uploaded))]);
    }
    ledger.end(Some(2));
    let v = verdict(&mut ending);
    ending.join();
    assert!(
        matches!(v.end, RunEnd::Finished { failures: false }),
        "{v:?}"
    );
    assert!(v.lost_output, "the report is lost: {v:?}");
}

/// The one precedence rule: a signal, then what gives 2, then what gives 1.
#[test]
fn endings_meet_by_one_precedence_rule() {
    let fatal = || Stop::for_tests(StopKind::Fatal(FatalKind::Certificate));
    let outage = || {
        Stop::for_tests(StopKind::Outage {
            down_for: Duration::from_secs(400),
            limit: Duration::from_secs(300),
        })
    };
    let refused = || ApiError::Auth {
        status: 401,
        code: None,
        message: None,
    };
    let failed = Summary {
        failed: 1,
        ..Summary::default()
    };
    let left = Summary {
        not_attempted: 3,
        ..Summary::default()
    };
    let bad_list = || UsageError::new("a --files-from line longer than a path");
    let all = || Halts {
        refused: Some(refused()),
        bad_list: Some(bad_list()),
        fatal: Some(fatal()),
        outage: Some(outage()),
    };
    let no_files = || Some("nothing to upload".to_string());
    let sig = Some(Signal::HangUp);
    let end = |s, h, n, w, sum: &Summary| format!("{:?}", decide(s, h, n, w, sum));

    assert!(end(sig, all(), no_files(), false, &failed).starts_with("Signal(HangUp"));
    assert!(end(None, all(), no_files(), false, &failed).starts_with("Refused"));
    let no_refusal = Halts {
        refused: None,
        ..all()
    };
    assert!(end(None, no_refusal, no_files(), false, &failed).starts_with("BadList"));
    let no_refusal = Halts {
        refused: None,
        bad_list: None,
        ..all()
    };
    assert!(end(None, no_refusal, no_files(), false, &failed).contains("Fatal"));
    let only_outage = Halts {
        outage: Some(outage()),
        ..Halts::default()
    };
    assert!(end(None, only_outage, no_files(), false, &failed).contains("Outage"));
    assert!(end(None, Halts::default(), no_files(), false, &failed).starts_with("NoFiles"));
    assert_eq!(
        end(None, Halts::default(), None, false, &failed),
        "Finished { failures: true }"
    );
    assert_eq!(
        end(None, Halts::default(), None, false, &left),
        "Finished { failures: true }",
        "files left without an outcome"
    );
    // A watch ends on a signal: the signal weighs nothing, files queued are no failure.
    assert_eq!(
        end(sig, Halts::default(), None, true, &left),
        "Finished { failures: false }"
    );
    assert!(end(sig, all(), None, true, &left).starts_with("Refused"));
}
