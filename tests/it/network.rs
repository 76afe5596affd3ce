//! The real network's trust and proxies: https against the fake's private CA (trusted
//! through `--ca-cert`, `CHIEF_CA_CERT`, the config file, `SSL_CERT_FILE` or
//! `SSL_CERT_DIR`), bad CA files, HTTP CONNECT and SOCKS5 proxies with credentials that
//! never reach the output, `NO_PROXY`, and keep-alive pools over TLS. Counts and
//! outcomes only: the fake and the SOCKS server here count what they saw.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::{files_by_path, json_lines, summary, text, TestEnv};
use assert_cmd::Command;
use fake_chief::{Cert, FakeChief, Target};
use serde_json::Value;

/// Generous upper bound for what the fake sees after the client has moved on.
const PROMPT: Duration = Duration::from_secs(20);

const USER: &str = "alice";
/// Choose a password that appears nowhere else, so finding it in the output is a leak.
const PASSWORD: &str = "Pr0xyPa55w0rdXyZ";

fn https_fake() -> FakeChief {
    FakeChief::builder().tls(Cert::Trusted).start().unwrap()
}

/// Writes the fake's CA certificate into the test tree and returns its path.
fn ca_file(env: &TestEnv, fake: &FakeChief, name: &str) -> PathBuf {
    let p = env.dir.path().join(name);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, fake.ca_pem().unwrap()).unwrap();
    p
}

/// A CA that signed nothing the fake presents.
fn unrelated_ca_pem() -> String {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "unrelated test CA");
    params.self_signed(&key).unwrap().pem()
}

/// `n` small files whose content is new to any fake (no dedup hit across runs).
fn files(env: &TestEnv, n: usize) {
    let tag = env.dir.path().display().to_string();
    for i in 0..n {
        env.file(&format!("f{i:04}.txt"), format!("{tag} file {i}\n"));
    }
}

/// Runs `cmd` with `--json .`; returns the exit code, the file lines, the summary, stdout
/// and stderr.
struct Run {
    code: Option<i32>,
    files: BTreeMap<String, Value>,
    summary: Value,
    stdout: String,
    stderr: String,
}

fn run(mut cmd: Command) -> Run {
    let out = cmd.arg("--json").arg(".").output().unwrap();
    let lines = json_lines(&out.stdout);
    Run {
        code: out.status.code(),
        files: files_by_path(&lines),
        summary: summary(&lines),
        stdout: text(&out.stdout),
        stderr: text(&out.stderr),
    }
}

fn assert_all_uploaded(r: &Run, n: u64) {
    assert_eq!(r.code, Some(0), "stderr: {}", r.stderr);
    assert_eq!(r.summary["uploaded"], n, "{}", r.summary);
    assert_eq!(r.files.len() as u64, n);
}

/// The fake spoke TLS on both origins and stored what was sent.
fn assert_over_tls(fake: &FakeChief, n: usize) {
    for t in [Target::Api, Target::Storage] {
        let s = fake.stats(t);
        assert!(s.tls_handshakes >= 1, "{t:?}: {s:?}");
        assert_eq!(s.tls_failures, 0, "{t:?}: {s:?}");
    }
    assert_eq!(fake.assets(fake_chief::PROJECT).len(), n);
}

// ---- trust ----

#[test]
fn https_trusted_through_the_ca_cert_flag() {
    let fake = https_fake();
    let env = TestEnv::new();
    files(&env, 3);
    let ca = ca_file(&env, &fake, "ca.pem");
    let mut cmd = env.cmd_for(&fake);
    cmd.arg("--ca-cert").arg(&ca);
    assert_all_uploaded(&run(cmd), 3);
    assert_over_tls(&fake, 3);
}

#[test]
fn https_trusted_through_chief_ca_cert() {
    let fake = https_fake();
    let env = TestEnv::new();
    files(&env, 3);
    let ca = ca_file(&env, &fake, "ca.pem");
    let mut cmd = env.cmd_for(&fake);
    cmd.env("CHIEF_CA_CERT", &ca);
    assert_all_uploaded(&run(cmd), 3);
    assert_over_tls(&fake, 3);
}

#[test]
fn https_trusted_through_the_config_file_relative_to_it() {
    let fake = https_fake();
    let env = TestEnv::new();
    files(&env, 2);
    let config = env.config("ca_cert = \"certs/company-ca.pem\"\n");
    let ca = config.parent().unwrap().join("certs/company-ca.pem");
    std::fs::create_dir_all(ca.parent().unwrap()).unwrap();
    std::fs::write(&ca, fake.ca_pem().unwrap()).unwrap();
    assert_all_uploaded(&run(env.cmd_for(&fake)), 2);
    assert_over_tls(&fake, 2);
}

#[test]
fn https_trusted_through_ssl_cert_file_and_ssl_cert_dir() {
    let fake = https_fake();
    let env = TestEnv::new();
    files(&env, 2);
    let ca = ca_file(&env, &fake, "bundle/ca-bundle.crt");
    let mut cmd = env.cmd_for(&fake);
    cmd.env("SSL_CERT_FILE", &ca);
    assert_all_uploaded(&run(cmd), 2);

    // A folder of certificates, with other files beside them, as /etc/ssl/certs is.
    let env = TestEnv::new();
    files(&env, 2);
    let dir = env.dir.path().join("certs");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("README"), "not a certificate\n").unwrap();
    std::fs::write(dir.join("other.pem"), unrelated_ca_pem()).unwrap();
    std::fs::write(dir.join("fake.pem"), fake.ca_pem().unwrap()).unwrap();
    let missing = env.dir.path().join("no-such-folder");
    let list = std::env::join_paths([missing, dir]).unwrap();
    let mut cmd = env.cmd_for(&fake);
    cmd.env("SSL_CERT_DIR", list);
    assert_all_uploaded(&run(cmd), 2);
    assert_over_tls(&fake, 4);
}

#[test]
fn ssl_cert_file_replaces_the_system_roots_and_ca_cert_adds_to_them() {
    let fake = https_fake();
    let env = TestEnv::new();
    files(&env, 2);
    let other = env.dir.path().join("other-ca.pem");
    std::fs::write(&other, unrelated_ca_pem()).unwrap();

    // Only the unrelated CA is trusted: the fake's certificate is refused, nothing is
    // stored. (How the run stops is the failure taxonomy's business; here only that it
    // does not upload.)
    let mut cmd = env.cmd_for(&fake);
    cmd.env("SSL_CERT_FILE", &other).args(["--retries", "0"]);
    let r = run(cmd);
    assert_ne!(r.code, Some(0), "stderr: {}", r.stderr);
    assert_eq!(r.summary["uploaded"], 0, "{}", r.summary);
    assert!(fake.assets(fake_chief::PROJECT).is_empty());
    assert!(fake.storage_requests().is_empty());
    fake.wait_for(PROMPT, |f| f.stats(Target::Api).tls_failures >= 1);
    assert_eq!(fake.stats(Target::Api).tls_handshakes, 0);

    // `--ca-cert` adds to whatever set is in force, SSL_CERT_FILE's included.
    let ca = ca_file(&env, &fake, "ca.pem");
    let mut cmd = env.cmd_for(&fake);
    cmd.env("SSL_CERT_FILE", &other).arg("--ca-cert").arg(&ca);
    assert_all_uploaded(&run(cmd), 2);
}

#[test]
fn a_ca_file_that_cannot_be_used_is_a_usage_error_naming_it() {
    let fake = https_fake();
    let env = TestEnv::new();
    files(&env, 1);
    let missing = env.dir.path().join("missing-ca.pem");
    let garbage = env.dir.path().join("garbage-ca.pem");
    std::fs::write(&garbage, "this is not a certificate\n").unwrap();
    let key_only = env.dir.path().join("key-only.pem");
    std::fs::write(
        &key_only,
        rcgen::KeyPair::generate().unwrap().serialize_pem(),
    )
    .unwrap();
    let broken = env.dir.path().join("broken-ca.pem");
    std::fs::write(
        &broken,
        "-----BEGIN CERTIFICATE-----\naGVsbG8gd29ybGQ=\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let empty_dir = env.dir.path().join("empty-certs");
    std::fs::create_dir_all(&empty_dir).unwrap();

    let cases: Vec<(Command, String, &str)> = vec![
        {
            let mut c = env.cmd_for(&fake);
            c.arg("--ca-cert").arg(&missing);
            (c, missing.display().to_string(), "cannot be read")
        },
        {
            let mut c = env.cmd_for(&fake);
            c.env("CHIEF_CA_CERT", &garbage);
            (c, garbage.display().to_string(), "holds no certificate")
        },
        {
            let mut c = env.cmd_for(&fake);
            c.arg("--ca-cert").arg(&key_only);
            (c, key_only.display().to_string(), "holds no certificate")
        },
        {
            let mut c = env.cmd_for(&fake);
            c.arg("--ca-cert").arg(&broken);
            (c, broken.display().to_string(), "not usable")
        },
        {
            let mut c = env.cmd_for(&fake);
            c.env("SSL_CERT_FILE", &missing);
            (c, missing.display().to_string(), "SSL_CERT_FILE")
        },
        {
            let mut c = env.cmd_for(&fake);
            c.env("SSL_CERT_DIR", &empty_dir);
            (c, empty_dir.display().to_string(), "SSL_CERT_DIR")
        },
    ];
    for (mut cmd, path, why) in cases {
        let out = cmd.arg(".").output().unwrap();
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{path}: {stderr}");
        assert!(
            stderr.contains(&path) && stderr.contains(why),
            "{path} / {why}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    assert!(fake.requests().is_empty(), "nothing was sent");

    // A dry run needs no network, so it reads no CA file.
    let out = env
        .cmd()
        .arg("--ca-cert")
        .arg(&missing)
        .args(["--dry-run", "."])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

// ---- proxies ----

fn proxied_fake() -> FakeChief {
    FakeChief::builder()
        .tls(Cert::Trusted)
        .proxy_auth(USER, PASSWORD)
        .start()
        .unwrap()
}

fn assert_no_password(r: &Run) {
    for (name, out) in [("stdout", &r.stdout), ("stderr", &r.stderr)] {
        assert!(!out.contains(PASSWORD), "the password is in {name}: {out}");
    }
}

#[test]
fn https_proxy_with_credentials_tunnels_both_origins_and_never_shows_the_password() {
    let fake = proxied_fake();
    let env = TestEnv::new();
    files(&env, 4);
    let ca = ca_file(&env, &fake, "ca.pem");
    let mut cmd = env.cmd_for(&fake);
    cmd.env("HTTPS_PROXY", fake.proxy_url().unwrap())
        .arg("--ca-cert")
        .arg(&ca)
        .arg("-vv");
    let r = run(cmd);
    assert_all_uploaded(&r, 4);
    assert_no_password(&r);
    let tunnels = fake.proxy_tunnels();
    for t in [Target::Api, Target::Storage] {
        assert!(
            tunnels.get(&fake.authority(t)).copied().unwrap_or(0) >= 1,
            "{t:?} not tunnelled: {tunnels:?}"
        );
    }
    assert!(fake.proxy_forwards().is_empty());
    assert!(
        fake.proxy_events().iter().all(|e| e.status == 200),
        "{:?}",
        fake.proxy_events()
    );
    // The fake's origins saw no proxy credentials: they stay with the proxy.
    assert!(fake
        .requests()
        .iter()
        .all(|r| !r.has_header("proxy-authorization")));
}

#[test]
fn lower_case_and_all_proxy_variables_are_honoured() {
    let fake = proxied_fake();
    let env = TestEnv::new();
    files(&env, 2);
    let ca = ca_file(&env, &fake, "ca.pem");
    // curl reads the lower case first: the upper-case one here points nowhere. (On
    // Windows a process cannot be given both: names there are one whatever their case.)
    let mut cmd = env.cmd_for(&fake);
    if cfg!(unix) {
        cmd.env("HTTPS_PROXY", "http://127.0.0.1:1");
    }
    cmd.env("https_proxy", fake.proxy_url().unwrap())
        .arg("--ca-cert")
        .arg(&ca);
    assert_all_uploaded(&run(cmd), 2);
    let after_first = fake.proxy_tunnels().values().sum::<usize>();
    assert!(after_first >= 2);

    let env = TestEnv::new();
    files(&env, 2);
    let mut cmd = env.cmd_for(&fake);
    cmd.env("ALL_PROXY", fake.proxy_url().unwrap())
        .arg("--ca-cert")
        .arg(&ca);
    assert_all_uploaded(&run(cmd), 2);
    assert!(fake.proxy_tunnels().values().sum::<usize>() > after_first);
}

#[test]
fn a_refused_proxy_password_is_never_shown_either() {
    let fake = proxied_fake();
    let env = TestEnv::new();
    files(&env, 2);
    let ca = ca_file(&env, &fake, "ca.pem");
    let wrong = "Wr0ngPa55w0rdAbC";
    let mut cmd = env.cmd_for(&fake);
    cmd.env("HTTPS_PROXY", fake.proxy_url_with(USER, wrong).unwrap())
        .arg("--ca-cert")
        .arg(&ca)
        .args(["-vv", "--retries", "0"]);
    let r = run(cmd);
    assert_ne!(r.code, Some(0));
    assert_eq!(r.summary["uploaded"], 0);
    for out in [&r.stdout, &r.stderr] {
        assert!(!out.contains(wrong) && !out.contains(PASSWORD), "{out}");
    }
    assert!(fake.proxy_events().iter().any(|e| e.status == 407));
    assert!(fake.requests().is_empty(), "nothing got past the proxy");
}

#[test]
fn no_proxy_sends_matching_hosts_direct() {
    let fake = proxied_fake();
    let env = TestEnv::new();
    files(&env, 3);
    let ca = ca_file(&env, &fake, "ca.pem");
    let mut cmd = env.cmd_for(&fake);
    cmd.env("HTTPS_PROXY", fake.proxy_url().unwrap())
        .env("NO_PROXY", "localhost, 127.0.0.0/8")
        .arg("--ca-cert")
        .arg(&ca);
    assert_all_uploaded(&run(cmd), 3);
    assert!(fake.proxy_events().is_empty(), "{:?}", fake.proxy_events());
}

#[test]
fn plain_http_to_loopback_goes_through_http_proxy() {
    let fake = FakeChief::builder()
        .proxy_auth(USER, PASSWORD)
        .start()
        .unwrap();
    let env = TestEnv::new();
    files(&env, 2);
    let mut cmd = env.cmd_for(&fake);
    cmd.env("HTTP_PROXY", fake.proxy_url().unwrap()).arg("-vv");
    let r = run(cmd);
    assert_all_uploaded(&r, 2);
    assert_no_password(&r);
    let forwards = fake.proxy_forwards();
    for t in [Target::Api, Target::Storage] {
        assert!(forwards.contains_key(&fake.authority(t)), "{forwards:?}");
    }
}

#[test]
fn show_config_shows_the_proxy_in_use_with_its_password_redacted() {
    let env = TestEnv::new();
    let ca = env.dir.path().join("ca.pem");
    std::fs::write(&ca, unrelated_ca_pem()).unwrap();
    let proxy = format!("http://{USER}:{PASSWORD}@proxy.corp.example:3128");
    let out = env
        .cmd()
        .env("HTTPS_PROXY", &proxy)
        .env("CHIEF_API_URL", "https://api.chief.example")
        .env("CHIEF_CA_CERT", &ca)
        .arg("--show-config")
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(!stdout.contains(PASSWORD) && !text(&out.stderr).contains(PASSWORD));
    let line = |name: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no {name} line: {stdout}"))
            .to_string()
    };
    let proxy_line = line("proxy");
    assert!(
        proxy_line.contains("http://alice:***@proxy.corp.example:3128")
            && proxy_line.contains("environment HTTPS_PROXY"),
        "{proxy_line}"
    );
    let ca_line = line("ca_cert");
    assert!(
        ca_line.contains(&ca.display().to_string())
            && ca_line.contains("1 certificate")
            && ca_line.contains("environment CHIEF_CA_CERT"),
        "{ca_line}"
    );
    assert!(line("roots").contains("system"), "{stdout}");

    // NO_PROXY covering the API host: the API goes direct, and the line says why.
    let out = env
        .cmd()
        .env("HTTPS_PROXY", &proxy)
        .env("CHIEF_API_URL", "https://api.chief.example")
        .env("no_proxy", ".chief.example")
        .env("SSL_CERT_FILE", &ca)
        .arg("--show-config")
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert!(!stdout.contains(PASSWORD), "{stdout}");
    let proxy_line = stdout.lines().find(|l| l.starts_with("proxy ")).unwrap();
    assert!(
        proxy_line.contains("direct (the API host is in no_proxy)")
            && proxy_line.contains("environment no_proxy"),
        "{proxy_line}"
    );
    let roots = stdout.lines().find(|l| l.starts_with("roots ")).unwrap();
    assert!(roots.contains("environment SSL_CERT_FILE"), "{roots}");

    // A proxy value that is not usable: the usage error hides the password too.
    let out = env
        .cmd()
        .env(
            "HTTPS_PROXY",
            format!("ftp://{USER}:{PASSWORD}@proxy.corp.example"),
        )
        .env("CHIEF_API_KEY", fake_chief::TOKEN)
        .env("CHIEF_PROJECT_ID", fake_chief::PROJECT)
        .arg(".")
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("HTTPS_PROXY") && stderr.contains("ftp") && !stderr.contains(PASSWORD),
        "{stderr}"
    );
}

// ---- SOCKS5 ----

/// A SOCKS5 server (RFC 1928, with RFC 1929 user/password) on its own threads, for the
/// one test that needs it: it records each CONNECT's `host:port` and relays bytes.
struct Socks5 {
    addr: SocketAddr,
    connects: Arc<Mutex<Vec<String>>>,
}

impl Socks5 {
    fn start(user: &'static str, password: &'static str) -> Socks5 {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let connects = Arc::new(Mutex::new(Vec::new()));
        let seen = connects.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let seen = seen.clone();
                std::thread::spawn(move || {
                    let _ = socks5_session(client, user, password, &seen);
                });
            }
        });
        Socks5 { addr, connects }
    }

    fn connects(&self) -> Vec<String> {
        self.connects.lock().unwrap().clone()
    }
}

fn read_n(s: &mut TcpStream, n: usize) -> std::io::Result<Vec<u8>> {
    let mut buf = vec![0; n];
    s.read_exact(&mut buf)?;
    Ok(buf)
}

fn socks5_session(
    mut client: TcpStream,
    user: &str,
    password: &str,
    seen: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    let head = read_n(&mut client, 2)?;
    let methods = read_n(&mut client, head[1] as usize)?;
    if head[0] != 5 || !methods.contains(&2) {
        return client.write_all(&[5, 0xff]);
    }
    client.write_all(&[5, 2])?;
    let ver_ulen = read_n(&mut client, 2)?;
    let u = read_n(&mut client, ver_ulen[1] as usize)?;
    let plen = read_n(&mut client, 1)?;
    let p = read_n(&mut client, plen[0] as usize)?;
    if u != user.as_bytes() || p != password.as_bytes() {
        return client.write_all(&[1, 1]);
    }
    client.write_all(&[1, 0])?;
    let req = read_n(&mut client, 4)?;
    let host = match req[3] {
        1 => Ipv4Addr::from(<[u8; 4]>::try_from(read_n(&mut client, 4)?).unwrap()).to_string(),
        3 => {
            let len = read_n(&mut client, 1)?;
            String::from_utf8_lossy(&read_n(&mut client, len[0] as usize)?).into_owned()
        }
        4 => format!(
            "[{}]",
            Ipv6Addr::from(<[u8; 16]>::try_from(read_n(&mut client, 16)?).unwrap())
        ),
        _ => return Ok(()),
    };
    let port = read_n(&mut client, 2)?;
    let target = format!("{host}:{}", u16::from_be_bytes([port[0], port[1]]));
    if req[1] != 1 {
        return client.write_all(&[5, 7, 0, 1, 0, 0, 0, 0, 0, 0]);
    }
    let upstream = match TcpStream::connect(&target) {
        Ok(s) => s,
        Err(_) => return client.write_all(&[5, 5, 0, 1, 0, 0, 0, 0, 0, 0]),
    };
    seen.lock().unwrap().push(target);
    client.write_all(&[5, 0, 0, 1, 0, 0, 0, 0, 0, 0])?;
    let (mut c2, mut u2) = (client.try_clone()?, upstream.try_clone()?);
    let up = std::thread::spawn(move || {
        let _ = std::io::copy(&mut c2, &mut u2);
        let _ = u2.shutdown(std::net::Shutdown::Write);
    });
    let (mut client, mut upstream) = (client, upstream);
    let _ = std::io::copy(&mut upstream, &mut client);
    let _ = client.shutdown(std::net::Shutdown::Write);
    let _ = up.join();
    Ok(())
}

#[test]
fn a_socks5_proxy_with_credentials_carries_both_origins() {
    let fake = https_fake();
    let socks = Socks5::start(USER, PASSWORD);
    let env = TestEnv::new();
    files(&env, 3);
    let ca = ca_file(&env, &fake, "ca.pem");
    let mut cmd = env.cmd_for(&fake);
    cmd.env(
        "ALL_PROXY",
        format!("socks5h://{USER}:{PASSWORD}@{}", socks.addr),
    )
    .arg("--ca-cert")
    .arg(&ca)
    .arg("-vv");
    let r = run(cmd);
    assert_all_uploaded(&r, 3);
    assert_no_password(&r);
    let connects = socks.connects();
    for t in [Target::Api, Target::Storage] {
        assert!(connects.contains(&fake.authority(t)), "{connects:?}");
    }
    assert_over_tls(&fake, 3);
}

// ---- connection reuse ----

#[test]
fn tls_connections_are_reused_within_the_pool() {
    const FILES: usize = 1_000;
    const JOBS: u64 = 8;
    let fake = FakeChief::builder()
        .tls(Cert::Trusted)
        .record(false)
        .start()
        .unwrap();
    let env = TestEnv::new();
    files(&env, FILES);
    let ca = ca_file(&env, &fake, "ca.pem");
    let mut cmd = env.cmd_for(&fake);
    cmd.arg("--ca-cert")
        .arg(&ca)
        .args(["--jobs", &JOBS.to_string(), "--no-cache"]);
    let r = run(cmd);
    assert_all_uploaded(&r, FILES as u64);
    for t in [Target::Api, Target::Storage] {
        let s = fake.stats(t);
        assert_eq!(s.requests, FILES as u64, "{t:?}: {s:?}");
        // Typically exactly JOBS. hyper may open a connection for a request just before
        // another one comes back to the pool (it races the two); the spare is kept for
        // reuse, and the pool holds 2 x JOBS, so the count stays within that.
        assert!(
            (1..=2 * JOBS).contains(&s.tls_handshakes),
            "{t:?}: {} TLS handshakes for {FILES} requests with {JOBS} jobs",
            s.tls_handshakes
        );
        assert_eq!(s.connections, s.tls_handshakes, "{t:?}: {s:?}");
    }
}
