//! The repository stands alone: no file cites the planning notes that lived outside it.
//! The API contract is `docs/api.md` and the outside interface `docs/interface.md`; a
//! comment or page that needs either cites them.

use std::fs;
use std::path::Path;

/// What no file may contain. Case-sensitive, so `docs/api.md` is allowed. Built with
/// `concat!` so that this file does not trip its own test.
const FORBIDDEN: [&str; 3] = [
    concat!("SPEC", ".md"),
    concat!("API", ".md"),
    concat!("..", "/shared"),
];

/// Folders that are not the repository's own text: git's data and build output.
const SKIPPED: [&str; 2] = [".git", "target"];

fn scan(dir: &Path, root: &Path, hits: &mut Vec<String>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        let rel = path.strip_prefix(root).unwrap_or(&path);
        if path.is_dir() {
            if !(dir == root && SKIPPED.iter().any(|s| rel == Path::new(s))) {
                scan(&path, root, hits);
            }
            continue;
        }
        let Ok(bytes) = fs::read(&path) else { continue };
        let text = String::from_utf8_lossy(&bytes);
        for (n, line) in text.lines().enumerate() {
            for needle in FORBIDDEN {
                if line.contains(needle) {
                    hits.push(format!("{}:{}: {needle}", rel.display(), n + 1));
                }
            }
        }
    }
}

#[test]
fn no_file_cites_notes_outside_the_repository() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut hits = Vec::new();
    scan(root, root, &mut hits);
    assert!(
        hits.is_empty(),
        "cite docs/api.md or docs/interface.md instead of files outside the repository:\n{}",
        hits.join("\n")
    );
}
