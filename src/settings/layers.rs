//! The one precedence rule (`docs/interface.md#settings`): flag > environment variable >
//! config file (the selected profile, then the top-level keys) > built-in default.

use super::env::Env;
use super::file::ConfigFile;
use super::source::{parse_sourced, Key, SettingValue, Source, Sourced};
use crate::exit::UsageError;

/// The layers below the command line: the environment, and the config file (if any) read
/// through its selected profile (if any).
pub(crate) struct Layers<'a> {
    pub(crate) env: &'a Env,
    pub(crate) file: Option<&'a ConfigFile>,
    pub(crate) profile: Option<&'a str>,
}

impl Layers<'_> {
    /// The setting's value by precedence: `flag` (the flag's text, if it was given), else
    /// the environment variable, else the config file. `None` when no layer sets it.
    pub(crate) fn pick<T: SettingValue>(
        &self,
        key: &Key<T>,
        flag: Option<&str>,
    ) -> Result<Option<Sourced<T>>, UsageError> {
        if let Some(raw) = flag {
            return parse_sourced(raw, Source::Flag(key.flag)).map(Some);
        }
        if let Some((var, raw)) = key.env.and_then(|var| Some((var, self.env.get(var)?))) {
            return parse_sourced(&raw, Source::Env(var)).map(Some);
        }
        match self.file {
            Some(file) if !key.file.is_empty() => file.lookup(key.file, self.profile),
            _ => Ok(None),
        }
    }

    /// As `pick`, with the built-in default below every layer.
    pub(crate) fn pick_or<T: SettingValue>(
        &self,
        key: &Key<T>,
        flag: Option<&str>,
        default: T,
    ) -> Result<Sourced<T>, UsageError> {
        Ok(self.pick(key, flag)?.unwrap_or(Sourced {
            value: default,
            source: Source::Default,
        }))
    }
}
