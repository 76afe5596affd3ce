//! Streaming MD5 of a file: fixed buffers, never the whole file in memory. Runs on a
//! blocking thread (the caller's job), never on an async worker.
//!
//! A big file is read by a helper thread while the calling thread only computes MD5
//! ([`md5_pipelined`]): copying from the page cache then costs the hashing thread
//! nothing, which brings one big file to `md5sum` speed or better (benches/bench).
//! Small files are read and hashed on the calling thread: they are many, the other
//! cores are busy hashing other files, and a thread per file would cost more than it
//! saves. Plain std threads and channels: portable, no architecture-specific code here
//! (the md-5 crate's `asm` feature is the only x86_64-specific part, see Cargo.toml).

use std::fs::File;
use std::io::{self, Read};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

use md5::{Digest, Md5};

/// 64 KiB reads measured fastest with md-5 (larger buffers fall out of the L2 cache).
pub const READ_BUF: usize = 64 * 1024;
/// Files at least this big are read on a helper thread while this one hashes.
pub const PIPELINE_MIN: u64 = 8 << 20;
/// Read size of the helper thread, and how many such buffers circulate between the two
/// threads (the memory bound: `PIPE_BUF * PIPE_BUFS` per file being hashed).
pub const PIPE_BUF: usize = 256 * 1024;
pub const PIPE_BUFS: usize = 4;
/// How many leading bytes are kept for media-type sniffing.
pub const HEAD_LEN: usize = 32;

pub type Md5Sum = [u8; 16];

#[derive(Clone, Debug)]
pub struct Hashed {
    pub md5: Md5Sum,
    pub size: u64,
    /// The first bytes of the file (up to HEAD_LEN), for sniffing its type.
    pub head: Vec<u8>,
}

/// What a read loop accumulates: the digest, the length and the first bytes. Both loops
/// here use it, and so does the spool of standard input (`spool.rs`).
pub struct Running {
    hasher: Md5,
    size: u64,
    head: Vec<u8>,
}

impl Default for Running {
    fn default() -> Running {
        Running::new()
    }
}

impl Running {
    pub fn new() -> Running {
        Running {
            hasher: Md5::new(),
            size: 0,
            head: Vec::new(),
        }
    }

    pub fn absorb(&mut self, chunk: &[u8]) {
        if self.head.len() < HEAD_LEN {
            let take = (HEAD_LEN - self.head.len()).min(chunk.len());
            self.head.extend_from_slice(&chunk[..take]);
        }
        self.hasher.update(chunk);
        self.size += chunk.len() as u64;
    }

    /// Bytes absorbed so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn finish(self) -> Hashed {
        Hashed {
            md5: self.hasher.finalize().into(),
            size: self.size,
            head: self.head,
        }
    }
}

fn stopped() -> io::Error {
    io::Error::new(io::ErrorKind::Interrupted, "stopped")
}

/// Hashes everything `file` yields, calling `progress` with each chunk's length; a
/// `false` from it stops early with an `Interrupted` error (Ctrl-C).
#[cfg(test)]
pub fn md5_reader(file: impl Read, progress: &mut dyn FnMut(u64) -> bool) -> io::Result<Hashed> {
    md5_read(file, &mut ReadBuf::new(), progress)
}

/// The read buffer of one hashing thread, kept from file to file: a tree of small files
/// then costs no allocation (and zeroing) of [`READ_BUF`] bytes per file.
pub struct ReadBuf(Vec<u8>);

impl ReadBuf {
    pub fn new() -> ReadBuf {
        ReadBuf(vec![0u8; READ_BUF])
    }
}

impl Default for ReadBuf {
    fn default() -> ReadBuf {
        ReadBuf::new()
    }
}

fn md5_read(
    mut file: impl Read,
    buf: &mut ReadBuf,
    progress: &mut dyn FnMut(u64) -> bool,
) -> io::Result<Hashed> {
    let buf = &mut buf.0[..];
    let mut run = Running::new();
    loop {
        let n = match file.read(buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        run.absorb(&buf[..n]);
        if !progress(n as u64) {
            return Err(stopped());
        }
    }
    Ok(run.finish())
}

/// Hashes `file`, whose length the caller has just read from its metadata (`len` only
/// picks how to read it: one more `fstat` per file is measurable on a tree of small
/// files). Small files are read through `buf`.
pub fn md5_file(
    file: &File,
    len: u64,
    buf: &mut ReadBuf,
    progress: &mut dyn FnMut(u64) -> bool,
) -> io::Result<Hashed> {
    if len >= PIPELINE_MIN {
        md5_pipelined(file, PIPE_BUF, PIPE_BUFS, progress)
    } else {
        md5_read(file, buf, progress)
    }
}

/// Like [`md5_reader`], but a helper thread reads into `bufs` buffers of `buf_len` bytes
/// while the calling thread hashes the filled ones. Stops (and joins the helper) on a
/// read error or when `progress` returns `false`.
pub fn md5_pipelined<R: Read + Send>(
    reader: R,
    buf_len: usize,
    bufs: usize,
    progress: &mut dyn FnMut(u64) -> bool,
) -> io::Result<Hashed> {
    let bufs = bufs.max(2);
    // Full buffers go to the hasher; empty ones come back. The full channel can hold
    // every buffer, so the reader only ever waits for an empty one, and it ends when the
    // hasher drops its side of the empty channel.
    let (full_tx, full_rx) = sync_channel::<io::Result<(Vec<u8>, usize)>>(bufs);
    let (free_tx, free_rx) = sync_channel::<Vec<u8>>(bufs);
    for _ in 0..bufs {
        free_tx
            .send(vec![0u8; buf_len.max(1)])
            .expect("the channel holds every buffer");
    }
    std::thread::scope(move |s| {
        s.spawn(move || fill(reader, free_rx, full_tx));
        // `full_rx` and `free_tx` are dropped when this closure returns, before the
        // scope joins the reader: an early return never leaves it waiting.
        hash_filled(full_rx, free_tx, progress)
    })
}

/// The reader's side of [`md5_pipelined`].
fn fill<R: Read>(
    mut reader: R,
    free: Receiver<Vec<u8>>,
    full: SyncSender<io::Result<(Vec<u8>, usize)>>,
) {
    while let Ok(mut buf) = free.recv() {
        let n = loop {
            match reader.read(&mut buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let _ = full.send(Err(e));
                    return;
                }
                Ok(n) => break n,
            }
        };
        // End of file is an empty buffer; the hasher stops there.
        if full.send(Ok((buf, n))).is_err() || n == 0 {
            return;
        }
    }
}

/// The hasher's side of [`md5_pipelined`].
fn hash_filled(
    full: Receiver<io::Result<(Vec<u8>, usize)>>,
    free: SyncSender<Vec<u8>>,
    progress: &mut dyn FnMut(u64) -> bool,
) -> io::Result<Hashed> {
    let mut run = Running::new();
    loop {
        let (buf, n) = match full.recv() {
            Ok(r) => r?,
            Err(_) => return Err(io::Error::other("the reading thread stopped")),
        };
        if n == 0 {
            break;
        }
        run.absorb(&buf[..n]);
        // The buffer goes back before the callback, so the reader is never idle for it.
        let _ = free.send(buf);
        if !progress(n as u64) {
            return Err(stopped());
        }
    }
    Ok(run.finish())
}

/// Opens a file to read, refusing anything that is not a regular file by now (a FIFO
/// swapped in after the walk would otherwise block the open, or the read, forever).
pub fn open_regular(path: &std::path::Path) -> io::Result<(File, std::fs::Metadata)> {
    let file = open_to_read(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "no longer a regular file",
        ));
    }
    Ok((file, meta))
}

/// At most this much of a file is asked for ahead (`read_ahead`): enough for a small
/// file whole; a bigger one is read sequentially and the kernel's own readahead takes over.
#[cfg(target_os = "linux")]
pub const READ_AHEAD_MAX: u64 = 2 << 20;

/// Asks the kernel to start reading the files of `files` (path and size, at most
/// `READ_AHEAD_MAX` of each) into the page cache, and returns without waiting for them.
/// A hashing thread calls it for the files it will hash next, so that on a cold disk
/// many reads are in flight rather than one a thread: small files are bound by the
/// disk's latency, not its bandwidth (`xargs -P16 md5sum` beat two hashing threads
/// 2-to-1 there). Only when the first of them is not in the page cache already: on a
/// warm cache the hints would cost three system calls a file and gain nothing.
#[cfg(target_os = "linux")]
pub fn read_ahead(files: &[(&std::path::Path, u64)]) {
    use std::os::unix::io::AsRawFd;
    let mut rest = files.iter().filter(|(_, size)| *size > 0);
    let Some((path, size)) = rest.next() else {
        return;
    };
    match open_to_read(path) {
        Ok(first) if !cached(&first) => will_need(&first, *size),
        _ => return,
    }
    for (path, size) in rest {
        if let Ok(file) = open_to_read(path) {
            will_need(&file, *size);
        }
    }

    fn will_need(file: &File, size: u64) {
        // SAFETY: a plain system call on a descriptor owned by the caller; it writes
        // nothing of ours. Its error is ignored: the read that follows reports it.
        unsafe {
            libc::posix_fadvise(
                file.as_raw_fd(),
                0,
                size.min(READ_AHEAD_MAX) as libc::off_t,
                libc::POSIX_FADV_WILLNEED,
            );
        }
    }
}

/// Whether the first byte of `file` is in the page cache: a read that may not wait
/// (`RWF_NOWAIT`) gets it or says it would block. Anything else (an old kernel, a
/// file system without it) counts as cached, so that nothing is asked ahead.
#[cfg(target_os = "linux")]
fn cached(file: &File) -> bool {
    use std::os::unix::io::AsRawFd;
    let mut byte = 0u8;
    let iov = libc::iovec {
        iov_base: (&mut byte as *mut u8).cast(),
        iov_len: 1,
    };
    // SAFETY: `iov` points at one byte owned by this frame, alive for the call.
    let n = unsafe { libc::preadv2(file.as_raw_fd(), &iov, 1, 0, libc::RWF_NOWAIT) };
    !(n < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EAGAIN))
}

/// Elsewhere there is no portable "read this ahead" call: reads wait their turn.
#[cfg(not(target_os = "linux"))]
pub fn read_ahead(_files: &[(&std::path::Path, u64)]) {}

/// Opens a file to read without waiting: opening a FIFO (a file replaced by one since the
/// walk) without O_NONBLOCK waits for a writer; on a regular file the flag changes nothing.
fn open_to_read(path: &std::path::Path) -> io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    options.open(path)
}

pub fn to_hex(md5: &Md5Sum) -> String {
    hex::encode(md5)
}

/// Reads the first bytes only (for sniffing when the hash came from the cache).
pub fn read_head(mut file: &File) -> io::Result<Vec<u8>> {
    let mut head = vec![0u8; HEAD_LEN];
    let mut filled = 0;
    while filled < HEAD_LEN {
        match file.read(&mut head[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    head.truncate(filled);
    Ok(head)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn only_regular_files_open_and_a_fifo_does_not_block() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if made.map(|s| s.success()).unwrap_or(false) {
            let err = open_regular(&fifo).unwrap_err();
            assert_eq!(err.to_string(), "no longer a regular file");
        }
        assert!(open_regular(dir.path()).is_err(), "a directory is refused");
        let f = dir.path().join("f");
        std::fs::write(&f, "x").unwrap();
        assert_eq!(open_regular(&f).unwrap().1.len(), 1);
    }

    /// `read_ahead` asks the kernel for the files of a batch only when the first is not
    /// in the page cache: the check must tell a file dropped from the cache from one
    /// just read (were it always "cached", a cold disk would be read one file a thread).
    #[cfg(target_os = "linux")]
    #[test]
    fn the_page_cache_check_tells_a_dropped_file_from_one_just_read() {
        use std::os::unix::io::AsRawFd;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, vec![7u8; 64 << 10]).unwrap();
        let file = File::open(&path).unwrap();
        assert!(cached(&file), "just written");
        file.sync_all().unwrap();
        // SAFETY: a plain system call on a descriptor owned here.
        unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
        // A file system that keeps every file in memory (tmpfs) drops nothing; there only
        // the other side is checked.
        if !cached(&file) {
            read_ahead(&[(path.as_path(), 64 << 10)]);
            assert_eq!(std::fs::read(&path).unwrap(), vec![7u8; 64 << 10]);
            assert!(cached(&file), "read again");
        }
        // Empty and missing files are no reason to fail.
        read_ahead(&[
            (dir.path().join("missing").as_path(), 10),
            (path.as_path(), 0),
        ]);
    }

    #[test]
    fn known_digests() {
        let h = |b: &[u8]| to_hex(&md5_reader(b, &mut |_| true).unwrap().md5);
        assert_eq!(h(b""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(
            h(b"The quick brown fox jumps over the lazy dog"),
            "9e107d9d372bb6826bd81d3542a419d6"
        );
        // Across buffer boundaries: compare with a one-shot digest.
        let big: Vec<u8> = (0..(READ_BUF * 3 + 17))
            .map(|i| (i * 31 % 251) as u8)
            .collect();
        let mut seen = 0;
        let out = md5_reader(&big[..], &mut |n| {
            seen += n;
            true
        })
        .unwrap();
        assert_eq!(out.md5, <[u8; 16]>::from(Md5::digest(&big)));
        assert_eq!((out.size, seen), (big.len() as u64, big.len() as u64));
        assert_eq!(out.head, big[..HEAD_LEN]);
    }

    fn one_shot(data: &[u8]) -> Md5Sum {
        Md5::digest(data).into()
    }

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 131 % 251) as u8).collect()
    }

    /// Yields its data in uneven pieces, with an `Interrupted` error now and then.
    struct Choppy<'a> {
        data: &'a [u8],
        calls: usize,
    }

    impl Read for Choppy<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.calls += 1;
            if self.calls.is_multiple_of(5) {
                return Err(io::Error::new(io::ErrorKind::Interrupted, "signal"));
            }
            let n = (self.calls * 7919 % 1000 + 1)
                .min(buf.len())
                .min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    #[test]
    fn pipelined_equals_one_shot_across_buffer_boundaries() {
        for buf_len in [1, 7, 64, 4096] {
            for len in [
                0,
                1,
                buf_len - 1,
                buf_len,
                buf_len + 1,
                buf_len * 5 + 3,
                10_007,
            ] {
                let data = pattern(len);
                for bufs in [1, 2, 4] {
                    let mut seen = 0;
                    let out = md5_pipelined(&data[..], buf_len, bufs, &mut |n| {
                        seen += n;
                        true
                    })
                    .unwrap();
                    let what = format!("len {len}, buffers {bufs} x {buf_len}");
                    assert_eq!(out.md5, one_shot(&data), "{what}");
                    assert_eq!((out.size, seen), (len as u64, len as u64), "{what}");
                    assert_eq!(out.head, data[..len.min(HEAD_LEN)], "{what}");
                }
            }
        }
    }

    #[test]
    fn pipelined_survives_short_reads_and_interruptions() {
        let data = pattern(300_000);
        let choppy = Choppy {
            data: &data,
            calls: 0,
        };
        let out = md5_pipelined(choppy, 65_536, 3, &mut |_| true).unwrap();
        assert_eq!(out.md5, one_shot(&data));
        assert_eq!(out.size, data.len() as u64);
    }

    #[test]
    fn pipelined_reports_read_errors() {
        struct Broken(usize);
        impl Read for Broken {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0 == 0 {
                    return Err(io::Error::other("disk on fire"));
                }
                self.0 -= 1;
                buf.fill(1);
                Ok(buf.len())
            }
        }
        let err = md5_pipelined(Broken(3), 1024, 2, &mut |_| true).unwrap_err();
        assert_eq!(err.to_string(), "disk on fire");
    }

    #[test]
    fn pipelined_stops_early_without_hanging() {
        // An endless reader: only `progress` returning false ends it, and the reader
        // thread must be released (the call returns instead of deadlocking).
        let mut calls = 0;
        let err = md5_pipelined(io::repeat(7), 4096, 4, &mut |_| {
            calls += 1;
            calls < 10
        })
        .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::Interrupted);
        assert_eq!(calls, 10);
    }

    #[test]
    fn md5_file_big_and_small_agree_with_one_shot() {
        use std::io::{Seek, Write};
        for len in [0, READ_BUF + 1, PIPELINE_MIN as usize + PIPE_BUF / 2 + 3] {
            let data = pattern(len);
            let mut f = tempfile::tempfile().unwrap();
            f.write_all(&data).unwrap();
            f.rewind().unwrap();
            let out = md5_file(&f, len as u64, &mut ReadBuf::new(), &mut |_| true).unwrap();
            assert_eq!(out.md5, one_shot(&data), "len {len}");
            assert_eq!(out.size, len as u64);
            assert_eq!(out.head, data[..len.min(HEAD_LEN)]);
        }
    }

    #[test]
    fn one_read_buffer_serves_many_files() {
        use std::io::{Seek, Write};
        // Longest first: what a file leaves in the buffer must not leak into the next.
        let mut buf = ReadBuf::new();
        for len in [READ_BUF * 2 + 5, READ_BUF, 100, 4, 0] {
            let data = pattern(len);
            let mut f = tempfile::tempfile().unwrap();
            f.write_all(&data).unwrap();
            f.rewind().unwrap();
            let out = md5_file(&f, len as u64, &mut buf, &mut |_| true).unwrap();
            assert_eq!(out.md5, one_shot(&data), "len {len}");
            assert_eq!(out.size, len as u64);
        }
    }
}
