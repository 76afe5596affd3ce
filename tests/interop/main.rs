//! Interop: the real binary against a real S3 implementation written by others.
//!
//! `s3s-fs` (an S3 server over a local folder that verifies SigV4 signatures and
//! `Content-MD5`) stores the uploads; a small API in this process hands out presigned PUT
//! URLs for it, signed by `rusty-s3`. Our own fake checks nothing here: every PUT is judged
//! by code we did not write. Between the client and s3s-fs, a relay forwards the bytes
//! unchanged and counts what reaches the storage.
//!
//! Only with `--features interop` (needs `s3s-fs` on PATH or in `$S3S_FS`):
//! `cargo test --features interop --test interop`.

// The integration tests' TestEnv, shared with this binary.
#[path = "../it/common.rs"]
mod common;
mod storage;

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::Write as _;
use std::process::Output;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::{files_by_path, json_lines, summary, TestEnv};
use fake_chief::presign::{Api, Post};
use fake_chief::{md5_hex, PROJECT, TOKEN};
use serde_json::Value;
use storage::{Relay, S3sFs, Traffic};

/// s3s-fs, the relay in front of it, the API, and a temp tree to upload.
struct Interop {
    // Fields drop in order: the runtime (it serves the API and the relay) first, then
    // s3s-fs.
    _rt: tokio::runtime::Runtime,
    api: Api,
    relay: Relay,
    s3: S3sFs,
    env: TestEnv,
}

impl Interop {
    fn start() -> Interop {
        let s3 = S3sFs::start();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let (relay, api) = rt.block_on(async {
            let relay = Relay::start(s3.addr);
            let api = Api::start(relay.addr);
            (relay, api)
        });
        Interop {
            _rt: rt,
            api,
            relay,
            s3,
            env: TestEnv::new(),
        }
    }

    /// `chief-upload --json .` in the tree, pointed at the API.
    fn run(&self) -> Output {
        self.env
            .cmd()
            .env("CHIEF_API_URL", &self.api.url)
            .env("CHIEF_API_KEY", TOKEN)
            .env("CHIEF_PROJECT_ID", PROJECT)
            .args(["--retry-base-ms", "5", "--json", "."])
            .output()
            .unwrap()
    }

    /// The file lines of a run, after checking its exit code.
    fn outcomes(&self, out: &Output, code: i32) -> (BTreeMap<String, Value>, Value) {
        assert_eq!(
            out.status.code(),
            Some(code),
            "stderr: {}\ns3s-fs:\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.s3.log()
        );
        let lines = json_lines(&out.stdout);
        (files_by_path(&lines), summary(&lines))
    }

    /// The stored object for the asset created for `md5`.
    fn object_of(&self, posts: &[Post], md5: &str) -> Vec<u8> {
        let post = posts
            .iter()
            .find(|p| p.md5 == md5 && p.status == 201)
            .unwrap_or_else(|| panic!("no upload URL was handed out for {md5}: {posts:#?}"));
        let path = self.s3.object_path(post.key.as_deref().unwrap());
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }
}

/// Deterministic bytes that differ at every offset pattern (a fill would hide misplaced
/// chunks).
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

const MIB: usize = 1 << 20;

/// Rewrites a file in place with other bytes of the same length (same inode).
fn rewrite_in_place(path: &std::path::Path, content: &[u8]) {
    let mut f = OpenOptions::new().write(true).open(path).unwrap();
    f.write_all(content).unwrap();
}

/// Returns once the file system's clock has moved past `path`'s ctime, so that a change
/// made now gets another ctime (timestamps come from a coarse clock: a write within the
/// same tick would keep it). Probes with a scratch file in `scratch`, on the same file
/// system but outside the uploaded tree.
#[cfg(unix)]
fn clock_past(path: &std::path::Path, scratch: &std::path::Path) {
    use std::os::unix::fs::{FileExt, MetadataExt};
    let ctime = |m: std::fs::Metadata| (m.ctime(), m.ctime_nsec());
    let target = ctime(std::fs::metadata(path).unwrap());
    let probe = tempfile::NamedTempFile::new_in(scratch).unwrap();
    while ctime(probe.as_file().metadata().unwrap()) <= target {
        probe.as_file().write_all_at(b"x", 0).unwrap();
    }
}

fn puts(traffic: &Traffic) -> Vec<&storage::Seen> {
    traffic
        .requests
        .iter()
        .filter(|r| r.method == "PUT")
        .collect()
}

#[test]
fn files_of_every_kind_are_stored_byte_exact() {
    let it = Interop::start();
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("empty.txt", Vec::new()),
        ("docs/read me.txt", b"hello world\n".to_vec()),
        ("photos/déjà vu/ünïcødé ☃.jpg", b"\xff\xd8\xffjpeg".to_vec()),
        (
            "100% real & (final)+copy #2.png",
            b"\x89PNG\r\n\x1a\n".to_vec(),
        ),
        ("data/big.bin", noise(12 * MIB, 1)),
        ("a.json", br#"{"a":1}"#.to_vec()),
        ("b.csv", b"x,y\n1,2\n".to_vec()),
        ("notes.md", noise(70_000, 2)),
    ];
    for (rel, content) in &files {
        it.env.file(rel, content);
    }
    let out = it.run();
    let (outcomes, s) = it.outcomes(&out, 0);
    assert_eq!(outcomes.len(), files.len(), "{outcomes:#?}");
    assert_eq!(s["uploaded"], files.len() as u64, "{s}");
    let posts = it.api.take_posts();
    assert_eq!(posts.len(), files.len(), "{posts:#?}");
    for (rel, content) in &files {
        let line = &outcomes[&format!("./{rel}")];
        assert_eq!(line["outcome"], "uploaded", "{rel}: {line}");
        let post = posts.iter().find(|p| p.md5 == line["md5"]).unwrap();
        assert_eq!(line["mime_type"], post.mime_type.as_str(), "{rel}");
        assert_eq!(
            post.signed_headers.as_deref(),
            Some("content-md5;content-type;host"),
            "{rel}"
        );
        assert_eq!(
            it.object_of(&posts, &md5_hex(content)),
            *content,
            "{rel}: s3s-fs holds other bytes"
        );
    }

    // One PUT per file, each with the file's exact length and body; nothing else stored.
    let traffic = it.relay.take();
    let mut sent: Vec<(Option<u64>, u64, bool)> = puts(&traffic)
        .iter()
        .map(|r| (r.content_length, r.body_bytes, r.chunked))
        .collect();
    sent.sort();
    let mut want: Vec<(Option<u64>, u64, bool)> = files
        .iter()
        .map(|(_, c)| (Some(c.len() as u64), c.len() as u64, false))
        .collect();
    want.sort();
    assert_eq!(sent, want, "{traffic:#?}");
    assert_eq!(traffic.requests.len(), files.len(), "{traffic:#?}");
    assert_eq!(it.s3.objects().len(), files.len(), "{:#?}", it.s3.objects());
}

/// Standard input (`-`), spooled past memory to a temporary file and sent from there,
/// stored byte for byte by s3s-fs, with one PUT of its exact length.
#[test]
fn standard_input_is_stored_byte_exact() {
    let it = Interop::start();
    let content = noise(9 * MIB, 3);
    let out = it
        .env
        .cmd()
        .env("CHIEF_API_URL", &it.api.url)
        .env("CHIEF_API_KEY", TOKEN)
        .env("CHIEF_PROJECT_ID", PROJECT)
        .env("TMPDIR", it.env.dir.path())
        .args([
            "--retry-base-ms",
            "5",
            "--json",
            "--name",
            "stream.bin",
            "-",
        ])
        .write_stdin(content.clone())
        .output()
        .unwrap();
    let (outcomes, s) = it.outcomes(&out, 0);
    assert_eq!(s["uploaded"], 1, "{s}");
    let line = &outcomes["-"];
    assert_eq!(line["filename"], "stream.bin");
    let posts = it.api.take_posts();
    assert_eq!(
        it.object_of(&posts, &md5_hex(&content)),
        content,
        "s3s-fs holds other bytes"
    );
    let traffic = it.relay.take();
    let sent: Vec<_> = puts(&traffic)
        .iter()
        .map(|r| (r.content_length, r.body_bytes, r.chunked))
        .collect();
    let len = content.len() as u64;
    assert_eq!(sent, [(Some(len), len, false)], "{traffic:#?}");
}

#[test]
fn a_rerun_is_a_dedup_hit_that_sends_nothing_to_storage() {
    let it = Interop::start();
    for (i, rel) in ["one.txt", "two words.txt", "ünï/three.bin"]
        .iter()
        .enumerate()
    {
        it.env.file(rel, noise(1000 + i, 10 + i as u64));
    }
    it.env.file("zero.txt", "");
    let (first, _) = it.outcomes(&it.run(), 0);
    assert!(
        first.values().all(|f| f["outcome"] == "uploaded"),
        "{first:#?}"
    );
    assert_eq!(puts(&it.relay.take()).len(), 4);
    assert!(it.api.take_posts().iter().all(|p| p.status == 201));
    let stored = it.s3.objects();
    assert_eq!(stored.len(), 4, "{stored:#?}");

    let (second, s) = it.outcomes(&it.run(), 0);
    assert_eq!(second.len(), 4);
    assert!(
        second.values().all(|f| f["outcome"] == "skipped"),
        "{second:#?}"
    );
    assert_eq!(
        (s["uploaded"].as_u64(), s["skipped"].as_u64()),
        (Some(0), Some(4))
    );
    // The API was asked about every file and answered "already exists" each time...
    let posts = it.api.take_posts();
    assert_eq!(posts.len(), 4, "{posts:#?}");
    assert!(posts.iter().all(|p| p.status == 200), "{posts:#?}");
    // ...and not one connection, let alone a PUT, reached the storage.
    let traffic = it.relay.take();
    assert_eq!(
        (traffic.connections, traffic.requests.len()),
        (0, 0),
        "{traffic:#?}"
    );
    assert_eq!(it.s3.objects(), stored, "s3s-fs's files changed");
}

/// The file changes on disk while its PUT is on the way: the client read the new bytes,
/// and s3s-fs, which checks the body against the signed `Content-MD5`, refuses it.
#[test]
fn a_file_changed_while_it_is_sent_is_refused_by_storage_as_bad_digest() {
    let it = Interop::start();
    // Large enough that most of it is still on disk, unread, when the PUT's head reaches
    // the relay: the relay's receive buffer and the client's send buffer hold a few MiB.
    let size = 32 * MIB;
    let path = it.env.file("changing.bin", noise(size, 3));
    it.env.file("steady.txt", "steady\n");
    let fired = Arc::new(AtomicBool::new(false));
    let (p, f) = (path.clone(), fired.clone());
    it.relay.on_head(Arc::new(move |method, target| {
        if method == "PUT" && target.ends_with("/changing.bin") && !f.swap(true, Ordering::SeqCst) {
            rewrite_in_place(&p, &noise(size, 4));
        }
    }));
    let out = it.run();
    let (outcomes, s) = it.outcomes(&out, 1);
    assert!(
        fired.load(Ordering::SeqCst),
        "the PUT never reached the relay"
    );
    let line = &outcomes["./changing.bin"];
    assert_eq!(line["outcome"], "failed", "{line}");
    let error = line["error"].as_str().unwrap_or_default();
    assert!(error.contains("BadDigest"), "{line}");
    assert_eq!(outcomes["./steady.txt"]["outcome"], "uploaded");
    assert_eq!(
        (s["uploaded"].as_u64(), s["failed"].as_u64()),
        (Some(1), Some(1))
    );
    // Refused once and not retried (no retry can make the content match).
    let traffic = it.relay.take();
    let sent: Vec<_> = puts(&traffic)
        .into_iter()
        .filter(|r| r.path.ends_with("/changing.bin"))
        .collect();
    assert_eq!(sent.len(), 1, "{traffic:#?}");
    assert_eq!(sent[0].body_bytes, size as u64, "{traffic:#?}");
    // s3s-fs 0.14.1 moves the body into place before comparing it with Content-MD5, so
    // its folder may hold the refused bytes; real S3 stores nothing. What counts here is
    // the refusal, and that the client reported it.
}

/// The file changes between hashing and sending, keeping its size and mtime: the client
/// sees the new ctime when it opens the file and sends nothing.
#[cfg(unix)]
#[test]
fn a_file_changed_after_hashing_is_caught_before_anything_is_sent() {
    let it = Interop::start();
    let original = noise(4096, 5);
    let path = it.env.file("changing.txt", &original);
    it.env.file("steady.txt", "steady\n");
    let p = path.clone();
    let scratch = it.env.dir.path().to_path_buf();
    it.api.on_post(Arc::new(move |body| {
        if body["filename"] == "changing.txt" {
            let mtime = std::fs::metadata(&p).unwrap().modified().unwrap();
            clock_past(&p, &scratch);
            rewrite_in_place(&p, &noise(4096, 6));
            let f = OpenOptions::new().write(true).open(&p).unwrap();
            f.set_modified(mtime).unwrap();
        }
    }));
    let out = it.run();
    let (outcomes, s) = it.outcomes(&out, 1);
    let line = &outcomes["./changing.txt"];
    assert_eq!(line["outcome"], "failed", "{line}");
    assert_eq!(line["md5"], md5_hex(&original), "{line}");
    assert!(
        line["error"]
            .as_str()
            .unwrap_or_default()
            .contains("changed"),
        "{line}"
    );
    assert_eq!(outcomes["./steady.txt"]["outcome"], "uploaded");
    assert_eq!(
        (s["uploaded"].as_u64(), s["failed"].as_u64()),
        (Some(1), Some(1))
    );
    let traffic = it.relay.take();
    assert!(
        traffic
            .requests
            .iter()
            .all(|r| !r.path.ends_with("/changing.txt")),
        "{traffic:#?}"
    );
    let posts = it.api.take_posts();
    let key = posts
        .iter()
        .find(|p| p.filename == "changing.txt")
        .and_then(|p| p.key.clone())
        .expect("an upload URL for changing.txt");
    assert!(!it.s3.object_path(&key).exists(), "s3s-fs stored {key}");
    assert_eq!(it.s3.objects().len(), 1, "{:#?}", it.s3.objects());
}

/// The control: s3s-fs really checks the signatures (a URL signed with another secret is
/// refused), so the uploads that pass above passed a genuine SigV4 check.
#[test]
fn a_url_signed_with_the_wrong_secret_is_refused() {
    let it = Interop::start();
    it.env.file("a.txt", "a\n");
    it.api.sign_with_wrong_secret();
    let out = it.run();
    let (outcomes, _) = it.outcomes(&out, 1);
    let line = &outcomes["./a.txt"];
    assert_eq!(line["outcome"], "failed", "{line}");
    let error = line["error"].as_str().unwrap_or_default();
    assert!(error.contains("SignatureDoesNotMatch"), "{line}");
    assert_eq!(puts(&it.relay.take()).len(), 1, "refused once, not retried");
    assert!(it.s3.objects().is_empty(), "{:#?}", it.s3.objects());
}
