//! An in-process fake of the Chief assets API (`POST /v1/assets`) and of the signed-URL
//! storage it hands out, faithful to `docs/api.md`: it refuses what the real service
//! refuses, records every request, and can inject faults.
//!
//! Two listeners on 127.0.0.1 (two origins): the API and the storage, plain http or
//! https with certificates made at start; optionally a third, an HTTP proxy. All run on
//! one tokio runtime (2 workers) in a thread of their own, so `FakeChief::start()` works
//! from sync and async tests alike. Dropping the `FakeChief` shuts everything down.
//!
//! Beside per-request faults ([`Rule`]), it emulates a network ([`Knobs`]: latency,
//! bandwidth, pushback, outages, chaos) and counts what it saw per listener ([`Stats`],
//! [`Second`]). `FakeChief::builder()` sets everything up in one place.
//!
//! [`presign`] is the other Chief API, the one the interop suite puts in front of a real
//! S3 server: it hands out genuine SigV4 presigned URLs.
//!
//! A crate of its own (a dev-dependency of chief-upload, never a dependency) so the
//! integration tests, the interop suite, the examples and the benchmarks share one build
//! of it. It does not depend on chief-upload.

mod knobs;
mod listen;
pub mod presign;
mod proxy;
mod server;
mod tls;
pub mod util;

use std::collections::{BTreeMap, HashMap};
use std::net::{SocketAddr, TcpListener as StdListener};
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub use knobs::{
    Chaos, InFlightLimit, Knobs, Link, OriginKnobs, Origins, Outage, OutageMode, OutageWindow,
    Phase, Second, Stats,
};
pub use proxy::ProxyEvent;
pub use tls::Cert;

use knobs::{Counters, Pacer, Signal};

/// A valid personal access token known to the fake; it may use [`PROJECT`].
pub const TOKEN: &str = "pat_FakeChiefTok3n0123456789abcdWXYZ";
/// A well-formed token the fake does not know (401).
pub const UNKNOWN_TOKEN: &str = "pat_Unknown0Token0123456789abcdVWXYZ";
/// The project [`TOKEN`] may use.
pub const PROJECT: &str = "project_fakechief00000000001";
/// A well-formed project [`TOKEN`] has no access to (403).
pub const OTHER_PROJECT: &str = "project_otherproject00000002";

/// Default lifetime of issued upload URLs.
pub const DEFAULT_URL_TTL: Duration = Duration::from_secs(15 * 60);

/// Which listener a request reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    Api,
    Storage,
}

impl Target {
    fn index(self) -> usize {
        match self {
            Target::Api => 0,
            Target::Storage => 1,
        }
    }
}

/// One request as the fake saw it (no bodies, only their sizes).
#[derive(Debug, Clone)]
pub struct Recorded {
    pub target: Target,
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// Lower-case names, arrival order.
    pub headers: Vec<(String, String)>,
    /// The API body, when it parsed as JSON.
    pub json: Option<serde_json::Value>,
    /// Body bytes actually received.
    pub body_len: u64,
    /// What the fake answered; 0 if it dropped the connection (or has not answered yet).
    pub status: u16,
    /// When the request's head arrived.
    pub at: std::time::Instant,
}

impl Recorded {
    /// First value of a header, name case-insensitive.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn has_header(&self, name: &str) -> bool {
        self.header(name).is_some()
    }
}

/// Content the fake holds for a project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAsset {
    pub asset_id: String,
    pub md5: String,
    pub size: u64,
    pub filename: String,
    pub mime_type: String,
    pub status: String,
}

/// A fault to inject. The first rule (in insertion order) matching a request applies.
#[derive(Debug, Clone)]
pub struct Rule {
    pub target: Target,
    /// Only requests about this filename (API: the body's `filename`; storage: the
    /// filename the signed URL was issued for).
    pub filename: Option<String>,
    /// How many matching requests it applies to; `usize::MAX` = always.
    pub times: usize,
    /// How many matching requests it lets pass untouched before it applies.
    pub skip: usize,
    pub action: Action,
}

impl Rule {
    pub fn api(times: usize, action: Action) -> Rule {
        Rule {
            target: Target::Api,
            filename: None,
            times,
            skip: 0,
            action,
        }
    }

    pub fn storage(times: usize, action: Action) -> Rule {
        Rule {
            target: Target::Storage,
            filename: None,
            times,
            skip: 0,
            action,
        }
    }

    /// Restrict the rule to requests about `name`.
    pub fn for_file(mut self, name: &str) -> Rule {
        self.filename = Some(name.to_string());
        self
    }

    /// Let the first `n` matching requests pass untouched (no later rule applies to them
    /// either), then apply.
    pub fn after(mut self, n: usize) -> Rule {
        self.skip = n;
        self
    }

    /// Apply to every matching request.
    pub fn always(mut self) -> Rule {
        self.times = usize::MAX;
        self
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Answer this instead. Default body: `{"code":"fake.injected",...}` on the API, an
    /// S3-style XML `<Error>` on storage.
    Status {
        status: u16,
        retry_after: Option<String>,
        body: Option<String>,
    },
    /// Drop the connection without answering (after reading the headers; on the API
    /// after reading the small JSON body).
    Reset,
    /// Storage: read `after` body bytes (frame granularity), then drop the connection.
    /// On the API this behaves as `Reset`.
    ResetMidBody { after: u64 },
    /// Wait, then behave normally.
    Delay(Duration),
    /// Never answer (hold the connection until the client gives up).
    Stall,
    /// API 201 answers carry this `upload_method` instead of "PUT" (storage then expects
    /// that method). Consumed only by 201 answers.
    UploadMethod(String),
    /// API 201 answers carry a URL that expires this soon (0 = already expired).
    /// Consumed only by 201 answers.
    ExpiresIn(Duration),
    /// Storage stores but answers an ETag that is a different hex md5. Consumed only by
    /// successful uploads.
    WrongEtag,
    /// Hold the request (before its body is read) until the test calls
    /// [`Gate::release`], then behave normally.
    Gate(Gate),
}

/// A barrier a test controls: requests matching an `Action::Gate` rule wait at it until
/// released; the test can wait until a number of requests have arrived.
#[derive(Clone)]
pub struct Gate(Arc<GateInner>);

struct GateInner {
    arrived: Mutex<usize>,
    arrival: std::sync::Condvar,
    open: tokio::sync::watch::Sender<bool>,
}

impl Gate {
    pub fn new() -> Gate {
        Gate(Arc::new(GateInner {
            arrived: Mutex::new(0),
            arrival: std::sync::Condvar::new(),
            open: tokio::sync::watch::channel(false).0,
        }))
    }

    /// Let every held request (and any later one) through.
    pub fn release(&self) {
        self.0.open.send_replace(true);
    }

    /// How many requests reached the gate so far.
    pub fn arrived(&self) -> usize {
        *lock(&self.0.arrived)
    }

    /// Blocks until `n` requests reached the gate; panics after `within`.
    pub fn wait_arrived(&self, n: usize, within: Duration) {
        let guard = lock(&self.0.arrived);
        let (guard, timeout) = self
            .0
            .arrival
            .wait_timeout_while(guard, within, |a| *a < n)
            .unwrap_or_else(|e| e.into_inner());
        assert!(
            !timeout.timed_out(),
            "fake chief: only {} of {n} requests reached the gate within {within:?}",
            *guard
        );
    }

    /// Server side: count the arrival, then wait for the release.
    async fn pass(&self) {
        {
            let mut a = lock(&self.0.arrived);
            *a += 1;
            self.0.arrival.notify_all();
        }
        let mut open = self.0.open.subscribe();
        let _ = open.wait_for(|o| *o).await;
    }
}

impl Default for Gate {
    fn default() -> Gate {
        Gate::new()
    }
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Gate(arrived: {})", self.arrived())
    }
}

impl PartialEq for Gate {
    fn eq(&self, other: &Gate) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Gate {}

impl Action {
    /// `Status` with the default body and no `Retry-After`.
    pub fn status(status: u16) -> Action {
        Action::Status {
            status,
            retry_after: None,
            body: None,
        }
    }

    /// `Status` with a `Retry-After` header (seconds or HTTP-date, verbatim).
    pub fn retry_after(status: u16, retry_after: &str) -> Action {
        Action::Status {
            status,
            retry_after: Some(retry_after.to_string()),
            body: None,
        }
    }

    /// `Status` with a custom body (sent as JSON if it starts with `{`, XML if with `<`).
    /// In the body, `{api_key}` becomes the request's `X-API-Key`, `{query}` its query
    /// string and `{signature}` the query's `signature` value (a server echoing secrets).
    pub fn status_body(status: u16, body: &str) -> Action {
        Action::Status {
            status,
            retry_after: None,
            body: Some(body.to_string()),
        }
    }

    /// Actions decided when the request arrives (the others modify a success answer).
    fn is_pre(&self) -> bool {
        matches!(
            self,
            Action::Status { .. }
                | Action::Reset
                | Action::ResetMidBody { .. }
                | Action::Delay(_)
                | Action::Stall
                | Action::Gate(_)
        )
    }
}

/// MD5 of `bytes`, lower-case hex.
pub fn md5_hex(bytes: &[u8]) -> String {
    use md5::{Digest, Md5};
    util::hex(&Md5::digest(bytes))
}

/// An upload URL as issued.
#[derive(Debug, Clone)]
struct Upload {
    project: String,
    filename: String,
    mime_type: String,
    /// The md5 the client declared, if any (then `Content-MD5` is signed).
    md5: Option<String>,
    method: String,
    /// Signed headers, names as issued (mixed case).
    headers: Vec<(String, String)>,
}

#[derive(Default)]
struct ProjectStore {
    assets: Vec<StoredAsset>,
    by_md5: HashMap<String, usize>,
    by_id: HashMap<String, usize>,
}

struct Inner {
    tokens: HashMap<String, Vec<String>>,
    projects: HashMap<String, ProjectStore>,
    /// asset id -> project, for every stored asset.
    asset_project: HashMap<String, String>,
    /// asset id -> issued upload.
    uploads: HashMap<String, Upload>,
    rules: Vec<Rule>,
    url_ttl: Duration,
    redirect: Option<String>,
}

/// The outage window and a generation, so a timer of a replaced outage does nothing.
#[derive(Default)]
struct OutageState {
    window: OutageWindow,
    generation: u64,
}

struct Shared {
    api_url: String,
    storage_url: String,
    secret: [u8; 32],
    entropy: util::Entropy,
    inner: Mutex<Inner>,
    records: Mutex<Records>,
    recording: AtomicBool,
    knobs: Mutex<Knobs>,
    outage: Mutex<OutageState>,
    /// The shared link, when `Knobs::shared_link` is set.
    pacer: Mutex<Option<Pacer>>,
    chaos_draws: AtomicU64,
    /// Indexed by `Target::index`.
    counters: [Counters; 2],
    controls: [listen::Control; 2],
    signal: Arc<Signal>,
}

#[derive(Default)]
struct Records {
    /// Bumped by `clear_requests`, so in-flight requests do not write into a new list.
    generation: u64,
    list: Vec<Recorded>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking test thread must not make every later call panic too.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    fn knobs(&self) -> Knobs {
        lock(&self.knobs).clone()
    }

    fn counters(&self, target: Target) -> &Counters {
        &self.counters[target.index()]
    }

    fn control(&self, target: Target) -> &listen::Control {
        &self.controls[target.index()]
    }

    /// Listen again on every listener an outage closed.
    fn reopen_all(&self) {
        for control in &self.controls {
            if let Err(e) = control.reopen() {
                eprintln!(
                    "fake chief: cannot listen again on port {}: {e}",
                    control.port
                );
            }
        }
    }

    fn take_rule(
        &self,
        target: Target,
        filename: Option<&str>,
        wanted: impl Fn(&Action) -> bool,
    ) -> Option<Action> {
        let mut inner = lock(&self.inner);
        let matching = |r: &Rule| {
            r.target == target
                && r.times > 0
                && r.filename.as_deref().is_none_or(|f| Some(f) == filename)
                && wanted(&r.action)
        };
        // A first matching rule still letting requests pass counts this one, and nothing
        // applies.
        if let Some(r) = inner.rules.iter_mut().find(|r| matching(r)) {
            if r.skip > 0 {
                r.skip -= 1;
                return None;
            }
        }
        let pos = inner
            .rules
            .iter()
            .position(|r| matching(r) && r.skip == 0)?;
        let rule = &mut inner.rules[pos];
        let action = rule.action.clone();
        if rule.times != usize::MAX {
            rule.times -= 1;
            if rule.times == 0 {
                inner.rules.remove(pos);
            }
        }
        Some(action)
    }

    fn new_asset_id(&self) -> String {
        format!(
            "asset_{}",
            self.entropy.token("asset", util::LOWER_ALNUM, 20)
        )
    }

    /// Store (or overwrite, when the same asset id is uploaded again) an asset.
    fn store(&self, project: &str, asset: StoredAsset) {
        let mut inner = lock(&self.inner);
        inner
            .asset_project
            .insert(asset.asset_id.clone(), project.to_string());
        let store = inner.projects.entry(project.to_string()).or_default();
        if let Some(&i) = store.by_id.get(&asset.asset_id) {
            let old_md5 = std::mem::replace(&mut store.assets[i], asset.clone()).md5;
            if store.by_md5.get(&old_md5) == Some(&i) {
                store.by_md5.remove(&old_md5);
            }
            store.by_md5.entry(asset.md5).or_insert(i);
        } else {
            let i = store.assets.len();
            store.by_id.insert(asset.asset_id.clone(), i);
            store.by_md5.entry(asset.md5.clone()).or_insert(i);
            store.assets.push(asset);
        }
    }
}

/// Everything about a fake to start, in one place: ports, TLS, the proxy, and the
/// initial [`Knobs`]. `FakeChief::builder()` makes one.
#[derive(Debug, Clone)]
pub struct Builder {
    api_port: u16,
    storage_port: u16,
    api_tls: Option<Cert>,
    storage_tls: Option<Cert>,
    proxy: Option<Option<(String, String)>>,
    knobs: Knobs,
    record: bool,
    url_ttl: Duration,
}

impl Builder {
    /// Listen on these ports (0 = ephemeral, the default).
    pub fn ports(mut self, api: u16, storage: u16) -> Builder {
        self.api_port = api;
        self.storage_port = storage;
        self
    }

    /// https on both listeners, presenting a certificate of this kind; the fake's CA is
    /// `FakeChief::ca_pem`.
    pub fn tls(self, cert: Cert) -> Builder {
        self.api_tls(Some(cert)).storage_tls(Some(cert))
    }

    /// https (`Some`) or plain http (`None`) on the API listener alone.
    pub fn api_tls(mut self, cert: Option<Cert>) -> Builder {
        self.api_tls = cert;
        self
    }

    /// https (`Some`) or plain http (`None`) on the storage listener alone.
    pub fn storage_tls(mut self, cert: Option<Cert>) -> Builder {
        self.storage_tls = cert;
        self
    }

    /// Start an HTTP proxy (CONNECT and absolute-form) that lets anyone through.
    pub fn proxy(mut self) -> Builder {
        self.proxy = Some(None);
        self
    }

    /// Start an HTTP proxy that demands these Basic credentials.
    pub fn proxy_auth(mut self, user: &str, password: &str) -> Builder {
        self.proxy = Some(Some((user.to_string(), password.to_string())));
        self
    }

    pub fn knobs(mut self, knobs: Knobs) -> Builder {
        self.knobs = knobs;
        self
    }

    /// Change the initial knobs in place, e.g. `.with_knobs(|k| k.api.latency = ms(50))`.
    pub fn with_knobs(mut self, f: impl FnOnce(&mut Knobs)) -> Builder {
        f(&mut self.knobs);
        self
    }

    /// Keep a log of every request (default on; off for long benchmarks).
    pub fn record(mut self, on: bool) -> Builder {
        self.record = on;
        self
    }

    /// Lifetime of the signed URLs issued (default 15 min).
    pub fn url_ttl(mut self, ttl: Duration) -> Builder {
        self.url_ttl = ttl;
        self
    }

    pub fn start(self) -> std::io::Result<FakeChief> {
        FakeChief::launch(self)
    }
}

impl Default for Builder {
    fn default() -> Builder {
        Builder {
            api_port: 0,
            storage_port: 0,
            api_tls: None,
            storage_tls: None,
            proxy: None,
            knobs: Knobs::default(),
            record: true,
            url_ttl: DEFAULT_URL_TTL,
        }
    }
}

/// The running fake. Dropping it shuts every listener and connection down.
pub struct FakeChief {
    shared: Arc<Shared>,
    ca_pem: Option<String>,
    proxy: Option<Arc<proxy::Proxy>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

fn bind(port: u16) -> std::io::Result<StdListener> {
    let listener = StdListener::bind(("127.0.0.1", port))?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

impl FakeChief {
    /// Start on ephemeral ports, plain http. Panics if it cannot bind.
    pub fn start() -> FakeChief {
        FakeChief::builder()
            .start()
            .expect("fake chief: bind 127.0.0.1")
    }

    /// Start on the given ports (0 = ephemeral).
    pub fn start_on(api_port: u16, storage_port: u16) -> std::io::Result<FakeChief> {
        FakeChief::builder().ports(api_port, storage_port).start()
    }

    pub fn builder() -> Builder {
        Builder::default()
    }

    fn launch(b: Builder) -> std::io::Result<FakeChief> {
        let api = bind(b.api_port)?;
        let storage = bind(b.storage_port)?;
        let proxy_listener = b.proxy.as_ref().map(|_| bind(0)).transpose()?;
        let pki = if b.api_tls.is_some() || b.storage_tls.is_some() {
            Some(tls::Pki::new()?)
        } else {
            None
        };
        let acceptor = |cert: Option<Cert>| -> std::io::Result<_> {
            match (cert, &pki) {
                (Some(cert), Some(pki)) => Ok(Some(tokio_rustls::TlsAcceptor::from(
                    pki.server_config(cert)?,
                ))),
                _ => Ok(None),
            }
        };
        let (api_tls, storage_tls) = (acceptor(b.api_tls)?, acceptor(b.storage_tls)?);
        let url = |l: &StdListener, tls: bool| -> std::io::Result<String> {
            let scheme = if tls { "https" } else { "http" };
            Ok(format!("{scheme}://127.0.0.1:{}", l.local_addr()?.port()))
        };
        let api_url = url(&api, api_tls.is_some())?;
        let storage_url = url(&storage, storage_tls.is_some())?;
        let (api_control, api_commands) = listen::Control::new(api.local_addr()?.port());
        let (storage_control, storage_commands) =
            listen::Control::new(storage.local_addr()?.port());
        let signal = Arc::new(Signal::default());
        let proxy = match (&proxy_listener, b.proxy) {
            (Some(l), Some(credentials)) => Some(Arc::new(proxy::Proxy::new(
                l.local_addr()?,
                credentials,
                signal.clone(),
            ))),
            _ => None,
        };
        let entropy = util::Entropy::new();
        let secret = entropy.bytes32("secret");
        let mut tokens = HashMap::new();
        tokens.insert(TOKEN.to_string(), vec![PROJECT.to_string()]);
        let epoch = Instant::now();
        let shared = Arc::new(Shared {
            api_url,
            storage_url,
            secret,
            entropy,
            inner: Mutex::new(Inner {
                tokens,
                projects: HashMap::new(),
                asset_project: HashMap::new(),
                uploads: HashMap::new(),
                rules: Vec::new(),
                url_ttl: b.url_ttl,
                redirect: None,
            }),
            records: Mutex::new(Records::default()),
            recording: AtomicBool::new(b.record),
            pacer: Mutex::new(b.knobs.shared_link.map(Pacer::new)),
            knobs: Mutex::new(b.knobs),
            outage: Mutex::new(OutageState::default()),
            chaos_draws: AtomicU64::new(0),
            counters: [
                Counters::new(epoch, signal.clone()),
                Counters::new(epoch, signal.clone()),
            ],
            controls: [api_control, storage_control],
            signal: signal.clone(),
        });
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("fake-chief")
            .enable_all()
            .build()?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<std::io::Result<()>>();
        let task_shared = shared.clone();
        let task_proxy = proxy.clone();
        let thread = std::thread::Builder::new()
            .name("fake-chief-main".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let listeners = (|| {
                        Ok::<_, std::io::Error>((
                            tokio::net::TcpListener::from_std(api)?,
                            tokio::net::TcpListener::from_std(storage)?,
                            proxy_listener
                                .map(tokio::net::TcpListener::from_std)
                                .transpose()?,
                        ))
                    })();
                    match listeners {
                        Ok((api, storage, proxy_listener)) => {
                            let _ = ready_tx.send(Ok(()));
                            tokio::spawn(listen::accept_loop(
                                api,
                                Target::Api,
                                task_shared.clone(),
                                api_commands,
                                api_tls,
                            ));
                            tokio::spawn(listen::accept_loop(
                                storage,
                                Target::Storage,
                                task_shared,
                                storage_commands,
                                storage_tls,
                            ));
                            if let (Some(l), Some(p)) = (proxy_listener, task_proxy) {
                                tokio::spawn(proxy::accept_loop(l, p));
                            }
                            let _ = rx.await;
                        }
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                        }
                    }
                });
                // Drops every connection task (stalled ones included) and the listeners.
                runtime.shutdown_timeout(Duration::from_secs(1));
            })?;
        let mut fake = FakeChief {
            shared,
            ca_pem: pki.map(|p| p.ca_pem().to_string()),
            proxy,
            shutdown: Some(tx),
            thread: Some(thread),
        };
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(fake),
            Ok(Err(e)) => Err(e),
            Err(_) => {
                fake.shutdown.take();
                Err(std::io::Error::other("fake chief thread died"))
            }
        }
    }

    /// `http://127.0.0.1:PORT` (`https://` with TLS), no trailing slash.
    pub fn api_url(&self) -> String {
        self.shared.api_url.clone()
    }

    /// `http://127.0.0.1:PORT` of the storage origin (`https://` with TLS), no trailing
    /// slash.
    pub fn storage_url(&self) -> String {
        self.shared.storage_url.clone()
    }

    /// `127.0.0.1:PORT` of a listener, as a proxy sees it asked for.
    pub fn authority(&self, target: Target) -> String {
        format!("127.0.0.1:{}", self.shared.control(target).port)
    }

    /// The PEM of the private CA that signed the listeners' certificates (with TLS on;
    /// for a client's `--ca-cert` or `SSL_CERT_FILE`).
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// The proxy's URL, with the credentials it demands if any (`http://user:pass@...`).
    pub fn proxy_url(&self) -> Option<String> {
        self.proxy.as_ref().map(|p| p.url())
    }

    /// The proxy's URL with other credentials (e.g. a wrong password).
    pub fn proxy_url_with(&self, user: &str, password: &str) -> Option<String> {
        self.proxy.as_ref().map(|p| p.url_with(user, password))
    }

    pub fn proxy_addr(&self) -> Option<SocketAddr> {
        self.proxy.as_ref().map(|p| p.addr)
    }

    /// Everything the proxy did, in order.
    pub fn proxy_events(&self) -> Vec<ProxyEvent> {
        self.proxy.as_ref().map(|p| p.events()).unwrap_or_default()
    }

    /// Tunnels made (CONNECT answered 200), per `host:port`.
    pub fn proxy_tunnels(&self) -> BTreeMap<String, usize> {
        self.proxy
            .as_ref()
            .map(|p| p.count(true))
            .unwrap_or_default()
    }

    /// Plain-http requests forwarded to their target, per `host:port`.
    pub fn proxy_forwards(&self) -> BTreeMap<String, usize> {
        self.proxy
            .as_ref()
            .map(|p| p.count(false))
            .unwrap_or_default()
    }

    /// What a listener counted since the start.
    pub fn stats(&self, target: Target) -> Stats {
        self.shared.counters(target).snapshot()
    }

    /// Block until `done(self)` holds, re-checked whenever the fake counts something
    /// (a connection, handshake, request or proxy event); panics after `within`. For
    /// what the fake sees after the client has moved on (a refused handshake, a
    /// dropped connection). It runs on the fake's own threads, so an async test may
    /// call it as long as `done` does not wait on the test's own tasks.
    pub fn wait_for(&self, within: Duration, done: impl Fn(&FakeChief) -> bool) {
        assert!(
            self.shared.signal.wait(within, || done(self)),
            "fake chief: the awaited condition did not hold within {within:?}"
        );
    }

    /// A listener's life second by second since the start (requests, body bytes, peak
    /// in flight), up to the current second.
    pub fn series(&self, target: Target) -> Vec<Second> {
        self.shared.counters(target).series()
    }

    /// Start counting `Stats::peak_in_flight` afresh from the current level.
    pub fn reset_peak_in_flight(&self, target: Target) {
        self.shared.counters(target).reset_peak();
    }

    /// The knobs in force.
    pub fn knobs(&self) -> Knobs {
        self.shared.knobs()
    }

    pub fn set_knobs(&self, knobs: Knobs) {
        self.update_knobs(|k| *k = knobs);
    }

    /// Change knobs while the fake runs; requests arriving afterwards see the change. A
    /// different `outage` starts a new window (and ends a refusing one); a different
    /// `shared_link` starts an idle link.
    pub fn update_knobs(&self, f: impl FnOnce(&mut Knobs)) {
        let mut knobs = lock(&self.shared.knobs);
        let before = knobs.clone();
        f(&mut knobs);
        if knobs.shared_link != before.shared_link {
            *lock(&self.shared.pacer) = knobs.shared_link.map(Pacer::new);
        }
        let new_outage = knobs.outage != before.outage;
        if new_outage {
            let mut outage = lock(&self.shared.outage);
            outage.window = OutageWindow::default();
            outage.generation += 1;
        }
        drop(knobs);
        if new_outage {
            self.shared.reopen_all();
        }
    }

    /// End the outage now (an endless one, or before its time); listeners closed by a
    /// refusing outage listen again before this returns.
    pub fn end_outage(&self) {
        lock(&self.shared.outage).window.end();
        self.shared.reopen_all();
    }

    /// Is an outage going on (started and not over)? An outage with a duration is found
    /// over by the first request after its end.
    pub fn outage_active(&self) -> bool {
        lock(&self.shared.outage).window.is_active()
    }

    /// `CHIEF_API_URL`, `CHIEF_API_KEY` and `CHIEF_PROJECT_ID` for this fake, e.g. for
    /// `assert_cmd::Command::envs`.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("CHIEF_API_URL", self.api_url()),
            ("CHIEF_API_KEY", TOKEN.to_string()),
            ("CHIEF_PROJECT_ID", PROJECT.to_string()),
        ]
    }

    /// Every request received, both listeners, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.shared.records).list.clone()
    }

    pub fn api_requests(&self) -> Vec<Recorded> {
        self.requests_to(Target::Api)
    }

    pub fn storage_requests(&self) -> Vec<Recorded> {
        self.requests_to(Target::Storage)
    }

    fn requests_to(&self, target: Target) -> Vec<Recorded> {
        lock(&self.shared.records)
            .list
            .iter()
            .filter(|r| r.target == target)
            .cloned()
            .collect()
    }

    /// Forget the recorded requests.
    pub fn clear_requests(&self) {
        let mut records = lock(&self.shared.records);
        records.list.clear();
        records.generation += 1;
    }

    /// Turn request recording off/on (e.g. for long benchmarks).
    pub fn set_recording(&self, on: bool) {
        self.shared
            .recording
            .store(on, std::sync::atomic::Ordering::Relaxed);
    }

    /// Assets of a project: seeded ones and those stored by a verified upload, in order.
    pub fn assets(&self, project: &str) -> Vec<StoredAsset> {
        lock(&self.shared.inner)
            .projects
            .get(project)
            .map(|p| p.assets.clone())
            .unwrap_or_default()
    }

    /// Pre-existing content: the next `POST` with this md5 in `project` is a dedup hit.
    /// Returns the asset id.
    pub fn seed_asset(&self, project: &str, md5_hex: &str, status: &str) -> String {
        let asset_id = self.shared.new_asset_id();
        self.shared.store(
            project,
            StoredAsset {
                asset_id: asset_id.clone(),
                md5: md5_hex.to_string(),
                size: 0,
                filename: format!("seeded-{}.bin", &md5_hex[..md5_hex.len().min(8)]),
                mime_type: "application/octet-stream".to_string(),
                status: status.to_string(),
            },
        );
        asset_id
    }

    /// Change the lifecycle status of a stored asset. Panics if the asset is unknown.
    pub fn set_status(&self, asset_id: &str, status: &str) {
        let mut inner = lock(&self.shared.inner);
        let project = inner
            .asset_project
            .get(asset_id)
            .cloned()
            .unwrap_or_else(|| panic!("fake chief: no stored asset {asset_id}"));
        let store = inner.projects.get_mut(&project).expect("project of asset");
        let i = store.by_id[asset_id];
        store.assets[i].status = status.to_string();
    }

    /// Lifetime of signed URLs issued from now on (default 15 min).
    pub fn set_url_ttl(&self, ttl: Duration) {
        lock(&self.shared.inner).url_ttl = ttl;
    }

    /// Let `token` use `projects` (in addition to the built-in `TOKEN` -> `PROJECT`).
    pub fn add_token(&self, token: &str, projects: &[&str]) {
        lock(&self.shared.inner)
            .tokens
            .entry(token.to_string())
            .or_default()
            .extend(projects.iter().map(|p| p.to_string()));
    }

    /// Add a fault rule (after the existing ones).
    pub fn inject(&self, rule: Rule) {
        lock(&self.shared.inner).rules.push(rule);
    }

    /// Rules not yet used up.
    pub fn rules(&self) -> Vec<Rule> {
        lock(&self.shared.inner).rules.clone()
    }

    pub fn clear_rules(&self) {
        lock(&self.shared.inner).rules.clear();
    }

    /// Every API call answers `307` with `Location: url + path (+ ?query)`.
    pub fn redirect_api_to(&self, url: &str) {
        lock(&self.shared.inner).redirect = Some(url.trim_end_matches('/').to_string());
    }

    pub fn stop_redirect(&self) {
        lock(&self.shared.inner).redirect = None;
    }

    /// Emulate a network link to the storage (benchmarks); `None`: loopback speed.
    pub fn set_storage_link(&self, link: Option<Link>) {
        self.update_knobs(|k| k.link = link);
    }
}

impl Drop for FakeChief {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
