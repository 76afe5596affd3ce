//! Files the user names are read with a bound: a wrong path (a device that never ends, a
//! binary file) is a usage error (exit 2) that names the file and the limit, after
//! reading at most the limit, never a process that fills memory or hangs.
#![cfg(unix)]

use std::fs::File;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::{finish, text, TestEnv};

const TOKEN: &str = "pat_abcdefghijklmnopqrstuvwxyz012345";
const PROJECT: &str = "project_aaaaaaaaaaaaaaaaaaaa";
const DEVICES: [&str; 2] = ["/dev/zero", "/dev/urandom"];

/// Runs the binary with credentials in the environment (no server: every case stops
/// before the network) and `stdin` as standard input: (exit code, stderr, stdout). A run
/// that does not end is killed and fails the test.
fn run(
    env: &TestEnv,
    args: &[&str],
    vars: &[(&str, &str)],
    stdin: Option<&str>,
) -> (i32, String, String) {
    env.file("a.txt", "a");
    let mut c = Command::new(crate::common::bin());
    c.env_clear()
        .env("HOME", env.dir.path().join("home"))
        .env("XDG_CONFIG_HOME", env.config_dir())
        .env("XDG_CACHE_HOME", env.dir.path().join("cache"))
        .env("CHIEF_API_KEY", TOKEN)
        .env("CHIEF_PROJECT_ID", PROJECT)
        .env("CHIEF_API_URL", "http://127.0.0.1:9")
        .envs(vars.iter().copied())
        .current_dir(env.root())
        .args(args)
        .stdin(match stdin {
            Some(dev) => Stdio::from(File::open(dev).unwrap()),
            None => Stdio::null(),
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let out = finish(c.spawn().unwrap(), Duration::from_secs(60));
    (
        out.status.code().unwrap_or(-1),
        text(&out.stderr),
        text(&out.stdout),
    )
}

#[track_caller]
fn refused(env: &TestEnv, args: &[&str], vars: &[(&str, &str)], stdin: Option<&str>, says: &str) {
    let (code, err, _) = run(env, args, vars, stdin);
    assert_eq!(code, 2, "{args:?} {vars:?}: {err}");
    assert!(
        err.contains(says),
        "{args:?} {vars:?}: wanted {says:?} in {err}"
    );
}

#[test]
fn a_token_file_that_never_ends_is_refused() {
    let env = TestEnv::new();
    for dev in DEVICES {
        refused(
            &env,
            &["--api-key-file", dev, "a.txt"],
            &[],
            None,
            &format!("--api-key-file {dev} is larger than 512 bytes, the limit for a token file"),
        );
        refused(
            &env,
            &["--api-key-file", "-", "a.txt"],
            &[],
            Some(dev),
            "--api-key-file - (standard input) is larger than 512 bytes, the limit for a token file",
        );
    }
}

#[test]
fn a_config_file_that_never_ends_is_refused() {
    let env = TestEnv::new();
    for dev in DEVICES {
        refused(
            &env,
            &["--config", dev, "a.txt"],
            &[],
            None,
            &format!("config file {dev} is larger than 4 MiB, the limit for a config file"),
        );
        refused(
            &env,
            &["a.txt"],
            &[("CHIEF_CONFIG", dev)],
            None,
            &format!("config file {dev} is larger than 4 MiB"),
        );
    }
}

#[test]
fn a_ca_file_that_never_ends_is_refused() {
    let env = TestEnv::new();
    for dev in DEVICES {
        let says =
            format!("{dev} (flag --ca-cert) is larger than 4 MiB, the limit for a CA bundle");
        refused(&env, &["--ca-cert", dev, "a.txt"], &[], None, &says);
        let says = format!("the CA file {dev} (environment SSL_CERT_FILE) is larger than 4 MiB");
        refused(&env, &["a.txt"], &[("SSL_CERT_FILE", dev)], None, &says);
    }
}

/// `--show-config` reads the CA file to count its certificates: with the same bound.
#[test]
fn show_config_with_a_ca_file_that_never_ends_ends() {
    let env = TestEnv::new();
    for dev in DEVICES {
        env.config(&format!("ca_cert = \"{dev}\"\n"));
        let (code, err, out) = run(&env, &["--show-config"], &[], None);
        assert_eq!(code, 0, "{err}");
        assert!(
            out.contains(&format!(
                "{dev} (invalid: is larger than 4 MiB, the limit for a CA bundle)"
            )),
            "{out}"
        );
    }
}

#[test]
fn a_pattern_file_that_never_ends_is_refused() {
    let env = TestEnv::new();
    for dev in DEVICES {
        for flag in ["--exclude-from", "--include-from"] {
            refused(
                &env,
                &[flag, dev, "--dry-run", "a.txt"],
                &[],
                None,
                &format!("{flag} file {dev} is larger than 4 MiB, the limit for a pattern file"),
            );
        }
    }
}

/// A `--files-from` list is streamed, so its size is no limit; but a list that is no list
/// of paths (no separator for longer than a path, NUL bytes between newlines, endless
/// empty entries) stops the run at its first such line.
#[test]
fn a_files_from_list_that_is_no_list_of_paths_is_refused() {
    let env = TestEnv::new();
    for dev in DEVICES {
        for null in [&[][..], &["-0"][..]] {
            let args = [&["--files-from", dev, "--dry-run"][..], null].concat();
            refused(
                &env,
                &args,
                &[],
                None,
                &format!("--files-from {dev}: line "),
            );
            let args = [&["--files-from", "-", "--dry-run"][..], null].concat();
            refused(
                &env,
                &args,
                &[],
                Some(dev),
                "--files-from - (standard input): line ",
            );
        }
    }
    refused(
        &env,
        &["--files-from", "/dev/zero", "--dry-run"],
        &[],
        None,
        "--files-from /dev/zero: line 1 is longer than 4096 bytes, the longest path this system takes",
    );
    refused(
        &env,
        &["--files-from", "/dev/zero", "-0", "--dry-run"],
        &[],
        None,
        "--files-from /dev/zero: line 4097 ends more than 4096 empty lines in a row",
    );
}

/// A long list of paths is fine: only a line that no path can be is refused.
#[test]
fn a_long_files_from_list_is_read_as_it_comes() {
    let env = TestEnv::new();
    let mut list = String::new();
    for i in 0..2000 {
        let name = format!("dir/{i:04}-{}.txt", "n".repeat(200));
        env.file(&name, i.to_string());
        list.push_str(&name);
        list.push('\n');
    }
    env.file("list.txt", &list);
    // Quiet: the only line is the summary (the pipes are read once the run ends).
    let (code, err, _) = run(
        &env,
        &["--files-from", "list.txt", "--dry-run", "-q"],
        &[],
        None,
    );
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("Dry run: would upload 2000 files"), "{err}");
}
