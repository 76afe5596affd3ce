//! The one SQLite layer under the hash cache (`cache.rs`) and the watch's record of files
//! sent (`watch/record.rs`): opening a database file, its pragmas, its schema version,
//! moving a damaged or foreign file aside, and the rule that says when a recorded file
//! identity may be trusted. Each user describes its database once, as a [`Schema`].
//!
//! * WAL mode with `synchronous=NORMAL`: several runs share a file, readers never block,
//!   and a commit does not fsync; a crash leaves a consistent database.
//! * `PRAGMA application_id` marks the file as ours: a foreign SQLite file at our path is
//!   moved aside, never modified. `PRAGMA user_version` is the schema version: another
//!   version has its table dropped and recreated (both are caches of facts that can be
//!   found again).
//! * A damaged file (found at open or in the middle of a run) is moved to
//!   `<path>.corrupt`, or removed when it cannot be moved, and a [`Damage`] says so, for one
//!   warning to the user.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use rusqlite::{Connection, ErrorCode, TransactionBehavior};

/// How long a writer waits for another process's transaction before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Git's racy-timestamp rule: a file identity recorded at `recorded_at` is trusted only if
/// the file last changed at least this long before.
///
/// Why: a file can be modified again within the same timestamp "tick" right after it was
/// hashed, keeping its size and its (coarse) mtime, so a key taken just before hashing
/// cannot prove the content did not change just after. Timestamps are coarser than they
/// look: FAT has 2 s mtime resolution, ext3 and HFS+ 1 s, Linux stamps files from a
/// coarse clock that lags the real time by up to a scheduler tick, and network
/// filesystems stamp files with the *server's* clock, which may be skewed from ours. Two
/// seconds covers all of these. Only entries recorded within 2 s of the file's last change
/// are affected; they are checked by content (and recorded again, then trusted) next time.
pub const RACY_MARGIN_NS: i64 = 2_000_000_000;

/// Whether an entry recorded at `recorded_at` for a file last changed at `changed_ns` may
/// be trusted at time `now` (all in nanoseconds since the Unix epoch).
pub(crate) fn trusted(changed_ns: i64, recorded_at: i64, now: i64) -> bool {
    // Racy rule: the file must have last changed well before it was recorded.
    let not_racy = changed_ns < recorded_at.saturating_sub(RACY_MARGIN_NS);
    // A record from the future means the clock went backwards since: the racy comparison
    // above is then meaningless, so do not trust it.
    let not_future = recorded_at <= now.saturating_add(RACY_MARGIN_NS);
    not_racy && not_future
}

/// Who is told, once, when a database file must be started anew.
pub(crate) type OnDamage = Box<dyn Fn(Damage) + Send + Sync>;

/// One kind of database file: its identity, its table, and what losing it costs.
pub(crate) struct Schema {
    /// What the file is, for messages: "the hash cache".
    pub(crate) what: &'static str,
    /// What starting it anew costs the user: "files will be hashed again".
    pub(crate) cost: &'static str,
    /// `PRAGMA application_id`, four letters.
    pub(crate) application_id: i64,
    /// `PRAGMA user_version`; bumped when the table's layout or meaning changes.
    pub(crate) version: i64,
    /// The table's name and its `CREATE TABLE` statement.
    pub(crate) table: &'static str,
    pub(crate) create: &'static str,
    /// Statements that must prepare against the table (a file with our ids but a mangled
    /// table fails here, at open, rather than on every query).
    pub(crate) statements: &'static [&'static str],
    /// Check every page at open (`PRAGMA quick_check`): a few milliseconds per 100,000
    /// rows, worth it where a run reads the whole file.
    pub(crate) quick_check: bool,
    /// The column that holds the day a row was last seen, and how many days a row not
    /// seen is kept (`prune`).
    pub(crate) seen_column: &'static str,
    pub(crate) retention_days: i64,
    /// Refuse a file that cannot be in WAL mode (several runs share it at once); else go
    /// on in whatever mode the file system allows.
    pub(crate) require_wal: bool,
}

/// A damaged or foreign database file, and what was done with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Damage {
    pub(crate) what: &'static str,
    pub(crate) cost: &'static str,
    pub(crate) path: PathBuf,
    /// SQLite's reason, or "not a chief-upload file".
    pub(crate) why: String,
    /// Where the file was moved; `None`: it could not be moved and was removed, or
    /// another run had already moved it and started a new one (`replaced`).
    pub(crate) moved_to: Option<PathBuf>,
    pub(crate) replaced: bool,
}

impl fmt::Display for Damage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} is damaged ({}); ",
            self.what,
            self.path.display(),
            self.why
        )?;
        match &self.moved_to {
            Some(to) => write!(f, "it was moved to {}", to.display())?,
            None if self.replaced => f.write_str("another run had already moved it aside")?,
            None => f.write_str("it could not be moved aside and was removed")?,
        }
        write!(f, " and a new one started, so {}", self.cost)
    }
}

/// Whether an SQLite error says the file is damaged or not a database.
pub(crate) fn is_corruption(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase)
    )
}

/// Why a file could not be set up: damaged or foreign (move it aside and start anew), or
/// anything else (give up).
enum Unusable {
    Damaged(String),
    Other(anyhow::Error),
}

impl From<rusqlite::Error> for Unusable {
    fn from(e: rusqlite::Error) -> Self {
        if is_corruption(&e) {
            Unusable::Damaged(e.to_string())
        } else {
            Unusable::Other(e.into())
        }
    }
}

/// Opens (creating its folder and the file as needed) the database at `path`, set up for
/// `schema`. A damaged or foreign file is moved aside and a fresh one made: the answer then
/// carries the [`Damage`]. An error only when no usable database can be had (a folder that
/// cannot be written, say).
pub(crate) fn open(path: &Path, schema: &Schema) -> anyhow::Result<(Connection, Option<Damage>)> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating the folder {}", parent.display()))?;
    }
    match set_up(Connection::open(path), schema) {
        Ok(conn) => Ok((conn, None)),
        Err(Unusable::Other(e)) => Err(e.context(format!("opening {}", path.display()))),
        Err(Unusable::Damaged(why)) => {
            let damage = move_aside(path, schema, why);
            match set_up(Connection::open(path), schema) {
                Ok(conn) => Ok((conn, Some(damage))),
                Err(Unusable::Other(e)) => Err(e.context(format!("recreating {}", path.display()))),
                Err(Unusable::Damaged(why)) => anyhow::bail!(
                    "{} {} is still unusable after it was started anew: {why}",
                    schema.what,
                    path.display()
                ),
            }
        }
    }
}

/// A database that lasts as long as its connection: SQLite's private temporary database,
/// on disk, deleted when it is closed.
pub(crate) fn temporary(schema: &Schema) -> anyhow::Result<Connection> {
    set_up(Connection::open(""), schema)
        .map_err(|e| match e {
            Unusable::Damaged(why) => anyhow::anyhow!(why),
            Unusable::Other(e) => e,
        })
        .with_context(|| format!("creating a temporary {}", schema.what))
}

/// A connection set up: busy timeout, our ids checked, WAL, the table at the current
/// schema, the statements prepared once.
fn set_up(conn: rusqlite::Result<Connection>, schema: &Schema) -> Result<Connection, Unusable> {
    let mut conn = conn?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // The first statement that reads the file: garbage shows up here as SQLITE_NOTADB.
    let app_id: i64 = conn.query_row("PRAGMA application_id", [], |r| r.get(0))?;
    if app_id != 0 && app_id != schema.application_id {
        return Err(Unusable::Damaged(format!(
            "not a chief-upload file: application_id {app_id:#x}"
        )));
    }
    // A temporary database answers "delete": it needs no WAL.
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if schema.require_wal
        && !mode.eq_ignore_ascii_case("wal")
        && conn.path().is_some_and(|p| !p.is_empty())
    {
        return Err(Unusable::Other(anyhow::anyhow!(
            "cannot switch {} to WAL mode (got {mode})",
            schema.what
        )));
    }
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    if schema.quick_check {
        let check: String = conn.query_row("PRAGMA quick_check(1)", [], |r| r.get(0))?;
        if check != "ok" {
            return Err(Unusable::Damaged(format!("quick_check: {check}")));
        }
    }
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version != schema.version || app_id != schema.application_id {
        // Checked again under the write lock: a concurrent run may have just done this.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        let app_id: i64 = tx.query_row("PRAGMA application_id", [], |r| r.get(0))?;
        if version != schema.version || app_id != schema.application_id {
            tx.execute_batch(&format!(
                "DROP TABLE IF EXISTS {table}; {create};
                 PRAGMA user_version = {version};
                 PRAGMA application_id = {app_id};",
                table = schema.table,
                create = schema.create,
                version = schema.version,
                app_id = schema.application_id,
            ))?;
        }
        tx.commit()?;
    }
    for sql in schema.statements {
        conn.prepare_cached(sql)?;
    }
    Ok(conn)
}

/// Moves a damaged or foreign database out of the way (keeping the last one as
/// `<path>.corrupt` for inspection, or removing it when it cannot be moved) together with
/// its WAL and shared-memory files, which belong to it. The caller has closed its own
/// connection to it.
pub(crate) fn move_aside(path: &Path, schema: &Schema, why: String) -> Damage {
    let with_suffix = |suffix: &str| {
        let mut s = path.as_os_str().to_owned();
        s.push(suffix);
        PathBuf::from(s)
    };
    let aside = with_suffix(".corrupt");
    let moved_to = match std::fs::rename(path, &aside) {
        Ok(()) => Some(aside),
        Err(_) => {
            let _ = std::fs::remove_file(path);
            None
        }
    };
    for suffix in ["-wal", "-shm", "-journal"] {
        let _ = std::fs::remove_file(with_suffix(suffix));
    }
    Damage {
        what: schema.what,
        cost: schema.cost,
        path: path.to_path_buf(),
        why,
        moved_to,
        replaced: false,
    }
}

/// The file at `path` as it is now (`file_key::identity_of_path`), to tell later whether it is
/// still the one a connection opened.
pub(crate) fn identity(path: &Path) -> Option<(u64, u64)> {
    crate::file_key::identity_of_path(path)
}

/// Damage found in the middle of a run, by a connection that opened the file `opened`:
/// moved aside as at open, unless the file at `path` is another one by now (another run
/// sharing it met the damage first and started a new one, which must not be touched).
/// The caller has closed its own connection.
pub(crate) fn damaged_in_use(
    path: &Path,
    schema: &Schema,
    why: String,
    opened: Option<(u64, u64)>,
) -> Damage {
    if opened.is_some() && identity(path) != opened {
        return Damage {
            what: schema.what,
            cost: schema.cost,
            path: path.to_path_buf(),
            why,
            moved_to: None,
            replaced: true,
        };
    }
    move_aside(path, schema, why)
}

/// Deletes the rows of `schema`'s table not seen for its retention time, as of `now` (ns
/// since the epoch): a full scan of a small table, milliseconds.
pub(crate) fn prune(conn: &Connection, schema: &Schema, now: i64) -> rusqlite::Result<usize> {
    let cutoff = crate::file_key::day_of(now) - schema.retention_days;
    conn.execute(
        &format!(
            "DELETE FROM {} WHERE {} < ?1",
            schema.table, schema.seen_column
        ),
        [cutoff],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCHEMA: Schema = Schema {
        what: "the test table",
        cost: "nothing is lost",
        application_id: 0x7465_7374,
        version: 2,
        table: "t",
        create: "CREATE TABLE t (x INTEGER PRIMARY KEY, day INTEGER NOT NULL)",
        statements: &["SELECT x FROM t WHERE x = ?1"],
        quick_check: true,
        seen_column: "day",
        retention_days: 90,
        require_wal: true,
    };

    #[test]
    fn a_fresh_file_is_set_up_and_reopened_without_damage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/t.sqlite");
        let (conn, damage) = open(&path, &SCHEMA).unwrap();
        assert_eq!(damage, None);
        conn.execute("INSERT INTO t VALUES (1, 0)", []).unwrap();
        drop(conn);
        let (conn, damage) = open(&path, &SCHEMA).unwrap();
        assert_eq!(damage, None);
        let n: i64 = conn
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 1);
    }

    #[test]
    fn garbage_is_moved_aside_and_said() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.sqlite");
        std::fs::write(&path, "not a database, just text ".repeat(300)).unwrap();
        let (_conn, damage) = open(&path, &SCHEMA).unwrap();
        let damage = damage.expect("damage reported");
        let aside = dir.path().join("t.sqlite.corrupt");
        assert_eq!(damage.moved_to.as_deref(), Some(aside.as_path()));
        assert!(aside.exists());
        let said = damage.to_string();
        assert!(
            said.contains("the test table")
                && said.contains("t.sqlite.corrupt")
                && said.contains("nothing is lost"),
            "{said}"
        );
    }

    #[test]
    fn an_older_version_is_rebuilt_and_a_foreign_file_is_left_whole() {
        let dir = tempfile::tempdir().unwrap();
        let old = dir.path().join("old.sqlite");
        Connection::open(&old)
            .unwrap()
            .execute_batch(&format!(
                "CREATE TABLE t (x); PRAGMA user_version = 1; PRAGMA application_id = {};",
                SCHEMA.application_id
            ))
            .unwrap();
        let (_c, damage) = open(&old, &SCHEMA).unwrap();
        assert_eq!(damage, None, "a version change is no damage");

        let foreign = dir.path().join("foreign.sqlite");
        Connection::open(&foreign)
            .unwrap()
            .execute_batch("CREATE TABLE precious (x); PRAGMA application_id = 42;")
            .unwrap();
        let (_c, damage) = open(&foreign, &SCHEMA).unwrap();
        assert!(damage.unwrap().why.contains("not a chief-upload file"));
        let kept = Connection::open(dir.path().join("foreign.sqlite.corrupt")).unwrap();
        let n: i64 = kept
            .query_row("SELECT count(*) FROM precious", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 0);
    }

    #[test]
    fn a_file_that_cannot_be_moved_is_removed_and_said() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.sqlite");
        std::fs::write(&path, "garbage ".repeat(600)).unwrap();
        // A folder where the file would be moved: the rename fails.
        std::fs::create_dir_all(dir.path().join("t.sqlite.corrupt/x")).unwrap();
        let damage = move_aside(&path, &SCHEMA, "test".into());
        assert_eq!(damage.moved_to, None);
        assert!(!path.exists());
        assert!(damage
            .to_string()
            .contains("could not be moved aside and was removed"));
    }

    /// Damage met by a run whose file another run has already replaced: the new file is
    /// left alone.
    #[test]
    fn a_file_another_run_replaced_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.sqlite");
        std::fs::write(&path, "the damaged one").unwrap();
        let opened = identity(&path);
        std::fs::rename(&path, dir.path().join("elsewhere")).unwrap();
        std::fs::write(&path, "the new one, in use").unwrap();
        let damage = damaged_in_use(&path, &SCHEMA, "test".into(), opened);
        assert!(damage.replaced && damage.moved_to.is_none());
        assert_eq!(std::fs::read(&path).unwrap(), b"the new one, in use");
        assert!(damage
            .to_string()
            .contains("another run had already moved it aside"));
        // The same file still there: moved aside.
        let opened = identity(&path);
        let damage = damaged_in_use(&path, &SCHEMA, "test".into(), opened);
        assert_eq!(damage.moved_to, Some(dir.path().join("t.sqlite.corrupt")));
    }

    #[test]
    fn the_racy_rule() {
        let s = 1_000_000_000;
        // Changed 10 s before it was recorded: trusted, now or an hour later.
        assert!(trusted(0, 10 * s, 10 * s));
        assert!(trusted(0, 10 * s, 3600 * s));
        // Changed 1 s before: not trusted (the same tick may hide a change).
        assert!(!trusted(9 * s, 10 * s, 3600 * s));
        // Recorded in the future (the clock went back): not trusted.
        assert!(!trusted(0, 100 * s, 10 * s));
    }
}
