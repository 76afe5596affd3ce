//! `--json` and `--report`: newline-delimited JSON (`docs/interface.md#json`), built from
//! `Serialize` values by pure functions. `sink.rs` writes it.

use serde::Serialize;

use crate::event::{FileReport, Summary};

#[derive(Serialize)]
struct FileLine<'a> {
    event: &'static str,
    #[serde(flatten)]
    file: &'a FileReport,
}

pub fn file_json(r: &FileReport) -> String {
    serde_json::to_string(&FileLine {
        event: "file",
        file: r,
    })
    .unwrap_or_default()
}

#[derive(Serialize)]
struct SummaryLine {
    event: &'static str,
    uploaded: u64,
    skipped: u64,
    failed: u64,
    bytes_uploaded: u64,
    elapsed_seconds: f64,
    excluded: u64,
    not_attempted: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    planned: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    interrupted: Option<bool>,
}

pub fn summary_json(s: &Summary, dry_run: bool) -> String {
    let line = SummaryLine {
        event: "summary",
        uploaded: s.uploaded,
        skipped: s.skipped,
        failed: s.failed,
        bytes_uploaded: s.bytes_uploaded,
        elapsed_seconds: (s.elapsed.as_secs_f64() * 1000.0).round() / 1000.0,
        excluded: s.excluded,
        not_attempted: s.not_attempted,
        planned: dry_run.then_some(s.planned),
        interrupted: s.interrupted.then_some(true),
    };
    serde_json::to_string(&line).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Outcome;
    use std::time::Duration;

    #[test]
    fn shapes_are_pinned() {
        let r = FileReport {
            path: "./files/a b.png".into(),
            filename: "a b.png".into(),
            size: Some(3),
            md5: Some("900150983cd24fb0d6963f7d28e17f72".into()),
            mime_type: Some("image/png".into()),
            outcome: Outcome::Uploaded,
            asset_id: Some("asset_0123456789abcdefghij".into()),
            status: Some("uploaded".into()),
            error: None,
            note: Some("not in JSON".into()),
            took: Some(Duration::from_millis(12)),
        };
        assert_eq!(
            file_json(&r),
            r#"{"event":"file","path":"./files/a b.png","filename":"a b.png","size":3,"md5":"900150983cd24fb0d6963f7d28e17f72","mime_type":"image/png","outcome":"uploaded","asset_id":"asset_0123456789abcdefghij","status":"uploaded","error":null}"#
        );
        let s = Summary {
            uploaded: 1,
            skipped: 2,
            failed: 3,
            bytes_uploaded: 4,
            elapsed: Duration::from_millis(1500),
            ..Summary::default()
        };
        assert_eq!(
            summary_json(&s, false),
            r#"{"event":"summary","uploaded":1,"skipped":2,"failed":3,"bytes_uploaded":4,"elapsed_seconds":1.5,"excluded":0,"not_attempted":0}"#
        );
    }
}
