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
//! * It lives beside the hash cache (`sent.sqlite`), in its own SQLite file, in WAL mode,
//!   and is written at once (a commit in WAL mode with `synchronous=NORMAL` does not
//!   fsync): what a rescan reads is what was handled, with no batch in between.
//! * `--no-cache` turns the file off: the record is then a private temporary database,
//!   so a rescan still sends nothing twice, but a restart sends everything again.
//! * A failure is recorded too, for this run only: a rescan does not fail the same
//!   unchanged file again every interval, but a restart tries it again.
//! * Errors never stop the watch: a lookup that fails is a miss (the file is hashed, and
//!   at worst announced again), a write that fails is dropped.
//! * Keys are trusted as the hash cache trusts them (git's racy-timestamp rule): a key
//!   recorded within `cache::RACY_MARGIN_NS` of the file's last change is checked by content.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use anyhow::Context as _;
use rusqlite::{params, Connection, ErrorCode, OptionalExtension};

use crate::cache::{day_of, is_corruption, move_aside, now_ns, trusted, FileKey};
use crate::hash::Md5Sum;

/// `PRAGMA application_id` ("chfR"): a foreign SQLite file at our path is moved aside.
const APPLICATION_ID: i64 = 0x6368_6652;
/// Bumped when the table's layout or meaning changes: the table is then rebuilt.
const SCHEMA_VERSION: i64 = 1;
/// Rows of files not seen for this many days are deleted when the record is opened (a
/// file deleted from a watched folder leaves its row behind).
const RETENTION_DAYS: i64 = 90;
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

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
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let _ = path;
            let mut b = Vec::with_capacity(16);
            b.extend_from_slice(&meta.dev().to_be_bytes());
            b.extend_from_slice(&meta.ino().to_be_bytes());
            FileId(b)
        }
        #[cfg(not(unix))]
        {
            let _ = meta;
            let full = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
            FileId(full.to_string_lossy().into_owned().into_bytes())
        }
    }
}

/// A key as SQLite stores it (integers are i64); `None` for times it cannot hold.
#[derive(Clone, Copy)]
struct DbKey {
    size: i64,
    mtime_ns: i64,
    ctime_ns: i64,
}

impl DbKey {
    fn new(k: &FileKey) -> Option<DbKey> {
        Some(DbKey {
            size: k.size as i64,
            mtime_ns: i64::try_from(k.mtime_ns).ok()?,
            ctime_ns: i64::try_from(k.ctime_ns).ok()?,
        })
    }
}

/// The record of one watch: one connection, shared by the watch's thread and the pipeline.
pub(crate) struct Record {
    conn: Mutex<Connection>,
    /// Which API and project the rows are about: the same file sent to another project
    /// has not been sent there.
    target: String,
    /// This run, told apart from earlier ones (for failures, which count for it only).
    run: i64,
}

impl Record {
    /// Opens (creating as needed) the record at `path`. A corrupt or foreign file is moved
    /// aside to `<path>.corrupt` and a fresh one made.
    pub(crate) fn open(path: &Path, target: &str) -> anyhow::Result<Record> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating the folder {}", parent.display()))?;
        }
        let conn = match try_open(Connection::open(path)) {
            Ok(c) => c,
            Err(e) if is_corruption(&e) || is_foreign(&e) => {
                move_aside(path);
                try_open(Connection::open(path))
                    .with_context(|| format!("recreating {}", path.display()))?
            }
            Err(e) => {
                return Err(anyhow::Error::new(e).context(format!("opening {}", path.display())))
            }
        };
        let record = Record::with(conn, target);
        record.prune();
        Ok(record)
    }

    /// A record that lasts as long as this run (`--no-cache`): SQLite's private temporary
    /// database, on disk, deleted when it is closed.
    pub(crate) fn temporary(target: &str) -> anyhow::Result<Record> {
        let conn = try_open(Connection::open("")).context("creating a temporary record")?;
        Ok(Record::with(conn, target))
    }

    fn with(conn: Connection, target: &str) -> Record {
        Record {
            conn: Mutex::new(conn),
            target: target.to_string(),
            run: now_ns(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while the lock was held leaves no transaction open: still usable.
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The row of `file`: its key, MD5 (`None`: it failed), run and when it was recorded.
    fn get(&self, conn: &Connection, file: &FileId) -> Option<Row> {
        conn.prepare_cached(SQL_GET)
            .and_then(|mut st| {
                st.query_row(params![self.target, file.0], |r| {
                    Ok(Row {
                        key: DbKey {
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
            })
            .ok()
            .flatten()
    }

    /// Whether `file`, whose key is now `key`, was handled and has not changed since: sent
    /// (by any run), or failed in this run. Such a file is left alone.
    pub(crate) fn unchanged(&self, file: &FileId, key: &FileKey) -> bool {
        self.unchanged_at(file, key, now_ns())
    }

    fn unchanged_at(&self, file: &FileId, key: &FileKey, now: i64) -> bool {
        let Some(k) = DbKey::new(key) else {
            return false;
        };
        let conn = self.lock();
        let Some(row) = self.get(&conn, file) else {
            return false;
        };
        let same = row.key.size == k.size
            && row.key.mtime_ns == k.mtime_ns
            && row.key.ctime_ns == k.ctime_ns
            && trusted(k.mtime_ns.max(k.ctime_ns), row.recorded_at, now);
        let handled = row.md5.is_some() || row.run == self.run;
        if same && handled {
            let today = day_of(now);
            if row.seen_day < today {
                let _ = conn
                    .prepare_cached(SQL_TOUCH)
                    .and_then(|mut st| st.execute(params![self.target, file.0, today]));
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
        let conn = self.lock();
        let Some(row) = self.get(&conn, file) else {
            return false;
        };
        if row.md5.as_deref() != Some(&md5[..]) {
            return false;
        }
        if let Some(k) = DbKey::new(key) {
            let day = day_of(now_ns());
            let _ = conn.prepare_cached(SQL_REKEY).and_then(|mut st| {
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
        let Some(k) = DbKey::new(key) else { return };
        let day = day_of(now_ns());
        let conn = self.lock();
        let _ = conn.prepare_cached(SQL_PUT).and_then(|mut st| {
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
    }

    fn prune(&self) {
        let cutoff = day_of(now_ns()) - RETENTION_DAYS;
        let _ = self
            .lock()
            .execute("DELETE FROM sent WHERE seen_day < ?1", [cutoff]);
    }
}

struct Row {
    key: DbKey,
    md5: Option<Vec<u8>>,
    run: i64,
    recorded_at: i64,
    seen_day: i64,
}

/// A connection set up: WAL, our ids, the table at the current schema.
fn try_open(conn: rusqlite::Result<Connection>) -> rusqlite::Result<Connection> {
    let conn = conn?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let app_id: i64 = conn.query_row("PRAGMA application_id", [], |r| r.get(0))?;
    if app_id != 0 && app_id != APPLICATION_ID {
        return Err(foreign());
    }
    // A temporary database has no WAL; it needs none.
    let _mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version != SCHEMA_VERSION || app_id != APPLICATION_ID {
        conn.execute_batch(&format!(
            "BEGIN IMMEDIATE;
             DROP TABLE IF EXISTS sent; {CREATE_TABLE};
             PRAGMA user_version = {SCHEMA_VERSION};
             PRAGMA application_id = {APPLICATION_ID};
             COMMIT;"
        ))?;
    }
    conn.prepare(SQL_GET)?;
    conn.prepare(SQL_PUT)?;
    Ok(conn)
}

fn foreign() -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_NOTADB),
        Some("not a chief-upload record".into()),
    )
}

fn is_foreign(e: &rusqlite::Error) -> bool {
    e.sqlite_error_code() == Some(ErrorCode::NotADatabase)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let r = Record::open(&path, T).unwrap();
        let k = key(5, OLD);
        assert!(!r.unchanged(&id(1), &k), "nothing recorded yet");
        r.sent(&id(1), &k, &[7; 16], "asset_1", now_ns());
        assert!(r.unchanged(&id(1), &k));
        assert!(!r.unchanged(&id(1), &key(6, OLD)), "size changed");
        assert!(!r.unchanged(&id(1), &key(5, OLD + 1)), "time changed");
        assert!(!r.unchanged(&id(2), &k), "another file");
        drop(r);
        // Kept on disk: a restart knows it, for the same project only.
        let again = Record::open(&path, T).unwrap();
        assert!(again.unchanged(&id(1), &k));
        let other = Record::open(&path, "https://api.example project_other0000000000000").unwrap();
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
        let r = Record::open(&path, T).unwrap();
        let k = key(5, OLD);
        r.failed(&id(1), &k, now_ns());
        assert!(r.unchanged(&id(1), &k), "not failed again in this run");
        assert!(!r.same_content(&id(1), &k, &[7; 16], now_ns()));
        drop(r);
        let next = Record::open(&path, T).unwrap();
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
        let r = Record::open(&path, T).unwrap();
        r.sent(&id(1), &key(5, OLD), &[7; 16], "asset_1", now_ns());
        assert!(r.unchanged(&id(1), &key(5, OLD)));
        assert!(dir.path().join("sent.sqlite.corrupt").exists());

        let other = dir.path().join("other.sqlite");
        let c = Connection::open(&other).unwrap();
        c.execute_batch("PRAGMA application_id = 42; CREATE TABLE t (x);")
            .unwrap();
        drop(c);
        assert!(Record::open(&other, T).is_ok());
        assert!(dir.path().join("other.sqlite.corrupt").exists());
    }
}
