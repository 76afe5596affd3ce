//! Standard input (`-`), kept while it is hashed: storage takes no body of unknown length
//! and the API wants the MD5 first, so the bytes must be held until both are known, and
//! then read again from byte 0 for each attempt of the upload.
//!
//! The first `MEMORY_MAX` bytes stay in memory. Past them everything goes to an anonymous
//! temporary file in the spool folder (`TMPDIR`), which has no name from its creation on
//! (`O_TMPFILE` on Linux; elsewhere created and unlinked at once, or deleted on close on
//! Windows): whatever ends the process, a second signal or SIGKILL included, nothing is
//! left behind. Reads and writes are positioned (`pread`/`pwrite`), so no cursor is
//! shared between the writer and the attempts that read it.
//!
//! Blocking: call `spool` and `Spool::chunk` (for a spool on disk) on a blocking thread.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::hash::{Hashed, Running, READ_BUF};

/// Input up to this size stays in memory; a bigger one goes to the spool folder.
pub const MEMORY_MAX: usize = 4 << 20;

/// The input, whole: in memory, or in an anonymous temporary file.
#[derive(Debug)]
pub struct Spool {
    size: u64,
    store: Store,
}

#[derive(Debug)]
enum Store {
    Memory(Bytes),
    File(File),
}

/// What reading the input ended with.
#[derive(Debug)]
pub enum SpoolError {
    /// The input could not be read.
    Read(io::Error),
    /// The spool folder did not take the bytes: full, missing, not writable.
    Write { dir: PathBuf, error: io::Error },
    /// `progress` said stop (the run is stopping).
    Stopped,
}

/// Reads `input` to its end into a spool (in memory up to `memory_max` bytes, then in an
/// anonymous file in `dir`), hashing it as it goes. `progress` hears each chunk's length;
/// a `false` from it stops. Blocking.
pub fn spool(
    mut input: impl Read,
    dir: &Path,
    memory_max: usize,
    progress: &mut dyn FnMut(u64) -> bool,
) -> Result<(Spool, Hashed), SpoolError> {
    let write_error = |error: io::Error| SpoolError::Write {
        dir: dir.to_path_buf(),
        error,
    };
    let mut run = Running::new();
    let mut memory = Vec::new();
    let mut file: Option<File> = None;
    let mut buf = vec![0u8; READ_BUF];
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(SpoolError::Read(e)),
        };
        let chunk = &buf[..n];
        let at = run.size();
        run.absorb(chunk);
        match &file {
            None if memory.len() + n <= memory_max => memory.extend_from_slice(chunk),
            None => {
                let f = tempfile::tempfile_in(dir).map_err(write_error)?;
                write_all_at(&f, &memory, 0).map_err(write_error)?;
                write_all_at(&f, chunk, at).map_err(write_error)?;
                memory = Vec::new();
                file = Some(f);
            }
            Some(f) => write_all_at(f, chunk, at).map_err(write_error)?,
        }
        if !progress(n as u64) {
            return Err(SpoolError::Stopped);
        }
    }
    let hashed = run.finish();
    let store = match file {
        Some(f) => Store::File(f),
        None => Store::Memory(Bytes::from(memory)),
    };
    Ok((
        Spool {
            size: hashed.size,
            store,
        },
        hashed,
    ))
}

impl Spool {
    /// Bytes held.
    #[cfg(test)]
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Whether the bytes are in memory (then `chunk` never blocks).
    pub fn in_memory(&self) -> bool {
        matches!(self.store, Store::Memory(_))
    }

    /// Up to `len` bytes from `offset` (fewer only at the end). Blocking for a spool on
    /// disk.
    pub fn chunk(&self, offset: u64, len: usize) -> io::Result<Bytes> {
        let len = len.min(self.size.saturating_sub(offset) as usize);
        match &self.store {
            Store::Memory(bytes) => {
                let start = offset as usize;
                Ok(bytes.slice(start..start + len))
            }
            Store::File(f) => {
                let mut buf = vec![0u8; len];
                read_exact_at(f, &mut buf, offset)?;
                Ok(Bytes::from(buf))
            }
        }
    }
}

#[cfg(unix)]
fn write_all_at(f: &File, buf: &[u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(f, buf, offset)
}

#[cfg(unix)]
fn read_exact_at(f: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(f, buf, offset)
}

#[cfg(windows)]
fn write_all_at(f: &File, mut buf: &[u8], mut offset: u64) -> io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buf.is_empty() {
        match f.seek_write(buf, offset) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                buf = &buf[n..];
                offset += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(windows)]
fn read_exact_at(f: &File, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buf.is_empty() {
        match f.seek_read(buf, offset) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => {
                buf = &mut std::mem::take(&mut buf)[n..];
                offset += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use md5::{Digest, Md5};

    /// A reader that hands out `data` in pieces of at most `piece` bytes, as a pipe does.
    struct Pieces<'a> {
        data: &'a [u8],
        piece: usize,
    }

    impl Read for Pieces<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.piece.min(buf.len()).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    fn content(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 % 251) as u8).collect()
    }

    /// Every byte back, from any offset, in memory and on disk, with the MD5 and the
    /// first bytes of what was read.
    #[test]
    fn what_goes_in_comes_back_from_any_offset() {
        let dir = tempfile::tempdir().unwrap();
        for (len, memory_max, on_disk) in [
            (0, 100, false),
            (100, 100, false),
            (101, 100, true),
            (300_000, 1000, true),
            (300_000, 1 << 20, false),
        ] {
            let data = content(len);
            let mut seen = 0;
            let input = Pieces {
                data: &data,
                piece: 7000,
            };
            let (spool, hashed) = spool(input, dir.path(), memory_max, &mut |n| {
                seen += n;
                true
            })
            .unwrap();
            assert_eq!(
                (spool.size(), hashed.size, seen),
                (len as u64, len as u64, len as u64)
            );
            assert_eq!(
                spool.in_memory(),
                !on_disk,
                "{len} bytes, {memory_max} in memory"
            );
            assert_eq!(hashed.md5, <[u8; 16]>::from(Md5::digest(&data)));
            assert_eq!(hashed.head, data[..len.min(crate::hash::HEAD_LEN)]);
            // Read back twice (a retry starts again at 0), in chunks of another size.
            for _ in 0..2 {
                let mut back = Vec::new();
                while (back.len() as u64) < spool.size() {
                    back.extend_from_slice(&spool.chunk(back.len() as u64, 65_536).unwrap());
                }
                assert_eq!(back, data);
            }
            assert!(spool.chunk(len as u64, 10).unwrap().is_empty());
        }
        // Anonymous: nothing was ever named in the folder.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_missing_folder_a_failing_input_and_a_stop_are_told_apart() {
        let data = content(10_000);
        let missing = Path::new("/nonexistent/spool");
        let input = Pieces {
            data: &data,
            piece: 4096,
        };
        match spool(input, missing, 100, &mut |_| true) {
            Err(SpoolError::Write { dir, .. }) => assert_eq!(dir, missing),
            other => panic!("a write error: {other:?}"),
        }

        struct Broken;
        impl Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::other("broken pipe"))
            }
        }
        assert!(matches!(
            spool(Broken, missing, 100, &mut |_| true),
            Err(SpoolError::Read(_))
        ));

        let input = Pieces {
            data: &data,
            piece: 4096,
        };
        assert!(matches!(
            spool(input, missing, 1 << 20, &mut |_| false),
            Err(SpoolError::Stopped)
        ));
    }
}
