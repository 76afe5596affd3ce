//! `--files-from` lists, newline- or NUL-separated, read a line at a time in the reads a
//! pipe gives, each line one that a path can be.
//!
//! Input: one byte of options (bit 0: NUL-separated; the rest: the longest path, 1 to
//! 128 bytes, so that the limits are met often), one byte of read size (its low bits
//! also the longest name, 1 to 32), then the list.
//! Invariants: the paths are exactly those of splitting the whole list at once (empty
//! lines skipped, a `\r` before a newline dropped), and the first line that cannot be a
//! path (too long, a name too long, a NUL byte in a newline-separated list), or that
//! ends a run of too many empty lines, is refused with its number, whatever the read
//! sizes.
#![no_main]

use chief_upload::fuzzing::files_from;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [options, chunk, list @ ..] = data else {
        return;
    };
    let null = options & 1 == 1;
    let max_path = 1 + usize::from(options >> 1);
    let max_name = 1 + usize::from(chunk % 32);
    let got = files_from(list, null, max_path, max_name, usize::from(*chunk));
    assert_eq!(got, whole(list, null, max_path, max_name));
});

/// The same list split at once.
fn whole(list: &[u8], null: bool, max_path: usize, max_name: usize) -> Result<Vec<Vec<u8>>, u64> {
    let sep = if null { b'\0' } else { b'\n' };
    let mut out = Vec::new();
    let mut empty = 0;
    let mut pieces: Vec<&[u8]> = list.split(|b| *b == sep).collect();
    // A separator at the end ends the last line; it starts no new one.
    if list.last() == Some(&sep) || list.is_empty() {
        pieces.pop();
    }
    for (i, piece) in pieces.into_iter().enumerate() {
        let line = match piece.strip_suffix(b"\r") {
            Some(l) if !null => l,
            _ => piece,
        };
        let long_name = line
            .split(|b| *b == b'/' || (cfg!(windows) && *b == b'\\'))
            .any(|name| name.len() > max_name);
        if line.len() > max_path || line.contains(&0) || long_name {
            return Err(i as u64 + 1);
        }
        if line.is_empty() {
            empty += 1;
            if empty > max_path {
                return Err(i as u64 + 1);
            }
        } else {
            empty = 0;
            out.push(line.to_vec());
        }
    }
    Ok(out)
}
