//! `-` as a PATH (`docs/interface.md#stdin`): standard input uploaded as one file named by
//! `--name`, spooled under `TMPDIR`; and `--mime-type`, the media type sent instead of the
//! detected one. Flags only: what to upload belongs to the command.

use std::path::{Path, PathBuf};

use super::env::Env;
use super::quote::quote_value;
use super::source::{Source, Sourced};
use crate::cli::Cli;
use crate::exit::UsageError;

/// Standard input, uploaded as one file.
#[derive(Clone, Debug)]
pub struct StdinSettings {
    /// `--name`: its file name, as given (sent in Unicode NFC).
    pub(crate) name: String,
    /// Where it is spooled once it outgrows memory: `TMPDIR`.
    pub(crate) spool_dir: PathBuf,
}

/// The variable that names the folder for temporary files.
pub(super) const TMPDIR: &str = "TMPDIR";

/// Whether a PATH means standard input.
fn is_stdin(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// The PATHs to walk (every one but `-`), and standard input's settings when `-` is one
/// of them. Refuses what cannot go with `-` (stdin is read once; the file needs a name),
/// and `--name` without it. Checked before anything reads standard input.
pub(super) fn split(
    cli: &Cli,
    env: &Env,
) -> Result<(Vec<PathBuf>, Option<StdinSettings>), UsageError> {
    let (dashes, paths): (Vec<&PathBuf>, Vec<&PathBuf>) =
        cli.paths.iter().partition(|p| is_stdin(p));
    let paths = paths.into_iter().cloned().collect();
    let named_dash = "a file that is really named - is given as ./-";
    if dashes.is_empty() {
        if cli.name.is_some() {
            return Err(
                UsageError::new("--name only applies to - (standard input) as a PATH")
                    .hint("add - to upload standard input as NAME, or drop --name"),
            );
        }
        return Ok((paths, None));
    }
    if dashes.len() > 1 {
        return Err(UsageError::new(
            "- (standard input) is given more than once; it can be read only once",
        )
        .hint("give - once")
        .hint(named_dash));
    }
    if cli.watch {
        return Err(UsageError::new(
            "- (standard input) cannot be combined with --watch: standard input is read once",
        )
        .hint("upload standard input in a run of its own, without --watch"));
    }
    for (flag, given) in [
        ("--files-from", cli.files_from.as_deref()),
        ("--api-key-file", cli.api_key_file.as_deref()),
    ] {
        if given.is_some_and(is_stdin) {
            let fix = if flag == "--files-from" {
                "write the list to a file and give --files-from FILE"
            } else {
                "pass the token through CHIEF_API_KEY or a file instead"
            };
            return Err(UsageError::new(format!(
                "- (standard input) and {flag} - cannot both read standard input"
            ))
            .hint(fix));
        }
    }
    let Some(name) = &cli.name else {
        return Err(UsageError::new(
            "- (standard input) needs --name NAME: the file name to upload it as",
        )
        .hint("for example: tar c dist | chief-upload --name dist.tar -")
        .hint(named_dash));
    };
    if let Err(why) = file_name(name) {
        return Err(UsageError::new(format!(
            "--name '{}' is not a file name: {why}",
            quote_value(name)
        ))
        .hint("give the name alone, e.g. --name dump.sql"));
    }
    Ok((
        paths,
        Some(StdinSettings {
            name: name.clone(),
            spool_dir: spool_dir(env).value,
        }),
    ))
}

/// A name for standard input's content: a file name, not a path.
fn file_name(name: &str) -> Result<(), &'static str> {
    if name.trim().is_empty() {
        return Err("it is empty");
    }
    if name == "." || name == ".." {
        return Err("it names a folder");
    }
    if name.contains(['/', '\\']) {
        return Err("it holds a / or \\ (a path)");
    }
    if name.chars().any(char::is_control) {
        return Err("it holds a control character");
    }
    Ok(())
}

/// Where standard input is spooled beyond what memory holds: `TMPDIR` (on every
/// platform), else the platform's folder for temporary files (`/tmp`; on Windows, where
/// TMP and TEMP name it, the system's answer).
pub(super) fn spool_dir(env: &Env) -> Sourced<PathBuf> {
    match env.get_os(TMPDIR) {
        Some(dir) => Sourced {
            value: PathBuf::from(dir),
            source: Source::Env(TMPDIR),
        },
        _ => Sourced {
            value: if cfg!(unix) {
                PathBuf::from("/tmp")
            } else {
                std::env::temp_dir()
            },
            source: Source::Default,
        },
    }
}

/// `--mime-type`, checked as an RFC 6838 `type/subtype` and given in lower case (media
/// types are case-insensitive; detected ones are lower case).
pub(super) fn mime_type(cli: &Cli) -> Result<Option<String>, UsageError> {
    let Some(raw) = &cli.mime_type else {
        return Ok(None);
    };
    match media_type(raw) {
        Ok(m) => Ok(Some(m)),
        Err(why) => Err(UsageError::new(format!(
            "--mime-type '{}' is not a media type: {why}",
            quote_value(raw)
        ))
        .hint("give type/subtype, e.g. --mime-type application/x-tar")),
    }
}

/// An RFC 6838 media type, `type "/" subtype`: each a restricted name (a letter or digit,
/// then up to 126 of letters, digits and ``!#$&-^_.+``). Parameters are not taken.
pub(super) fn media_type(raw: &str) -> Result<String, String> {
    if raw.contains(';') {
        return Err("parameters (;…) are not taken, only type/subtype".into());
    }
    let Some((kind, sub)) = raw.split_once('/') else {
        return Err("it has no / between type and subtype".into());
    };
    for (part, what) in [(kind, "type"), (sub, "subtype")] {
        let mut chars = part.chars();
        match chars.next() {
            None => return Err(format!("its {what} is empty")),
            Some(c) if !c.is_ascii_alphanumeric() => {
                return Err(format!("its {what} must start with a letter or digit"))
            }
            Some(_) => {}
        }
        if part.len() > 127 {
            return Err(format!("its {what} is longer than 127 characters"));
        }
        if let Some(c) = chars.find(|c| !c.is_ascii_alphanumeric() && !"!#$&-^_.+".contains(*c)) {
            return Err(format!(
                "its {what} holds {}, which a media type cannot",
                c.escape_debug()
            ));
        }
    }
    Ok(raw.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_are_type_slash_subtype() {
        for good in [
            "application/x-tar",
            "image/svg+xml",
            "Text/Plain",
            "application/vnd.ms-excel",
            "a/b",
        ] {
            assert_eq!(
                media_type(good).as_deref(),
                Ok(good.to_ascii_lowercase().as_str())
            );
        }
        for bad in [
            "",
            "text",
            "text/",
            "/plain",
            "text/plain; charset=utf-8",
            "text/pl ain",
            "text/plain/x",
            "-text/plain",
            "text/*",
            "t\u{e9}xt/plain",
        ] {
            assert!(media_type(bad).is_err(), "{bad:?} is taken");
        }
        assert!(media_type(&format!("a/{}", "b".repeat(127))).is_ok());
        assert!(media_type(&format!("a/{}", "b".repeat(128))).is_err());
    }

    #[test]
    fn a_name_is_a_file_name() {
        for good in ["dump.sql", "Café.txt", "-", "a b"] {
            assert_eq!(file_name(good), Ok(()), "{good:?}");
        }
        for bad in ["", " ", ".", "..", "a/b", "/abs", "a\\b", "a\nb"] {
            assert!(file_name(bad).is_err(), "{bad:?} is taken");
        }
    }

    #[test]
    fn tmpdir_names_the_spool_folder() {
        let set = spool_dir(&Env::from_pairs([("TMPDIR", "/big/tmp")]));
        assert_eq!(set.value, PathBuf::from("/big/tmp"));
        assert_eq!(set.source, Source::Env("TMPDIR"));
        let unset = spool_dir(&Env::default());
        if cfg!(unix) {
            assert_eq!(unset.value, PathBuf::from("/tmp"));
        }
        assert_eq!(unset.source, Source::Default);
    }
}
