//! The failure taxonomy of `docs/interface.md#network`, run by the real binary against the
//! fake: failures no retry can mend stop the run at once (exit 2, the files left
//! `not_attempted`); an outage is waited for without files spending their retries, up to
//! `--max-outage` (then exit 1); random failures among successes are never an outage.
//! Counts and outcomes only: what the fake counted, what the summary says.

use std::collections::BTreeMap;
use std::process::Output;
use std::time::Duration;

use crate::common::{files_by_path, json_lines, summary, text, TestEnv};
use fake_chief::{Cert, Chaos, FakeChief, Origins, Outage, OutageMode, Target};
use serde_json::Value;

const FILES: usize = 24;
const JOBS: &str = "4";

/// `FILES` small files of distinct content.
fn tree(env: &TestEnv) {
    for i in 0..FILES {
        env.file(&format!("d/f{i:02}.txt"), format!("file number {i}"));
    }
}

/// The run's exit code, summary and file lines.
struct Run {
    code: Option<i32>,
    summary: Value,
    files: BTreeMap<String, Value>,
    stderr: String,
    stdout: String,
}

fn run(out: Output) -> Run {
    let lines = json_lines(&out.stdout);
    Run {
        code: out.status.code(),
        summary: summary(&lines),
        files: files_by_path(&lines),
        stderr: text(&out.stderr),
        stdout: text(&out.stdout),
    }
}

fn count(r: &Run, key: &str) -> u64 {
    r.summary[key].as_u64().unwrap_or(0)
}

/// A run stopped by a failure no retry mends: exit 2, one error naming the fix, no file
/// failed, the files found and not finished counted `not_attempted`.
fn assert_stopped(r: &Run, fix: &str) {
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    let errors: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.starts_with("error:"))
        .collect();
    assert_eq!(errors.len(), 1, "one message: {}", r.stderr);
    assert!(
        r.stderr.contains(fix),
        "names the fix ({fix}): {}",
        r.stderr
    );
    assert_eq!(count(r, "failed"), 0, "{}", r.summary);
    assert_eq!(count(r, "uploaded"), 0, "{}", r.summary);
    // The walk stops too, so only the files found by then are counted.
    let left = count(r, "not_attempted");
    assert!(
        (1..=FILES as u64).contains(&left),
        "the files found are left undone: {}",
        r.summary
    );
    assert!(r.files.is_empty(), "{:?}", r.files);
}

/// The fake's CA in a file, for `SSL_CERT_FILE`.
fn ca_file(env: &TestEnv, fake: &FakeChief) -> std::path::PathBuf {
    let path = env.dir.path().join("ca.pem");
    std::fs::write(&path, fake.ca_pem().unwrap()).unwrap();
    path
}

#[test]
fn a_certificate_not_to_trust_stops_the_run_at_once() {
    for (cert, words) in [
        (Cert::Untrusted, "unknown authority"),
        (Cert::Expired, "expired"),
        (Cert::WrongName, "another name"),
    ] {
        let fake = FakeChief::builder().tls(cert).start().unwrap();
        let env = TestEnv::new();
        tree(&env);
        let out = env
            .cmd_for(&fake)
            .env("SSL_CERT_FILE", ca_file(&env, &fake))
            .args(["--json", "-j", JOBS, "d"])
            .output()
            .unwrap();
        let r = run(out);
        assert_stopped(&r, "--ca-cert");
        assert!(
            r.stderr.contains("certificate") && r.stderr.contains(words),
            "{cert:?}: {}",
            r.stderr
        );
        let api = fake.stats(Target::Api);
        assert!(
            api.connections <= JOBS.parse().unwrap() && api.requests == 0,
            "{cert:?}: a few handshakes, no file retried: {api:?}"
        );
    }
}

#[test]
fn a_proxy_refusing_the_credentials_is_fatal() {
    let fake = FakeChief::builder()
        .tls(Cert::Trusted)
        .proxy_auth("alice", "s3cret")
        .start()
        .unwrap();
    let env = TestEnv::new();
    tree(&env);
    let wrong = "Wr0ngPassw0rd";
    let out = env
        .cmd_for(&fake)
        .env("SSL_CERT_FILE", ca_file(&env, &fake))
        .env("HTTPS_PROXY", fake.proxy_url_with("alice", wrong).unwrap())
        .args(["--json", "-v", "-j", JOBS, "d"])
        .output()
        .unwrap();
    let r = run(out);
    assert_stopped(&r, "HTTPS_PROXY");
    assert!(r.stderr.contains("407"), "{}", r.stderr);
    assert!(
        !r.stderr.contains(wrong) && !r.stdout.contains(wrong),
        "the password is a secret: {}",
        r.stderr
    );
    let refused = fake
        .proxy_events()
        .iter()
        .filter(|e| e.status == 407)
        .count();
    assert!(
        (1..=JOBS.parse().unwrap()).contains(&refused),
        "{:?}",
        fake.proxy_events()
    );
    assert!(fake.proxy_tunnels().is_empty());
    assert_eq!(fake.stats(Target::Api).requests, 0);
}

/// A mistyped `--api-url`: nothing listens there, or the name does not resolve.
#[test]
fn an_api_that_never_answers_stops_the_run() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // `.invalid` names never resolve (RFC 6761): no DNS server is asked.
    for (url, words) in [
        (format!("http://127.0.0.1:{port}"), "connection refused"),
        (
            "https://api.chief-upload.invalid".to_string(),
            "does not resolve",
        ),
    ] {
        let fake = FakeChief::start();
        let env = TestEnv::new();
        tree(&env);
        let out = env
            .cmd_for(&fake)
            .env("CHIEF_API_URL", &url)
            .args(["--json", "-j", JOBS, "d"])
            .output()
            .unwrap();
        let r = run(out);
        assert_stopped(&r, "--api-url");
        assert!(r.stderr.contains(words), "{url}: {}", r.stderr);
    }
}

/// The API is out for a few seconds after 8 requests: the run waits, probing one request
/// at a time, and ends with every file uploaded.
#[test]
fn a_short_outage_is_ridden_out() {
    for mode in [
        OutageMode::Status {
            status: 503,
            retry_after: None,
        },
        OutageMode::Reset,
    ] {
        let fake = FakeChief::builder()
            .with_knobs(|k| {
                k.outage = Some(
                    Outage::unavailable(Origins::Api, 8, Some(Duration::from_millis(2500)))
                        .with_mode(mode.clone()),
                )
            })
            .start()
            .unwrap();
        let env = TestEnv::new();
        tree(&env);
        let out = env
            .cmd_for(&fake)
            .args(["--json", "-j", "8", "d"])
            .output()
            .unwrap();
        let r = run(out);
        assert_eq!(r.code, Some(0), "{mode:?}: {}", r.stderr);
        assert_eq!(count(&r, "uploaded"), FILES as u64, "{}", r.summary);
        assert_eq!(count(&r, "failed"), 0);
        let during = fake.stats(Target::Api).outage_requests;
        // At most the eight in flight when it began, then one probe at a time with backoff.
        assert!(
            (1..=20).contains(&during),
            "{mode:?}: {during} requests reached the API while it was out"
        );
        assert!(!fake.outage_active());
    }
}

/// The API goes out for good: past `--max-outage` the run stops with exit 1 and one
/// message, and the files not done are `not_attempted`, not failed.
#[test]
fn past_max_outage_the_run_stops_with_the_rest_not_attempted() {
    for mode in [
        OutageMode::Status {
            status: 503,
            retry_after: Some("1".into()),
        },
        OutageMode::Refuse,
    ] {
        let fake = FakeChief::builder()
            .with_knobs(|k| {
                k.outage = Some(Outage::unavailable(Origins::Api, 6, None).with_mode(mode.clone()))
            })
            .start()
            .unwrap();
        let env = TestEnv::new();
        tree(&env);
        let out = env
            .cmd_for(&fake)
            .args(["--json", "-j", JOBS, "--max-outage", "2s", "d"])
            .output()
            .unwrap();
        let r = run(out);
        assert_eq!(r.code, Some(1), "{mode:?}: {}", r.stderr);
        let errors: Vec<&str> = r
            .stderr
            .lines()
            .filter(|l| l.starts_with("error:"))
            .collect();
        assert_eq!(errors.len(), 1, "{}", r.stderr);
        assert!(
            errors[0].contains("API unavailable") && errors[0].contains("--max-outage"),
            "{}",
            r.stderr
        );
        assert_eq!(count(&r, "failed"), 0, "{mode:?}: {}", r.summary);
        let done = count(&r, "uploaded");
        assert!((1..=6).contains(&done), "{}", r.summary);
        assert_eq!(count(&r, "not_attempted"), FILES as u64 - done);
        assert!(r.summary.get("interrupted").is_none(), "{}", r.summary);
    }
}

/// Random 5xx and resets on 15% of the requests to both origins, while the others
/// succeed: retried per request, never taken for an outage.
#[test]
fn random_failures_are_never_taken_for_an_outage() {
    let fake = FakeChief::builder()
        .with_knobs(|k| {
            k.api.chaos = Some(Chaos::new(0.15));
            k.storage.chaos = Some(Chaos::new(0.15));
        })
        .start()
        .unwrap();
    let env = TestEnv::new();
    for i in 0..120 {
        env.file(&format!("c/f{i:03}.bin"), format!("chaos {i}"));
    }
    let out = env
        .cmd_for(&fake)
        .args(["--json", "-j", "8", "c"])
        .output()
        .unwrap();
    let r = run(out);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(count(&r, "uploaded"), 120, "{}", r.summary);
    assert_eq!(count(&r, "failed"), 0);
    let hit = fake.stats(Target::Api).chaos + fake.stats(Target::Storage).chaos;
    assert!(hit >= 10, "the chaos happened: {hit}");
    assert!(
        !r.stderr.contains("unavailable"),
        "no outage notice: {}",
        r.stderr
    );
}

/// The outage notice in CI logs: what is out, since when, and when the next probe goes;
/// then that it is back.
#[test]
fn the_wait_is_shown_in_plain_output() {
    let fake = FakeChief::builder()
        .with_knobs(|k| {
            k.outage = Some(Outage::unavailable(
                Origins::Api,
                2,
                Some(Duration::from_secs(7)),
            ))
        })
        .start()
        .unwrap();
    let env = TestEnv::new();
    tree(&env);
    let out = env.cmd_for(&fake).args(["-j", "8", "d"]).output().unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let notices: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("API unavailable (HTTP 503) for "))
        .collect();
    assert!(
        !notices.is_empty() && notices.len() <= 2,
        "throttled notices: {err}"
    );
    assert!(notices[0].contains("; retrying in "), "{err}");
    assert!(
        err.lines()
            .any(|l| l.starts_with("API available again after ")),
        "{err}"
    );
}
