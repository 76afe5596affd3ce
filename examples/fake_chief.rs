//! A local fake of the Chief assets API, for a no-account demo, for benchmarks, and for
//! trying chief-upload against a network that is not a perfect loopback.
//!
//! It prints `CHIEF_API_URL=...`, `CHIEF_API_KEY=...` and `CHIEF_PROJECT_ID=...` (then,
//! with `--ca-out`, `CHIEF_CA_CERT=...`; with `--proxy`, `HTTPS_PROXY=...` and
//! `HTTP_PROXY=...`), all in one write, then serves on 127.0.0.1 until killed (Ctrl-C /
//! SIGTERM; stdin is ignored, so it can run in the background). For example:
//!
//! ```sh
//! cargo run --release --example fake_chief -- --tls --ca-out /tmp/fake-ca.pem > /tmp/fake.env &
//! FAKE=$!
//! until [ "$(wc -l < /tmp/fake.env)" -ge 3 ]; do sleep 0.1; done
//! set -a; . /tmp/fake.env; set +a
//! chief-upload ...
//! kill $FAKE
//! ```
//!
//! Options (`--help` lists them with their values):
//! * where: `--api-port N`, `--storage-port N` (default: ephemeral), `--url-ttl SECS`
//!   (lifetime of upload URLs, default 900), `--no-record` (keep no request log: for
//!   long benchmarks);
//! * TLS: `--tls` (https on both listeners, certificates from a private CA made at
//!   start), `--tls-cert trusted|untrusted|expired|wrong-name` (a bad certificate for
//!   the fatal-error cases; implies `--tls`), `--ca-out FILE` (write the CA's PEM, for
//!   `--ca-cert` or `SSL_CERT_FILE`);
//! * proxy: `--proxy` (an HTTP proxy: CONNECT tunnels and plain-http forwarding),
//!   `--proxy-auth USER:PASS` (one that demands these Basic credentials);
//! * the link: `--latency-ms MS`, `--api-latency-ms MS`, `--storage-latency-ms MS` (delay
//!   before every answer), `--link-mbps N` (each upload body at most N MB/s, paced by
//!   sleeping), `--shared-link-mbps N` (all upload bodies together at most N MB/s),
//!   `--no-verify` (trust the signed Content-MD5 instead of computing it: the CPU of a
//!   remote storage is not this machine's);
//! * pushback: `--api-max-in-flight N` (429 to a request arriving while N are served),
//!   `--retry-after SECS` (on those 429s, default 1);
//! * outages: `--outage api|storage|both`, `--outage-after N` (requests that pass first,
//!   default 0), `--outage-for SECS` (default: endless), `--outage-mode
//!   STATUS|reset|refuse` (default 503), `--outage-retry-after SECS`;
//! * chaos: `--chaos FRACTION` (that fraction of requests get a 5xx or a reset),
//!   `--chaos-on api|storage|both` (default both), `--chaos-seed N`;
//! * measuring: `--stats FILE` (one JSON line per second: per listener, that second's
//!   requests, body bytes and peak in flight, and the totals so far).
//!
//! With `--s3 HOST:PORT` it serves no fake at all but the presigning Chief API of
//! `fake_chief::presign` (the interop suite's): the upload URLs are genuine SigV4
//! presigned PUTs for the real S3 server at that address, which must hold the bucket
//! `chief-interop` and know the credentials of `fake_chief::presign` (for s3s-fs:
//! `s3s-fs --host 127.0.0.1 --port P --access-key chiefinteropaccess --secret-key
//! chief-interop-secret-0123456789abcdef ROOT`, with a folder `ROOT/chief-interop`). The
//! other options do not apply to it.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::{CommandFactory, Parser, ValueEnum};
use fake_chief::{
    Cert, Chaos, FakeChief, InFlightLimit, Link, Origins, Outage, OutageMode, Target,
};

/// A local fake of the Chief assets API and its signed-URL storage, on 127.0.0.1.
///
/// Prints the environment for chief-upload (CHIEF_API_URL, CHIEF_API_KEY,
/// CHIEF_PROJECT_ID; CHIEF_CA_CERT with --ca-out; HTTPS_PROXY and HTTP_PROXY with
/// --proxy) and serves until killed.
#[derive(Parser, Debug)]
#[command(name = "fake_chief")]
struct Args {
    /// API port (0: ephemeral).
    #[arg(long, value_name = "N", default_value_t = 0)]
    api_port: u16,
    /// Storage port (0: ephemeral).
    #[arg(long, value_name = "N", default_value_t = 0)]
    storage_port: u16,
    /// Lifetime of the upload URLs issued, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 900)]
    url_ttl: u64,
    /// Keep no request log (for long benchmarks).
    #[arg(long)]
    no_record: bool,

    /// https on both listeners, with certificates from a private CA made at start.
    #[arg(long, help_heading = "TLS")]
    tls: bool,
    /// The certificate the listeners present (implies --tls): a good one, or one bad in
    /// one way, for the errors no retry can mend.
    #[arg(long, value_name = "KIND", value_enum, help_heading = "TLS")]
    tls_cert: Option<CertKind>,
    /// Write the private CA's PEM here (for --ca-cert or SSL_CERT_FILE); needs --tls
    /// or --tls-cert.
    #[arg(long, value_name = "FILE", help_heading = "TLS")]
    ca_out: Option<PathBuf>,

    /// Run an HTTP proxy too: CONNECT tunnels (https) and absolute-form forwarding
    /// (plain http).
    #[arg(long, help_heading = "Proxy")]
    proxy: bool,
    /// The proxy demands these Basic credentials (implies --proxy); 407 otherwise.
    #[arg(long, value_name = "USER:PASS", value_parser = parse_credentials, help_heading = "Proxy")]
    proxy_auth: Option<(String, String)>,

    /// Delay before every answer of both listeners, in milliseconds.
    #[arg(long, value_name = "MS", help_heading = "Link")]
    latency_ms: Option<u64>,
    /// Delay before every API answer, in milliseconds (overrides --latency-ms).
    #[arg(long, value_name = "MS", help_heading = "Link")]
    api_latency_ms: Option<u64>,
    /// Delay before every storage answer, in milliseconds (overrides --latency-ms).
    #[arg(long, value_name = "MS", help_heading = "Link")]
    storage_latency_ms: Option<u64>,
    /// Each upload body is received at most this fast, in MB/s (10^6 bytes).
    #[arg(long, value_name = "MB_PER_S", help_heading = "Link")]
    link_mbps: Option<f64>,
    /// All upload bodies together are received at most this fast, in MB/s (10^6
    /// bytes): one link shared by every connection.
    #[arg(long, value_name = "MB_PER_S", help_heading = "Link")]
    shared_link_mbps: Option<f64>,
    /// Trust the signed Content-MD5 instead of computing it (the CPU of a remote
    /// storage is not this machine's).
    #[arg(long, help_heading = "Link")]
    no_verify: bool,

    /// Answer 429 to an API request arriving while this many are being served.
    #[arg(long, value_name = "N", help_heading = "Pushback")]
    api_max_in_flight: Option<usize>,
    /// Retry-After of those 429 answers, in seconds.
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 1,
        help_heading = "Pushback"
    )]
    retry_after: u32,

    /// A whole-origin outage on these listeners.
    #[arg(long, value_name = "ORIGINS", value_enum, help_heading = "Outage")]
    outage: Option<OriginsArg>,
    /// Requests to the covered listeners that pass before the outage starts.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 0,
        requires = "outage",
        help_heading = "Outage"
    )]
    outage_after: usize,
    /// How long the outage lasts, in seconds (default: until killed).
    #[arg(
        long,
        value_name = "SECS",
        requires = "outage",
        help_heading = "Outage"
    )]
    outage_for: Option<f64>,
    /// What the outage does: answer this status (e.g. 503), `reset` connections after
    /// the request head, or `refuse` connections (stop listening).
    #[arg(long, value_name = "STATUS|reset|refuse", default_value = "503",
          value_parser = parse_outage_mode, requires = "outage", help_heading = "Outage")]
    outage_mode: OutageMode,
    /// Retry-After of the outage's status answers, in seconds.
    #[arg(
        long,
        value_name = "SECS",
        requires = "outage",
        help_heading = "Outage"
    )]
    outage_retry_after: Option<u32>,

    /// Fail this fraction of requests (0 to 1) at random, with 500, 502, 503 or 504
    /// (no Retry-After) or a reset, while the others succeed.
    #[arg(long, value_name = "FRACTION", value_parser = parse_fraction, help_heading = "Chaos")]
    chaos: Option<f64>,
    /// The listeners chaos applies to.
    #[arg(
        long,
        value_name = "ORIGINS",
        value_enum,
        default_value = "both",
        requires = "chaos",
        help_heading = "Chaos"
    )]
    chaos_on: OriginsArg,
    /// Seed of the chaos draws (the same seed fails the same requests, in order).
    #[arg(long, value_name = "N", requires = "chaos", help_heading = "Chaos")]
    chaos_seed: Option<u64>,

    /// Append one JSON line per second to FILE: per listener, the second's requests,
    /// body bytes received and peak requests in flight, and the totals so far
    /// (connections, TLS handshakes, 429s, outage requests, chaos, statuses).
    #[arg(long, value_name = "FILE", help_heading = "Measuring")]
    stats: Option<PathBuf>,

    /// Serve, instead of the fake, a Chief API that presigns genuine SigV4 PUT URLs for
    /// the S3 server at this address (bucket `chief-interop`, the credentials of
    /// fake_chief::presign), which stores and checks the uploads. No other option
    /// applies; it keeps every request in memory.
    #[arg(long, value_name = "HOST:PORT", help_heading = "Real S3", conflicts_with_all = [
        "api_port", "storage_port", "url_ttl", "no_record", "tls", "tls_cert", "ca_out",
        "proxy", "proxy_auth", "latency_ms", "api_latency_ms", "storage_latency_ms",
        "link_mbps", "shared_link_mbps", "no_verify", "api_max_in_flight", "retry_after",
        "outage", "outage_after", "outage_for", "outage_mode", "outage_retry_after", "chaos",
        "chaos_on", "chaos_seed", "stats",
    ])]
    s3: Option<SocketAddr>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum CertKind {
    Trusted,
    Untrusted,
    Expired,
    WrongName,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum OriginsArg {
    Api,
    Storage,
    Both,
}

impl From<OriginsArg> for Origins {
    fn from(o: OriginsArg) -> Origins {
        match o {
            OriginsArg::Api => Origins::Api,
            OriginsArg::Storage => Origins::Storage,
            OriginsArg::Both => Origins::Both,
        }
    }
}

fn parse_credentials(s: &str) -> Result<(String, String), String> {
    match s.split_once(':') {
        Some((user, pass)) if !user.is_empty() => Ok((user.to_string(), pass.to_string())),
        _ => Err("expected USER:PASS, e.g. alice:s3cret".to_string()),
    }
}

fn parse_outage_mode(s: &str) -> Result<OutageMode, String> {
    match s {
        "reset" => Ok(OutageMode::Reset),
        "refuse" => Ok(OutageMode::Refuse),
        _ => match s.parse::<u16>() {
            Ok(status) if (100..=599).contains(&status) => Ok(OutageMode::Status {
                status,
                retry_after: None,
            }),
            _ => Err("expected an HTTP status (e.g. 503), `reset` or `refuse`".to_string()),
        },
    }
}

fn parse_fraction(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(f) if (0.0..=1.0).contains(&f) => Ok(f),
        _ => Err("expected a fraction from 0 to 1, e.g. 0.15".to_string()),
    }
}

fn mbps(m: f64) -> u64 {
    (m * 1e6) as u64
}

fn main() {
    let args = Args::parse();
    if let Some(s3) = args.s3 {
        serve_presigning(s3);
    }
    let tls = args.tls || args.tls_cert.is_some();
    if args.ca_out.is_some() && !tls {
        Args::command()
            .error(
                clap::error::ErrorKind::MissingRequiredArgument,
                "--ca-out needs --tls or --tls-cert (without TLS there is no CA)",
            )
            .exit();
    }
    let mut builder = FakeChief::builder()
        .ports(args.api_port, args.storage_port)
        .url_ttl(Duration::from_secs(args.url_ttl))
        .record(!args.no_record);
    if tls {
        builder = builder.tls(match args.tls_cert.unwrap_or(CertKind::Trusted) {
            CertKind::Trusted => Cert::Trusted,
            CertKind::Untrusted => Cert::Untrusted,
            CertKind::Expired => Cert::Expired,
            CertKind::WrongName => Cert::WrongName,
        });
    }
    match &args.proxy_auth {
        Some((user, pass)) => builder = builder.proxy_auth(user, pass),
        None if args.proxy => builder = builder.proxy(),
        None => {}
    }
    let ms = |v: Option<u64>| Duration::from_millis(v.or(args.latency_ms).unwrap_or(0));
    builder = builder.with_knobs(|k| {
        k.api.latency = ms(args.api_latency_ms);
        k.storage.latency = ms(args.storage_latency_ms);
        if args.link_mbps.is_some() || args.no_verify {
            k.link = Some(Link {
                bytes_per_sec: args.link_mbps.map_or(u64::MAX, mbps),
                verify: !args.no_verify,
            });
        }
        k.shared_link = args.shared_link_mbps.map(mbps);
        k.api.max_in_flight = args
            .api_max_in_flight
            .map(|max| InFlightLimit::new(max, Some(args.retry_after)));
        k.outage = args.outage.map(|origins| {
            let mode = match args.outage_mode.clone() {
                OutageMode::Status { status, .. } => OutageMode::Status {
                    status,
                    retry_after: args.outage_retry_after.map(|s| s.to_string()),
                },
                other => other,
            };
            Outage {
                origins: origins.into(),
                after: args.outage_after,
                duration: args.outage_for.map(Duration::from_secs_f64),
                mode,
            }
        });
        if let Some(fraction) = args.chaos {
            let mut chaos = Chaos::new(fraction);
            if let Some(seed) = args.chaos_seed {
                chaos.seed = seed;
            }
            let origins = Origins::from(args.chaos_on);
            for target in [Target::Api, Target::Storage] {
                if origins.covers(target) {
                    k.origin_mut(target).chaos = Some(chaos);
                }
            }
        }
    });
    let chief = match builder.start() {
        Ok(chief) => chief,
        Err(e) => {
            eprintln!("fake_chief: cannot start on 127.0.0.1: {e}");
            std::process::exit(1);
        }
    };
    let mut env = format!(
        "CHIEF_API_URL={}\nCHIEF_API_KEY={}\nCHIEF_PROJECT_ID={}\n",
        chief.api_url(),
        fake_chief::TOKEN,
        fake_chief::PROJECT
    );
    if let (Some(path), Some(pem)) = (&args.ca_out, chief.ca_pem()) {
        if let Err(e) = std::fs::write(path, pem) {
            eprintln!("fake_chief: cannot write {}: {e}", path.display());
            std::process::exit(1);
        }
        env.push_str(&format!("CHIEF_CA_CERT={}\n", path.display()));
    }
    if let Some(proxy) = chief.proxy_url() {
        env.push_str(&format!("HTTPS_PROXY={proxy}\nHTTP_PROXY={proxy}\n"));
    }
    print_env(&env);
    let proxy = chief
        .proxy_addr()
        .map(|a| format!(", proxy on {a}"))
        .unwrap_or_default();
    eprintln!(
        "fake_chief: API on {}, storage on {}{proxy}; serving until killed",
        chief.api_url(),
        chief.storage_url()
    );
    match args.stats {
        Some(path) => write_stats(&chief, &path),
        // The default SIGINT/SIGTERM dispositions end the process.
        None => loop {
            std::thread::park();
        },
    }
}

/// Prints the environment for chief-upload.
fn print_env(env: &str) {
    // One write, so a reader waiting for three lines never sees half of them.
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(env.as_bytes());
    let _ = out.flush();
}

/// `--s3`: the presigning API in front of a real S3 server, until killed.
fn serve_presigning(s3: SocketAddr) -> ! {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("fake_chief: cannot start a runtime: {e}");
            std::process::exit(1);
        }
    };
    // It serves on the runtime's workers; the runtime lives as long as this function.
    let api = runtime.block_on(async { fake_chief::presign::Api::start(s3) });
    print_env(&format!(
        "CHIEF_API_URL={}\nCHIEF_API_KEY={}\nCHIEF_PROJECT_ID={}\n",
        api.url,
        fake_chief::TOKEN,
        fake_chief::PROJECT
    ));
    eprintln!(
        "fake_chief: presigning API on {}, upload URLs for the S3 server at {s3}; serving until killed",
        api.url
    );
    loop {
        std::thread::park();
    }
}

/// Every second, one JSON line with the second just ended and the totals.
fn write_stats(chief: &FakeChief, path: &std::path::Path) -> ! {
    let mut file = match std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        Ok(f) => f,
        Err(e) => {
            eprintln!("fake_chief: cannot open {}: {e}", path.display());
            std::process::exit(1);
        }
    };
    let start = Instant::now();
    let mut second = 0usize;
    loop {
        let next = start + Duration::from_secs(second as u64 + 1);
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
        let listener = |target: Target| {
            let s = chief
                .series(target)
                .get(second)
                .copied()
                .unwrap_or_default();
            let t = chief.stats(target);
            let statuses: serde_json::Map<String, serde_json::Value> = t
                .statuses
                .iter()
                .map(|(k, v)| (k.to_string(), (*v).into()))
                .collect();
            serde_json::json!({
                "requests": s.requests,
                "bytes": s.bytes,
                "peak_in_flight": s.peak_in_flight,
                "total": {
                    "connections": t.connections,
                    "tls_handshakes": t.tls_handshakes,
                    "tls_failures": t.tls_failures,
                    "requests": t.requests,
                    "in_flight": t.in_flight,
                    "peak_in_flight": t.peak_in_flight,
                    "throttled": t.throttled,
                    "outage_requests": t.outage_requests,
                    "chaos": t.chaos,
                    "body_bytes": t.body_bytes,
                    "statuses": statuses,
                },
            })
        };
        let line = serde_json::json!({
            "second": second,
            "api": listener(Target::Api),
            "storage": listener(Target::Storage),
        });
        if writeln!(file, "{line}").is_err() {
            eprintln!("fake_chief: cannot write {}", path.display());
            std::process::exit(1);
        }
        second += 1;
    }
}
