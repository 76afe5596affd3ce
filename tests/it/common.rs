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

    /// Where chief-upload reads its default config file in this tree:
    /// `$XDG_CONFIG_HOME/chief/config.toml`; on Windows `%APPDATA%\chief\config\config.toml`.
    pub fn config_file(&self) -> PathBuf {
        let chief = self.config_dir().join("chief");
        if cfg!(windows) {
            chief.join("config").join("config.toml")
        } else {
            chief.join("config.toml")
        }
    }

    /// The file `name` (`hashes.sqlite`, `sent.sqlite`) in chief-upload's cache folder in
    /// this tree: `$XDG_CACHE_HOME/chief/`; on Windows `%LOCALAPPDATA%\chief\cache\`.
    pub fn cache_file(&self, name: &str) -> PathBuf {
        let chief = self.dir.path().join("cache").join("chief");
        if cfg!(windows) {
            chief.join("cache").join(name)
        } else {
            chief.join(name)
        }
    }

    /// The variables that put the user's folders into this tree: HOME and the XDG
    /// folders, and on Windows APPDATA and LOCALAPPDATA (where the system's known folders
    /// would be the real user's).
    pub fn dirs_env(&self) -> [(&'static str, PathBuf); 5] {
        let cache = self.dir.path().join("cache");
        [
            ("HOME", self.dir.path().join("home")),
            ("XDG_CONFIG_HOME", self.config_dir()),
            ("XDG_CACHE_HOME", cache.clone()),
            ("APPDATA", self.config_dir()),
            ("LOCALAPPDATA", cache),
        ]
    }

    /// Writes the default config file (`config_file`), mode 600.
    pub fn config(&self, text: &str) -> PathBuf {
        let p = self.config_file();
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
            .envs(self.dirs_env())
            .current_dir(self.root());
        // Windows cannot start a program without these (Winsock, for one, needs
        // SYSTEMROOT to find its providers).
        for var in ["SYSTEMROOT", "WINDIR", "TEMP", "TMP"] {
            if let Some(v) = std::env::var_os(var).filter(|_| cfg!(windows)) {
                c.env(var, v);
            }
        }
        c
    }

    /// The binary pointed at `fake`, to run as a child process the test acts on while it
    /// runs: stdin empty, stdout and stderr piped. Unlike `cmd_for`, no quick retries. On
    /// Windows in a process group of its own, which `interrupt` needs.
    pub fn child_cmd(&self, fake: &FakeChief) -> StdCommand {
        let mut c = self.std_cmd();
        c.envs(fake.env())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        #[cfg(windows)]
        {
            use std::os::windows::process::CommandExt;
            const CREATE_NEW_PROCESS_GROUP: u32 = 0x0000_0200;
            c.creation_flags(CREATE_NEW_PROCESS_GROUP);
        }
        c
    }

    /// The binary pointed at `fake` with valid credentials, and quick retries.
    pub fn cmd_for(&self, fake: &FakeChief) -> Command {
        let mut c = self.cmd();
        c.envs(fake.env()).arg("--retry-base-ms").arg("5");
        c
    }
}

/// Says that the calling test does not run here, and why: `skipped: TEST: REASON` on
/// stderr, written past the test harness's capture so that every `cargo test` shows it
/// (and dist/windows-tests.sh counts it). The test then returns, passing:
/// `if cfg!(windows) { return skip("…"); }`. A test never leaves a platform out silently.
pub fn skip(reason: &str) {
    use std::io::Write;
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("a test");
    let _ = writeln!(std::io::stderr().lock(), "skipped: {test}: {reason}");
}

/// Whether this test binary runs under wine, not Windows itself: wine's loader puts
/// WINECONFIGDIR (and WINELOADER, WINEDATADIR…) in the environment of every process it
/// starts, Windows never does. For what wine does not do as Windows does, each such
/// test saying what (`skip`); nothing else tells wine apart.
pub fn under_wine() -> bool {
    cfg!(windows) && std::env::var_os("WINECONFIGDIR").is_some()
}

/// Why a test whose outcome rests on how quickly a request makes its round trip cannot
/// pass here, if it cannot: under wine a loopback request costs 30 to 70 times what it
/// does natively (measured: fake_server::chaos_fails_a_fraction_of_requests, 200
/// requests, 2.8 to 6.4 s under wine 8.0, 0.06 to 0.09 s natively, same machine).
pub fn slow_under_wine() -> Option<&'static str> {
    under_wine().then_some(
        "under wine a loopback request costs 30 to 70 times what it does natively, and \
         this test's outcome rests on round-trip times",
    )
}

/// Why a running chief-upload cannot be interrupted here (`interrupt`), if it cannot.
pub fn cannot_interrupt() -> Option<&'static str> {
    under_wine().then_some(
        "wine 8.0 delivers no console control event: GenerateConsoleCtrlEvent's Ctrl-C is \
         accepted and never arrives, its Ctrl-Break fails with ERROR_INVALID_HANDLE, and a \
         process with no terminal has no console to send them through",
    )
}

/// Sends `signal` (INT, TERM, HUP) to a running chief-upload with `kill`. Unix only: on
/// Windows, where only an interrupt exists, a test uses `interrupt`.
pub fn kill(child: &Child, signal: &str) {
    let status = StdCommand::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{signal}");
}

/// Interrupts a running chief-upload (started by `child_cmd`) as its user would: SIGINT,
/// as Ctrl-C in a terminal sends it; on Windows Ctrl-Break, sent to the child's own
/// process group (Ctrl-C cannot be sent to one group alone). See `cannot_interrupt` first.
pub fn interrupt(child: &Child) {
    #[cfg(windows)]
    {
        use windows_sys::Win32::System::Console::{GenerateConsoleCtrlEvent, CTRL_BREAK_EVENT};
        // SAFETY: a plain call with two integers.
        let sent = unsafe { GenerateConsoleCtrlEvent(CTRL_BREAK_EVENT, child.id()) };
        assert!(
            sent != 0,
            "Ctrl-Break to process group {}: {}",
            child.id(),
            std::io::Error::last_os_error()
        );
    }
    #[cfg(not(windows))]
    kill(child, "INT");
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

/// A symbolic link at `link` to `target`, on every system (Windows lets a user make one
/// in developer mode or as administrator, and wants to know whether it is to a folder).
pub fn symlink(target: impl AsRef<Path>, link: &Path) -> std::io::Result<()> {
    #[cfg(windows)]
    {
        let target = target.as_ref();
        if link.parent().unwrap_or(link).join(target).is_dir() {
            std::os::windows::fs::symlink_dir(target, link)
        } else {
            std::os::windows::fs::symlink_file(target, link)
        }
    }
    #[cfg(not(windows))]
    std::os::unix::fs::symlink(target, link)
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
