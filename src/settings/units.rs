//! The value forms of SIZE, RATE and DURATION (`docs/interface.md#choosing-files`,
//! `#network`); and JOBS, `auto` or a number.
//!
//! * SIZE: bytes, or `K`, `M`, `G`, `T` (powers of 1024): `512`, `10K`, `2G`, `1T`.
//! * RATE: bytes per second, the same forms up to `G`; `0` or `off` means no cap.
//! * DURATION: `crate::duration` reads it (`30s`, `5m`, `1h30m`, `1.5s`; a plain number
//!   counts seconds, as a TOML integer in the config file does), for every duration flag.
//! * JOBS: `auto`, or the number of files in flight, 1 to `MAX_JOBS`.
//!
//! Size letters may be lower case (`10k`). A few lines of hand parsing read sizes and
//! rates; a crate for them would still leave plain numbers, `off` and TOML integers here.

use std::num::NonZeroU64;
use std::time::Duration;

use super::source::SettingValue;
use crate::admission::{jobs_in_range, parse_jobs, Jobs};

// Only the tests read sizes until a flag takes one (`expect` then fails the build, so that
// the attributes below go).

/// A number of bytes (SIZE).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Size(pub(crate) u64);

/// A cap on bytes per second (RATE); `None` is no cap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Rate(pub(crate) Option<NonZeroU64>);

/// SIZE: `512`, `10K`, `2G`, `1T` (powers of 1024).
pub(crate) fn parse_size(raw: &str) -> Result<u64, String> {
    let (n, unit) = number_and_unit(raw)?;
    let shift = match unit {
        "" => 0,
        "K" | "k" => 10,
        "M" | "m" => 20,
        "G" | "g" => 30,
        "T" | "t" => 40,
        other => return Err(unknown_unit(other, "K, M, G or T")),
    };
    scale(n, 1 << shift)
}

/// RATE: bytes per second as `20M`, `512K`, `1G` (powers of 1024); `0` or `off` is no cap.
pub(crate) fn parse_rate(raw: &str) -> Result<Option<NonZeroU64>, String> {
    if raw.trim().eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    let (n, unit) = number_and_unit(raw)?;
    let shift = match unit {
        "" => 0,
        "K" | "k" => 10,
        "M" | "m" => 20,
        "G" | "g" => 30,
        other => return Err(unknown_unit(other, "K, M or G")),
    };
    Ok(NonZeroU64::new(scale(n, 1 << shift)?))
}

/// "unknown unit 'KB'; use K, M, G or T": the unit as typed, escaped (a value from a
/// config file or a variable may hold a line break or a terminal's escape code).
fn unknown_unit(unit: &str, known: &str) -> String {
    format!("unknown unit '{}'; use {known}", unit.escape_debug())
}

/// The leading whole number and the rest (the unit), without surrounding spaces.
fn number_and_unit(raw: &str) -> Result<(u64, &str), String> {
    let s = raw.trim();
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(end);
    if digits.is_empty() {
        return Err(if s.is_empty() {
            "it is empty".into()
        } else if s.starts_with('-') {
            "it is negative".into()
        } else {
            "it does not start with a number".into()
        });
    }
    if unit.starts_with(['.', ',']) {
        return Err("use a whole number (a smaller unit for a fraction)".into());
    }
    let n = digits.parse().map_err(|_| "the number is too large")?;
    Ok((n, unit.trim_start()))
}

fn scale(n: u64, unit: u64) -> Result<u64, String> {
    n.checked_mul(unit)
        .ok_or_else(|| "the number is too large".into())
}

fn non_negative(n: i64) -> Result<u64, String> {
    u64::try_from(n).map_err(|_| "it is negative".into())
}

impl SettingValue for Size {
    const KIND: &'static str = "size";
    const EXAMPLE: &'static str = "2G";
    const HINT: &'static str =
        "a size is a number of bytes, or a number with K, M, G or T (powers of 1024), e.g. 2G";
    const INTEGER: bool = true;

    fn parse(raw: &str) -> Result<Size, String> {
        parse_size(raw).map(Size)
    }

    fn from_integer(n: i64) -> Result<Size, String> {
        non_negative(n).map(Size)
    }
}

impl SettingValue for Rate {
    const KIND: &'static str = "rate";
    const EXAMPLE: &'static str = "20M";
    const HINT: &'static str = "a rate is bytes per second, or a number with K, M or G (powers of 1024), e.g. 20M; 0 or off means no cap";
    const INTEGER: bool = true;

    fn parse(raw: &str) -> Result<Rate, String> {
        parse_rate(raw).map(Rate)
    }

    fn from_integer(n: i64) -> Result<Rate, String> {
        non_negative(n).map(|n| Rate(NonZeroU64::new(n)))
    }
}

impl SettingValue for Jobs {
    const KIND: &'static str = "number of jobs";
    const EXAMPLE: &'static str = "auto";
    const HINT: &'static str =
        "use auto (adapts to the link and the server) or a number of files in flight from 1 to 256";
    const INTEGER: bool = true;

    fn parse(raw: &str) -> Result<Jobs, String> {
        parse_jobs(raw)
    }

    fn from_integer(n: i64) -> Result<Jobs, String> {
        non_negative(n).and_then(jobs_in_range)
    }
}

impl SettingValue for Duration {
    const KIND: &'static str = "duration";
    const EXAMPLE: &'static str = "5m";
    const HINT: &'static str =
        "a duration is a number with s, m, h or d, e.g. 5m or 1h30m (a plain number counts seconds)";
    const INTEGER: bool = true;

    fn parse(raw: &str) -> Result<Duration, String> {
        crate::duration::parse(raw)
    }

    fn from_integer(n: i64) -> Result<Duration, String> {
        non_negative(n).map(Duration::from_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        for (raw, bytes) in [
            ("512", 512),
            ("0", 0),
            ("10K", 10 << 10),
            ("10k", 10 << 10),
            ("3M", 3 << 20),
            ("2G", 2 << 30),
            ("1T", 1 << 40),
            (" 7 M ", 7 << 20),
        ] {
            assert_eq!(parse_size(raw), Ok(bytes), "{raw}");
        }
        for (raw, why) in [
            ("", "it is empty"),
            ("G", "it does not start with a number"),
            ("-1K", "it is negative"),
            ("1.5G", "use a whole number (a smaller unit for a fraction)"),
            ("10KB", "unknown unit 'KB'; use K, M, G or T"),
            ("1P", "unknown unit 'P'; use K, M, G or T"),
            ("16777216T", "the number is too large"),
            ("99999999999999999999", "the number is too large"),
        ] {
            assert_eq!(parse_size(raw), Err(why.to_string()), "{raw}");
        }
    }

    /// Found by the fuzz target `config`: the unit of a bad size or rate was quoted as it
    /// was, tabs, line breaks and escape codes included.
    #[test]
    fn an_unknown_unit_is_quoted_escaped() {
        let why = parse_rate("2111111111110Y111p)#\t\t2222b").unwrap_err();
        assert_eq!(why, "unknown unit 'Y111p)#\\t\\t2222b'; use K, M or G");
        let why = parse_size("1 K\n\u{1b}[31m").unwrap_err();
        assert!(!why.chars().any(char::is_control), "{why:?}");
    }

    #[test]
    fn rates() {
        let rate = |n: u64| Ok(NonZeroU64::new(n));
        assert_eq!(parse_rate("20M"), rate(20 << 20));
        assert_eq!(parse_rate("512k"), rate(512 << 10));
        assert_eq!(parse_rate("1G"), rate(1 << 30));
        assert_eq!(parse_rate("100"), rate(100));
        for off in ["0", "0K", "off", "OFF"] {
            assert_eq!(parse_rate(off), Ok(None), "{off}");
        }
        assert_eq!(
            parse_rate("1T"),
            Err("unknown unit 'T'; use K, M or G".to_string())
        );
        assert_eq!(
            parse_rate("none"),
            Err("it does not start with a number".to_string())
        );
    }

    #[test]
    fn jobs() {
        for (raw, jobs) in [
            ("auto", Jobs::Auto),
            ("AUTO", Jobs::Auto),
            (" auto ", Jobs::Auto),
            ("1", Jobs::Fixed(1)),
            ("32", Jobs::Fixed(32)),
            ("256", Jobs::Fixed(256)),
        ] {
            assert_eq!(parse_jobs(raw), Ok(jobs), "{raw}");
        }
        for (raw, why) in [
            ("0", "it is out of range (1 to 256)"),
            ("257", "it is out of range (1 to 256)"),
            ("99999999999999999999", "it is out of range (1 to 256)"),
            ("-1", "it is negative"),
            ("", "it is empty"),
            ("many", "it is neither auto nor a whole number"),
            ("8.5", "it is neither auto nor a whole number"),
            ("8k", "it is neither auto nor a whole number"),
        ] {
            assert_eq!(parse_jobs(raw), Err(why.to_string()), "{raw}");
        }
        assert_eq!(Jobs::from_integer(32), Ok(Jobs::Fixed(32)));
        assert!(Jobs::from_integer(0).is_err());
        assert!(Jobs::from_integer(-3).is_err());
        assert!(Jobs::from_integer(1 << 40).is_err());
    }

    #[test]
    fn toml_integers() {
        assert_eq!(Size::from_integer(4096), Ok(Size(4096)));
        assert_eq!(Rate::from_integer(0), Ok(Rate(None)));
        assert_eq!(Rate::from_integer(1024), Ok(Rate(NonZeroU64::new(1024))));
        assert_eq!(Duration::from_integer(90), Ok(Duration::from_secs(90)));
        assert_eq!(Size::from_integer(-1), Err("it is negative".to_string()));
        assert_eq!(
            Duration::from_integer(-5),
            Err("it is negative".to_string())
        );
    }
}
