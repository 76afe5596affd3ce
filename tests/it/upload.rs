//! The core pipeline end to end: the real binary against the fake Chief server.

use crate::common::{files_by_path, json_lines, summary, text, TestEnv};
use fake_chief::{Action, FakeChief, Rule, PROJECT, TOKEN};

fn tree(env: &TestEnv) {
    env.file("photos/cat.png", b"\x89PNG\r\n\x1a\ncat");
    env.file("photos/déjà vu/ünïcødé ☃.jpg", b"\xff\xd8\xffjpeg bytes");
    env.file("docs/read me.txt", "hello world\n");
    env.file("docs/empty.txt", "");
    env.file("data/deep/er/still/blob", vec![7u8; 300_000]);
    env.file("report.pdf", b"%PDF-1.7 fake");
}

#[test]
fn uploads_a_nested_tree_then_skips_everything_on_rerun() {
    let fake = FakeChief::start();
    let env = TestEnv::new();
    tree(&env);
    let out = env.cmd_for(&fake).args(["--json", "."]).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = json_lines(&out.stdout);
    let files = files_by_path(&lines);
    assert_eq!(files.len(), 6, "{files:#?}");
    for (path, f) in &files {
        assert_eq!(f["outcome"], "uploaded", "{path}: {f}");
        let content = std::fs::read(env.root().join(path)).unwrap();
        assert_eq!(f["md5"], fake_chief::md5_hex(&content), "{path}");
        assert_eq!(f["size"], content.len() as u64, "{path}");
        assert!(f["asset_id"].as_str().unwrap().starts_with("asset_"));
    }
    assert_eq!(files["./photos/cat.png"]["mime_type"], "image/png");
    assert_eq!(
        files["./photos/déjà vu/ünïcødé ☃.jpg"]["mime_type"],
        "image/jpeg"
    );
    assert_eq!(
        files["./photos/déjà vu/ünïcødé ☃.jpg"]["filename"],
        "ünïcødé ☃.jpg"
    );
    assert_eq!(files["./docs/read me.txt"]["mime_type"], "text/plain");
    assert_eq!(files["./report.pdf"]["mime_type"], "application/pdf");
    assert_eq!(
        files["./data/deep/er/still/blob"]["mime_type"],
        "application/octet-stream"
    );
    let s = summary(&lines);
    assert_eq!(
        (
            s["uploaded"].as_u64(),
            s["skipped"].as_u64(),
            s["failed"].as_u64()
        ),
        (Some(6), Some(0), Some(0))
    );
    let total: u64 = files.values().map(|f| f["size"].as_u64().unwrap()).sum();
    assert_eq!(s["bytes_uploaded"], total);
    assert_eq!(total, 300_049);

    // What the server holds is exactly what is on disk.
    let mut stored: Vec<(String, String)> = fake
        .assets(PROJECT)
        .into_iter()
        .map(|a| (a.filename, a.md5))
        .collect();
    stored.sort();
    let mut want: Vec<(String, String)> = files
        .values()
        .map(|f| {
            (
                f["filename"].as_str().unwrap().to_string(),
                f["md5"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    want.sort();
    assert_eq!(stored, want);

    fake.clear_requests();
    let out = env.cmd_for(&fake).args(["--json", "."]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let lines = json_lines(&out.stdout);
    assert!(files_by_path(&lines)
        .values()
        .all(|f| f["outcome"] == "skipped"));
    assert_eq!(summary(&lines)["skipped"], 6);
    assert_eq!(fake.storage_requests().len(), 0, "a rerun sends no bytes");
    assert_eq!(fake.api_requests().len(), 6);
}

#[test]
fn identical_content_is_uploaded_once() {
    let fake = FakeChief::start();
    let env = TestEnv::new();
    for i in 0..5 {
        env.file(&format!("copy{i}.bin"), vec![42u8; 100_000]);
    }
    env.file("other.bin", "different");
    let out = env.cmd_for(&fake).args(["--json", "."]).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = json_lines(&out.stdout);
    let files = files_by_path(&lines);
    let copies: Vec<_> = files
        .iter()
        .filter(|(p, _)| p.contains("copy"))
        .map(|(_, f)| f)
        .collect();
    assert_eq!(
        copies.iter().filter(|f| f["outcome"] == "uploaded").count(),
        1
    );
    assert_eq!(
        copies.iter().filter(|f| f["outcome"] == "skipped").count(),
        4
    );
    let ids: std::collections::HashSet<_> = copies
        .iter()
        .map(|f| f["asset_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 1, "all copies report the same asset");
    assert_eq!(
        fake.storage_requests().len(),
        2,
        "one PUT for the copies, one for the other file"
    );
}

#[test]
fn headers_go_only_where_they_belong() {
    let fake = FakeChief::start();
    let env = TestEnv::new();
    env.file("a.txt", "alpha");
    env.file("b.png", b"\x89PNG\r\n\x1a\nbeta");
    env.cmd_for(&fake).arg(".").assert().success();
    let api = fake.api_requests();
    assert_eq!(api.len(), 2);
    for r in &api {
        assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/v1/assets"));
        assert_eq!(r.header("x-api-key"), Some(TOKEN));
        assert_eq!(r.header("x-project-id"), Some(PROJECT));
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert!(r.header("user-agent").unwrap().starts_with("chief-upload/"));
        let body = r.json.as_ref().unwrap();
        assert!(body["md5"].as_str().unwrap().len() == 32);
    }
    let storage = fake.storage_requests();
    assert_eq!(storage.len(), 2);
    for r in &storage {
        assert_eq!(r.status, 200);
        assert_eq!(r.method, "PUT");
        for secret in [
            "x-api-key",
            "authorization",
            "cookie",
            "x-project-id",
            "referer",
        ] {
            assert!(!r.has_header(secret), "{secret} sent to storage");
        }
        assert!(!r.has_header("transfer-encoding"), "never chunked");
        assert_eq!(
            r.header("content-length")
                .map(|v| v.parse::<u64>().unwrap()),
            Some(r.body_len)
        );
        // The fake signs Content-Type, Content-MD5 and a custom header: all arrived verbatim
        // (it answered 200, and refuses any altered or missing signed header with 403).
        assert!(r.has_header("content-md5") && r.has_header("x-chief-upload-token"));
    }
}

#[test]
fn refused_credentials_stop_the_run_with_exit_2() {
    let fake = FakeChief::start();
    let env = TestEnv::new();
    for i in 0..40 {
        env.file(&format!("f{i}.txt"), format!("file {i}"));
    }
    let out = env
        .cmd_for(&fake)
        .env("CHIEF_API_KEY", fake_chief::UNKNOWN_TOKEN)
        .args(["-j", "2", "."])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("refused the credentials") && err.contains("401"),
        "{err}"
    );
    assert!(
        err.contains("CHIEF_API_KEY"),
        "the hint names the setting: {err}"
    );
    assert!(!err.contains(fake_chief::UNKNOWN_TOKEN), "{err}");
    assert!(
        fake.api_requests().len() <= 4,
        "stops instead of trying all 40: {}",
        fake.api_requests().len()
    );
    assert!(fake.storage_requests().is_empty());

    // 403: a project the token cannot use.
    let out = env
        .cmd_for(&fake)
        .env("CHIEF_PROJECT_ID", fake_chief::OTHER_PROJECT)
        .arg(".")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("403"));
}

#[test]
fn local_validation_errors_exit_2_before_any_request() {
    let fake = FakeChief::start();
    let env = TestEnv::new();
    env.file("a.txt", "a");
    type Case<'a> = (Vec<(&'a str, &'a str)>, Vec<&'a str>, &'a str);
    let cases: Vec<Case> = vec![
        (vec![("CHIEF_API_KEY", "")], vec!["."], "no API token"),
        (vec![("CHIEF_API_KEY", "pat_tooshort")], vec!["."], "token"),
        (
            vec![("CHIEF_API_KEY", "sk_live_abcdefghijklmnopqrstuvwxyz0123")],
            vec!["."],
            "pat_",
        ),
        (vec![("CHIEF_PROJECT_ID", "")], vec!["."], "no project id"),
        (
            vec![("CHIEF_PROJECT_ID", "project_UPPERCASE0000000000")],
            vec!["."],
            "project id 'project_UPPERCASE0000000000'",
        ),
        (
            vec![("CHIEF_API_URL", "http://api.example.com")],
            vec!["."],
            "plain http",
        ),
        (
            vec![],
            vec!["--exclude", "a[", "."],
            "--exclude pattern 'a['",
        ),
        (vec![], vec!["-j", "0", "."], "--jobs 0"),
        (vec![], vec![], "no PATH"),
    ];
    for (envs, args, want) in cases {
        let out = env
            .cmd_for(&fake)
            .envs(envs.clone())
            .args(&args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{envs:?} {args:?}: {err}");
        assert!(
            err.contains(want),
            "{envs:?} {args:?}: want {want:?} in {err}"
        );
        assert!(err.contains("hint:"), "says how to fix it: {err}");
        assert!(
            !err.contains("abcdefghijklmnopqrstuvwxyz"),
            "never echoes a token: {err}"
        );
    }
    assert!(
        fake.requests().is_empty(),
        "no request was made: {:?}",
        fake.requests()
    );
}

#[test]
fn unknown_upload_method_fails_that_file_only() {
    let fake = FakeChief::start();
    let env = TestEnv::new();
    env.file("new.bin", "needs a newer client");
    env.file("ok1.txt", "one");
    env.file("ok2.txt", "two");
    fake.inject(
        Rule::api(
            usize::MAX,
            Action::UploadMethod("RESUMABLE_MULTIPART".into()),
        )
        .for_file("new.bin"),
    );
    let out = env.cmd_for(&fake).args(["--json", "."]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let files = files_by_path(&json_lines(&out.stdout));
    assert_eq!(files["./new.bin"]["outcome"], "failed");
    let error = files["./new.bin"]["error"].as_str().unwrap();
    assert!(
        error.contains("unsupported upload method RESUMABLE_MULTIPART")
            && error.contains("newer chief-upload"),
        "{error}"
    );
    assert_eq!(files["./ok1.txt"]["outcome"], "uploaded");
    assert_eq!(files["./ok2.txt"]["outcome"], "uploaded");
    assert_eq!(fake.storage_requests().len(), 2);
}

#[test]
fn a_missing_path_fails_alone() {
    let fake = FakeChief::start();
    let env = TestEnv::new();
    env.file("here.txt", "present");
    let out = env
        .cmd_for(&fake)
        .args(["--json", "here.txt", "not-there.txt"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let files = files_by_path(&json_lines(&out.stdout));
    assert_eq!(files["here.txt"]["outcome"], "uploaded");
    assert_eq!(files["not-there.txt"]["outcome"], "failed");
    assert_eq!(files["not-there.txt"]["error"], "no such file or directory");
    assert!(String::from_utf8_lossy(&out.stderr).contains("failed   not-there.txt"));
}

#[test]
fn dedup_hit_on_a_failed_asset_warns() {
    let fake = FakeChief::start();
    let env = TestEnv::new();
    env.file("broken.mov", "content whose ingest failed");
    fake.seed_asset(
        PROJECT,
        &fake_chief::md5_hex(b"content whose ingest failed"),
        "failed",
    );
    let out = env.cmd_for(&fake).args(["--json", "."]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let files = files_by_path(&json_lines(&out.stdout));
    assert_eq!(files["./broken.mov"]["outcome"], "skipped");
    assert_eq!(files["./broken.mov"]["status"], "failed");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("warning:") && err.contains("ingest failed"),
        "{err}"
    );
}

#[test]
fn settings_precedence_flag_env_profile_file() {
    let env = TestEnv::new();
    env.config(
        "api_key = \"pat_FILEFILEFILEFILEFILEFILEFILEFILE\"\nproject_id = \"project_fromfile000000000000\"\napi_url = \"https://file.example\"\n\
         [profiles.ci]\nproject_id = \"project_fromprofile000000000\"\n",
    );
    let show = |envs: Vec<(&str, &str)>, args: Vec<&str>| -> String {
        let out = env
            .cmd()
            .envs(envs)
            .arg("--show-config")
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let line = |text: &str, key: &str| {
        text.lines()
            .find(|l| l.starts_with(key))
            .unwrap()
            .to_string()
    };

    let t = show(vec![], vec![]);
    assert!(
        line(&t, "project_id").contains("project_fromfile000000000000")
            && line(&t, "project_id").contains("(project_id)"),
        "{t}"
    );
    assert!(line(&t, "api_key").contains("pat_…FILE"), "{t}");
    assert!(!t.contains("FILEFILEFILEFILE"), "token redacted: {t}");

    let t = show(vec![], vec!["--profile", "ci"]);
    assert!(
        line(&t, "project_id").contains("project_fromprofile000000000"),
        "{t}"
    );
    assert!(
        line(&t, "api_url").contains("https://file.example"),
        "profiles inherit top-level keys: {t}"
    );

    let t = show(
        vec![
            ("CHIEF_PROJECT_ID", "project_fromenv0000000000000"),
            ("CHIEF_PROFILE", "ci"),
        ],
        vec![],
    );
    assert!(
        line(&t, "project_id").contains("project_fromenv0000000000000")
            && line(&t, "project_id").contains("CHIEF_PROJECT_ID"),
        "{t}"
    );

    let t = show(
        vec![("CHIEF_PROJECT_ID", "project_fromenv0000000000000")],
        vec!["--project", "project_fromflag000000000000"],
    );
    assert!(
        line(&t, "project_id").contains("project_fromflag000000000000")
            && line(&t, "project_id").contains("--project"),
        "{t}"
    );

    let out = env
        .cmd()
        .args(["--show-config", "--profile", "nope"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("profile 'nope'"));
}

#[test]
fn config_file_credentials_drive_a_real_upload() {
    let fake = FakeChief::start();
    let env = TestEnv::new();
    env.file("x.txt", "from config");
    env.config(&format!(
        "[profiles.fake]\napi_key = \"{TOKEN}\"\nproject_id = \"{PROJECT}\"\napi_url = \"{}\"\n",
        fake.api_url()
    ));
    env.cmd()
        .args(["--profile", "fake", "x.txt"])
        .assert()
        .success();
    assert_eq!(fake.assets(PROJECT).len(), 1);
    if cfg!(windows) {
        return crate::common::skip(&format!("the mode half: {NO_MODES}"));
    }
    // A group-readable config file gets a warning like ssh's.
    crate::common::set_mode(&env.config_file(), 0o644);
    let out = env
        .cmd()
        .args(["--profile", "fake", "x.txt"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("readable by group or others") && err.contains("chmod 600"),
        "{err}"
    );
}

/// Why a file's privacy is not checked on Windows.
const NO_MODES: &str = "Windows files have access lists, not mode bits: chief-upload checks \
                        no file's privacy there";

#[test]
fn api_key_file_must_be_private() {
    if cfg!(windows) {
        return crate::common::skip(NO_MODES);
    }
    let fake = FakeChief::start();
    let env = TestEnv::new();
    env.file("x.txt", "key file");
    let key = env.dir.path().join("key");
    std::fs::write(&key, format!("{TOKEN}\n")).unwrap();
    crate::common::set_mode(&key, 0o644);
    let k = key.to_str().unwrap();
    let out = env
        .cmd_for(&fake)
        .env_remove("CHIEF_API_KEY")
        .args(["--api-key-file", k, "x.txt"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("chmod 600"));
    assert!(fake.requests().is_empty());
    crate::common::set_mode(&key, 0o600);
    env.cmd_for(&fake)
        .env_remove("CHIEF_API_KEY")
        .args(["--api-key-file", k, "x.txt"])
        .assert()
        .success();
    // From standard input.
    env.cmd_for(&fake)
        .env_remove("CHIEF_API_KEY")
        .args(["--api-key-file", "-", "x.txt"])
        .write_stdin(format!("{TOKEN}\n"))
        .assert()
        .success();
}

#[test]
fn files_from_and_filters() {
    let fake = FakeChief::start();
    let env = TestEnv::new();
    env.file("keep/a.png", "a");
    env.file("keep/b.txt", "b");
    env.file("keep/tmp/c.png", "c");
    env.file("list/d.png", "d");
    let out = env
        .cmd_for(&fake)
        .args([
            "--json",
            "--include",
            "*.png",
            "--exclude",
            "tmp",
            "-0",
            "--files-from",
            "-",
            "keep",
        ])
        .write_stdin("list/d.png\0")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let files = files_by_path(&json_lines(&out.stdout));
    assert_eq!(
        files.keys().cloned().collect::<Vec<_>>(),
        vec!["keep/a.png".to_string(), "list/d.png".to_string()]
    );
}

#[test]
fn dry_run_needs_no_credentials_and_sends_nothing() {
    let env = TestEnv::new();
    env.file("a/b.png", b"\x89PNG\r\n\x1a\n");
    env.file("c.txt", "c");
    let out = env
        .cmd()
        .args(["--dry-run", "--json", "."])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = json_lines(&out.stdout);
    let files = files_by_path(&lines);
    assert_eq!(files.len(), 2);
    assert!(files
        .values()
        .all(|f| f["outcome"] == "planned" && f["md5"].as_str().unwrap().len() == 32));
    assert_eq!(summary(&lines)["planned"], 2);
}

#[test]
fn when_the_first_copy_fails_another_copy_takes_over() {
    let fake = FakeChief::start();
    let env = TestEnv::new();
    for i in 0..3 {
        env.file(&format!("copy{i}.bin"), vec![9u8; 50_000]);
    }
    // The first POST (whichever copy leads) is refused; nothing else is.
    fake.inject(Rule::api(1, Action::status(422)));
    let out = env.cmd_for(&fake).args(["--json", "."]).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let files = files_by_path(&json_lines(&out.stdout));
    let count = |o: &str| files.values().filter(|f| f["outcome"] == o).count();
    assert_eq!(
        (count("failed"), count("uploaded"), count("skipped")),
        (1, 1, 1),
        "{files:#?}"
    );
    assert_eq!(fake.storage_requests().len(), 1, "the content is sent once");
}

#[test]
fn a_file_reached_twice_gets_one_outcome() {
    let fake = FakeChief::start();
    let env = TestEnv::new();
    env.file("assets/a/y.png", "y");
    env.file("assets/z.txt", "z");
    std::fs::write(env.dir.path().join("list"), "assets/a/y.png\n").unwrap();
    let list = env.dir.path().join("list");
    let out = env
        .cmd_for(&fake)
        .args([
            "--json",
            "assets",
            "assets/a",
            "assets/a/y.png",
            "--files-from",
        ])
        .arg(&list)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let files = files_by_path(&json_lines(&out.stdout));
    assert_eq!(files.len(), 2, "{files:#?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.matches("reached before").count(), 3, "{err}");
    assert_eq!(fake.api_requests().len(), 2);
}

/// A file whose full path is longer than Windows' old limit of 260 characters (MAX_PATH)
/// is walked, hashed and uploaded like any other.
#[test]
fn a_path_longer_than_max_path_is_uploaded() {
    let fake = FakeChief::start();
    let env = TestEnv::new();
    let deep: String = (0..6).map(|i| format!("{}{i}/", "d".repeat(49))).collect();
    let rel = format!("{deep}file.txt");
    env.file(&rel, "deep");
    assert!(env.root().join(&rel).as_os_str().len() > 300);
    let out = env.cmd_for(&fake).args(["--json", "."]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let files = files_by_path(&json_lines(&out.stdout));
    assert_eq!(
        files[&format!("./{rel}")]["outcome"],
        "uploaded",
        "{files:?}"
    );
    assert_eq!(fake.assets(PROJECT)[0].md5, fake_chief::md5_hex(b"deep"));
}

/// A file another program has open is uploaded like any other. On Windows, one held open
/// with no sharing (as some editors and databases hold theirs) cannot be read: it fails
/// alone, saying so, and the rest are uploaded.
#[test]
fn a_file_open_in_another_program_is_uploaded_or_fails_alone_when_not_shared() {
    let fake = FakeChief::start();
    let env = TestEnv::new();
    let shared = env.file("shared.txt", "open elsewhere");
    let _writer = std::fs::OpenOptions::new()
        .append(true)
        .open(&shared)
        .unwrap();
    #[cfg(windows)]
    let _held = {
        use std::os::windows::fs::OpenOptionsExt;
        let p = env.file("held.txt", "open elsewhere, shared with none");
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .share_mode(0)
            .open(p)
            .unwrap()
    };
    let out = env.cmd_for(&fake).args(["--json", "."]).output().unwrap();
    let err = text(&out.stderr);
    let files = files_by_path(&json_lines(&out.stdout));
    assert_eq!(files["./shared.txt"]["outcome"], "uploaded", "{err}");
    if cfg!(windows) {
        assert_eq!(out.status.code(), Some(1), "{err}");
        let held = &files["./held.txt"];
        assert_eq!(held["outcome"], "failed", "{held}");
        assert_eq!(
            held["error"], "cannot open: in use by another program, which does not share it",
            "{held}"
        );
        assert!(err.contains("./held.txt"), "{err}");
    } else {
        assert_eq!(out.status.code(), Some(0), "{err}");
    }
}
