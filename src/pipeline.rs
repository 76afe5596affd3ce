//! The run: walk -> hash -> create asset -> upload, as three overlapping stages with
//! bounded queues between them, so memory stays flat whatever the number or size of files.
//!
//! * The walk runs on one blocking thread and streams files into a queue.
//! * Hashing runs on up to one blocking thread per core; it consults the hash cache first.
//! * Up to `jobs` files talk to the API and storage at once. Files with the same content
//!   in one run are uploaded once: the first is the leader, the others wait for it and
//!   report its asset.
//!
//! The pipeline never prints: everything goes out as `Event`s.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use futures_util::FutureExt;
use tokio::sync::{mpsc, watch, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::api::{ApiClient, ApiError, Created};
use crate::cache::{FileKey, HashCache};
use crate::cli::IfNoFiles;
use crate::event::{Event, FileReport, Outcome, Reporter, Summary, TaskId};
use crate::hash::{self, Md5Sum};
use crate::media;
use crate::settings::{Mode, Settings};
use crate::transfer::{self, TransferError, Uploader};
use crate::walk::{self, WalkItem, WalkedFile};

/// A signed URL must stay valid at least this long when its transfer starts.
pub const EXPIRY_MARGIN: Duration = Duration::from_secs(30);
/// How many times a file asks for a fresh URL (expired, or about to).
const MAX_RENEWALS: u32 = 3;
/// Hashing progress is reported in steps of this many bytes.
const HASH_REPORT_STEP: u64 = 1 << 20;
/// At most this many files wait at once for another file with the same content.
const MAX_FOLLOWERS: usize = 1024;
/// Files smaller than this are not shown as separate hashing tasks.
const HASH_SHOW_MIN: u64 = 8 << 20;

/// How the run ended, beyond the counts.
#[derive(Debug)]
pub struct RunResult {
    pub summary: Summary,
    /// The API refused the credentials or answered a redirect: the run stopped (exit 2).
    pub auth_error: Option<ApiError>,
    /// `--if-no-files error` and there was no file: why the run fails (exit 1).
    pub no_files: Option<String>,
}

/// A file hashed and typed, ready for the API.
struct Prepared {
    file: WalkedFile,
    filename: String,
    md5: Md5Sum,
    md5_hex: String,
    mime: String,
    size: u64,
    key: FileKey,
}

/// What an upload talks to. A dry run has none, and never reaches the code that needs it.
struct Remote {
    api: ApiClient,
    uploader: Uploader,
}

struct Ctx {
    reporter: Reporter,
    cancel: CancellationToken,
    tally: Mutex<Summary>,
    found: AtomicU64,
    /// Files left out by a filter or another shard.
    excluded: AtomicU64,
    next_id: AtomicU64,
    in_run: Mutex<HashMap<Md5Sum, watch::Sender<Settled>>>,
    auth_error: Mutex<Option<ApiError>>,
}

/// What a content group's leader has settled: nothing yet, its asset, or failure.
type Settled = Option<Result<Shared, ()>>;

/// What the leader of a content group tells the files that share its content.
#[derive(Clone)]
struct Shared {
    asset_id: String,
    status: Option<String>,
    leader: String,
}

enum Claim {
    Leader,
    Follower(watch::Receiver<Settled>),
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
            in_run: Mutex::new(HashMap::new()),
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

    fn claim(&self, md5: Md5Sum) -> Claim {
        let mut map = self.in_run.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(tx) = map.get(&md5) {
            return Claim::Follower(tx.subscribe());
        }
        map.insert(md5, watch::channel(None).0);
        Claim::Leader
    }

    /// The leader's result reaches the followers waiting now, and the content is forgotten:
    /// memory holds only contents in flight. A later file with the same content asks the
    /// API, which answers with the stored asset (a dedup hit, no upload); after a failure
    /// it tries again.
    fn settle(&self, md5: Md5Sum, result: Result<Shared, ()>) {
        let mut map = self.in_run.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(tx) = map.remove(&md5) {
            tx.send_replace(Some(result));
        }
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

impl Prepared {
    fn report(&self, outcome: Outcome) -> FileReport {
        FileReport {
            path: self.file.display.clone(),
            filename: self.filename.clone(),
            size: Some(self.size),
            md5: Some(self.md5_hex.clone()),
            mime_type: Some(self.mime.clone()),
            outcome,
            asset_id: None,
            status: None,
            error: None,
            note: None,
        }
    }
    fn failed(&self, error: impl Into<String>) -> FileReport {
        FileReport {
            error: Some(error.into()),
            ..self.report(Outcome::Failed)
        }
    }
}

/// Runs the whole upload (or dry run) and reports everything through `reporter`. The last
/// event sent is `Event::Summary`.
pub async fn run(
    settings: Arc<Settings>,
    reporter: Reporter,
    cancel: CancellationToken,
) -> anyhow::Result<RunResult> {
    let started = Instant::now();
    let remote = match &settings.mode {
        Mode::DryRun => None,
        Mode::Upload(api) => Some(Arc::new(Remote {
            api: ApiClient::new(
                api,
                settings.retry.clone(),
                settings.timeout,
                settings.jobs,
                reporter.clone(),
            )?,
            uploader: Uploader::new(
                settings.retry.clone(),
                settings.timeout,
                settings.jobs,
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

    // Stage 3: create and upload, `jobs` at a time; a dry run only reports the plan.
    let uploads = match remote {
        Some(remote) => tokio::spawn(upload_stage(ctx.clone(), remote, settings.jobs, hashed_rx)),
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

async fn hash_stage(
    ctx: Arc<Ctx>,
    rx: mpsc::Receiver<WalkItem>,
    tx: mpsc::Sender<Prepared>,
    cache: Option<Arc<HashCache>>,
) {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    // One long-lived blocking worker per core takes files straight from the walk's queue
    // and puts them straight into the upload queue: no per-file hand-off between async
    // tasks and blocking threads, which left the cores idle about a fifth of the time on
    // 2,000 x 1 MiB (benches/run.sh). The upload queue is bounded, so hashing runs
    // ahead of the uploads by at most its length (plus one file per worker).
    let rx = Arc::new(Mutex::new(rx));
    let workers: Vec<_> = (0..cores)
        .map(|_| {
            let (ctx, rx, tx, cache) = (ctx.clone(), rx.clone(), tx.clone(), cache.clone());
            tokio::task::spawn_blocking(move || hash_worker(&ctx, &rx, &tx, cache.as_deref()))
        })
        .collect();
    drop((rx, tx));
    // After Ctrl-C a worker may wait on a walk blocked reading a --files-from pipe:
    // do not wait for it (the runtime's shutdown leaves it behind).
    tokio::select! {
        results = futures_util::future::join_all(workers) => {
            for join in results.into_iter().filter_map(Result::err) {
                ctx.reporter.warn(format!("internal error in a hashing thread: {join}"));
            }
        }
        () = ctx.cancel.cancelled() => {}
    }
}

/// The loop of one hashing thread (blocking): until the walk ends, the uploads stop
/// taking files, or the run is cancelled.
fn hash_worker(
    ctx: &Ctx,
    rx: &Mutex<mpsc::Receiver<WalkItem>>,
    tx: &mpsc::Sender<Prepared>,
    cache: Option<&HashCache>,
) {
    while !ctx.cancel.is_cancelled() {
        // The walk ends (closing its queue) promptly on cancel, so this wait does too.
        let item = rx.lock().unwrap_or_else(|e| e.into_inner()).blocking_recv();
        let Some(item) = item else { break };
        if ctx.cancel.is_cancelled() {
            break;
        }
        let file = match item {
            WalkItem::File(f) => f,
            WalkItem::Failed { display, error } => {
                ctx.finish(failed_report(display, error));
                continue;
            }
            WalkItem::Skipped { display, why } => {
                ctx.reporter.warn(format!("skipped {display}: {why}"));
                continue;
            }
            // Counted by the walk's callback, never queued.
            WalkItem::Excluded { .. } => continue,
        };
        let display = file.display.clone();
        let prep =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| prepare(ctx, file, cache)));
        if ctx.cancel.is_cancelled() {
            // Stopped mid-hash: the file was not attempted.
            break;
        }
        match prep {
            Ok(Ok(p)) => {
                if tx.blocking_send(p).is_err() {
                    break;
                }
            }
            Ok(Err(report)) => ctx.finish(*report),
            Err(_) => ctx.finish(failed_report(
                display,
                "internal error while hashing".into(),
            )),
        }
    }
}

/// Opens, identifies, hashes (or finds in the cache) and types one file. Blocking.
fn prepare(
    ctx: &Ctx,
    file: WalkedFile,
    cache: Option<&HashCache>,
) -> Result<Prepared, Box<FileReport>> {
    let fail = |file: &WalkedFile, why: String| {
        Box::new(FileReport {
            size: Some(file.size),
            ..failed_report(file.display.clone(), why)
        })
    };
    let (f, meta) = hash::open_regular(&file.path)
        .map_err(|e| fail(&file, format!("cannot open: {}", walk::io_reason(&e))))?;
    let key = FileKey::from_metadata(&meta);
    let cached = cache.and_then(|c| c.get(&key));
    let (md5, head) = match cached {
        Some(md5) => {
            let head = if media::needs_head(&file.path) {
                hash::read_head(&f).unwrap_or_default()
            } else {
                Vec::new()
            };
            (md5, head)
        }
        None => {
            let size = meta.len();
            let id = ctx.id();
            let show = size >= HASH_SHOW_MIN;
            if show {
                ctx.reporter.emit(Event::HashStart {
                    id,
                    path: file.display.clone(),
                    size,
                });
            }
            let mut pending = 0u64;
            let mut progress = |n: u64| {
                pending += n;
                if show && pending >= HASH_REPORT_STEP {
                    ctx.reporter
                        .emit(Event::HashProgress { id, bytes: pending });
                    pending = 0;
                }
                // Stop hashing a big file promptly on Ctrl-C.
                !ctx.cancel.is_cancelled()
            };
            let result = hash::md5_file(&f, &mut progress);
            if show {
                ctx.reporter.emit(Event::HashEnd { id });
            }
            let hashed =
                result.map_err(|e| fail(&file, format!("cannot read: {}", walk::io_reason(&e))))?;
            let after = f.metadata().map(|m| FileKey::from_metadata(&m)).ok();
            if hashed.size != meta.len() || after != Some(key) {
                return Err(fail(&file, "changed while hashing; run again".into()));
            }
            if let Some(c) = cache {
                c.put(&key, hashed.md5);
            }
            (hashed.md5, hashed.head)
        }
    };
    Ok(Prepared {
        filename: file_name(&file.path),
        md5_hex: hash::to_hex(&md5),
        mime: media::media_type(&file.path, &head),
        md5,
        size: meta.len(),
        key,
        file,
    })
}

/// A dry run's last stage: each hashed file is what would be sent.
async fn plan_stage(ctx: Arc<Ctx>, mut rx: mpsc::Receiver<Prepared>) {
    while let Some(p) = recv_or_cancel(&mut rx, &ctx.cancel).await {
        ctx.finish(p.report(Outcome::Planned));
    }
}

async fn upload_stage(
    ctx: Arc<Ctx>,
    remote: Arc<Remote>,
    jobs: usize,
    mut rx: mpsc::Receiver<Prepared>,
) {
    let permits = Arc::new(Semaphore::new(jobs));
    let waiting = Arc::new(Semaphore::new(MAX_FOLLOWERS));
    let tracker = TaskTracker::new();
    loop {
        let Some(p) = recv_or_cancel(&mut rx, &ctx.cancel).await else {
            break;
        };
        let (ctx2, remote2) = (ctx.clone(), remote.clone());
        match ctx.claim(p.md5) {
            Claim::Leader => {
                let acquired = tokio::select! {
                    p = permits.clone().acquire_owned() => p,
                    () = ctx.cancel.cancelled() => break,
                };
                let Ok(permit) = acquired else { break };
                tracker.spawn(async move {
                    lead(&ctx2, &remote2, p).await;
                    drop(permit);
                });
            }
            Claim::Follower(rx) => {
                let acquired = tokio::select! {
                    p = waiting.clone().acquire_owned() => p,
                    () = ctx.cancel.cancelled() => break,
                };
                let Ok(wait_permit) = acquired else { break };
                let permits = permits.clone();
                tracker.spawn(async move {
                    follow(&ctx2, &remote2, p, rx, permits).await;
                    drop(wait_permit);
                });
            }
        }
    }
    tracker.close();
    tracker.wait().await;
}

/// Uploads a file whose content no other file of this run carries (or carried and failed).
async fn lead(ctx: &Ctx, remote: &Remote, p: Prepared) {
    let result = tokio::select! {
        // A bug that panics fails this file (and frees its followers), not the run.
        r = std::panic::AssertUnwindSafe(process(ctx, remote, &p)).catch_unwind() => {
            r.unwrap_or_else(|_| Some(p.failed("internal error while uploading")))
        }
        () = ctx.cancel.cancelled() => None,
    };
    match result {
        Some(report) => {
            let shared = match (&report.outcome, &report.asset_id) {
                (Outcome::Uploaded | Outcome::Skipped, Some(id)) => Ok(Shared {
                    asset_id: id.clone(),
                    status: report.status.clone(),
                    leader: report.path.clone(),
                }),
                _ => Err(()),
            };
            ctx.settle(p.md5, shared);
            ctx.finish(report);
        }
        None => ctx.settle(p.md5, Err(())),
    }
}

/// Waits for the leader of this content; reports its asset, or takes over if it failed.
async fn follow(
    ctx: &Ctx,
    remote: &Remote,
    p: Prepared,
    mut rx: watch::Receiver<Settled>,
    permits: Arc<Semaphore>,
) {
    loop {
        let settled = tokio::select! {
            r = rx.wait_for(Option::is_some) => r.ok().and_then(|v| v.clone()),
            () = ctx.cancel.cancelled() => return,
        };
        match settled {
            Some(Ok(shared)) => {
                let report = FileReport {
                    asset_id: Some(shared.asset_id),
                    status: shared.status,
                    note: Some(format!("same content as {}", shared.leader)),
                    ..p.report(Outcome::Skipped)
                };
                ctx.finish(report);
                return;
            }
            Some(Err(())) | None => match ctx.claim(p.md5) {
                Claim::Follower(next) => rx = next,
                Claim::Leader => {
                    let Ok(_permit) = permits.acquire_owned().await else {
                        return;
                    };
                    lead(ctx, remote, p).await;
                    return;
                }
            },
        }
    }
}

/// POST, then PUT when needed. `None` means the run is stopping (credentials refused).
async fn process(ctx: &Ctx, remote: &Remote, p: &Prepared) -> Option<FileReport> {
    let Remote { api, uploader } = remote;
    let mut renewals = 0;
    let renewing = |attempt: u32, why: &str| {
        ctx.reporter.emit(Event::Retry {
            what: format!("POST /v1/assets for {}", p.filename),
            attempt,
            delay: Duration::ZERO,
            reason: format!("{why}; asking for a fresh one"),
        })
    };
    loop {
        let created = match api.create(&p.filename, &p.mime, &p.md5_hex).await {
            Ok(c) => c,
            // Refused credentials, or an API that sends us elsewhere: every later call
            // would end the same way, so the run stops (exit 2).
            Err(e @ (ApiError::Auth { .. } | ApiError::Redirect { .. })) => {
                let mut slot = ctx.auth_error.lock().unwrap_or_else(|e| e.into_inner());
                if slot.is_none() {
                    *slot = Some(e);
                }
                ctx.cancel.cancel();
                return None;
            }
            Err(e) => return Some(p.failed(e.to_string())),
        };
        let (asset_id, status, target) = match created {
            Created::Exists { asset_id, status } => {
                if status.as_deref() == Some("failed") {
                    ctx.reporter.warn(format!(
                        "{}: the project already holds this content as {asset_id}, but its ingest failed (status \"failed\")",
                        p.file.display
                    ));
                }
                return Some(FileReport {
                    asset_id: Some(asset_id),
                    status,
                    ..p.report(Outcome::Skipped)
                });
            }
            Created::Unsupported {
                asset_id,
                status,
                method,
            } => {
                return Some(FileReport {
                    asset_id: Some(asset_id),
                    status,
                    ..p.failed(format!(
                        "unsupported upload method {}; a newer chief-upload may support it",
                        method.escape_debug()
                    ))
                });
            }
            Created::Upload {
                asset_id,
                status,
                target,
            } => (asset_id, status, target),
        };
        let with_id = |r: FileReport| FileReport {
            asset_id: Some(asset_id.clone()),
            status: status.clone(),
            ..r
        };
        if let Some(exp) = target.expires_at {
            if exp < SystemTime::now() + EXPIRY_MARGIN {
                // Never start a transfer with a URL about to expire.
                if renewals >= MAX_RENEWALS {
                    return Some(with_id(p.failed(format!(
                        "the upload URLs the API issues are expired or expire within {} s ({} tried); check that the computer's clock is right",
                        EXPIRY_MARGIN.as_secs(),
                        renewals + 1
                    ))));
                }
                renewals += 1;
                renewing(renewals, "the upload URL expires too soon");
                continue;
            }
        }
        let id = ctx.id();
        ctx.reporter.emit(Event::TransferStart {
            id,
            path: p.file.display.clone(),
            size: p.size,
        });
        let src = transfer::Source {
            path: &p.file.path,
            size: p.size,
            md5_hex: &p.md5_hex,
            key: p.key,
        };
        let result = uploader.upload(&target, &src, id).await;
        ctx.reporter.emit(Event::TransferEnd { id });
        match result {
            Ok(()) => return Some(with_id(p.report(Outcome::Uploaded))),
            Err(TransferError::Expired) if renewals < MAX_RENEWALS => {
                renewals += 1;
                renewing(renewals, "the upload URL expired");
            }
            Err(TransferError::Expired) => {
                return Some(with_id(p.failed(format!(
                    "the upload URL expired, also after {MAX_RENEWALS} fresh ones; check that the computer's clock is right"
                ))))
            }
            Err(e) => return Some(with_id(p.failed(e.to_string()))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walked(path: &Path) -> WalkedFile {
        WalkedFile {
            path: path.to_path_buf(),
            display: path.display().to_string(),
            size: 5,
            identity: None,
        }
    }

    #[test]
    fn a_file_gone_between_walk_and_hash_fails_alone() {
        let (reporter, _events) = Reporter::channel();
        let ctx = Ctx::new(reporter, CancellationToken::new());
        let dir = tempfile::tempdir().unwrap();
        let here = dir.path().join("here.txt");
        std::fs::write(&here, "hello").unwrap();
        let gone = dir.path().join("gone.txt");
        let Err(report) = prepare(&ctx, walked(&gone), None) else {
            panic!("a failure")
        };
        assert_eq!(report.outcome, Outcome::Failed);
        assert_eq!(
            report.error.as_deref(),
            Some("cannot open: no such file or directory")
        );
        let Ok(ok) = prepare(&ctx, walked(&here), None) else {
            panic!("hashed")
        };
        assert_eq!(ok.md5_hex, "5d41402abc4b2a76b9719d911017c592");
        assert_eq!((ok.mime.as_str(), ok.size), ("text/plain", 5));
    }

    #[test]
    fn cache_hits_skip_reading() {
        let (reporter, _events) = Reporter::channel();
        let ctx = Ctx::new(reporter, CancellationToken::new());
        let dir = tempfile::tempdir().unwrap();
        let cache = HashCache::open(&dir.path().join("cache.sqlite")).unwrap();
        let now_ns = |later: Duration| {
            (std::time::SystemTime::now() + later)
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as i64
        };
        // A miss is hashed (and recorded, though a file this fresh is "racy": cache.rs's
        // tests cover when entries are trusted).
        let f = dir.path().join("a.txt");
        std::fs::write(&f, "hello").unwrap();
        let first = prepare(&ctx, walked(&f), Some(&cache)).ok().unwrap();
        assert_eq!(first.md5_hex, "5d41402abc4b2a76b9719d911017c592");

        // A hit is not read: a planted entry comes back instead of the real digest. It is
        // recorded as late as the cache accepts (2 s ahead of now), so that the file,
        // changed just before now, is outside the racy window.
        let key = FileKey::from_metadata(&std::fs::metadata(&f).unwrap());
        let planted = [7u8; 16];
        cache.put_at(&key, planted, now_ns(Duration::from_secs(2)) - 1);
        cache.flush();
        let hit = prepare(&ctx, walked(&f), Some(&cache)).ok().unwrap();
        assert_eq!(hit.md5, planted);
        assert_eq!(hit.size, 5);
    }
}
