//! The run: walk -> hash -> create asset -> upload, as three overlapping stages with
//! bounded queues between them, so memory stays flat whatever the number or size of files.
//!
//! * The walk runs on one blocking thread and streams files into a queue in small batches
//!   (`run`, here, and `WalkFeed` in `feed.rs`).
//! * Hashing runs on up to one blocking thread per core; it consults the hash cache first
//!   (`prepare.rs`). In a dry run it also settles each file's outcome.
//! * Up to `-j` files talk to the API and storage at once, a number fixed or adapted during
//!   the run (`admission::Limiter`). Files with the same content in one run are uploaded
//!   once: the first is the leader, the others wait for it and report its asset
//!   (`dedup.rs`).
//! * One file's create, upload and URL renewal (`upload.rs`).
//!
//! With `--watch` the walk is replaced by a long-lived source (`crate::watch`): the first
//! pass, then the files that appear or change. Between hashing and uploading, a file whose
//! content is what it was last sent as is dropped (`watch_gate.rs`). A signal stops the
//! source at once and gives the files in flight `WATCH_GRACE` to finish.
//!
//! The pipeline never prints: everything goes out as `Event`s, and every outcome goes
//! through `Ctx::finish`, once per file.

mod dedup;
mod feed;
mod prepare;
mod upload;
mod watch_gate;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::admission::Limiter;
use crate::api::{ApiClient, ApiError};
use crate::cache::HashCache;
use crate::cli::IfNoFiles;
use crate::event::{Event, FileReport, Outcome, Reporter, Summary, TaskId};
use crate::exit::UsageError;
use crate::http::{Bandwidth, Origins, Stop};
use crate::settings::{Mode, Settings};
use crate::sync::lock;
use crate::transfer::Uploader;
use crate::walk::{self, WalkItem};
use crate::watch::Watch;

use dedup::{upload_stage, InRun};
use feed::{WalkFeed, WatchFeed, WALK_QUEUE};
use prepare::{hash_stage, NextStage, Prepared};
use upload::Remote;
use watch_gate::watch_gate;

/// A hashing thread hands over its file lines and warnings in batches of at most this
/// many events.
const OUTBOX_EVENTS: usize = 128;

/// Threads for short blocking calls, beside the stages that hold one for the whole run
/// (the walk or the watch, and the hashing threads): opening a file to upload and its
/// reads through `tokio::fs`, name lookups, the hash cache's last write. Without a bound,
/// tokio starts one for every call that finds none idle, up to 512: `-j auto` over many
/// small files ran 35 to 140 threads here, and about 200 elsewhere. Sixteen keep up with
/// hundreds of small-file uploads in flight (benches/run.sh rows W1, P1 and 3 met their
/// targets with it; the README lists threads before and after).
const SHORT_BLOCKING_THREADS: usize = 16;

/// One hashing thread a core.
fn hashing_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
}

/// The runtime a run goes on: a worker thread a core, and blocking threads for the
/// stages that hold one (the walk or the watch, one a hashing thread) and
/// `SHORT_BLOCKING_THREADS` more.
pub(crate) fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("chief-upload")
        .max_blocking_threads(1 + hashing_threads() + SHORT_BLOCKING_THREADS)
        .build()
}

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
    /// The `--files-from` list held a line no path could be: the run stopped (exit 2).
    pub(crate) list_error: Option<UsageError>,
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
    list_error: Mutex<Option<UsageError>>,
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
            list_error: Mutex::new(None),
            watch: None,
        }
    }

    fn watching(self, watch: Option<Arc<Watch>>) -> Ctx {
        Ctx { watch, ..self }
    }

    fn id(&self) -> TaskId {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Files found: the totals grow.
    fn found(&self, files: u64, bytes: u64) {
        self.found.fetch_add(files, Ordering::Relaxed);
        self.reporter.emit(Event::Found { files, bytes });
    }

    /// Every outcome goes through here (or through an `Outbox`, which settles many at
    /// once): counted, then reported.
    fn finish(&self, report: FileReport) {
        self.settle(vec![Event::File(report)]);
    }

    /// Counts the outcomes among `events` and reports them all. The tally stays locked
    /// until they are sent, and the summary is sent under the same lock: an outcome is
    /// either in both the summary and the output before it, or in neither. In a watch, a
    /// file that failed because it changed or vanished meanwhile gets none (see
    /// `Watch::finished`).
    fn settle(&self, mut events: Vec<Event>) {
        if let Some(w) = &self.watch {
            events.retain(|event| match event {
                Event::File(report) if !w.finished(report) => {
                    self.withdraw(report.size.unwrap_or(0));
                    false
                }
                _ => true,
            });
        }
        let mut tally = lock(&self.tally);
        for event in &events {
            if let Event::File(report) = event {
                tally.count(report);
            }
        }
        self.reporter.emit_all(events);
    }

    /// Every file left out goes through here, whatever left it out (a filter of the walk,
    /// another shard): it gets no file line, only its count in the summary.
    fn exclude(&self, files: u64) {
        self.excluded.fetch_add(files, Ordering::Relaxed);
        self.reporter.emit(Event::Excluded { files });
    }

    /// A watch's file found (and counted) that gets no outcome after all.
    fn withdraw(&self, size: u64) {
        self.found.fetch_sub(1, Ordering::Relaxed);
        self.reporter.emit(Event::Withdrawn { size });
    }
}

/// The outcomes and warnings of one blocking thread, settled in batches (`Ctx::settle`):
/// one lock of the tally and one wake-up of the output thread for many small files.
/// Its owner flushes it before anything that may take a while (waiting for input or for
/// the upload queue, hashing a big file), so no line is held back; dropping it flushes.
struct Outbox<'a> {
    ctx: &'a Ctx,
    events: Vec<Event>,
}

impl<'a> Outbox<'a> {
    fn new(ctx: &'a Ctx) -> Outbox<'a> {
        Outbox {
            ctx,
            events: Vec::new(),
        }
    }

    fn finish(&mut self, report: FileReport) {
        self.push(Event::File(report));
    }

    fn warn(&mut self, message: String) {
        self.push(Event::Warning(message));
    }

    fn push(&mut self, event: Event) {
        self.events.push(event);
        if self.events.len() >= OUTBOX_EVENTS {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if !self.events.is_empty() {
            let events = std::mem::replace(&mut self.events, Vec::with_capacity(OUTBOX_EVENTS));
            self.ctx.settle(events);
        }
    }
}

impl Drop for Outbox<'_> {
    fn drop(&mut self) {
        self.flush();
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
    let remote = connect(&settings, &limiter, &origins, &reporter)?;
    let cache = open_cache(&settings, &reporter).await;
    let watch = open_watch(&settings, &reporter).await?;
    let (stages, soft) = stop_tokens(&cancel, watch.as_ref());
    let ctx = Arc::new(Ctx::new(reporter.clone(), stages.clone()).watching(watch.clone()));

    // Stage 1: the walk, or the watch, hands files to the hashing stage.
    let (walk_tx, walk_rx) = mpsc::channel::<Vec<WalkItem>>(WALK_QUEUE);
    let source = match &watch {
        None => start_walk(&ctx, &settings, walk_tx),
        Some(w) => start_watch(&ctx, w, walk_tx, &soft),
    };

    // Stage 2: hash, one blocking thread per core. A dry run ends there: the hashing
    // threads settle each file as planned.
    let Some(remote) = remote else {
        hash_stage(ctx.clone(), walk_rx, NextStage::Plan, cache.clone()).await;
        return Ok(finish(&ctx, &settings, &origins, &cancel, started, source, cache).await);
    };
    let (hashed_tx, hashed_rx) = mpsc::channel::<Prepared>(1024);
    let hasher = tokio::spawn(hash_stage(
        ctx.clone(),
        walk_rx,
        NextStage::Pass(hashed_tx),
        cache.clone(),
    ));

    // Stage 3: create and upload, as many at a time as the limiter admits. In a watch a
    // gate first drops the files whose content is what they were last sent as.
    let to_upload = match &watch {
        None => hashed_rx,
        Some(w) => {
            let (tx, rx) = mpsc::channel::<Prepared>(64);
            tokio::spawn(watch_gate(ctx.clone(), w.clone(), hashed_rx, tx, soft));
            rx
        }
    };
    let uploads = tokio::spawn(upload_stage(ctx.clone(), remote, limiter, to_upload));

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
    Ok(finish(&ctx, &settings, &origins, &cancel, started, source, cache).await)
}

/// The API client and the uploader, for an upload; `None` in a dry run.
fn connect(
    settings: &Settings,
    limiter: &Arc<Limiter>,
    origins: &Arc<Origins>,
    reporter: &Reporter,
) -> anyhow::Result<Option<Arc<Remote>>> {
    let Mode::Upload { api, .. } = &settings.mode else {
        return Ok(None);
    };
    Ok(Some(Arc::new(Remote {
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
    })))
}

/// The hash cache, unless `--no-cache`. One that cannot be opened never stops an upload:
/// the run hashes everything. Damage (at open, or found later by a hashing worker) is
/// said once, and the run goes on hashing.
async fn open_cache(settings: &Settings, reporter: &Reporter) -> Option<Arc<HashCache>> {
    let path = settings.cache.clone()?;
    let told = reporter.clone();
    let on_damage = Box::new(move |d: crate::db::Damage| told.warn(d.to_string()));
    match tokio::task::spawn_blocking(move || HashCache::open_with(&path, on_damage)).await {
        Ok(Ok(c)) => Some(Arc::new(c)),
        Ok(Err(e)) => {
            reporter.warn(format!("hash cache unavailable, hashing every file: {e:#}"));
            None
        }
        Err(_) => None,
    }
}

/// The watch, with `--watch` (its record is opened on a blocking thread).
async fn open_watch(
    settings: &Arc<Settings>,
    reporter: &Reporter,
) -> anyhow::Result<Option<Arc<Watch>>> {
    let Some(ws) = settings.watch().cloned() else {
        return Ok(None);
    };
    let (s, r) = (settings.clone(), reporter.clone());
    let open = tokio::task::spawn_blocking(move || Watch::open(s, ws, &r));
    Ok(Some(Arc::new(open.await?)))
}

/// The tokens that stop the stages (`stages`) and the source (`soft`). A run stops both
/// at `cancel`. A watch ends on a signal without an interruption: the source stops
/// taking files at once, and the files in flight get `WATCH_GRACE` before the stages stop.
fn stop_tokens(
    cancel: &CancellationToken,
    watch: Option<&Arc<Watch>>,
) -> (CancellationToken, CancellationToken) {
    let Some(w) = watch else {
        return (cancel.clone(), cancel.clone());
    };
    let stages = CancellationToken::new();
    let soft = stages.child_token();
    tokio::spawn({
        let (w, cancel, stages, soft) = (w.clone(), cancel.clone(), stages.clone(), soft.clone());
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

/// Stage 1 of a run: the walk, on a blocking thread. It ends with the number of files the
/// filters let through, for `--if-no-files`.
fn start_walk(
    ctx: &Arc<Ctx>,
    settings: &Arc<Settings>,
    tx: mpsc::Sender<Vec<WalkItem>>,
) -> JoinHandle<Option<u64>> {
    let (ctx, settings) = (ctx.clone(), settings.clone());
    tokio::task::spawn_blocking(move || {
        let mut feed = WalkFeed::new(&ctx, &settings, tx);
        let walked = walk::walk(&settings.walk, &settings.filter, None, &mut feed);
        feed.end();
        ctx.reporter.emit(Event::WalkDone);
        match walked {
            Ok(()) => Some(feed.candidates),
            // A --files-from list that is not one: the run stops (exit 2).
            Err(e) => {
                *lock(&ctx.list_error) = Some(e);
                ctx.cancel.cancel();
                None
            }
        }
    })
}

/// Stage 1 of a watch: its source, on a blocking thread, until `soft` stops it. A watch has
/// no "no files" to judge.
fn start_watch(
    ctx: &Arc<Ctx>,
    watch: &Arc<Watch>,
    tx: mpsc::Sender<Vec<WalkItem>>,
    soft: &CancellationToken,
) -> JoinHandle<Option<u64>> {
    let feed = WatchFeed {
        ctx: ctx.clone(),
        tx,
        stop: soft.clone(),
        runtime: tokio::runtime::Handle::current(),
    };
    let (w, soft) = (watch.clone(), soft.clone());
    tokio::task::spawn_blocking(move || {
        w.run(&feed, &soft);
        None
    })
}

/// After the stages: the summary, sent as the last event, and how the run ended.
async fn finish(
    ctx: &Ctx,
    settings: &Settings,
    origins: &Origins,
    cancel: &CancellationToken,
    started: Instant,
    source: JoinHandle<Option<u64>>,
    cache: Option<Arc<HashCache>>,
) -> RunResult {
    // After Ctrl-C the walk may be blocked reading a --files-from pipe: leave it behind
    // (and do not judge a walk that did not finish).
    let candidates = if cancel.is_cancelled() {
        None
    } else {
        source.await.ok().flatten()
    };
    if let Some(cache) = cache {
        let _ = tokio::task::spawn_blocking(move || cache.flush()).await;
    }

    // Locked until the summary is sent: see `Ctx::settle`.
    let tally = lock(&ctx.tally);
    let mut summary = tally.clone();
    summary.elapsed = started.elapsed();
    let auth_error = lock(&ctx.auth_error).take();
    let list_error = lock(&ctx.list_error).take();
    let stopped = origins.stopped();
    // A signal is how a watch ends: no interruption.
    summary.interrupted = cancel.is_cancelled()
        && auth_error.is_none()
        && list_error.is_none()
        && stopped.is_none()
        && settings.watch().is_none();
    summary.not_attempted = ctx
        .found
        .load(Ordering::Relaxed)
        .saturating_sub(summary.done());
    summary.excluded = ctx.excluded.load(Ordering::Relaxed);
    let mut no_files = None;
    if candidates == Some(0) {
        let why = nothing_to_upload(summary.excluded, &settings.filter.describe());
        match settings.if_no_files {
            IfNoFiles::Warn => ctx.reporter.warn(why),
            IfNoFiles::Error => no_files = Some(why),
            IfNoFiles::Ignore => {}
        }
    }
    ctx.reporter.emit(Event::Summary(summary.clone()));
    drop(tally);
    RunResult {
        summary,
        auth_error,
        no_files,
        stopped,
        list_error,
    }
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

#[cfg(test)]
mod tests;
