//! DURATION, read and written in one form (`docs/interface.md#choosing-files`): a number
//! with a unit, `s`, `m`, `h` or `d` (`30s`, `5m`, `2h`, `7d`), or several from the largest
//! down (`1h30m`, `2m05s`); a fraction is allowed (`1.5s`, `0.25h`); a plain number counts
//! seconds (`90`, `0.5`), as a TOML integer in the config file does. Every duration flag
//! reads it (`parse`), and every duration the program prints is written in it (`shown`),
//! so that what is printed can be typed back: `parse(&shown(d)) == Ok(d)`, to the
//! nanosecond.
//!
//! Unit letters are lower case only, since elsewhere (rclone, humantime) `M` is a month.
//! `humantime` would read a wider grammar than `docs/interface.md` states (`1M` months,
//! `1y`, `5min 3s`), with messages listing its own units, and writes `1m 30s`, which a
//! shell splits in two.

use std::time::Duration;

const NANOS: u128 = 1_000_000_000;

/// The units, largest first, in nanoseconds.
const UNITS: [(&str, u128); 4] = [
    ("d", 86_400 * NANOS),
    ("h", 3_600 * NANOS),
    ("m", 60 * NANOS),
    ("s", NANOS),
];

/// Fraction digits past this many are below a nanosecond even for days: not read.
const FRACTION_DIGITS: usize = 18;

/// A DURATION: `30s`, `5m`, `1h30m`, `1.5s`; a plain number is seconds (`90`, `0.25`).
/// Spaces around it and between its parts are allowed. Fractions of a nanosecond are
/// dropped.
pub fn parse(raw: &str) -> Result<Duration, String> {
    let s = raw.trim();
    if s.is_empty() {
        return Err("it is empty".into());
    }
    if s.starts_with('-') {
        return Err("it is negative".into());
    }
    let mut rest = s;
    let mut total: u128 = 0;
    // The index in `UNITS` of the last unit read: the next must be smaller.
    let mut last: Option<usize> = None;
    while !rest.is_empty() {
        let (whole, after) = split_digits(rest);
        let (fraction, after) = match after.strip_prefix('.') {
            Some(f) => {
                let (digits, after) = split_digits(f);
                (Some(digits), after)
            }
            None => (None, after),
        };
        if whole.is_empty() && fraction.is_none_or(str::is_empty) {
            return Err(match last {
                None => "it does not start with a number".into(),
                Some(_) => format!("'{}' does not start with a number", rest.escape_debug()),
            });
        }
        if after.starts_with(',') {
            return Err("write a fraction with a point, e.g. 1.5s".into());
        }
        let after = after.trim_start();
        let unit_len = after
            .find(|c: char| !c.is_alphabetic())
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        let (index, per) = match UNITS.iter().position(|(u, _)| *u == unit) {
            Some(i) => (i, UNITS[i].1),
            // A plain number, alone, is seconds.
            None if unit.is_empty() && last.is_none() && after.trim().is_empty() => {
                (UNITS.len() - 1, NANOS)
            }
            None if unit.is_empty() => {
                return Err("each number needs its unit after the first (e.g. 1h30m)".into())
            }
            None => {
                return Err(format!(
                    "unknown unit '{}'; use s, m, h or d",
                    unit.escape_debug()
                ))
            }
        };
        if last.is_some_and(|l| index <= l) {
            return Err("give the units from the largest down, each once (e.g. 1h30m)".into());
        }
        last = Some(index);
        let whole: u128 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| too_large())?
        };
        let mut part = whole.checked_mul(per).ok_or_else(too_large)?;
        if let Some(f) = fraction.filter(|f| !f.is_empty()) {
            let f = &f[..f.len().min(FRACTION_DIGITS)];
            let digits: u128 = f.parse().map_err(|_| too_large())?;
            part = part
                .checked_add(digits * per / 10u128.pow(f.len() as u32))
                .ok_or_else(too_large)?;
        }
        total = total.checked_add(part).ok_or_else(too_large)?;
        rest = after.trim_start();
    }
    let secs = u64::try_from(total / NANOS).map_err(|_| too_large())?;
    Ok(Duration::new(secs, (total % NANOS) as u32))
}

fn too_large() -> String {
    "the number is too large".into()
}

/// The leading ASCII digits of `s`, and the rest.
fn split_digits(s: &str) -> (&str, &str) {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    s.split_at(end)
}

/// A duration as DURATION, exactly: `0s`, `1.5s`, `90s` is `1m30s`, `5m`, `2h`, `1d02h`;
/// a part after a larger one has two digits (`2m05s`), zero parts are left out (`1h05s`).
/// `parse` reads it back to the same duration.
pub fn shown(d: Duration) -> String {
    let (secs, nanos) = (d.as_secs(), d.subsec_nanos());
    if secs == 0 && nanos == 0 {
        return "0s".into();
    }
    let parts = [
        (secs / 86_400, "d"),
        (secs % 86_400 / 3_600, "h"),
        (secs % 3_600 / 60, "m"),
    ];
    let mut out = String::new();
    for (n, unit) in parts {
        if n > 0 {
            push_part(&mut out, n, "", unit);
        }
    }
    let s = secs % 60;
    if s > 0 || nanos > 0 {
        let fraction = if nanos > 0 {
            format!(".{nanos:09}").trim_end_matches('0').to_string()
        } else {
            String::new()
        };
        push_part(&mut out, s, &fraction, "s");
    }
    out
}

fn push_part(out: &mut String, n: u64, fraction: &str, unit: &str) {
    if out.is_empty() {
        out.push_str(&format!("{n}{fraction}{unit}"));
    } else {
        out.push_str(&format!("{n:02}{fraction}{unit}"));
    }
}

/// `d` rounded to the nearest multiple of `step` (halves up); `step` zero keeps it.
pub fn rounded(d: Duration, step: Duration) -> Duration {
    let step_n = step.as_nanos();
    if step_n == 0 {
        return d;
    }
    let n = (d.as_nanos() + step_n / 2) / step_n * step_n;
    let secs = u64::try_from(n / NANOS).unwrap_or(u64::MAX);
    Duration::new(secs, (n % NANOS) as u32)
}

/// A time taken or waited, as people read it in a log: tenths of a second under a minute
/// (`0.4s`, `12.3s`), whole seconds from then on (`2m05s`).
pub fn approx(d: Duration) -> String {
    let step = if d < Duration::from_secs(60) {
        Duration::from_millis(100)
    } else {
        Duration::from_secs(1)
    };
    shown(rounded(d, step))
}

/// A wait in whole seconds (`12s`, `5m`), where tenths would only flicker; at least `1s`
/// once it is more than zero.
pub fn whole_seconds(d: Duration) -> String {
    let whole = rounded(d, Duration::from_secs(1));
    shown(if whole.is_zero() && !d.is_zero() {
        Duration::from_secs(1)
    } else {
        whole
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn durations_with_units_fractions_and_plain_seconds() {
        for (raw, want) in [
            ("30s", secs(30)),
            ("5m", secs(300)),
            ("2h", secs(7200)),
            ("7d", secs(604_800)),
            ("45", secs(45)),
            ("0s", secs(0)),
            (" 5 m ", secs(300)),
            ("1h30m", secs(5400)),
            ("1h 30m", secs(5400)),
            ("2m05s", secs(125)),
            ("1d02h03m04s", secs(93_784)),
            ("1.5h", secs(5400)),
            ("1.5s", Duration::from_millis(1500)),
            ("0.5", Duration::from_millis(500)),
            (".25", Duration::from_millis(250)),
            ("90.", secs(90)),
            ("0.000000001s", Duration::from_nanos(1)),
            ("0.0000000019s", Duration::from_nanos(1)),
            ("1.000000000000000000009d", secs(86_400)),
            ("18446744073709551615s", Duration::new(u64::MAX, 0)),
        ] {
            assert_eq!(parse(raw), Ok(want), "{raw}");
        }
    }

    #[test]
    fn what_is_wrong_is_said() {
        for (raw, why) in [
            ("", "it is empty"),
            ("-5s", "it is negative"),
            ("m", "it does not start with a number"),
            (".", "it does not start with a number"),
            ("5M", "unknown unit 'M'; use s, m, h or d"),
            ("5min", "unknown unit 'min'; use s, m, h or d"),
            ("1e3", "unknown unit 'e'; use s, m, h or d"),
            (
                "1h30",
                "each number needs its unit after the first (e.g. 1h30m)",
            ),
            (
                "30s5m",
                "give the units from the largest down, each once (e.g. 1h30m)",
            ),
            (
                "1s1s",
                "give the units from the largest down, each once (e.g. 1h30m)",
            ),
            ("1,5s", "write a fraction with a point, e.g. 1.5s"),
            ("1h-5m", "'-5m' does not start with a number"),
            ("99999999999999999d", "the number is too large"),
            ("18446744073709551616s", "the number is too large"),
            (
                "9999999999999999999999999999999999999999s",
                "the number is too large",
            ),
        ] {
            assert_eq!(parse(raw), Err(why.to_string()), "{raw}");
        }
    }

    #[test]
    fn durations_are_shown_as_they_are_typed() {
        for (d, text) in [
            (secs(0), "0s"),
            (Duration::from_millis(1500), "1.5s"),
            (Duration::from_millis(250), "0.25s"),
            (Duration::from_nanos(1), "0.000000001s"),
            (secs(45), "45s"),
            (secs(90), "1m30s"),
            (secs(125), "2m05s"),
            (secs(300), "5m"),
            (secs(3605), "1h05s"),
            (secs(5400), "1h30m"),
            (secs(86_400), "1d"),
            (secs(93_784), "1d02h03m04s"),
            (Duration::new(65, 500_000_000), "1m05.5s"),
        ] {
            assert_eq!(shown(d), text, "{d:?}");
        }
    }

    /// What is printed is read back to the same duration, over the whole range.
    #[test]
    fn a_shown_duration_parses_back_to_itself() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut samples = vec![Duration::ZERO, Duration::MAX, Duration::new(u64::MAX, 0)];
        for _ in 0..20_000 {
            // xorshift: any seconds (often small) and any nanoseconds.
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let secs = x >> (x % 64);
            let nanos = (x % 1_000_000_000) as u32 * u32::from(x.is_multiple_of(3));
            samples.push(Duration::new(secs, nanos));
        }
        for d in samples {
            assert_eq!(parse(&shown(d)), Ok(d), "{}", shown(d));
        }
    }

    #[test]
    fn rounding_for_people() {
        assert_eq!(approx(Duration::from_millis(1250)), "1.3s");
        assert_eq!(approx(Duration::from_millis(440)), "0.4s");
        assert_eq!(approx(secs(125)), "2m05s");
        assert_eq!(approx(Duration::from_millis(125_600)), "2m06s");
        assert_eq!(whole_seconds(Duration::from_millis(12_400)), "12s");
        assert_eq!(whole_seconds(Duration::from_millis(300)), "1s");
        assert_eq!(whole_seconds(Duration::ZERO), "0s");
        assert_eq!(whole_seconds(secs(300)), "5m");
        assert_eq!(rounded(Duration::MAX, secs(1)), Duration::new(u64::MAX, 0));
    }
}
