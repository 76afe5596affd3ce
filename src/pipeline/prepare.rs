//! The hashing stage: one long-lived blocking worker per core takes batches of files from
//! the walk, finds each MD5 in the hash cache or computes it, and detects its media type.
//! A worker asks the kernel to read ahead the files of the batch it takes and of the next
//! one, so that a cold disk has many reads in flight, not one a worker.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::mpsc;

use super::{failed_report, file_name, Ctx, Outbox};
use crate::cache::{self, HashCache};
use crate::event::{Event, FileReport, Outcome, Progress};
use crate::file_key::FileKey;
use crate::hash::{self, Md5Sum, ReadBuf};
use crate::media;
use crate::sync::lock;
use crate::transfer::UploadSource;
use crate::walk::{WalkItem, WalkedFile};

/// Files smaller than this are not shown as separate hashing tasks.
const HASH_SHOW_MIN: u64 = 8 << 20;
/// Before hashing a file this big, a worker hands over the lines it holds: they would
/// wait for the whole file otherwise.
const FLUSH_BEFORE: u64 = 1 << 20;

/// A file hashed and typed, ready for the API.
pub(super) struct Prepared {
    /// Its `path` in the file lines: as walked, or `-` for standard input.
    pub(super) display: String,
    /// Where its bytes are read from to be sent.
    pub(super) source: UploadSource,
    /// The name sent to the API (`file_name`).
    pub(super) filename: String,
    pub(super) md5: Md5Sum,
    pub(super) md5_hex: String,
    pub(super) mime: String,
    pub(super) size: u64,
    /// When its hash started: a file's time runs from here to its outcome.
    pub(super) started: Instant,
}

impl Prepared {
    /// The identity of the file as hashed; `None` for standard input.
    pub(super) fn key(&self) -> Option<FileKey> {
        match &self.source {
            UploadSource::File { key, .. } => Some(*key),
            UploadSource::Spool(_) => None,
        }
    }

    /// The file's outcome, now (its time is taken here).
    pub(super) fn report(&self, outcome: Outcome) -> FileReport {
        FileReport {
            path: self.display.clone(),
            filename: self.filename.clone(),
            size: Some(self.size),
            md5: Some(self.md5_hex.clone()),
            mime_type: Some(self.mime.clone()),
            outcome,
            asset_id: None,
            status: None,
            error: None,
            note: None,
            took: Some(self.started.elapsed()),
        }
    }

    pub(super) fn failed(&self, error: impl Into<String>) -> FileReport {
        FileReport {
            error: Some(error.into()),
            ..self.report(Outcome::Failed)
        }
    }
}

/// Where a hashed file goes next.
#[derive(Clone)]
pub(super) enum NextStage {
    /// `--dry-run`: nowhere; it is what would be sent, planned here.
    Plan,
    /// To the next stage: the upload stage (or a watch's gate).
    Pass(mpsc::Sender<Prepared>),
}

/// A hash to record in the cache: the key taken before reading, the MD5, and when the
/// reading ended.
type Fresh = (FileKey, Md5Sum, i64);

pub(super) async fn hash_stage(
    ctx: Arc<Ctx>,
    rx: mpsc::Receiver<Vec<WalkItem>>,
    then: NextStage,
    cache: Option<Arc<HashCache>>,
) {
    let cores = super::hashing_threads();
    // One long-lived blocking worker per core takes batches straight from the walk's
    // queue and puts files straight into the upload queue: no per-file hand-off between
    // async tasks and blocking threads, which would leave cores idle between files. The
    // upload queue is bounded, so hashing runs ahead of the uploads by at most its length
    // (plus one batch per worker).
    let rx = Arc::new(Mutex::new(rx));
    let then = Arc::new(then);
    let workers: Vec<_> = (0..cores)
        .map(|_| {
            let (ctx, rx, then, cache) = (ctx.clone(), rx.clone(), then.clone(), cache.clone());
            tokio::task::spawn_blocking(move || hash_worker(&ctx, &rx, &then, cache.as_deref()))
        })
        .collect();
    drop((rx, then));
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
    rx: &Mutex<mpsc::Receiver<Vec<WalkItem>>>,
    then: &NextStage,
    cache: Option<&HashCache>,
) {
    let mut worker = Worker {
        ctx,
        then,
        cache,
        out: Outbox::new(ctx),
        buf: ReadBuf::new(),
        fresh: Vec::new(),
    };
    let mut ahead = None;
    while !ctx.cancel.is_cancelled() {
        // Nothing held back while waiting.
        worker.out.flush();
        let taken = match ahead.take() {
            Some(taken) => taken,
            None => {
                // The walk ends (closing its queue) promptly on cancel, so this wait
                // does too.
                let batch = lock(rx).blocking_recv();
                let Some(batch) = batch else { break };
                worker.take(batch)
            }
        };
        // The next batch too, if one is waiting: its reads start while this one is
        // hashed (on a cold disk, the reads of a batch are what a thread waits for). Not
        // while another worker waits on the queue (holding its lock): then it is empty,
        // and waiting for that lock would hold this batch until the next one came.
        if let Some(next) = rx.try_lock().ok().and_then(|mut q| q.try_recv().ok()) {
            ahead = Some(worker.take(next));
        }
        if !worker.batch(taken) {
            break;
        }
    }
}

/// A batch taken from the walk, with what the cache said of each of its files.
struct Taken {
    batch: Vec<WalkItem>,
    hints: Vec<Hint>,
}

/// What one hashing thread keeps from batch to batch.
struct Worker<'a> {
    ctx: &'a Ctx,
    then: &'a NextStage,
    cache: Option<&'a HashCache>,
    out: Outbox<'a>,
    buf: ReadBuf,
    /// The hash of the file just prepared, if it is worth recording (`record`).
    fresh: Vec<Fresh>,
}

impl Worker<'_> {
    /// Takes a batch from the walk: asks the cache about its files, and the kernel to
    /// start reading those it will hash (`hash::read_ahead`), in the walk's order.
    fn take(&self, batch: Vec<WalkItem>) -> Taken {
        let hints = self.hints(&batch);
        let to_read: Vec<_> = batch
            .iter()
            .zip(&hints)
            .filter_map(|(item, hint)| match (item, hint) {
                (WalkItem::File(f), Hint::NotAsked | Hint::Miss(_)) => {
                    Some((f.path.as_path(), f.size))
                }
                _ => None,
            })
            .collect();
        hash::read_ahead(&to_read);
        Taken { batch, hints }
    }

    /// Prepares every file of a batch. `false`: the run is stopping or the uploads stopped
    /// taking files.
    fn batch(&mut self, taken: Taken) -> bool {
        let ctx = self.ctx;
        let Taken { batch, hints } = taken;
        for (item, hint) in batch.into_iter().zip(hints) {
            if ctx.cancel.is_cancelled() {
                return false;
            }
            let file = match item {
                WalkItem::File(f) => f,
                WalkItem::Failed { display, error } => {
                    self.out.finish(failed_report(display, error));
                    continue;
                }
                WalkItem::Skipped { display, why } => {
                    self.out.warn(format!("skipped {display}: {why}"));
                    continue;
                }
                // Counted by the walk, never queued.
                WalkItem::Excluded { .. } => continue,
            };
            if file.size >= FLUSH_BEFORE {
                self.out.flush();
            }
            let display = file.display.clone();
            let prep = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                prepare(
                    ctx,
                    file,
                    Lookup {
                        cache: self.cache,
                        hint,
                    },
                    &mut self.buf,
                    &mut self.fresh,
                )
            }));
            self.record();
            if ctx.cancel.is_cancelled() {
                // Stopped mid-hash: the file was not attempted.
                return false;
            }
            match prep {
                Ok(Ok(p)) => match self.then {
                    NextStage::Plan => self.out.finish(p.report(Outcome::Planned)),
                    NextStage::Pass(tx) => {
                        // The upload queue may be full: nothing held back while waiting.
                        self.out.flush();
                        if tx.blocking_send(p).is_err() {
                            return false;
                        }
                    }
                },
                Ok(Err(report)) => self.out.finish(*report),
                Err(_) => self.out.finish(failed_report(
                    display,
                    "internal error while hashing".into(),
                )),
            }
        }
        true
    }

    /// Puts the hash just computed in the cache's buffer, before its file goes on: a file
    /// the uploads hold has its hash there, and the run's end writes the buffer however
    /// the run ends (after a signal it does not wait for a hashing thread still in its
    /// batch, which would record the batch too late).
    fn record(&mut self) {
        if let Some(c) = self.cache {
            c.put_many(&self.fresh);
        }
        self.fresh.clear();
    }

    /// What the cache knows of each file of the batch, asked all at once (one lock, one
    /// read transaction) by the identity the walk saw.
    fn hints(&self, batch: &[WalkItem]) -> Vec<Hint> {
        let asked = |item: &WalkItem| match item {
            WalkItem::File(f) if worth_caching(f.size) => Some(f.seen_as),
            _ => None,
        };
        let Some(cache) = self.cache else {
            return batch.iter().map(|_| Hint::NotAsked).collect();
        };
        let keys: Vec<FileKey> = batch.iter().filter_map(asked).collect();
        let mut answers = cache.get_many(&keys).into_iter();
        batch
            .iter()
            .map(|item| match asked(item) {
                None => Hint::NotAsked,
                Some(key) => match answers.next().flatten() {
                    Some(md5) => Hint::Hit(key, md5),
                    None => Hint::Miss(key),
                },
            })
            .collect()
    }
}

/// Whether a file of this size goes through the hash cache at all (see `cache::MIN_SIZE`).
fn worth_caching(size: u64) -> bool {
    size >= cache::MIN_SIZE
}

/// What the cache said about a file, asked by the identity the walk saw.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Hint {
    /// No cache, or a file too small for it.
    NotAsked,
    Miss(FileKey),
    Hit(FileKey, Md5Sum),
}

/// How `prepare` may find a file's MD5 without reading it.
struct Lookup<'a> {
    cache: Option<&'a HashCache>,
    hint: Hint,
}

/// Opens, identifies, hashes (or finds in the cache) and types one file. Blocking. A hash
/// worth keeping is added to `fresh`, for the cache.
fn prepare(
    ctx: &Ctx,
    file: WalkedFile,
    lookup: Lookup,
    buf: &mut ReadBuf,
    fresh: &mut Vec<Fresh>,
) -> Result<Prepared, Box<FileReport>> {
    let started = Instant::now();
    let fail = |file: &WalkedFile, why: String| {
        Box::new(FileReport {
            size: Some(file.size),
            took: Some(started.elapsed()),
            ..failed_report(file.display.clone(), why)
        })
    };
    let (f, meta) = hash::open_regular(&file.path).map_err(|e| {
        fail(
            &file,
            format!("cannot open: {}", crate::io_words::io_reason(&e)),
        )
    })?;
    let key = FileKey::from_metadata(&meta);
    let size = meta.len();
    // Only the key of the file opened counts: the walk's answer serves when the file is
    // still what the walk saw; otherwise (it changed since) the cache is asked again.
    let cache = lookup.cache.filter(|_| worth_caching(size));
    let cached = match (cache, lookup.hint) {
        (None, _) => None,
        (Some(_), Hint::Hit(seen, md5)) if seen == key => Some(md5),
        (Some(_), Hint::Miss(seen)) if seen == key => None,
        (Some(c), _) => c.get(&key),
    };
    let (md5, head) = match cached {
        Some(md5) => {
            let head = if ctx.mime_type.is_none() && media::needs_head(&file.path) {
                hash::read_head(&f).unwrap_or_default()
            } else {
                Vec::new()
            };
            (md5, head)
        }
        None => {
            let id = ctx.id();
            let show = size >= HASH_SHOW_MIN;
            let meter = Progress::default();
            if show {
                ctx.reporter.emit(Event::HashStart {
                    id,
                    path: file.display.clone(),
                    size: Some(size),
                    meter: meter.clone(),
                });
            }
            let mut progress = |n: u64| {
                if show {
                    meter.add(n);
                }
                // Stop hashing a big file promptly on Ctrl-C.
                !ctx.cancel.is_cancelled()
            };
            let result = hash::md5_file(&f, size, buf, &mut progress);
            if show {
                ctx.reporter.emit(Event::HashEnd { id });
            }
            let hashed = result.map_err(|e| {
                fail(
                    &file,
                    format!("cannot read: {}", crate::io_words::io_reason(&e)),
                )
            })?;
            let after = f.metadata().map(|m| FileKey::from_metadata(&m)).ok();
            if hashed.size != size || after != Some(key) {
                return Err(fail(&file, "changed while hashing; run again".into()));
            }
            if cache.is_some() {
                fresh.push((key, hashed.md5, crate::file_key::now_ns()));
            }
            (hashed.md5, hashed.head)
        }
    };
    Ok(Prepared {
        filename: file_name(&file.path),
        md5_hex: hash::to_hex(&md5),
        mime: ctx.media_type(&file.path, &head),
        md5,
        size,
        display: file.display,
        source: UploadSource::File {
            path: file.path,
            key,
        },
        started,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Reporter;
    use crate::ledger::Ledger;
    use md5::{Digest, Md5};
    use std::path::Path;
    use std::time::Duration;
    use tokio_util::sync::CancellationToken;

    fn walked(path: &Path) -> WalkedFile {
        let seen_as = match std::fs::metadata(path) {
            Ok(m) => FileKey::from_metadata(&m),
            Err(_) => FileKey {
                dev: 0,
                ino: 0,
                size: 5,
                mtime_ns: 0,
                ctime_ns: 0,
            },
        };
        WalkedFile {
            path: path.to_path_buf(),
            display: path.display().to_string(),
            size: seen_as.size,
            identity: None,
            seen_as,
        }
    }

    /// `prepare` as a worker calls it, with what the batch's lookup said; what it hashed is
    /// recorded in the cache as the worker records it, and returned.
    fn prep_with(
        ctx: &Ctx,
        file: WalkedFile,
        cache: Option<&HashCache>,
        hint: Hint,
    ) -> (Result<Prepared, Box<FileReport>>, Vec<Fresh>) {
        let mut fresh = Vec::new();
        let lookup = Lookup { cache, hint };
        let result = prepare(ctx, file, lookup, &mut ReadBuf::new(), &mut fresh);
        if let Some(c) = cache {
            c.put_many(&fresh);
        }
        (result, fresh)
    }

    fn prep(
        ctx: &Ctx,
        file: WalkedFile,
        cache: Option<&HashCache>,
    ) -> Result<Prepared, Box<FileReport>> {
        prep_with(ctx, file, cache, Hint::NotAsked).0
    }

    fn now_ns(later: Duration) -> i64 {
        (std::time::SystemTime::now() + later)
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as i64
    }

    /// The latest `recorded_at` the cache accepts (2 s ahead of now): a file changed
    /// just before now is then outside the racy window.
    fn plant(cache: &HashCache, key: &FileKey, md5: Md5Sum) {
        cache.put_at(key, md5, now_ns(Duration::from_secs(2)) - 1);
        cache.flush();
    }

    fn md5_hex(data: &[u8]) -> String {
        hex::encode(Md5::digest(data))
    }

    #[test]
    fn a_file_gone_between_walk_and_hash_fails_alone() {
        let (reporter, _events) = Reporter::channel();
        let ctx = Ctx::new(reporter, Ledger::unheard(), CancellationToken::new());
        let dir = tempfile::tempdir().unwrap();
        let here = dir.path().join("here.txt");
        std::fs::write(&here, "hello").unwrap();
        let gone = dir.path().join("gone.txt");
        let Err(report) = prep(&ctx, walked(&gone), None) else {
            panic!("a failure")
        };
        assert_eq!(report.outcome, Outcome::Failed);
        assert_eq!(
            report.error.as_deref(),
            Some("cannot open: no such file or directory")
        );
        let Ok(ok) = prep(&ctx, walked(&here), None) else {
            panic!("hashed")
        };
        assert_eq!(ok.md5_hex, "5d41402abc4b2a76b9719d911017c592");
        assert_eq!((ok.mime.as_str(), ok.size), ("text/plain", 5));
    }

    #[test]
    fn cache_hits_skip_reading() {
        if crate::file_key::no_cache_hits_here() {
            return;
        }
        let (reporter, _events) = Reporter::channel();
        let ctx = Ctx::new(reporter, Ledger::unheard(), CancellationToken::new());
        let dir = tempfile::tempdir().unwrap();
        let cache = HashCache::open(&dir.path().join("cache.sqlite")).unwrap();
        // A miss is hashed (and recorded, though a file this fresh is "racy": cache.rs's
        // tests cover when entries are trusted). Big enough for the cache.
        let content = "hello".repeat(1000);
        let f = dir.path().join("a.txt");
        std::fs::write(&f, &content).unwrap();
        let first = prep(&ctx, walked(&f), Some(&cache)).ok().unwrap();
        assert_eq!(first.md5_hex, md5_hex(content.as_bytes()));

        // A hit is not read: a planted entry comes back instead of the real digest.
        let key = FileKey::from_metadata(&std::fs::metadata(&f).unwrap());
        let planted = [7u8; 16];
        plant(&cache, &key, planted);
        let hit = prep(&ctx, walked(&f), Some(&cache)).ok().unwrap();
        assert_eq!(hit.md5, planted);
        assert_eq!(hit.size, 5000);
    }

    #[test]
    fn tiny_files_are_hashed_without_the_cache() {
        if crate::file_key::no_cache_hits_here() {
            return;
        }
        let (reporter, _events) = Reporter::channel();
        let ctx = Ctx::new(reporter, Ledger::unheard(), CancellationToken::new());
        let dir = tempfile::tempdir().unwrap();
        let cache = HashCache::open(&dir.path().join("cache.sqlite")).unwrap();
        let f = dir.path().join("tiny.txt");
        let content = vec![b'x'; cache::MIN_SIZE as usize - 1];
        std::fs::write(&f, &content).unwrap();
        let key = FileKey::from_metadata(&std::fs::metadata(&f).unwrap());

        // Not recorded...
        let (first, fresh) = prep_with(&ctx, walked(&f), Some(&cache), Hint::NotAsked);
        assert_eq!(first.ok().unwrap().md5_hex, md5_hex(&content));
        assert!(fresh.is_empty(), "{fresh:?}");
        // ...nor looked up: even a planted entry (from an older version) is not used.
        plant(&cache, &key, [7u8; 16]);
        let again = prep(&ctx, walked(&f), Some(&cache)).ok().unwrap();
        assert_eq!(again.md5_hex, md5_hex(&content));

        // One byte more, and the cache serves it.
        let content = vec![b'x'; cache::MIN_SIZE as usize];
        std::fs::write(&f, &content).unwrap();
        let key = FileKey::from_metadata(&std::fs::metadata(&f).unwrap());
        let (first, fresh) = prep_with(&ctx, walked(&f), Some(&cache), Hint::NotAsked);
        assert_eq!(first.ok().unwrap().md5_hex, md5_hex(&content));
        assert_eq!(fresh.len(), 1);
        assert_eq!(
            (fresh[0].0, fresh[0].1),
            (key, Md5::digest(&content).into())
        );
        plant(&cache, &key, [7u8; 16]);
        assert_eq!(
            prep(&ctx, walked(&f), Some(&cache)).ok().unwrap().md5,
            [7u8; 16]
        );
    }

    /// A file's hash is in the cache's buffer before the file reaches the uploads, not
    /// only once its batch is done: the end of a run stopped by a signal writes that
    /// buffer without waiting for the hashing threads.
    #[tokio::test]
    async fn a_hash_is_recorded_before_its_file_goes_on() {
        if crate::file_key::no_cache_hits_here() {
            return;
        }
        let (reporter, _events) = Reporter::channel();
        let ctx = Arc::new(Ctx::new(
            reporter,
            Ledger::unheard(),
            CancellationToken::new(),
        ));
        let dir = tempfile::tempdir().unwrap();
        let cache = Arc::new(HashCache::open(&dir.path().join("cache.sqlite")).unwrap());
        let batch: Vec<WalkItem> = (0..3u8)
            .map(|i| {
                let f = dir.path().join(format!("f{i}.bin"));
                std::fs::write(&f, vec![i; 10_000]).unwrap();
                WalkItem::File(walked(&f))
            })
            .collect();
        let (walk_tx, walk_rx) = mpsc::channel(1);
        walk_tx.send(batch).await.unwrap();
        drop(walk_tx);
        // Room for one file: the hashing thread cannot finish its batch of three until
        // two have been taken.
        let (tx, mut rx) = mpsc::channel(1);
        let stage = tokio::spawn(hash_stage(
            ctx,
            walk_rx,
            NextStage::Pass(tx),
            Some(cache.clone()),
        ));
        let first = rx.recv().await.unwrap();
        assert!(
            cache.pending() >= 1,
            "{} reached the uploads with its hash not recorded",
            first.display
        );
        let mut taken = 1;
        while rx.recv().await.is_some() {
            taken += 1;
        }
        stage.await.unwrap();
        assert_eq!((taken, cache.pending()), (3, 3));
    }

    /// The batch's answer serves only the file the walk saw; a file changed since is
    /// looked up by the key of what was opened.
    #[test]
    fn a_batch_answer_serves_only_an_unchanged_file() {
        if crate::file_key::no_cache_hits_here() {
            return;
        }
        let (reporter, _events) = Reporter::channel();
        let ctx = Ctx::new(reporter, Ledger::unheard(), CancellationToken::new());
        let dir = tempfile::tempdir().unwrap();
        let cache = HashCache::open(&dir.path().join("cache.sqlite")).unwrap();
        let f = dir.path().join("a.bin");
        let content = vec![3u8; 10_000];
        std::fs::write(&f, &content).unwrap();
        let file = walked(&f);
        let key = file.seen_as;
        let real: Md5Sum = Md5::digest(&content).into();

        // A hit for what the walk saw: not read, not recorded again.
        let (hit, fresh) = prep_with(&ctx, file.clone(), Some(&cache), Hint::Hit(key, [1; 16]));
        assert_eq!(hit.ok().unwrap().md5, [1; 16]);
        assert!(fresh.is_empty());

        // A miss for what the walk saw: hashed and recorded.
        let (miss, fresh) = prep_with(&ctx, file.clone(), Some(&cache), Hint::Miss(key));
        assert_eq!(miss.ok().unwrap().md5, real);
        assert_eq!(fresh.len(), 1);

        // The walk saw another file (it changed since): its answer is not used, the
        // cache is asked about the file opened, which it knows.
        let stale = FileKey {
            mtime_ns: key.mtime_ns - 1,
            ..key
        };
        plant(&cache, &key, [2; 16]);
        let (asked, fresh) = prep_with(&ctx, file.clone(), Some(&cache), Hint::Hit(stale, [1; 16]));
        assert_eq!(asked.ok().unwrap().md5, [2; 16]);
        assert!(fresh.is_empty());
        let (asked, _) = prep_with(&ctx, file, Some(&cache), Hint::Miss(stale));
        assert_eq!(asked.ok().unwrap().md5, [2; 16]);
    }
}
