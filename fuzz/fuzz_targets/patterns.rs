//! Pattern files (`--include-from`, `--exclude-from`) and the globs in them.
//!
//! Input: the file's text, then a NUL, then a relative path to judge.
//! Invariants: a pattern line is trimmed, not empty, not a comment, and the line numbers
//! grow; the same globs as include and as exclude judge every file oppositely, and an
//! exclude prunes a folder exactly when it leaves out a file of that path.
#![no_main]

use chief_upload::fuzzing::{pattern_file, Globs};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (file, path) = text.split_once('\0').unwrap_or((text, "dir/file.txt"));
    let lines = pattern_file(file);
    let mut last = 0;
    for (n, glob) in &lines {
        assert!(*n > last, "line numbers grow");
        last = *n;
        assert!(!glob.is_empty() && !glob.starts_with('#'), "{glob:?}");
        assert_eq!(glob.trim(), glob);
    }
    let globs: Vec<String> = lines.into_iter().map(|(_, g)| g).collect();
    let (Ok(include), Ok(exclude)) = (Globs::new(&globs, &[]), Globs::new(&[], &globs)) else {
        return;
    };
    if !globs.is_empty() {
        assert_ne!(
            include.wants_file(path),
            exclude.wants_file(path),
            "{globs:?} {path:?}"
        );
    }
    assert_eq!(exclude.wants_dir(path), exclude.wants_file(path));
    assert!(include.wants_dir(path), "only an exclude prunes");
});
