//! `--junit FILE`: a JUnit XML report (`docs/interface.md#junit`), the format the test
//! views of GitLab, Jenkins, Azure Pipelines, CircleCI and Buildkite read.
//!
//! One `<testsuite name="chief-upload">` (in a `<testsuites>`), one `<testcase>` per
//! file: `classname` its folder, `name` its file name, `time` from the start of its hash
//! to its outcome. A failed file has a `<failure>`; an uploaded or skipped file passes,
//! its asset in `<system-out>`; in a dry run every file is `<skipped/>`. The counts and
//! the run's time are attributes of the suite, known only at the end: the test cases
//! are written to a scratch file beside FILE as they come (a million of them never sit
//! in memory), and at the end the report is written to a temporary file beside FILE,
//! the suite's header first, synced, and renamed to FILE. A run killed at any moment
//! leaves a complete FILE or none, never half a document.
//!
//! Everything a file name or a server can influence is escaped for XML, and characters
//! XML cannot hold at all (control characters) are written as `\u{1b}`.

use std::fs::File;
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver};
use std::time::Instant;

use super::format;
use crate::event::{FileReport, Outcome, Summary};
use crate::exit::UsageError;

/// The end of the report, after the last test case.
const FOOTER: &str = "</testsuite>\n</testsuites>\n";

/// `--junit FILE`: its scratch file, created (and an old FILE removed) before anything
/// is uploaded.
pub struct JunitFile {
    path: PathBuf,
    scratch: File,
    /// The scratch file's name while it has one (on Unix it is removed at once: the run
    /// keeps it open, and nothing is left of it when the run ends, however it ends).
    scratch_path: Option<PathBuf>,
    /// When the run started, local time, as JUnit reports give it.
    timestamp: String,
}

impl JunitFile {
    /// Prepares `path`: its folder must exist and take a file. One that does not is a
    /// usage error, found before any upload rather than after a run that left no report.
    pub fn create(path: &Path) -> Result<JunitFile, UsageError> {
        let usage = |why: String| {
            UsageError::new(format!(
                "cannot write the JUnit report '{}': {why}",
                path.display()
            ))
            .hint("check that its folder exists and is writable, or pass another --junit FILE")
        };
        if path.is_dir() {
            return Err(usage("it is a folder".into()));
        }
        let scratch_path =
            beside(path, "scratch").ok_or_else(|| usage("it names no file".into()))?;
        let scratch = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&scratch_path)
            .map_err(|e| usage(crate::io_words::io_reason(&e)))?;
        // A report of an earlier run must not pass for this one's.
        if let Err(e) = std::fs::remove_file(path) {
            if e.kind() != io::ErrorKind::NotFound {
                let _ = std::fs::remove_file(&scratch_path);
                return Err(usage(format!(
                    "the old one cannot be removed: {}",
                    crate::io_words::io_reason(&e)
                )));
            }
        }
        // On Unix the open file lives on without a name, and dies with the process.
        let scratch_path = if cfg!(unix) && std::fs::remove_file(&scratch_path).is_ok() {
            None
        } else {
            Some(scratch_path)
        };
        Ok(JunitFile {
            path: path.to_path_buf(),
            scratch,
            scratch_path,
            timestamp: chrono::Local::now().format("%Y-%m-%dT%H:%M:%S").to_string(),
        })
    }

    /// The report as a message names it.
    pub(super) fn what(&self) -> String {
        format!("the JUnit report '{}'", self.path.display())
    }

    /// A handle to the scratch file for the writer of the test cases, and the rest, to
    /// write the report from it at the end.
    pub(super) fn split(self) -> io::Result<(File, Assembler)> {
        Ok((self.scratch.try_clone()?, Assembler { file: self }))
    }
}

/// What writes the report at the end, from the test cases in the scratch file.
pub(super) struct Assembler {
    file: JunitFile,
}

/// The report being written, on its own thread.
pub(super) struct Assembly {
    done: Receiver<io::Result<()>>,
}

impl Assembler {
    /// Writes the report (the suite's header from `summary`, then the test cases), on a
    /// thread of its own.
    pub(super) fn start(self, summary: &Summary, dry_run: bool) -> Assembly {
        let head = header(summary, dry_run, &self.file.timestamp);
        let (tx, done) = mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("chief-upload-junit".into())
            .spawn(move || {
                let mut file = self.file;
                let result = assemble(&mut file, &head);
                file.close();
                let _ = tx.send(result);
            });
        if let Err(e) = spawned {
            let (tx, failed) = mpsc::channel();
            let _ = tx.send(Err(e));
            return Assembly { done: failed };
        }
        Assembly { done }
    }

    /// No report (the run ended before it began): the scratch file goes.
    pub(super) fn discard(self) {
        self.file.close();
    }
}

impl Assembly {
    /// Waits until the report is in place, or until `deadline` (`None`: as long as it
    /// takes). `None`: not yet; the process may leave, and then no report is in place.
    pub(super) fn wait(self, deadline: Option<Instant>) -> Option<io::Result<()>> {
        match deadline {
            None => self.done.recv().ok(),
            Some(at) => self
                .done
                .recv_timeout(at.saturating_duration_since(Instant::now()))
                .ok(),
        }
    }
}

impl JunitFile {
    /// Closes the scratch file, then removes its name where it still has one: on Windows
    /// a file's name stays until its last handle is closed.
    fn close(self) {
        let JunitFile {
            scratch,
            scratch_path,
            ..
        } = self;
        drop(scratch);
        if let Some(p) = scratch_path {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// The report, written to a temporary file beside it and renamed into place once
/// complete and synced. The temporary file goes when anything fails.
fn assemble(f: &mut JunitFile, head: &str) -> io::Result<()> {
    let tmp = beside(&f.path, "tmp").ok_or_else(|| io::Error::other("no file name"))?;
    let result = (|| {
        let mut out = BufWriter::with_capacity(256 * 1024, File::create(&tmp)?);
        out.write_all(head.as_bytes())?;
        f.scratch.seek(SeekFrom::Start(0))?;
        io::copy(&mut f.scratch, &mut out)?;
        out.write_all(FOOTER.as_bytes())?;
        let file = out.into_inner().map_err(io::IntoInnerError::into_error)?;
        file.sync_all()?;
        std::fs::rename(&tmp, &f.path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// `.NAME.PID.WHAT` in the folder of `path`: the scratch and temporary files, on the
/// same file system as the report, so that the last step is a rename.
fn beside(path: &Path, what: &str) -> Option<PathBuf> {
    let name = path.file_name()?.to_string_lossy();
    Some(path.with_file_name(format!(".{name}.{}.{what}", std::process::id())))
}

/// The start of the report, up to the first test case: the counts of the run.
pub(super) fn header(s: &Summary, dry_run: bool, timestamp: &str) -> String {
    let tests = s.done();
    let skipped = if dry_run { s.planned } else { 0 };
    let time = seconds(s.elapsed.as_secs_f64());
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <testsuites name=\"chief-upload\" tests=\"{tests}\" failures=\"{failed}\" errors=\"0\" time=\"{time}\">\n\
         <testsuite name=\"chief-upload\" tests=\"{tests}\" failures=\"{failed}\" errors=\"0\" skipped=\"{skipped}\" time=\"{time}\" timestamp=\"{timestamp}\">\n\
         <properties>\n",
        failed = s.failed,
    );
    // The summary's counts, by the names of the JSON summary line.
    let mut property = |name: &str, value: String| {
        out.push_str(&format!("<property name=\"{name}\" value=\"{value}\"/>\n"));
    };
    if dry_run {
        property("planned", s.planned.to_string());
    } else {
        property("uploaded", s.uploaded.to_string());
        property("skipped", s.skipped.to_string());
    }
    property("failed", s.failed.to_string());
    property("bytes_uploaded", s.bytes_uploaded.to_string());
    property("excluded", s.excluded.to_string());
    property("not_attempted", s.not_attempted.to_string());
    if s.interrupted {
        property("interrupted", "true".into());
    }
    out.push_str("</properties>\n");
    out
}

/// One file's `<testcase>`, on one line.
pub(super) fn testcase(r: &FileReport) -> String {
    let time = seconds(r.took.map_or(0.0, |d| d.as_secs_f64()));
    let mut out = format!(
        "<testcase classname=\"{}\" name=\"{}\" time=\"{time}\">",
        escape(&classname(&r.path)),
        escape(&r.filename)
    );
    let asset = r.asset_id.as_deref().unwrap_or("-");
    match r.outcome {
        Outcome::Uploaded => {
            out.push_str(&format!(
                "<system-out>uploaded as {}</system-out>",
                escape(asset)
            ));
        }
        Outcome::Skipped => {
            let why = match &r.note {
                Some(note) => format!("skipped: {note}, as {asset}"),
                None => format!("skipped: already in the project as {asset}"),
            };
            out.push_str(&format!("<system-out>{}</system-out>", escape(&why)));
        }
        Outcome::Failed => {
            let reason = r.error.as_deref().unwrap_or("failed");
            out.push_str(&format!(
                "<failure message=\"{}\" type=\"failed\">{}</failure>",
                escape(reason),
                escape(&format!("{}: {reason}", r.path))
            ));
        }
        Outcome::Planned => {
            let size = r.size.map(format::bytes).unwrap_or_else(|| "-".into());
            let what = format!(
                "dry run: would upload {size} ({}, md5 {})",
                r.mime_type.as_deref().unwrap_or("-"),
                r.md5.as_deref().unwrap_or("-")
            );
            out.push_str(&format!("<skipped message=\"{}\"/>", escape(&what)));
        }
    }
    out.push_str("</testcase>\n");
    out
}

/// The folder of a file's path as the JSON lines give it, without a leading `./`
/// (CI systems split a class name at its dots); `.` for none.
pub(super) fn classname(path: &str) -> String {
    let path = path.strip_prefix("./").unwrap_or(path);
    match path.rfind('/') {
        Some(0) => "/".into(),
        Some(i) => path[..i].into(),
        None => ".".into(),
    }
}

/// Seconds with three decimals, as JUnit's schema writes them.
fn seconds(s: f64) -> String {
    format!("{s:.3}")
}

/// Text for an XML attribute value or element: the markup characters as entities, line
/// breaks and tabs as character references (so that a test case stays on one line and
/// an attribute keeps them), and what XML 1.0 cannot hold at all written out.
pub(super) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push_str(&format!("&#{};", u32::from(c))),
            c if c < ' ' || c == '\u{FFFE}' || c == '\u{FFFF}' => {
                out.extend(c.escape_default());
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn report(path: &str, outcome: Outcome) -> FileReport {
        FileReport {
            path: path.into(),
            filename: path.rsplit('/').next().unwrap().into(),
            size: Some(3),
            md5: Some("900150983cd24fb0d6963f7d28e17f72".into()),
            mime_type: Some("text/plain".into()),
            outcome,
            asset_id: Some("asset_0123456789abcdefghij".into()),
            status: None,
            error: (outcome == Outcome::Failed).then(|| "HTTP 400 <bad> & \"worse\"".into()),
            note: None,
            took: Some(Duration::from_millis(1234)),
        }
    }

    #[test]
    fn names_are_escaped_and_stay_on_one_line() {
        assert_eq!(
            escape("a<b>&\"c'\n\td\u{1b}é\u{FFFF}"),
            "a&lt;b&gt;&amp;&quot;c&apos;&#10;&#9;d\\u{1b}é\\u{ffff}"
        );
        let line = testcase(&report("./d/x<&\"'\ny.txt", Outcome::Failed));
        assert_eq!(line.lines().count(), 1, "{line}");
        assert!(
            line.starts_with(
                "<testcase classname=\"d\" name=\"x&lt;&amp;&quot;&apos;&#10;y.txt\" time=\"1.234\"><failure message=\"HTTP 400 &lt;bad&gt; &amp; &quot;worse&quot;\""
            ),
            "{line}"
        );
    }

    #[test]
    fn the_class_is_the_folder() {
        assert_eq!(classname("./dist/assets/app.js"), "dist/assets");
        assert_eq!(classname("./a.txt"), ".");
        assert_eq!(classname("a.txt"), ".");
        assert_eq!(classname("/srv/x/a.txt"), "/srv/x");
        assert_eq!(classname("/a.txt"), "/");
        assert_eq!(classname("../up/a.txt"), "../up");
    }

    #[test]
    fn each_outcome_has_its_shape() {
        let up = testcase(&report("./a/b.txt", Outcome::Uploaded));
        assert_eq!(
            up,
            "<testcase classname=\"a\" name=\"b.txt\" time=\"1.234\"><system-out>uploaded as asset_0123456789abcdefghij</system-out></testcase>\n"
        );
        let skip = testcase(&report("./a/b.txt", Outcome::Skipped));
        assert!(
            skip.contains("<system-out>skipped: already in the project as asset_0123456789abcdefghij</system-out>"),
            "{skip}"
        );
        let plan = testcase(&report("./a/b.txt", Outcome::Planned));
        assert!(
            plan.contains("<skipped message=\"dry run: would upload 3 B (text/plain, md5 900150983cd24fb0d6963f7d28e17f72)\"/>"),
            "{plan}"
        );
        let unread = testcase(&FileReport {
            took: None,
            ..report("x", Outcome::Failed)
        });
        assert!(unread.contains("time=\"0.000\""), "{unread}");
    }

    #[test]
    fn the_header_carries_the_counts() {
        let s = Summary {
            uploaded: 2,
            skipped: 1,
            failed: 1,
            bytes_uploaded: 9,
            not_attempted: 4,
            interrupted: true,
            elapsed: Duration::from_millis(2500),
            ..Summary::default()
        };
        let h = header(&s, false, "2025-01-02T03:04:05");
        assert!(
            h.contains("<testsuite name=\"chief-upload\" tests=\"4\" failures=\"1\" errors=\"0\" skipped=\"0\" time=\"2.500\" timestamp=\"2025-01-02T03:04:05\">"),
            "{h}"
        );
        for p in [
            "<property name=\"not_attempted\" value=\"4\"/>",
            "<property name=\"interrupted\" value=\"true\"/>",
        ] {
            assert!(h.contains(p), "{p} in {h}");
        }
        let dry = header(
            &Summary {
                planned: 3,
                ..Summary::default()
            },
            true,
            "t",
        );
        assert!(
            dry.contains("tests=\"3\" failures=\"0\" errors=\"0\" skipped=\"3\""),
            "{dry}"
        );
    }

    /// The report appears whole at the end, and never before; a scratch file is all
    /// there is meanwhile (and on Unix not even a name).
    #[test]
    fn the_report_appears_only_when_complete() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("junit.xml");
        std::fs::write(&path, "an old report").unwrap();
        let j = JunitFile::create(&path).unwrap();
        assert!(!path.exists(), "the old report is gone");
        let (mut scratch, asm) = j.split().unwrap();
        scratch
            .write_all(testcase(&report("./a.txt", Outcome::Uploaded)).as_bytes())
            .unwrap();
        assert!(!path.exists());
        // The writer of the test cases is done before the report is made, as in a run.
        drop(scratch);
        let s = Summary {
            uploaded: 1,
            ..Summary::default()
        };
        asm.start(&s, false).wait(None).unwrap().unwrap();
        let xml = std::fs::read_to_string(&path).unwrap();
        assert!(xml.starts_with("<?xml"), "{xml}");
        assert!(xml.ends_with(FOOTER), "{xml}");
        assert_eq!(xml.matches("<testcase ").count(), 1, "{xml}");
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, vec![std::ffi::OsString::from("junit.xml")]);
    }

    #[test]
    fn a_folder_or_a_missing_folder_is_a_usage_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = JunitFile::create(dir.path()).err().unwrap();
        assert!(err.message.contains("it is a folder"), "{err}");
        let err = JunitFile::create(&dir.path().join("no/such/junit.xml"))
            .err()
            .unwrap();
        assert!(err.message.contains("no such file or directory"), "{err}");
    }
}
