//! GitLab CI (`docs/interface.md#ci`): the job log's collapsible sections.
//!
//! The walk and the upload each sit in a section, collapsed when the log is shown (the
//! walk's lasts until every file is found; the files are uploaded meanwhile, and the
//! second section holds the rest). After the last section come the failed files again,
//! where they are seen without opening anything, then the summary, last.
//!
//! The markers are those of GitLab's custom collapsible sections:
//! `ESC[0Ksection_start:UNIX_TIME:NAME[collapsed=true]\rESC[0KHEADER` and
//! `ESC[0Ksection_end:UNIX_TIME:NAME\rESC[0K`, a name of letters, digits, `_`, `.`
//! and `-`. Nothing a file name holds reaches a marker.

use std::time::{SystemTime, UNIX_EPOCH};

use super::format::{file_line, files, thousands};
use crate::event::{FileReport, Outcome};

/// At most this many failed files listed again after the sections; each has its line
/// in the sections anyway.
pub const MAX_RECAP: usize = 50;

/// The sections' names.
pub const WALK_SECTION: &str = "chief_upload_walk";
pub const UPLOAD_SECTION: &str = "chief_upload_upload";

/// What the job log is told, as the run goes.
#[derive(Debug)]
pub struct Gitlab {
    dry_run: bool,
    watch: bool,
    /// The section open now.
    open: Option<&'static str>,
    /// The lines of the first MAX_RECAP failed files.
    failures: Vec<String>,
}

impl Gitlab {
    /// The log's first line opens the walk's section.
    pub fn start(dry_run: bool, watch: bool) -> (Gitlab, String) {
        let mut g = Gitlab {
            dry_run,
            watch,
            open: None,
            failures: Vec::new(),
        };
        let doing = if dry_run { "hashing" } else { "uploading" };
        let line = g.open(
            WALK_SECTION,
            &format!("chief-upload: finding the files ({doing} them as they are found)"),
        );
        (g, line)
    }

    /// Every file is found (in a watch: the first pass is over): the walk's section
    /// closes, the upload's opens.
    pub fn walk_done(&mut self, found: u64) -> Vec<String> {
        let mut lines: Vec<String> = self.close().into_iter().collect();
        let found = match found {
            1 => "1 file".to_string(),
            n => format!("{} files", thousands(n)),
        };
        let header = if self.watch {
            format!("chief-upload: the first pass found {found}; watching for more")
        } else if self.dry_run {
            format!("chief-upload: {found} found; hashing the rest")
        } else {
            format!("chief-upload: {found} found; uploading the rest")
        };
        lines.push(self.open(UPLOAD_SECTION, &header));
        lines
    }

    /// A file's outcome: the first failures are kept to be listed again.
    pub fn file(&mut self, r: &FileReport) {
        if r.outcome == Outcome::Failed && self.failures.len() < MAX_RECAP {
            self.failures.push(file_line(r));
        }
    }

    /// The run is over, `failed` files failed (the ledger's count): the open section
    /// closes, and the failed files follow it.
    pub fn finish(&mut self, failed: u64) -> Vec<String> {
        let mut lines: Vec<String> = self.close().into_iter().collect();
        if failed > 0 {
            lines.push(format!("chief-upload: {} failed:", files(failed)));
            let listed = self.failures.len() as u64;
            lines.append(&mut self.failures);
            let more = failed.saturating_sub(listed);
            if more > 0 {
                lines.push(format!(
                    "…and {more} more (each has its line in the sections above)"
                ));
            }
        }
        lines
    }

    /// Closes the open section, if any: what follows is outside.
    pub fn close(&mut self) -> Option<String> {
        self.open.take().map(|name| section_end(name, unix_now()))
    }

    fn open(&mut self, name: &'static str, header: &str) -> String {
        self.open = Some(name);
        section_start(name, header, unix_now())
    }
}

/// `ESC[0Ksection_start:TIME:NAME[collapsed=true]\rESC[0KHEADER`
pub fn section_start(name: &str, header: &str, time: u64) -> String {
    format!("\x1b[0Ksection_start:{time}:{name}[collapsed=true]\r\x1b[0K{header}")
}

/// `ESC[0Ksection_end:TIME:NAME\rESC[0K`
pub fn section_end(name: &str, time: u64) -> String {
    format!("\x1b[0Ksection_end:{time}:{name}\r\x1b[0K")
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(i: usize) -> FileReport {
        FileReport {
            error: Some("HTTP 400".into()),
            ..FileReport::for_test(&format!("./f{i}"), Outcome::Failed)
        }
    }

    #[test]
    fn markers_have_gitlabs_shape() {
        assert_eq!(
            section_start("chief_upload_walk", "Header", 1560896352),
            "\u{1b}[0Ksection_start:1560896352:chief_upload_walk[collapsed=true]\r\u{1b}[0KHeader"
        );
        assert_eq!(
            section_end("chief_upload_walk", 1560896353),
            "\u{1b}[0Ksection_end:1560896353:chief_upload_walk\r\u{1b}[0K"
        );
        for name in [WALK_SECTION, UPLOAD_SECTION] {
            assert!(name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)));
        }
    }

    #[test]
    fn sections_close_in_order_and_failures_follow_capped() {
        let (mut g, first) = Gitlab::start(false, false);
        assert!(first.contains("section_start:") && first.contains(WALK_SECTION));
        let turn = g.walk_done(1234);
        assert_eq!(turn.len(), 2);
        assert!(turn[0].contains("section_end:") && turn[0].contains(WALK_SECTION));
        assert!(
            turn[1].contains(UPLOAD_SECTION)
                && turn[1].ends_with("1,234 files found; uploading the rest"),
            "{turn:?}"
        );
        for i in 0..60 {
            g.file(&failed(i));
        }
        let end = g.finish(60);
        assert!(end[0].contains("section_end:") && end[0].contains(UPLOAD_SECTION));
        assert_eq!(end[1], "chief-upload: 60 files failed:");
        assert_eq!(end.len(), 2 + MAX_RECAP + 1, "{end:?}");
        assert!(end[2].starts_with("failed   ./f0 "), "{end:?}");
        assert!(end.last().unwrap().starts_with("…and 10 more ("), "{end:?}");
        assert_eq!(g.close(), None, "nothing left open");
    }
}
