//! I/O errors in words, for the messages of every layer.

use std::io;

/// Windows: a file another program holds open without sharing it (ERROR_SHARING_VIOLATION).
const WINDOWS_SHARING_VIOLATION: i32 = 32;
/// Windows: a range of the file another program has locked (ERROR_LOCK_VIOLATION).
const WINDOWS_LOCK_VIOLATION: i32 = 33;

/// An I/O error in words, without Rust's "(os error 2)" suffix.
pub(crate) fn io_reason(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => "no such file or directory".into(),
        io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ if cfg!(windows) && e.raw_os_error() == Some(WINDOWS_SHARING_VIOLATION) => {
            "in use by another program, which does not share it".into()
        }
        _ if cfg!(windows) && e.raw_os_error() == Some(WINDOWS_LOCK_VIOLATION) => {
            "part of it is locked by another program".into()
        }
        _ => {
            let s = e.to_string();
            match s.find(" (os error") {
                Some(i) => s[..i].to_string(),
                None => s,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_sharing_errors_say_another_program_holds_the_file() {
        let shared = io_reason(&io::Error::from_raw_os_error(WINDOWS_SHARING_VIOLATION));
        let locked = io_reason(&io::Error::from_raw_os_error(WINDOWS_LOCK_VIOLATION));
        if cfg!(windows) {
            assert_eq!(shared, "in use by another program, which does not share it");
            assert_eq!(locked, "part of it is locked by another program");
        } else {
            // 32 and 33 are EPIPE and EDOM there.
            assert!(!shared.contains("program") && !locked.contains("program"));
        }
        assert_eq!(
            io_reason(&io::Error::from(io::ErrorKind::NotFound)),
            "no such file or directory"
        );
    }
}
