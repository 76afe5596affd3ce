//! Issue 27, `--junit FILE`: one test case per file, written whole or not at all, through
//! the real binary. The XML is parsed here (roxmltree: well-formed, entities decoded);
//! the check against the JUnit schema Jenkins and GitLab use is the `junit-schema` suite
//! (tests/junit_schema/), which needs `xmllint` and the schema file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::Duration;

use crate::common::{files_by_path, finish, json_lines, skip, text, TestEnv};
use fake_chief::{Action, FakeChief, Gate, Rule, PROJECT};

const PROMPT: Duration = Duration::from_secs(60);

/// A test case as a CI system reads it.
#[derive(Debug)]
struct Case {
    classname: String,
    time: f64,
    failure: Option<String>,
    skipped: Option<String>,
    out: Option<String>,
}

/// A JUnit report: the suite's attributes, its properties, its cases by
/// (classname, name).
#[derive(Debug)]
struct Report {
    suite: BTreeMap<String, String>,
    properties: BTreeMap<String, String>,
    cases: BTreeMap<(String, String), Case>,
}

fn read_junit(path: &Path) -> Report {
    let xml = std::fs::read_to_string(path).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}: {xml}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites", "{xml}");
    let suites: Vec<_> = root.children().filter(|n| n.is_element()).collect();
    assert_eq!(suites.len(), 1, "one suite: {xml}");
    let suite = suites[0];
    assert_eq!(suite.tag_name().name(), "testsuite");
    let attrs = |n: roxmltree::Node| -> BTreeMap<String, String> {
        n.attributes()
            .map(|a| (a.name().to_string(), a.value().to_string()))
            .collect()
    };
    let mut properties = BTreeMap::new();
    let mut cases = BTreeMap::new();
    for n in suite.children().filter(|n| n.is_element()) {
        match n.tag_name().name() {
            "properties" => {
                for p in n.children().filter(|n| n.is_element()) {
                    let a = attrs(p);
                    properties.insert(a["name"].clone(), a["value"].clone());
                }
            }
            "testcase" => {
                let a = attrs(n);
                let child = |tag: &str| n.children().find(|c| c.has_tag_name(tag));
                let case = Case {
                    classname: a["classname"].clone(),
                    time: a["time"].parse().unwrap(),
                    failure: child("failure").map(|f| f.attribute("message").unwrap().into()),
                    skipped: child("skipped").map(|f| f.attribute("message").unwrap().into()),
                    out: child("system-out").map(|f| f.text().unwrap_or("").into()),
                };
                let key = (case.classname.clone(), a["name"].clone());
                assert!(cases.insert(key, case).is_none(), "one case per file");
            }
            other => panic!("unexpected <{other}>"),
        }
    }
    Report {
        suite: attrs(suite),
        properties,
        cases,
    }
}

/// The files of a folder.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A name with the characters XML must escape, and non-ASCII.
#[cfg(unix)]
const HOSTILE: &str = "a<b&c\"d'é ü.txt";
#[cfg(not(unix))]
const HOSTILE: &str = "a&c'd é ü.txt";

/// Each file one case: its folder the class, its name the name; a failed file a
/// `<failure>` with the reason; an uploaded or skipped file passes with its asset; the
/// counts in the suite's attributes and properties. The same files as the JSON lines.
#[test]
fn one_case_per_file_named_by_folder_and_file() {
    let fake = FakeChief::start();
    let env = TestEnv::new();
    env.file("d/ok.txt", "ok");
    env.file(&format!("d/sub/{HOSTILE}"), "hostile");
    env.file("d/same-1.txt", "same");
    env.file("d/same-2.txt", "same");
    env.file("d/bad.txt", "bad");
    fake.inject(Rule::api(1, Action::status(400)).for_file("bad.txt"));
    let reports = env.dir.path().join("reports");
    std::fs::create_dir(&reports).unwrap();
    let junit = reports.join("junit.xml");
    std::fs::write(&junit, "an old report").unwrap();
    let out = env
        .cmd_for(&fake)
        .args(["--json", "--junit"])
        .arg(&junit)
        .arg("d")
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(listing(&reports), vec!["junit.xml"], "nothing else left");
    let r = read_junit(&junit);
    let suite = |k: &str| r.suite[k].as_str();
    assert_eq!(
        (
            suite("name"),
            suite("tests"),
            suite("failures"),
            suite("errors"),
            suite("skipped")
        ),
        ("chief-upload", "5", "1", "0", "0"),
        "{r:?}"
    );
    assert!(suite("time").parse::<f64>().unwrap() > 0.0);
    assert!(suite("timestamp").contains('T'));
    for (k, v) in [
        ("uploaded", "3"),
        ("skipped", "1"),
        ("failed", "1"),
        ("not_attempted", "0"),
    ] {
        assert_eq!(r.properties[k], v, "{k}: {r:?}");
    }
    let json = files_by_path(&json_lines(&out.stdout));
    assert_eq!(r.cases.len(), json.len());
    for (path, line) in &json {
        let (folder, name) = path.rsplit_once('/').unwrap();
        let key = (
            folder.trim_start_matches("./").to_string(),
            name.to_string(),
        );
        let case = r
            .cases
            .get(&key)
            .unwrap_or_else(|| panic!("{key:?}: {r:?}"));
        assert!(case.time >= 0.0);
        match line["outcome"].as_str().unwrap() {
            "failed" => {
                assert_eq!(case.failure.as_deref(), line["error"].as_str());
                assert!(case.out.is_none());
            }
            outcome => {
                assert!(case.failure.is_none() && case.skipped.is_none(), "{case:?}");
                let out = case.out.as_deref().unwrap();
                assert!(out.contains(line["asset_id"].as_str().unwrap()), "{out}");
                assert_eq!(out.starts_with("skipped: "), outcome == "skipped", "{out}");
            }
        }
    }
    let hostile = &r.cases[&("d/sub".to_string(), HOSTILE.to_string())];
    assert_eq!(hostile.classname, "d/sub");
    assert_eq!(fake.assets(PROJECT).len(), 3);
}

/// A dry run: every file `<skipped/>`, counted in the suite's `skipped`.
#[test]
fn a_dry_run_marks_every_case_skipped() {
    let env = TestEnv::new();
    for i in 0..4 {
        env.file(&format!("f{i}.txt"), format!("{i}"));
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
    let r = read_junit(&junit);
    assert_eq!(
        (r.suite["tests"].as_str(), r.suite["skipped"].as_str()),
        ("4", "4")
    );
    assert_eq!(r.properties["planned"], "4");
    for case in r.cases.values() {
        assert!(
            case.skipped
                .as_deref()
                .unwrap()
                .starts_with("dry run: would upload"),
            "{case:?}"
        );
        assert_eq!(case.classname, ".");
    }
}

/// Six files, the third upload held at the storage: the run is mid-way.
fn held_run(env: &TestEnv, fake: &FakeChief, junit: &Path) -> (Child, Gate) {
    for i in 0..6 {
        env.file(&format!("f{i}.bin"), vec![i as u8; 10_000]);
    }
    let gate = Gate::new();
    fake.inject(
        Rule::storage(1, Action::Gate(gate.clone()))
            .after(2)
            .always(),
    );
    let child = env
        .child_cmd(fake)
        .args(["--retry-base-ms", "5", "-j", "1", "--junit"])
        .arg(junit)
        .arg(".")
        .spawn()
        .unwrap();
    gate.wait_arrived(1, PROMPT);
    (child, gate)
}

fn reports(env: &TestEnv) -> (PathBuf, PathBuf) {
    let dir = env.dir.path().join("reports");
    std::fs::create_dir(&dir).unwrap();
    let junit = dir.join("junit.xml");
    (dir, junit)
}

/// SIGKILL mid-run: no report at all, and (where an open file can be unlinked: not on
/// Windows) nothing else left beside it. SIGTERM (Ctrl-Break on Windows) mid-run: the
/// whole report of what was done.
#[test]
fn a_killed_run_leaves_no_report_and_a_stopped_one_a_whole_one() {
    let fake = FakeChief::start();
    let env = TestEnv::new();
    let (dir, junit) = reports(&env);
    let (mut child, gate) = held_run(&env, &fake, &junit);
    child.kill().unwrap();
    let _ = child.wait();
    gate.release();
    let left = listing(&dir);
    assert!(!junit.exists(), "no report: {left:?}");
    if cfg!(unix) {
        assert_eq!(left, Vec::<String>::new(), "no file, not even a part");
    }

    if let Some(why) = crate::common::cannot_interrupt() {
        return skip(why);
    }
    let fake = FakeChief::start();
    let env = TestEnv::new();
    let (dir, junit) = reports(&env);
    let (child, gate) = held_run(&env, &fake, &junit);
    #[cfg(unix)]
    crate::common::kill(&child, "TERM");
    #[cfg(not(unix))]
    crate::common::interrupt(&child);
    let out = finish(child, PROMPT);
    gate.release();
    let signal_exit = if cfg!(unix) { 143 } else { 130 };
    assert_eq!(
        out.status.code(),
        Some(signal_exit),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(listing(&dir), vec!["junit.xml"]);
    let r = read_junit(&junit);
    assert_eq!(r.suite["tests"], "2", "{r:?}");
    assert_eq!(r.properties["interrupted"], "true");
    assert_eq!(r.properties["not_attempted"], "4");
}

/// A report that cannot be put in place at the end (a folder took its name meanwhile) is
/// a lost output: named once, every file still uploaded, exit 1. One that cannot be
/// written from the start is a usage error, before any request.
#[test]
fn a_report_that_cannot_be_written_is_named_and_fails_the_run() {
    let fake = FakeChief::start();
    let env = TestEnv::new();
    let (dir, junit) = reports(&env);
    let (child, gate) = held_run(&env, &fake, &junit);
    std::fs::create_dir(&junit).unwrap();
    gate.release();
    let out = finish(child, PROMPT);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{err}");
    assert!(
        errors[0].contains(&format!(
            "cannot write the JUnit report '{}'",
            junit.display()
        )),
        "{err}"
    );
    assert!(err.contains("Uploaded 6 files"), "{err}");
    assert_eq!(fake.assets(PROJECT).len(), 6);
    assert!(junit.is_dir(), "no report in its place");
    if cfg!(unix) {
        assert_eq!(listing(&dir), vec!["junit.xml"], "nothing else beside it");
    }

    let fake = FakeChief::start();
    let env = TestEnv::new();
    env.file("a.txt", "a");
    for bad in [env.dir.path().join("no/such/junit.xml"), env.root()] {
        let out = env
            .cmd_for(&fake)
            .arg("--junit")
            .arg(&bad)
            .arg(".")
            .output()
            .unwrap();
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(
            err.contains(&format!(
                "cannot write the JUnit report '{}'",
                bad.display()
            )),
            "{err}"
        );
    }
    assert!(fake.requests().is_empty());
}
