//! Stage 1's hand-off: how files reach the hashing stage. The walk's `WalkFeed` drops what
//! filters, shards and a second visit leave out, counts the files found and hands the rest
//! on in batches; a watch's `WatchFeed` does the same for the files it finds.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::Ctx;
use crate::event::Event;
use crate::settings::Settings;
use crate::walk::{self, Choice, Chooser, WalkItem};
use crate::watch;

/// The walk hands files to the hashing stage in batches of at most this many: one
/// wake-up of a hashing thread for many small files, instead of one per file.
const BATCH_FILES: usize = 128;
/// A batch also ends with the file that brings it to this many bytes, so that no file
/// waits in a batch behind a big one while another hashing thread has nothing to do.
const BATCH_BYTES: u64 = 1 << 20;
/// A batch not full after this long goes as it is (a slow disk, a slow list).
const BATCH_AGE: Duration = Duration::from_millis(50);
/// Batches waiting between the walk and the hashing stage, at most (with `BATCH_FILES`,
/// the 1024 files the queue held when it held files).
pub(super) const WALK_QUEUE: usize = 8;
/// The walk's side of stage 1: drops what filters, shards and a second visit leave
/// out, counts the files found, and hands the rest to the hashing stage in batches.
pub(super) struct WalkFeed<'a> {
    ctx: &'a Ctx,
    tx: mpsc::Sender<Vec<WalkItem>>,
    chooser: Chooser,
    /// What `--if-no-files` judges: what the filters let through, before sharding (a
    /// shard with no file of its own is no mistake).
    pub(super) candidates: u64,
    batch: Vec<WalkItem>,
    /// Of the batch (and of the files left out since it was sent).
    bytes: u64,
    found: u64,
    found_bytes: u64,
    excluded: u64,
    since: Option<Instant>,
}

impl<'a> WalkFeed<'a> {
    pub(super) fn new(
        ctx: &'a Ctx,
        settings: &Settings,
        tx: mpsc::Sender<Vec<WalkItem>>,
    ) -> WalkFeed<'a> {
        WalkFeed {
            ctx,
            tx,
            chooser: Chooser::new(settings.shard),
            candidates: 0,
            batch: Vec::with_capacity(BATCH_FILES),
            bytes: 0,
            found: 0,
            found_bytes: 0,
            excluded: 0,
            since: None,
        }
    }

    /// Counts what was found, then hands the batch on (unless the run is stopping).
    /// `false`: the hashing stage is gone.
    fn flush(&mut self) -> bool {
        self.since = None;
        self.bytes = 0;
        if self.found > 0 {
            let (files, bytes) = (self.found, self.found_bytes);
            (self.found, self.found_bytes) = (0, 0);
            self.ctx.found(files, bytes);
        }
        if self.excluded > 0 {
            self.ctx.exclude(std::mem::take(&mut self.excluded));
        }
        if self.batch.is_empty() || self.ctx.cancel.is_cancelled() {
            self.batch.clear();
            return true;
        }
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH_FILES));
        self.tx.blocking_send(batch).is_ok()
    }

    /// The walk is over (or stopped): what it found is counted, and handed on unless the
    /// run is stopping.
    pub(super) fn end(&mut self) {
        self.flush();
    }
}

/// Where a watch's files go: into the pipeline's first queue, counted as the walk counts.
pub(super) struct WatchFeed {
    pub(super) ctx: Arc<Ctx>,
    pub(super) tx: mpsc::Sender<Vec<WalkItem>>,
    pub(super) stop: CancellationToken,
    pub(super) runtime: tokio::runtime::Handle,
}

impl watch::Feed for WatchFeed {
    fn exclude(&self) {
        self.ctx.exclude(1);
    }

    fn has_room(&self) -> bool {
        self.tx.capacity() > 0
    }

    fn send(&self, item: WalkItem) -> bool {
        match &item {
            WalkItem::File(f) => self.ctx.found(1, f.size),
            WalkItem::Failed { .. } => self.ctx.found(1, 0),
            WalkItem::Skipped { .. } | WalkItem::Excluded { .. } => {}
        }
        // On the watch's own (blocking) thread: wait for room, or for the stop.
        self.runtime.block_on(async {
            tokio::select! {
                sent = self.tx.send(vec![item]) => sent.is_ok(),
                () = self.stop.cancelled() => false,
            }
        })
    }

    fn emit(&self, event: Event) {
        self.ctx.reporter.emit(event);
    }
}

impl walk::Sink for WalkFeed<'_> {
    fn item(&mut self, item: WalkItem) -> bool {
        if self.ctx.cancel.is_cancelled() {
            return false;
        }
        match &item {
            WalkItem::Excluded { .. } => self.excluded += 1,
            WalkItem::File(f) => {
                self.candidates += 1;
                match self.chooser.choose(f) {
                    Choice::OtherShard => self.excluded += 1,
                    Choice::Twice(warning) => self.ctx.reporter.warn(warning),
                    Choice::Take => {
                        self.found += 1;
                        self.found_bytes += f.size;
                        self.bytes += f.size;
                        self.batch.push(item);
                    }
                }
            }
            // It gets an outcome too, so it counts among the files found. It is not
            // sharded: a path that cannot be walked may hold files of every shard, so
            // every shard reports it.
            WalkItem::Failed { .. } => {
                self.candidates += 1;
                self.found += 1;
                self.batch.push(item);
            }
            WalkItem::Skipped { .. } => self.batch.push(item),
        }
        let since = *self.since.get_or_insert_with(Instant::now);
        let full = self.batch.len() >= BATCH_FILES
            || self.bytes >= BATCH_BYTES
            || self.excluded >= BATCH_FILES as u64;
        if full || since.elapsed() >= BATCH_AGE {
            return self.flush();
        }
        true
    }

    fn idle(&mut self) -> bool {
        self.flush()
    }
}
