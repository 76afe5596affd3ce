//! Output for people, on stderr: live bars on a terminal, plain lines elsewhere.
//!
//! With bars, every line is printed through the bars (`MultiProgress::println`), so a
//! warning never garbles them. Without bars there is no ANSI code at all: one line per
//! finished file, a progress line every `--progress-interval` seconds (15 by default),
//! and the summary.
//!
//! Without bars the log is bounded (a CI log stops collecting at a few MiB, and its
//! viewer chokes long before): a failed file always gets its line, but an uploaded,
//! skipped or planned file only among the first `LISTED_FILES`; then one line says
//! where every file is listed, and the progress lines and the summary carry the
//! counts. `-v` lists every file; a watch (a service's journal, rotated) does too. The
//! progress lines come further apart as a run gets long (`PROGRESS_STRETCH`), so that
//! however long it lasts they stay a small part of its log.
//!
//! A watch (`--watch`) has no total to make a bar of: on a terminal the bar becomes a
//! status line ("watching 3 folders; 1,204 uploaded, 3 failed since 09:14; idle"); without
//! one, the same line is the periodic progress line, printed only when it changed, so an
//! idle watch leaves the log alone.
//!
//! Colour (`--color`, `NO_COLOR`) is only colour: with bars and no colour the bars still
//! draw with cursor movement, in black and white.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::Write;
use std::time::{Duration, Instant};

use console::Style;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::format::{self, bytes, file_line, summary_line, thousands};
use crate::duration;
use crate::event::{Event, FileReport, Outcome, Progress, Summary, TaskId, WatchStatus};
use crate::settings::OutputSettings;

/// Redraws per second at most: a terminal is not flooded by fast byte counts.
const BAR_REFRESH_HZ: u8 = 15;
/// Transfers smaller than this finish too fast to deserve their own bar.
const TRANSFER_BAR_MIN: u64 = 256 * 1024;
/// At most this many per-file bars at once (the overall bar always shows).
const MAX_FILE_BARS: usize = 8;
/// Without bars (and without `-v`), the uploaded, skipped or planned files that get a
/// line of their own. A line is 75 to 100 bytes: 1,000 of them are about 100 KB, a
/// tenth of the 1 MiB a run of a million files may log and 2.5% of the 4 MiB at which
/// GitLab's runners stop collecting a job's log, which leaves room for the progress
/// lines (about 125 bytes each), warnings and failed files. Most runs have fewer
/// files, and keep the whole listing they always had.
pub const LISTED_FILES: u64 = 1000;
/// Without bars (not in a watch), the progress line comes every `--progress-interval`,
/// or every this fraction of the time elapsed once that is longer (with the default
/// 15 s: from 15 minutes on, every 30 s from 30 minutes, every 10 minutes from 10
/// hours). The lines then grow with the logarithm of the run's length, not with it: a
/// run of a year logs about 700 of them.
const PROGRESS_STRETCH: u32 = 60;

struct Bars {
    multi: MultiProgress,
    overall: ProgressBar,
    /// The tasks that have a bar of their own, and what counts their bytes.
    tasks: HashMap<TaskId, (ProgressBar, Progress)>,
}

pub struct Human {
    quiet: bool,
    verbose: u8,
    dry_run: bool,
    bars: Option<Bars>,
    styles: Styles,
    started: Instant,
    /// Without bars: the interval of the plain progress line, and when it was last printed.
    plain_every: Option<Duration>,
    last_plain_progress: Instant,
    // Totals the display needs, between the ledger's ticks (the run's own counts are the
    // ledger's).
    found_files: u64,
    found_bytes: u64,
    walk_done: bool,
    done_files: u64,
    done_bytes: u64,
    /// The transfers under way, each with the bytes of its body sent so far.
    transfers: HashMap<TaskId, Progress>,
    /// `--watch`: what the status line says.
    watch: Option<WatchView>,
    /// How many more uploaded, skipped or planned files get a line (`None`: all).
    listed_left: Option<u64>,
    /// Where every file is listed, for the line that says they no longer are here.
    full_listing: String,
    said_past_listing: bool,
    /// While a batch of events is handled (`begin_batch`): its lines, written at its end
    /// in one piece. A tree of small files then costs one write (and with bars one
    /// redraw) per batch, not per file.
    held: RefCell<Option<String>>,
}

/// A watch's status, as the events tell it.
struct WatchView {
    /// `None` until the watch says what it watches.
    status: Option<WatchStatus>,
    /// When the watch started, local time ("09:14").
    since: String,
    /// The outcomes so far, as the ledger counted them (its last `tick`).
    tally: Summary,
    /// Without bars: the last status line printed.
    printed: String,
}

struct Styles {
    ok: Style,
    skip: Style,
    fail: Style,
    warn: Style,
    dim: Style,
}

impl Styles {
    fn new(color: bool) -> Styles {
        let s = |st: Style| st.force_styling(color);
        Styles {
            ok: s(Style::new().green()),
            skip: s(Style::new().cyan()),
            fail: s(Style::new().red().bold()),
            warn: s(Style::new().yellow()),
            dim: s(Style::new().dim()),
        }
    }
}

impl Human {
    pub fn new(settings: &OutputSettings, dry_run: bool, watch: bool) -> Human {
        // A test-mode switch may pretend stderr is a terminal; then draw regardless.
        Human::with_term(settings, dry_run, watch, Box::new(console::Term::stderr()))
    }

    /// Bars (when `settings.bars`) are drawn on `term`.
    pub fn with_term(
        settings: &OutputSettings,
        dry_run: bool,
        watch: bool,
        term: Box<dyn indicatif::TermLike>,
    ) -> Human {
        let bars = settings.bars.then(|| {
            let target = ProgressDrawTarget::term_like_with_hz(term, BAR_REFRESH_HZ);
            let multi = MultiProgress::with_draw_target(target);
            let overall = multi.add(ProgressBar::new(0));
            let template = match (watch, settings.color) {
                (true, true) => "{spinner:.green} {wide_msg}",
                (true, false) => "{spinner} {wide_msg}",
                (false, true) => "{spinner:.green} {prefix:.bold} [{wide_bar:.cyan/blue}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta} {msg}",
                (false, false) => "{spinner} {prefix} [{wide_bar}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta} {msg}",
            };
            overall.set_style(ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()).progress_chars("=> "));
            overall.set_prefix(if dry_run { "hashing" } else { "uploading" });
            overall.enable_steady_tick(Duration::from_millis(120));
            Bars { multi, overall, tasks: HashMap::new() }
        });
        Human {
            quiet: settings.quiet,
            verbose: settings.verbose,
            dry_run,
            bars,
            styles: Styles::new(settings.color),
            started: Instant::now(),
            plain_every: settings.progress_every,
            last_plain_progress: Instant::now(),
            found_files: 0,
            found_bytes: 0,
            walk_done: false,
            done_files: 0,
            done_bytes: 0,
            transfers: HashMap::new(),
            watch: watch.then(|| WatchView {
                status: None,
                since: chrono::Local::now().format("%H:%M").to_string(),
                tally: Summary::default(),
                printed: String::new(),
            }),
            held: RefCell::new(None),
            listed_left: (!settings.bars && settings.verbose == 0 && !watch)
                .then_some(LISTED_FILES),
            full_listing: "--report FILE or --json records every file".into(),
            said_past_listing: false,
        }
    }

    /// Where every file is listed, as the line at `LISTED_FILES` says it ("the report
    /// file 'out.ndjson' lists every file").
    pub fn set_full_listing(&mut self, where_: String) {
        self.full_listing = where_;
    }

    /// How long the ledger may wait for an event before `tick`.
    pub fn tick_interval(&self) -> Duration {
        match (&self.bars, self.plain_every) {
            // Bars with bytes moving are redrawn from their meters.
            (Some(b), _) if !b.tasks.is_empty() || !self.transfers.is_empty() => {
                Duration::from_millis(1000 / u64::from(BAR_REFRESH_HZ))
            }
            (None, Some(every)) if !self.quiet => self
                .progress_every(every)
                .saturating_sub(self.last_plain_progress.elapsed())
                .max(Duration::from_millis(10)),
            _ => Duration::from_millis(500),
        }
    }

    /// How long between two plain progress lines: `every`, stretched as the run gets
    /// long (`PROGRESS_STRETCH`; a watch keeps `every`: it prints a line only when its
    /// status changed).
    fn progress_every(&self, every: Duration) -> Duration {
        stretched(every, self.started.elapsed(), self.watch.is_some())
    }

    /// The bytes of the transfers under way.
    fn moving_bytes(&self) -> u64 {
        self.transfers.values().map(Progress::get).sum()
    }

    /// Called after every event and whenever `tick_interval` passes without one: CI logs
    /// still hear from a long run, however busy or quiet the pipeline is, and bars move.
    /// `tally`: the outcomes so far, as the ledger counted them.
    pub fn tick(&mut self, tally: &Summary) {
        if let Some(w) = self.watch.as_mut() {
            w.tally.clone_from(tally);
        }
        if let Some(b) = &self.bars {
            for (bar, meter) in b.tasks.values() {
                bar.set_position(meter.get());
            }
            self.refresh_overall();
        }
        let due = match self.plain_every {
            Some(every) => self.last_plain_progress.elapsed() >= self.progress_every(every),
            None => false,
        };
        if self.bars.is_none() && !self.quiet && due {
            self.last_plain_progress = Instant::now();
            if self.watch.is_some() {
                self.plain_watch_line();
                return;
            }
            let total = if self.walk_done {
                format!("{}", self.found_files)
            } else {
                format!("{}+", self.found_files)
            };
            let counts = if self.dry_run {
                format!("{} planned, {} failed", tally.planned, tally.failed)
            } else {
                format!(
                    "{} uploaded, {} skipped, {} failed",
                    tally.uploaded, tally.skipped, tally.failed
                )
            };
            let line = format!(
                "progress: {}/{total} files ({counts}), {}/{} bytes, {}, {} elapsed",
                self.done_files,
                bytes(self.done_bytes + self.moving_bytes()),
                bytes(self.found_bytes),
                format::rate(
                    self.moving_bytes() + self.done_bytes,
                    self.started.elapsed()
                ),
                duration::approx(self.started.elapsed())
            );
            self.say(&line);
        }
    }

    /// A watch's status: "watching 3 folders; 1,204 uploaded, 3 failed since 09:14; idle".
    fn watch_line(&self) -> Option<String> {
        let w = self.watch.as_ref()?;
        let status = w.status?;
        let plural = |n: u64, one: &str| {
            if n == 1 {
                format!("1 {one}")
            } else {
                format!("{} {one}s", thousands(n))
            }
        };
        let what = match (status.folders, status.files) {
            (n, 0) => plural(n, "folder"),
            (0, n) => plural(n, "file"),
            (a, b) => format!("{} and {}", plural(a, "folder"), plural(b, "file")),
        };
        let verb = if self.walk_done {
            "watching"
        } else {
            "scanning"
        };
        let t = &w.tally;
        let mut counts = format!("{} uploaded", thousands(t.uploaded));
        if t.skipped > 0 {
            counts.push_str(&format!(", {} skipped", thousands(t.skipped)));
        }
        counts.push_str(&format!(", {} failed", thousands(t.failed)));
        if t.excluded > 0 {
            counts.push_str(&format!(", {} excluded", thousands(t.excluded)));
        }
        let busy = self.found_files.saturating_sub(self.done_files);
        let mut state = Vec::new();
        if busy > 0 {
            state.push(format!("uploading {}", plural(busy, "file")));
        }
        if status.settling > 0 {
            state.push(format!("{} settling", thousands(status.settling)));
        }
        if state.is_empty() {
            state.push("idle".into());
        }
        let rescans = if status.rescanning {
            " (rescanning)"
        } else {
            ""
        };
        Some(format!(
            "{verb} {what}{rescans}; {counts} since {}; {}",
            w.since,
            state.join(", ")
        ))
    }

    /// Without bars: the watch's status line, when it says something new.
    fn plain_watch_line(&mut self) {
        let Some(line) = self.watch_line() else {
            return;
        };
        if let Some(w) = self.watch.as_mut() {
            if w.printed == line {
                return;
            }
            w.printed.clone_from(&line);
        }
        self.say(&line);
    }

    /// Prints a line of another output (a CI's workflow command) as it is, above the
    /// bars, also with `--quiet`.
    pub fn raw_line(&self, line: &str) {
        self.say(line);
    }

    /// Prints a line above the bars (or plainly); in a batch, at its end.
    fn say(&self, line: &str) {
        if let Some(held) = self.held.borrow_mut().as_mut() {
            held.push_str(line);
            held.push('\n');
            return;
        }
        self.write(&format!("{line}\n"));
    }

    fn write(&self, text: &str) {
        let out = || {
            let _ = std::io::stderr().write_all(text.as_bytes());
        };
        match &self.bars {
            Some(b) => b.multi.suspend(out),
            None => out(),
        }
    }

    /// The events of a batch follow: their lines wait for `end_batch`.
    pub fn begin_batch(&mut self) {
        self.held.get_mut().get_or_insert_with(String::new);
    }

    /// Writes the lines of the batch, in their order.
    pub fn end_batch(&mut self) {
        if let Some(text) = self.held.get_mut().take().filter(|t| !t.is_empty()) {
            self.write(&text);
        }
    }

    fn refresh_overall(&self) {
        if let (Some(b), Some(line)) = (&self.bars, self.watch_line()) {
            b.overall.set_message(line);
            return;
        }
        if let Some(b) = &self.bars {
            b.overall.set_length(self.found_bytes);
            b.overall
                .set_position(self.done_bytes + self.moving_bytes());
            let total = if self.walk_done {
                format!("{}", self.found_files)
            } else {
                format!("{}…", self.found_files)
            };
            b.overall
                .set_message(format!("{}/{total} files", self.done_files));
        }
    }

    /// A bar for one task; without a `size` (standard input, read to its end), the bytes
    /// so far and the rate.
    fn task_bar(
        &mut self,
        id: TaskId,
        label: &str,
        path: &str,
        size: Option<u64>,
        meter: Progress,
    ) {
        let Some(b) = self.bars.as_mut() else { return };
        if b.tasks.len() >= MAX_FILE_BARS {
            return;
        }
        let (bar, template) = match size {
            Some(size) => (
                ProgressBar::new(size),
                "  {prefix:9} {wide_msg} {bytes:>10}/{total_bytes:<10} {binary_bytes_per_sec:>12}",
            ),
            None => (
                ProgressBar::no_length(),
                "  {prefix:9} {wide_msg} {bytes:>10}            {binary_bytes_per_sec:>12}",
            ),
        };
        let bar = b.multi.add(bar);
        bar.set_style(
            ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_prefix(label.to_string());
        bar.set_message(path.to_string());
        b.tasks.insert(id, (bar, meter));
    }

    fn end_task(&mut self, id: TaskId) {
        if let Some((bar, _)) = self.bars.as_mut().and_then(|b| b.tasks.remove(&id)) {
            bar.finish_and_clear();
            if let Some(b) = &self.bars {
                b.multi.remove(&bar);
            }
        }
    }

    pub fn event(&mut self, event: Event) {
        match event {
            Event::Found { files, bytes } => {
                self.found_files += files;
                self.found_bytes += bytes;
                self.refresh_overall();
            }
            // Counted by the ledger, shown from its tally.
            Event::Excluded { .. } => {}
            Event::Withdrawn { size } => {
                self.found_files = self.found_files.saturating_sub(1);
                self.found_bytes = self.found_bytes.saturating_sub(size);
                self.refresh_overall();
            }
            Event::Watching(status) => {
                if let Some(w) = self.watch.as_mut() {
                    w.status = Some(status);
                }
                self.refresh_overall();
            }
            Event::WalkDone => {
                self.walk_done = true;
                self.refresh_overall();
            }
            Event::HashStart {
                id,
                path,
                size,
                meter,
            } => {
                // Without a size, it is standard input being read (and hashed).
                let label = if size.is_some() { "hashing" } else { "reading" };
                self.task_bar(id, label, &path, size, meter)
            }
            Event::HashEnd { id } => self.end_task(id),
            Event::TransferStart {
                id,
                path,
                size,
                meter,
            } => {
                if size >= TRANSFER_BAR_MIN {
                    self.task_bar(id, "uploading", &path, Some(size), meter.clone());
                }
                self.transfers.insert(id, meter);
            }
            Event::TransferEnd { id } => {
                self.end_task(id);
                self.transfers.remove(&id);
            }
            Event::Request {
                method,
                target,
                status,
                elapsed,
                attempt,
            } => {
                if self.verbose > 0 {
                    let status = status
                        .map(|s| s.to_string())
                        .unwrap_or_else(|| "no answer".into());
                    let again = if attempt > 1 {
                        format!(" (attempt {attempt})")
                    } else {
                        String::new()
                    };
                    let line = format!(
                        "{method} {target} -> {status} in {} ms{again}",
                        elapsed.as_millis()
                    );
                    self.say(&self.styles.dim.apply_to(line).to_string());
                }
            }
            Event::Retry {
                what,
                attempt,
                delay,
                reason,
            } => {
                if self.verbose > 0 {
                    let line = format!(
                        "retry {attempt} of {what} in {}: {reason}",
                        duration::approx(delay)
                    );
                    self.say(&self.styles.warn.apply_to(line).to_string());
                }
            }
            Event::Concurrency { from, to, why } => {
                if self.verbose > 0 {
                    let line = if from == to {
                        format!("concurrency stays at {to} files in flight: {why}")
                    } else {
                        format!("concurrency {from} -> {to} files in flight: {why}")
                    };
                    self.say(&self.styles.dim.apply_to(line).to_string());
                }
            }
            Event::Outage {
                origin,
                reason,
                down_for,
                retry_in,
            } => {
                if !self.quiet {
                    let line = format!(
                        "{origin} unavailable ({}) for {}; retrying in {}",
                        format::printable(&reason),
                        duration::whole_seconds(down_for),
                        duration::whole_seconds(retry_in)
                    );
                    self.say(&self.styles.warn.apply_to(line).to_string());
                }
            }
            Event::OutageOver { origin, down_for } => {
                if !self.quiet {
                    let line = format!(
                        "{origin} available again after {}",
                        duration::whole_seconds(down_for)
                    );
                    self.say(&self.styles.ok.apply_to(line).to_string());
                }
            }
            Event::Warning(text) => {
                if !self.quiet {
                    let line = format!(
                        "{} {}",
                        self.styles.warn.apply_to("warning:"),
                        format::printable(&text)
                    );
                    self.say(&line);
                }
            }
            Event::File(report) => self.file(&report),
            Event::Batch(batch) => {
                self.begin_batch();
                for event in batch.events {
                    self.event(event);
                }
                self.end_batch();
            }
        }
    }

    /// A file's outcome: counted for the display, and its line (a failure's also with
    /// `--quiet`).
    pub fn file(&mut self, report: &FileReport) {
        self.done_files += 1;
        self.done_bytes += report.size.unwrap_or(0);
        self.refresh_overall();
        let show = if report.outcome == Outcome::Failed {
            true
        } else if self.quiet {
            false
        } else if self.listed() {
            true
        } else {
            if !self.said_past_listing {
                self.said_past_listing = true;
                let line = self.past_listing();
                self.say(&self.styles.dim.apply_to(line).to_string());
            }
            false
        };
        if show {
            let line = file_line(report);
            let (word, rest) = line.split_at(8);
            let style = match report.outcome {
                Outcome::Uploaded => &self.styles.ok,
                Outcome::Skipped | Outcome::Planned => &self.styles.skip,
                Outcome::Failed => &self.styles.fail,
            };
            self.say(&format!("{}{rest}", style.apply_to(word)));
        }
    }

    /// Whether an uploaded, skipped or planned file gets its line: within the budget.
    /// The first one past it gets, instead, the line that says so.
    fn listed(&mut self) -> bool {
        match &mut self.listed_left {
            None => true,
            Some(0) => false,
            Some(left) => {
                *left -= 1;
                true
            }
        }
    }

    /// The line at the budget: from here on, only failed files get a line.
    fn past_listing(&self) -> String {
        let what = if self.dry_run {
            "planned"
        } else {
            "uploaded and skipped"
        };
        format!(
            "note: {} files listed; further {what} files get no line of their own (failed files do, and the progress lines and the summary count every file). {}; -v lists every file here.",
            thousands(LISTED_FILES),
            self.full_listing
        )
    }

    /// `error: …`: a failure of the run that does not stop it, also with `--quiet`.
    pub fn error(&self, text: &str) {
        let line = format!(
            "{} {}",
            self.styles.fail.apply_to("error:"),
            format::printable(text)
        );
        self.say(&line);
    }

    /// The summary line, last.
    pub fn summary(&mut self, s: &Summary) {
        if let Some(b) = self.bars.take() {
            for (bar, _) in b.tasks.values() {
                bar.finish_and_clear();
            }
            b.overall.finish_and_clear();
            let _ = b.multi.clear();
        }
        let line = summary_line(s, self.dry_run);
        let style = if s.failed > 0 || s.interrupted {
            &self.styles.fail
        } else {
            &self.styles.ok
        };
        let _ = writeln!(std::io::stderr(), "{}", style.apply_to(line));
    }

    /// The run is over: leave the terminal clean whatever happened.
    pub fn close(&mut self) {
        if let Some(b) = self.bars.take() {
            b.overall.finish_and_clear();
            let _ = b.multi.clear();
        }
    }
}

/// The time between two plain progress lines, `every` asked for, `elapsed` into the run.
fn stretched(every: Duration, elapsed: Duration, watch: bool) -> Duration {
    if watch {
        every
    } else {
        every.max(elapsed / PROGRESS_STRETCH)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A terminal that keeps everything drawn on it.
    #[derive(Clone, Debug, Default)]
    struct Screen(Arc<Mutex<String>>);

    impl indicatif::TermLike for Screen {
        fn width(&self) -> u16 {
            100
        }
        fn move_cursor_up(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_down(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn write_line(&self, s: &str) -> std::io::Result<()> {
            self.0.lock().unwrap().push_str(&format!("{s}\n"));
            Ok(())
        }
        fn write_str(&self, s: &str) -> std::io::Result<()> {
            self.0.lock().unwrap().push_str(s);
            Ok(())
        }
        fn clear_line(&self) -> std::io::Result<()> {
            Ok(())
        }
        fn flush(&self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Plain output; quiet, so that the test's files print no lines (but failures).
    fn plain() -> OutputSettings {
        OutputSettings {
            json: false,
            quiet: true,
            verbose: 0,
            color: false,
            bars: false,
            progress_every: Some(Duration::from_secs(15)),
        }
    }

    fn done(outcome: Outcome) -> Event {
        Event::File(crate::event::FileReport {
            error: (outcome == Outcome::Failed).then(|| "refused".into()),
            ..crate::event::FileReport::for_test("./a", outcome)
        })
    }

    #[test]
    fn a_watch_says_what_it_watches_what_it_did_and_what_it_does() {
        let mut h = Human::with_term(&plain(), false, true, Box::new(Screen::default()));
        assert_eq!(h.watch_line(), None, "nothing to say before the watch does");
        let status = |folders, files, settling| WatchStatus {
            folders,
            files,
            settling,
            rescanning: false,
        };
        h.event(Event::Watching(status(3, 0, 0)));
        let since = h.watch.as_ref().unwrap().since.clone();
        assert_eq!(
            h.watch_line().unwrap(),
            format!("scanning 3 folders; 0 uploaded, 0 failed since {since}; idle")
        );
        // The outcomes as the ledger counts them, and tells at its ticks.
        let mut tally = Summary::default();
        let mut finish = |h: &mut Human, outcome| {
            let Event::File(report) = done(outcome) else {
                unreachable!()
            };
            tally.count(&report);
            h.file(&report);
            h.tick(&tally);
        };
        h.event(Event::WalkDone);
        for _ in 0..1204 {
            h.event(Event::Found { files: 1, bytes: 1 });
            finish(&mut h, Outcome::Uploaded);
        }
        for _ in 0..3 {
            h.event(Event::Found { files: 1, bytes: 1 });
            finish(&mut h, Outcome::Failed);
        }
        assert_eq!(
            h.watch_line().unwrap(),
            format!("watching 3 folders; 1,204 uploaded, 3 failed since {since}; idle")
        );
        // Two files in flight (one of them then withdrawn), one settling, rescans.
        h.event(Event::Found { files: 1, bytes: 1 });
        h.event(Event::Found { files: 1, bytes: 1 });
        h.event(Event::Withdrawn { size: 1 });
        finish(&mut h, Outcome::Skipped);
        h.event(Event::Found { files: 1, bytes: 1 });
        h.event(Event::Watching(WatchStatus {
            rescanning: true,
            ..status(1, 1, 1)
        }));
        assert_eq!(
            h.watch_line().unwrap(),
            format!(
                "watching 1 folder and 1 file (rescanning); 1,204 uploaded, 1 skipped, 3 failed since {since}; uploading 1 file, 1 settling"
            )
        );
        assert_eq!(h.found_files - h.done_files, 1);
    }

    /// Progress lines come further apart as the run gets long (not in a watch), so their
    /// number grows with the logarithm of its length.
    #[test]
    fn progress_lines_thin_out_over_a_long_run() {
        let every = Duration::from_secs(15);
        let min = |m: u64| Duration::from_secs(60 * m);
        assert_eq!(stretched(every, min(10), false), every);
        assert_eq!(stretched(every, min(60), false), min(1));
        assert_eq!(stretched(every, min(600), false), min(10));
        assert_eq!(stretched(every, min(600), true), every, "a watch keeps it");
        // Lines in a year of 15 s progress: about 60 in the first 15 minutes, then
        // 60 per e-fold of the elapsed time.
        let (mut at, mut lines, year) = (Duration::ZERO, 0, min(365 * 24 * 60));
        while at < year {
            at += stretched(every, at, false);
            lines += 1;
        }
        assert!(
            (600..800).contains(&lines),
            "{lines} progress lines in a year"
        );
    }

    #[test]
    fn big_hashes_and_transfers_get_their_own_bars() {
        let screen = Screen::default();
        let settings = OutputSettings {
            json: false,
            quiet: false,
            verbose: 0,
            color: false,
            bars: true,
            progress_every: None,
        };
        let mut h = Human::with_term(&settings, false, false, Box::new(screen.clone()));
        let drawn = || screen.0.lock().unwrap().clone();
        h.event(Event::Found {
            files: 1,
            bytes: 100 << 20,
        });
        let hashed = Progress::default();
        h.event(Event::HashStart {
            id: 1,
            path: "./big.bin".into(),
            size: Some(100 << 20),
            meter: hashed.clone(),
        });
        hashed.add(50 << 20);
        h.tick(&Summary::default());
        let text = drawn();
        assert!(
            text.lines().any(|l| l.contains("hashing")
                && l.contains("./big.bin")
                && l.contains("50.00 MiB/100.00 MiB")),
            "a hashing bar: {text}"
        );
        h.event(Event::HashEnd { id: 1 });
        // Standard input: the bytes read so far, with no total.
        let read = Progress::default();
        h.event(Event::HashStart {
            id: 3,
            path: "-".into(),
            size: None,
            meter: read.clone(),
        });
        read.add(3 << 20);
        h.tick(&Summary::default());
        let text = drawn();
        assert!(
            text.lines()
                .any(|l| l.contains("reading") && l.contains(" - ") && l.contains("3.00 MiB")),
            "a reading bar: {text}"
        );
        h.event(Event::HashEnd { id: 3 });
        let sent = Progress::default();
        h.event(Event::TransferStart {
            id: 2,
            path: "./big.bin".into(),
            size: 100 << 20,
            meter: sent.clone(),
        });
        sent.add(10 << 20);
        h.tick(&Summary::default());
        let text = drawn();
        assert!(
            text.lines().any(|l| l.contains("uploading")
                && l.contains("./big.bin")
                && l.contains("10.00 MiB/100.00 MiB")),
            "a transfer bar: {text}"
        );
        assert!(
            text.lines()
                .any(|l| l.contains("uploading [") && l.contains("0/1… files")),
            "the overall bar: {text}"
        );
        h.close();
    }

    #[test]
    fn the_lines_of_a_batch_are_written_together_in_order() {
        let settings = OutputSettings {
            json: false,
            quiet: false,
            verbose: 0,
            color: false,
            bars: false,
            progress_every: None,
        };
        let mut h = Human::new(&settings, true, false);
        let file = |path: &str| {
            Event::File(crate::event::FileReport {
                path: path.into(),
                filename: path.into(),
                size: Some(4),
                md5: Some("00".repeat(16)),
                mime_type: Some("text/plain".into()),
                outcome: Outcome::Planned,
                asset_id: None,
                status: None,
                error: None,
                note: None,
                took: None,
            })
        };
        h.begin_batch();
        h.event(file("a.txt"));
        h.event(Event::Warning("look".into()));
        h.event(file("b.txt"));
        let held = h.held.borrow().clone().unwrap();
        let lines: Vec<&str> = held.lines().collect();
        assert_eq!(lines.len(), 3, "{held}");
        assert!(
            lines[0].contains("a.txt") && lines[2].contains("b.txt"),
            "{held}"
        );
        assert!(lines[1].contains("look"), "{held}");
        assert_eq!(h.done_files, 2, "counted as they come");
        h.end_batch();
        assert!(h.held.borrow().is_none(), "written at the end of the batch");
    }
}
