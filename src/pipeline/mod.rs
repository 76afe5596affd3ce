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
//! With `--watch` the walk is replaced by a long-lived source (`crate::watch`): the first
//! pass, then the files that appear or change. Between hashing and uploading, a file whose
//! content is what it was last sent as is dropped (`watch_gate`). A signal stops the
//! source at once and gives the files in flight `WATCH_GRACE` to finish.
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
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::api::{ApiClient, ApiError};
use crate::cache::HashCache;
use crate::cli::IfNoFiles;
use crate::event::{Event, FileReport, Outcome, Reporter, Summary, TaskId};
use crate::http::limit::Limiter;
use crate::http::{Bandwidth, Origins, Stop};
use crate::settings::{Mode, Settings};
use crate::transfer::Uploader;
use crate::walk::{self, WalkItem};
use crate::watch::{self, Watch};

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
    /// A failure no retry mends, or an outage longer than `--max-outage`: the run stopped.
    pub(crate) stopped: Option<Stop>,
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
    /// `--watch`: told about every file it took, and may withdraw an outcome.
    watch: Option<Arc<Watch>>,
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
            watch: None,
        }
    }

    fn watching(self, watch: Option<Arc<Watch>>) -> Ctx {
        Ctx { watch, ..self }
    }

    fn id(&self) -> TaskId {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// A file found: the totals grow.
    fn found(&self, size: u64) {
        self.found.fetch_add(1, Ordering::Relaxed);
        self.reporter.emit(Event::Found { size });
    }

    /// Every outcome goes through here: counted, then reported. In a watch, a file that
    /// failed because it changed or vanished meanwhile gets none (see `Watch::finished`).
    fn finish(&self, report: FileReport) {
        if let Some(w) = &self.watch {
            if !w.finished(&report) {
                self.withdraw(report.size.unwrap_or(0));
                return;
            }
        }
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

    /// A watch's file found (and counted) that gets no outcome after all.
    fn withdraw(&self, size: u64) {
        self.found.fetch_sub(1, Ordering::Relaxed);
        self.reporter.emit(Event::Withdrawn { size });
    }
}

/// How long a watch's files in flight may take to finish after a signal.
const WATCH_GRACE: Duration = Duration::from_secs(5);

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
    // What the run learns about the API and each storage host, shared by all requests.
    let origins = Arc::new(Origins::new(
        reporter.clone(),
        settings.max_outage,
        settings.retry.cap,
    ));
    let remote = match &settings.mode {
        Mode::DryRun => None,
        Mode::Upload(api) => Some(Arc::new(Remote {
            api: ApiClient::new(
                api,
                settings.retry.clone(),
                settings.timeout,
                limiter.clone(),
                origins.clone(),
                reporter.clone(),
            )?,
            uploader: Uploader::new(
                &api.network,
                settings.retry.clone(),
                settings.timeout,
                limiter.clone(),
                settings.bwlimit.map(|rate| Arc::new(Bandwidth::new(rate))),
                origins.clone(),
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
    let watch = match settings.watch.clone() {
        Some(ws) => {
            let (s, r) = (settings.clone(), reporter.clone());
            let open = tokio::task::spawn_blocking(move || Watch::open(s, ws, &r));
            Some(Arc::new(open.await?))
        }
        None => None,
    };
    // A watch ends on a signal without an interruption: the source stops taking files
    // (`soft`), and the files in flight get `WATCH_GRACE` before the stages stop (`stages`).
    let (stages, soft) = match &watch {
        None => (cancel.clone(), cancel.clone()),
        Some(w) => {
            let stages = CancellationToken::new();
            let soft = stages.child_token();
            tokio::spawn({
                let (w, cancel, stages, soft) =
                    (w.clone(), cancel.clone(), stages.clone(), soft.clone());
                async move {
                    cancel.cancelled().await;
                    soft.cancel();
                    w.wake();
                    tokio::time::sleep(WATCH_GRACE).await;
                    stages.cancel();
                }
            });
            (stages, soft)
        }
    };
    let ctx = Arc::new(Ctx::new(reporter.clone(), stages.clone()).watching(watch.clone()));

    // Stage 1: walk, or watch.
    let (walk_tx, walk_rx) = mpsc::channel::<WalkItem>(1024);
    let walker = if let Some(w) = watch.clone() {
        let feed = WatchFeed {
            ctx: ctx.clone(),
            tx: walk_tx,
            stop: soft.clone(),
            runtime: tokio::runtime::Handle::current(),
        };
        let soft = soft.clone();
        tokio::task::spawn_blocking(move || {
            w.run(&feed, &soft);
            // A watch has no "no files" to judge.
            None
        })
    } else {
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
                        ctx.found(f.size);
                    }
                    // It gets an outcome too, so it counts among the files found. It is
                    // not sharded: a path that cannot be walked may hold files of every
                    // shard, so every shard reports it.
                    WalkItem::Failed { .. } => {
                        candidates += 1;
                        ctx.found(0);
                    }
                    WalkItem::Skipped { .. } => {}
                }
                walk_tx.blocking_send(item).is_ok()
            });
            ctx.reporter.emit(Event::WalkDone);
            Some(candidates)
        })
    };

    // Stage 2: hash, one blocking thread per core.
    let (hashed_tx, hashed_rx) = mpsc::channel::<Prepared>(1024);
    let hasher = tokio::spawn(hash_stage(ctx.clone(), walk_rx, hashed_tx, cache.clone()));
    let hashed_rx = match &watch {
        Some(w) => {
            let (tx, rx) = mpsc::channel::<Prepared>(64);
            tokio::spawn(watch_gate(
                ctx.clone(),
                w.clone(),
                hashed_rx,
                tx,
                soft.clone(),
            ));
            rx
        }
        None => hashed_rx,
    };

    // Stage 3: create and upload, as many at a time as the limiter admits; a dry run only
    // reports the plan.
    let uploads = match remote {
        Some(remote) => tokio::spawn(upload_stage(ctx.clone(), remote, limiter, hashed_rx)),
        None => tokio::spawn(plan_stage(ctx.clone(), hashed_rx)),
    };

    if watch.is_some() {
        // The uploads end once the source stops and the files in flight are done; then
        // nothing more is hashed.
        let _ = uploads.await;
        stages.cancel();
        let _ = hasher.await;
    } else {
        let _ = hasher.await;
        let _ = uploads.await;
    }
    // After Ctrl-C the walk may be blocked reading a --files-from pipe: leave it behind
    // (and do not judge a walk that did not finish).
    let candidates = if cancel.is_cancelled() {
        None
    } else {
        walker.await.ok().flatten()
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
    let stopped = origins.stopped();
    // A signal is how a watch ends: no interruption.
    summary.interrupted =
        cancel.is_cancelled() && auth_error.is_none() && stopped.is_none() && watch.is_none();
    summary.not_attempted = ctx
        .found
        .load(Ordering::Relaxed)
        .saturating_sub(summary.done());
    summary.excluded = ctx.excluded.load(Ordering::Relaxed);
    let mut no_files = None;
    if candidates == Some(0) {
        let why = nothing_to_upload(summary.excluded, &settings.filter.describe());
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
        stopped,
    })
}

/// What `--if-no-files` says when the PATHs hold no file to upload; `filters` names the
/// filters in use (`Filter::describe`).
fn nothing_to_upload(excluded: u64, filters: &str) -> String {
    match excluded {
        0 => "nothing to upload: the PATHs hold no file".into(),
        1 => format!("nothing to upload: the only file found was left out by {filters}"),
        n => format!("nothing to upload: all {n} files found were left out by {filters}"),
    }
}

/// The next item of a stage's input, or `None` when it is over or the run is stopping.
async fn recv_or_cancel<T>(rx: &mut mpsc::Receiver<T>, cancel: &CancellationToken) -> Option<T> {
    tokio::select! {
        item = rx.recv() => item,
        () = cancel.cancelled() => None,
    }
}

/// Where a watch's files go: into the pipeline's first queue, counted as the walk counts.
struct WatchFeed {
    ctx: Arc<Ctx>,
    tx: mpsc::Sender<WalkItem>,
    stop: CancellationToken,
    runtime: tokio::runtime::Handle,
}

impl watch::Feed for WatchFeed {
    fn exclude(&self) {
        self.ctx.exclude();
    }

    fn has_room(&self) -> bool {
        self.tx.capacity() > 0
    }

    fn send(&self, item: WalkItem) -> bool {
        match &item {
            WalkItem::File(f) => self.ctx.found(f.size),
            WalkItem::Failed { .. } => self.ctx.found(0),
            WalkItem::Skipped { .. } | WalkItem::Excluded { .. } => {}
        }
        // On the watch's own (blocking) thread: wait for room, or for the stop.
        self.runtime.block_on(async {
            tokio::select! {
                sent = self.tx.send(item) => sent.is_ok(),
                () = self.stop.cancelled() => false,
            }
        })
    }

    fn emit(&self, event: Event) {
        self.ctx.reporter.emit(event);
    }
}

/// A watch's files between hashing and uploading: one whose content is what it was last
/// sent as is not sent again.
async fn watch_gate(
    ctx: Arc<Ctx>,
    watch: Arc<Watch>,
    mut rx: mpsc::Receiver<Prepared>,
    tx: mpsc::Sender<Prepared>,
    stop: CancellationToken,
) {
    while let Some(p) = recv_or_cancel(&mut rx, &stop).await {
        if !watch.hashed(&p.file.display, &p.key, &p.md5) {
            ctx.withdraw(p.size);
            continue;
        }
        tokio::select! {
            sent = tx.send(p) => if sent.is_err() { break },
            () = stop.cancelled() => break,
        }
    }
}

/// A dry run's last stage: each hashed file is what would be sent.
async fn plan_stage(ctx: Arc<Ctx>, mut rx: mpsc::Receiver<Prepared>) {
    while let Some(p) = recv_or_cancel(&mut rx, &ctx.cancel).await {
        ctx.finish(p.report(Outcome::Planned));
    }
}
