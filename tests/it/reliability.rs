//! Survive faults, lose nothing, leak nothing: every fault the fake can inject,
//! survived by the real binary; every secret kept out of its output. Deterministic: the
//! fake counts and injects; tests wait on events (a gate, a request arriving), never on
//! a guessed amount of time.

use std::collections::BTreeMap;
use std::process::{Child, Stdio};
use std::time::{Duration, SystemTime};

use crate::common::{
    cannot_interrupt, files_by_path, finish, interrupt, json_lines, skip, summary, text, TestEnv,
};
use fake_chief::{Action, FakeChief, Gate, Recorded, Rule, PROJECT, TOKEN};
use serde_json::Value;

/// Generous upper bound for anything that should happen "at once".
const PROMPT: Duration = Duration::from_secs(20);

/// Runs with `--json`; returns the exit code, the file lines by path, and stderr.
fn run_json(
    env: &TestEnv,
    fake: &FakeChief,
    args: &[&str],
) -> (Option<i32>, BTreeMap<String, Value>, String) {
    let out = env.cmd_for(fake).arg("--json").args(args).output().unwrap();
    let lines = json_lines(&out.stdout);
    summary(&lines);
    (out.status.code(), files_by_path(&lines), text(&out.stderr))
}

fn api_for<'a>(reqs: &'a [Recorded], filename: &str) -> Vec<&'a Recorded> {
    reqs.iter()
        .filter(|r| r.json.as_ref().is_some_and(|j| j["filename"] == filename))
        .collect()
}

fn outcome(files: &BTreeMap<String, Value>, path: &str) -> String {
    files[path]["outcome"].as_str().unwrap_or("?").to_string()
}

fn error(files: &BTreeMap<String, Value>, path: &str) -> String {
    files[path]["error"].as_str().unwrap_or("").to_string()
}

/// The binary as a child process (for tests that act while it runs), with the same
/// isolated environment as `TestEnv::cmd_for`.
fn spawn(env: &TestEnv, fake: &FakeChief, args: &[&str]) -> Child {
    spawn_with_stdin(env, fake, args, Stdio::null())
}

fn spawn_with_stdin(env: &TestEnv, fake: &FakeChief, args: &[&str], stdin: Stdio) -> Child {
    env.child_cmd(fake)
        .args(["--retry-base-ms", "5"])
        .args(args)
        .stdin(stdin)
        .spawn()
        .unwrap()
}

// ---------------------------------------------------------------------------------------
// 1. API transient failures
// ---------------------------------------------------------------------------------------

#[test]
fn api_transient_statuses_are_retried_then_succeed() {
    let fake = FakeChief::start();
    let env = TestEnv::new();
    let statuses = [408, 429, 500, 502, 503, 504];
    for s in statuses {
        let name = format!("f{s}.txt");
        env.file(&name, format!("content {s}"));
        fake.inject(Rule::api(2, Action::status(s)).for_file(&name));
    }
    let (code, files, err) = run_json(&env, &fake, &["-v", "."]);
    assert_eq!(code, Some(0), "{err}");
    let api = fake.api_requests();
    for s in statuses {
        let name = format!("f{s}.txt");
        assert_eq!(outcome(&files, &format!("./{name}")), "uploaded");
        let statuses: Vec<u16> = api_for(&api, &name).iter().map(|r| r.status).collect();
        assert_eq!(statuses, vec![s, s, 201], "{name}");
    }
    assert!(
        err.contains("retry 1 of POST /v1/assets"),
        "--verbose shows retries: {err}"
    );
}

/// The gap between the first and the second API request.
fn retry_gap(fake: &FakeChief) -> Duration {
    let api = fake.api_requests();
    assert_eq!(api.len(), 2, "{api:?}");
    api[1].at.duration_since(api[0].at)
}

/// `Retry-After` in seconds and as an HTTP-date is waited for (the lower bounds: far
/// above the 5 ms backoff), and a huge one is cut to `--retry-max-delay` (the upper
/// bound: far below an hour, with slack for a loaded machine).
#[test]
fn retry_after_is_honoured_and_capped() {
    // The date first, while it is still ~4 s ahead (whole seconds: the wait is 3-4 s).
    let date = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(4));
    let cases = [
        (429, date, "10", Duration::from_secs(2)),
        (503, "1".to_string(), "10", Duration::from_secs(1)),
        (503, "3600".to_string(), "1", Duration::from_secs(1)),
    ];
    for (status, value, cap, at_least) in cases {
        let fake = FakeChief::start();
        let env = TestEnv::new();
        env.file("a.txt", "a");
        fake.inject(Rule::api(1, Action::retry_after(status, &value)));
        let (code, _, err) = run_json(&env, &fake, &["--retry-max-delay", cap, "a.txt"]);
        assert_eq!(code, Some(0), "{value}: {err}");
        let gap = retry_gap(&fake);
        assert!(gap >= at_least, "Retry-After {value:?} honoured: {gap:?}");
        let limit = Duration::from_secs(cap.parse::<u64>().unwrap() + 5);
        assert!(
            gap < limit,
            "Retry-After {value:?} capped at {cap} s: {gap:?}"
        );
    }
}

#[test]
fn exhausted_retries_fail_that_file_only() {
    let fake = FakeChief::start();
    let env = TestEnv::new();
    env.file("bad.txt", "always 503");
    env.file("good1.txt", "one");
    env.file("good2.txt", "two");
    fake.inject(
        Rule::api(1, Action::status(503))
            .always()
            .for_file("bad.txt"),
    );
    let (code, files, err) = run_json(&env, &fake, &["--retries", "2", "."]);
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(outcome(&files, "./bad.txt"), "failed");
    let why = error(&files, "./bad.txt");
    assert!(why.contains("503") && why.contains("3 attempts"), "{why}");
    assert_eq!(outcome(&files, "./good1.txt"), "uploaded");
    assert_eq!(outcome(&files, "./good2.txt"), "uploaded");
    assert_eq!(api_for(&fake.api_requests(), "bad.txt").len(), 3);
}

#[test]
fn other_client_errors_are_not_retried() {
    let fake = FakeChief::start();
    let env = TestEnv::new();
    let statuses = [400, 404, 409, 413, 422];
    for s in statuses {
        let name = format!("e{s}.txt");
        env.file(&name, format!("client error {s}"));
        let body = format!(r#"{{"code":"fake.e{s}","message":"refused with {s}"}}"#);
        fake.inject(
            Rule::api(1, Action::status_body(s, &body))
                .always()
                .for_file(&name),
        );
    }
    env.file("fine.txt", "fine");
    let (code, files, err) = run_json(&env, &fake, &["."]);
    assert_eq!(code, Some(1), "{err}");
    let api = fake.api_requests();
    for s in statuses {
        let name = format!("e{s}.txt");
        assert_eq!(api_for(&api, &name).len(), 1, "{name} asked once");
        let why = error(&files, &format!("./{name}"));
        assert!(
            why.contains(&format!("HTTP {s}"))
                && why.contains(&format!("[fake.e{s}]"))
                && why.contains(&format!("refused with {s}")),
            "status, code and message: {why}"
        );
    }
    assert_eq!(outcome(&files, "./fine.txt"), "uploaded");
}

#[test]
fn api_connection_resets_and_stalls_are_retried() {
    let fake = FakeChief::start();
    let env = TestEnv::new();
    env.file("reset.txt", "reset twice");
    env.file("stall.txt", "stalls once");
    fake.inject(Rule::api(2, Action::Reset).for_file("reset.txt"));
    fake.inject(Rule::api(1, Action::Stall).for_file("stall.txt"));
    let (code, files, err) = run_json(&env, &fake, &["--timeout", "1", "."]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(outcome(&files, "./reset.txt"), "uploaded");
    assert_eq!(outcome(&files, "./stall.txt"), "uploaded");
    let api = fake.api_requests();
    let reset: Vec<u16> = api_for(&api, "reset.txt")
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(reset, vec![0, 0, 201]);
    let stall: Vec<u16> = api_for(&api, "stall.txt")
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(stall, vec![0, 201]);
}

// ---------------------------------------------------------------------------------------
// 2. Storage transient failures
// ---------------------------------------------------------------------------------------

#[test]
fn storage_errors_resend_the_whole_body() {
    let fake = FakeChief::start();
    let env = TestEnv::new();
    let size = 400_000u64;
    env.file("five.bin", vec![5u8; size as usize]);
    env.file("mid.bin", vec![6u8; 1 << 20]);
    fake.inject(Rule::storage(1, Action::status(503)).for_file("five.bin"));
    fake.inject(Rule::storage(1, Action::status(500)).for_file("five.bin"));
    fake.inject(Rule::storage(1, Action::ResetMidBody { after: 64 << 10 }).for_file("mid.bin"));
    let (code, files, err) = run_json(&env, &fake, &["."]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(outcome(&files, "./five.bin"), "uploaded");
    assert_eq!(outcome(&files, "./mid.bin"), "uploaded");
    let storage = fake.storage_requests();
    let attempts = |name: &str| -> Vec<(u16, u64)> {
        let asset = files[&format!("./{name}")]["asset_id"].as_str().unwrap();
        storage
            .iter()
            .filter(|r| r.path == format!("/upload/{asset}"))
            .map(|r| (r.status, r.body_len))
            .collect()
    };
    assert_eq!(
        attempts("five.bin"),
        vec![(503, size), (500, size), (200, size)],
        "each attempt sends every byte"
    );
    let mid = attempts("mid.bin");
    assert_eq!(mid.len(), 2, "{mid:?}");
    assert!(
        mid[0].0 == 0 && mid[0].1 < 1 << 20,
        "dropped mid-body: {mid:?}"
    );
    assert_eq!(mid[1], (200, 1 << 20));
    let stored: Vec<u64> = fake.assets(PROJECT).iter().map(|a| a.size).collect();
    assert_eq!(stored.len(), 2);
}

#[test]
fn a_stalled_transfer_times_out_and_is_retried() {
    let fake = FakeChief::start();
    let env = TestEnv::new();
    env.file("slow.bin", vec![1u8; 10_000]);
    fake.inject(Rule::storage(1, Action::Stall));
    let (code, files, err) = run_json(&env, &fake, &["--timeout", "1", "-v", "."]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(outcome(&files, "./slow.bin"), "uploaded");
    let st: Vec<u16> = fake.storage_requests().iter().map(|r| r.status).collect();
    assert_eq!(st, vec![0, 200]);
    assert!(err.contains("no progress for 1s"), "{err}");
}

// ---------------------------------------------------------------------------------------
// 3. Expired signed URLs
// ---------------------------------------------------------------------------------------

#[test]
fn an_expired_url_is_renewed() {
    let fake = FakeChief::start();
    let env = TestEnv::new();
    env.file("s3.txt", "s3 says expired");
    env.file("gcs.txt", "gcs says expired");
    let s3 = "<?xml version=\"1.0\"?><Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>";
    let gcs = r#"{"error":{"code":"ExpiredToken","message":"The provided token has expired."}}"#;
    fake.inject(Rule::storage(1, Action::status_body(403, s3)).for_file("s3.txt"));
    fake.inject(Rule::storage(1, Action::status_body(400, gcs)).for_file("gcs.txt"));
    let (code, files, err) = run_json(&env, &fake, &["."]);
    assert_eq!(code, Some(0), "{err}");
    let api = fake.api_requests();
    for name in ["s3.txt", "gcs.txt"] {
        assert_eq!(outcome(&files, &format!("./{name}")), "uploaded");
        let posts = api_for(&api, name);
        assert_eq!(posts.len(), 2, "{name}: asked for a fresh URL");
    }
    assert_eq!(fake.storage_requests().len(), 4);
}

#[test]
fn a_url_expiring_within_the_margin_is_renewed_before_sending() {
    let fake = FakeChief::start();
    let env = TestEnv::new();
    env.file("soon.txt", "expires in 10 s");
    env.file("gone.txt", "already expired");
    fake.inject(Rule::api(1, Action::ExpiresIn(Duration::from_secs(10))).for_file("soon.txt"));
    fake.inject(Rule::api(1, Action::ExpiresIn(Duration::ZERO)).for_file("gone.txt"));
    let (code, files, err) = run_json(&env, &fake, &["."]);
    assert_eq!(code, Some(0), "{err}");
    let api = fake.api_requests();
    let storage = fake.storage_requests();
    assert_eq!(storage.len(), 2, "no transfer with a short-lived URL");
    for name in ["soon.txt", "gone.txt"] {
        let posts = api_for(&api, name);
        assert_eq!(posts.len(), 2, "{name}");
        let asset = files[&format!("./{name}")]["asset_id"].as_str().unwrap();
        assert!(
            storage.iter().any(|r| r.path == format!("/upload/{asset}")),
            "{name} went to the fresh URL"
        );
    }
}

#[test]
fn a_renewal_can_become_a_dedup_hit() {
    let fake = FakeChief::start();
    let env = TestEnv::new();
    let content = b"someone else uploaded this meanwhile";
    env.file("late.txt", content);
    // The first URL is already expired; the renewal is held until the same content has
    // reached the project by another way.
    let gate = Gate::new();
    fake.inject(Rule::api(1, Action::ExpiresIn(Duration::ZERO)));
    fake.inject(Rule::api(1, Action::Gate(gate.clone())).after(1));
    let child = spawn(&env, &fake, &["--json", "."]);
    gate.wait_arrived(1, PROMPT);
    let seeded = fake.seed_asset(PROJECT, &fake_chief::md5_hex(content), "ready");
    gate.release();
    let out = finish(child, PROMPT);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let files = files_by_path(&json_lines(&out.stdout));
    let statuses: Vec<u16> = fake.api_requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![201, 200]);
    assert_eq!(outcome(&files, "./late.txt"), "skipped");
    assert_eq!(files["./late.txt"]["asset_id"], seeded.as_str());
    assert!(fake.storage_requests().is_empty());
}

#[test]
fn urls_that_keep_expiring_fail_the_file_after_three_renewals() {
    let fake = FakeChief::start();
    let env = TestEnv::new();
    env.file("clock.txt", "a clock far off");
    env.file("ok.txt", "fine");
    fake.inject(
        Rule::api(1, Action::ExpiresIn(Duration::ZERO))
            .always()
            .for_file("clock.txt"),
    );
    let (code, files, err) = run_json(&env, &fake, &["."]);
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(api_for(&fake.api_requests(), "clock.txt").len(), 4);
    let why = error(&files, "./clock.txt");
    assert!(why.contains("expired") && why.contains("clock"), "{why}");
    assert_eq!(outcome(&files, "./ok.txt"), "uploaded");
}

// ---------------------------------------------------------------------------------------
// 4. Files that change under us
// ---------------------------------------------------------------------------------------

#[test]
fn a_file_changed_after_hashing_is_not_reported_uploaded() {
    let fake = FakeChief::start();
    let env = TestEnv::new();
    let grow = env.file("grow.txt", "original content");
    let same = env.file("same_size.txt", "AAAAAAAA");
    let gone = env.file("gone.txt", "about to vanish");
    env.file("ok.txt", "untouched");
    let gate = Gate::new();
    for name in ["grow.txt", "same_size.txt", "gone.txt"] {
        fake.inject(Rule::api(1, Action::Gate(gate.clone())).for_file(name));
    }
    let child = spawn(&env, &fake, &["--json", "."]);
    gate.wait_arrived(3, PROMPT);
    use std::io::Write;
    std::fs::OpenOptions::new()
        .append(true)
        .open(&grow)
        .unwrap()
        .write_all(b" and more")
        .unwrap();
    std::fs::write(&same, "BBBBBBBB").unwrap();
    std::fs::remove_file(&gone).unwrap();
    gate.release();
    let out = finish(child, PROMPT);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let files = files_by_path(&json_lines(&out.stdout));
    for name in ["./grow.txt", "./same_size.txt"] {
        assert_eq!(outcome(&files, name), "failed");
        assert_eq!(error(&files, name), "changed while uploading; run again");
    }
    assert_eq!(outcome(&files, "./gone.txt"), "failed");
    let why = error(&files, "./gone.txt");
    assert!(why.contains("no such file"), "{why}");
    assert_eq!(outcome(&files, "./ok.txt"), "uploaded");
    let stored: Vec<String> = fake
        .assets(PROJECT)
        .into_iter()
        .map(|a| a.filename)
        .collect();
    assert_eq!(stored, vec!["ok.txt".to_string()]);
}

// ---------------------------------------------------------------------------------------
// 5. Ctrl-C
// ---------------------------------------------------------------------------------------

#[test]
fn ctrl_c_stops_promptly_with_a_summary_and_exit_130() {
    if let Some(why) = cannot_interrupt() {
        return skip(why);
    }
    let fake = FakeChief::start();
    let env = TestEnv::new();
    for i in 0..6 {
        env.file(&format!("f{i}.bin"), vec![i as u8; 50_000]);
    }
    let gate = Gate::new();
    fake.inject(Rule::storage(1, Action::Gate(gate.clone())).always());
    let child = spawn(&env, &fake, &["-j", "1", "."]);
    gate.wait_arrived(1, PROMPT);
    interrupt(&child);
    // Promptly: the run ends while the gate still holds its upload, not after it.
    let out = finish(child, PROMPT);
    gate.release();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(err.contains("Interrupted."), "summary printed: {err}");
    assert!(
        err.contains("6 files found were not attempted"),
        "says what was not attempted: {err}"
    );
    assert!(fake.assets(PROJECT).is_empty());
    assert_eq!(gate.arrived(), 1, "nothing new started after Ctrl-C");
}

/// A `--files-from -` list still open (a producer that has not finished) does not keep
/// an interrupted run alive.
#[test]
fn ctrl_c_ends_a_run_whose_files_from_pipe_is_still_open() {
    use std::io::Write;
    if let Some(why) = cannot_interrupt() {
        return skip(why);
    }
    let fake = FakeChief::start();
    let env = TestEnv::new();
    env.file("a.bin", vec![1u8; 10_000]);
    let gate = Gate::new();
    fake.inject(Rule::storage(1, Action::Gate(gate.clone())).always());
    let mut child = spawn_with_stdin(&env, &fake, &["--files-from", "-"], Stdio::piped());
    let mut list = child.stdin.take().unwrap();
    list.write_all(b"a.bin\n").unwrap();
    list.flush().unwrap();
    gate.wait_arrived(1, PROMPT);
    interrupt(&child);
    let out = finish(child, PROMPT);
    gate.release();
    drop(list);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(err.contains("Interrupted."), "{err}");
}

// ---------------------------------------------------------------------------------------
// 6. Bad server answers
// ---------------------------------------------------------------------------------------

#[test]
fn bad_answers_fail_the_file_clearly_without_retrying() {
    let fake = FakeChief::start();
    let env = TestEnv::new();
    let id = "asset_0123456789abcdefghij";
    let cases: Vec<(&str, u16, String, &str)> = vec![
        ("notjson.txt", 201, "this is not json".into(), "not JSON"),
        (
            "types.txt",
            200,
            r#"{"asset_id":5,"already_exists":true}"#.into(),
            "asset_id is not a string",
        ),
        (
            "flag.txt",
            201,
            format!(r#"{{"asset_id":"{id}","already_exists":"no"}}"#),
            "already_exists is not a boolean",
        ),
        (
            "missing.txt",
            201,
            format!(r#"{{"asset_id":"{id}","already_exists":false,"upload_method":"PUT"}}"#),
            "upload_url is missing",
        ),
        (
            "badid.txt",
            200,
            r#"{"asset_id":"asset_NOT-VALID","already_exists":true}"#.into(),
            "asset_id 'asset_NOT-VALID' is not asset_",
        ),
        (
            "plainhttp.txt",
            201,
            format!(
                r#"{{"asset_id":"{id}","already_exists":false,"upload_url":"http://storage.example.com/u?signature=S3CRETSIG","upload_method":"PUT"}}"#
            ),
            "plain http",
        ),
    ];
    for (name, status, body, _) in &cases {
        env.file(name, format!("content of {name}"));
        fake.inject(
            Rule::api(1, Action::status_body(*status, body))
                .always()
                .for_file(name),
        );
    }
    env.file("fine.txt", "fine");
    let (code, files, err) = run_json(&env, &fake, &["."]);
    assert_eq!(code, Some(1), "{err}");
    let api = fake.api_requests();
    for (name, _, _, want) in &cases {
        assert_eq!(api_for(&api, name).len(), 1, "{name}: asked once");
        let why = error(&files, &format!("./{name}"));
        assert!(
            why.contains("unexpected answer from the API") && why.contains(want),
            "{name}: {why}"
        );
        assert!(!why.contains("S3CRETSIG"), "{why}");
    }
    assert_eq!(fake.storage_requests().len(), 1, "only fine.txt was sent");
    assert_eq!(outcome(&files, "./fine.txt"), "uploaded");
}

#[test]
fn storage_refusals_fail_the_file_with_the_reason() {
    let fake = FakeChief::start();
    let env = TestEnv::new();
    let sig = "<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match</Message></Error>";
    let digest = "<Error><Code>BadDigest</Code><Message>The Content-MD5 you specified did not match what we received.</Message></Error>";
    env.file("sig.txt", "signature refused");
    env.file("digest.txt", "digest refused");
    env.file("etag.txt", "wrong etag");
    env.file("ok.txt", "fine");
    fake.inject(
        Rule::storage(1, Action::status_body(403, sig))
            .always()
            .for_file("sig.txt"),
    );
    fake.inject(
        Rule::storage(1, Action::status_body(400, digest))
            .always()
            .for_file("digest.txt"),
    );
    fake.inject(Rule::storage(1, Action::WrongEtag).for_file("etag.txt"));
    let (code, files, err) = run_json(&env, &fake, &["."]);
    assert_eq!(code, Some(1), "{err}");
    let why = error(&files, "./sig.txt");
    assert!(
        why.contains("403") && why.contains("SignatureDoesNotMatch"),
        "{why}"
    );
    let why = error(&files, "./digest.txt");
    assert!(
        why.contains("400") && why.contains("BadDigest") && why.contains("run again"),
        "{why}"
    );
    let why = error(&files, "./etag.txt");
    assert!(why.contains("storage reports MD5"), "{why}");
    assert_eq!(outcome(&files, "./etag.txt"), "failed");
    assert_eq!(outcome(&files, "./ok.txt"), "uploaded");
    // One PUT each, one POST each: no blind retry and no renewal.
    assert_eq!(fake.storage_requests().len(), 4);
    assert_eq!(fake.api_requests().len(), 4);
}

// ---------------------------------------------------------------------------------------
// 7. Re-running after failures
// ---------------------------------------------------------------------------------------

#[test]
fn a_rerun_completes_the_rest_and_resends_nothing_stored() {
    let fake = FakeChief::start();
    let env = TestEnv::new();
    for i in 0..6 {
        env.file(&format!("f{i}.bin"), vec![b'a' + i as u8; 20_000 + i]);
    }
    fake.inject(
        Rule::api(1, Action::status(503))
            .always()
            .for_file("f1.bin"),
    );
    fake.inject(
        Rule::storage(1, Action::status(500))
            .always()
            .for_file("f3.bin"),
    );
    fake.inject(Rule::api(1, Action::status(422)).for_file("f5.bin"));
    let (code, files, err) = run_json(&env, &fake, &["--retries", "1", "."]);
    assert_eq!(code, Some(1), "{err}");
    let failed: Vec<&String> = files
        .iter()
        .filter(|(_, f)| f["outcome"] == "failed")
        .map(|(p, _)| p)
        .collect();
    assert_eq!(failed, vec!["./f1.bin", "./f3.bin", "./f5.bin"]);
    assert_eq!(fake.assets(PROJECT).len(), 3);

    fake.clear_rules();
    fake.clear_requests();
    let (code, files, err) = run_json(&env, &fake, &["."]);
    assert_eq!(code, Some(0), "{err}");
    for (path, f) in &files {
        let want = if failed.contains(&path) {
            "uploaded"
        } else {
            "skipped"
        };
        assert_eq!(f["outcome"], want, "{path}");
    }
    assert_eq!(
        fake.storage_requests().len(),
        3,
        "only the failed ones are sent"
    );
    assert_eq!(fake.assets(PROJECT).len(), 6);
}

// ---------------------------------------------------------------------------------------
// 8. The token goes nowhere else
// ---------------------------------------------------------------------------------------

#[test]
fn an_api_redirect_is_not_followed_and_stops_the_run() {
    let fake = FakeChief::start();
    let elsewhere = FakeChief::start();
    let env = TestEnv::new();
    for i in 0..10 {
        env.file(&format!("f{i}.txt"), format!("file {i}"));
    }
    fake.redirect_api_to(&elsewhere.api_url());
    let out = env.cmd_for(&fake).args(["-j", "2", "."]).output().unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let host = elsewhere
        .api_url()
        .trim_start_matches("http://")
        .to_string();
    assert!(
        err.contains("redirect") && err.contains(&host),
        "names the target: {err}"
    );
    assert!(err.contains("--api-url"), "says what to check: {err}");
    assert!(
        elsewhere.requests().is_empty(),
        "nothing reached the redirect target"
    );
    assert!(fake.api_requests().len() <= 3, "stopped the run");
    assert!(
        fake.api_requests().iter().all(|r| !r.has_header("referer")),
        "no Referer"
    );
    assert!(!err.contains(TOKEN));
}

// ---------------------------------------------------------------------------------------
// 9. No secret in any output
// ---------------------------------------------------------------------------------------

#[test]
fn failing_runs_never_print_a_secret() {
    let fake = FakeChief::start();
    let env = TestEnv::new();
    let echo_xml = "<Error><Code>SignatureDoesNotMatch</Code><Message>for ?{query} sig {signature}</Message></Error>";
    let echo_json = r#"{"code":"bad","message":"key {api_key} url ?{query} sig={signature}"}"#;
    let faults: Vec<(&str, Rule)> = vec![
        ("sig.txt", Rule::storage(1, Action::status_body(403, echo_xml))),
        ("gcs.txt", Rule::storage(1, Action::status_body(400, echo_json))),
        ("five.txt", Rule::storage(1, Action::status_body(503, echo_json))),
        ("reset.txt", Rule::storage(1, Action::ResetMidBody { after: 10 })),
        ("stall.txt", Rule::storage(1, Action::Stall)),
        ("etag.txt", Rule::storage(1, Action::WrongEtag)),
        ("expired.txt", Rule::storage(1, Action::status_body(403, "<Error><Code>AccessDenied</Code><Message>Request has expired: {query}</Message></Error>"))),
        ("api.txt", Rule::api(1, Action::status_body(400, echo_json))),
        ("api5.txt", Rule::api(1, Action::status_body(500, echo_json))),
    ];
    for (name, rule) in &faults {
        env.file(name, format!("secret-free {name}"));
        fake.inject(rule.clone().always().for_file(name));
    }
    for extra in [&["-vv"][..], &["--json", "-v"][..]] {
        let out = env
            .cmd_for(&fake)
            .args(["--timeout", "1", "--retries", "1", "--no-cache"])
            .args(extra)
            .arg(".")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
        let all = format!("{}\n{}", text(&out.stdout), text(&out.stderr));
        assert!(all.contains("sig.txt") && all.contains("failed"), "{all}");
        assert!(!all.contains(TOKEN), "token leaked: {all}");
        assert!(!all.contains(&TOKEN[4..]), "token leaked: {all}");
        let storage = fake.storage_requests();
        assert!(storage.len() >= 9, "{storage:?}");
        for r in &storage {
            let query = r.query.as_deref().unwrap();
            let sig = query
                .split('&')
                .find_map(|p| p.strip_prefix("signature="))
                .unwrap();
            assert!(sig.len() >= 16, "{query}");
            assert!(!all.contains(sig), "signature leaked: {all}");
            assert!(!all.contains(query), "query leaked: {all}");
        }
        // The host and path are fine to show.
        assert!(all.contains("/upload/asset_"), "{all}");
        fake.clear_requests();
    }
}

#[test]
fn an_unreachable_storage_error_does_not_show_the_signed_query() {
    let fake = FakeChief::start();
    let env = TestEnv::new();
    env.file("a.txt", "a");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let sig = "Dead0Signature0Value0123456789";
    let body = format!(
        r#"{{"asset_id":"asset_0123456789abcdefghij","already_exists":false,"upload_url":"http://127.0.0.1:{port}/upload/x?expires=9999999999&signature={sig}","upload_method":"PUT","upload_headers":{{"Content-Type":"text/plain"}}}}"#
    );
    for extra in ["-vv", "--json"] {
        fake.inject(Rule::api(1, Action::status_body(201, &body)));
        let out = env
            .cmd_for(&fake)
            .args(["--retries", "1", "--no-cache", extra, "a.txt"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
        let all = format!("{}\n{}", text(&out.stdout), text(&out.stderr));
        assert!(all.contains("connection failed"), "{all}");
        assert!(!all.contains(sig) && !all.contains("expires=9"), "{all}");
    }
}

/// A damaged hash cache is moved aside with one warning that says what happened, where
/// the file went and what it costs; the run goes on, and the next run says nothing.
#[test]
fn a_damaged_hash_cache_is_said_once_and_the_run_goes_on() {
    let env = TestEnv::new();
    env.file("big.bin", vec![3u8; 64 * 1024]);
    let cache = env.cache_file("hashes.sqlite");
    std::fs::create_dir_all(cache.parent().unwrap()).unwrap();
    std::fs::write(&cache, "not a database ".repeat(1000)).unwrap();
    let out = env
        .cmd()
        .args(["--dry-run", "--json", "."])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let warnings: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("hashes.sqlite"))
        .collect();
    assert_eq!(warnings.len(), 1, "{err}");
    assert!(
        warnings[0].starts_with("warning:")
            && warnings[0].contains("hashes.sqlite.corrupt")
            && warnings[0].contains("files will be hashed again"),
        "{err}"
    );
    assert!(cache.with_extension("sqlite.corrupt").exists());
    assert_eq!(summary(&json_lines(&out.stdout))["excluded"], 0);
    let again = env.cmd().args(["--dry-run", "."]).output().unwrap();
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(
        again.status.success() && !err.contains("hashes.sqlite"),
        "{err}"
    );
}
