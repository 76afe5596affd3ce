//! `-j auto` and `--bwlimit` against the fake's emulated network, judged by what the fake
//! counted (requests in flight, 429 answers), never by a stopwatch; and how both settings
//! are read from flags, environment and config file.

use std::time::Duration;

use crate::common::{files_by_path, json_lines, summary, text, TestEnv};
use fake_chief::{FakeChief, InFlightLimit, Origins, Outage, OutageMode, Target};

/// `n` small files of distinct content.
fn small_files(env: &TestEnv, n: usize) {
    for i in 0..n {
        env.file(&format!("d/f{i:04}.bin"), format!("small file number {i}"));
    }
}

#[test]
fn auto_raises_the_requests_in_flight_well_above_eight_on_a_distant_server() {
    if let Some(why) = crate::common::slow_under_wine() {
        return crate::common::skip(why);
    }
    let fake = FakeChief::builder()
        .with_knobs(|k| {
            k.api.latency = Duration::from_millis(50);
            k.storage.latency = Duration::from_millis(50);
        })
        .start()
        .unwrap();
    let env = TestEnv::new();
    small_files(&env, 600);
    let out = env
        .cmd_for(&fake)
        .args(["-v", "--json", "d"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let lines = json_lines(&out.stdout);
    assert_eq!(summary(&lines)["uploaded"], 600);
    let peak = fake.stats(Target::Api).peak_in_flight;
    assert!(peak >= 32, "API requests in flight peaked at {peak}");
    let err = text(&out.stderr);
    assert!(
        err.contains("concurrency 16 -> ") && err.contains("throughput is rising"),
        "-v shows the changes: {err}"
    );
}

#[test]
fn auto_backs_off_when_the_server_pushes_back_and_no_file_fails() {
    let fake = FakeChief::builder()
        .with_knobs(|k| {
            k.api.latency = Duration::from_millis(50);
            k.storage.latency = Duration::from_millis(50);
            k.api.max_in_flight = Some(InFlightLimit::new(16, Some(1)));
        })
        .start()
        .unwrap();
    let env = TestEnv::new();
    // As many files as benchmark row 3: slow start overshoots once (the news of the first
    // 429 takes a round trip, in which the limit doubles), a cost the run must amortize.
    small_files(&env, 2000);
    let out = env
        .cmd_for(&fake)
        .args(["-v", "--json", "d"])
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let lines = json_lines(&out.stdout);
    let files = files_by_path(&lines);
    assert_eq!(files.len(), 2000);
    assert!(
        files.values().all(|f| f["outcome"] == "uploaded"),
        "no file fails"
    );
    let api = fake.stats(Target::Api);
    assert!(
        api.throttled * 10 < api.requests,
        "{} of {} API requests were pushed back",
        api.throttled,
        api.requests
    );
    if api.throttled > 0 {
        assert!(err.contains("the server pushed back"), "{err}");
    }
}

#[test]
fn auto_holds_still_through_an_outage() {
    if let Some(why) = crate::common::slow_under_wine() {
        return crate::common::skip(why);
    }
    // Long enough for the API to be out (not just suspect): 503 with Retry-After, which is
    // pushback only while other requests succeed.
    let fake = FakeChief::builder()
        .with_knobs(|k| {
            k.api.latency = Duration::from_millis(20);
            k.storage.latency = Duration::from_millis(20);
            k.outage = Some(
                Outage::unavailable(Origins::Api, 150, Some(Duration::from_secs(7))).with_mode(
                    OutageMode::Status {
                        status: 503,
                        retry_after: Some("1".into()),
                    },
                ),
            );
        })
        .start()
        .unwrap();
    let env = TestEnv::new();
    small_files(&env, 400);
    let out = env
        .cmd_for(&fake)
        .args(["-v", "--json", "d"])
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert_eq!(summary(&json_lines(&out.stdout))["uploaded"], 400);
    let lines: Vec<&str> = err.lines().collect();
    let out_at = lines
        .iter()
        .position(|l| l.starts_with("API unavailable"))
        .unwrap_or_else(|| panic!("the API was out: {err}"));
    let back_at = lines
        .iter()
        .position(|l| l.starts_with("API available again"))
        .unwrap_or_else(|| panic!("and back: {err}"));
    let changes: Vec<&&str> = lines[out_at..back_at]
        .iter()
        .filter(|l| l.starts_with("concurrency"))
        .collect();
    assert!(changes.is_empty(), "held still while out: {changes:?}");
    let cuts = lines
        .iter()
        .filter(|l| l.contains("the server pushed back"))
        .count();
    assert!(
        cuts <= 1,
        "at most the outage's first failures look like pushback: {err}"
    );
}

#[test]
fn a_fixed_number_of_jobs_is_the_most_files_in_flight() {
    let fake = FakeChief::builder()
        .with_knobs(|k| {
            k.api.latency = Duration::from_millis(20);
            k.storage.latency = Duration::from_millis(20);
        })
        .start()
        .unwrap();
    let env = TestEnv::new();
    small_files(&env, 60);
    let out = env.cmd_for(&fake).args(["-j", "3", "d"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let (api, storage) = (fake.stats(Target::Api), fake.stats(Target::Storage));
    assert!(api.peak_in_flight <= 3, "{api:?}");
    assert!(api.peak_in_flight + storage.peak_in_flight >= 2);
    assert!(storage.peak_in_flight <= 3, "{storage:?}");
}

#[test]
fn a_bandwidth_cap_still_uploads_every_byte() {
    let fake = FakeChief::start();
    let env = TestEnv::new();
    let body: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    env.file("capped.bin", &body);
    env.file("tiny.txt", "t");
    let out = env
        .cmd_for(&fake)
        .args(["--bwlimit", "4M", "--json", "."])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(summary(&json_lines(&out.stdout))["uploaded"], 2);
    let stored = fake.stats(Target::Storage).body_bytes;
    assert_eq!(stored, body.len() as u64 + 1);
}

/// `--show-config` with these arguments and variables: (exit code, stdout, stderr).
fn show(env: &TestEnv, envs: &[(&str, &str)], args: &[&str]) -> (Option<i32>, String, String) {
    let out = env
        .cmd()
        .envs(envs.iter().copied())
        .arg("--show-config")
        .args(args)
        .output()
        .unwrap();
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

fn line<'a>(shown: &'a str, key: &str) -> &'a str {
    shown
        .lines()
        .find(|l| l.starts_with(key))
        .unwrap_or_else(|| panic!("no {key} line in {shown}"))
}

#[test]
fn every_documented_rate_form_is_accepted() {
    let env = TestEnv::new();
    for (raw, shown) in [
        ("20M", "20M (20971520 bytes/s)"),
        ("20m", "20M (20971520 bytes/s)"),
        ("512K", "512K (524288 bytes/s)"),
        ("512k", "512K (524288 bytes/s)"),
        ("1G", "1G (1073741824 bytes/s)"),
        ("1000", "1000 bytes/s"),
        ("0", "off (no cap)"),
        ("off", "off (no cap)"),
        ("OFF", "off (no cap)"),
    ] {
        let (code, out, err) = show(&env, &[], &["--bwlimit", raw]);
        assert_eq!(code, Some(0), "{raw}: {err}");
        let l = line(&out, "bwlimit");
        assert!(
            l.contains(shown) && l.contains("flag --bwlimit"),
            "{raw}: {l}"
        );
    }
    let (_, out, _) = show(&env, &[], &[]);
    assert!(line(&out, "bwlimit").contains("off (no cap)"), "{out}");
    assert!(line(&out, "bwlimit").contains("default"), "{out}");
}

#[test]
fn bad_rates_and_jobs_are_usage_errors() {
    let env = TestEnv::new();
    env.file("a.txt", "a");
    for args in [
        &["--bwlimit", "20X", "."][..],
        &["--bwlimit", "20MB", "."],
        &["--bwlimit", "1T", "."],
        &["--bwlimit=-1", "."],
        &["--bwlimit", "1.5M", "."],
        &["--bwlimit", "fast", "."],
        &["--bwlimit", "", "."],
        &["-j", "0", "."],
        &["-j", "257", "."],
        &["--jobs=-3", "."],
        &["-j", "1.5", "."],
        &["--jobs", "many", "."],
    ] {
        for dry in [true, false] {
            let mut cmd = env.cmd();
            if dry {
                cmd.arg("--dry-run");
            } else {
                cmd.envs([
                    ("CHIEF_API_KEY", fake_chief::TOKEN),
                    ("CHIEF_PROJECT_ID", fake_chief::PROJECT),
                    ("CHIEF_API_URL", "http://127.0.0.1:9"),
                ]);
            }
            let out = cmd.args(args).output().unwrap();
            let err = text(&out.stderr);
            assert_eq!(
                out.status.code(),
                Some(2),
                "{args:?} (dry run {dry}): {err}"
            );
            assert!(
                err.contains("not valid") && err.contains("hint:"),
                "{args:?}: {err}"
            );
            assert!(!err.contains("panicked"), "{err}");
        }
    }
    // The environment is checked too, and named.
    for (var, value) in [("CHIEF_BWLIMIT", "lots"), ("CHIEF_JOBS", "0")] {
        let out = env
            .cmd()
            .env(var, value)
            .args(["--dry-run", "."])
            .output()
            .unwrap();
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{var}={value}: {err}");
        assert!(err.contains(var), "{err}");
    }
}

#[test]
fn jobs_and_bwlimit_come_from_flag_environment_or_config_file() {
    let env = TestEnv::new();
    env.config("jobs = 32\nbwlimit = 20971520\n[profiles.auto]\njobs = \"auto\"\nbwlimit = \"20M\"\n[profiles.text]\njobs = \"12\"\n");
    let (code, out, err) = show(&env, &[], &[]);
    assert_eq!(code, Some(0), "{err}");
    assert!(line(&out, "jobs").contains("32 files in flight"), "{out}");
    assert!(line(&out, "jobs").contains("(jobs)"), "{out}");
    assert!(
        line(&out, "bwlimit").contains("20M (20971520 bytes/s)"),
        "{out}"
    );
    let (_, out, _) = show(&env, &[], &["--profile", "auto"]);
    assert!(line(&out, "jobs").contains("auto"), "{out}");
    assert!(line(&out, "jobs").contains("profiles.auto.jobs"), "{out}");
    assert!(line(&out, "bwlimit").contains("20M"), "{out}");
    let (_, out, _) = show(&env, &[], &["--profile", "text"]);
    assert!(line(&out, "jobs").contains("12 files in flight"), "{out}");
    let (_, out, _) = show(
        &env,
        &[("CHIEF_JOBS", "auto"), ("CHIEF_BWLIMIT", "off")],
        &[],
    );
    assert!(
        line(&out, "jobs").contains("auto") && line(&out, "jobs").contains("CHIEF_JOBS"),
        "{out}"
    );
    assert!(line(&out, "bwlimit").contains("off"), "{out}");
    let (_, out, _) = show(&env, &[("CHIEF_JOBS", "auto")], &["-j", "7"]);
    assert!(
        line(&out, "jobs").contains("7 files in flight") && line(&out, "jobs").contains("--jobs"),
        "the flag wins: {out}"
    );

    env.config("jobs = 0\n");
    let (code, _, err) = show(&env, &[], &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("(jobs)") && err.contains("out of range"),
        "{err}"
    );
    env.config("jobs = 1.5\n");
    let (code, _, err) = show(&env, &[], &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("jobs must be a number of jobs"), "{err}");
    env.config("bwlimit = \"fast\"\n");
    let (code, _, err) = show(&env, &[], &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("(bwlimit)"), "{err}");
}

#[test]
fn the_config_file_sets_the_jobs_of_a_real_upload() {
    let fake = FakeChief::builder()
        .with_knobs(|k| k.api.latency = Duration::from_millis(20))
        .start()
        .unwrap();
    let env = TestEnv::new();
    env.config("jobs = 2\n");
    small_files(&env, 30);
    let out = env.cmd_for(&fake).arg("d").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(fake.stats(Target::Api).peak_in_flight <= 2);
}
