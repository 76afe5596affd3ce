//! Finds the files to upload, as a stream: the walk hands over each file as soon as it is
//! seen, so a tree of a million files never sits in memory and uploads start at once.
//!
//! Symlink policy: a path given on the command line (or in --files-from) is followed
//! whatever it is. Inside a walked directory, a symlink to a file is uploaded; a symlink to
//! a directory is not followed unless `--follow`; a broken symlink is reported and skipped.
//! Sockets, FIFOs and devices are reported and skipped.

use std::fs::{self, Metadata};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};

use crate::bounded::{LineError, PathLines, NAME, PATH_LINE};
use crate::exit::UsageError;
use crate::file_key::{identity, identity_of_path, FileKey};
use crate::io_words::io_reason;
use crate::shard::Shard;

pub(crate) mod seen;

use seen::Seen;

/// What to walk: the PATHs, the `--files-from` list, and whether to follow links to
/// folders. Built by `settings`.
#[derive(Clone, Debug)]
pub struct WalkSettings {
    pub paths: Vec<PathBuf>,
    pub files_from: Option<PathBuf>,
    pub null: bool,
    pub follow: bool,
}

/// A regular file to upload.
#[derive(Clone, Debug)]
pub struct WalkedFile {
    /// Where to open it.
    pub path: PathBuf,
    /// The path as walked: the argument as given plus the walked suffix.
    pub display: String,
    /// Size when seen by the walk.
    pub size: u64,
    /// Device and inode (on Windows volume and file index, found only when the walk can
    /// reach a file twice; else `None`): the same file reached twice (roots that overlap, a
    /// path listed twice, a hard link) has the same identity.
    pub identity: Option<(u64, u64)>,
    /// The file's identity as the walk saw it, to look it up in the hash cache before it
    /// is opened. Only a hint: the hashing stage trusts the key of the file it opened.
    pub seen_as: FileKey,
}

impl WalkedFile {
    /// `identify`: find its identity where metadata has none (Windows; see
    /// `file_key::identity_of_path`), at the cost of an open.
    fn new(path: &Path, m: &Metadata, identify: bool) -> WalkedFile {
        WalkedFile {
            path: path.to_path_buf(),
            display: display(path),
            size: m.len(),
            identity: identity(m).or_else(|| identify.then(|| identity_of_path(path)).flatten()),
            seen_as: FileKey::from_metadata(m),
        }
    }
}

/// Where the walk hands what it finds.
pub trait Sink {
    /// One item; `false` stops the walk (the run stopped).
    fn item(&mut self, item: WalkItem) -> bool;
    /// The walk may now wait a long time for its input (a `--files-from` list whose
    /// writer is slow): whatever the sink holds back should go on now. `false` stops
    /// the walk.
    fn idle(&mut self) -> bool {
        true
    }
}

impl<F: FnMut(WalkItem) -> bool> Sink for F {
    fn item(&mut self, item: WalkItem) -> bool {
        self(item)
    }
}

#[derive(Debug)]
pub enum WalkItem {
    File(WalkedFile),
    /// A path that could not be walked: it fails on its own, the rest go on.
    Failed {
        display: String,
        error: String,
    },
    /// Passed over on purpose (a FIFO, a broken link…): worth a warning, not a failure.
    Skipped {
        display: String,
        why: String,
    },
    /// A regular file a filter (a glob, a size or age limit) left out: no file line,
    /// counted as `excluded`. (A directory pruned by `--exclude` is not walked, so the
    /// files inside it are not counted.)
    Excluded {
        /// Which file: a watch remembers what it left out, and the tests check it.
        display: String,
        path: PathBuf,
    },
}

/// What a run takes of the files its walks reach, beyond the filters the walk applies as
/// it goes: the shard, and a file reached twice (PATHs that overlap, a path listed
/// twice, a hard link), which gets one outcome. The one place both are decided, for the
/// walk and the watch alike.
pub(crate) struct Chooser {
    shard: Option<Shard>,
    /// The files reached so far; `None` for a watch's rescan, whose record knows them.
    seen: Option<Seen>,
}

/// What the run does with a file the walk found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Choice {
    Take,
    /// Another shard's: left out, counted as excluded.
    OtherShard,
    /// Reached before: passed over, with this warning.
    Twice(String),
}

impl Chooser {
    pub(crate) fn new(shard: Option<Shard>) -> Chooser {
        Chooser {
            shard,
            seen: Some(Seen::default()),
        }
    }

    /// A chooser that remembers nothing (a watch's rescan).
    pub(crate) fn forgetful(shard: Option<Shard>) -> Chooser {
        Chooser { shard, seen: None }
    }

    pub(crate) fn choose(&mut self, f: &WalkedFile) -> Choice {
        if !self.in_shard(&f.display) {
            return Choice::OtherShard;
        }
        let again = match (&mut self.seen, f.identity) {
            (Some(seen), Some(id)) => !seen.first_time(id),
            _ => false,
        };
        if again {
            Choice::Twice(seen::reached_twice(&f.display))
        } else {
            Choice::Take
        }
    }

    /// Whether the file shown as `display` (its path as in the JSON lines) is this
    /// run's to upload.
    pub(crate) fn in_shard(&self, display: &str) -> bool {
        self.shard.is_none_or(|s| s.holds(display))
    }
}

/// One glob and where it was given, so that a bad one is pointed at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pattern {
    pub glob: String,
    pub origin: PatternOrigin,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PatternOrigin {
    /// `--include` or `--exclude`.
    Flag(&'static str),
    /// A line (counted from 1) of an `--include-from` or `--exclude-from` file.
    File {
        flag: &'static str,
        path: PathBuf,
        line: usize,
    },
}

impl Pattern {
    pub fn flag(flag: &'static str, glob: &str) -> Pattern {
        Pattern {
            glob: glob.to_string(),
            origin: PatternOrigin::Flag(flag),
        }
    }
}

/// The size and age limits. Each end is inclusive, as in rclone: a file of exactly
/// `--min-size` or `--max-size` bytes is kept, and so is one whose age is exactly
/// `--min-age` or `--max-age`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SizeAgeLimits {
    pub min_size: Option<u64>,
    pub max_size: Option<u64>,
    /// Files modified more recently than this are too young (still being written, maybe).
    pub min_age: Option<Duration>,
    /// Files modified longer ago than this are left out.
    pub max_age: Option<Duration>,
}

/// What the filter says about a regular file its globs let through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FilterVerdict {
    Take,
    /// Left out for good: no file line, counted as `excluded`.
    Exclude,
    /// Modified less than `--min-age` ago. A run over the PATHs leaves it out like any
    /// other (`excluded`); a watch defers it and asks again once it may have settled.
    /// It is decided before the size and `--max-age`, since a file still being written
    /// may yet change size.
    TooYoung,
}

/// `--include`/`--exclude`, the globs of `--include-from`/`--exclude-from`, and the size
/// and age limits: one filter, compiled once.
#[derive(Clone, Debug)]
pub struct Filter {
    include: Option<GlobSet>,
    exclude: GlobSet,
    limits: SizeAgeLimits,
    /// The flags that make up this filter, in the words of a message (`--min-age`).
    flags: Vec<&'static str>,
}

impl Filter {
    pub fn new(
        include: &[Pattern],
        exclude: &[Pattern],
        limits: SizeAgeLimits,
    ) -> Result<Filter, UsageError> {
        let build = |patterns: &[Pattern]| -> Result<GlobSet, UsageError> {
            let mut b = GlobSetBuilder::new();
            for p in patterns {
                b.add(glob(p)?);
            }
            b.build()
                .map_err(|e| UsageError::new(format!("invalid --include/--exclude patterns: {e}")))
        };
        let mut flags = Vec::new();
        let globs = include.iter().chain(exclude);
        if globs
            .clone()
            .any(|p| matches!(p.origin, PatternOrigin::Flag(_)))
        {
            flags.push("--include/--exclude");
        }
        for from in ["--include-from", "--exclude-from"] {
            if globs
                .clone()
                .any(|p| matches!(p.origin, PatternOrigin::File { flag, .. } if flag == from))
            {
                flags.push(from);
            }
        }
        for (flag, set) in [
            ("--min-size", limits.min_size.is_some()),
            ("--max-size", limits.max_size.is_some()),
            ("--min-age", limits.min_age.is_some()),
            ("--max-age", limits.max_age.is_some()),
        ] {
            if set {
                flags.push(flag);
            }
        }
        Ok(Filter {
            include: if include.is_empty() {
                None
            } else {
                Some(build(include)?)
            },
            exclude: build(exclude)?,
            limits,
            flags,
        })
    }

    /// Whether a file with this walked relative path passes the globs.
    pub fn wants_file(&self, rel: &str) -> bool {
        !self.exclude.is_match(rel) && self.include.as_ref().is_none_or(|inc| inc.is_match(rel))
    }

    /// Whether a directory is entered: only `--exclude` prunes (an `--include` such as
    /// `*.png` must not stop the walk at `photos/`).
    pub fn wants_dir(&self, rel: &str) -> bool {
        !self.exclude.is_match(rel)
    }

    /// Judges a file the globs let through by its size and modification time, at `now`:
    /// ages are judged when a file is considered, not when the run started. A file
    /// modified in the future has age zero. The error is the one reading the modification
    /// time, asked for only when an age limit is set.
    pub fn judge(
        &self,
        size: u64,
        modified: impl FnOnce() -> io::Result<SystemTime>,
        now: SystemTime,
    ) -> io::Result<FilterVerdict> {
        let l = &self.limits;
        let age = if l.min_age.is_some() || l.max_age.is_some() {
            now.duration_since(modified()?).unwrap_or(Duration::ZERO)
        } else {
            Duration::ZERO
        };
        if l.min_age.is_some_and(|min| age < min) {
            return Ok(FilterVerdict::TooYoung);
        }
        let out = l.min_size.is_some_and(|min| size < min)
            || l.max_size.is_some_and(|max| size > max)
            || l.max_age.is_some_and(|max| age > max);
        Ok(if out {
            FilterVerdict::Exclude
        } else {
            FilterVerdict::Take
        })
    }

    /// The filter's flags in a message: `--min-age`, or `the filters (--include/--exclude,
    /// --min-age)`.
    pub fn describe(&self) -> String {
        match self.flags.as_slice() {
            [] => "the filters".into(),
            [one] => (*one).into(),
            many => format!("the filters ({})", many.join(", ")),
        }
    }
}

fn glob(pattern: &Pattern) -> Result<Glob, UsageError> {
    let raw = pattern.glob.as_str();
    // A trailing slash means "this directory": match the directory path itself.
    let p = raw.trim_end_matches('/');
    GlobBuilder::new(if p.is_empty() { raw } else { p })
        .literal_separator(false)
        .backslash_escape(true)
        .build()
        .map_err(|e| {
            let message = match &pattern.origin {
                PatternOrigin::Flag(flag) => {
                    format!("invalid {flag} pattern '{raw}': {}", e.kind())
                }
                PatternOrigin::File { flag, path, line } => format!(
                    "invalid {flag} pattern '{raw}' (line {line} of {}): {}",
                    path.display(),
                    e.kind()
                ),
            };
            UsageError::new(message).hint(
                "globs use *, ?, [abc], {a,b} and **; quote them so the shell does not expand them",
            )
        })
}

/// Walks every root, handing each item to `sink` until it says stop (the run stopped).
/// A `--files-from` list with a line that no path can be (`/dev/zero`, a binary file
/// given by mistake) ends the walk with a usage error naming the list.
pub fn walk(
    settings: &WalkSettings,
    filter: &Filter,
    stdin: Option<Box<dyn Read + Send>>,
    sink: &mut dyn Sink,
) -> Result<(), UsageError> {
    // A file reached twice is dropped by its identity (`WalkedFile::identity`), which on
    // Windows costs an open a file: asked for only when a file can be reached twice.
    // (Not a hard link's second name under one PATH there.)
    let identify =
        cfg!(unix) || settings.paths.len() > 1 || settings.files_from.is_some() || settings.follow;
    for root in &settings.paths {
        if !walk_root(root, settings.follow, identify, filter, sink) {
            return Ok(());
        }
    }
    let Some(list) = &settings.files_from else {
        return Ok(());
    };
    let reader: Box<dyn Read + Send> = if list == Path::new("-") {
        match stdin {
            Some(s) => s,
            None => Box::new(io::stdin()),
        }
    } else {
        match fs::File::open(list) {
            Ok(f) => Box::new(f),
            Err(e) => {
                sink.item(WalkItem::Failed {
                    display: list.display().to_string(),
                    error: format!("cannot read --files-from list: {e}"),
                });
                return Ok(());
            }
        }
    };
    let sep = if settings.null { b'\0' } else { b'\n' };
    // Streamed: one line at a time, each no longer than a path can be.
    let mut lines = PathLines::new(reader, sep, PATH_LINE, NAME);
    loop {
        // The next line is not all read yet: reading on may wait for the list's writer.
        if !lines.line_ready() && !sink.idle() {
            return Ok(());
        }
        let line = match lines.next_line() {
            None => return Ok(()),
            Some(Ok(line)) => line,
            Some(Err(LineError::NotAPath(bad))) => return Err(bad.error("--files-from", list)),
            Some(Err(LineError::Io(e))) => {
                sink.item(WalkItem::Failed {
                    display: list.display().to_string(),
                    error: format!("reading --files-from list: {e}"),
                });
                return Ok(());
            }
        };
        let root = bytes_to_path(line);
        if !walk_root(&root, settings.follow, identify, filter, sink) {
            return Ok(());
        }
    }
}

#[cfg(unix)]
fn bytes_to_path(b: &[u8]) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    PathBuf::from(std::ffi::OsStr::from_bytes(b))
}

#[cfg(not(unix))]
fn bytes_to_path(b: &[u8]) -> PathBuf {
    PathBuf::from(String::from_utf8_lossy(b).into_owned())
}

/// A path as the outputs show it (`WalkedFile::display`, the JSON `path`). On Windows its
/// `\` separators are written `/`, which Windows takes as well: the same tree gives the
/// same paths, and so the same shards, on every system, with no mixed separators when a
/// PATH is given as `./dist` or `C:/data`. A verbatim path (`\\?\`), where `/` is no
/// separator, is left as it is.
pub(crate) fn display(p: &Path) -> String {
    let s = p.to_string_lossy();
    if cfg!(windows) && !s.starts_with(r"\\?\") {
        s.replace('\\', "/")
    } else {
        s.into_owned()
    }
}

/// The relative path globs see: `/`-separated, no leading `./`.
pub(crate) fn rel_string(p: &Path) -> String {
    let s = p.to_string_lossy();
    let s = if cfg!(windows) {
        s.replace('\\', "/")
    } else {
        s.into_owned()
    };
    let mut t = s.as_str();
    while let Some(rest) = t.strip_prefix("./") {
        t = rest;
    }
    t.to_string()
}

fn walk_root(
    root: &Path,
    follow: bool,
    identify: bool,
    filter: &Filter,
    sink: &mut dyn Sink,
) -> bool {
    let mut emit = |item| sink.item(item);
    let meta = match fs::metadata(root) {
        Ok(m) => m,
        Err(e) => {
            let error = if fs::symlink_metadata(root).is_ok() {
                format!("broken symbolic link: {}", io_reason(&e))
            } else {
                io_reason(&e)
            };
            return emit(WalkItem::Failed {
                display: display(root),
                error,
            });
        }
    };
    if meta.is_file() {
        if !filter.wants_file(&rel_string(root)) {
            return emit(WalkItem::Excluded {
                display: display(root),
                path: root.to_path_buf(),
            });
        }
        return emit(judged(filter, root, &meta, identify));
    }
    if !meta.is_dir() {
        return emit(WalkItem::Skipped {
            display: display(root),
            why: format!("not a regular file ({})", kind(&meta)),
        });
    }
    walk_dir(root, root, follow, identify, filter, sink)
}

/// Walks the folder `dir`, at or below `root` (the PATH whose relative paths the globs
/// see): folders the filter leaves out are not walked, and each file below is handed to
/// `sink` as the filter judges it (`identify`: see `WalkedFile::new`). A watch walks a
/// folder that appeared this way.
pub(crate) fn walk_dir(
    root: &Path,
    dir: &Path,
    follow: bool,
    identify: bool,
    filter: &Filter,
    sink: &mut dyn Sink,
) -> bool {
    let mut emit = |item| sink.item(item);
    let walker = walkdir::WalkDir::new(dir)
        .follow_links(follow)
        .min_depth(1)
        .into_iter();
    let mut walker = walker.filter_entry(|e| {
        !e.file_type().is_dir()
            || e.path()
                .strip_prefix(root)
                .map(|r| filter.wants_dir(&rel_string(r)))
                .unwrap_or(true)
    });
    loop {
        let entry = match walker.next() {
            None => return true,
            Some(Ok(e)) => e,
            Some(Err(err)) => {
                let shown = err.path().map(display).unwrap_or_else(|| display(dir));
                let item = if err.loop_ancestor().is_some() {
                    WalkItem::Skipped {
                        display: shown,
                        why: "symbolic link loop".into(),
                    }
                } else if follow
                    && err.io_error().map(|e| e.kind()) == Some(io::ErrorKind::NotFound)
                {
                    WalkItem::Skipped {
                        display: shown,
                        why: "broken symbolic link".into(),
                    }
                } else {
                    let why = err
                        .io_error()
                        .map(io_reason)
                        .unwrap_or_else(|| err.to_string());
                    WalkItem::Failed {
                        display: shown,
                        error: why,
                    }
                };
                if !emit(item) {
                    return false;
                }
                continue;
            }
        };
        let ft = entry.file_type();
        if ft.is_dir() {
            continue;
        }
        let rel = entry
            .path()
            .strip_prefix(root)
            .map(rel_string)
            .unwrap_or_default();
        let excluded = || WalkItem::Excluded {
            display: display(entry.path()),
            path: entry.path().to_path_buf(),
        };
        let item = if ft.is_file() && !filter.wants_file(&rel) {
            excluded()
        } else if ft.is_file() {
            match entry.metadata() {
                Ok(m) => judged(filter, entry.path(), &m, identify),
                Err(e) => WalkItem::Failed {
                    display: display(entry.path()),
                    error: e.to_string(),
                },
            }
        } else if ft.is_symlink() {
            match fs::metadata(entry.path()) {
                Ok(m) if m.is_file() && !filter.wants_file(&rel) => excluded(),
                Ok(m) if m.is_file() => judged(filter, entry.path(), &m, identify),
                Ok(m) if m.is_dir() => {
                    if !filter.wants_dir(&rel) {
                        continue;
                    }
                    WalkItem::Skipped {
                        display: display(entry.path()),
                        why: "symbolic link to a directory (use --follow to walk it)".into(),
                    }
                }
                Ok(m) => WalkItem::Skipped {
                    display: display(entry.path()),
                    why: format!("symbolic link to {}", kind(&m)),
                },
                Err(_) => WalkItem::Skipped {
                    display: display(entry.path()),
                    why: "broken symbolic link".into(),
                },
            }
        } else {
            match entry.metadata() {
                Ok(m) => WalkItem::Skipped {
                    display: display(entry.path()),
                    why: format!("not a regular file ({})", kind(&m)),
                },
                Err(e) => WalkItem::Failed {
                    display: display(entry.path()),
                    error: e.to_string(),
                },
            }
        };
        if !emit(item) {
            return false;
        }
    }
}

/// A regular file the globs let through, judged by its size and age as it is now.
fn judged(filter: &Filter, path: &Path, meta: &Metadata, identify: bool) -> WalkItem {
    match filter.judge(meta.len(), || meta.modified(), SystemTime::now()) {
        Ok(FilterVerdict::Take) => WalkItem::File(WalkedFile::new(path, meta, identify)),
        // A run over the PATHs does not come back for a file too young to take.
        Ok(FilterVerdict::Exclude | FilterVerdict::TooYoung) => WalkItem::Excluded {
            display: display(path),
            path: path.to_path_buf(),
        },
        Err(e) => WalkItem::Failed {
            display: display(path),
            error: format!(
                "cannot read its modification time (for {}): {}",
                filter.describe(),
                io_reason(&e)
            ),
        },
    }
}

fn kind(m: &Metadata) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let ft = m.file_type();
        if ft.is_fifo() {
            return "a FIFO";
        }
        if ft.is_socket() {
            return "a socket";
        }
        if ft.is_block_device() || ft.is_char_device() {
            return "a device";
        }
    }
    if m.is_dir() {
        "a directory"
    } else {
        "a special file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn globs(include: &[&str], exclude: &[&str]) -> Result<Filter, UsageError> {
        let patterns = |flag, globs: &[&str]| -> Vec<Pattern> {
            globs.iter().map(|g| Pattern::flag(flag, g)).collect()
        };
        Filter::new(
            &patterns("--include", include),
            &patterns("--exclude", exclude),
            SizeAgeLimits::default(),
        )
    }

    /// Every item but the excluded files, sorted.
    fn collect(settings: &WalkSettings, filter: &Filter) -> Vec<String> {
        collect_all(settings, filter)
            .into_iter()
            .filter(|i| !i.starts_with("excluded "))
            .collect()
    }

    fn collect_all(settings: &WalkSettings, filter: &Filter) -> Vec<String> {
        let mut out = Vec::new();
        walk(settings, filter, None, &mut |item| {
            out.push(match item {
                WalkItem::File(f) => format!("file {}", f.display),
                WalkItem::Failed { display, .. } => format!("failed {display}"),
                WalkItem::Skipped { display, .. } => format!("skipped {display}"),
                WalkItem::Excluded { display, .. } => format!("excluded {display}"),
            });
            true
        })
        .unwrap();
        out.sort();
        out
    }

    fn settings(paths: Vec<PathBuf>) -> WalkSettings {
        WalkSettings {
            paths,
            files_from: None,
            null: false,
            follow: false,
        }
    }

    #[test]
    fn filters_prune_and_select() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        for f in ["a.png", "b.txt", "sub/c.png", "sub/tmp/d.png", "tmp/e.png"] {
            fs::create_dir_all(r.join(f).parent().unwrap()).unwrap();
            fs::write(r.join(f), f).unwrap();
        }
        let s = settings(vec![r.to_path_buf()]);
        let f = globs(&["*.png"], &["tmp"]).unwrap();
        let got = collect(&s, &f);
        let want: Vec<String> = ["a.png", "sub/c.png", "sub/tmp/d.png"]
            .iter()
            .map(|x| format!("file {}", display(&r.join(x))))
            .collect();
        assert_eq!(got, want);
        let f = globs(&[], &["**/tmp/**", "*.txt"]).unwrap();
        let got = collect(&s, &f);
        assert_eq!(got.len(), 2, "a.png and sub/c.png: {got:?}");
        assert!(globs(&["a["], &[]).unwrap_err().message.contains("'a['"));
    }

    /// Each file a glob leaves out is reported, to be counted; a pruned directory is not
    /// entered, so its files are not.
    #[test]
    fn files_left_out_by_a_filter_are_reported_as_excluded() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        for f in ["a.png", "b.txt", "sub/c.txt", "tmp/d.png", "tmp/e.txt"] {
            fs::create_dir_all(r.join(f).parent().unwrap()).unwrap();
            fs::write(r.join(f), f).unwrap();
        }
        let f = globs(&["*.png"], &["tmp"]).unwrap();
        let got = collect_all(&settings(vec![r.to_path_buf()]), &f);
        let p = |x: &str| display(&r.join(x));
        assert_eq!(
            got,
            vec![
                format!("excluded {}", p("b.txt")),
                format!("excluded {}", p("sub/c.txt")),
                format!("file {}", p("a.png")),
            ]
        );
        // A file given directly is filtered too.
        let s = settings(vec![r.join("b.txt"), r.join("a.png")]);
        let got = collect_all(&s, &globs(&[], &["*/b.txt"]).unwrap());
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(
            got[0].starts_with("excluded ") && got[0].ends_with("b.txt"),
            "{got:?}"
        );
    }

    fn limits(limits: SizeAgeLimits) -> Filter {
        Filter::new(&[], &[], limits).unwrap()
    }

    /// Both ends of every limit are kept, to the nanosecond (Windows: to its 100 ns), as in
    /// rclone.
    #[test]
    fn size_and_age_limits_keep_a_file_exactly_at_the_limit() {
        use FilterVerdict::{Exclude, Take, TooYoung};
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let ago = |d: Duration| move || Ok(now - d);
        let secs = Duration::from_secs;
        // The clock's smallest step: Windows counts time in 100 ns.
        let ns = Duration::from_nanos(if cfg!(windows) { 100 } else { 1 });

        let sizes = limits(SizeAgeLimits {
            min_size: Some(10),
            max_size: Some(20),
            ..SizeAgeLimits::default()
        });
        for (size, want) in [
            (0, Exclude),
            (9, Exclude),
            (10, Take),
            (20, Take),
            (21, Exclude),
        ] {
            assert_eq!(
                sizes.judge(size, ago(secs(0)), now).unwrap(),
                want,
                "{size}"
            );
        }

        let ages = limits(SizeAgeLimits {
            min_age: Some(secs(60)),
            max_age: Some(secs(3600)),
            ..SizeAgeLimits::default()
        });
        for (age, want) in [
            (secs(0), TooYoung),
            (secs(60) - ns, TooYoung),
            (secs(60), Take),
            (secs(3600), Take),
            (secs(3600) + ns, Exclude),
        ] {
            assert_eq!(ages.judge(5, ago(age), now).unwrap(), want, "{age:?}");
        }
        // A file from the future is as young as can be.
        let future = || Ok(now + secs(30));
        assert_eq!(ages.judge(5, future, now).unwrap(), TooYoung);
        let max_only = limits(SizeAgeLimits {
            max_age: Some(secs(60)),
            ..SizeAgeLimits::default()
        });
        assert_eq!(max_only.judge(5, future, now).unwrap(), Take);
    }

    /// A watch defers a young file rather than leaving it out, so youth is told apart,
    /// and decided before the size, which a file still being written may change.
    #[test]
    fn a_young_file_is_too_young_before_it_is_too_small() {
        let now = SystemTime::now();
        let f = limits(SizeAgeLimits {
            min_size: Some(100),
            min_age: Some(Duration::from_secs(60)),
            ..SizeAgeLimits::default()
        });
        assert_eq!(
            f.judge(1, || Ok(now), now).unwrap(),
            FilterVerdict::TooYoung
        );
        let old = || Ok(now - Duration::from_secs(61));
        assert_eq!(f.judge(1, old, now).unwrap(), FilterVerdict::Exclude);
        assert_eq!(f.judge(100, old, now).unwrap(), FilterVerdict::Take);
    }

    #[test]
    fn the_modification_time_is_read_only_for_an_age_limit() {
        let now = SystemTime::now();
        let unreadable = || Err(io::Error::other("no mtime here"));
        let sizes = limits(SizeAgeLimits {
            max_size: Some(10),
            ..SizeAgeLimits::default()
        });
        assert_eq!(
            sizes.judge(10, unreadable, now).unwrap(),
            FilterVerdict::Take
        );
        let ages = limits(SizeAgeLimits {
            max_age: Some(Duration::from_secs(10)),
            ..SizeAgeLimits::default()
        });
        assert!(ages.judge(10, unreadable, now).is_err());
    }

    #[test]
    fn the_filter_names_its_flags() {
        let mut f = globs(&["*.png"], &[]).unwrap();
        assert_eq!(f.describe(), "--include/--exclude");
        f.flags.push("--min-age");
        assert_eq!(f.describe(), "the filters (--include/--exclude, --min-age)");
        let from = Pattern {
            glob: "*.tmp".into(),
            origin: PatternOrigin::File {
                flag: "--exclude-from",
                path: "ignore.txt".into(),
                line: 3,
            },
        };
        let max = SizeAgeLimits {
            max_size: Some(1),
            ..SizeAgeLimits::default()
        };
        let f = Filter::new(&[], std::slice::from_ref(&from), max).unwrap();
        assert_eq!(f.describe(), "the filters (--exclude-from, --max-size)");
        assert_eq!(limits(max).describe(), "--max-size");

        let bad = Pattern {
            glob: "a[".into(),
            ..from
        };
        let err = Filter::new(&[], &[bad], SizeAgeLimits::default()).unwrap_err();
        assert_eq!(
            err.message,
            "invalid --exclude-from pattern 'a[' (line 3 of ignore.txt): unclosed character class; missing ']'"
        );
    }

    /// The walk judges every regular file it reaches (in a folder, through a link, or
    /// given directly) by its size and modification time, and reports the rest excluded.
    #[test]
    fn the_walk_leaves_out_files_by_size_and_age() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        let now = SystemTime::now();
        let hour = Duration::from_secs(3600);
        for (name, size, age) in [
            ("small", 9, hour * 2),
            ("at-min", 10, hour * 2),
            ("at-max", 20, hour * 2),
            ("big", 21, hour * 2),
            ("fresh", 15, Duration::ZERO),
            ("stale", 15, hour * 48),
        ] {
            let f = fs::File::create(r.join(name)).unwrap();
            f.set_len(size).unwrap();
            f.set_modified(now - age).unwrap();
        }
        let f = limits(SizeAgeLimits {
            min_size: Some(10),
            max_size: Some(20),
            min_age: Some(hour),
            max_age: Some(hour * 24),
        });
        let got = collect_all(&settings(vec![r.to_path_buf()]), &f);
        let p = |x: &str| display(&r.join(x));
        assert_eq!(
            got,
            vec![
                format!("excluded {}", p("big")),
                format!("excluded {}", p("fresh")),
                format!("excluded {}", p("small")),
                format!("excluded {}", p("stale")),
                format!("file {}", p("at-max")),
                format!("file {}", p("at-min")),
            ]
        );
        let s = settings(vec![r.join("fresh"), r.join("at-min")]);
        let got = collect_all(&s, &f);
        assert_eq!(
            got,
            vec![
                format!("excluded {}", p("fresh")),
                format!("file {}", p("at-min"))
            ]
        );
        #[cfg(unix)]
        {
            let links = d.path().join("links");
            fs::create_dir(&links).unwrap();
            std::os::unix::fs::symlink(r.join("big"), links.join("to-big")).unwrap();
            std::os::unix::fs::symlink(r.join("at-max"), links.join("to-at-max")).unwrap();
            let got = collect_all(&settings(vec![links.clone()]), &f);
            let l = |x: &str| display(&links.join(x));
            assert_eq!(
                got,
                vec![
                    format!("excluded {}", l("to-big")),
                    format!("file {}", l("to-at-max"))
                ]
            );
        }
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_and_special_files() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path().join("root");
        fs::create_dir_all(r.join("real")).unwrap();
        fs::write(r.join("real/f"), "x").unwrap();
        fs::write(d.path().join("outside"), "y").unwrap();
        std::os::unix::fs::symlink(d.path().join("outside"), r.join("link-to-file")).unwrap();
        std::os::unix::fs::symlink(r.join("real"), r.join("link-to-dir")).unwrap();
        std::os::unix::fs::symlink(r.join("missing"), r.join("broken")).unwrap();
        let s = settings(vec![r.clone(), d.path().join("nope")]);
        let got = collect(&s, &globs(&[], &[]).unwrap());
        let p = |x: &str| display(&r.join(x));
        assert_eq!(
            got,
            vec![
                format!("failed {}", display(&d.path().join("nope"))),
                format!("file {}", p("link-to-file")),
                format!("file {}", p("real/f")),
                format!("skipped {}", p("broken")),
                format!("skipped {}", p("link-to-dir")),
            ]
        );
        let s = WalkSettings { follow: true, ..s };
        let got = collect(&s, &globs(&[], &[]).unwrap());
        assert!(
            got.contains(&format!("file {}", p("link-to-dir/f"))),
            "{got:?}"
        );
        assert!(got.contains(&format!("skipped {}", p("broken"))), "{got:?}");
    }

    /// The walk's and the watch's one rule: another shard's file is left out, a file
    /// reached twice is passed over with a warning (unless the chooser remembers nothing).
    #[test]
    fn the_chooser_leaves_out_other_shards_and_second_visits() {
        let dir = tempfile::tempdir().unwrap();
        let file = |name: &str| {
            let path = dir.path().join(name);
            fs::write(&path, name).unwrap();
            WalkedFile::new(&path, &fs::metadata(&path).unwrap(), true)
        };
        // "a.txt" is in shard 4 of 4, as docs/interface.md's vectors say.
        let mut a = file("a.txt");
        a.display = "a.txt".into();
        let mut chooser = Chooser::new(Some(Shard::parse("4/4").unwrap()));
        assert_eq!(chooser.choose(&a), Choice::Take);
        let Choice::Twice(warning) = chooser.choose(&a) else {
            panic!("reached twice")
        };
        assert!(
            warning.contains("a.txt") && warning.contains("hard link"),
            "{warning}"
        );
        let mut other = Chooser::new(Some(Shard::parse("1/4").unwrap()));
        assert_eq!(other.choose(&a), Choice::OtherShard);
        assert!(!other.in_shard("a.txt"));
        let mut forgetful = Chooser::forgetful(None);
        assert_eq!(forgetful.choose(&a), Choice::Take);
        assert_eq!(forgetful.choose(&a), Choice::Take);
    }

    #[test]
    fn files_from_lists() {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join("a b"), "1").unwrap();
        fs::write(d.path().join("c"), "2").unwrap();
        let list = d.path().join("list");
        fs::write(
            &list,
            format!(
                "{}\0{}\0",
                d.path().join("a b").display(),
                d.path().join("c").display()
            ),
        )
        .unwrap();
        let s = WalkSettings {
            files_from: Some(list),
            null: true,
            ..settings(vec![])
        };
        assert_eq!(collect(&s, &globs(&[], &[]).unwrap()).len(), 2);
    }

    /// A list is read a line at a time: a line longer than any path (a binary file, or
    /// `/dev/zero`) stops the walk with a usage error, after the lines before it.
    #[test]
    fn a_files_from_line_longer_than_a_path_is_a_usage_error() {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join("a"), "1").unwrap();
        let list = d.path().join("list");
        let mut text = format!("{}\r\n\n", d.path().join("a").display()).into_bytes();
        text.extend(std::iter::repeat_n(b'x', PATH_LINE + 1));
        text.extend(b"\nnever-read\n");
        fs::write(&list, &text).unwrap();
        let s = WalkSettings {
            files_from: Some(list.clone()),
            ..settings(vec![])
        };
        let mut seen = Vec::new();
        let err = walk(&s, &globs(&[], &[]).unwrap(), None, &mut |item| {
            seen.push(format!("{item:?}"));
            true
        })
        .unwrap_err();
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert_eq!(
            err.message,
            format!(
                "--files-from {}: line 3 is longer than {} bytes, the longest path this system takes",
                list.display(),
                PATH_LINE
            )
        );
        // A line as long as the limit, of names no longer than theirs, is a path like any
        // other (here, one that is not there).
        let mut text: Vec<u8> = "y"
            .repeat(99)
            .bytes()
            .chain([b'/'])
            .cycle()
            .take(PATH_LINE)
            .collect();
        text.push(b'\n');
        fs::write(&list, &text).unwrap();
        let items = collect_all(&s, &globs(&[], &[]).unwrap());
        assert_eq!(items.len(), 1);
        assert!(items[0].starts_with("failed yyy"), "{items:?}");
        // No path holds a NUL byte, or a name longer than a file system takes.
        for (text, why) in [
            (b"a\n\x01\x00b\n".to_vec(), "line 2 holds a NUL byte, which no path can".to_string()),
            (
                format!("a/{}/b\n", "z".repeat(NAME + 1)).into_bytes(),
                // 255 bytes; on Windows 765, the UTF-8 of 255 UTF-16 units at most.
                format!("line 1 names a file or folder longer than {NAME} bytes, the longest name this system takes"),
            ),
        ] {
            fs::write(&list, &text).unwrap();
            let err = walk(&s, &globs(&[], &[]).unwrap(), None, &mut |_| true).unwrap_err();
            assert_eq!(err.message, format!("--files-from {}: {why}", list.display()));
        }
    }

    /// Before a read of a `--files-from` list that may wait for its writer, the sink is
    /// told, with every line read so far already handed to it.
    #[test]
    fn the_sink_hears_before_the_walk_waits_for_its_list() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Arc;

        /// Gives one chunk per read, as a pipe does.
        struct Chunks(Vec<Vec<u8>>, Arc<AtomicUsize>);
        impl Read for Chunks {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                self.1.fetch_add(1, Ordering::SeqCst);
                if self.0.is_empty() {
                    return Ok(0);
                }
                let chunk = self.0.remove(0);
                buf[..chunk.len()].copy_from_slice(&chunk);
                Ok(chunk.len())
            }
        }
        struct Probe(Vec<String>, Arc<AtomicUsize>);
        impl Sink for Probe {
            fn item(&mut self, item: WalkItem) -> bool {
                let WalkItem::File(f) = item else {
                    panic!("{item:?}")
                };
                let name = f.path.file_name().unwrap().to_string_lossy().into_owned();
                self.0.push(format!("file {name}"));
                true
            }
            fn idle(&mut self) -> bool {
                self.0.push(format!(
                    "idle after {} reads",
                    self.1.load(Ordering::SeqCst)
                ));
                true
            }
        }

        let d = tempfile::tempdir().unwrap();
        let p = |name: &str| {
            let path = d.path().join(name);
            fs::write(&path, name).unwrap();
            path.display().to_string()
        };
        let (a, b, c) = (p("a"), p("b"), p("c"));
        let chunks = vec![
            format!("{a}\n").into_bytes(),
            // A line cut in two by the writer.
            format!("{b}\n{c}").into_bytes(),
            b"\n".to_vec(),
        ];
        let reads = Arc::new(AtomicUsize::new(0));
        let s = WalkSettings {
            files_from: Some(PathBuf::from("-")),
            ..settings(vec![])
        };
        let mut probe = Probe(Vec::new(), reads.clone());
        let list = Box::new(Chunks(chunks, reads));
        walk(&s, &globs(&[], &[]).unwrap(), Some(list), &mut probe).unwrap();
        assert_eq!(
            probe.0,
            [
                "idle after 0 reads",
                "file a",
                "idle after 1 reads",
                "file b",
                "idle after 2 reads",
                "file c",
                "idle after 3 reads",
            ]
        );
    }
}
