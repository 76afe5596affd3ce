//! The watch's source of files: the first pass over the PATHs, then the platform's file
//! events (or rescans where there are none), each file handed on once it has settled.

use super::left_out::LeftOut;
use super::*;
use crate::walk::{display, Choice, Chooser};

/// A PATH being watched.
pub(super) struct Root {
    /// As given: displayed paths start with it.
    given: PathBuf,
    /// Absolute, as the platform's events name paths.
    abs: PathBuf,
    is_dir: bool,
}

/// Where an event's path is: its display path (as a walk would show it), the path to
/// open, and the relative path the globs see.
pub(super) struct Place {
    display: String,
    open: PathBuf,
    rel: String,
    root: usize,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum WalkPass {
    /// The first walk: counts what it leaves out and reports what it cannot walk.
    First,
    /// A later walk, after lost events or at the interval: only finds files to look at.
    Rescan,
}

/// The state of the watch's thread.
pub(super) struct WatchSource<'a> {
    watch: &'a Watch,
    feed: &'a dyn Feed,
    stop: &'a CancellationToken,
    rx: Receiver<Msg>,
    roots: Vec<Root>,
    settling: Settling,
    backlog: Arc<Backlog>,
    _events: Option<Events>,
    /// Set once events cannot be relied on (or with `--poll`): rescan this often.
    rescan_every: Option<Duration>,
    next_rescan: Option<Instant>,
    /// Rescan as soon as the waiting files leave room (events or waiting files were lost).
    rescan_soon: bool,
    said_trouble: bool,
    said_full: bool,
    status_sent: Option<WatchStatus>,
    status_at: Instant,
    /// The files left out so far, each counted once per appearance or change.
    left_out: LeftOut,
}

impl<'a> WatchSource<'a> {
    pub(super) fn new(
        watch: &'a Watch,
        feed: &'a dyn Feed,
        stop: &'a CancellationToken,
        rx: Receiver<Msg>,
    ) -> WatchSource<'a> {
        let cwd = std::env::current_dir().unwrap_or_default();
        let roots = watch
            .settings
            .walk
            .paths
            .iter()
            .map(|given| Root {
                given: given.clone(),
                abs: if given.is_absolute() {
                    given.clone()
                } else {
                    cwd.join(given)
                },
                is_dir: std::fs::metadata(given).is_ok_and(|m| m.is_dir()),
            })
            .collect();
        WatchSource {
            watch,
            feed,
            stop,
            rx,
            roots,
            settling: Settling::new(watch.ws.settle, MAX_SETTLING),
            backlog: Arc::new(Backlog::default()),
            _events: None,
            rescan_every: None,
            next_rescan: None,
            rescan_soon: false,
            said_trouble: false,
            said_full: false,
            status_sent: None,
            status_at: Instant::now(),
            left_out: LeftOut::default(),
        }
    }

    fn stopping(&self) -> bool {
        self.stop.is_cancelled()
    }

    /// Starts the platform's events (before the first pass, so that nothing written
    /// during it is missed), or rescans when they cannot serve.
    pub(super) fn start_events(&mut self, tx: Sender<Msg>) {
        if self.watch.ws.poll {
            self.rescan_every = Some(self.watch.ws.rescan_every);
            self.next_rescan = Some(Instant::now() + self.watch.ws.rescan_every);
            return;
        }
        let watched: Vec<events::Watched<'_>> = self
            .roots
            .iter()
            .map(|r| events::Watched {
                abs: &r.abs,
                is_dir: r.is_dir,
            })
            .collect();
        let follow = self.watch.settings.walk.follow;
        let (events, trouble) = events::start(&watched, follow, tx, self.backlog.clone());
        drop(watched);
        self._events = events;
        if let Some(why) = trouble {
            self.fallback(why);
        }
        let remote = self
            .roots
            .iter()
            .find_map(|r| events::network_fs(&r.abs).map(|fs| (r.given.clone(), fs)));
        if let Some((path, fs)) = remote {
            self.fallback(format!(
                "{} is on a network file system ({fs}), whose events miss files written by other machines",
                path.display()
            ));
        }
    }

    /// Events cannot be relied on: rescan at the interval from now on (said once).
    fn fallback(&mut self, why: String) {
        let every = self.watch.ws.rescan_every;
        if self.rescan_every.is_none() {
            self.rescan_every = Some(every);
            self.next_rescan = Some(Instant::now() + every);
        }
        if !self.said_trouble {
            self.said_trouble = true;
            self.feed.emit(Event::Warning(format!(
                "{why}: rescanning the PATHs every {}",
                crate::duration::shown(every)
            )));
        }
    }

    /// A walk of every PATH: each file not waiting, in flight or unchanged is looked at.
    pub(super) fn pass(&mut self, pass: WalkPass) {
        let settings = self.watch.settings.clone();
        let first = pass == WalkPass::First;
        // As a normal run does: a file reached twice (a hard link, PATHs that overlap) is
        // taken once. Only for the first pass; later, the record knows the file.
        let mut chooser = if first {
            Chooser::new(settings.shard)
        } else {
            Chooser::forgetful(settings.shard)
        };
        // A watch has no --files-from list (`settings::watch` refuses it), the one source
        // of a walk's error.
        let _no_list = walk::walk(&settings.walk, &settings.filter, None, &mut |item| {
            if self.stopping() {
                return false;
            }
            match item {
                WalkItem::Excluded { display, path } => {
                    let key = std::fs::metadata(&path)
                        .ok()
                        .map(|m| FileKey::from_metadata(&m));
                    self.left_out(&display, key.as_ref());
                    true
                }
                WalkItem::File(f) => match chooser.choose(&f) {
                    Choice::OtherShard => {
                        self.left_out(&f.display, Some(&f.seen_as));
                        true
                    }
                    Choice::Twice(warning) => {
                        self.feed.emit(Event::Warning(warning));
                        true
                    }
                    Choice::Take => self.offer(f.display, f.path),
                },
                // What cannot be walked fails once, in the first pass; a rescan says
                // nothing more about it.
                item @ (WalkItem::Failed { .. } | WalkItem::Skipped { .. }) => {
                    !first || self.feed.send(item)
                }
            }
        });
    }

    /// A file a filter or the shard left out: counted as excluded when it is new or changed
    /// since it was last left out (`LeftOut`).
    fn left_out(&mut self, display: &str, key: Option<&FileKey>) {
        if self.left_out.newly(display, key) {
            self.feed.exclude();
        }
    }

    /// A file found by a walk: looked at now unless it is waiting or in flight. False:
    /// the run is stopping.
    fn offer(&mut self, display: String, path: PathBuf) -> bool {
        if self.settling.contains(&display) || self.watch.mark_in_flight(&display) {
            return true;
        }
        let due = Settling::fresh(display, path, Instant::now());
        self.look(due)
    }

    /// A file an event or a requeue names: it waits its turn, unless in flight.
    fn candidate(&mut self, display: String, path: PathBuf) {
        if self.watch.mark_in_flight(&display) {
            return;
        }
        if !self.settling.add(display, path, Instant::now()) {
            self.too_many();
        }
    }

    /// Looks at a file: gone or unchanged since it was sent, nothing to do; still for the
    /// settle time, taken; else it waits. False: the run is stopping.
    fn look(&mut self, mut due: Due) -> bool {
        let meta = match std::fs::metadata(&due.path) {
            Ok(m) if m.is_file() => m,
            // Deleted (or replaced by something that is not a file): ignored.
            _ => return true,
        };
        let key = FileKey::from_metadata(&meta);
        let id = FileId::of(&due.path, &meta);
        if let Some(r) = &self.watch.record {
            if r.unchanged(&id, &key) {
                return true;
            }
        }
        let now = Instant::now();
        match self
            .settling
            .judge(&mut due, key, meta.modified().ok(), now, SystemTime::now())
        {
            // The globs, the shard, and the size and age limits are judged on the file as
            // it is taken: a file left out counts once it is still, as an upload would.
            SettleVerdict::Ready => {
                let wanted = self.wanted_open(&due.path);
                let judged = self.watch.settings.filter.judge(
                    meta.len(),
                    || meta.modified(),
                    SystemTime::now(),
                );
                match judged {
                    Ok(walk::FilterVerdict::Take) if wanted => self.take(due, &meta, id, key),
                    Ok(walk::FilterVerdict::Take | walk::FilterVerdict::Exclude) => {
                        self.left_out(&due.display, Some(&key));
                        true
                    }
                    // Too young: a watch settles instead (its filter has no --min-age, so
                    // this does not happen); or its time cannot be read (the walk reports
                    // that).
                    Ok(walk::FilterVerdict::TooYoung) | Err(_) => true,
                }
            }
            SettleVerdict::Later(at) => {
                if !self.settling.again(due, at) {
                    self.too_many();
                }
                true
            }
        }
    }

    /// Hands a settled file to the pipeline. False: the run is stopping.
    fn take(&mut self, due: Due, meta: &std::fs::Metadata, id: FileId, key: FileKey) -> bool {
        let Due { display, path, .. } = due;
        self.watch.flights().insert(
            display.clone(),
            Flight {
                path: path.clone(),
                id,
                key,
                observed_at: now_ns(),
                hashed: None,
                dirty: false,
            },
        );
        self.feed.send(WalkItem::File(WalkedFile {
            path,
            display,
            size: meta.len(),
            identity: crate::file_key::identity(meta),
            seen_as: key,
        }))
    }

    fn too_many(&mut self) {
        self.rescan_soon = true;
        if !self.said_full {
            self.said_full = true;
            self.feed.emit(Event::Warning(format!(
                "more than {MAX_SETTLING} files are waiting to settle; the others are found by a rescan once these are done"
            )));
        }
    }

    /// After the first pass: events, rescans and waiting files until the run stops.
    pub(super) fn serve(&mut self) {
        loop {
            while let Ok(msg) = self.rx.try_recv() {
                self.handle(msg);
            }
            if self.stopping() {
                return;
            }
            if self.backlog.take_lost() {
                // Dropped while this thread was busy: one rescan catches up.
                self.rescan_soon = true;
            }
            let now = Instant::now();
            let room_to_rescan = self.settling.len() < MAX_SETTLING / 2;
            if (self.rescan_soon && room_to_rescan) || self.next_rescan.is_some_and(|t| t <= now) {
                self.rescan_soon = false;
                self.pass(WalkPass::Rescan);
                if let Some(every) = self.rescan_every {
                    self.next_rescan = Some(Instant::now() + every);
                }
                continue;
            }
            while self.feed.has_room() {
                let Some(due) = self.settling.pop_due(Instant::now()) else {
                    break;
                };
                if !self.look(due) {
                    return;
                }
            }
            self.report_status(false);
            self.sleep();
        }
    }

    /// Waits for a message, or until the next file is due, a rescan, or the status.
    fn sleep(&mut self) {
        let now = Instant::now();
        let mut wake = now + IDLE_TICK;
        if let Some(t) = self.settling.next_due() {
            wake = wake.min(if t <= now { now + ROOM_POLL } else { t });
        }
        if let Some(t) = self.next_rescan {
            wake = wake.min(t);
        }
        if Some(self.status()) != self.status_sent {
            wake = wake.min(self.status_at + STATUS_EVERY);
        }
        match self.rx.recv_timeout(wake.saturating_duration_since(now)) {
            Ok(msg) => self.handle(msg),
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {}
        }
    }

    fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::Changed { path, moved_in } => {
                self.backlog.taken();
                self.changed(&path, moved_in);
            }
            Msg::Trouble(why) => {
                self.rescan_soon = true;
                self.fallback(why);
            }
            Msg::Requeue { display, path } => self.candidate(display, path),
            Msg::Wake => {}
        }
    }

    /// The platform says `path` may have appeared or changed.
    fn changed(&mut self, path: &Path, moved_in: bool) {
        let Some(place) = self.place(path) else {
            return;
        };
        let Ok(lmeta) = std::fs::symlink_metadata(&place.open) else {
            // Gone already: deleted files are ignored.
            return;
        };
        let meta = if lmeta.file_type().is_symlink() {
            match std::fs::metadata(&place.open) {
                Ok(m) => m,
                Err(_) => return,
            }
        } else {
            lmeta.clone()
        };
        if meta.is_dir() {
            // A folder made or moved in: its files (and a folder moved in has them all
            // already) made no events of their own. A link to a folder only with --follow.
            let follow = self.watch.settings.walk.follow;
            if moved_in && (follow || !lmeta.file_type().is_symlink()) {
                self.walk_folder(&place);
            }
        } else if meta.is_file() && self.folders_wanted(&place) {
            // Left out by its own name or not, it waits to settle: what is left out counts
            // once it is still. A file in a folder `--exclude` prunes is not looked at, as
            // the walk does not walk such a folder.
            self.candidate(place.display, place.open);
        }
    }

    /// Which PATH an event's path is under, and how a walk would show it; `None` for a
    /// path outside every PATH.
    fn place(&self, path: &Path) -> Option<Place> {
        let (i, root) = self
            .roots
            .iter()
            .enumerate()
            .filter(|(_, r)| path.starts_with(&r.abs))
            .max_by_key(|(_, r)| r.abs.components().count())?;
        let rest = path.strip_prefix(&root.abs).ok()?;
        let is_root = rest.as_os_str().is_empty();
        if is_root == root.is_dir {
            // A folder PATH itself, or a path below a file PATH: nothing to take.
            return None;
        }
        let open = if is_root {
            root.given.clone()
        } else {
            root.given.join(rest)
        };
        Some(Place {
            display: display(&open),
            rel: rel_string(if is_root { &root.given } else { rest }),
            open,
            root: i,
        })
    }

    /// Whether the globs and the shard take the file at `open` (a path as the walk or
    /// `place` gives it: under the PATH as given).
    fn wanted_open(&self, open: &Path) -> bool {
        let Some((i, root)) = self
            .roots
            .iter()
            .enumerate()
            .filter(|(_, r)| open.starts_with(&r.given))
            .max_by_key(|(_, r)| r.given.components().count())
        else {
            return true;
        };
        let rest = open.strip_prefix(&root.given).unwrap_or(open);
        let rel = rel_string(if rest.as_os_str().is_empty() {
            &root.given
        } else {
            rest
        });
        self.wanted_file(&Place {
            display: display(open),
            open: open.to_path_buf(),
            rel,
            root: i,
        })
    }

    /// Whether `--exclude` leaves every folder above this file to be walked.
    fn folders_wanted(&self, place: &Place) -> bool {
        match place.rel.rsplit_once('/') {
            Some((parent, _)) => self.wanted_folder(parent),
            None => true,
        }
    }

    /// Whether the globs (with every folder above the file) and the shard take this file.
    fn wanted_file(&self, place: &Place) -> bool {
        let s = &self.watch.settings;
        self.folders_wanted(place)
            && s.filter.wants_file(&place.rel)
            && Chooser::forgetful(s.shard).in_shard(&place.display)
    }

    /// Whether `--exclude` leaves this folder (and every one above it) to be walked.
    fn wanted_folder(&self, rel: &str) -> bool {
        let f = &self.watch.settings.filter;
        let mut end = 0;
        for part in rel.split('/') {
            end += part.len();
            if !f.wants_dir(&rel[..end]) {
                return false;
            }
            end += 1;
        }
        true
    }

    /// Walks a folder that appeared, as the walk walks a PATH (`walk::walk_dir`): each
    /// file, left out by a filter or not, is looked at as a rescan's would be; what is
    /// left out counts once it is still.
    fn walk_folder(&mut self, place: &Place) {
        if !self.wanted_folder(&place.rel) {
            return;
        }
        let settings = self.watch.settings.clone();
        let root = self.roots[place.root].given.clone();
        walk::walk_dir(
            &root,
            &place.open,
            settings.walk.follow,
            // Reached twice or not, the record tells a file it has sent.
            false,
            &settings.filter,
            &mut |item| {
                if self.stopping() {
                    return false;
                }
                match item {
                    WalkItem::File(WalkedFile { display, path, .. })
                    | WalkItem::Excluded { display, path } => self.offer(display, path),
                    // What cannot be walked is left to a rescan's first pass.
                    WalkItem::Failed { .. } | WalkItem::Skipped { .. } => true,
                }
            },
        );
    }

    fn status(&self) -> WatchStatus {
        let folders = self.roots.iter().filter(|r| r.is_dir).count() as u64;
        WatchStatus {
            folders,
            files: self.roots.len() as u64 - folders,
            settling: self.settling.len() as u64,
            rescanning: self.rescan_every.is_some(),
        }
    }

    /// Tells the output what the watch is doing, when that changed (at most every
    /// `STATUS_EVERY`, unless `now`).
    pub(super) fn report_status(&mut self, now: bool) {
        let status = self.status();
        if Some(status) == self.status_sent || (!now && self.status_at.elapsed() < STATUS_EVERY) {
            return;
        }
        self.status_sent = Some(status);
        self.status_at = Instant::now();
        self.feed.emit(Event::Watching(status));
    }
}
