//! Files the user names, read with a bound that fits what they hold: the token file, the
//! config file, CA bundles, pattern files (whole, `read`), and the lines of a
//! `--files-from` list (one at a time, `Lines`). A wrong path (`/dev/zero`, a tarball, a
//! disk image) then ends the run with a usage error that names the file and the limit,
//! after reading at most the limit, instead of filling memory.

use std::fmt;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use crate::exit::UsageError;

/// How much of a kind of file is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Limit {
    pub(crate) bytes: u64,
    /// What such a file holds, in a message: "the limit for a token file".
    pub(crate) holds: &'static str,
    /// How to tell the right file.
    pub(crate) hint: &'static str,
}

/// A token is `pat_` and 32 characters; a newline or a byte order mark may follow.
pub(crate) const TOKEN: Limit = Limit {
    bytes: 512,
    holds: "a token file",
    hint: "the file must hold only the token (pat_ and 32 characters)",
};

/// A few settings and profiles.
pub(crate) const CONFIG: Limit = Limit {
    bytes: 4 << 20,
    holds: "a config file",
    hint: "the config file is TOML text with a few settings",
};

/// Mozilla's whole set of roots is about 220 KiB of PEM.
pub(crate) const CA_BUNDLE: Limit = Limit {
    bytes: 4 << 20,
    holds: "a CA bundle",
    hint: "a CA bundle is PEM text (-----BEGIN CERTIFICATE-----)",
};

/// Globs, one per line.
pub(crate) const PATTERNS: Limit = Limit {
    bytes: 4 << 20,
    holds: "a pattern file",
    hint: "a pattern file is text, one glob per line",
};

/// The longest line of a `--files-from` list, separator aside: the longest path the
/// platform opens (`PATH_MAX`, 4096 bytes on Linux, 1024 on macOS; Windows takes 32,767
/// UTF-16 units, up to three UTF-8 bytes each).
#[cfg(unix)]
pub(crate) const PATH_LINE: usize = libc::PATH_MAX as usize;
#[cfg(not(unix))]
pub(crate) const PATH_LINE: usize = 32_767 * 3;

/// Why a named file was not read.
#[derive(Debug)]
pub(crate) enum ReadError {
    Io(io::Error),
    /// It holds more than the limit allows (or never ends: `/dev/zero`).
    TooLarge(Limit),
}

impl Limit {
    /// "is larger than 512 bytes, the limit for a token file": completes "{what} {path} …".
    pub(crate) fn exceeded(&self) -> String {
        format!(
            "is larger than {}, the limit for {}",
            bytes(self.bytes),
            self.holds
        )
    }

    /// The usage error for `{what} {path}` past this limit.
    pub(crate) fn error(&self, what: &str, path: &Path) -> UsageError {
        UsageError::new(format!("{what} {} {}", shown(path), self.exceeded()))
            .hint(format!("is it the file you meant? {}", self.hint))
    }
}

/// At most `limit.bytes` of the file at `path`, all of it.
pub(crate) fn read(path: &Path, limit: Limit) -> Result<Vec<u8>, ReadError> {
    let file = std::fs::File::open(path).map_err(ReadError::Io)?;
    read_from(file, limit)
}

/// At most `limit.bytes` of `reader` (standard input, a file), all of it.
pub(crate) fn read_from(reader: impl Read, limit: Limit) -> Result<Vec<u8>, ReadError> {
    let mut out = Vec::new();
    reader
        .take(limit.bytes + 1)
        .read_to_end(&mut out)
        .map_err(ReadError::Io)?;
    if out.len() as u64 > limit.bytes {
        return Err(ReadError::TooLarge(limit));
    }
    Ok(out)
}

/// The longest name of one file or folder in a path, on every file system in common use
/// (`NAME_MAX`: 255 bytes; Windows: 255 UTF-16 units).
#[cfg(unix)]
pub(crate) const NAME: usize = 255;
#[cfg(not(unix))]
pub(crate) const NAME: usize = 255 * 3;

/// The paths of a list, one a line, read one at a time (`\n`, or NUL with `-0`). Empty
/// lines are skipped; with `\n`, a `\r` before it goes too. A line that no path can be
/// (longer than `max_path` bytes, a part longer than `max_name`, a NUL byte in a
/// newline-separated list), or more than `max_path` empty lines in a row, is an error:
/// the list is not a list of paths (`/dev/zero`, `/dev/urandom`, a tarball), and reading
/// on would not end or would fail every line.
pub(crate) struct PathLines<R> {
    reader: BufReader<R>,
    sep: u8,
    max_path: usize,
    max_name: usize,
    /// Lines read so far, empty ones included (the number of the last one).
    number: u64,
    /// Empty lines since the last path.
    empty: usize,
    buf: Vec<u8>,
}

/// A line that cannot be a path: its number (from 1), and why.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct NotAPath {
    pub(crate) number: u64,
    pub(crate) why: String,
}

impl<R: Read> PathLines<R> {
    pub(crate) fn new(reader: R, sep: u8, max_path: usize, max_name: usize) -> PathLines<R> {
        PathLines {
            reader: BufReader::new(reader),
            sep,
            max_path,
            max_name,
            number: 0,
            empty: 0,
            buf: Vec::new(),
        }
    }

    /// Whether the next line is all read already: reading it will not wait for the
    /// list's writer.
    pub(crate) fn line_ready(&self) -> bool {
        self.reader.buffer().contains(&self.sep)
    }

    /// The next non-empty line, `None` at the end, or why it cannot be read.
    pub(crate) fn next_line(&mut self) -> Option<Result<&[u8], LineError>> {
        loop {
            self.buf.clear();
            // The separator and a `\r` may follow the longest line.
            let room = self.max_path as u64 + 2;
            match (&mut self.reader)
                .take(room)
                .read_until(self.sep, &mut self.buf)
            {
                Ok(0) => return None,
                Ok(_) => {}
                Err(e) => return Some(Err(LineError::Io(e))),
            }
            self.number += 1;
            if self.buf.last() == Some(&self.sep) {
                self.buf.pop();
            }
            if self.sep == b'\n' && self.buf.last() == Some(&b'\r') {
                self.buf.pop();
            }
            if let Some(why) = self.not_a_path() {
                return Some(Err(LineError::NotAPath(NotAPath {
                    number: self.number,
                    why,
                })));
            }
            if !self.buf.is_empty() {
                self.empty = 0;
                return Some(Ok(&self.buf));
            }
            self.empty += 1;
            if self.empty > self.max_path {
                return Some(Err(LineError::NotAPath(NotAPath {
                    number: self.number,
                    why: format!(
                        "ends more than {} empty lines in a row, which no list of paths has",
                        self.max_path
                    ),
                })));
            }
        }
    }

    /// Why the line just read cannot be a path, if it cannot.
    fn not_a_path(&self) -> Option<String> {
        let line = &self.buf;
        if line.len() > self.max_path {
            return Some(format!(
                "is longer than {} bytes, the longest path this system takes",
                self.max_path
            ));
        }
        if line.contains(&0) {
            return Some("holds a NUL byte, which no path can".into());
        }
        let separator = |b: &u8| *b == b'/' || (cfg!(windows) && *b == b'\\');
        if line.split(separator).any(|name| name.len() > self.max_name) {
            return Some(format!(
                "names a file or folder longer than {} bytes, the longest name this system takes",
                self.max_name
            ));
        }
        None
    }
}

/// Why a line of a list was not read.
#[derive(Debug)]
pub(crate) enum LineError {
    Io(io::Error),
    NotAPath(NotAPath),
}

impl NotAPath {
    /// The usage error for this line of `{what} {path}`.
    pub(crate) fn error(&self, what: &str, path: &Path) -> UsageError {
        UsageError::new(format!(
            "{what} {}: line {} {}",
            shown(path),
            self.number,
            self.why
        ))
        .hint(format!(
            "{what} takes a list of paths, one a line (NUL-separated with -0/--null): is it the list you meant?"
        ))
    }
}

/// `-` is standard input.
fn shown(path: &Path) -> String {
    if path == Path::new("-") {
        "- (standard input)".into()
    } else {
        path.display().to_string()
    }
}

/// "512 bytes", "4 KiB", "4 MiB".
fn bytes(n: u64) -> String {
    if n >= 1 << 20 && n.is_multiple_of(1 << 20) {
        format!("{} MiB", n >> 20)
    } else if n >= 1 << 10 && n.is_multiple_of(1 << 10) {
        format!("{} KiB", n >> 10)
    } else {
        format!("{n} bytes")
    }
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Io(e) => write!(f, "{e}"),
            ReadError::TooLarge(limit) => f.write_str(&limit.exceeded()),
        }
    }
}
