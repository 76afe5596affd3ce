//! The `--junit` reports checked against the JUnit XML schema that Jenkins (its xUnit
//! plugin's `junit-10.xsd`) and the tools GitLab's parser follows accept, by `xmllint
//! --schema`: an upload with every outcome and file names holding `<`, `&`, quotes,
//! non-ASCII and a control character; a dry run; a run stopped by SIGTERM.
//!
//! Only with `--features junit-schema`: `JUNIT_XSD=$(.ci/junit-xsd) cargo test
//! --features junit-schema --test junit_schema`. Needs `xmllint` (Debian's
//! libxml2-utils) and the schema file (`.ci/junit-xsd` fetches it with pip and prints
//! its path); `.ci/run` has both. The default `cargo test` checks the same reports'
//! structure without them (tests/it/junit.rs).

// The integration tests' TestEnv, shared with this binary.
#[path = "../it/common.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{finish, text, TestEnv};
use fake_chief::{Action, FakeChief, Gate, Rule};

fn schema() -> PathBuf {
    let path = std::env::var_os("JUNIT_XSD").map(PathBuf::from).unwrap_or_else(|| {
        panic!("set JUNIT_XSD to the JUnit schema: JUNIT_XSD=$(.ci/junit-xsd) cargo test --features junit-schema --test junit_schema")
    });
    assert!(path.is_file(), "JUNIT_XSD={}: no such file", path.display());
    path
}

/// `xmllint --schema`: whether `file` is valid, and what xmllint said.
fn validate(file: &Path) -> (bool, String) {
    let out = Command::new("xmllint")
        .args(["--noout", "--schema"])
        .arg(schema())
        .arg(file)
        .output()
        .expect("xmllint on PATH (apt-get install libxml2-utils)");
    (
        out.status.success(),
        format!("{}{}", text(&out.stdout), text(&out.stderr)),
    )
}

fn assert_valid(file: &Path) {
    let (ok, said) = validate(file);
    let xml = std::fs::read_to_string(file).unwrap_or_default();
    assert!(ok, "{said}\n{xml}");
}

/// The check can fail: a suite without its counts, a case with an unknown child.
#[test]
fn the_schema_refuses_what_is_not_junit() {
    let dir = tempfile::tempdir().unwrap();
    for bad in [
        "<testsuite name=\"x\"><testcase name=\"a\"/></testsuite>",
        "<testsuite name=\"x\" tests=\"1\" failures=\"0\" errors=\"0\"><testcase name=\"a\"><oops/></testcase></testsuite>",
        "<testsuite name=\"x\" tests=\"1\" failures=\"0\" errors=\"0\" time=\"1.23456\"><testcase name=\"a\"/></testsuite>",
    ] {
        let f = dir.path().join("bad.xml");
        std::fs::write(&f, bad).unwrap();
        let (ok, said) = validate(&f);
        assert!(!ok, "{bad} passed: {said}");
    }
}

/// Uploaded, skipped (same content), failed files; names that XML must escape, or
/// cannot hold at all.
#[test]
fn an_upload_with_every_outcome_and_hostile_names_is_valid_junit() {
    let fake = FakeChief::start();
    let env = TestEnv::new();
    env.file("d/ok.txt", "ok");
    env.file("d/same-1.txt", "same");
    env.file("d/same-2.txt", "same");
    let mut names = vec!["a&b 'c' é ü 日本.txt".to_string()];
    if cfg!(unix) {
        names.push("x<y>&\"z\".txt".into());
        names.push("ctl\u{1}\u{1b}[31m.txt".into());
    }
    for (i, name) in names.iter().enumerate() {
        env.file(&format!("d/s<u>b&/{name}"), format!("hostile {i}"));
        fake.inject(Rule::api(1, Action::status(400)).for_file(name));
    }
    env.file("d/bad.txt", "bad");
    fake.inject(
        Rule::api(
            1,
            Action::status_body(400, "{\"message\":\"<no> & \\\"never\\\"\"}"),
        )
        .for_file("bad.txt"),
    );
    let junit = env.dir.path().join("junit.xml");
    let out = env
        .cmd_for(&fake)
        .arg("--junit")
        .arg(&junit)
        .arg("d")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert_valid(&junit);
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert_eq!(xml.matches("<testcase ").count(), 4 + names.len(), "{xml}");
    assert_eq!(xml.matches("<failure ").count(), 1 + names.len(), "{xml}");
}

#[test]
fn a_dry_run_is_valid_junit() {
    let env = TestEnv::new();
    for i in 0..3 {
        env.file(&format!("f{i} <&>.txt"), format!("{i}"));
    }
    let junit = env.dir.path().join("junit.xml");
    let out = env
        .cmd()
        .args(["-n", "--junit"])
        .arg(&junit)
        .arg(".")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_valid(&junit);
}

/// Stopped by SIGTERM mid-run: the report of what was done is valid too.
#[cfg(unix)]
#[test]
fn a_stopped_run_is_valid_junit() {
    let fake = FakeChief::start();
    let env = TestEnv::new();
    for i in 0..5 {
        env.file(&format!("f{i}.bin"), vec![i as u8; 1000]);
    }
    let gate = Gate::new();
    fake.inject(
        Rule::storage(1, Action::Gate(gate.clone()))
            .after(2)
            .always(),
    );
    let junit = env.dir.path().join("junit.xml");
    let child = env
        .child_cmd(&fake)
        .args(["-j", "1", "--junit"])
        .arg(&junit)
        .arg(".")
        .spawn()
        .unwrap();
    gate.wait_arrived(1, Duration::from_secs(60));
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = finish(child, Duration::from_secs(60));
    gate.release();
    assert_eq!(out.status.code(), Some(143), "{}", text(&out.stderr));
    assert_valid(&junit);
}
