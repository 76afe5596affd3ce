//! GitHub Actions (`docs/interface.md#ci`): `::error` workflow commands for failed
//! files, a Markdown job summary and step outputs.
//!
//! Everything a file name or a server can influence is escaped by GitHub's rules for
//! workflow commands (actions/toolkit `command.ts`: `%`, `\r`, `\n` in data, and also `:`
//! and `,` in properties), so no name can end a command or start another; in the Markdown
//! summary it is escaped so that no name can break the table or inject HTML.

use crate::settings::GithubFiles;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::format;
use super::sink::Lost;
use crate::event::{FileReport, Outcome, Summary};

/// At most this many `::error` lines; the rest are counted in one `::warning::`.
pub const MAX_ANNOTATIONS: usize = 10;
/// At most this many failed files listed in the job summary.
pub const MAX_SUMMARY_ROWS: usize = 50;

/// Collects what GitHub is told about the run.
#[derive(Debug)]
pub struct Github {
    files: GithubFiles,
    annotations: usize,
    /// Failed files beyond MAX_ANNOTATIONS.
    unannotated: u64,
    /// The first MAX_SUMMARY_ROWS failed files: (path, reason).
    failures: Vec<(String, String)>,
}

impl Github {
    pub fn new(files: GithubFiles) -> Github {
        Github {
            files,
            annotations: 0,
            unannotated: 0,
            failures: Vec::new(),
        }
    }

    /// The workflow command to print for a finished file, if any.
    pub fn file(&mut self, r: &FileReport) -> Option<String> {
        if r.outcome != Outcome::Failed {
            return None;
        }
        let reason = r.error.as_deref().unwrap_or("failed");
        if self.failures.len() < MAX_SUMMARY_ROWS {
            self.failures.push((r.path.clone(), reason.to_string()));
        }
        if self.annotations >= MAX_ANNOTATIONS {
            self.unannotated += 1;
            return None;
        }
        self.annotations += 1;
        Some(error_command(&r.path, reason))
    }

    /// At the end: the `::warning::` line for failures not annotated (if any), and the
    /// job summary and the step outputs written; a file that cannot be written is a lost
    /// output (later steps must not read an empty output as success).
    pub fn finish(&self, s: &Summary, dry_run: bool) -> (Vec<String>, Vec<Lost>) {
        let mut lines = Vec::new();
        let mut lost = Vec::new();
        if self.unannotated > 0 {
            lines.push(format!(
                "::warning title=chief-upload::{}",
                escape_data(&format!(
                    "{} more files failed (only the first {MAX_ANNOTATIONS} are annotated; see the job summary or the log)",
                    self.unannotated
                ))
            ));
        }
        let mut write = |path: &Option<PathBuf>, what: &str, text: String| {
            let Some(path) = path else { return };
            if let Err(e) = append(path, &text) {
                lost.push(Lost {
                    what: format!("{what} to '{}'", path.display()),
                    reason: crate::io_words::io_reason(&e),
                });
            }
        };
        write(
            &self.files.step_summary,
            "the job summary (GITHUB_STEP_SUMMARY)",
            self.summary_markdown(s, dry_run),
        );
        write(
            &self.files.output,
            "the step outputs (GITHUB_OUTPUT)",
            outputs(s),
        );
        (lines, lost)
    }

    /// The Markdown job summary: counts, bytes, time, and the failed files.
    pub fn summary_markdown(&self, s: &Summary, dry_run: bool) -> String {
        let mut md = String::from("### chief-upload\n\n");
        md.push_str(&format!(
            "{}\n\n",
            markdown(&format::summary_line(s, dry_run))
        ));
        md.push_str("| outcome | files |\n|---|---:|\n");
        let mut row = |name: &str, n: u64| md.push_str(&format!("| {name} | {n} |\n"));
        if dry_run {
            row("planned", s.planned);
        } else {
            row("uploaded", s.uploaded);
            row("skipped", s.skipped);
        }
        row("failed", s.failed);
        row("excluded", s.excluded);
        row("not attempted", s.not_attempted);
        md.push_str(&format!(
            "\n{} uploaded in {}.\n",
            format::bytes(s.bytes_uploaded),
            crate::duration::approx(s.elapsed)
        ));
        if !self.failures.is_empty() {
            md.push_str("\n#### Failed files\n\n| file | reason |\n|---|---|\n");
            for (path, reason) in &self.failures {
                md.push_str(&format!("| {} | {} |\n", markdown(path), markdown(reason)));
            }
            let more = s.failed.saturating_sub(self.failures.len() as u64);
            if more > 0 {
                md.push_str(&format!("\n…and {more} more failed files (see the log).\n"));
            }
        }
        md.push('\n');
        md
    }
}

/// `::error file=PATH,title=chief-upload::REASON`
pub fn error_command(path: &str, reason: &str) -> String {
    format!(
        "::error file={},title=chief-upload::{}",
        escape_property(path),
        escape_data(reason)
    )
}

/// The step outputs, one `name=value` a line.
pub fn outputs(s: &Summary) -> String {
    format!(
        "uploaded={}\nskipped={}\nfailed={}\nbytes_uploaded={}\n",
        s.uploaded, s.skipped, s.failed, s.bytes_uploaded
    )
}

/// A workflow command's message.
pub fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A workflow command's property value.
pub fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// Text for a Markdown table cell: no line breaks, no table or code delimiters, no HTML.
pub fn markdown(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' | '\n' => out.push(' '),
            '|' | '`' | '\\' | '*' | '_' | '[' | ']' | '#' | '~' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push_str(&c.escape_default().to_string()),
            c => out.push(c),
        }
    }
    out
}

fn append(path: &Path, text: &str) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_data()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(path: &str, error: &str) -> FileReport {
        FileReport {
            error: Some(error.into()),
            ..FileReport::for_test(path, Outcome::Failed)
        }
    }

    #[test]
    fn hostile_names_cannot_start_a_command_or_break_a_property() {
        let line = error_command("x\n::add-mask::secret", "bad\r\n::stop-commands::t 100%");
        assert_eq!(line.lines().count(), 1, "{line}");
        assert_eq!(
            line,
            "::error file=x%0A%3A%3Aadd-mask%3A%3Asecret,title=chief-upload::bad%0D%0A::stop-commands::t 100%25"
        );
        let line = error_command("a,b:c.txt", "r");
        assert_eq!(line, "::error file=a%2Cb%3Ac.txt,title=chief-upload::r");
    }

    #[test]
    fn annotations_are_capped_and_the_rest_counted() {
        let dir = tempfile::tempdir().unwrap();
        let files = GithubFiles {
            step_summary: Some(dir.path().join("summary.md")),
            output: Some(dir.path().join("out")),
        };
        let mut gh = Github::new(files.clone());
        let lines: Vec<String> = (0..60)
            .filter_map(|i| gh.file(&failed(&format!("f{i}"), "HTTP 400")))
            .collect();
        assert_eq!(lines.len(), MAX_ANNOTATIONS);
        let s = Summary {
            failed: 60,
            uploaded: 3,
            bytes_uploaded: 2048,
            ..Summary::default()
        };
        let (end, lost) = gh.finish(&s, false);
        assert_eq!(lost, vec![]);
        assert_eq!(end.len(), 1, "{end:?}");
        assert!(
            end[0].starts_with("::warning") && end[0].contains("50 more"),
            "{end:?}"
        );
        let md = std::fs::read_to_string(files.step_summary.unwrap()).unwrap();
        let rows = md
            .lines()
            .filter(|l| {
                l.strip_prefix("| f")
                    .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()))
            })
            .count();
        assert_eq!(rows, MAX_SUMMARY_ROWS, "{md}");
        assert!(md.contains("…and 10 more"), "{md}");
        assert!(md.contains("| uploaded | 3 |"), "{md}");
        let out = std::fs::read_to_string(files.output.unwrap()).unwrap();
        assert_eq!(
            out,
            "uploaded=3\nskipped=0\nfailed=60\nbytes_uploaded=2048\n"
        );
    }

    #[test]
    fn markdown_cells_stay_in_their_table() {
        let mut gh = Github::new(GithubFiles::default());
        gh.file(&failed("a|b\n| x | y |<script>`c`", "why|<b>"));
        let md = gh.summary_markdown(&Summary::default(), false);
        let row = md
            .lines()
            .find(|l| l.contains("script"))
            .expect("a row for the file");
        // Three unescaped pipes: the row's own borders and separator only.
        let bare = row.replace("\\|", "");
        assert_eq!(bare.matches('|').count(), 3, "{row}");
        assert!(!row.contains('<') && row.contains("\\`c\\`"), "{row}");
        assert!(!md.contains("<script>") && !md.contains("<b>"), "{md}");
    }
}
