//! The settings' unit tests: resolution, precedence, the config file, validation, and the
//! `--show-config` view.

use clap::Parser;

use super::file::ConfigFile;
use super::validate::check_api_url;
use super::*;

fn cli(args: &[&str]) -> Cli {
    Cli::parse_from(std::iter::once("chief-upload").chain(args.iter().copied()))
}

fn resolve_with(cli: &Cli, env: &Env, stdin_used: &mut bool) -> Result<Settings, UsageError> {
    resolve(cli, env, output_settings(cli, env), stdin_used)
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
        warnings: vec![],
    };
    assert!(!describe(&g).contains("hunter2"), "{}", describe(&g));
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
    let err = validate(&g).unwrap_err();
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
    let mut used = false;
    let g = gather(&cli(&["--config", p, "x"]), &env, &mut used).unwrap();
    assert_eq!(g.project.unwrap().value, "project_aaaaaaaaaaaaaaaaaaaa");
    let g = gather(
        &cli(&["--config", p, "--profile", "ci", "x"]),
        &env,
        &mut used,
    )
    .unwrap();
    assert_eq!(
        g.project.as_ref().unwrap().value,
        "project_bbbbbbbbbbbbbbbbbbbb"
    );
    assert_eq!(
        g.api_url.value, "https://top.example",
        "profiles inherit top-level keys"
    );
    let env = Env::from_pairs([(ENV_PROJECT, "project_cccccccccccccccccccc")]);
    let g = gather(
        &cli(&["--config", p, "--profile", "ci", "x"]),
        &env,
        &mut used,
    )
    .unwrap();
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
        &mut used,
    )
    .unwrap();
    assert_eq!(g.project.unwrap().value, "project_dddddddddddddddddddd");
    let err = gather(
        &cli(&["--config", p, "--profile", "nope", "x"]),
        &Env::default(),
        &mut used,
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
    let mut used = false;
    let err = gather(
        &cli(&["--config", path.to_str().unwrap(), "x"]),
        &Env::default(),
        &mut used,
    )
    .unwrap_err();
    assert!(err.message.contains("not valid TOML"), "{err}");
    assert!(!format!("{err:?}").contains("abcdefghijklmnop"), "{err:?}");
}

#[test]
fn out_of_range_durations_are_errors_not_panics() {
    for args in [
        ["--timeout", "1e300"],
        ["--timeout", "0"],
        ["--timeout", "NaN"],
        ["--retry-max-delay", "1e300"],
        ["--retry-max-delay", "inf"],
    ] {
        let c = cli(&[args[0], args[1], "--dry-run", "x"]);
        let mut used = false;
        let err = resolve_with(&c, &Env::default(), &mut used).unwrap_err();
        assert!(err.message.contains(args[0]), "{err}");
    }
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
            let mut used = false;
            match gather(c, &Env::default(), &mut used) {
                Ok(g) => {
                    let _ = validate(&g);
                    let _ = describe(&g);
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
    let mut used = false;
    let s = resolve_with(&cli(&["--dry-run", "x"]), &Env::default(), &mut used).unwrap();
    assert!(matches!(s.mode, Mode::DryRun) && s.mode.is_dry_run());

    let dir = tempfile::tempdir().unwrap();
    let env = Env::from_pairs([
        ("CHIEF_API_KEY", KEY),
        ("CHIEF_PROJECT_ID", PROJECT_A),
        ("HOME", dir.path().to_str().unwrap()),
    ]);
    let s = resolve_with(&cli(&["x"]), &env, &mut used).unwrap();
    let Mode::Upload(api) = &s.mode else {
        panic!("an upload: {:?}", s.mode)
    };
    assert_eq!(api.project.as_str(), PROJECT_A);
    assert_eq!(api.key.expose(), KEY);
    assert_eq!(api.base_url.as_str(), "https://api.chief.app/");
    assert!(!s.mode.is_dry_run());
}

#[test]
fn the_filter_is_compiled_once_in_the_settings() {
    let mut used = false;
    let c = cli(&["--dry-run", "--include", "*.png", "--exclude", "tmp/", "x"]);
    let s = resolve_with(&c, &Env::default(), &mut used).unwrap();
    assert!(s.filter.wants_file("a/b.png"));
    assert!(!s.filter.wants_file("a/b.jpg"));
    assert!(!s.filter.wants_dir("tmp"));

    let err = resolve_with(
        &cli(&["--dry-run", "--include", "[", "x"]),
        &Env::default(),
        &mut used,
    )
    .unwrap_err();
    assert!(
        err.message.contains("invalid --include pattern '['"),
        "{err}"
    );
}

#[cfg(target_os = "linux")]
#[test]
fn the_cache_lives_in_the_platform_cache_directory_unless_turned_off() {
    let env = Env::from_pairs([("XDG_CACHE_HOME", "/xdg/cache")]);
    let mut used = false;
    let s = resolve_with(&cli(&["--dry-run", "x"]), &env, &mut used).unwrap();
    assert_eq!(
        s.cache,
        Some(PathBuf::from("/xdg/cache/chief/hashes.sqlite"))
    );
    let s = resolve_with(&cli(&["--dry-run", "--no-cache", "x"]), &env, &mut used).unwrap();
    assert_eq!(s.cache, None);
}
