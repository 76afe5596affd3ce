//! The storage side: a real `s3s-fs` process, and a relay in front of it that counts what
//! reaches it.
//!
//! The relay is a byte pipe: it forwards every byte unchanged both ways, so the signature
//! s3s-fs checks is the one the client sent. It reads each request's head (HTTP/1.1, one
//! request at a time per connection, bodies framed by `Content-Length`) to record it, and
//! can act when a head arrives, before the body is forwarded.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

// The bucket and the credentials the presigning API signs for.
use fake_chief::presign::{ACCESS_KEY, BUCKET, SECRET_KEY};

const INSTALL: &str = "cargo install s3s-fs@0.14.1 --features binary --locked";

/// How long s3s-fs may take to start listening before the suite gives up on it.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The `s3s-fs` executable: `$S3S_FS`, else `s3s-fs` on `PATH`. The suite runs only with
/// `--features interop`, which asks for a real S3, so a missing binary fails loudly.
fn binary() -> PathBuf {
    if let Some(p) = std::env::var_os("S3S_FS") {
        let p = PathBuf::from(p);
        assert!(
            p.is_file(),
            "S3S_FS={} is not a file; install s3s-fs with `{INSTALL}`",
            p.display()
        );
        return p;
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(format!("s3s-fs{}", std::env::consts::EXE_SUFFIX)))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "the interop suite needs s3s-fs, which is not on PATH: install it with \
                 `{INSTALL}` (or set S3S_FS to its path)"
            )
        })
}

/// A running `s3s-fs` serving a temporary root that holds one bucket, [`BUCKET`].
pub struct S3sFs {
    child: Child,
    pub addr: SocketAddr,
    root: tempfile::TempDir,
    log: Arc<Mutex<String>>,
}

impl S3sFs {
    pub fn start() -> S3sFs {
        let root = tempfile::tempdir().expect("temp dir");
        // s3s-fs maps a bucket to a folder of its root.
        std::fs::create_dir(root.path().join(BUCKET)).unwrap();
        let mut child = Command::new(binary())
            .args(["--host", "127.0.0.1", "--port", "0"])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(root.path())
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start s3s-fs");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        // Port 0: s3s-fs picks a free port and logs it; read the address from its log
        // (no guessing a free port, so no race). Both pipes are drained for the whole run.
        for pipe in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let log = log.clone();
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines() {
                    let Ok(line) = line else { break };
                    if let Some(addr) = announced_addr(&line) {
                        let _ = tx.send(addr);
                    }
                    let mut log = log.lock().unwrap();
                    log.push_str(&line);
                    log.push('\n');
                }
            });
        }
        drop(tx);
        let addr = match rx.recv_timeout(START_TIMEOUT) {
            Ok(addr) => addr,
            Err(e) => {
                let _ = child.kill();
                let status = child.wait();
                panic!(
                    "s3s-fs did not report its address ({e:?}, exit: {status:?}); its output:\n{}",
                    log.lock().unwrap()
                );
            }
        };
        S3sFs {
            child,
            addr,
            root,
            log,
        }
    }

    /// Where s3s-fs keeps the object `key` of [`BUCKET`].
    pub fn object_path(&self, key: &str) -> PathBuf {
        self.root.path().join(BUCKET).join(key)
    }

    /// Every object file in [`BUCKET`] (relative path -> size and mtime); s3s-fs's own
    /// bookkeeping (dot files in the root) is left out.
    pub fn objects(&self) -> BTreeMap<PathBuf, (u64, SystemTime)> {
        let mut out = BTreeMap::new();
        let bucket = self.root.path().join(BUCKET);
        let mut dirs = vec![bucket.clone()];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let entry = entry.unwrap();
                let meta = entry.metadata().unwrap();
                if meta.is_dir() {
                    dirs.push(entry.path());
                } else {
                    let rel = entry.path().strip_prefix(&bucket).unwrap().to_path_buf();
                    out.insert(rel, (meta.len(), meta.modified().unwrap()));
                }
            }
        }
        out
    }

    /// Everything s3s-fs printed so far, for failure messages.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for S3sFs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `... server is running at http://127.0.0.1:PORT` -> the address.
fn announced_addr(line: &str) -> Option<SocketAddr> {
    let rest = line.split("server is running at http://").nth(1)?;
    rest.split_whitespace().next()?.parse().ok()
}

/// One request as it reached the relay.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// The request target without its query (the signature stays out of test output).
    pub path: String,
    pub content_length: Option<u64>,
    pub chunked: bool,
    /// Body bytes forwarded to s3s-fs.
    pub body_bytes: u64,
}

#[derive(Debug, Default, Clone)]
pub struct Traffic {
    pub connections: u64,
    pub requests: Vec<Seen>,
}

/// Called with (method, path) when a request head arrives, before its body is forwarded.
pub type OnHead = Arc<dyn Fn(&str, &str) + Send + Sync>;

pub struct Relay {
    pub addr: SocketAddr,
    traffic: Arc<Mutex<Traffic>>,
    on_head: Arc<Mutex<Option<OnHead>>>,
}

impl Relay {
    /// Listens on 127.0.0.1 and forwards every connection to `upstream`. Must be called
    /// inside a tokio runtime.
    pub fn start(upstream: SocketAddr) -> Relay {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        // A small fixed receive buffer (accepted sockets inherit it): while the relay holds
        // a request at its head, the client can push only a bounded amount of body ahead.
        socket.set_recv_buffer_size(64 * 1024).unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let listener = socket.listen(64).unwrap();
        let addr = listener.local_addr().unwrap();
        let traffic = Arc::new(Mutex::new(Traffic::default()));
        let on_head: Arc<Mutex<Option<OnHead>>> = Arc::new(Mutex::new(None));
        let (t, h) = (traffic.clone(), on_head.clone());
        tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                t.lock().unwrap().connections += 1;
                let (t, h) = (t.clone(), h.clone());
                tokio::spawn(async move {
                    let _ = relay(client, upstream, t, h).await;
                });
            }
        });
        Relay {
            addr,
            traffic,
            on_head,
        }
    }

    /// What reached the relay since the last call (and resets the count).
    pub fn take(&self) -> Traffic {
        std::mem::take(&mut *self.traffic.lock().unwrap())
    }

    pub fn on_head(&self, f: OnHead) {
        *self.on_head.lock().unwrap() = Some(f);
    }
}

async fn relay(
    client: TcpStream,
    upstream: SocketAddr,
    traffic: Arc<Mutex<Traffic>>,
    on_head: Arc<Mutex<Option<OnHead>>>,
) -> std::io::Result<()> {
    let server = TcpStream::connect(upstream).await?;
    let (mut from_client, mut to_client) = client.into_split();
    let (mut from_server, mut to_server) = server.into_split();
    let answers = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut from_server, &mut to_client).await;
        let _ = to_client.shutdown().await;
    });
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let result = async {
        loop {
            let head_len = loop {
                if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    break i + 4;
                }
                let n = from_client.read(&mut chunk).await?;
                if n == 0 {
                    return Ok(());
                }
                buf.extend_from_slice(&chunk[..n]);
            };
            let mut seen = parse_head(&buf[..head_len]);
            let hook = on_head.lock().unwrap().clone();
            if let Some(hook) = hook {
                tokio::task::block_in_place(|| hook(&seen.method, &seen.path));
            }
            to_server.write_all(&buf[..head_len]).await?;
            buf.drain(..head_len);
            let index = {
                let mut t = traffic.lock().unwrap();
                t.requests.push(seen.clone());
                t.requests.len() - 1
            };
            if seen.chunked {
                // Not framed by a length: pass the rest of the connection through.
                to_server.write_all(&buf).await?;
                tokio::io::copy(&mut from_client, &mut to_server).await?;
                return Ok(());
            }
            let mut remaining = seen.content_length.unwrap_or(0);
            let buffered = buf.len().min(remaining as usize);
            to_server.write_all(&buf[..buffered]).await?;
            buf.drain(..buffered);
            remaining -= buffered as u64;
            seen.body_bytes = buffered as u64;
            while remaining > 0 {
                let want = chunk.len().min(remaining as usize);
                let n = from_client.read(&mut chunk[..want]).await?;
                if n == 0 {
                    break;
                }
                to_server.write_all(&chunk[..n]).await?;
                remaining -= n as u64;
                seen.body_bytes += n as u64;
                traffic.lock().unwrap().requests[index].body_bytes = seen.body_bytes;
            }
            traffic.lock().unwrap().requests[index].body_bytes = seen.body_bytes;
            if remaining > 0 {
                return Ok(());
            }
        }
    }
    .await;
    let _ = to_server.shutdown().await;
    let _ = answers.await;
    result
}

fn parse_head(head: &[u8]) -> Seen {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split("\r\n");
    let mut request_line = lines.next().unwrap_or("").split(' ');
    let method = request_line.next().unwrap_or("").to_string();
    let target = request_line.next().unwrap_or("");
    let path = target.split('?').next().unwrap_or("").to_string();
    let mut content_length = None;
    let mut chunked = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
        if name == "content-length" {
            content_length = value.parse().ok();
        } else if name == "transfer-encoding" && value.to_ascii_lowercase().contains("chunked") {
            chunked = true;
        }
    }
    Seen {
        method,
        path,
        content_length,
        chunked,
        body_bytes: 0,
    }
}
