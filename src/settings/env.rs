//! The environment, read once into a snapshot, and the platform directories derived from it.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// A snapshot of the environment, so tests and the demo can pass their own.
#[derive(Clone, Debug, Default)]
pub struct Env(HashMap<OsString, OsString>);

impl Env {
    pub fn from_process() -> Env {
        Env(std::env::vars_os().collect())
    }

    pub fn from_pairs<K: Into<OsString>, V: Into<OsString>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Env {
        Env(pairs
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect())
    }

    /// A variable's value; unset and empty are the same (as for NO_COLOR).
    pub(crate) fn get(&self, name: &str) -> Option<String> {
        self.get_os(name).map(|v| v.to_string_lossy().into_owned())
    }

    /// A variable's value as the OS gave it (a path need not be UTF-8).
    pub(crate) fn get_os(&self, name: &str) -> Option<&OsString> {
        self.0.get(&OsString::from(name)).filter(|v| !v.is_empty())
    }

    /// The config file: `$XDG_CONFIG_HOME/chief/config.toml` (`~/.config/chief/…`) on
    /// Linux; `%APPDATA%\chief\config\config.toml` on Windows; the platform config
    /// directory elsewhere.
    pub(crate) fn config_path(&self) -> Option<PathBuf> {
        self.chief_dir(Dir::Config).map(|d| d.join("config.toml"))
    }

    /// The hash cache: `$XDG_CACHE_HOME/chief/hashes.sqlite` (`~/.cache/chief/…`) on
    /// Linux; `%LOCALAPPDATA%\chief\cache\hashes.sqlite` on Windows; the platform cache
    /// directory elsewhere.
    pub(crate) fn cache_path(&self) -> Option<PathBuf> {
        self.chief_dir(Dir::Cache).map(|d| d.join("hashes.sqlite"))
    }

    /// What a watch has sent (`--watch`): `sent.sqlite` beside the hash cache.
    pub(crate) fn record_path(&self) -> Option<PathBuf> {
        self.chief_dir(Dir::Cache).map(|d| d.join("sent.sqlite"))
    }

    /// The `chief` folder in one of the platform directories.
    fn chief_dir(&self, dir: Dir) -> Option<PathBuf> {
        // `directories` reads XDG_*_HOME and HOME from the process environment; on Linux,
        // where those variables decide, read them from the snapshot instead, so that a
        // snapshot that overrides them (tests, the demo) is obeyed.
        if cfg!(target_os = "linux") {
            let (var, under_home) = match dir {
                Dir::Config => ("XDG_CONFIG_HOME", ".config"),
                Dir::Cache => ("XDG_CACHE_HOME", ".cache"),
            };
            // The XDG spec says a relative value is invalid and must be ignored.
            if let Some(x) = self.get_os(var).filter(|x| Path::new(x).is_absolute()) {
                return Some(Path::new(x).join("chief"));
            }
            if let Some(home) = self.get_os("HOME") {
                return Some(Path::new(home).join(under_home).join("chief"));
            }
        }
        // On Windows `directories` asks the system for the known folders, never the
        // environment; APPDATA and LOCALAPPDATA name the same folders, and a snapshot that
        // overrides them is obeyed. Same layout: `<folder>\chief\config`, `…\chief\cache`.
        if cfg!(windows) {
            let (var, leaf) = match dir {
                Dir::Config => ("APPDATA", "config"),
                Dir::Cache => ("LOCALAPPDATA", "cache"),
            };
            if let Some(x) = self.get_os(var).filter(|x| Path::new(x).is_absolute()) {
                return Some(Path::new(x).join("chief").join(leaf));
            }
        }
        let dirs = directories::ProjectDirs::from("", "", "chief")?;
        Some(match dir {
            Dir::Config => dirs.config_dir().to_path_buf(),
            Dir::Cache => dirs.cache_dir().to_path_buf(),
        })
    }
}

#[derive(Clone, Copy)]
enum Dir {
    Config,
    Cache,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_is_unset() {
        let env = Env::from_pairs([("A", ""), ("B", "b")]);
        assert_eq!(env.get("A"), None);
        assert_eq!(env.get("B").as_deref(), Some("b"));
        assert_eq!(env.get("C"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn linux_paths_follow_xdg_then_home() {
        let env = Env::from_pairs([("HOME", "/home/u"), ("XDG_CACHE_HOME", "/c")]);
        assert_eq!(
            env.config_path(),
            Some(PathBuf::from("/home/u/.config/chief/config.toml"))
        );
        assert_eq!(
            env.cache_path(),
            Some(PathBuf::from("/c/chief/hashes.sqlite"))
        );
        let env = Env::from_pairs([("HOME", "/home/u"), ("XDG_CONFIG_HOME", "rel")]);
        assert_eq!(
            env.config_path(),
            Some(PathBuf::from("/home/u/.config/chief/config.toml")),
            "a relative XDG directory is ignored"
        );
    }

    #[cfg(windows)]
    #[test]
    fn windows_paths_follow_appdata() {
        let env = Env::from_pairs([("APPDATA", r"C:\a"), ("LOCALAPPDATA", r"C:\l")]);
        assert_eq!(
            env.config_path(),
            Some(PathBuf::from(r"C:\a\chief\config\config.toml"))
        );
        assert_eq!(
            env.cache_path(),
            Some(PathBuf::from(r"C:\l\chief\cache\hashes.sqlite"))
        );
    }
}
