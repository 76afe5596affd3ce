//! An in-process fake of the Chief assets API (`POST /v1/assets`) and of the signed-URL
//! storage it hands out, faithful to `shared/API.md`: it refuses what the real service
//! refuses, records every request, and can inject faults.
//!
//! Two listeners on 127.0.0.1 (two origins): the API and the storage. Both run on one
//! tokio runtime (2 workers) in a thread of their own, so `FakeChief::start()` works from
//! sync and async tests alike. Dropping the `FakeChief` shuts everything down.
#![allow(dead_code)]

mod server;
pub mod util;

use std::collections::HashMap;
use std::net::TcpListener as StdListener;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

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
    link: Option<Link>,
}

/// An emulated network link to the storage, for benchmarks: each upload's body is
/// received no faster than `bytes_per_sec` (paced by sleeping, so it costs no CPU).
/// With `verify: false` the storage trusts the signed Content-MD5 instead of computing
/// the MD5 itself, as a remote server would on its own CPU, not this machine's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    pub bytes_per_sec: u64,
    pub verify: bool,
}

struct Shared {
    api_url: String,
    storage_url: String,
    secret: [u8; 32],
    entropy: util::Entropy,
    inner: Mutex<Inner>,
    records: Mutex<Records>,
    recording: AtomicBool,
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
    fn link(&self) -> Option<Link> {
        lock(&self.inner).link
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

/// The running fake. Dropping it shuts both listeners and all connections down.
pub struct FakeChief {
    shared: Arc<Shared>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl FakeChief {
    /// Start on ephemeral ports. Panics if it cannot bind.
    pub fn start() -> FakeChief {
        FakeChief::start_on(0, 0).expect("fake chief: bind 127.0.0.1")
    }

    /// Start on the given ports (0 = ephemeral).
    pub fn start_on(api_port: u16, storage_port: u16) -> std::io::Result<FakeChief> {
        let api = StdListener::bind(("127.0.0.1", api_port))?;
        let storage = StdListener::bind(("127.0.0.1", storage_port))?;
        api.set_nonblocking(true)?;
        storage.set_nonblocking(true)?;
        let api_url = format!("http://127.0.0.1:{}", api.local_addr()?.port());
        let storage_url = format!("http://127.0.0.1:{}", storage.local_addr()?.port());
        let entropy = util::Entropy::new();
        let secret = entropy.bytes32("secret");
        let mut tokens = HashMap::new();
        tokens.insert(TOKEN.to_string(), vec![PROJECT.to_string()]);
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
                url_ttl: DEFAULT_URL_TTL,
                redirect: None,
                link: None,
            }),
            records: Mutex::new(Records::default()),
            recording: AtomicBool::new(true),
        });
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("fake-chief")
            .enable_all()
            .build()?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<std::io::Result<()>>();
        let task_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("fake-chief-main".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let listeners = (|| {
                        Ok::<_, std::io::Error>((
                            tokio::net::TcpListener::from_std(api)?,
                            tokio::net::TcpListener::from_std(storage)?,
                        ))
                    })();
                    match listeners {
                        Ok((api, storage)) => {
                            let _ = ready_tx.send(Ok(()));
                            tokio::spawn(server::accept_loop(
                                api,
                                Target::Api,
                                task_shared.clone(),
                            ));
                            tokio::spawn(server::accept_loop(
                                storage,
                                Target::Storage,
                                task_shared,
                            ));
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

    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub fn api_url(&self) -> String {
        self.shared.api_url.clone()
    }

    /// `http://127.0.0.1:PORT` of the storage origin, no trailing slash.
    pub fn storage_url(&self) -> String {
        self.shared.storage_url.clone()
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
        lock(&self.shared.inner).link = link;
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
