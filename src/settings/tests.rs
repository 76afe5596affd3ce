//! The settings' unit tests: resolution, precedence, the config file, validation, and the
//! `--show-config` view.

use super::file::ConfigFile;
use super::shapes::check_api_url;
use super::units::{Rate, Size};
use super::*;

fn cli(args: &[&str]) -> Cli {
    Cli::parse_args(std::iter::once("chief-upload").chain(args.iter().copied())).unwrap()
}

fn resolve_with(cli: &Cli, env: &Env) -> Result<Settings, UsageError> {
    resolve(cli, env, output_settings(cli, env))
}

#[test]
fn url_passwords_are_never_shown() {
    let g = Gathered {
        config_path: Sourced {
            value: None,
            source: Source::Default,
        },
        profile: None,
        api_key: None,
        project: None,
        api_url: Sourced {
            value: "https://me:hunter2@api.example.com".into(),
            source: Source::Default,
        },
        network: Default::default(),
        transfer: Transfer {
            jobs: Sourced {
                value: Jobs::Auto,
                source: Source::Default,
            },
            bwlimit: Sourced {
                value: Rate(None),
                source: Source::Default,
            },
            max_outage: Sourced {
                value: DEFAULT_MAX_OUTAGE,
                source: Source::Default,
            },
        },
        warnings: vec![],
    };
    let shown = describe(&cli(&["x"]), &Env::default(), &g);
    assert!(!shown.contains("hunter2"), "{shown}");
    let g = Gathered {
        api_key: Some(Sourced {
            value: "pat_abcdefghijklmnopqrstuvwxyz012345".into(),
            source: Source::Default,
        }),
        project: Some(Sourced {
            value: "project_aaaaaaaaaaaaaaaaaaaa".into(),
            source: Source::Default,
        }),
        ..g
    };
    let err = api_settings(&g).unwrap_err();
    assert!(
        err.message.contains("user name or password") && !err.message.contains("hunter2"),
        "{err}"
    );
}

#[test]
fn project_ids() {
    assert!(ProjectId::parse("project_0123456789abcdefghij").is_ok());
    assert!(ProjectId::parse("project_0123456789ABCDEFGHIJ").is_err());
    assert!(ProjectId::parse("project_0123").is_err());
    assert!(ProjectId::parse("proj_0123456789abcdefghij").is_err());
}

#[test]
fn http_only_to_loopback() {
    assert!(check_api_url("https://api.example.com").is_ok());
    assert!(check_api_url("http://127.0.0.1:8080").is_ok());
    assert!(check_api_url("http://127.1.2.3").is_ok());
    assert!(check_api_url("http://[::1]:9").is_ok());
    assert!(check_api_url("http://localhost:9").is_ok());
    assert!(check_api_url("http://api.example.com").is_err());
    assert!(check_api_url("http://10.0.0.1").is_err());
    assert!(check_api_url("ftp://x").is_err());
    assert!(check_api_url("https://u:p@x").is_err());
}

#[test]
fn profiles_override_top_level_and_flags_override_all() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(
        &path,
        "project_id = \"project_aaaaaaaaaaaaaaaaaaaa\"\napi_url = \"https://top.example\"\n[profiles.ci]\nproject_id = \"project_bbbbbbbbbbbbbbbbbbbb\"\n",
    )
    .unwrap();
    let p = path.to_str().unwrap();
    let env = Env::default();
    let g = gather(&cli(&["--config", p, "x"]), &env).unwrap();
    assert_eq!(g.project.unwrap().value, "project_aaaaaaaaaaaaaaaaaaaa");
    let g = gather(&cli(&["--config", p, "--profile", "ci", "x"]), &env).unwrap();
    assert_eq!(
        g.project.as_ref().unwrap().value,
        "project_bbbbbbbbbbbbbbbbbbbb"
    );
    assert_eq!(
        g.api_url.value, "https://top.example",
        "profiles inherit top-level keys"
    );
    let env = Env::from_pairs([(ENV_PROJECT, "project_cccccccccccccccccccc")]);
    let g = gather(&cli(&["--config", p, "--profile", "ci", "x"]), &env).unwrap();
    assert_eq!(g.project.as_ref().unwrap().source, Source::Env(ENV_PROJECT));
    let g = gather(
        &cli(&[
            "--config",
            p,
            "--project",
            "project_dddddddddddddddddddd",
            "x",
        ]),
        &env,
    )
    .unwrap();
    assert_eq!(g.project.unwrap().value, "project_dddddddddddddddddddd");
    let err = gather(
        &cli(&["--config", p, "--profile", "nope", "x"]),
        &Env::default(),
    )
    .unwrap_err();
    assert!(err.message.contains("'nope'"), "{err}");
    assert!(err.hints[0].contains("ci"));
}

#[test]
fn toml_errors_do_not_quote_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(&path, "api_key = pat_abcdefghijklmnopqrstuvwxyz012345\n").unwrap();
    let err = gather(
        &cli(&["--config", path.to_str().unwrap(), "x"]),
        &Env::default(),
    )
    .unwrap_err();
    assert!(err.message.contains("not valid TOML"), "{err}");
    assert!(!format!("{err:?}").contains("abcdefghijklmnop"), "{err:?}");
}

/// Every duration flag reads DURATION: units, fractions, and a plain number of seconds
/// where one was taken before (`--timeout 90s` as well as `--timeout 0.5`).
#[test]
fn duration_flags_take_units_and_plain_seconds() {
    let c = cli(&[
        "--timeout",
        "90s",
        "--retry-max-delay",
        "1m30s",
        "--progress-interval",
        "0.5",
        "--max-outage",
        "1.5m",
        "--dry-run",
        "x",
    ]);
    let s = resolve_with(&c, &Env::default()).unwrap();
    assert_eq!(s.timeout, Duration::from_secs(90));
    assert_eq!(s.retry.cap, Duration::from_secs(90));
    assert_eq!(s.output.progress_every, Some(Duration::from_millis(500)));
    assert_eq!(s.max_outage, Duration::from_secs(90));
    let c = cli(&[
        "--timeout",
        "2.5",
        "--progress-interval",
        "0",
        "x",
        "--dry-run",
    ]);
    let s = resolve_with(&c, &Env::default()).unwrap();
    assert_eq!(s.timeout, Duration::from_millis(2500));
    assert_eq!(s.output.progress_every, None);
}

#[test]
fn out_of_range_durations_are_errors_not_panics() {
    for args in [
        ["--timeout", "1e300"],
        ["--timeout", "NaN"],
        ["--timeout", "-1"],
        ["--timeout", "99999999999999999999d"],
        ["--retry-max-delay", "inf"],
        ["--progress-interval", "5 minutes"],
    ] {
        let flag = format!("{}={}", args[0], args[1]);
        let argv = ["chief-upload", flag.as_str(), "--dry-run", "x"];
        let err = Cli::parse_args(argv).unwrap_err().to_string();
        assert!(
            err.contains(&format!("for '{} <DURATION>'", args[0])),
            "{err}"
        );
    }
    let c = cli(&["--timeout", "0", "--dry-run", "x"]);
    let err = resolve_with(&c, &Env::default()).unwrap_err();
    assert_eq!(err.message, "--timeout must be more than 0");
}

/// No config file, however mangled, makes reading it panic, and a parse error never
/// quotes the token.
#[test]
fn config_parsing_never_panics_on_mangled_files() {
    let token_body = "abcdefghijklmnopqrstuvwxyz012345";
    let good = format!(
        "# chief\napi_key = \"pat_{token_body}\"\nproject_id = 'project_aaaaaaaaaaaaaaaaaaaa'\napi_url = \"https://x.example\"\n[profiles.ci]\nproject_id = \"project_bbbbbbbbbbbbbbbbbbbb\"\napi_url = 7\n[profiles.x]\napi_key = [1]\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    let p = path.to_str().unwrap();
    let plain = cli(&["--config", p, "x"]);
    let ci = cli(&["--config", p, "--profile", "ci", "x"]);
    let x = cli(&["--config", p, "--profile", "x", "x"]);
    let check = |bytes: &[u8]| {
        std::fs::write(&path, bytes).unwrap();
        for c in [&plain, &ci, &x] {
            match gather(c, &Env::default()) {
                Ok(g) => {
                    let _ = api_settings(&g);
                    let _ = describe(c, &Env::default(), &g);
                }
                Err(e) => assert!(!format!("{e:?}").contains(token_body), "{e:?}"),
            }
        }
    };
    let bytes = good.as_bytes();
    for i in 0..bytes.len() {
        check(&bytes[..i]);
        for b in [b'"', b'\'', b'=', b'[', b']', b'\n', b'\\', b'#', 0xff, 0] {
            let mut m = bytes.to_vec();
            m[i] = b;
            check(&m);
        }
    }
}

const KEY: &str = "pat_abcdefghijklmnopqrstuvwxyz012345";
const PROJECT_A: &str = "project_aaaaaaaaaaaaaaaaaaaa";

/// A config file with `text`, loaded; the directory lives as long as the file is used.
fn config(text: &str) -> (tempfile::TempDir, ConfigFile) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(&path, text).unwrap();
    let file = ConfigFile::load(&path, true, &CONFIG_KEYS, &mut vec![])
        .unwrap()
        .unwrap();
    (dir, file)
}

fn layers<'a>(env: &'a Env, file: &'a ConfigFile, profile: Option<&'a str>) -> Layers<'a> {
    Layers {
        env,
        file: Some(file),
        profile,
    }
}

#[test]
fn strings_in_the_config_file_must_be_strings() {
    let (_dir, file) = config("project_id = 7\n");
    let env = Env::default();
    let err = layers(&env, &file, None).pick(&PROJECT, None).unwrap_err();
    assert!(
        err.message
            .ends_with("project_id must be a string, found a integer"),
        "{err}"
    );
    assert_eq!(err.hints, ["write it as project_id = \"...\""]);
}

#[test]
fn the_mode_is_a_dry_run_or_an_upload_with_checked_credentials() {
    let s = resolve_with(&cli(&["--dry-run", "x"]), &Env::default()).unwrap();
    assert!(matches!(s.mode, Mode::DryRun) && s.mode.is_dry_run());

    let dir = tempfile::tempdir().unwrap();
    let env = Env::from_pairs([
        ("CHIEF_API_KEY", KEY),
        ("CHIEF_PROJECT_ID", PROJECT_A),
        ("HOME", dir.path().to_str().unwrap()),
    ]);
    let s = resolve_with(&cli(&["x"]), &env).unwrap();
    let Mode::Upload { api, .. } = &s.mode else {
        panic!("an upload: {:?}", s.mode)
    };
    assert_eq!(api.project.as_str(), PROJECT_A);
    assert_eq!(api.key.expose(), KEY);
    assert_eq!(api.base_url.as_str(), "https://api.chief.app/");
    assert!(!s.mode.is_dry_run());
}

#[test]
fn the_filter_is_compiled_once_in_the_settings() {
    let c = cli(&["--dry-run", "--include", "*.png", "--exclude", "tmp/", "x"]);
    let s = resolve_with(&c, &Env::default()).unwrap();
    assert!(s.filter.wants_file("a/b.png"));
    assert!(!s.filter.wants_file("a/b.jpg"));
    assert!(!s.filter.wants_dir("tmp"));

    let err =
        resolve_with(&cli(&["--dry-run", "--include", "[", "x"]), &Env::default()).unwrap_err();
    assert!(
        err.message.contains("invalid --include pattern '['"),
        "{err}"
    );
}

#[cfg(target_os = "linux")]
#[test]
fn the_cache_lives_in_the_platform_cache_directory_unless_turned_off() {
    let env = Env::from_pairs([("XDG_CACHE_HOME", "/xdg/cache")]);
    let s = resolve_with(&cli(&["--dry-run", "x"]), &env).unwrap();
    assert_eq!(
        s.cache,
        Some(PathBuf::from("/xdg/cache/chief/hashes.sqlite"))
    );
    let s = resolve_with(&cli(&["--dry-run", "--no-cache", "x"]), &env).unwrap();
    assert_eq!(s.cache, None);
}

// Settings no flag uses yet, to prove the typed machinery the next ones will use (and
// `BWLIMIT`, the first that does).
const MAX_SIZE: Key<Size> = Key::new("--max-size", None, "max_size");
const MAX_OUTAGE: Key<Duration> = Key::new("--max-outage", Some("CHIEF_MAX_OUTAGE"), "max_outage");

#[test]
fn typed_settings_take_a_toml_integer_or_a_string() {
    let (dir, file) = config(
        "max_size = 1024\nbwlimit = \"20M\"\nmax_outage = 90\n\
         [profiles.ci]\nmax_size = \"2G\"\nbwlimit = 0\nmax_outage = \"5m\"\n",
    );
    let env = Env::default();
    let top = layers(&env, &file, None);
    assert_eq!(
        top.pick(&MAX_SIZE, None).unwrap().unwrap().value,
        Size(1024)
    );
    assert_eq!(
        top.pick(&BWLIMIT, None).unwrap().unwrap().value,
        Rate(std::num::NonZeroU64::new(20 << 20))
    );
    assert_eq!(
        top.pick(&MAX_OUTAGE, None).unwrap().unwrap().value,
        Duration::from_secs(90),
        "an integer counts seconds"
    );
    let ci = layers(&env, &file, Some("ci"));
    let size = ci.pick(&MAX_SIZE, None).unwrap().unwrap();
    assert_eq!(size.value, Size(2 << 30));
    assert_eq!(
        size.source.to_string(),
        format!("config {} (profiles.ci.max_size)", file_path(&dir))
    );
    assert_eq!(ci.pick(&BWLIMIT, None).unwrap().unwrap().value, Rate(None));
    assert_eq!(
        ci.pick(&MAX_OUTAGE, None).unwrap().unwrap().value,
        Duration::from_secs(300)
    );
}

fn file_path(dir: &tempfile::TempDir) -> String {
    dir.path().join("c.toml").display().to_string()
}

#[test]
fn typed_settings_follow_the_one_precedence() {
    let (_dir, file) =
        config("bwlimit = \"1M\"\n[profiles.ci]\nbwlimit = \"2M\"\n[profiles.other]\n");
    let mib = |n: u64| Rate(std::num::NonZeroU64::new(n << 20));
    let none = Env::default();
    let env = Env::from_pairs([("CHIEF_BWLIMIT", "3M")]);

    let picked = layers(&env, &file, Some("ci"))
        .pick(&BWLIMIT, Some("4M"))
        .unwrap()
        .unwrap();
    assert_eq!(
        (picked.value, picked.source),
        (mib(4), Source::Flag("--bwlimit"))
    );
    let picked = layers(&env, &file, Some("ci"))
        .pick(&BWLIMIT, None)
        .unwrap()
        .unwrap();
    assert_eq!(
        (picked.value, picked.source),
        (mib(3), Source::Env("CHIEF_BWLIMIT"))
    );
    let picked = layers(&none, &file, Some("ci"))
        .pick(&BWLIMIT, None)
        .unwrap()
        .unwrap();
    assert_eq!(picked.value, mib(2), "the profile");
    let picked = layers(&none, &file, Some("other"))
        .pick(&BWLIMIT, None)
        .unwrap()
        .unwrap();
    assert_eq!(
        picked.value,
        mib(1),
        "a profile without the key inherits the top level"
    );

    // Nothing sets it: the default.
    let (_dir, empty) = config("");
    let l = layers(&none, &empty, None);
    assert!(l.pick(&BWLIMIT, None).unwrap().is_none());
    let picked = l
        .pick_or(&MAX_OUTAGE, None, Duration::from_secs(300))
        .unwrap();
    assert_eq!(
        (picked.value, picked.source),
        (Duration::from_secs(300), Source::Default)
    );
    let no_file = Layers {
        env: &none,
        file: None,
        profile: None,
    };
    assert!(no_file.pick(&MAX_SIZE, None).unwrap().is_none());
}

#[test]
fn bad_typed_values_quote_the_value_name_the_source_and_show_a_valid_one() {
    let env = Env::from_pairs([("CHIEF_MAX_OUTAGE", "5M")]);
    let (_dir, file) = config("max_size = \"2X\"\nbwlimit = -1\nmax_outage = 1.5\n");
    let l = layers(&env, &file, None);

    let err = l.pick(&BWLIMIT, Some("20 mbit")).unwrap_err();
    assert_eq!(
        err.message,
        "the rate '20 mbit' from flag --bwlimit is not valid: unknown unit 'mbit'; use K, M or G"
    );
    assert!(err.hints[0].contains("e.g. 20M"), "{err:?}");

    let err = l.pick(&MAX_OUTAGE, None).unwrap_err();
    assert_eq!(
        err.message,
        "the duration '5M' from environment CHIEF_MAX_OUTAGE is not valid: unknown unit 'M'; use s, m, h or d"
    );
    assert!(err.hints[0].contains("e.g. 5m"), "{err:?}");

    let err = l.pick(&MAX_SIZE, None).unwrap_err();
    assert!(
        err.message.starts_with("the size '2X' from config ") && err.message.contains("(max_size)"),
        "{err}"
    );
    assert!(err.hints[0].contains("e.g. 2G"), "{err:?}");

    let err = l.pick(&BWLIMIT, None).unwrap_err();
    assert!(
        err.message.starts_with("the rate '-1' from config")
            && err.message.ends_with("it is negative"),
        "{err}"
    );

    // Neither an integer nor a string.
    let no_env = Env::default();
    let err = layers(&no_env, &file, None)
        .pick(&MAX_OUTAGE, None)
        .unwrap_err();
    assert!(
        err.message.ends_with(
            "max_outage must be a duration (an integer, or a string such as \"5m\"), found a float"
        ),
        "{err}"
    );
    assert_eq!(err.hints, ["write it as max_outage = \"5m\""]);
}

#[test]
fn a_bad_value_that_is_a_token_is_not_echoed() {
    let env = Env::from_pairs([("CHIEF_BWLIMIT", KEY)]);
    let no_file = Layers {
        env: &env,
        file: None,
        profile: None,
    };
    let err = no_file.pick(&BWLIMIT, None).unwrap_err();
    assert!(!format!("{err:?}").contains(&KEY[4..]), "{err:?}");
    assert!(err.message.contains("looks like an API token"), "{err}");
}

#[test]
fn ci_is_github_on_github_actions_gitlab_on_gitlab_ci_unless_turned_off() {
    let dry = |args: &[&str], env: &Env| {
        let mut a = vec!["--dry-run", "."];
        a.extend_from_slice(args);
        resolve_with(&cli(&a), env)
    };
    let plain = Env::from_pairs([("HOME", "/h")]);
    assert_eq!(dry(&[], &plain).unwrap().ci, Ci::Off);
    let gha = Env::from_pairs([
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_STEP_SUMMARY", "/run/summary.md"),
        ("GITHUB_OUTPUT", "/run/out"),
    ]);
    let files = GithubFiles {
        step_summary: Some("/run/summary.md".into()),
        output: Some("/run/out".into()),
    };
    assert_eq!(dry(&[], &gha).unwrap().ci, Ci::Github(files.clone()));
    assert_eq!(dry(&["--ci", "off"], &gha).unwrap().ci, Ci::Off);
    let off_by_env = Env::from_pairs([("GITHUB_ACTIONS", "true"), ("CHIEF_CI", "off")]);
    assert_eq!(dry(&[], &off_by_env).unwrap().ci, Ci::Off);
    // The flag wins over the variable.
    let on_by_flag = dry(&["--ci", "github"], &off_by_env).unwrap().ci;
    assert_eq!(on_by_flag, Ci::Github(GithubFiles::default()));
    // Only GitHub's own value turns auto on.
    let other = Env::from_pairs([("GITHUB_ACTIONS", "false")]);
    assert_eq!(dry(&[], &other).unwrap().ci, Ci::Off);
    let bad = dry(&[], &Env::from_pairs([("CHIEF_CI", "jenkins")])).unwrap_err();
    assert!(
        bad.message.contains("'jenkins'") && bad.message.contains("CHIEF_CI"),
        "{bad}"
    );

    // GitLab: its own variable, its exact value; GitHub's wins when both are set.
    let gitlab = Env::from_pairs([("GITLAB_CI", "true")]);
    assert_eq!(dry(&[], &gitlab).unwrap().ci, Ci::Gitlab);
    assert_eq!(dry(&["--ci", "off"], &gitlab).unwrap().ci, Ci::Off);
    let by_env = Env::from_pairs([("CHIEF_CI", "gitlab")]);
    assert_eq!(dry(&[], &by_env).unwrap().ci, Ci::Gitlab);
    assert_eq!(dry(&["--ci", "gitlab"], &plain).unwrap().ci, Ci::Gitlab);
    let other = Env::from_pairs([("GITLAB_CI", "1")]);
    assert_eq!(dry(&[], &other).unwrap().ci, Ci::Off);
    let both = Env::from_pairs([("GITLAB_CI", "true"), ("GITHUB_ACTIONS", "true")]);
    assert_eq!(
        dry(&[], &both).unwrap().ci,
        Ci::Github(GithubFiles::default())
    );
}

#[test]
fn shards_come_from_the_flag_or_the_environment_and_are_checked() {
    let dry = |args: &[&str], env: &Env| {
        let mut a = vec!["--dry-run", "."];
        a.extend_from_slice(args);
        resolve_with(&cli(&a), env)
    };
    let none = Env::default();
    assert_eq!(dry(&[], &none).unwrap().shard, None);
    let env = Env::from_pairs([("CHIEF_SHARD", "3/8")]);
    let shard = |index, count| Some(Shard { index, count });
    assert_eq!(dry(&[], &env).unwrap().shard, shard(3, 8));
    assert_eq!(dry(&["--shard", "1/2"], &env).unwrap().shard, shard(1, 2));
    let err = dry(&["--shard", "5/4"], &none).unwrap_err();
    assert!(
        err.message.contains("'5/4'") && err.message.contains("flag --shard"),
        "{err}"
    );
    assert!(err.hints[0].contains("2/4"), "{err:?}");
    let err = dry(&[], &Env::from_pairs([("CHIEF_SHARD", "0/4")])).unwrap_err();
    assert!(err.message.contains("environment CHIEF_SHARD"), "{err}");
    // No config file key: a config file's `shard` is an unknown key, never read.
    let (_dir, file) = config("shard = \"1/2\"\n");
    let l = layers(&none, &file, None);
    assert!(l
        .pick(&Key::<Shard>::env_only("--shard", "CHIEF_SHARD"), None)
        .unwrap()
        .is_none());
}

#[test]
fn a_watch_settles_for_min_age_waits_out_outages_and_keeps_its_record_by_the_cache() {
    let env = Env::from_pairs([
        ("XDG_CACHE_HOME", "/xdg/cache"),
        ("LOCALAPPDATA", r"C:\xdg"),
        ("CHIEF_API_KEY", "pat_abcdefghijklmnopqrstuvwxyz012345"),
        ("CHIEF_PROJECT_ID", "project_aaaaaaaaaaaaaaaaaaaa"),
    ]);
    let s = resolve_with(&cli(&["--watch", "x"]), &env).unwrap();
    let w = s.watch().cloned().unwrap();
    assert_eq!(w.settle, Duration::from_secs(2));
    assert_eq!(w.rescan_every, Duration::from_secs(60));
    assert!(!w.poll);
    let record = if cfg!(windows) {
        r"C:\xdg\chief\cache\sent.sqlite"
    } else {
        "/xdg/cache/chief/sent.sqlite"
    };
    assert_eq!(w.record, Some(PathBuf::from(record)));
    assert!(
        w.target.ends_with(" project_aaaaaaaaaaaaaaaaaaaa"),
        "{}",
        w.target
    );
    assert!(
        s.max_outage > Duration::from_secs(365 * 24 * 3600),
        "an outage is waited out"
    );

    // --min-age is the settle time, not a limit of the filter: a young file waits.
    let s = resolve_with(
        &cli(&[
            "--watch",
            "--min-age",
            "10s",
            "--rescan-interval",
            "5m",
            "x",
        ]),
        &env,
    )
    .unwrap();
    assert_eq!(s.watch().unwrap().settle, Duration::from_secs(10));
    assert_eq!(s.watch().unwrap().rescan_every, Duration::from_secs(300));
    let now = std::time::SystemTime::now();
    assert_eq!(
        s.filter.judge(1, || Ok(now), now).unwrap(),
        crate::walk::FilterVerdict::Take
    );
    let run = resolve_with(&cli(&["--min-age", "10s", "x"]), &env).unwrap();
    assert_eq!(
        run.filter.judge(1, || Ok(now), now).unwrap(),
        crate::walk::FilterVerdict::TooYoung
    );
    assert_eq!(run.max_outage, Duration::from_secs(300));

    // Given, --max-outage holds for a watch too; --no-cache: a record for the run only.
    let s = resolve_with(
        &cli(&["--watch", "--max-outage", "10m", "--no-cache", "x"]),
        &env,
    )
    .unwrap();
    assert_eq!(s.max_outage, Duration::from_secs(600));
    assert_eq!(s.watch().unwrap().record, None);
    let env = Env::from_pairs([
        ("CHIEF_API_KEY", "pat_abcdefghijklmnopqrstuvwxyz012345"),
        ("CHIEF_PROJECT_ID", "project_aaaaaaaaaaaaaaaaaaaa"),
        ("CHIEF_MAX_OUTAGE", "1m"),
    ]);
    let s = resolve_with(&cli(&["--watch", "x"]), &env).unwrap();
    assert_eq!(s.max_outage, Duration::from_secs(60));
}

#[test]
fn watch_flags_are_checked_before_the_credentials() {
    let env = Env::default();
    for (args, says) in [
        (
            &["--watch", "--dry-run", "x"][..],
            "--dry-run cannot be combined with --watch",
        ),
        (&["--poll", "x"][..], "--poll only applies to --watch"),
        (
            &["--watch", "--files-from", "l"][..],
            "--files-from cannot be combined",
        ),
    ] {
        let err = resolve_with(&cli(args), &env).unwrap_err();
        assert!(err.message.contains(says), "{args:?}: {err}");
    }
    let env = Env::from_pairs([
        ("CHIEF_API_KEY", "pat_abcdefghijklmnopqrstuvwxyz012345"),
        ("CHIEF_PROJECT_ID", "project_aaaaaaaaaaaaaaaaaaaa"),
    ]);
    let err = resolve_with(&cli(&["--watch", "--rescan-interval", "0", "x"]), &env).unwrap_err();
    assert!(
        err.message.contains("'0'") && err.message.contains("--rescan-interval"),
        "{err}"
    );
}

#[test]
fn jobs_default_to_auto_and_bwlimit_to_no_cap() {
    let env = Env::default();
    let s = resolve_with(&cli(&["--dry-run", "x"]), &env).unwrap();
    assert_eq!((s.jobs, s.bwlimit), (Jobs::Auto, None));
    let s = resolve_with(
        &cli(&["--dry-run", "-j", "12", "--bwlimit", "20M", "x"]),
        &env,
    )
    .unwrap();
    assert_eq!(s.jobs, Jobs::Fixed(12));
    assert_eq!(s.bwlimit, NonZeroU64::new(20 << 20));
    let env = Env::from_pairs([(ENV_JOBS, "auto"), (ENV_BWLIMIT, "512K")]);
    let s = resolve_with(&cli(&["--dry-run", "x"]), &env).unwrap();
    assert_eq!(
        (s.jobs, s.bwlimit),
        (Jobs::Auto, NonZeroU64::new(512 << 10))
    );
    let err = resolve_with(&cli(&["--dry-run", "-j", "0", "x"]), &env).unwrap_err();
    assert_eq!(
        err.message,
        "--jobs 0 is not valid: it is out of range (1 to 256)"
    );
}

#[test]
fn jobs_and_bwlimit_take_a_toml_integer_or_a_string() {
    let (_dir, file) =
        config("jobs = 32\nbwlimit = 20971520\n[profiles.s]\njobs = \"auto\"\nbwlimit = \"20M\"\n");
    let env = Env::default();
    for profile in [None, Some("s")] {
        let l = layers(&env, &file, profile);
        let bw = l.pick(&BWLIMIT, None).unwrap().unwrap().value;
        assert_eq!(bw, Rate(NonZeroU64::new(20 << 20)), "{profile:?}");
    }
    let jobs = |p| {
        layers(&env, &file, p)
            .pick(&JOBS, None)
            .unwrap()
            .unwrap()
            .value
    };
    assert_eq!(jobs(None), Jobs::Fixed(32));
    assert_eq!(jobs(Some("s")), Jobs::Auto);
}

/// `--show-config` shows every setting: each flag of the command line definition, each
/// environment variable the code reads and each config key has its line (or, for a
/// variable or a key, is named in the line it sets), unless it is no setting at all
/// (`show::NOT_SETTINGS`). A new flag, variable or key fails here until it is shown.
#[test]
fn show_config_lists_every_setting() {
    use super::show::{LINES, NOT_SETTINGS};

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "[profiles.ci]\n").unwrap();
    let config = config.to_str().unwrap().to_string();
    let shown = |args: &[&str], vars: &[(&str, &str)]| -> String {
        let mut pairs = vec![("CHIEF_CONFIG", config.as_str())];
        pairs.extend_from_slice(vars);
        let env = Env::from_pairs(pairs);
        let c = cli(args);
        let g = gather(&c, &env).unwrap();
        describe(&c, &env, &g)
    };

    // Every flag: a line of its own name (or the one `LINES` names).
    let text = shown(&["--watch", "x"], &[]);
    let names: Vec<&str> = text
        .lines()
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    let mut missing = Vec::new();
    for arg in crate::cli::command().get_arguments() {
        let id = arg.get_id().as_str();
        if NOT_SETTINGS.contains(&id) {
            continue;
        }
        let line = LINES
            .iter()
            .find(|(flag, _)| *flag == id)
            .map_or(id, |(_, line)| line);
        if !names.contains(&line) {
            missing.push(format!("--{} (line {line})", arg.get_long().unwrap_or(id)));
        }
    }
    assert!(
        missing.is_empty(),
        "not in --show-config: {missing:?}\n{text}"
    );

    // Every variable the code reads: named where it is in effect.
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut read = std::collections::BTreeSet::new();
    let mut files = vec![src];
    while let Some(p) = files.pop() {
        if p.is_dir() {
            files.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        let text = std::fs::read_to_string(&p).unwrap();
        // The code above its tests.
        let code = text.split("#[cfg(test)]").next().unwrap();
        for (i, _) in code.match_indices("\"CHIEF_") {
            let name: String = code[i + 1..]
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || *c == '_')
                .collect();
            read.insert(name);
        }
    }
    // Switches for the tests, and what build.rs sets at compile time (`env!`): not settings.
    let not_settings = [
        "CHIEF_UPLOAD_PRETEND_TERM",
        "CHIEF_HASH_CACHE_TEST_CHILD",
        "CHIEF_UPLOAD_COMMIT",
        "CHIEF_UPLOAD_COMMIT_DATE",
        "CHIEF_UPLOAD_TARGET",
    ];
    let proxy = "http://proxy.example:3128";
    let samples: [(&str, &str); 25] = [
        ("CHIEF_API_KEY", "pat_abcdefghijklmnopqrstuvwxyz012345"),
        ("CHIEF_PROJECT_ID", "project_aaaaaaaaaaaaaaaaaaaa"),
        ("CHIEF_API_URL", "https://api.example.com"),
        ("CHIEF_CONFIG", &config),
        ("CHIEF_PROFILE", "ci"),
        ("CHIEF_JOBS", "8"),
        ("CHIEF_BWLIMIT", "1M"),
        ("CHIEF_CA_CERT", "/nonexistent/ca.pem"),
        ("CHIEF_SHARD", "1/2"),
        ("CHIEF_CI", "github"),
        ("CHIEF_MAX_OUTAGE", "1m"),
        ("SSL_CERT_FILE", "/nonexistent/roots.pem"),
        ("SSL_CERT_DIR", "/nonexistent/certs"),
        ("HTTPS_PROXY", proxy),
        ("https_proxy", proxy),
        ("HTTP_PROXY", proxy),
        ("http_proxy", proxy),
        ("ALL_PROXY", proxy),
        ("all_proxy", proxy),
        ("NO_PROXY", "example.org"),
        ("no_proxy", "example.org"),
        ("NO_COLOR", "1"),
        ("GITHUB_ACTIONS", "true"),
        ("GITLAB_CI", "true"),
        ("TMPDIR", "/big/tmp"),
    ];
    for var in &read {
        assert!(
            not_settings.contains(&var.as_str()) || samples.iter().any(|(v, _)| v == var),
            "{var} is read by the code: give it a sample here and show it in --show-config"
        );
    }
    for (var, value) in samples {
        let text = shown(&["x"], &[(var, value)]);
        assert!(text.contains(var), "{var}={value} is not named:\n{text}");
    }

    // Every config key: its line says it came from the file.
    let key_values: [(&str, &str); 7] = [
        ("api_key", "\"pat_abcdefghijklmnopqrstuvwxyz012345\""),
        ("project_id", "\"project_aaaaaaaaaaaaaaaaaaaa\""),
        ("api_url", "\"https://api.example.com\""),
        ("ca_cert", "\"/nonexistent/ca.pem\""),
        ("jobs", "8"),
        ("bwlimit", "\"1M\""),
        ("max_outage", "\"1m\""),
    ];
    for key in CONFIG_KEYS {
        let (_, value) = key_values
            .iter()
            .find(|(k, _)| *k == key)
            .unwrap_or_else(|| panic!("config key {key}: give it a sample here"));
        let file = dir.path().join(format!("{key}.toml"));
        std::fs::write(&file, format!("{key} = {value}\n")).unwrap();
        let file = file.to_str().unwrap();
        let text = shown(&["--config", file, "x"], &[]);
        assert!(
            text.lines()
                .any(|l| l.starts_with(&format!("{key} ")) && l.contains(&format!("({key})"))),
            "config key {key} is not shown as coming from the file:\n{text}"
        );
    }
}

/// Found while fuzzing the config file: a quoted TOML key may hold a line break or a
/// terminal's escape code, and messages and warnings printed it as it was. Names from the
/// file are now quoted escaped, each message on one line.
#[test]
fn names_from_the_config_file_are_quoted_on_one_line() {
    let text = "\"x\\ny\" = 1\n[profiles.\"a\\nb\\u001b[31m\"]\nproject_id = 3\n[profiles.ok]\n\"p\\rq\" = 2\n";
    let mut warnings = Vec::new();
    let file = ConfigFile::parse(Path::new("c.toml"), text, &CONFIG_KEYS, &mut warnings).unwrap();
    let missing = file
        .lookup::<String>("project_id", Some("nope"))
        .unwrap_err();
    let wrong = file
        .lookup::<String>("project_id", Some("a\nb\u{1b}[31m"))
        .unwrap_err();
    let mut texts = warnings;
    for e in [missing, wrong] {
        texts.push(e.message);
        texts.extend(e.hints);
    }
    for t in &texts {
        assert!(!t.chars().any(char::is_control), "{t:?}");
    }
    assert!(
        texts
            .iter()
            .any(|t| t.contains(r"profiles.a\nb\u{1b}[31m.project_id must be")),
        "{texts:?}"
    );
}
