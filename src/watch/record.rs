//! What a watch has done with each file, on disk: for each file (its identity) and each
//! project, the file's key (size and times) when it was handled, its MD5 and the asset it
//! became. A rescan or a restart then sends nothing for a file that has not changed: the
//! key matches, so it is not even read; or the key changed but the content hashes to the
//! same MD5, so it is not announced again.
//!
//! The hash cache cannot do this: it maps a file to its MD5, not to what was sent, so every
//! unchanged file would still be announced (a `POST` and a `skipped` line each).
//!
//! Rules:
//! * It lives beside the hash cache (`sent.sqlite`), in its own SQLite file, and is
//!   written at once: what a rescan reads is what was handled, with no batch in between.
//!   The database layer asks for WAL mode (where a commit with `synchronous=NORMAL` does
//!   not fsync) but does not require it: one watch writes this file, so a file system
//!   without WAL (a network share) only makes each write a little slower.
//! * `--no-cache` turns the file off: the record is then a private temporary database,
//!   so a rescan still sends nothing twice, but a restart sends everything again.
//! * A failure is recorded too, for this run only: a rescan does not fail the same
//!   unchanged file again every interval, but a restart tries it again.
//! * Errors never stop the watch: a lookup that fails is a miss (the file is hashed, and
//!   at worst announced again), a write that fails is dropped.
//! * Keys are trusted as the hash cache trusts them (`db::trusted`, git's racy-timestamp
//!   rule): a key recorded within `db::RACY_MARGIN_NS` of the file's last change is
//!   checked by content.
//! * The file is opened through `db`, as the hash cache is: a damaged one, found at open
//!   or by any later statement, is moved aside and a new one started, and the watch is
//!   told once (`on_damage`).

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use rusqlite::{params, Connection, OptionalExtension};

use crate::db::{self, OnDamage, Schema};
use crate::file_key::{day_of, now_ns, FileKey};
use crate::hash::Md5Sum;
use crate::sync::lock;

/// Rows of files not seen for this many days are deleted when the record is opened (a
/// file deleted from a watched folder leaves its row behind).
const RETENTION_DAYS: i64 = 90;

/// The record's database file.
const SCHEMA: Schema = Schema {
    what: "the record of files sent",
    cost: "files already sent will be announced again (and skipped, as the project has them)",
    // "chfR"
    application_id: 0x6368_6652,
    // Bumped when the table's layout or meaning changes: the table is then rebuilt.
    version: 1,
    table: "sent",
    create: CREATE_TABLE,
    statements: &[SQL_GET, SQL_PUT],
    // Read a row at a time, never as a whole: damage is found when a statement meets it.
    quick_check: false,
    seen_column: "seen_day",
    retention_days: RETENTION_DAYS,
    // Written at once, a row at a time, by one watch: WAL is asked for, not required.
    require_wal: false,
};

const CREATE_TABLE: &str = "CREATE TABLE sent (
    target         TEXT    NOT NULL,
    file           BLOB    NOT NULL,
    size           INTEGER NOT NULL,
    mtime_ns       INTEGER NOT NULL,
    ctime_ns       INTEGER NOT NULL,
    md5            BLOB,
    asset_id       TEXT,
    run            INTEGER NOT NULL,
    recorded_at_ns INTEGER NOT NULL,
    seen_day       INTEGER NOT NULL,
    PRIMARY KEY (target, file)
) WITHOUT ROWID";

const SQL_GET: &str = "SELECT size, mtime_ns, ctime_ns, md5, run, recorded_at_ns, seen_day
    FROM sent WHERE target = ?1 AND file = ?2";
const SQL_PUT: &str = "INSERT OR REPLACE INTO sent
    (target, file, size, mtime_ns, ctime_ns, md5, asset_id, run, recorded_at_ns, seen_day)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";
const SQL_REKEY: &str = "UPDATE sent SET size = ?3, mtime_ns = ?4, ctime_ns = ?5,
    recorded_at_ns = ?6, seen_day = ?7 WHERE target = ?1 AND file = ?2";
const SQL_TOUCH: &str = "UPDATE sent SET seen_day = ?3 WHERE target = ?1 AND file = ?2";

/// Which file, whatever its path: its device and inode where the platform has them (a
/// rename inside the watched folders is the same file), else its full path.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct FileId(Vec<u8>);

impl FileId {
    pub(crate) fn of(path: &Path, meta: &std::fs::Metadata) -> FileId {
        match crate::file_key::identity(meta) {
            Some((dev, ino)) => {
                let mut b = Vec::with_capacity(16);
                b.extend_from_slice(&dev.to_be_bytes());
                b.extend_from_slice(&ino.to_be_bytes());
                FileId(b)
            }
            None => {
                let full = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
                FileId(full.to_string_lossy().into_owned().into_bytes())
            }
        }
    }
}

/// A key as SQLite stores it (integers are i64); `None` for times it cannot hold.
#[derive(Clone, Copy)]
struct RecordedKey {
    size: i64,
    mtime_ns: i64,
    ctime_ns: i64,
}

impl RecordedKey {
    fn new(k: &FileKey) -> Option<RecordedKey> {
        Some(RecordedKey {
            size: k.size as i64,
            mtime_ns: i64::try_from(k.mtime_ns).ok()?,
            ctime_ns: i64::try_from(k.ctime_ns).ok()?,
        })
    }
}

/// The record of one watch: one connection, shared by the watch's thread and the pipeline.
pub(crate) struct Record {
    conn: Mutex<Connection>,
    /// The file; `None` for a temporary record.
    path: Option<PathBuf>,
    /// The file the connection opened (`db::identity`).
    opened: Mutex<Option<(u64, u64)>>,
    on_damage: OnDamage,
    /// Which API and project the rows are about: the same file sent to another project
    /// has not been sent there.
    target: String,
    /// This run, told apart from earlier ones (for failures, which count for it only).
    run: i64,
}

impl Record {
    /// Opens (creating as needed) the record at `path`. A damaged or foreign file is moved
    /// aside and a fresh one made, and `on_damage` told, then or whenever a later
    /// statement finds damage.
    pub(crate) fn open(path: &Path, target: &str, on_damage: OnDamage) -> anyhow::Result<Record> {
        let (conn, damage) = db::open(path, &SCHEMA)?;
        if let Some(d) = damage {
            on_damage(d);
        }
        let record = Record::with(conn, Some(path), target, on_damage);
        // A failure leaves old rows for the next open.
        let _ = db::prune(&record.lock(), &SCHEMA, now_ns());
        Ok(record)
    }

    /// A record that lasts as long as this run (`--no-cache`): SQLite's private temporary
    /// database, on disk, deleted when it is closed.
    pub(crate) fn temporary(target: &str) -> anyhow::Result<Record> {
        let conn = db::temporary(&SCHEMA)?;
        Ok(Record::with(conn, None, target, Box::new(|_| {})))
    }

    fn with(conn: Connection, path: Option<&Path>, target: &str, on_damage: OnDamage) -> Record {
        Record {
            conn: Mutex::new(conn),
            path: path.map(Path::to_path_buf),
            opened: Mutex::new(path.and_then(db::identity)),
            on_damage,
            target: target.to_string(),
            run: now_ns(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while the lock was held leaves no transaction open: still usable.
        lock(&self.conn)
    }

    /// What a statement gave, with damage handled: the file is closed, moved aside and
    /// started anew (the watch goes on with an empty record), and `on_damage` is told.
    fn checked<T>(&self, conn: &mut Connection, result: rusqlite::Result<T>) -> Option<T> {
        let e = match result {
            Ok(v) => return Some(v),
            Err(e) => e,
        };
        let path = self.path.as_deref().filter(|_| db::is_corruption(&e))?;
        if let Ok(blank) = Connection::open_in_memory() {
            // Closed first, so that closing cannot write into the new file.
            drop(std::mem::replace(conn, blank));
            let opened = *lock(&self.opened);
            (self.on_damage)(db::damaged_in_use(path, &SCHEMA, e.to_string(), opened));
            // A new record at the path, or (if that fails) one for this run only: the
            // watch goes on either way.
            let fresh = db::open(path, &SCHEMA)
                .map(|(c, _)| c)
                .or_else(|_| db::temporary(&SCHEMA));
            if let Ok(fresh) = fresh {
                *conn = fresh;
                *lock(&self.opened) = db::identity(path);
            }
        }
        None
    }

    /// The row of `file`: its key, MD5 (`None`: it failed), run and when it was recorded.
    fn get(&self, conn: &mut Connection, file: &FileId) -> Option<Row> {
        let row = conn.prepare_cached(SQL_GET).and_then(|mut st| {
            st.query_row(params![self.target, file.0], |r| {
                Ok(Row {
                    key: RecordedKey {
                        size: r.get(0)?,
                        mtime_ns: r.get(1)?,
                        ctime_ns: r.get(2)?,
                    },
                    md5: r.get::<_, Option<Vec<u8>>>(3)?,
                    run: r.get(4)?,
                    recorded_at: r.get(5)?,
                    seen_day: r.get(6)?,
                })
            })
            .optional()
        });
        self.checked(conn, row).flatten()
    }

    /// Whether `file`, whose key is now `key`, was handled and has not changed since: sent
    /// (by any run), or failed in this run. Such a file is left alone.
    pub(crate) fn unchanged(&self, file: &FileId, key: &FileKey) -> bool {
        self.unchanged_at(file, key, now_ns())
    }

    fn unchanged_at(&self, file: &FileId, key: &FileKey, now: i64) -> bool {
        let Some(k) = RecordedKey::new(key) else {
            return false;
        };
        let mut conn = self.lock();
        let Some(row) = self.get(&mut conn, file) else {
            return false;
        };
        let same = row.key.size == k.size
            && row.key.mtime_ns == k.mtime_ns
            && row.key.ctime_ns == k.ctime_ns
            && db::trusted(k.mtime_ns.max(k.ctime_ns), row.recorded_at, now);
        let handled = row.md5.is_some() || row.run == self.run;
        if same && handled {
            let today = day_of(now);
            if row.seen_day < today {
                let touched = conn
                    .prepare_cached(SQL_TOUCH)
                    .and_then(|mut st| st.execute(params![self.target, file.0, today]));
                self.checked(&mut conn, touched);
            }
        }
        same && handled
    }

    /// Whether the content `md5` is what `file` was last sent as: then nothing is sent, and
    /// the row takes the new key (seen at `observed_at`, ns since the epoch), so the next
    /// look needs no hashing.
    pub(crate) fn same_content(
        &self,
        file: &FileId,
        key: &FileKey,
        md5: &Md5Sum,
        observed_at: i64,
    ) -> bool {
        let mut conn = self.lock();
        let Some(row) = self.get(&mut conn, file) else {
            return false;
        };
        if row.md5.as_deref() != Some(&md5[..]) {
            return false;
        }
        if let Some(k) = RecordedKey::new(key) {
            let day = day_of(now_ns());
            let rekeyed = conn.prepare_cached(SQL_REKEY).and_then(|mut st| {
                st.execute(params![
                    self.target,
                    file.0,
                    k.size,
                    k.mtime_ns,
                    k.ctime_ns,
                    observed_at,
                    day
                ])
            });
            self.checked(&mut conn, rekeyed);
        }
        true
    }

    /// `file`, with key `key` (seen at `observed_at`) and content `md5`, became `asset_id`.
    pub(crate) fn sent(
        &self,
        file: &FileId,
        key: &FileKey,
        md5: &Md5Sum,
        asset_id: &str,
        observed_at: i64,
    ) {
        self.put(file, key, Some(md5), Some(asset_id), observed_at);
    }

    /// `file`, with key `key` (seen at `observed_at`), failed in this run.
    pub(crate) fn failed(&self, file: &FileId, key: &FileKey, observed_at: i64) {
        self.put(file, key, None, None, observed_at);
    }

    fn put(
        &self,
        file: &FileId,
        key: &FileKey,
        md5: Option<&Md5Sum>,
        asset_id: Option<&str>,
        observed_at: i64,
    ) {
        let Some(k) = RecordedKey::new(key) else {
            return;
        };
        let day = day_of(now_ns());
        let mut conn = self.lock();
        let put = conn.prepare_cached(SQL_PUT).and_then(|mut st| {
            st.execute(params![
                self.target,
                file.0,
                k.size,
                k.mtime_ns,
                k.ctime_ns,
                md5.map(|m| &m[..]),
                asset_id,
                self.run,
                observed_at,
                day
            ])
        });
        self.checked(&mut conn, put);
    }
}

struct Row {
    key: RecordedKey,
    md5: Option<Vec<u8>>,
    run: i64,
    recorded_at: i64,
    seen_day: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quiet() -> OnDamage {
        Box::new(|_| {})
    }

    const T: &str = "https://api.example project_0123456789abcdefghij";

    fn key(size: u64, changed_ns: i128) -> FileKey {
        FileKey {
            dev: 1,
            ino: 2,
            size,
            mtime_ns: changed_ns,
            ctime_ns: changed_ns,
        }
    }

    fn id(n: u8) -> FileId {
        FileId(vec![n; 16])
    }

    /// Long ago, so that keys recorded now are trusted.
    const OLD: i128 = 1_000_000_000_000_000_000;

    #[test]
    fn a_sent_file_is_unchanged_until_its_key_changes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sent.sqlite");
        let r = Record::open(&path, T, quiet()).unwrap();
        let k = key(5, OLD);
        assert!(!r.unchanged(&id(1), &k), "nothing recorded yet");
        r.sent(&id(1), &k, &[7; 16], "asset_1", now_ns());
        assert!(r.unchanged(&id(1), &k));
        assert!(!r.unchanged(&id(1), &key(6, OLD)), "size changed");
        assert!(!r.unchanged(&id(1), &key(5, OLD + 1)), "time changed");
        assert!(!r.unchanged(&id(2), &k), "another file");
        drop(r);
        // Kept on disk: a restart knows it, for the same project only.
        let again = Record::open(&path, T, quiet()).unwrap();
        assert!(again.unchanged(&id(1), &k));
        let other = Record::open(
            &path,
            "https://api.example project_other0000000000000",
            quiet(),
        )
        .unwrap();
        assert!(!other.unchanged(&id(1), &k));
    }

    #[test]
    fn same_content_under_a_new_key_is_not_sent_and_the_key_is_remembered() {
        let r = Record::temporary(T).unwrap();
        r.sent(&id(1), &key(5, OLD), &[7; 16], "asset_1", now_ns());
        let touched = key(5, OLD + 10);
        assert!(!r.unchanged(&id(1), &touched));
        assert!(
            !r.same_content(&id(1), &touched, &[8; 16], now_ns()),
            "new content"
        );
        assert!(r.same_content(&id(1), &touched, &[7; 16], now_ns()));
        assert!(
            r.unchanged(&id(1), &touched),
            "the new key is the record's now"
        );
    }

    #[test]
    fn a_failure_counts_for_this_run_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sent.sqlite");
        let r = Record::open(&path, T, quiet()).unwrap();
        let k = key(5, OLD);
        r.failed(&id(1), &k, now_ns());
        assert!(r.unchanged(&id(1), &k), "not failed again in this run");
        assert!(!r.same_content(&id(1), &k, &[7; 16], now_ns()));
        drop(r);
        let next = Record::open(&path, T, quiet()).unwrap();
        assert!(!next.unchanged(&id(1), &k), "a restart tries it again");
    }

    #[test]
    fn a_key_taken_just_after_a_change_is_not_trusted() {
        let r = Record::temporary(T).unwrap();
        let now = now_ns();
        let k = key(5, i128::from(now) - 1_000_000_000);
        r.sent(&id(1), &k, &[7; 16], "asset_1", now);
        assert!(!r.unchanged_at(&id(1), &k, now + 10_000_000_000));
        assert!(r.same_content(&id(1), &k, &[7; 16], now + 10_000_000_000));
        assert!(r.unchanged_at(&id(1), &k, now + 10_000_000_000));
    }

    #[test]
    fn a_foreign_or_corrupt_file_is_moved_aside() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sent.sqlite");
        std::fs::write(&path, "not a database at all, just text ".repeat(200)).unwrap();
        let r = Record::open(&path, T, quiet()).unwrap();
        r.sent(&id(1), &key(5, OLD), &[7; 16], "asset_1", now_ns());
        assert!(r.unchanged(&id(1), &key(5, OLD)));
        assert!(dir.path().join("sent.sqlite.corrupt").exists());

        let other = dir.path().join("other.sqlite");
        let c = Connection::open(&other).unwrap();
        c.execute_batch("PRAGMA application_id = 42; CREATE TABLE t (x);")
            .unwrap();
        drop(c);
        assert!(Record::open(&other, T, quiet()).is_ok());
        assert!(dir.path().join("other.sqlite.corrupt").exists());
    }

    #[test]
    fn damage_at_open_and_in_the_middle_of_a_watch_is_told_and_the_record_goes_on() {
        use std::sync::Arc;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sent.sqlite");
        let told: Arc<Mutex<Vec<db::Damage>>> = Arc::default();
        let telling = || -> OnDamage {
            let t = told.clone();
            Box::new(move |d| t.lock().unwrap().push(d))
        };
        // At open.
        std::fs::write(&path, "not a database ".repeat(1000)).unwrap();
        let r = Record::open(&path, T, telling()).unwrap();
        assert_eq!(told.lock().unwrap().len(), 1);
        let said = told.lock().unwrap()[0].to_string();
        assert!(
            said.contains("sent.sqlite.corrupt") && said.contains("announced again"),
            "{said}"
        );
        for i in 0..3000u32 {
            let mut file = id(0);
            file.0.extend_from_slice(&i.to_be_bytes());
            r.sent(&file, &key(5, OLD), &[7; 16], "asset_1", now_ns());
        }
        drop(r);

        // In the middle: damaged under the open record, whose page cache is emptied.
        let r = Record::open(&path, T, telling()).unwrap();
        assert_eq!(told.lock().unwrap().len(), 1, "sound at open");
        let mut bytes = std::fs::read(&path).unwrap();
        assert!(bytes.len() > 16 * 4096, "{}", bytes.len());
        for (i, b) in bytes[8192..].iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(31) ^ 0x5a;
        }
        std::fs::write(&path, &bytes).unwrap();
        r.lock().execute_batch("PRAGMA shrink_memory").unwrap();
        let mut damaged = false;
        for i in 0..3000u32 {
            let mut file = id(0);
            file.0.extend_from_slice(&i.to_be_bytes());
            r.unchanged(&file, &key(5, OLD));
            damaged = told.lock().unwrap().len() == 2;
            if damaged {
                break;
            }
        }
        assert!(damaged, "the damage was found and told");
        // The watch goes on with a new, empty record that works.
        r.sent(&id(9), &key(5, OLD), &[7; 16], "asset_9", now_ns());
        assert!(r.unchanged(&id(9), &key(5, OLD)));
        assert_eq!(told.lock().unwrap().len(), 2, "told once");
        assert!(dir.path().join("sent.sqlite.corrupt").exists());
    }
}
