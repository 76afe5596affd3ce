//! `--api-key-file`: the token read from a file or standard input, never from argv.

use std::io::Read;
use std::path::Path;

use super::file::loose_mode;
use crate::exit::UsageError;

/// The token's text from `path` (`-` reads standard input, and sets `stdin_used`). A file
/// others can read is refused: the token in it is no longer a secret.
pub(super) fn read_key_file(path: &Path, stdin_used: &mut bool) -> Result<String, UsageError> {
    let text = if path == Path::new("-") {
        *stdin_used = true;
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s).map_err(|e| {
            UsageError::new(format!(
                "cannot read the API token from standard input: {e}"
            ))
        })?;
        s
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
        std::fs::read_to_string(path).map_err(|e| {
            UsageError::new(format!(
                "cannot read --api-key-file {}: {e}",
                path.display()
            ))
        })?
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
