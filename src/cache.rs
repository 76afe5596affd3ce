//! Persistent hash cache: lets a re-run over an unchanged tree skip reading
//! file contents.
//!
//! The cache maps a file's identity as the filesystem reports it (device,
//! inode, size, nanosecond mtime and ctime; see [`FileKey`]) to the MD5 of its
//! content. It lives in an SQLite database (`hashes.sqlite` in the platform
//! cache directory) opened in WAL mode, so several concurrent runs can share
//! it: readers never block, writers queue behind a short busy timeout, and a
//! crash at any point leaves a consistent database.
//!
//! Design rules:
//! * The cache is an optimisation only. Every error is swallowed (and
//!   counted, see [`HashCache::errors`]): a failing lookup is a miss, a failing
//!   insert is dropped, a cache that cannot be opened means "run without one".
//! * The database is opened through `db` (the SQLite layer the watch's record
//!   shares): a damaged or foreign file is moved aside (to `<path>.corrupt`)
//!   and a new one started, at open or when SQLite finds damage in the middle
//!   of a run (the cache is then bypassed until the run ends), and the caller
//!   is told once (`open_with`'s `on_damage`); a schema-version mismatch drops
//!   and recreates the table.
//! * Entries are never trusted blindly: every field of the key must match, and
//!   git's racy-timestamp rule applies (`db::trusted`).
//! * Inserts are buffered and committed in one transaction every
//!   [`BATCH_SIZE`] operations and on [`HashCache::flush`] / drop, so 100,000
//!   files cost a few dozen commits, not 100,000 (and with
//!   `synchronous=NORMAL` in WAL mode a commit does not fsync). Lookups come
//!   in batches too ([`HashCache::get_many`]): one lock and one read
//!   transaction for many files. A hashing thread buffers each hash as soon as
//!   it has it, before the file goes on to be uploaded.
//! * Callers skip the cache for files smaller than [`MIN_SIZE`]: it cannot
//!   pay for them.
//!
//! Callers must build the [`FileKey`] from metadata taken *before* reading the
//! file: if the file then changes while it is being hashed, its new mtime or
//! ctime no longer matches the stored key, or (if the change fell in the same
//! timestamp tick) the entry is racy and not trusted.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use rusqlite::types::ValueRef;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use crate::db::{self, OnDamage, Schema};
use crate::file_key::{day_of, now_ns, FileKey};
use crate::sync::lock;

/// Number of buffered operations (inserts and last-seen touches) committed
/// together in one transaction. A commit rewrites every page it touches, and
/// files come in no order of their keys, so a batch touches about as many
/// pages as it has entries until it covers the table: 4096 made a first run
/// over 300,000 small files a third cheaper than 512 (measured), for about
/// 300 KiB of buffer.
pub const BATCH_SIZE: usize = 4096;

/// Files smaller than this are neither looked up nor recorded: the cache
/// cannot pay for them. Measured on 30,000 files in the page cache, 2 cores:
/// a hit saves 0.3 us a file of 4 bytes, 3 us at 1 KiB, 7 us at 4 KiB and 27
/// us at 16 KiB over reading and hashing it, while recording a hash on a
/// first run costs about 5 us. From 4 KiB on, a second run wins back what
/// the first spent; below, the cache would make a tree of tiny files slower.
pub const MIN_SIZE: u64 = 4096;

/// Entries not looked up or inserted for this many days are deleted when the
/// cache is opened, which keeps the table bounded by the set of files a user
/// actually uploads. `last_seen_day` is refreshed at most once a day per
/// entry, so hits cost no write on most runs.
pub const RETENTION_DAYS: i64 = 90;

/// The key as stored: SQLite integers are i64. `u64` fields are stored
/// bit-for-bit (as `i64`); timestamps outside the i64-nanosecond range
/// (before 1677 or after 2262) cannot be stored and are simply not cached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct CachedKey {
    dev: i64,
    ino: i64,
    size: i64,
    mtime_ns: i64,
    ctime_ns: i64,
}

impl CachedKey {
    /// `None` for a key the cache cannot hold: a timestamp out of range, or no identity
    /// (`dev` and `ino` both 0: on Windows, where `FileKey` has none), since two files of
    /// the same size and times would then share an entry, and the second be announced
    /// with the first one's MD5 (and so skipped as already uploaded).
    fn new(k: &FileKey) -> Option<CachedKey> {
        if k.dev == 0 && k.ino == 0 {
            return None;
        }
        Some(CachedKey {
            dev: k.dev as i64,
            ino: k.ino as i64,
            size: k.size as i64,
            mtime_ns: i64::try_from(k.mtime_ns).ok()?,
            ctime_ns: i64::try_from(k.ctime_ns).ok()?,
        })
    }

    /// The latest timestamp the entry must predate (by the racy margin).
    fn changed_ns(&self) -> i64 {
        self.mtime_ns.max(self.ctime_ns)
    }
}

enum Op {
    Put {
        key: CachedKey,
        md5: [u8; 16],
        recorded_at: i64,
    },
    Touch {
        key: CachedKey,
        day: i64,
    },
}

struct Inner {
    conn: Connection,
    pending: Vec<Op>,
}

/// A persistent, process-shareable cache from [`FileKey`] to MD5.
///
/// `Send + Sync`: one connection behind a mutex. A lookup is a single indexed
/// primary-key probe through a cached prepared statement (a few
/// microseconds), far cheaper than opening and hashing the file it saves, so
/// serialising lookups is not a bottleneck.
pub struct HashCache {
    inner: Mutex<Inner>,
    path: PathBuf,
    errors: AtomicU64,
    /// Set when SQLite reports damage at run time: the file is then moved
    /// aside and the cache bypassed for the rest of the run.
    broken: AtomicBool,
    on_damage: OnDamage,
    /// The file the connection opened (`db::identity`).
    opened: Option<(u64, u64)>,
}

/// The hash cache's database file.
const SCHEMA: Schema = Schema {
    what: "the hash cache",
    cost: "files will be hashed again",
    // "chfU"
    application_id: 0x6368_6655,
    // Bumped whenever the table layout or the meaning of a column changes.
    version: 1,
    table: "hashes",
    create: "CREATE TABLE hashes (
    dev            INTEGER NOT NULL,
    ino            INTEGER NOT NULL,
    size           INTEGER NOT NULL,
    mtime_ns       INTEGER NOT NULL,
    ctime_ns       INTEGER NOT NULL,
    md5            BLOB    NOT NULL,
    recorded_at_ns INTEGER NOT NULL,
    last_seen_day  INTEGER NOT NULL,
    PRIMARY KEY (dev, ino, size, mtime_ns, ctime_ns)
) WITHOUT ROWID",
    statements: &[SQL_GET, SQL_PUT],
    quick_check: true,
    seen_column: "last_seen_day",
    retention_days: RETENTION_DAYS,
    require_wal: true,
};

const SQL_GET: &str = "SELECT md5, recorded_at_ns, last_seen_day FROM hashes
    WHERE dev = ?1 AND ino = ?2 AND size = ?3 AND mtime_ns = ?4 AND ctime_ns = ?5";
const SQL_DELETE_INODE: &str = "DELETE FROM hashes WHERE dev = ?1 AND ino = ?2";
const SQL_PUT: &str = "INSERT OR REPLACE INTO hashes
    (dev, ino, size, mtime_ns, ctime_ns, md5, recorded_at_ns, last_seen_day)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
const SQL_TOUCH: &str = "UPDATE hashes SET last_seen_day = ?6
    WHERE dev = ?1 AND ino = ?2 AND size = ?3 AND mtime_ns = ?4 AND ctime_ns = ?5
    AND last_seen_day < ?6";

impl HashCache {
    /// Opens the cache at `path`, telling nobody of damage (tests).
    #[cfg(test)]
    pub fn open(path: &Path) -> anyhow::Result<HashCache> {
        HashCache::open_with(path, Box::new(|_| {}))
    }

    /// Opens (creating parent directories and the database as needed) the
    /// cache at `path`. A damaged or foreign file is moved aside and a fresh
    /// cache created in its place; that is not an error, but `on_damage` is
    /// told, as it is of damage found later in the run. Errors are returned
    /// only when no usable cache can be had (e.g. the directory is not
    /// writable).
    pub fn open_with(path: &Path, on_damage: OnDamage) -> anyhow::Result<HashCache> {
        let (conn, damage) = db::open(path, &SCHEMA)?;
        if let Some(d) = damage {
            on_damage(d);
        }
        let cache = HashCache {
            inner: Mutex::new(Inner {
                conn,
                pending: Vec::with_capacity(BATCH_SIZE),
            }),
            path: path.to_path_buf(),
            errors: AtomicU64::new(0),
            broken: AtomicBool::new(false),
            on_damage,
            opened: db::identity(path),
        };
        cache.prune(now_ns());
        Ok(cache)
    }

    /// Deletes entries not seen for [`RETENTION_DAYS`]. A full scan of a
    /// small table (milliseconds); failures are ignored.
    fn prune(&self, now: i64) {
        let mut inner = self.lock();
        if let Err(e) = db::prune(&inner.conn, &SCHEMA, now) {
            self.note_error(&mut inner, &e);
        }
    }

    /// The MD5 recorded for `key`, if there is a trustworthy entry. `None` on
    /// a miss, a racy entry, or any error.
    ///
    /// Entries inserted by [`HashCache::put`] become visible once their batch
    /// is committed (every [`BATCH_SIZE`] operations or on
    /// [`HashCache::flush`]).
    pub fn get(&self, key: &FileKey) -> Option<[u8; 16]> {
        self.get_at(key, now_ns())
    }

    /// [`HashCache::get`] with an explicit clock (nanoseconds since the Unix
    /// epoch).
    pub(crate) fn get_at(&self, key: &FileKey, now: i64) -> Option<[u8; 16]> {
        self.get_many_at(std::slice::from_ref(key), now)
            .pop()
            .flatten()
    }

    /// [`HashCache::get`] for many keys at once, answered in their order.
    ///
    /// One lock and one read transaction serve them all: on a tree of small
    /// files, taking the lock (a thread wake-up when another worker holds it)
    /// and SQLite's read lock (two `fcntl` calls) for each file cost more
    /// than the lookups. An error answers every key of the batch with a miss.
    pub fn get_many(&self, keys: &[FileKey]) -> Vec<Option<[u8; 16]>> {
        self.get_many_at(keys, now_ns())
    }

    /// [`HashCache::get_many`] with an explicit clock.
    pub(crate) fn get_many_at(&self, keys: &[FileKey], now: i64) -> Vec<Option<[u8; 16]>> {
        let mut found = vec![None; keys.len()];
        if keys.is_empty() || self.broken.load(Ordering::Relaxed) {
            return found;
        }
        let today = day_of(now);
        let mut touches = Vec::new();
        let mut guard = self.lock();
        let inner = &mut *guard;
        let read = (|| -> rusqlite::Result<()> {
            // Deferred: a read transaction, one snapshot for the whole batch.
            let tx = inner.conn.transaction()?;
            {
                let mut st = tx.prepare_cached(SQL_GET)?;
                for (answer, key) in found.iter_mut().zip(keys) {
                    let Some(k) = CachedKey::new(key) else {
                        continue;
                    };
                    let row = st
                        .query_row(params![k.dev, k.ino, k.size, k.mtime_ns, k.ctime_ns], |r| {
                            let md5 = match r.get_ref(0)? {
                                ValueRef::Blob(b) => <[u8; 16]>::try_from(b).ok(),
                                _ => None,
                            };
                            Ok((md5, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
                        })
                        .optional()?;
                    let Some((Some(md5), recorded_at, last_seen_day)) = row else {
                        continue;
                    };
                    if !db::trusted(k.changed_ns(), recorded_at, now) {
                        continue;
                    }
                    if last_seen_day < today {
                        touches.push(Op::Touch { key: k, day: today });
                    }
                    *answer = Some(md5);
                }
            }
            tx.commit()
        })();
        if let Err(e) = read {
            self.note_error(inner, &e);
            return vec![None; keys.len()];
        }
        for op in touches {
            self.push(inner, op);
        }
        found
    }

    /// Records `md5` for `key`, with the current time as the moment it was
    /// hashed. Buffered; errors are swallowed (see [`HashCache::errors`]).
    #[cfg(test)]
    pub fn put(&self, key: &FileKey, md5: [u8; 16]) {
        self.put_at(key, md5, now_ns());
    }

    /// [`HashCache::put`] with an explicit `recorded_at` (nanoseconds since
    /// the Unix epoch).
    #[cfg(test)]
    pub(crate) fn put_at(&self, key: &FileKey, md5: [u8; 16], recorded_at: i64) {
        self.put_many(&[(*key, md5, recorded_at)]);
    }

    /// Records many hashes under one lock: each with its key (taken before
    /// reading the file) and `recorded_at`, the moment its hashing ended
    /// ([`now_ns`] then, not when the batch is recorded: a later time would
    /// trust an entry the racy rule must not).
    pub fn put_many(&self, entries: &[(FileKey, [u8; 16], i64)]) {
        if entries.is_empty() || self.broken.load(Ordering::Relaxed) {
            return;
        }
        let mut inner = self.lock();
        for (key, md5, recorded_at) in entries {
            let Some(key) = CachedKey::new(key) else {
                continue;
            };
            self.push(
                &mut inner,
                Op::Put {
                    key,
                    md5: *md5,
                    recorded_at: *recorded_at,
                },
            );
        }
    }

    /// Commits all buffered inserts. Called at the end of a run (and by
    /// `Drop`).
    pub fn flush(&self) {
        let mut inner = self.lock();
        self.commit(&mut inner);
    }

    /// How many operations wait in the buffer for the next commit.
    #[cfg(test)]
    pub(crate) fn pending(&self) -> usize {
        self.lock().pending.len()
    }

    /// Number of errors swallowed so far (failed lookups, dropped batches).
    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the connection in a bad
        // state (an open transaction is rolled back when dropped).
        lock(&self.inner)
    }

    fn push(&self, inner: &mut Inner, op: Op) {
        inner.pending.push(op);
        if inner.pending.len() >= BATCH_SIZE {
            self.commit(inner);
        }
    }

    fn commit(&self, inner: &mut Inner) {
        if inner.pending.is_empty() {
            return;
        }
        let ops = std::mem::take(&mut inner.pending);
        if self.broken.load(Ordering::Relaxed) {
            return;
        }
        let mut ops = ops;
        // In key order, each page of the table is visited once per batch (a walk meets
        // files in directory order, which is no order of inodes). Stable: the operations
        // on one inode keep their order.
        ops.sort_by_key(|op| match op {
            Op::Put { key, .. } | Op::Touch { key, .. } => (key.dev, key.ino),
        });
        if let Err(e) = write_batch(&mut inner.conn, &ops) {
            self.note_error(inner, &e);
        }
        inner.pending = ops;
        inner.pending.clear();
    }

    /// Counts an error; damage also closes the file, moves it aside, tells
    /// `on_damage`, and bypasses the cache for the rest of the run (a private
    /// temporary database takes the connection's place, unused).
    fn note_error(&self, inner: &mut Inner, e: &rusqlite::Error) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        if !db::is_corruption(e) || self.broken.swap(true, Ordering::Relaxed) {
            return;
        }
        inner.pending.clear();
        if let Ok(blank) = Connection::open_in_memory() {
            // Closed before the file is moved, so that closing cannot write
            // into a new file at the same path.
            drop(std::mem::replace(&mut inner.conn, blank));
            (self.on_damage)(db::damaged_in_use(
                &self.path,
                &SCHEMA,
                e.to_string(),
                self.opened,
            ));
        }
    }
}

/// Writes `ops` in one IMMEDIATE transaction (taking the write lock up
/// front, so a concurrent writer makes us wait for `BUSY_TIMEOUT` instead of
/// failing mid-transaction).
fn write_batch(conn: &mut Connection, ops: &[Op]) -> rusqlite::Result<()> {
    let today = day_of(now_ns());
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    {
        let mut delete_inode = tx.prepare_cached(SQL_DELETE_INODE)?;
        let mut put = tx.prepare_cached(SQL_PUT)?;
        let mut touch = tx.prepare_cached(SQL_TOUCH)?;
        for op in ops {
            match op {
                Op::Put {
                    key: k,
                    md5,
                    recorded_at,
                } => {
                    // One entry per inode: a changed file replaces its old
                    // entry instead of leaving it to age out.
                    delete_inode.execute(params![k.dev, k.ino])?;
                    put.execute(params![
                        k.dev,
                        k.ino,
                        k.size,
                        k.mtime_ns,
                        k.ctime_ns,
                        &md5[..],
                        recorded_at,
                        day_of(*recorded_at).max(today),
                    ])?;
                }
                Op::Touch { key: k, day } => {
                    touch.execute(params![k.dev, k.ino, k.size, k.mtime_ns, k.ctime_ns, day])?;
                }
            }
        }
    }
    tx.commit()
}

impl Drop for HashCache {
    fn drop(&mut self) {
        self.flush();
    }
}

impl std::fmt::Debug for HashCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HashCache")
            .field("path", &self.path)
            .field("errors", &self.errors())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::RACY_MARGIN_NS;
    use crate::file_key::{NS_PER_SEC, SECS_PER_DAY};

    use std::time::SystemTime;

    const APPLICATION_ID: i64 = SCHEMA.application_id;
    use std::io::Write as _;
    use std::sync::Arc;
    use std::time::Duration;

    const MD5_A: [u8; 16] = [0xaa; 16];
    const MD5_B: [u8; 16] = [0xbb; 16];
    const SEC: i64 = 1_000_000_000;

    /// The key of the file at `path`. Where the platform gives no identity (Windows), one
    /// stands in for it, so that the cache's own rules are tested there too.
    fn key_of(path: &Path) -> FileKey {
        let mut key = FileKey::from_metadata(&std::fs::metadata(path).unwrap());
        if key.dev == 0 && key.ino == 0 {
            key.dev = 7;
            key.ino = xxhash_rust::xxh64::xxh64(path.to_string_lossy().as_bytes(), 0) | 1;
        }
        key
    }

    /// A recorded_at safely past the racy margin for `key`.
    fn settled(key: &FileKey) -> i64 {
        i64::try_from(key.mtime_ns.max(key.ctime_ns)).unwrap() + 10 * SEC
    }

    fn synthetic(i: u64) -> FileKey {
        FileKey {
            dev: 7,
            ino: i,
            size: 100 + i,
            mtime_ns: 1_600_000_000 * NS_PER_SEC + i128::from(i),
            ctime_ns: 1_600_000_000 * NS_PER_SEC + i128::from(i),
        }
    }

    fn md5_for(i: u64) -> [u8; 16] {
        let mut m = [0u8; 16];
        m[..8].copy_from_slice(&i.to_le_bytes());
        m[8..].copy_from_slice(&(!i).to_le_bytes());
        m
    }

    fn integrity_ok(path: &Path) {
        let conn = Connection::open(path).unwrap();
        let res: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(res, "ok");
    }

    #[test]
    fn hash_cache_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<HashCache>();
    }

    /// A key without identity (Windows' `FileKey`) is neither recorded nor answered: two
    /// files of the same size and times would share its entry.
    #[test]
    fn a_key_without_identity_is_never_cached() {
        let dir = tempfile::tempdir().unwrap();
        let cache = HashCache::open(&dir.path().join("cache.sqlite")).unwrap();
        let key = FileKey {
            dev: 0,
            ino: 0,
            ..synthetic(1)
        };
        cache.put_at(&key, MD5_A, settled(&key));
        cache.flush();
        assert_eq!(cache.get_at(&key, settled(&key) + SEC), None);
        assert_eq!(cache.get_many_at(&[key], settled(&key) + SEC), vec![None]);
        let with_identity = synthetic(1);
        cache.put_at(&with_identity, MD5_A, settled(&with_identity));
        cache.flush();
        assert_eq!(
            cache.get_at(&with_identity, settled(&key) + SEC),
            Some(MD5_A)
        );
        assert_eq!(cache.errors(), 0);
    }

    #[test]
    fn hit_after_put_and_miss_after_mtime_change() {
        let dir = tempfile::tempdir().unwrap();
        let cache = HashCache::open(&dir.path().join("c/hashes.sqlite")).unwrap();
        let file = dir.path().join("f.bin");
        std::fs::write(&file, b"0123456789").unwrap();
        let old = SystemTime::now() - Duration::from_secs(3600);
        std::fs::File::options()
            .write(true)
            .open(&file)
            .unwrap()
            .set_modified(old)
            .unwrap();

        let key = key_of(&file);
        assert_eq!(cache.get(&key), None, "empty cache must miss");
        cache.put_at(&key, MD5_A, settled(&key));
        cache.flush();
        let now = settled(&key) + SEC;
        assert_eq!(cache.get_at(&key, now), Some(MD5_A));
        assert_eq!(cache.get_at(&key_of(&file), now), Some(MD5_A));

        // Same content length, new content and a new mtime: must miss.
        std::fs::write(&file, b"abcdefghij").unwrap();
        std::fs::File::options()
            .write(true)
            .open(&file)
            .unwrap()
            .set_modified(old + Duration::from_secs(1))
            .unwrap();
        let changed = key_of(&file);
        assert_eq!(changed.size, key.size);
        assert_ne!(changed.mtime_ns, key.mtime_ns);
        assert_eq!(cache.get_at(&changed, now + 20 * SEC), None);

        // Its new hash replaces the old entry (one entry per inode).
        cache.put_at(&changed, MD5_B, settled(&changed));
        cache.flush();
        assert_eq!(cache.get_at(&changed, settled(&changed) + SEC), Some(MD5_B));
        assert_eq!(cache.get_at(&key, settled(&changed) + SEC), None);
        assert_eq!(cache.errors(), 0);
    }

    #[test]
    fn batched_lookups_answer_like_single_ones() {
        let dir = tempfile::tempdir().unwrap();
        let cache = HashCache::open(&dir.path().join("hashes.sqlite")).unwrap();
        let mut keys = Vec::new();
        for i in 0..200 {
            let k = synthetic(i);
            match i % 4 {
                // Trusted.
                0 | 1 => cache.put_at(&k, md5_for(i), settled(&k)),
                // Racy: recorded as the file changed.
                2 => cache.put_at(&k, md5_for(i), i64::try_from(k.mtime_ns).unwrap()),
                // Never recorded.
                _ => {}
            }
            keys.push(k);
            // Another ctime: a miss.
            keys.push(FileKey {
                ctime_ns: k.ctime_ns + 1,
                ..k
            });
        }
        // A key that cannot be stored is a miss, and the answers stay in step.
        keys.insert(
            7,
            FileKey {
                mtime_ns: i128::MAX,
                ..synthetic(0)
            },
        );
        cache.flush();
        let now = settled(&synthetic(200)) + SEC;
        let batch = cache.get_many_at(&keys, now);
        let single: Vec<_> = keys.iter().map(|k| cache.get_at(k, now)).collect();
        assert_eq!(batch, single);
        assert_eq!(batch.len(), keys.len());
        assert_eq!(batch.iter().flatten().count(), 100);
        assert_eq!(batch[0], Some(md5_for(0)));
        assert_eq!(batch[7], None);
        assert!(cache.get_many(&[]).is_empty());
        assert_eq!(cache.errors(), 0);
    }

    #[test]
    fn the_last_of_several_puts_for_one_inode_wins_in_a_batch() {
        let dir = tempfile::tempdir().unwrap();
        let cache = HashCache::open(&dir.path().join("hashes.sqlite")).unwrap();
        // Written in inode order, not in the order given: the order within one inode
        // must stay.
        let old = synthetic(9);
        let new = FileKey {
            mtime_ns: old.mtime_ns + SEC as i128,
            ..old
        };
        cache.put_many(&[
            (old, MD5_A, settled(&old)),
            (synthetic(1), MD5_A, settled(&synthetic(1))),
            (new, MD5_B, settled(&new)),
            (synthetic(3), MD5_A, settled(&synthetic(3))),
        ]);
        cache.flush();
        let now = settled(&new) + SEC;
        assert_eq!(cache.get_at(&new, now), Some(MD5_B));
        assert_eq!(cache.get_at(&old, now), None);
        assert_eq!(cache.get_at(&synthetic(1), now), Some(MD5_A));
    }

    #[test]
    fn ctime_change_alone_is_a_miss() {
        let dir = tempfile::tempdir().unwrap();
        let cache = HashCache::open(&dir.path().join("hashes.sqlite")).unwrap();
        let key = synthetic(1);
        cache.put_at(&key, MD5_A, settled(&key));
        cache.flush();
        let moved = FileKey {
            ctime_ns: key.ctime_ns + 1,
            ..key
        };
        assert_eq!(cache.get_at(&key, settled(&key)), Some(MD5_A));
        assert_eq!(cache.get_at(&moved, settled(&key)), None);
    }

    #[test]
    fn racy_entry_is_not_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let cache = HashCache::open(&dir.path().join("hashes.sqlite")).unwrap();
        let file = dir.path().join("f.bin");
        std::fs::write(&file, b"hello").unwrap();
        let key = key_of(&file);
        let changed = i64::try_from(key.mtime_ns.max(key.ctime_ns)).unwrap();

        // Hashed in the same instant the file was written: not trusted, even
        // much later.
        cache.put(&key, MD5_A);
        cache.flush();
        assert_eq!(cache.get(&key), None);
        assert_eq!(cache.get_at(&key, changed + 3600 * SEC), None);

        // Just inside the margin: still racy.
        cache.put_at(&key, MD5_A, changed + RACY_MARGIN_NS);
        cache.flush();
        assert_eq!(cache.get_at(&key, changed + 3600 * SEC), None);

        // Only mtime old, ctime recent: racy too.
        let k2 = FileKey {
            mtime_ns: key.mtime_ns - 3600 * NS_PER_SEC,
            ..key
        };
        cache.put_at(&k2, MD5_A, changed + SEC);
        cache.flush();
        assert_eq!(cache.get_at(&k2, changed + 3600 * SEC), None);

        // Re-recorded once the file has settled: trusted.
        cache.put_at(&key, MD5_B, changed + RACY_MARGIN_NS + 1);
        cache.flush();
        assert_eq!(cache.get_at(&key, changed + 3600 * SEC), Some(MD5_B));

        // A record from the future (clock went backwards) is not trusted.
        assert_eq!(cache.get_at(&key, changed - 10 * SEC), None);
    }

    #[test]
    fn corrupt_cache_file_is_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hashes.sqlite");
        let mut f = std::fs::File::create(&path).unwrap();
        for i in 0..4096u32 {
            f.write_all(&i.wrapping_mul(2_654_435_761).to_le_bytes())
                .unwrap();
        }
        drop(f);

        let cache = HashCache::open(&path).unwrap();
        let key = synthetic(3);
        assert_eq!(cache.get(&key), None);
        cache.put_at(&key, MD5_A, settled(&key));
        cache.flush();
        assert_eq!(cache.get(&key), Some(MD5_A));
        assert_eq!(cache.errors(), 0);
        drop(cache);
        assert!(dir.path().join("hashes.sqlite.corrupt").exists());
        integrity_ok(&path);
    }

    #[test]
    fn damaged_pages_are_detected_and_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hashes.sqlite");
        filled(&path, 5000);
        // Keep the header valid, smash the b-tree pages behind it.
        smash(&path);

        let cache = HashCache::open(&path).unwrap();
        assert_eq!(cache.get(&synthetic(1)), None);
        cache.put_at(&synthetic(1), MD5_B, settled(&synthetic(1)));
        cache.flush();
        assert_eq!(cache.get(&synthetic(1)), Some(MD5_B));
        drop(cache);
        assert!(dir.path().join("hashes.sqlite.corrupt").exists());
        integrity_ok(&path);
    }

    /// A cache at `path` with `n` entries, closed.
    fn filled(path: &Path, n: u64) {
        let cache = HashCache::open(path).unwrap();
        for i in 0..n {
            cache.put_at(&synthetic(i), md5_for(i), settled(&synthetic(i)));
        }
    }

    /// The damage each test's `on_damage` was told of.
    fn telling() -> (Arc<Mutex<Vec<db::Damage>>>, OnDamage) {
        let told = Arc::new(Mutex::new(Vec::new()));
        let t = told.clone();
        (told, Box::new(move |d| t.lock().unwrap().push(d)))
    }

    /// Smashes the b-tree pages behind the (valid) header of the database at `path`.
    fn smash(path: &Path) {
        let mut bytes = std::fs::read(path).unwrap();
        assert!(bytes.len() > 16 * 4096);
        for (i, b) in bytes[8192..].iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(31) ^ 0x5a;
        }
        std::fs::write(path, &bytes).unwrap();
    }

    #[test]
    fn damage_found_at_open_is_told_once_with_where_the_file_went() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hashes.sqlite");
        std::fs::write(&path, "not a database ".repeat(1000)).unwrap();
        let (told, on_damage) = telling();
        let cache = HashCache::open_with(&path, on_damage).unwrap();
        cache.put_at(&synthetic(1), MD5_A, settled(&synthetic(1)));
        cache.flush();
        assert_eq!(cache.get(&synthetic(1)), Some(MD5_A), "the new cache works");
        let told = told.lock().unwrap();
        assert_eq!(told.len(), 1, "{told:?}");
        assert_eq!(
            told[0].moved_to.as_deref(),
            Some(dir.path().join("hashes.sqlite.corrupt").as_path())
        );
        let said = told[0].to_string();
        assert!(
            said.contains("hashes.sqlite.corrupt") && said.contains("files will be hashed again"),
            "{said}"
        );
    }

    #[test]
    fn damage_found_in_the_middle_of_a_run_is_told_once_and_the_file_moved_aside() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hashes.sqlite");
        filled(&path, 5000);
        let (told, on_damage) = telling();
        let cache = HashCache::open_with(&path, on_damage).unwrap();
        assert!(told.lock().unwrap().is_empty(), "sound at open");
        // Damaged under the open cache, whose page cache is then emptied so that the next
        // lookups read the file.
        smash(&path);
        cache
            .lock()
            .conn
            .execute_batch("PRAGMA shrink_memory")
            .unwrap();
        let keys: Vec<FileKey> = (0..5000).map(synthetic).collect();
        assert!(cache.get_many(&keys).iter().all(Option::is_none));
        // Bypassed from now on: no more errors, nothing more told.
        cache.put_at(&synthetic(1), MD5_A, settled(&synthetic(1)));
        cache.flush();
        assert_eq!(cache.get(&synthetic(1)), None);
        assert_eq!(told.lock().unwrap().len(), 1);
        let damage = told.lock().unwrap()[0].clone();
        assert_eq!(
            damage.moved_to.as_deref(),
            Some(dir.path().join("hashes.sqlite.corrupt").as_path())
        );
        drop(cache);
        // The next run starts a sound cache, and says nothing.
        let (told, on_damage) = telling();
        let cache = HashCache::open_with(&path, on_damage).unwrap();
        cache.put_at(&synthetic(1), MD5_B, settled(&synthetic(1)));
        cache.flush();
        assert_eq!(cache.get(&synthetic(1)), Some(MD5_B));
        assert!(told.lock().unwrap().is_empty());
    }

    #[test]
    fn foreign_or_old_schema_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        // An older schema of ours: table dropped and recreated.
        let path = dir.path().join("old.sqlite");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(&format!(
                "CREATE TABLE hashes (x); INSERT INTO hashes VALUES (1);
                 PRAGMA user_version = 0; PRAGMA application_id = {APPLICATION_ID};"
            ))
            .unwrap();
        }
        let cache = HashCache::open(&path).unwrap();
        cache.put_at(&synthetic(1), MD5_A, settled(&synthetic(1)));
        cache.flush();
        assert_eq!(cache.get(&synthetic(1)), Some(MD5_A));
        drop(cache);

        // Some other program's database: moved aside, untouched.
        let path = dir.path().join("foreign.sqlite");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(
                "CREATE TABLE precious (x); PRAGMA application_id = 42; PRAGMA user_version = 1;",
            )
            .unwrap();
        }
        let cache = HashCache::open(&path).unwrap();
        cache.put_at(&synthetic(1), MD5_A, settled(&synthetic(1)));
        cache.flush();
        assert_eq!(cache.get(&synthetic(1)), Some(MD5_A));
        drop(cache);
        let aside = Connection::open(dir.path().join("foreign.sqlite.corrupt")).unwrap();
        let n: i64 = aside
            .query_row("SELECT count(*) FROM precious", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 0);
    }

    #[test]
    fn entries_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hashes.sqlite");
        let cache = HashCache::open(&path).unwrap();
        for i in 0..1000 {
            cache.put_at(&synthetic(i), md5_for(i), settled(&synthetic(i)));
        }
        cache.flush();
        drop(cache);
        let cache = HashCache::open(&path).unwrap();
        for i in 0..1000 {
            assert_eq!(cache.get(&synthetic(i)), Some(md5_for(i)), "entry {i}");
        }
        // Drop alone (no explicit flush) also persists buffered puts.
        cache.put_at(&synthetic(5000), MD5_B, settled(&synthetic(5000)));
        drop(cache);
        let cache = HashCache::open(&path).unwrap();
        assert_eq!(cache.get(&synthetic(5000)), Some(MD5_B));
    }

    #[test]
    fn stale_entries_are_pruned_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hashes.sqlite");
        let cache = HashCache::open(&path).unwrap();
        let long_ago = now_ns() - (RETENTION_DAYS + 5) * SECS_PER_DAY * SEC;
        let k_old = synthetic(1);
        let k_new = synthetic(2);
        cache.put_at(&k_old, MD5_A, settled(&k_old));
        cache.put_at(&k_new, MD5_B, settled(&k_new));
        cache.flush();
        cache
            .lock()
            .conn
            .execute(
                "UPDATE hashes SET last_seen_day = ?1 WHERE ino = 1",
                [day_of(long_ago)],
            )
            .unwrap();
        drop(cache);
        let cache = HashCache::open(&path).unwrap();
        assert_eq!(cache.get(&k_old), None);
        assert_eq!(cache.get(&k_new), Some(MD5_B));
    }

    #[test]
    fn unopenable_path_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("file");
        std::fs::write(&blocker, b"x").unwrap();
        // Parent "directory" is a regular file.
        assert!(HashCache::open(&blocker.join("hashes.sqlite")).is_err());
    }

    const THREADS: u64 = 4;
    const PER_THREAD: u64 = 2000;

    /// Writes and reads back keys `base..base+n` through `cache`, reading
    /// everyone's keys while writing.
    fn hammer(cache: &HashCache, base: u64, n: u64) {
        for i in base..base + n {
            let k = synthetic(i);
            cache.put_at(&k, md5_for(i), settled(&k));
            if i % 97 == 0 {
                cache.flush();
            }
            // Interleave reads of keys other writers may have committed.
            let j = (i * 7919) % (THREADS * PER_THREAD * 2);
            if let Some(m) = cache.get(&synthetic(j)) {
                assert_eq!(m, md5_for(j));
            }
        }
        cache.flush();
    }

    #[test]
    fn concurrent_handles_and_threads_do_not_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hashes.sqlite");
        let shared = Arc::new(HashCache::open(&path).unwrap());
        let mut handles = Vec::new();
        for t in 0..THREADS {
            let path = path.clone();
            let shared = Arc::clone(&shared);
            handles.push(std::thread::spawn(move || {
                // Even threads use their own connection (as a second process
                // would), odd threads share one HashCache.
                if t % 2 == 0 {
                    let own = HashCache::open(&path).unwrap();
                    hammer(&own, t * PER_THREAD, PER_THREAD);
                    assert_eq!(own.errors(), 0);
                } else {
                    hammer(&shared, t * PER_THREAD, PER_THREAD);
                }
            }));
        }
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(shared.errors(), 0);
        drop(shared);
        integrity_ok(&path);
        let cache = HashCache::open(&path).unwrap();
        for i in 0..THREADS * PER_THREAD {
            assert_eq!(cache.get(&synthetic(i)), Some(md5_for(i)), "entry {i}");
        }
    }

    const CHILD_ENV: &str = "CHIEF_HASH_CACHE_TEST_CHILD";

    /// Not a test by itself: the body of `concurrent_processes_do_not_corrupt`'s
    /// child processes (does nothing unless the environment says so).
    #[test]
    #[ignore = "helper run by concurrent_processes_do_not_corrupt"]
    fn child_process_worker() {
        let Ok(spec) = std::env::var(CHILD_ENV) else {
            return;
        };
        let (path, base) = spec.rsplit_once('|').unwrap();
        let cache = HashCache::open(Path::new(path)).unwrap();
        hammer(&cache, base.parse().unwrap(), PER_THREAD);
        assert_eq!(cache.errors(), 0);
    }

    #[test]
    fn concurrent_processes_do_not_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hashes.sqlite");
        // Test names are module paths without the crate name.
        let module = module_path!().split_once("::").map_or("", |(_, m)| m);
        let name = format!("{module}::child_process_worker");
        let exe = std::env::current_exe().unwrap();
        let children: Vec<_> = (0..2u64)
            .map(|p| {
                std::process::Command::new(&exe)
                    .args([name.as_str(), "--exact", "--ignored", "--test-threads=1"])
                    .env(CHILD_ENV, format!("{}|{}", path.display(), p * PER_THREAD))
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        // And this process writes at the same time.
        let here = HashCache::open(&path).unwrap();
        hammer(&here, 2 * PER_THREAD, PER_THREAD);
        for c in children {
            let out = c.wait_with_output().unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(out.status.success(), "child failed: {stdout}");
            assert!(stdout.contains("1 passed"), "child ran no test: {stdout}");
        }
        drop(here);
        integrity_ok(&path);
        let cache = HashCache::open(&path).unwrap();
        for i in 0..3 * PER_THREAD {
            assert_eq!(cache.get(&synthetic(i)), Some(md5_for(i)), "entry {i}");
        }
    }
}
