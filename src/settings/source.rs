//! The vocabulary of settings: where a value came from (`Source`, `Sourced`), a setting's
//! names (`Key`), and how a kind of value is read (`SettingValue`). The precedence rule
//! that uses them (`docs/interface.md#settings`) is `layers.rs`.

use std::fmt;
use std::marker::PhantomData;
use std::path::PathBuf;

use super::quote::quote_value;
use crate::exit::UsageError;

/// Where a setting's value came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    Flag(&'static str),
    Env(&'static str),
    File { path: PathBuf, key: String },
    Default,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Flag(name) => write!(f, "flag {name}"),
            Source::Env(name) => write!(f, "environment {name}"),
            Source::File { path, key } => write!(f, "config {} ({key})", path.display()),
            Source::Default => f.write_str("default"),
        }
    }
}

/// A value and where it came from.
#[derive(Clone, Debug)]
pub(crate) struct Sourced<T> {
    pub(crate) value: T,
    pub(crate) source: Source,
}

/// A kind of value a setting holds, read from text (a flag, a variable, a config string)
/// or from a config file integer.
pub(crate) trait SettingValue: Sized {
    /// What the value is called in messages: "size".
    const KIND: &'static str;
    /// A valid value, shown in the config file's form: `max_size = "2G"`.
    const EXAMPLE: &'static str;
    /// How a valid value looks, shown under the error for an invalid one.
    const HINT: &'static str;
    /// Whether the config file may give it as a TOML integer (see `from_integer`).
    const INTEGER: bool = false;

    /// The value from text; the error says why it is not one (without quoting it).
    fn parse(raw: &str) -> Result<Self, String>;

    /// The value from a TOML integer, when `INTEGER` says integers are accepted.
    fn from_integer(n: i64) -> Result<Self, String> {
        Err(format!("{n} is not a {}", Self::KIND))
    }
}

/// Strings are checked later, where the setting is validated (`shapes.rs`), so that the
/// message can be specific to it.
impl SettingValue for String {
    const KIND: &'static str = "string";
    const EXAMPLE: &'static str = "...";
    const HINT: &'static str = "";

    fn parse(raw: &str) -> Result<String, String> {
        Ok(raw.to_string())
    }
}

/// One setting's names: the flag, the environment variable (if any), the config file key
/// (empty: none).
#[derive(Debug)]
pub(crate) struct Key<T> {
    pub(crate) flag: &'static str,
    pub(crate) env: Option<&'static str>,
    pub(crate) file: &'static str,
    value: PhantomData<fn() -> T>,
}

impl<T> Key<T> {
    pub(crate) const fn new(
        flag: &'static str,
        env: Option<&'static str>,
        file: &'static str,
    ) -> Key<T> {
        Key {
            flag,
            env,
            file,
            value: PhantomData,
        }
    }

    /// A setting the config file never sets: a flag and its environment variable.
    pub(crate) const fn env_only(flag: &'static str, env: &'static str) -> Key<T> {
        Key::new(flag, Some(env), "")
    }
}

pub(super) fn parse_sourced<T: SettingValue>(
    raw: &str,
    source: Source,
) -> Result<Sourced<T>, UsageError> {
    match T::parse(raw) {
        Ok(value) => Ok(Sourced { value, source }),
        Err(why) => Err(invalid::<T>(raw, &source, &why)),
    }
}

/// The error for a value that is not a valid `T`: it quotes the value (a token put in the
/// wrong place is redacted), names its source, and shows a valid one.
pub(super) fn invalid<T: SettingValue>(raw: &str, source: &Source, why: &str) -> UsageError {
    UsageError::new(format!(
        "the {} '{}' from {source} is not valid: {why}",
        T::KIND,
        quote_value(raw)
    ))
    .hint(T::HINT)
}
