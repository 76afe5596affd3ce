//! A temporary tree and an isolated command for integration tests: HOME, XDG dirs and
//! the hash cache point into the temp dir, so no user config leaks in or out.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command as StdCommand, Output, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use serde_json::Value;

use fake_chief::FakeChief;

/// The binary under test: `CHIEF_UPLOAD_BIN` when set (a release or cross-built binary,
/// e.g. the static musl one dist/slow-checks.sh tests), else the one cargo built.
pub fn bin() -> PathBuf {
    match std::env::var_os("CHIEF_UPLOAD_BIN") {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => assert_cmd::cargo::cargo_bin("chief-upload"),
    }
}

pub struct TestEnv {
    pub dir: tempfile::TempDir,
}

impl TestEnv {
    pub fn new() -> TestEnv {
        let dir = tempfile::tempdir().expect("temp dir");
        for d in ["home", "config", "cache", "files"] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        TestEnv { dir }
    }

    /// Where test files go; commands run from here.
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("files")
    }

    pub fn config_dir(&self) -> PathBuf {
        self.dir.path().join("config")
    }

    /// Writes a file under `root()`, creating its parents.
    pub fn file(&self, rel: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let p = self.root().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, content).unwrap();
        p
    }

    /// Writes the default config file (`$XDG_CONFIG_HOME/chief/config.toml`), mode 600.
    pub fn config(&self, text: &str) -> PathBuf {
        let p = self.config_dir().join("chief").join("config.toml");
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        set_mode(&p, 0o600);
        p
    }

    /// The binary with a clean environment and no credentials.
    pub fn cmd(&self) -> Command {
        Command::from_std(self.std_cmd())
    }

    fn std_cmd(&self) -> StdCommand {
        self.std_cmd_of(&bin())
    }

    /// `program` (the binary, or a tool that runs it, as strace does) with the test's
    /// clean environment, from the test tree.
    pub fn std_cmd_of(&self, program: &Path) -> StdCommand {
        let mut c = StdCommand::new(program);
        c.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path().join("home"))
            .env("XDG_CONFIG_HOME", self.config_dir())
            .env("XDG_CACHE_HOME", self.dir.path().join("cache"))
            .current_dir(self.root());
        c
    }

    /// The binary pointed at `fake`, to run as a child process the test acts on while it
    /// runs: stdin empty, stdout and stderr piped. Unlike `cmd_for`, no quick retries.
    pub fn child_cmd(&self, fake: &FakeChief) -> StdCommand {
        let mut c = self.std_cmd();
        c.envs(fake.env())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    }

    /// The binary pointed at `fake` with valid credentials, and quick retries.
    pub fn cmd_for(&self, fake: &FakeChief) -> Command {
        let mut c = self.cmd();
        c.envs(fake.env()).arg("--retry-base-ms").arg("5");
        c
    }
}

/// Process output as text.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Waits for the child to end, killing it (and failing) after `within`.
pub fn finish(mut child: Child, within: Duration) -> Output {
    let started = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if started.elapsed() > within {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "chief-upload did not end within {within:?}; stderr: {}",
                text(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

pub fn set_mode(p: &Path, mode: u32) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    #[cfg(not(unix))]
    let _ = (p, mode);
}

/// The NDJSON lines of stdout.
pub fn json_lines(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}")))
        .collect()
}

/// The `"event":"file"` lines, keyed by path. Every file has exactly one line, and the
/// summary counts them all.
pub fn files_by_path(lines: &[Value]) -> std::collections::BTreeMap<String, Value> {
    let mut files = std::collections::BTreeMap::new();
    for l in lines.iter().filter(|l| l["event"] == "file") {
        let path = l["path"].as_str().unwrap().to_string();
        assert!(
            files.insert(path.clone(), l.clone()).is_none(),
            "two outcomes for {path}"
        );
    }
    if let Some(s) = lines.last().filter(|l| l["event"] == "summary") {
        let counted: u64 = ["uploaded", "skipped", "failed", "planned"]
            .iter()
            .map(|k| s[*k].as_u64().unwrap_or(0))
            .sum();
        assert_eq!(
            counted,
            files.len() as u64,
            "the summary counts every file line: {s}"
        );
    }
    files
}

pub fn summary(lines: &[Value]) -> Value {
    let last = lines.last().expect("a summary line").clone();
    assert_eq!(last["event"], "summary", "last line is the summary: {last}");
    last
}
