//! The hashing stage: one long-lived blocking worker per core opens each file, finds its
//! MD5 in the hash cache or computes it, and detects its media type.

use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use super::{failed_report, file_name, Ctx};
use crate::cache::{FileKey, HashCache};
use crate::event::{Event, FileReport, Outcome};
use crate::hash::{self, Md5Sum};
use crate::media;
use crate::walk::{self, WalkItem, WalkedFile};

/// Hashing progress is reported in steps of this many bytes.
const HASH_REPORT_STEP: u64 = 1 << 20;
/// Files smaller than this are not shown as separate hashing tasks.
const HASH_SHOW_MIN: u64 = 8 << 20;

/// A file hashed and typed, ready for the API.
pub(super) struct Prepared {
    pub(super) file: WalkedFile,
    pub(super) filename: String,
    pub(super) md5: Md5Sum,
    pub(super) md5_hex: String,
    pub(super) mime: String,
    pub(super) size: u64,
    pub(super) key: FileKey,
}

impl Prepared {
    pub(super) fn report(&self, outcome: Outcome) -> FileReport {
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
    pub(super) fn failed(&self, error: impl Into<String>) -> FileReport {
        FileReport {
            error: Some(error.into()),
            ..self.report(Outcome::Failed)
        }
    }
}

pub(super) async fn hash_stage(
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
    // tasks and blocking threads, which would leave cores idle between files. The upload
    // queue is bounded, so hashing runs ahead of the uploads by at most its length (plus
    // one file per worker).
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Reporter;
    use std::path::Path;
    use std::time::Duration;
    use tokio_util::sync::CancellationToken;

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
