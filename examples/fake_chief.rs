//! A local fake of the Chief assets API, for a no-account demo and for benchmarks.
//!
//! It prints `CHIEF_API_URL=...`, `CHIEF_API_KEY=...` and `CHIEF_PROJECT_ID=...` (three
//! lines, flushed), then serves on 127.0.0.1 until killed (Ctrl-C / SIGTERM; stdin is
//! ignored, so it can run in the background). For example:
//!
//! ```sh
//! cargo run --release --example fake_chief > /tmp/fake.env &
//! FAKE=$!
//! until [ "$(wc -l < /tmp/fake.env)" -ge 3 ]; do sleep 0.1; done
//! set -a; . /tmp/fake.env; set +a
//! chief-upload ...
//! kill $FAKE
//! ```
//!
//! Options: `--api-port N`, `--storage-port N` (default: ephemeral), `--url-ttl SECS`
//! (lifetime of upload URLs, default 900), `--no-record` (keep no request log: for long
//! benchmarks), `--link-mbps N` (emulate a link: each upload body is received at most
//! N MB/s, paced by sleeping), `--no-verify` (trust the signed Content-MD5 instead of
//! computing it: the CPU of a remote storage is not this machine's).

#[path = "../tests/fake/mod.rs"]
mod fake;

use std::io::Write;
use std::time::Duration;

fn usage() -> ! {
    eprintln!("usage: fake_chief [--api-port N] [--storage-port N] [--url-ttl SECS] [--no-record] [--link-mbps MB_PER_S] [--no-verify]");
    std::process::exit(2);
}

fn main() {
    let mut api_port = 0u16;
    let mut storage_port = 0u16;
    let mut url_ttl = None;
    let mut record = true;
    let mut link_mbps: Option<f64> = None;
    let mut verify = true;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| -> String {
            args.next().unwrap_or_else(|| {
                eprintln!("fake_chief: {name} needs a value");
                usage()
            })
        };
        match arg.as_str() {
            "--api-port" => api_port = value("--api-port").parse().unwrap_or_else(|_| usage()),
            "--storage-port" => {
                storage_port = value("--storage-port").parse().unwrap_or_else(|_| usage())
            }
            "--url-ttl" => {
                url_ttl = Some(Duration::from_secs(
                    value("--url-ttl").parse().unwrap_or_else(|_| usage()),
                ))
            }
            "--no-record" => record = false,
            "--link-mbps" => {
                link_mbps = Some(
                    value("--link-mbps")
                        .parse::<f64>()
                        .unwrap_or_else(|_| usage()),
                )
            }
            "--no-verify" => verify = false,
            "-h" | "--help" => usage(),
            other => {
                eprintln!("fake_chief: unknown argument {other}");
                usage()
            }
        }
    }
    let chief = match fake::FakeChief::start_on(api_port, storage_port) {
        Ok(chief) => chief,
        Err(e) => {
            eprintln!("fake_chief: cannot listen on 127.0.0.1: {e}");
            std::process::exit(1);
        }
    };
    chief.set_recording(record);
    if link_mbps.is_some() || !verify {
        chief.set_storage_link(Some(fake::Link {
            bytes_per_sec: link_mbps.map_or(u64::MAX, |m| (m * 1e6) as u64),
            verify,
        }));
    }
    if let Some(ttl) = url_ttl {
        chief.set_url_ttl(ttl);
    }
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "CHIEF_API_URL={}", chief.api_url());
    let _ = writeln!(out, "CHIEF_API_KEY={}", fake::TOKEN);
    let _ = writeln!(out, "CHIEF_PROJECT_ID={}", fake::PROJECT);
    let _ = out.flush();
    drop(out);
    eprintln!(
        "fake_chief: API on {}, storage on {}; serving until killed",
        chief.api_url(),
        chief.storage_url()
    );
    // The default SIGINT/SIGTERM dispositions end the process.
    loop {
        std::thread::park();
    }
}
