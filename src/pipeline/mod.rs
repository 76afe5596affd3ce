//! The run: walk -> hash -> create asset -> upload, as three overlapping stages with
//! bounded queues between them, so memory stays flat whatever the number or size of files.
//!
//! * The walk runs on one blocking thread and streams files into a queue (`run`, here).
//! * Hashing runs on up to one blocking thread per core; it consults the hash cache first
//!   (`prepare.rs`).
//! * Up to `-j` files talk to the API and storage at once, a number fixed or adapted during
//!   the run (`http::limit::Limiter`). Files with the same content in one run are uploaded
//!   once: the first is the leader, the others wait for it and report its asset
//!   (`dedup.rs`).
//! * One file's create, upload and URL renewal (`upload.rs`).
//!
//! The pipeline never prints: everything goes out as `Event`s, and every outcome goes
//! through `Ctx::finish`, once per file.

mod dedup;
mod prepare;
mod upload;

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::api::{ApiClient, ApiError};
use crate::cache::HashCache;
use crate::cli::IfNoFiles;
use crate::event::{Event, FileReport, Outcome, Reporter, Summary, TaskId};
use crate::http::limit::Limiter;
use crate::http::Bandwidth;
use crate::settings::{Mode, Settings};
use crate::transfer::Uploader;
use crate::walk::{self, WalkItem};

use dedup::{upload_stage, InRun};
use prepare::{hash_stage, Prepared};
use upload::Remote;

/// How the run ended, beyond the counts.
#[derive(Debug)]
pub struct RunResult {
    pub summary: Summary,
    /// The API refused the credentials or answered a redirect: the run stopped (exit 2).
    pub auth_error: Option<ApiError>,
    /// `--if-no-files error` and there was no file: why the run fails (exit 1).
    pub no_files: Option<String>,
}

struct Ctx {
    reporter: Reporter,
    cancel: CancellationToken,
    tally: Mutex<Summary>,
    found: AtomicU64,
    /// Files left out by a filter or another shard.
    excluded: AtomicU64,
    next_id: AtomicU64,
    in_run: InRun,
    auth_error: Mutex<Option<ApiError>>,
}

impl Ctx {
    fn new(reporter: Reporter, cancel: CancellationToken) -> Ctx {
        Ctx {
            reporter,
            cancel,
            tally: Mutex::new(Summary::default()),
            found: AtomicU64::new(0),
            excluded: AtomicU64::new(0),
            next_id: AtomicU64::new(0),
            in_run: InRun::default(),
            auth_error: Mutex::new(None),
        }
    }

    fn id(&self) -> TaskId {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Every outcome goes through here: counted, then reported.
    fn finish(&self, report: FileReport) {
        self.tally
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .count(&report);
        self.reporter.emit(Event::File(report));
    }

    /// Every file left out goes through here, whatever left it out (a filter of the walk,
    /// another shard): it gets no file line, only its count in the summary.
    fn exclude(&self) {
        self.excluded.fetch_add(1, Ordering::Relaxed);
        self.reporter.emit(Event::Excluded);
    }
}

fn failed_report(display: String, error: String) -> FileReport {
    FileReport {
        filename: file_name(Path::new(&display)),
        path: display,
        size: None,
        md5: None,
        mime_type: None,
        outcome: Outcome::Failed,
        asset_id: None,
        status: None,
        error: Some(error),
        note: None,
    }
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| p.to_string_lossy().into_owned())
}

/// Runs the whole upload (or dry run) and reports everything through `reporter`. The last
/// event sent is `Event::Summary`.
pub async fn run(
    settings: Arc<Settings>,
    reporter: Reporter,
    cancel: CancellationToken,
) -> anyhow::Result<RunResult> {
    let started = Instant::now();
    let limiter = Limiter::new(settings.jobs, reporter.clone());
    let remote = match &settings.mode {
        Mode::DryRun => None,
        Mode::Upload(api) => Some(Arc::new(Remote {
            api: ApiClient::new(
                api,
                settings.retry.clone(),
                settings.timeout,
                limiter.clone(),
                reporter.clone(),
            )?,
            uploader: Uploader::new(
                settings.retry.clone(),
                settings.timeout,
                limiter.clone(),
                settings.bwlimit.map(|rate| Arc::new(Bandwidth::new(rate))),
                reporter.clone(),
            )?,
        })),
    };
    let cache = if let Some(path) = settings.cache.clone() {
        // A cache that cannot be opened never stops an upload: the run hashes everything.
        match tokio::task::spawn_blocking(move || HashCache::open(&path)).await {
            Ok(Ok(c)) => Some(Arc::new(c)),
            Ok(Err(e)) => {
                reporter.warn(format!("hash cache unavailable, hashing every file: {e:#}"));
                None
            }
            Err(_) => None,
        }
    } else {
        None
    };
    let ctx = Arc::new(Ctx::new(reporter.clone(), cancel.clone()));

    // Stage 1: walk.
    let (walk_tx, walk_rx) = mpsc::channel::<WalkItem>(1024);
    let walker = {
        let settings = settings.clone();
        let cancel = cancel.clone();
        let ctx = ctx.clone();
        tokio::task::spawn_blocking(move || {
            let mut seen: HashSet<(u64, u64)> = HashSet::new();
            // What `--if-no-files` judges: what the filters let through, before sharding
            // (a shard with no file of its own is no mistake).
            let mut candidates = 0u64;
            walk::walk(&settings.walk, &settings.filter, None, &mut |item| {
                if cancel.is_cancelled() {
                    return false;
                }
                match &item {
                    WalkItem::Excluded { .. } => {
                        ctx.exclude();
                        return true;
                    }
                    WalkItem::File(f) => {
                        candidates += 1;
                        if settings.shard.is_some_and(|s| !s.holds(&f.display)) {
                            ctx.exclude();
                            return true;
                        }
                        // Each file gets exactly one outcome, however often it is reached.
                        // (16 bytes a file: 1.6 MB for 100,000 files.)
                        if f.identity.is_some_and(|id| !seen.insert(id)) {
                            ctx.reporter.warn(format!(
                                "skipped {}: the same file was reached before (given twice, or a hard link)",
                                f.display
                            ));
                            return true;
                        }
                        ctx.found.fetch_add(1, Ordering::Relaxed);
                        ctx.reporter.emit(Event::Found { size: f.size });
                    }
                    // It gets an outcome too, so it counts among the files found. It is
                    // not sharded: a path that cannot be walked may hold files of every
                    // shard, so every shard reports it.
                    WalkItem::Failed { .. } => {
                        candidates += 1;
                        ctx.found.fetch_add(1, Ordering::Relaxed);
                        ctx.reporter.emit(Event::Found { size: 0 });
                    }
                    WalkItem::Skipped { .. } => {}
                }
                walk_tx.blocking_send(item).is_ok()
            });
            ctx.reporter.emit(Event::WalkDone);
            candidates
        })
    };

    // Stage 2: hash, one blocking thread per core.
    let (hashed_tx, hashed_rx) = mpsc::channel::<Prepared>(1024);
    let hasher = tokio::spawn(hash_stage(ctx.clone(), walk_rx, hashed_tx, cache.clone()));

    // Stage 3: create and upload, as many at a time as the limiter admits; a dry run only
    // reports the plan.
    let uploads = match remote {
        Some(remote) => tokio::spawn(upload_stage(ctx.clone(), remote, limiter, hashed_rx)),
        None => tokio::spawn(plan_stage(ctx.clone(), hashed_rx)),
    };

    let _ = hasher.await;
    let _ = uploads.await;
    // After Ctrl-C the walk may be blocked reading a --files-from pipe: leave it behind
    // (and do not judge a walk that did not finish).
    let candidates = if cancel.is_cancelled() {
        None
    } else {
        walker.await.ok()
    };
    if let Some(cache) = cache {
        let _ = tokio::task::spawn_blocking(move || cache.flush()).await;
    }

    let mut summary = ctx.tally.lock().unwrap_or_else(|e| e.into_inner()).clone();
    summary.elapsed = started.elapsed();
    let auth_error = ctx
        .auth_error
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take();
    summary.interrupted = cancel.is_cancelled() && auth_error.is_none();
    summary.not_attempted = ctx
        .found
        .load(Ordering::Relaxed)
        .saturating_sub(summary.done());
    summary.excluded = ctx.excluded.load(Ordering::Relaxed);
    let mut no_files = None;
    if candidates == Some(0) {
        let why = nothing_to_upload(summary.excluded);
        match settings.if_no_files {
            IfNoFiles::Warn => reporter.warn(why),
            IfNoFiles::Error => no_files = Some(why),
            IfNoFiles::Ignore => {}
        }
    }
    reporter.emit(Event::Summary(summary.clone()));
    Ok(RunResult {
        summary,
        auth_error,
        no_files,
    })
}

/// What `--if-no-files` says when the PATHs hold no file to upload.
fn nothing_to_upload(excluded: u64) -> String {
    match excluded {
        0 => "nothing to upload: the PATHs hold no file".into(),
        1 => "nothing to upload: the only file found was left out by --include/--exclude".into(),
        n => format!("nothing to upload: all {n} files found were left out by --include/--exclude"),
    }
}

/// The next item of a stage's input, or `None` when it is over or the run is stopping.
async fn recv_or_cancel<T>(rx: &mut mpsc::Receiver<T>, cancel: &CancellationToken) -> Option<T> {
    tokio::select! {
        item = rx.recv() => item,
        () = cancel.cancelled() => None,
    }
}

/// A dry run's last stage: each hashed file is what would be sent.
async fn plan_stage(ctx: Arc<Ctx>, mut rx: mpsc::Receiver<Prepared>) {
    while let Some(p) = recv_or_cancel(&mut rx, &ctx.cancel).await {
        ctx.finish(p.report(Outcome::Planned));
    }
}
