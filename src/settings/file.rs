//! The TOML config file: top-level keys, and `[profiles.NAME]` tables that override them.
//! Names the file gives (keys, profiles) are quoted escaped: a quoted TOML key may hold a
//! line break or a terminal's escape code.

use std::path::{Path, PathBuf};

use super::quote::quote_value;
use super::source::{invalid, SettingValue, Source, Sourced};
use crate::bounded::{self, ReadError, CONFIG};
use crate::exit::UsageError;

pub(crate) struct ConfigFile {
    path: PathBuf,
    table: toml::Table,
}

impl ConfigFile {
    /// Reads (at most `bounded::CONFIG` bytes) and parses the file. A missing file is
    /// `None` unless the user named it (`explicit`). Keys not in `known` and loose
    /// permissions are warnings.
    pub(crate) fn load(
        path: &Path,
        explicit: bool,
        known: &[&str],
        warnings: &mut Vec<String>,
    ) -> Result<Option<ConfigFile>, UsageError> {
        let bytes = match bounded::read(path, CONFIG) {
            Ok(b) => b,
            Err(ReadError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
                return Ok(None)
            }
            Err(ReadError::TooLarge(limit)) => {
                return Err(limit
                    .error("config file", path)
                    .hint("check --config / CHIEF_CONFIG"))
            }
            Err(ReadError::Io(e)) => {
                return Err(UsageError::new(format!(
                    "cannot read config file {}: {e}",
                    path.display()
                ))
                .hint("check --config / CHIEF_CONFIG"))
            }
        };
        let Ok(text) = String::from_utf8(bytes) else {
            return Err(UsageError::new(format!(
                "config file {} is not UTF-8 text, as TOML must be",
                path.display()
            ))
            .hint("check --config / CHIEF_CONFIG"));
        };
        if let Ok(meta) = std::fs::metadata(path) {
            if let Some(mode) = loose_mode(&meta) {
                warnings.push(format!(
                    "config file {} is readable by group or others (mode {mode:03o}) and may hold your token; run: chmod 600 {}",
                    path.display(),
                    path.display()
                ));
            }
        }
        ConfigFile::parse(path, &text, known, warnings).map(Some)
    }

    /// Parses the text of the config file at `path` (named in messages). Keys not in
    /// `known` are warnings.
    pub(crate) fn parse(
        path: &Path,
        text: &str,
        known: &[&str],
        warnings: &mut Vec<String>,
    ) -> Result<ConfigFile, UsageError> {
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            // toml's message quotes the offending line, which may be the token: keep only
            // the first line of the message and the position.
            let first = e
                .message()
                .lines()
                .next()
                .unwrap_or("syntax error")
                .to_string();
            let at = e
                .span()
                .map(|s| format!(" at byte {}", s.start))
                .unwrap_or_default();
            UsageError::new(format!(
                "config file {} is not valid TOML: {first}{at}",
                path.display()
            ))
        })?;
        for (k, v) in &table {
            if k == "profiles" {
                let Some(profiles) = v.as_table() else {
                    return Err(UsageError::new(format!(
                        "config file {}: `profiles` must be a table of [profiles.NAME] tables",
                        path.display()
                    )));
                };
                for (name, p) in profiles {
                    let Some(p) = p.as_table() else {
                        return Err(UsageError::new(format!(
                            "config file {}: profiles.{} must be a table",
                            path.display(),
                            quote_value(name)
                        )));
                    };
                    for pk in p.keys().filter(|pk| !known.contains(&pk.as_str())) {
                        warnings.push(format!(
                            "config file {}: unknown key profiles.{}.{} ignored (known: {})",
                            path.display(),
                            quote_value(name),
                            quote_value(pk),
                            known.join(", ")
                        ));
                    }
                }
            } else if !known.contains(&k.as_str()) {
                warnings.push(format!(
                    "config file {}: unknown key {} ignored (known: {}, profiles)",
                    path.display(),
                    quote_value(k),
                    known.join(", ")
                ));
            }
        }
        Ok(ConfigFile {
            path: path.to_path_buf(),
            table,
        })
    }

    /// `key` from the profile's table when a profile is selected and sets it, else from
    /// the top level. A selected profile the file does not have is an error.
    pub(crate) fn lookup<T: SettingValue>(
        &self,
        key: &str,
        profile: Option<&str>,
    ) -> Result<Option<Sourced<T>>, UsageError> {
        if let Some(name) = profile {
            let p = self
                .table
                .get("profiles")
                .and_then(|p| p.as_table())
                .and_then(|p| p.get(name))
                .and_then(|p| p.as_table())
                .ok_or_else(|| {
                    let known: Vec<String> = self
                        .table
                        .get("profiles")
                        .and_then(|p| p.as_table())
                        .map(|p| p.keys().map(|k| quote_value(k)).collect())
                        .unwrap_or_default();
                    UsageError::new(format!(
                        "profile '{}' is not in config file {}",
                        quote_value(name),
                        self.path.display()
                    ))
                    .hint(if known.is_empty() {
                        "the file has no [profiles.NAME] tables".to_string()
                    } else {
                        format!("profiles there: {}", known.join(", "))
                    })
                })?;
            let at = format!("profiles.{}.{key}", quote_value(name));
            if let Some(v) = self.value(p.get(key), &at)? {
                return Ok(Some(v));
            }
        }
        self.value(self.table.get(key), key)
    }

    /// One TOML value as a `T`: a string is read as on the command line; an integer only
    /// where `T` accepts one.
    fn value<T: SettingValue>(
        &self,
        v: Option<&toml::Value>,
        key: &str,
    ) -> Result<Option<Sourced<T>>, UsageError> {
        let Some(v) = v else { return Ok(None) };
        let source = Source::File {
            path: self.path.clone(),
            key: key.to_string(),
        };
        let (raw, parsed) = match v {
            toml::Value::String(s) => (s.clone(), T::parse(s)),
            toml::Value::Integer(n) if T::INTEGER => (n.to_string(), T::from_integer(*n)),
            other => {
                let wanted = if T::INTEGER {
                    format!(
                        "a {} (an integer, or a string such as \"{}\")",
                        T::KIND,
                        T::EXAMPLE
                    )
                } else {
                    format!("a {}", T::KIND)
                };
                return Err(UsageError::new(format!(
                    "config file {}: {key} must be {wanted}, found a {}",
                    self.path.display(),
                    other.type_str()
                ))
                .hint(format!("write it as {key} = \"{}\"", T::EXAMPLE)));
            }
        };
        match parsed {
            Ok(value) => Ok(Some(Sourced { value, source })),
            Err(why) => Err(invalid::<T>(&raw, &source, &why)),
        }
    }
}

/// The permission bits that let group or others read a regular file, if any.
pub(super) fn loose_mode(meta: &std::fs::Metadata) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        (meta.is_file() && mode & 0o077 != 0).then_some(mode)
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        None
    }
}
