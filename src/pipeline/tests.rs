//! The pipeline's unit tests: a whole dry run, its events as the ledger gets them.

use std::collections::BTreeMap;
use std::path::Path;

use clap::Parser;
use md5::{Digest, Md5};

use super::*;
use crate::cli::Cli;
use crate::settings::{self, Env};

fn settings(args: &[&str], home: &Path) -> Settings {
    let cli = Cli::parse_from(std::iter::once("chief-upload").chain(args.iter().copied()));
    let env = Env::from_pairs([
        ("HOME", home.join("home")),
        ("XDG_CONFIG_HOME", home.join("config")),
        ("XDG_CACHE_HOME", home.join("cache")),
    ]);
    let output = settings::output_settings(&cli, &env);
    settings::resolve(&cli, &env, output).unwrap()
}

fn flatten(event: Event, into: &mut Vec<Event>) {
    match event {
        Event::Batch(batch) => batch.events.into_iter().for_each(|e| flatten(e, into)),
        e => into.push(e),
    }
}

/// Runs the pipeline with these settings: the files the filters let through, and the
/// events in the order the ledger gets them, batches unpacked.
fn run_events(settings: Settings) -> (Option<u64>, Vec<Event>) {
    let (reporter, mut rx) = Reporter::channel();
    // Drained while the run goes, as the ledger does, until every sender is gone.
    let output = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let mut events = Vec::new();
        while let Some(event) = rt.block_on(rx.recv()) {
            flatten(event, &mut events);
        }
        events
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let candidates = rt
        .block_on(run(
            Arc::new(settings),
            reporter,
            Ledger::unheard(),
            None,
            CancellationToken::new(),
        ))
        .unwrap();
    drop(rt);
    (candidates, output.join().unwrap())
}

/// Found files and bytes, excluded files, and the file lines (path -> md5) of a run; at
/// every file line, the totals already count it.
fn tally(events: &[Event]) -> (u64, u64, u64, BTreeMap<String, String>, usize) {
    let (mut found, mut bytes, mut excluded, mut warnings) = (0, 0, 0, 0);
    let mut files = BTreeMap::new();
    for event in events {
        match event {
            Event::Found { files, bytes: b } => {
                found += files;
                bytes += b;
            }
            Event::Excluded { files } => excluded += files,
            Event::File(r) => {
                let md5 = r.md5.clone().unwrap_or_default();
                assert!(
                    files.insert(r.path.clone(), md5).is_none(),
                    "{} twice",
                    r.path
                );
                assert!(files.len() as u64 <= found, "a file line before its count");
            }
            Event::Warning(_) => warnings += 1,
            _ => {}
        }
    }
    (found, bytes, excluded, files, warnings)
}

/// Many small files, some big enough for the hash cache, some left out by a filter, one
/// reached twice: the batched counts add up to what the files are, each file gets one
/// line with its MD5, and the batched cache lookups answer for the right files.
#[test]
fn batched_counts_and_lines_add_up() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    std::fs::create_dir_all(tree.join("sub")).unwrap();
    let mut real = BTreeMap::new();
    let mut total = 0u64;
    for i in 0..700u64 {
        // From empty to past the cache's threshold and a batch's byte limit.
        let size = (i * 997) % 9000 + if i % 100 == 7 { 600_000 } else { 0 };
        let content: Vec<u8> = (0..size).map(|b| (b * 31 + i) as u8).collect();
        let name = if i % 2 == 0 {
            format!("sub/f{i:03}.bin")
        } else {
            format!("f{i:03}.bin")
        };
        let path = tree.join(&name);
        std::fs::write(&path, &content).unwrap();
        real.insert(
            crate::walk::display(&path),
            hex::encode(Md5::digest(&content)),
        );
        total += size;
    }
    for i in 0..300 {
        std::fs::write(tree.join(format!("sub/x{i}.tmp")), "left out").unwrap();
    }
    let tree_arg = tree.display().to_string();
    let twice = tree.join("f001.bin").display().to_string();
    let args = [
        "--dry-run",
        "--exclude",
        "*.tmp",
        tree_arg.as_str(),
        twice.as_str(),
    ];
    let check = |run: &str, args: &[&str], want: &BTreeMap<String, String>| {
        let (candidates, events) = run_events(settings(args, dir.path()));
        let (found, bytes, excluded, files, warnings) = tally(&events);
        assert_eq!((found, bytes, excluded), (700, total, 300), "{run}");
        assert!(files == *want, "{run}: {files:#?}");
        assert_eq!(warnings, 1, "{run}: the file given twice");
        let mut s = crate::event::Summary::default();
        for e in &events {
            if let Event::File(r) = e {
                s.count(r);
            }
        }
        assert_eq!(
            (s.planned, s.bytes_planned, s.failed),
            (700, total, 0),
            "{run}"
        );
        // The filters let every file through but the 300 left out; the one given twice
        // counts as it is reached (`--if-no-files` judges what a user named).
        assert_eq!(candidates, Some(701), "{run}");
    };
    check("no cache", &[&args[..], &["--no-cache"]].concat(), &real);
    check("first run", &args, &real);
    if crate::file_key::no_cache_hits_here() {
        return;
    }

    // Every file the cache serves gets an answer of its own (these files are too fresh
    // for what the first run recorded: planted as late as the cache accepts).
    let cache = HashCache::open(&settings(&args, dir.path()).cache.unwrap()).unwrap();
    let late = crate::file_key::now_ns() + 2_000_000_000 - 1;
    let mut planted = real.clone();
    for (path, md5) in planted.iter_mut() {
        let meta = std::fs::metadata(path).unwrap();
        if meta.len() >= crate::cache::MIN_SIZE {
            let fake: [u8; 16] = Md5::digest(path.as_bytes()).into();
            cache.put_at(&crate::file_key::FileKey::from_metadata(&meta), fake, late);
            *md5 = hex::encode(fake);
        }
    }
    drop(cache);
    assert!(
        planted
            .values()
            .filter(|m| !real.values().any(|r| r == *m))
            .count()
            > 300
    );
    check("second run", &args, &planted);
}

/// The run's blocking threads are bounded: more blocking calls than threads wait their
/// turn rather than start a thread each (tokio's default goes to 512).
#[cfg(target_os = "linux")]
#[test]
fn the_runtime_bounds_its_blocking_threads() {
    use std::sync::atomic::AtomicUsize;
    use std::sync::{Condvar, Mutex};
    let rt = runtime().unwrap();
    let most = blocking_threads();
    let running = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new((Mutex::new(false), Condvar::new()));
    let calls: Vec<_> = (0..most * 4)
        .map(|_| {
            let (running, gate) = (running.clone(), gate.clone());
            rt.spawn_blocking(move || {
                running.fetch_add(1, Ordering::SeqCst);
                let (open, turned) = &*gate;
                let mut open = open.lock().unwrap();
                while !*open {
                    open = turned.wait(open).unwrap();
                }
            })
        })
        .collect();
    while running.load(Ordering::SeqCst) < most {
        std::thread::yield_now();
    }
    // Each call started so far holds its thread until the gate opens.
    let named = std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.trim_end() == "chief-upload")
        .count();
    let started = running.load(Ordering::SeqCst);
    // Opened before judging, so that a failure does not leave the calls waiting forever.
    *gate.0.lock().unwrap() = true;
    gate.1.notify_all();
    rt.block_on(async {
        for call in calls {
            call.await.unwrap();
        }
    });
    let workers = hashing_threads();
    assert!(
        named <= most + workers,
        "{named} threads for {} blocking calls; at most {most} blocking and {workers} workers",
        most * 4
    );
    assert_eq!(started, most, "calls running at once");
    assert_eq!(running.load(Ordering::SeqCst), most * 4, "every call ran");
}
