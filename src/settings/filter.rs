//! Which files a run takes (`docs/interface.md#choosing-files`), compiled into one
//! `walk::Filter`: the globs of `--include`/`--exclude` and of the
//! `--include-from`/`--exclude-from` files, and the limits `--min-size`, `--max-size`,
//! `--min-age` and `--max-age`.
//!
//! These are flags only, with no environment variable or config key
//! (`docs/interface.md#settings` lists none):
//! which files to take belongs to the command, like its PATHs, and a `max_size` forgotten
//! in a config file or a profile would quietly thin out every later upload.

use std::path::Path;
use std::time::Duration;

use super::env::Env;
use super::layers::Layers;
use super::source::{Key, SettingValue, Sourced};
use super::units::Size;
use crate::bounded::{self, ReadError, PATTERNS};
use crate::cli::Cli;
use crate::exit::UsageError;
use crate::io_words::io_reason;
use crate::walk::{Filter, Pattern, PatternOrigin, SizeAgeLimits};

const MIN_SIZE: Key<Size> = Key::new("--min-size", None, "");
const MAX_SIZE: Key<Size> = Key::new("--max-size", None, "");
const MIN_AGE: Key<Duration> = Key::new("--min-age", None, "");
const MAX_AGE: Key<Duration> = Key::new("--max-age", None, "");

/// The globs and limits from the command line, compiled. A pattern file that cannot be
/// read, a bad glob or value, or limits that no file could pass are usage errors.
pub(crate) fn filter(cli: &Cli, env: &Env) -> Result<Filter, UsageError> {
    let mut include = flag_patterns("--include", &cli.include);
    for path in &cli.include_from {
        include.extend(read_patterns("--include-from", path)?);
    }
    let mut exclude = flag_patterns("--exclude", &cli.exclude);
    for path in &cli.exclude_from {
        exclude.extend(read_patterns("--exclude-from", path)?);
    }

    let layers = Layers {
        env,
        file: None,
        profile: None,
    };
    let min_size = pick(&layers, &MIN_SIZE, &cli.min_size)?.map(|s| s.0);
    let max_size = pick(&layers, &MAX_SIZE, &cli.max_size)?.map(|s| s.0);
    let min_age = min_age(cli, env)?;
    let max_age = pick(&layers, &MAX_AGE, &cli.max_age)?;
    if let (Some(min), Some(max)) = (min_size, max_size) {
        ordered(
            min <= max,
            ("--min-size", &cli.min_size),
            ("--max-size", &cli.max_size),
        )?;
    }
    if let (Some(min), Some(max)) = (min_age, max_age) {
        ordered(
            min <= max,
            ("--min-age", &cli.min_age),
            ("--max-age", &cli.max_age),
        )?;
    }
    let limits = SizeAgeLimits {
        min_size,
        max_size,
        // In a watch, --min-age is the settle time (`watch.rs`): a file too young waits
        // until it has been still that long, instead of being left out.
        min_age: if cli.watch { None } else { min_age },
        max_age,
    };
    Filter::new(&include, &exclude, limits)
}

/// `--min-age`: a filter limit, or a watch's settle time.
pub(super) fn min_age(cli: &Cli, env: &Env) -> Result<Option<Duration>, UsageError> {
    let layers = Layers {
        env,
        file: None,
        profile: None,
    };
    pick(&layers, &MIN_AGE, &cli.min_age)
}

/// The size and age limits, each with where it came from (for `--show-config`).
pub(super) struct SourcedLimits {
    pub(super) min_size: Picked<Size>,
    pub(super) max_size: Picked<Size>,
    pub(super) min_age: Picked<Duration>,
    pub(super) max_age: Picked<Duration>,
}

type Picked<T> = Result<Option<Sourced<T>>, UsageError>;

/// The size and age limits as given, each checked on its own.
pub(super) fn limits_sourced(cli: &Cli, env: &Env) -> SourcedLimits {
    let layers = Layers {
        env,
        file: None,
        profile: None,
    };
    SourcedLimits {
        min_size: layers.pick(&MIN_SIZE, cli.min_size.as_deref()),
        max_size: layers.pick(&MAX_SIZE, cli.max_size.as_deref()),
        min_age: layers.pick(&MIN_AGE, cli.min_age.as_deref()),
        max_age: layers.pick(&MAX_AGE, cli.max_age.as_deref()),
    }
}

fn pick<T: SettingValue>(
    layers: &Layers<'_>,
    key: &Key<T>,
    raw: &Option<String>,
) -> Result<Option<T>, UsageError> {
    Ok(layers.pick(key, raw.as_deref())?.map(|s| s.value))
}

/// A lower limit above the upper one leaves nothing to upload: surely a slip.
fn ordered(
    ok: bool,
    (min_flag, min): (&str, &Option<String>),
    (max_flag, max): (&str, &Option<String>),
) -> Result<(), UsageError> {
    if ok {
        return Ok(());
    }
    let shown = |raw: &Option<String>| raw.as_deref().unwrap_or_default().trim().to_string();
    Err(UsageError::new(format!(
        "{min_flag} {} is more than {max_flag} {}: no file could pass both",
        shown(min),
        shown(max)
    ))
    .hint(format!(
        "{min_flag} is the lower limit and {max_flag} the upper one; swap the values"
    )))
}

fn flag_patterns(flag: &'static str, globs: &[String]) -> Vec<Pattern> {
    globs.iter().map(|g| Pattern::flag(flag, g)).collect()
}

/// The globs of an `--include-from` or `--exclude-from` file (at most
/// `bounded::PATTERNS` bytes).
fn read_patterns(flag: &'static str, path: &Path) -> Result<Vec<Pattern>, UsageError> {
    let unreadable = |why: String| {
        UsageError::new(format!(
            "cannot read {flag} file '{}': {why}",
            path.display()
        ))
        .hint(format!(
            "{flag} takes a text file of globs, one per line; lines starting with # are comments"
        ))
    };
    let bytes = bounded::read(path, PATTERNS).map_err(|e| match e {
        ReadError::TooLarge(limit) => limit.error(&format!("{flag} file"), path),
        ReadError::Io(e) => unreadable(io_reason(&e)),
    })?;
    let text = String::from_utf8(bytes).map_err(|_| unreadable("it is not UTF-8 text".into()))?;
    Ok(pattern_lines(&text)
        .map(|(line, glob)| Pattern {
            glob: glob.to_string(),
            origin: PatternOrigin::File {
                flag,
                path: path.to_path_buf(),
                line,
            },
        })
        .collect())
}

/// The globs of a pattern file and their line numbers (from 1). Surrounding spaces are
/// dropped (and a byte order mark, as some Windows editors write); blank lines and lines
/// starting with `#` are skipped.
pub(crate) fn pattern_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use clap::Parser;

    use super::*;
    use crate::walk::FilterVerdict;

    fn filter_of(args: &[&str]) -> Result<Filter, UsageError> {
        let cli = Cli::parse_from(["chief-upload"].iter().chain(args).chain(&["x"]));
        filter(&cli, &Env::default())
    }

    fn judge(f: &Filter, size: u64, age_secs: u64) -> FilterVerdict {
        let now = SystemTime::now();
        let modified = now - Duration::from_secs(age_secs);
        f.judge(size, || Ok(modified), now).unwrap()
    }

    #[test]
    fn sizes_and_ages_come_from_their_flags() {
        let f = filter_of(&["--min-size", "1K", "--max-size", "2k"]).unwrap();
        assert_eq!(judge(&f, 1023, 0), FilterVerdict::Exclude);
        assert_eq!(judge(&f, 1024, 0), FilterVerdict::Take);
        assert_eq!(judge(&f, 2048, 0), FilterVerdict::Take);
        assert_eq!(judge(&f, 2049, 0), FilterVerdict::Exclude);
        assert_eq!(f.describe(), "the filters (--min-size, --max-size)");

        let f = filter_of(&["--min-age", "15m", "--max-age", "7d"]).unwrap();
        assert_eq!(judge(&f, 1, 60), FilterVerdict::TooYoung);
        assert_eq!(judge(&f, 1, 16 * 60), FilterVerdict::Take);
        assert_eq!(judge(&f, 1, 8 * 24 * 3600), FilterVerdict::Exclude);

        // SizeAgeLimits that meet are fine; nothing set takes everything.
        assert!(filter_of(&["--min-size", "1K", "--max-size", "1024"]).is_ok());
        assert_eq!(judge(&filter_of(&[]).unwrap(), 0, 0), FilterVerdict::Take);
    }

    #[test]
    fn a_bad_size_or_duration_is_quoted_with_a_valid_one() {
        for (args, message, example) in [
            (
                ["--min-size", "10KB"],
                "the size '10KB' from flag --min-size is not valid: unknown unit 'KB'; use K, M, G or T",
                "e.g. 2G",
            ),
            (
                ["--max-size", "-1"],
                "the size '-1' from flag --max-size is not valid: it is negative",
                "e.g. 2G",
            ),
            (
                ["--min-age", "5min"],
                "the duration '5min' from flag --min-age is not valid: unknown unit 'min'; use s, m, h or d",
                "e.g. 5m",
            ),
            (
                ["--max-age", "1h30"],
                "the duration '1h30' from flag --max-age is not valid: each number needs its unit after the first (e.g. 1h30m)",
                "e.g. 5m",
            ),
        ] {
            let err = filter_of(&args).unwrap_err();
            assert_eq!(err.message, message);
            assert!(err.hints[0].contains(example), "{err:?}");
        }
        let err = filter_of(&["--min-size", "2G", "--max-size", "1G"]).unwrap_err();
        assert_eq!(
            err.message,
            "--min-size 2G is more than --max-size 1G: no file could pass both"
        );
        let err = filter_of(&["--max-age", "5m", "--min-age", "1h"]).unwrap_err();
        assert_eq!(
            err.message,
            "--min-age 1h is more than --max-age 5m: no file could pass both"
        );
    }

    #[test]
    fn pattern_files_join_the_flags_as_one_filter() {
        let d = tempfile::tempdir().unwrap();
        let inc = d.path().join("include.txt");
        let exc = d.path().join("exclude.txt");
        std::fs::write(&inc, "# pictures\n*.png\n\n*.jpg\n").unwrap();
        std::fs::write(&exc, "  # scratch\r\ntmp/\r\n").unwrap();
        let (inc_s, exc_s) = (inc.to_str().unwrap(), exc.to_str().unwrap());
        let f = filter_of(&[
            "--include-from",
            inc_s,
            "--include",
            "*.gif",
            "--exclude-from",
            exc_s,
            "--exclude",
            "*-draft.*",
        ])
        .unwrap();
        for (rel, want) in [
            ("a.png", true),
            ("b/c.jpg", true),
            ("d.gif", true),
            ("e.txt", false),
            ("f-draft.png", false),
        ] {
            assert_eq!(f.wants_file(rel), want, "{rel}");
        }
        assert!(!f.wants_dir("tmp") && f.wants_dir("b"));
        assert_eq!(
            f.describe(),
            "the filters (--include/--exclude, --include-from, --exclude-from)"
        );
        // Only comments: no include globs, so every file passes.
        std::fs::write(&inc, "# nothing yet\n").unwrap();
        assert!(filter_of(&["--include-from", inc_s])
            .unwrap()
            .wants_file("a.txt"));
    }

    #[test]
    fn an_unreadable_pattern_file_is_named() {
        let d = tempfile::tempdir().unwrap();
        let missing = d.path().join("missing.txt");
        let err = filter_of(&["--exclude-from", missing.to_str().unwrap()]).unwrap_err();
        assert_eq!(
            err.message,
            format!(
                "cannot read --exclude-from file '{}': no such file or directory",
                missing.display()
            )
        );
        assert!(err.hints[0].contains("one per line"), "{err:?}");
        let binary = d.path().join("binary");
        std::fs::write(&binary, b"\xff\xfe*.png\n").unwrap();
        let err = filter_of(&["--include-from", binary.to_str().unwrap()]).unwrap_err();
        assert!(err.message.ends_with("it is not UTF-8 text"), "{err}");

        let bad = d.path().join("bad.txt");
        std::fs::write(&bad, "*.png\n# ok\nimg[\n").unwrap();
        let err = filter_of(&["--include-from", bad.to_str().unwrap()]).unwrap_err();
        assert!(
            err.message.starts_with(&format!(
                "invalid --include-from pattern 'img[' (line 3 of {}): ",
                bad.display()
            )),
            "{err}"
        );
    }

    #[test]
    fn pattern_files_skip_blank_lines_and_comments() {
        let text = "\u{feff}# images only\n*.png\n\n   \n  *.jpg  \r\n#*.gif\n  # indented comment\ntmp/\n";
        assert_eq!(
            pattern_lines(text).collect::<Vec<_>>(),
            vec![(2, "*.png"), (5, "*.jpg"), (8, "tmp/")]
        );
        assert_eq!(pattern_lines("").count(), 0);
        assert_eq!(pattern_lines("# nothing\n\n").count(), 0);
    }
}
