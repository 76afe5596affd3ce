//! The output layer: the only code that writes to stdout, stderr and the files a run
//! reports to. The ledger (`ledger.rs`) drives it, on its own thread, with the events
//! it has counted.
//!
//! For humans, stderr: live bars on a terminal, plain lines elsewhere, a bounded number
//! of them (`human.rs`). NDJSON on stdout with `--json` and in the `--report` file, and
//! `--junit`'s test cases, each written on its own thread (`sink.rs`), so that a reader
//! that stops reading holds only its own output; the JUnit report is made from its test
//! cases at the end (`junit.rs`). Workflow commands, the job summary and step outputs
//! for GitHub (`github.rs`); collapsible sections for GitLab (`gitlab.rs`).
//!
//! An output the user asked for that cannot be written is a `Lost`: named once on stderr
//! by the ledger, and the run's exit status is then at least 1.

mod format;
mod github;
mod gitlab;
mod human;
mod json;
mod junit;
mod sink;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::event::{Event, FileReport, Room, Summary};
use crate::exit::UsageError;
use crate::settings::{Ci, OutputSettings};

pub use format::{bytes as format_bytes, file_line, summary_line};
pub use human::{Human, LISTED_FILES};
pub use json::{file_json, summary_json};
pub use junit::JunitFile;
pub use sink::Lost;

use github::Github;
use gitlab::Gitlab;
use junit::Assembler;
use sink::{LineWriter, Losses, Target};

/// What the outputs are, decided and opened before the run starts.
pub struct OutputSetup {
    pub output: OutputSettings,
    pub dry_run: bool,
    /// `--watch`: a status line instead of a progress bar.
    pub watch: bool,
    pub report: Option<ReportFile>,
    /// `--junit FILE`.
    pub junit: Option<JunitFile>,
    pub ci: Ci,
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

/// Every output of a run, written as the ledger says.
pub struct Outputs {
    human: Human,
    /// The outputs written line by line on threads of their own.
    lines: Vec<LineOut>,
    /// `--junit`: what makes the report from its test cases at the end.
    junit: Option<(Assembler, String)>,
    github: Option<Github>,
    gitlab: Option<Gitlab>,
    dry_run: bool,
    losses: Arc<Losses>,
    /// The outputs lost and named so far.
    lost: Vec<Lost>,
}

/// What a line output holds: the `--json` lines, or `--junit`'s test cases.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Junit,
}

/// A line output and the lines of the batch being written.
struct LineOut {
    format: Format,
    writer: LineWriter,
    batch: String,
}

impl Outputs {
    pub fn new(setup: OutputSetup) -> Outputs {
        let losses = Arc::new(Losses::default());
        let mut lines = Vec::new();
        let mut add = |format, target, what: String| {
            lines.push(LineOut {
                format,
                writer: LineWriter::start(target, what, losses.clone()),
                batch: String::new(),
            })
        };
        let mut full_listing = None;
        if let Some(r) = setup.report {
            let what = format!("the report file '{}'", r.path.display());
            full_listing = Some(format!(
                "The report file '{}' lists every file",
                r.path.display()
            ));
            add(Format::Json, Target::File(r.file), what);
        }
        if setup.output.json {
            full_listing.get_or_insert_with(|| "The --json output lists every file".into());
            add(
                Format::Json,
                Target::Stdout,
                "standard output (--json)".into(),
            );
        }
        let mut junit = None;
        if let Some(j) = setup.junit {
            let what = j.what();
            match j.split() {
                Ok((spool, assembler)) => {
                    add(Format::Junit, Target::Scratch(spool), what.clone());
                    junit = Some((assembler, what));
                }
                Err(e) => losses.add(Lost {
                    what,
                    reason: crate::io_words::io_reason(&e),
                }),
            }
        }
        let mut human = Human::new(&setup.output, setup.dry_run, setup.watch);
        if let Some(l) = full_listing {
            human.set_full_listing(l);
        }
        let (mut github, mut gitlab) = (None, None);
        match setup.ci {
            Ci::Github(files) => github = Some(Github::new(files)),
            Ci::Gitlab => {
                let (g, first) = Gitlab::start(setup.dry_run, setup.watch);
                human.raw_line(&first);
                gitlab = Some(g);
            }
            Ci::Off => {}
        }
        Outputs {
            human,
            lines,
            junit,
            github,
            gitlab,
            dry_run: setup.dry_run,
            losses,
            lost: Vec::new(),
        }
    }

    /// How long the ledger may wait for an event before `tick`.
    pub fn tick_interval(&self) -> Duration {
        self.human.tick_interval()
    }

    /// Progress, when it is time: bars redrawn, a plain progress line with the outcomes
    /// counted so far (`tally`).
    pub fn tick(&mut self, tally: &Summary) {
        self.human.tick(tally);
    }

    /// An event that is no outcome: what people see of it.
    pub fn event(&mut self, event: Event) {
        self.human.event(event);
    }

    /// Every file is found (the walk is over; in a watch, its first pass): `found`.
    pub fn walk_done(&mut self, found: u64) {
        if let Some(g) = &mut self.gitlab {
            for line in g.walk_done(found) {
                self.human.raw_line(&line);
            }
        }
        self.human.event(Event::WalkDone);
    }

    /// The events of a batch follow: their lines are written together at its end.
    pub fn begin_batch(&mut self) {
        self.human.begin_batch();
    }

    /// Writes the lines of the batch; the line writers keep its `room` until theirs are
    /// written.
    pub fn end_batch(&mut self, room: Option<Room>) {
        self.human.end_batch();
        let room = room.map(Arc::new);
        for out in &mut self.lines {
            if !out.batch.is_empty() {
                out.writer
                    .send(std::mem::take(&mut out.batch), room.clone());
            }
        }
    }

    /// A file's outcome, counted: its line everywhere a line goes.
    pub fn file(&mut self, report: &FileReport) {
        let mut json = None;
        for out in &mut self.lines {
            match out.format {
                Format::Json => {
                    out.batch
                        .push_str(json.get_or_insert_with(|| file_json(report)));
                    out.batch.push('\n');
                }
                Format::Junit => out.batch.push_str(&junit::testcase(report)),
            }
        }
        let annotation = self.github.as_mut().and_then(|gh| gh.file(report));
        if let Some(g) = &mut self.gitlab {
            g.file(report);
        }
        self.human.file(report);
        if let Some(line) = annotation {
            self.human.raw_line(&line);
        }
    }

    /// A warning of the run itself (not of a file).
    pub fn warn(&mut self, text: String) {
        self.human.event(Event::Warning(text));
    }

    /// Names on stderr, once each, the outputs lost since the last call.
    pub fn name_losses(&mut self) {
        for l in self.losses.take() {
            self.human.error(&format!(
                "cannot write {}: {}; it ends here, and the run's exit status will be at least 1",
                l.what, l.reason
            ));
            self.lost.push(l);
        }
    }

    /// The outputs lost so far (named or not yet).
    pub fn any_lost(&self) -> bool {
        !self.lost.is_empty() || self.losses.any()
    }

    /// The summary, last, everywhere a summary goes; then every output is closed: the
    /// line writers get until `deadline` to finish, and the JUnit report is made within
    /// it (`None`: as long as they need; a reader that stopped reading delays the end of
    /// the run, never the summary on stderr).
    pub fn finish(&mut self, summary: &Summary, deadline: Option<Instant>) {
        let line = summary_json(summary, self.dry_run);
        for out in &mut self.lines {
            out.batch.clear();
            if out.format == Format::Json {
                out.writer.send(format!("{line}\n"), None);
            }
        }
        if let Some(gh) = &self.github {
            let (lines, lost) = gh.finish(summary, self.dry_run);
            for l in &lines {
                self.human.raw_line(l);
            }
            for l in lost {
                self.losses.add(l);
            }
        }
        if let Some(g) = &mut self.gitlab {
            for l in g.finish(summary.failed) {
                self.human.raw_line(&l);
            }
        }
        self.name_losses();
        self.human.summary(summary);
        let mut scratched = false;
        for out in &mut self.lines {
            let written = out.writer.close(deadline);
            if out.format == Format::Junit {
                scratched = written;
            }
        }
        if let Some((assembler, what)) = self.junit.take() {
            if scratched {
                // `None`: not written in time, and the process is leaving: no report.
                if let Some(Err(e)) = assembler.start(summary, self.dry_run).wait(deadline) {
                    self.losses.add(Lost {
                        what,
                        reason: crate::io_words::io_reason(&e),
                    });
                }
            } else {
                // Its test cases could not all be written (named already), or not in
                // time: no report rather than one that misses files.
                assembler.discard();
            }
        }
        // Found at the last write, or when the file was synced or renamed.
        self.name_losses();
    }

    /// Leaves the terminal clean, whatever happened (no summary: the run did not start).
    pub fn close(&mut self) {
        if let Some(line) = self.gitlab.as_mut().and_then(Gitlab::close) {
            self.human.raw_line(&line);
        }
        self.human.close();
        for out in &mut self.lines {
            out.writer.close(Some(Instant::now()));
        }
        if let Some((assembler, _)) = self.junit.take() {
            assembler.discard();
        }
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

    #[test]
    fn a_report_that_cannot_be_created_is_a_usage_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing").join("report.ndjson");
        let err = ReportFile::create(&path).err().unwrap();
        assert!(err.message.contains(&path.display().to_string()), "{err}");
        assert!(err.message.contains("no such file or directory"), "{err}");
    }
}
