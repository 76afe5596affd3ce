//! A file's identity as the filesystem reports it (`FileKey`): what the hash cache and the
//! watch's record are keyed by, what the walk and the upload compare to tell a changed
//! file from an unchanged one; and the clock they record it by.

use std::time::{SystemTime, UNIX_EPOCH};

pub(crate) const NS_PER_SEC: i128 = 1_000_000_000;
pub(crate) const SECS_PER_DAY: i64 = 86_400;

/// Now, in nanoseconds since the Unix epoch: when a key or a hash is recorded.
pub fn now_ns() -> i64 {
    i64::try_from(system_time_ns(SystemTime::now())).unwrap_or(i64::MAX)
}

/// The day (since the Unix epoch) of a time in nanoseconds: when a row was last seen.
pub(crate) fn day_of(ns: i64) -> i64 {
    ns.div_euclid(NS_PER_SEC as i64 * SECS_PER_DAY)
}

/// Which file, whatever its path or content: device and inode (`None` where metadata has
/// none: on Windows only an open file tells, see `identity_of_path`). A file reached twice
/// by a walk, or a database file replaced under a run, is told by it.
pub(crate) fn identity(m: &std::fs::Metadata) -> Option<(u64, u64)> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Some((m.dev(), m.ino()))
    }
    #[cfg(not(unix))]
    {
        let _ = m;
        None
    }
}

/// The identity of the file at `path` (links followed): `identity` of its metadata; on
/// Windows its volume's serial number and its file index, asked of a handle opened for
/// no access (as `std::fs::metadata` opens one: no sharing mode stands in its way), as
/// Go's `os.SameFile` does. One open and close more a file there.
pub(crate) fn identity_of_path(path: &std::path::Path) -> Option<(u64, u64)> {
    #[cfg(windows)]
    {
        use std::os::windows::fs::OpenOptionsExt;
        use std::os::windows::io::AsRawHandle;
        use windows_sys::Win32::Storage::FileSystem::{
            GetFileInformationByHandle, BY_HANDLE_FILE_INFORMATION,
        };
        let file = std::fs::OpenOptions::new().access_mode(0).open(path).ok()?;
        let mut info = std::mem::MaybeUninit::<BY_HANDLE_FILE_INFORMATION>::zeroed();
        // SAFETY: the handle is `file`'s, open for the whole call; the call writes `info`,
        // which is valid for its size, and nothing else.
        let ok = unsafe { GetFileInformationByHandle(file.as_raw_handle(), info.as_mut_ptr()) };
        if ok == 0 {
            return None;
        }
        // SAFETY: zeroed, then filled by the successful call; plain integers only.
        let info = unsafe { info.assume_init() };
        let index = (u64::from(info.nFileIndexHigh) << 32) | u64::from(info.nFileIndexLow);
        Some((u64::from(info.dwVolumeSerialNumber), index))
    }
    #[cfg(not(windows))]
    {
        std::fs::metadata(path).ok().and_then(|m| identity(&m))
    }
}

/// For a test of the hash cache's hits, which there are none of where a key has no
/// identity (Windows; `cache::CachedKey::new`): true there, after saying so on stderr
/// (past the test harness's capture, so that every run shows it); the test then returns.
#[cfg(test)]
pub(crate) fn no_cache_hits_here() -> bool {
    use std::io::Write;
    if cfg!(unix) {
        return false;
    }
    let thread = std::thread::current();
    let _ = writeln!(
        std::io::stderr().lock(),
        "skipped: {}: the hash cache holds nothing where files have no identity (Windows)",
        thread.name().unwrap_or("a test")
    );
    true
}

/// Identity of a file's content as the filesystem reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileKey {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime_ns: i128,
    pub ctime_ns: i128,
}

impl FileKey {
    /// Builds the key from `std::fs::metadata` (follow symlinks: the key must
    /// describe the file whose content is hashed).
    ///
    /// On Unix every field comes from [`std::os::unix::fs::MetadataExt`]; the
    /// ctime (inode change time) catches changes that restore the old mtime,
    /// e.g. `touch -d` or a rename over the file.
    ///
    /// On other platforms this is a best effort: `dev` and `ino` are 0,
    /// `mtime_ns` comes from `modified()` and `ctime_ns` from `created()` (or
    /// 0 when unavailable). The key then tells a file's content only by size
    /// and timestamps: two different files with the same size and the same
    /// modification and creation times (on Windows, files written within one
    /// clock tick) have the same key, so the hash cache holds no key without
    /// an identity (`cache::CachedKey::new`).
    pub fn from_metadata(m: &std::fs::Metadata) -> FileKey {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            FileKey {
                dev: m.dev(),
                ino: m.ino(),
                size: m.size(),
                mtime_ns: i128::from(m.mtime()) * NS_PER_SEC + i128::from(m.mtime_nsec()),
                ctime_ns: i128::from(m.ctime()) * NS_PER_SEC + i128::from(m.ctime_nsec()),
            }
        }
        #[cfg(not(unix))]
        {
            FileKey {
                dev: 0,
                ino: 0,
                size: m.len(),
                mtime_ns: m.modified().map(system_time_ns).unwrap_or(0),
                ctime_ns: m.created().map(system_time_ns).unwrap_or(0),
            }
        }
    }
}

/// Nanoseconds since the Unix epoch (negative before it).
fn system_time_ns(t: SystemTime) -> i128 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_nanos() as i128,
        Err(e) => -(e.duration().as_nanos() as i128),
    }
}
