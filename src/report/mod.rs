//! The output layer: the only place that writes to stdout and stderr during a run.
//!
//! It runs on its own thread and drains the pipeline's events: NDJSON on stdout with
//! `--json` and in the `--report` file, workflow commands and the job summary for a CI
//! (`--ci`), and for humans on stderr either live bars (a terminal) or plain lines (CI).
//!
//! After a second signal the run has no time left to finish: the thread writes the
//! summary of the events it has seen, everywhere a summary goes, and ends the process.

mod format;
mod github;
mod human;
mod json;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::event::{Event, Summary};
use crate::exit::{Exit, UsageError};
use crate::settings::{Ci, OutputSettings};
use crate::signal::Stops;

pub use format::{bytes as format_bytes, file_line, summary_line};
pub use human::Human;
pub use json::{file_json, summary_json};

use github::Github;
use json::JsonOut;

/// The longest the output thread waits without looking whether a second signal asks the
/// process to leave (which must happen within a second).
const LEAVE_CHECK: Duration = Duration::from_millis(250);
/// After a second signal, how long the output thread may spend on events already queued
/// (files that finished just before) before its summary. With `LEAVE_CHECK` it stays well
/// inside the time `signal.rs` gives it.
const LAST_EVENTS: Duration = Duration::from_millis(150);

/// What the output thread writes to, decided and opened before the run starts.
pub struct Setup {
    pub output: OutputSettings,
    pub dry_run: bool,
    /// `--watch`: a status line instead of a progress bar.
    pub watch: bool,
    pub report: Option<ReportFile>,
    pub ci: Ci,
    pub stops: Arc<Stops>,
}

/// The `--report` file, created (or truncated) before anything is uploaded.
pub struct ReportFile {
    path: PathBuf,
    file: File,
}

impl ReportFile {
    /// Creates or truncates `path`. One that cannot be created is a usage error, found
    /// before any upload rather than after a run that left no record.
    pub fn create(path: &Path) -> Result<ReportFile, UsageError> {
        match File::create(path) {
            Ok(file) => Ok(ReportFile {
                path: path.to_path_buf(),
                file,
            }),
            Err(e) => Err(UsageError::new(format!(
                "cannot create the report file '{}': {}",
                path.display(),
                crate::io_words::io_reason(&e)
            ))
            .hint("check that its folder exists and is writable, or pass another --report FILE")),
        }
    }
}

/// Starts the output thread. It ends after the `Summary` event, or when every sender is
/// gone; after a second signal it ends the process (see `Stops::leave_now`).
pub fn spawn(setup: Setup, rx: Receiver<Event>) -> JoinHandle<()> {
    std::thread::Builder::new()
        .name("output".into())
        .spawn(move || {
            if let Some(exit) = Output::new(setup).run(&rx) {
                std::process::exit(exit as i32);
            }
        })
        .expect("spawning the output thread")
}

/// A JSON destination, and what to call it in a warning when it cannot be written.
struct JsonSink {
    out: JsonOut,
    /// `None` for stdout: a closed stdout (`| head`) is not worth a word.
    name: Option<String>,
}

/// Everything the output thread holds.
struct Output {
    human: Human,
    json: Vec<JsonSink>,
    github: Option<Github>,
    dry_run: bool,
    stops: Arc<Stops>,
    started: Instant,
    /// The totals as the events tell them, for a summary without the pipeline's.
    seen: Summary,
    found: u64,
}

impl Output {
    fn new(setup: Setup) -> Output {
        let mut json = Vec::new();
        if let Some(r) = setup.report {
            json.push(JsonSink {
                out: JsonOut::new(Box::new(r.file)),
                name: Some(format!("the report file {}", r.path.display())),
            });
        }
        if setup.output.json {
            json.push(JsonSink {
                out: JsonOut::stdout(),
                name: None,
            });
        }
        Output {
            human: Human::new(&setup.output, setup.dry_run, setup.watch),
            json,
            github: match setup.ci {
                Ci::Github(files) => Some(Github::new(files)),
                Ci::Off => None,
            },
            dry_run: setup.dry_run,
            stops: setup.stops,
            started: Instant::now(),
            seen: Summary::default(),
            found: 0,
        }
    }

    /// Drains the events until the summary. `Some(exit)`: a second signal came, the
    /// summary of what was seen is written, and the process must leave with `exit`.
    fn run(mut self, rx: &Receiver<Event>) -> Option<Exit> {
        loop {
            if let Some(exit) = self.stops.leave_now() {
                self.leave(rx);
                return Some(exit);
            }
            let wait = self.human.tick_interval().min(LEAVE_CHECK);
            match rx.recv_timeout(wait) {
                Ok(event) => {
                    let last = matches!(event, Event::Summary(_));
                    self.event(event);
                    if last {
                        break;
                    }
                    self.human.tick();
                }
                Err(RecvTimeoutError::Timeout) => self.human.tick(),
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        self.human.close();
        None
    }

    fn event(&mut self, event: Event) {
        if let Event::Batch(batch) = event {
            self.human.begin_batch();
            for event in batch.events {
                self.event(event);
            }
            self.human.end_batch();
            return;
        }
        match &event {
            Event::Found { files, .. } => self.found += files,
            Event::Withdrawn { .. } => self.found = self.found.saturating_sub(1),
            Event::Excluded { files } => self.seen.excluded += files,
            Event::File(r) => self.seen.count(r),
            _ => {}
        }
        for sink in &mut self.json {
            if let Err(e) = sink.out.event(&event, self.dry_run) {
                if let Some(name) = &sink.name {
                    self.human.event(Event::Warning(format!(
                        "cannot write {name}: {}; it ends here",
                        crate::io_words::io_reason(&e)
                    )));
                }
            }
        }
        let annotation = match (&event, self.github.as_mut()) {
            (Event::File(r), Some(gh)) => gh.file(r),
            _ => None,
        };
        let summary = match &event {
            Event::Summary(s) => Some(s.clone()),
            _ => None,
        };
        self.human.event(event);
        if let Some(line) = annotation {
            self.human.raw_line(&line);
        }
        if let (Some(s), Some(gh)) = (summary, &self.github) {
            for line in gh.finish(&s, self.dry_run) {
                self.human.raw_line(&line);
            }
        }
    }

    /// After a second signal: the lines of the files that finished just before (still in
    /// the queue), then the summary of everything seen, wherever a summary goes.
    fn leave(&mut self, rx: &Receiver<Event>) {
        // Said first: on a machine too busy to finish in time, the process still says why
        // it left when `signal.rs` ends it.
        self.human.event(Event::Warning(
            "signalled again: leaving now; files still in flight are counted as not attempted"
                .into(),
        ));
        let deadline = Instant::now() + LAST_EVENTS;
        while Instant::now() < deadline {
            let Ok(event) = rx.try_recv() else { break };
            let last = matches!(event, Event::Summary(_));
            self.event(event);
            if last {
                // The run's own summary made it in time.
                self.human.close();
                return;
            }
        }
        let summary = Summary {
            elapsed: self.started.elapsed(),
            interrupted: true,
            not_attempted: self.found.saturating_sub(self.seen.done()),
            ..self.seen.clone()
        };
        self.event(Event::Summary(summary));
        self.human.close();
    }
}

/// `error: …` and its `hint:` lines, on stderr (fd's and xh's shape).
pub fn print_error(err: &anyhow::Error, color: bool) {
    let red = console::Style::new().red().bold().force_styling(color);
    let mut lines = vec![format!("{} {err:#}", red.apply_to("error:"))];
    if let Some(u) = err.downcast_ref::<crate::exit::UsageError>() {
        lines.extend(u.hints.iter().map(|h| format!("  hint: {h}")));
    }
    let _ = std::io::Write::write_all(&mut std::io::stderr(), (lines.join("\n") + "\n").as_bytes());
}

pub fn print_warning(text: &str, color: bool) {
    let y = console::Style::new().yellow().force_styling(color);
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        format!("{} {text}\n", y.apply_to("warning:")).as_bytes(),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{FileReport, Outcome, Reporter};
    use crate::signal::Signal;

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
        }
    }

    /// A second signal: the thread writes what it has and asks to leave with the status
    /// of the first signal, without waiting for the pipeline's summary.
    #[test]
    fn a_second_signal_writes_the_summary_of_what_was_seen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.ndjson");
        let stops = Stops::new();
        assert!(stops.record(Signal::Terminate));
        let (reporter, rx) = Reporter::channel();
        for _ in 0..4 {
            reporter.emit(Event::Found {
                files: 1,
                bytes: 10,
            });
        }
        reporter.emit(Event::Excluded { files: 1 });
        reporter.emit(Event::File(file("a", Outcome::Uploaded)));
        reporter.emit(Event::File(file("b", Outcome::Failed)));
        stops.record_second(Signal::Interrupt);
        let output = Output::new(Setup {
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
            report: Some(ReportFile::create(&path).unwrap()),
            ci: Ci::Off,
            stops,
        });
        // The sender is still alive: only the signal can end this.
        assert_eq!(output.run(&rx), Some(Exit::Terminated));
        drop(reporter);
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert_eq!(lines[0]["path"], "a");
        assert_eq!(lines[1]["path"], "b");
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
    }

    #[test]
    fn a_report_that_cannot_be_created_is_a_usage_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing").join("report.ndjson");
        let err = ReportFile::create(&path).err().unwrap();
        assert!(err.message.contains(&path.display().to_string()), "{err}");
        assert!(err.message.contains("no such file or directory"), "{err}");
    }
}
