//! `--api-key-file`: the token read from a file or standard input, never from argv.

use std::path::Path;

use super::file::loose_mode;
use crate::bounded::{self, ReadError, TOKEN};
use crate::exit::UsageError;

/// The token's text from `path` (`-` reads standard input), at most
/// `bounded::TOKEN` bytes. A file others can read is refused: the token in it is no
/// longer a secret.
pub(super) fn read_key_file(path: &Path) -> Result<String, UsageError> {
    let bytes = if path == Path::new("-") {
        bounded::read_from(std::io::stdin().lock(), TOKEN).map_err(|e| match e {
            ReadError::TooLarge(limit) => limit.error("--api-key-file", path),
            ReadError::Io(e) => UsageError::new(format!(
                "cannot read the API token from standard input: {e}"
            )),
        })?
    } else {
        let meta = std::fs::metadata(path).map_err(|e| {
            UsageError::new(format!(
                "cannot read --api-key-file {}: {e}",
                path.display()
            ))
            .hint("check the path")
        })?;
        if let Some(mode) = loose_mode(&meta) {
            return Err(UsageError::new(format!(
                "--api-key-file {} is readable by group or others (mode {mode:03o}); refusing to use a token others can read",
                path.display()
            ))
            .hint(format!("run: chmod 600 {}", path.display())));
        }
        bounded::read(path, TOKEN).map_err(|e| match e {
            ReadError::TooLarge(limit) => limit.error("--api-key-file", path),
            ReadError::Io(e) => UsageError::new(format!(
                "cannot read --api-key-file {}: {e}",
                path.display()
            )),
        })?
    };
    let Ok(text) = String::from_utf8(bytes) else {
        return Err(UsageError::new(format!(
            "--api-key-file {} is not text: a token is pat_ and 32 characters",
            path.display()
        )));
    };
    let trimmed = text.trim();
    if trimmed.lines().count() > 1 {
        return Err(UsageError::new(format!(
            "--api-key-file {} has more than one line; it must hold only the token",
            path.display()
        )));
    }
    Ok(trimmed.to_string())
}
