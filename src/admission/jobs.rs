//! `-j N|auto`: how many files are in flight at once, as the user gives it.

/// The most files in flight `-j N` accepts: each holds three open files (the file, a
/// connection to the API, one to the storage), and 256 of them stay within the common
/// `ulimit -n` of 1024. (`auto` may go further, where it measures a gain and the limits
/// allow: `admission`.)
pub(crate) const MAX_JOBS: usize = 256;

/// How many files are in flight at once (JOBS).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Jobs {
    /// Adapted during the run to the link and to the server's pushback.
    Auto,
    /// Exactly this many, 1 to `MAX_JOBS`.
    Fixed(usize),
}

impl std::fmt::Display for Jobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Jobs::Auto => f.write_str("auto"),
            Jobs::Fixed(n) => write!(f, "{n}"),
        }
    }
}

/// JOBS: `auto` (any case), or a number from 1 to `MAX_JOBS`.
pub(crate) fn parse_jobs(raw: &str) -> Result<Jobs, String> {
    let s = raw.trim();
    if s.eq_ignore_ascii_case("auto") {
        return Ok(Jobs::Auto);
    }
    if s.is_empty() {
        return Err("it is empty".into());
    }
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(if s.starts_with('-') {
            "it is negative".into()
        } else {
            "it is neither auto nor a whole number".into()
        });
    }
    // Digits only: the one failure left is a number too large for any type.
    jobs_in_range(s.parse().unwrap_or(u64::MAX))
}

pub(crate) fn jobs_in_range(n: u64) -> Result<Jobs, String> {
    match usize::try_from(n) {
        Ok(n @ 1..=MAX_JOBS) => Ok(Jobs::Fixed(n)),
        _ => Err(format!("it is out of range (1 to {MAX_JOBS})")),
    }
}
