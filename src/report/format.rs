//! Pure text formatting shared by the plain lines and the bars.

use std::time::Duration;

use crate::event::{FileReport, Outcome, Summary};

/// 1536 -> "1.5 KiB".
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

pub fn rate(bytes_moved: u64, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64();
    if secs <= 0.0 {
        return "-".into();
    }
    format!("{}/s", bytes((bytes_moved as f64 / secs) as u64))
}

/// The one line a finished file gets: outcome, path, size, then asset id or reason.
pub fn file_line(r: &FileReport) -> String {
    let size = r.size.map(bytes).unwrap_or_else(|| "-".into());
    let tail = match r.outcome {
        Outcome::Failed => r.error.clone().unwrap_or_default(),
        Outcome::Planned => format!(
            "{} md5 {}",
            r.mime_type.as_deref().unwrap_or("-"),
            r.md5.as_deref().unwrap_or("-")
        ),
        Outcome::Uploaded | Outcome::Skipped => {
            let mut t = r.asset_id.clone().unwrap_or_default();
            match (&r.note, r.outcome) {
                (Some(n), _) => t.push_str(&format!(" ({n})")),
                (None, Outcome::Skipped) => t.push_str(" (already in the project)"),
                _ => {}
            }
            t
        }
    };
    let line = format!("{:<8} {}  {}  {}", r.outcome.as_str(), r.path, size, tail);
    printable(&line).into_owned()
}

/// Text from outside (a file name, a server's message) made safe for one line of a
/// terminal: control characters (ESC, newline, …) are shown escaped, never sent raw.
pub fn printable(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c.is_control() {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// 1204 -> "1,204".
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// "1 file", "3 files".
pub fn files(n: u64) -> String {
    if n == 1 {
        "1 file".into()
    } else {
        format!("{n} files")
    }
}

/// The closing line for humans.
pub fn summary_line(s: &Summary, dry_run: bool) -> String {
    let took = crate::duration::approx(s.elapsed);
    let mut line = if dry_run {
        let unreadable = if s.failed > 0 {
            format!("; {} could not be read", s.failed)
        } else {
            String::new()
        };
        format!(
            "Dry run: would upload {} ({}){unreadable}; nothing was sent ({took})",
            files(s.planned),
            bytes(s.bytes_planned)
        )
    } else {
        let speed = if s.bytes_uploaded > 0 {
            format!(" ({})", rate(s.bytes_uploaded, s.elapsed))
        } else {
            String::new()
        };
        format!(
            "Uploaded {} ({}), skipped {}, failed {} in {took}{speed}",
            files(s.uploaded),
            bytes(s.bytes_uploaded),
            s.skipped,
            s.failed,
        )
    };
    if s.excluded > 0 {
        line = format!("{line}; {} excluded", files(s.excluded));
    }
    if s.interrupted {
        line = format!(
            "Interrupted. {line}; {} found were not attempted",
            files(s.not_attempted)
        );
    } else if s.not_attempted > 0 {
        // The run stopped early (credentials refused): say what was left undone.
        line = format!("{line}; {} not attempted", files(s.not_attempted));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_never_reach_the_terminal_raw() {
        assert_eq!(printable("plain ü name"), "plain ü name");
        assert_eq!(
            printable("evil\u{1b}[2Jname\nfake line"),
            "evil\\u{1b}[2Jname\\nfake line"
        );
    }

    #[test]
    fn sizes() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(5 << 30), "5.0 GiB");
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1204), "1,204");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
