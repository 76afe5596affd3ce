//! The platform's file events (inotify, FSEvents, ReadDirectoryChangesW, through the
//! `notify` crate), turned into the few things a watch needs to hear: this path may have
//! appeared or changed; events were lost.
//!
//! The events reach the watch's thread through a channel that never blocks the event
//! thread: past `MAX_QUEUED` unread changes (the watch's thread is busy walking, or waits
//! for a pipeline held up by an outage) the rest are dropped, and the watch catches up
//! with one rescan. An overflow of the platform's own queue is trouble: from then on the
//! watch rescans at an interval.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;

use notify::event::{AccessKind, AccessMode, ModifyKind, RenameMode};
use notify::{EventKind, RecursiveMode, Watcher};

use super::Msg;

/// Changes read from the platform and not yet taken by the watch's thread, at most.
const MAX_QUEUED: usize = 16_384;

/// How many changes wait in the channel, and whether some were dropped.
#[derive(Debug, Default)]
pub(super) struct Backlog {
    queued: AtomicUsize,
    lost: AtomicBool,
}

impl Backlog {
    /// A change was taken from the channel.
    pub(super) fn taken(&self) {
        self.queued.fetch_sub(1, Ordering::Relaxed);
    }

    /// Whether changes were dropped since the last call.
    pub(super) fn take_lost(&self) -> bool {
        self.lost.swap(false, Ordering::Relaxed)
    }
}

/// Why events cannot be relied on: said once, then the watch rescans at an interval.
pub(super) type Trouble = String;

/// The platform watcher; dropping it stops the events.
pub(super) struct Events {
    _watcher: notify::RecommendedWatcher,
}

/// What one watched PATH is, for the platform watcher.
pub(super) struct Watched<'a> {
    pub(super) abs: &'a Path,
    pub(super) is_dir: bool,
}

/// Starts listening under every PATH. Returns the watcher (if any could be started) and
/// the first trouble met (a PATH that cannot be watched, no events at all).
pub(super) fn start(
    paths: &[Watched<'_>],
    follow: bool,
    tx: Sender<Msg>,
    backlog: Arc<Backlog>,
) -> (Option<Events>, Option<Trouble>) {
    let handler = move |res: notify::Result<notify::Event>| match res {
        Ok(event) => {
            if event.need_rescan() {
                let _ = tx.send(Msg::Trouble(
                    "file events were lost (the system's queue of events overflowed)".into(),
                ));
                return;
            }
            let Some(moved_in) = relevant(&event.kind) else {
                return;
            };
            // A rename with both names: only the new one is of interest.
            let paths = match event.kind {
                EventKind::Modify(ModifyKind::Name(RenameMode::Both)) => {
                    event.paths.into_iter().skip(1).collect()
                }
                _ => event.paths,
            };
            for path in paths {
                if backlog.queued.fetch_add(1, Ordering::Relaxed) >= MAX_QUEUED {
                    backlog.queued.fetch_sub(1, Ordering::Relaxed);
                    backlog.lost.store(true, Ordering::Relaxed);
                    continue;
                }
                if tx.send(Msg::Changed { path, moved_in }).is_err() {
                    return;
                }
            }
        }
        Err(e) => {
            if let Some(why) = trouble_of(&e) {
                let _ = tx.send(Msg::Trouble(why));
            }
        }
    };
    // Folders behind symbolic links are watched as the walk walks them: with --follow.
    let config = notify::Config::default().with_follow_symlinks(follow);
    let mut watcher = match notify::RecommendedWatcher::new(handler, config) {
        Ok(w) => w,
        Err(e) => {
            return (
                None,
                Some(format!("file events are unavailable ({})", reason(&e))),
            )
        }
    };
    let mut trouble = None;
    for p in paths {
        // A single file is watched through its folder, so that replacing it (a new file
        // renamed over it, as editors and exporters do) is still seen.
        let (at, mode) = match (p.is_dir, p.abs.parent()) {
            (true, _) | (false, None) => (p.abs, RecursiveMode::Recursive),
            (false, Some(parent)) => (parent, RecursiveMode::NonRecursive),
        };
        if let Err(e) = watcher.watch(at, mode) {
            trouble.get_or_insert_with(|| {
                trouble_of(&e).unwrap_or_else(|| {
                    format!("{} cannot be watched ({})", at.display(), reason(&e))
                })
            });
        }
    }
    (Some(Events { _watcher: watcher }), trouble)
}

/// Whether an event kind can mean a new or changed file (`Some`), and whether it is a
/// rename into place (a folder moved in must be walked: its files had no events).
fn relevant(kind: &EventKind) -> Option<bool> {
    match kind {
        EventKind::Create(_) => Some(true),
        EventKind::Modify(ModifyKind::Name(RenameMode::From)) => None,
        EventKind::Modify(ModifyKind::Name(_)) => Some(true),
        EventKind::Modify(_) => Some(false),
        // Reads (ours too: hashing opens every file) say nothing; a close after writing
        // does.
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => Some(false),
        EventKind::Access(_) | EventKind::Remove(_) => None,
        EventKind::Any | EventKind::Other => Some(true),
    }
}

/// Errors that make events unreliable from now on; `None` for those that do not (a path
/// gone before its watch was added).
fn trouble_of(e: &notify::Error) -> Option<Trouble> {
    match &e.kind {
        notify::ErrorKind::MaxFilesWatch => Some(
            "the system's limit on watched folders was reached (on Linux, raise fs.inotify.max_user_watches)"
                .into(),
        ),
        notify::ErrorKind::PathNotFound | notify::ErrorKind::WatchNotFound => None,
        _ => Some(format!("file events failed ({})", reason(e))),
    }
}

/// A notify error in words, without its paths (the caller names the path).
fn reason(e: &notify::Error) -> String {
    match &e.kind {
        notify::ErrorKind::Io(io) => crate::io_words::io_reason(io),
        notify::ErrorKind::Generic(s) => s.clone(),
        notify::ErrorKind::PathNotFound => "no such file or directory".into(),
        notify::ErrorKind::WatchNotFound => "no such watch".into(),
        notify::ErrorKind::InvalidConfig(_) => "invalid configuration".into(),
        notify::ErrorKind::MaxFilesWatch => "too many watched folders".into(),
    }
}

/// On Linux: the network file system a path is on, if it is on one. Its events come from
/// this machine's changes only; files written by other machines make none.
#[cfg(target_os = "linux")]
pub(super) fn network_fs(path: &Path) -> Option<String> {
    let full = std::fs::canonicalize(path).ok()?;
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    fs_type(&full, &mounts).filter(|t| NETWORK.contains(&t.as_str()))
}

/// File systems whose events miss changes made by other machines.
#[cfg(target_os = "linux")]
const NETWORK: [&str; 12] = [
    "nfs",
    "nfs4",
    "cifs",
    "smb3",
    "smbfs",
    "9p",
    "ceph",
    "glusterfs",
    "afs",
    "fuse.sshfs",
    "fuse.rclone",
    "davfs",
];

/// The type of the file system `full` (a canonical path) is on, from the text of
/// `/proc/self/mountinfo`: the mount with the longest mount point holding it.
#[cfg(target_os = "linux")]
fn fs_type(full: &Path, mountinfo: &str) -> Option<String> {
    let mut best: Option<(usize, String)> = None;
    for line in mountinfo.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let Some(sep) = fields.iter().position(|f| *f == "-") else {
            continue;
        };
        let (Some(point), Some(fstype)) = (fields.get(4), fields.get(sep + 1)) else {
            continue;
        };
        let point = unescape_mount(point);
        let depth = point.components().count();
        if full.starts_with(&point) && best.as_ref().is_none_or(|(n, _)| depth >= *n) {
            best = Some((depth, (*fstype).to_string()));
        }
    }
    best.map(|(_, t)| t)
}

#[cfg(not(target_os = "linux"))]
pub(super) fn network_fs(_path: &Path) -> Option<String> {
    None
}

/// mountinfo writes a space as `\040` (and tab, newline, backslash likewise).
#[cfg(target_os = "linux")]
fn unescape_mount(s: &str) -> std::path::PathBuf {
    let mut out = Vec::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(u8::is_ascii_digit) {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 4], 8) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    use std::os::unix::ffi::OsStringExt;
    std::path::PathBuf::from(std::ffi::OsString::from_vec(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_removals_are_not_changes() {
        use notify::event::{CreateKind, DataChange, RemoveKind};
        assert_eq!(relevant(&EventKind::Create(CreateKind::File)), Some(true));
        assert_eq!(
            relevant(&EventKind::Modify(ModifyKind::Data(DataChange::Any))),
            Some(false)
        );
        assert_eq!(
            relevant(&EventKind::Modify(ModifyKind::Name(RenameMode::To))),
            Some(true)
        );
        assert_eq!(
            relevant(&EventKind::Modify(ModifyKind::Name(RenameMode::From))),
            None
        );
        assert_eq!(
            relevant(&EventKind::Access(AccessKind::Open(AccessMode::Any))),
            None
        );
        assert_eq!(
            relevant(&EventKind::Access(AccessKind::Close(AccessMode::Write))),
            Some(false)
        );
        assert_eq!(relevant(&EventKind::Remove(RemoveKind::File)), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn mount_points_with_spaces() {
        use std::path::PathBuf;
        assert_eq!(
            unescape_mount("/mnt/my\\040share"),
            PathBuf::from("/mnt/my share")
        );
        assert_eq!(unescape_mount("/plain"), PathBuf::from("/plain"));
        let info = "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n\
                    40 22 0:50 / /mnt/my\\040share rw shared:20 - nfs4 srv:/x rw\n\
                    41 40 0:51 / /mnt/my\\040share/local rw shared:21 - tmpfs tmpfs rw\n";
        let at = |p: &str| fs_type(Path::new(p), info);
        assert_eq!(at("/home/u/drop").as_deref(), Some("ext4"));
        assert_eq!(at("/mnt/my share/drop").as_deref(), Some("nfs4"));
        assert_eq!(at("/mnt/my share/local/x").as_deref(), Some("tmpfs"));
        assert_eq!(
            at("/mnt/my sharex").as_deref(),
            Some("ext4"),
            "whole components only"
        );
    }
}
