//! Standard input as one file (`-` as a PATH, named by `--name`): read to its end into a
//! spool (`crate::spool`) while it is hashed, on a blocking thread of its own, then handed
//! to the upload stage as any hashed file (or given its outcome, planned, in a dry run).
//! Filters, the shard and the hash cache do not apply to it: it has no path or identity
//! on disk.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use tokio::task::JoinHandle;

use super::prepare::{NextStage, Prepared};
use super::{failed_report, nfc, Ctx, Outbox};
use crate::event::{Event, FileReport, Outcome, Progress};
use crate::hash;
use crate::io_words::io_reason;
use crate::settings::StdinSettings;
use crate::spool::{self, SpoolError};
use crate::transfer::UploadSource;

/// Its `path` in the file lines.
pub(super) const DISPLAY: &str = "-";

/// Reads standard input on a blocking thread, and hands it on to `then`.
pub(super) fn start(ctx: &Arc<Ctx>, stdin: &StdinSettings, then: NextStage) -> JoinHandle<()> {
    let (ctx, stdin) = (ctx.clone(), stdin.clone());
    tokio::task::spawn_blocking(move || take(&ctx, &stdin, std::io::stdin().lock(), &then))
}

/// Spools and hashes `input`, then hands it to `then`. Blocking.
fn take(ctx: &Ctx, stdin: &StdinSettings, input: impl Read, then: &NextStage) {
    // Found now, its size once known: a run stopped while it is read counts it as not
    // attempted.
    ctx.found(1, 0);
    let started = Instant::now();
    let filename = nfc(&stdin.name);
    let id = ctx.id();
    let meter = Progress::default();
    ctx.reporter.emit(Event::HashStart {
        id,
        path: DISPLAY.into(),
        size: None,
        meter: meter.clone(),
    });
    let mut progress = |n: u64| {
        meter.add(n);
        !ctx.cancel.is_cancelled()
    };
    let spooled = spool::spool(input, &stdin.spool_dir, spool::MEMORY_MAX, &mut progress);
    ctx.reporter.emit(Event::HashEnd { id });
    let fail = |error: String| FileReport {
        filename: filename.clone(),
        took: Some(started.elapsed()),
        ..failed_report(DISPLAY.into(), error)
    };
    let (spool, hashed) = match spooled {
        Ok(s) => s,
        // Not attempted.
        Err(SpoolError::Stopped) => return,
        Err(SpoolError::Read(e)) => {
            let why = format!("cannot read standard input: {}", io_reason(&e));
            return Outbox::new(ctx).finish(fail(why));
        }
        Err(SpoolError::Write { dir, error }) => {
            let why = format!(
                "cannot keep standard input in {} (the temporary folder, TMPDIR) while it is hashed: {}; set TMPDIR to a folder with room for it",
                dir.display(),
                io_reason(&error)
            );
            return Outbox::new(ctx).finish(fail(why));
        }
    };
    ctx.found(0, hashed.size);
    let prepared = Prepared {
        display: DISPLAY.into(),
        mime: ctx.media_type(Path::new(&stdin.name), &hashed.head),
        filename,
        md5_hex: hash::to_hex(&hashed.md5),
        md5: hashed.md5,
        size: hashed.size,
        source: UploadSource::Spool(Arc::new(spool)),
        started,
    };
    match then {
        NextStage::Plan => Outbox::new(ctx).finish(prepared.report(Outcome::Planned)),
        NextStage::Pass(tx) => {
            // The upload stage is gone only when the run is stopping.
            let _ = tx.blocking_send(prepared);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Inbox, Reporter};
    use crate::ledger::Ledger;
    use tokio_util::sync::CancellationToken;

    fn settings(dir: &Path, name: &str) -> StdinSettings {
        StdinSettings {
            name: name.into(),
            spool_dir: dir.to_path_buf(),
        }
    }

    /// The file lines sent so far.
    fn file_lines(events: &mut Inbox) -> Vec<FileReport> {
        events
            .drain()
            .filter_map(|e| match e {
                Event::Batch(b) => Some(b.events),
                _ => None,
            })
            .flatten()
            .filter_map(|e| match e {
                Event::File(r) => Some(r),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn standard_input_is_one_file_named_in_nfc_and_typed_by_its_name_or_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let (reporter, mut events) = Reporter::channel();
        let ctx = Ctx::new(reporter, Ledger::unheard(), CancellationToken::new());
        let plan = NextStage::Plan;
        take(
            &ctx,
            &settings(dir.path(), "Cafe\u{301}.txt"),
            &b"hello"[..],
            &plan,
        );
        let png = b"\x89PNG\r\n\x1a\n....";
        take(&ctx, &settings(dir.path(), "render"), &png[..], &plan);
        take(&ctx, &settings(dir.path(), "empty"), &b""[..], &plan);
        let reports = file_lines(&mut events);
        let shown: Vec<_> = reports
            .iter()
            .map(|r| {
                (
                    r.path.as_str(),
                    r.filename.as_str(),
                    r.size,
                    r.mime_type.as_deref(),
                    r.outcome,
                )
            })
            .collect();
        assert_eq!(
            shown,
            [
                (
                    "-",
                    "Caf\u{e9}.txt",
                    Some(5),
                    Some("text/plain"),
                    Outcome::Planned
                ),
                ("-", "render", Some(12), Some("image/png"), Outcome::Planned),
                (
                    "-",
                    "empty",
                    Some(0),
                    Some(crate::media::FALLBACK),
                    Outcome::Planned
                ),
            ]
        );
        assert_eq!(
            reports[0].md5.as_deref(),
            Some("5d41402abc4b2a76b9719d911017c592")
        );

        // --mime-type wins over the name and the bytes.
        let ctx = Ctx {
            mime_type: Some("application/x-tar".into()),
            ..ctx
        };
        take(&ctx, &settings(dir.path(), "render.png"), &png[..], &plan);
        let typed = file_lines(&mut events);
        assert_eq!(typed[0].mime_type.as_deref(), Some("application/x-tar"));
    }

    /// A spool folder that cannot take the input fails the file, naming the folder and
    /// TMPDIR.
    #[test]
    fn a_spool_folder_that_takes_nothing_fails_the_file_by_name() {
        let (reporter, mut events) = Reporter::channel();
        let ctx = Ctx::new(reporter, Ledger::unheard(), CancellationToken::new());
        let big = vec![1u8; spool::MEMORY_MAX + 1];
        let missing = Path::new("/nonexistent/tmp");
        take(
            &ctx,
            &settings(missing, "big.bin"),
            &big[..],
            &NextStage::Plan,
        );
        let failed = file_lines(&mut events);
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].outcome, Outcome::Failed);
        let error = failed[0].error.as_deref().unwrap_or_default();
        assert!(
            error.contains("/nonexistent/tmp") && error.contains("TMPDIR"),
            "{error}"
        );
    }
}
