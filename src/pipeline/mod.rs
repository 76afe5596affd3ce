//! The run: walk -> hash -> create asset -> upload, as three overlapping stages with
//! bounded queues between them, so memory stays flat whatever the number or size of files.
//!
//! * The walk runs on one blocking thread and streams files into a queue in small batches
//!   (`run`, here, and `WalkFeed` in `feed.rs`).
//! * Hashing runs on up to one blocking thread per core; it consults the hash cache first
//!   (`prepare.rs`). In a dry run it also gives each file its outcome.
//! * Up to `-j` files talk to the API and storage at once, a number fixed or adapted during
//!   the run (`admission::Limiter`). Files with the same content in one run are uploaded
//!   once: the first is the leader, the others wait for it and report its asset
//!   (`upload.rs`).
//! * One file's create, upload and URL renewal (`round_trip.rs`).
//! * Standard input (`-`): spooled and hashed on a thread of its own, beside the walk, then
//!   uploaded as any file (`stdin.rs`).
//!
//! With `--watch` the walk is replaced by a long-lived source (`crate::watch`): the first
//! pass, then the files that appear or change. Between hashing and uploading, a file whose
//! content is what it was last sent as is dropped (`watch_gate.rs`). A signal stops the
//! source at once and gives the files in flight `WATCH_GRACE` to finish.
//!
//! The pipeline never prints and keeps no tally: everything goes out as `Event`s to the
//! ledger (`ledger.rs`), every outcome once per file (`Ctx::finish`, or an `Outbox`),
//! and why the run must stop goes to it too (`Ctx::halt`).

mod feed;
mod prepare;
mod round_trip;
mod stdin;
mod upload;
mod watch_gate;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::admission::Limiter;
use crate::api::ApiClient;
use crate::cache::HashCache;
use crate::event::{Event, FileReport, Outcome, Reporter, TaskId};
use crate::http::{Bandwidth, Origins};
use crate::ledger::{Halt, Ledger};
use crate::media;
use crate::settings::{Mode, Settings};
use crate::transfer::Uploader;
use crate::walk::{self, WalkItem};
use crate::watch::Watch;

use feed::{WalkFeed, WatchFeed, WALK_QUEUE};
use prepare::{hash_stage, NextStage, Prepared};
use round_trip::Remote;
use upload::{upload_stage, InRun};
use watch_gate::watch_gate;

/// A hashing thread hands over its file lines and warnings in batches of at most this
/// many events.
const OUTBOX_EVENTS: usize = 128;

/// Threads for short blocking calls, beside the stages that hold one for the whole run
/// (the walk or the watch, and the hashing threads): opening a file to upload and its
/// reads through `tokio::fs`, name lookups, the hash cache's last write. Without a bound,
/// tokio starts one for every call that finds none idle, up to 512: `-j auto` over many
/// small files ran 35 to 140 threads here, and about 200 elsewhere. Sixteen keep up with
/// hundreds of small-file uploads in flight (benches/bench rows wan-, peers-small- and
/// upload-small- met their targets with it). Before the bound, `-j auto` over small files
/// ran 36 to 49 threads; with it, 23 at most (2 workers, the walk, 2 hashing threads, 16
/// short, the main and the ledger threads).
const SHORT_BLOCKING_THREADS: usize = 16;

/// One hashing thread a core.
fn hashing_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
}

/// The blocking threads of a run, at most: one for each stage that holds one for the
/// whole run (the walk or the watch, standard input's reader, one a hashing thread), and
/// `SHORT_BLOCKING_THREADS` more.
fn blocking_threads() -> usize {
    2 + hashing_threads() + SHORT_BLOCKING_THREADS
}

/// The runtime a run goes on: a worker thread a core, and `blocking_threads`.
pub(crate) fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("chief-upload")
        .max_blocking_threads(blocking_threads())
        .build()
}

struct Ctx {
    reporter: Reporter,
    /// Told why the run must stop, when the pipeline finds out.
    ledger: Ledger,
    cancel: CancellationToken,
    /// Files found so far, for `-j auto`'s budget (the ledger counts them for the run).
    found: AtomicU64,
    next_id: AtomicU64,
    in_run: InRun,
    /// `--mime-type`: sent for every file instead of the detected type.
    mime_type: Option<String>,
}

impl Ctx {
    fn new(reporter: Reporter, ledger: Ledger, cancel: CancellationToken) -> Ctx {
        Ctx {
            reporter,
            ledger,
            cancel,
            found: AtomicU64::new(0),
            next_id: AtomicU64::new(0),
            in_run: InRun::default(),
            mime_type: None,
        }
    }

    /// The media type sent for a file of this name and first bytes: `--mime-type`, or
    /// the one detected.
    fn media_type(&self, name: &Path, head: &[u8]) -> String {
        match &self.mime_type {
            Some(m) => m.clone(),
            None => media::media_type(name, head),
        }
    }

    fn id(&self) -> TaskId {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Files found: the totals grow.
    fn found(&self, files: u64, bytes: u64) {
        self.found.fetch_add(files, Ordering::Relaxed);
        self.reporter.emit(Event::Found { files, bytes });
    }

    /// A file's outcome, from async code (a blocking thread uses an `Outbox`): on its way
    /// to the ledger, which counts it, once there is room for it.
    async fn finish(&self, report: FileReport) {
        self.reporter.outcomes(vec![Event::File(report)]).await;
    }

    /// The run must stop: the ledger hears why, and the stages stop.
    fn halt(&self, why: Halt) {
        self.ledger.halt(why);
        self.cancel.cancel();
    }

    /// Every file left out goes through here, whatever left it out (a filter of the walk,
    /// another shard): it gets no file line, only its count in the summary.
    fn exclude(&self, files: u64) {
        self.reporter.emit(Event::Excluded { files });
    }

    /// A watch's file found (and counted) that gets no outcome after all.
    fn withdraw(&self, size: u64) {
        self.found.fetch_sub(1, Ordering::Relaxed);
        self.reporter.emit(Event::Withdrawn { size });
    }
}

/// The outcomes and warnings of one blocking thread, sent in batches
/// (`Reporter::outcomes_blocking`): one message, and one wake-up of the ledger, for many
/// small files. Its owner flushes it before anything that may take a while (waiting for
/// input or for the upload queue, hashing a big file), so no line is held back; dropping
/// it flushes.
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
            self.ctx.reporter.outcomes_blocking(events);
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
        took: None,
    }
}

/// The name sent to the API as `filename`: the base name, in Unicode NFC
/// (`docs/interface.md#json`). A name that is not valid UTF-8 has each bad sequence
/// replaced by U+FFFD, as its `path` has.
fn file_name(p: &Path) -> String {
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_else(|| p.to_string_lossy());
    nfc(&name)
}

/// `s` in Unicode Normalization Form C: a name typed or stored decomposed (macOS file
/// names often are: `e` + U+0301) reaches the API as the same string as the composed
/// one (`é`) from every other system.
fn nfc(s: &str) -> String {
    icu_normalizer::ComposingNormalizerBorrowed::new_nfc()
        .normalize(s)
        .into_owned()
}

/// Runs the whole upload (or dry run), reporting everything through `reporter` and why
/// it must stop to `ledger`. It ends with the number of files the filters let through,
/// for `--if-no-files` (`None`: not to be judged).
pub(crate) async fn run(
    settings: Arc<Settings>,
    reporter: Reporter,
    ledger: Ledger,
    watch: Option<Arc<Watch>>,
    cancel: CancellationToken,
) -> anyhow::Result<Option<u64>> {
    let limiter = Limiter::new(settings.jobs, reporter.clone());
    // What the run learns about the API and each storage host, shared by all requests.
    let origins = Arc::new(Origins::new(
        reporter.clone(),
        settings.max_outage,
        settings.retry.cap,
    ));
    let remote = connect(&settings, &limiter, &origins, &reporter)?;
    let cache = open_cache(&settings, &reporter).await;
    let (stages, soft) = stop_tokens(&cancel, watch.as_ref());
    let ctx = Arc::new(Ctx {
        mime_type: settings.mime_type.clone(),
        ..Ctx::new(reporter.clone(), ledger, stages.clone())
    });

    // Where hashed files go: the upload stage; nowhere in a dry run, which gives each
    // its outcome, planned, once hashed.
    let (hashed, hashed_rx) = match &remote {
        None => (NextStage::Plan, None),
        Some(_) => {
            let (tx, rx) = mpsc::channel::<Prepared>(1024);
            (NextStage::Pass(tx), Some(rx))
        }
    };

    // Stage 1: the walk (and standard input, hashed as it is read), or the watch, hands
    // files to the hashing stage.
    let (walk_tx, walk_rx) = mpsc::channel::<Vec<WalkItem>>(WALK_QUEUE);
    let source = match &watch {
        None => start_walk(&ctx, &settings, walk_tx, &hashed),
        Some(w) => start_watch(&ctx, w, walk_tx, &soft),
    };

    // Stage 2: hash, one blocking thread per core. A dry run ends there: the hashing
    // threads give each file its outcome, planned.
    let (Some(remote), Some(hashed_rx)) = (remote, hashed_rx) else {
        hash_stage(ctx.clone(), walk_rx, hashed, cache.clone()).await;
        return Ok(wind_down(&cancel, source, cache).await);
    };
    let hasher = tokio::spawn(hash_stage(ctx.clone(), walk_rx, hashed, cache.clone()));

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
    Ok(wind_down(&cancel, source, cache).await)
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

/// The watch, with `--watch`: its record is opened here (blocking; before the runtime
/// starts its work), and the ledger and the pipeline share it.
pub(crate) fn open_watch(settings: &Arc<Settings>, reporter: &Reporter) -> Option<Arc<Watch>> {
    let ws = settings.watch()?.clone();
    Some(Arc::new(Watch::open(settings.clone(), ws, reporter)))
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

/// Stage 1 of a run: the walk, on a blocking thread, and standard input (`-`) beside it,
/// on another, which skips the hashing stage for `hashed`. It ends with the number of
/// files the filters let through (standard input counts as one), for `--if-no-files`.
fn start_walk(
    ctx: &Arc<Ctx>,
    settings: &Arc<Settings>,
    tx: mpsc::Sender<Vec<WalkItem>>,
    hashed: &NextStage,
) -> JoinHandle<Option<u64>> {
    // Only with `-`: a sender of the upload queue held here would keep it open.
    let stdin = settings
        .stdin
        .as_ref()
        .map(|s| stdin::start(ctx, s, hashed.clone()));
    let walk = {
        let (ctx, settings) = (ctx.clone(), settings.clone());
        tokio::task::spawn_blocking(move || {
            let mut feed = WalkFeed::new(&ctx, &settings, tx);
            let walked = walk::walk(&settings.walk, &settings.filter, None, &mut feed);
            feed.end();
            match walked {
                Ok(()) => Some(feed.candidates),
                // A --files-from list that is not one: the run stops (exit 2).
                Err(e) => {
                    ctx.halt(Halt::BadList(e));
                    None
                }
            }
        })
    };
    let ctx = ctx.clone();
    tokio::spawn(async move {
        let Ok(Some(walked)) = walk.await else {
            return None;
        };
        let read = match stdin {
            Some(s) => u64::from(s.await.is_ok()),
            None => 0,
        };
        ctx.reporter.emit(Event::WalkDone);
        Some(walked + read)
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

/// After the stages: the hash cache written, and the files the walk let through (`None`
/// in a watch, or after a signal: a walk left behind is not judged).
async fn wind_down(
    cancel: &CancellationToken,
    source: JoinHandle<Option<u64>>,
    cache: Option<Arc<HashCache>>,
) -> Option<u64> {
    // After Ctrl-C the walk may be blocked reading a --files-from pipe: leave it behind.
    let candidates = if cancel.is_cancelled() {
        None
    } else {
        source.await.ok().flatten()
    };
    if let Some(cache) = cache {
        let _ = tokio::task::spawn_blocking(move || cache.flush()).await;
    }
    candidates
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
