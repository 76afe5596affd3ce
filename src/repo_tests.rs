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

/// Folders whose files are not the repository's documentation: git's data, build output,
/// fuzzers' work, vendored tools.
const NOT_DOCS: [&str; 5] = [
    ".git",
    "target",
    "fuzz/corpus",
    "fuzz/target",
    "fuzz/artifacts",
];

/// Every Markdown file of the repository, relative to its root.
fn markdown_files(dir: &Path, root: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let rel = path.strip_prefix(root).unwrap().to_path_buf();
        if NOT_DOCS.iter().any(|s| rel == Path::new(s)) {
            continue;
        }
        if path.is_dir() {
            markdown_files(&path, root, out);
        } else if path.extension().is_some_and(|e| e == "md") {
            out.push(rel);
        }
    }
}

/// The lines of a Markdown text outside its fenced code blocks.
fn outside_code_blocks(text: &str) -> impl Iterator<Item = &str> {
    let mut fenced = false;
    text.lines().filter(move |line| {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            return false;
        }
        !fenced
    })
}

/// The anchors a Markdown page offers: its `<a id="…">` and its headings as GitHub
/// names them (lower case; letters, digits, `-` and `_` kept; spaces become `-`).
fn anchors(text: &str) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    for line in outside_code_blocks(text) {
        let mut rest = line;
        while let Some(i) = rest.find("<a id=\"") {
            let after = &rest[i + 7..];
            if let Some(end) = after.find('"') {
                out.insert(after[..end].to_string());
            }
            rest = after;
        }
        if let Some(heading) = line.strip_prefix('#') {
            let title = heading.trim_start_matches('#').trim();
            let slug: String = title
                .to_lowercase()
                .chars()
                .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
                .map(|c| if c == ' ' { '-' } else { c })
                .collect();
            out.insert(slug);
        }
    }
    out
}

/// The relative links of a Markdown text (`[text](target)`), code blocks and inline
/// code aside.
fn relative_links(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in outside_code_blocks(text) {
        // Inline code is no link.
        let prose: String = line.split('`').step_by(2).collect::<Vec<_>>().join(" ");
        let mut rest = prose.as_str();
        while let Some(i) = rest.find("](") {
            let after = &rest[i + 2..];
            let Some(end) = after.find(')') else { break };
            let target = after[..end].trim();
            if !(target.contains("://") || target.starts_with("mailto:") || target.is_empty()) {
                out.push(target.to_string());
            }
            rest = &after[end..];
        }
    }
    out
}

/// Every relative link of every Markdown page leads somewhere: the file exists, and so
/// does the anchor (a heading or an `<a id>`) of a link into a page.
#[test]
fn every_relative_link_of_the_docs_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut pages = Vec::new();
    markdown_files(root, root, &mut pages);
    assert!(pages.len() >= 10, "the pages were found: {pages:?}");
    let mut broken = Vec::new();
    for page in &pages {
        let text = fs::read_to_string(root.join(page)).unwrap();
        let dir = page.parent().unwrap_or(Path::new(""));
        for link in relative_links(&text) {
            let (file, anchor) = match link.split_once('#') {
                Some((f, a)) => (f, Some(a)),
                None => (link.as_str(), None),
            };
            let target = if file.is_empty() {
                page.clone()
            } else {
                dir.join(file)
            };
            let full = root.join(&target);
            if !full.exists() {
                broken.push(format!("{}: {link}: no such file", page.display()));
                continue;
            }
            if let (Some(anchor), true) = (anchor, target.extension().is_some_and(|e| e == "md")) {
                let offered = anchors(&fs::read_to_string(&full).unwrap());
                if !offered.contains(anchor) {
                    broken.push(format!("{}: {link}: no such anchor", page.display()));
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

/// Every file of the repository a page names in code (`src/walk.rs`, `dist/package.sh`)
/// exists: a page never sends a reader to a file that moved.
#[test]
fn every_file_the_docs_name_exists() {
    const TOP: [&str; 11] = [
        "src/",
        "tests/",
        "dist/",
        "docs/",
        "benches/",
        "crates/",
        "examples/",
        "fuzz/",
        "completions/",
        ".ci/",
        ".github/",
    ];
    // Named on purpose though not in the repository: build output (package.sh's default
    // folder, cargo-fuzz's), a user's path (the shard's test vector), and a file the
    // CHANGELOG says was removed.
    const NOT_FILES: [&str; 4] = [
        "dist/out",
        "fuzz/target",
        "dist/assets/app.js",
        "benches/run.sh",
    ];
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut pages = Vec::new();
    markdown_files(root, root, &mut pages);
    let mut missing = Vec::new();
    for page in &pages {
        let dir = root.join(page.parent().unwrap_or(Path::new("")));
        let text = fs::read_to_string(root.join(page)).unwrap();
        for (n, code) in text.split('`').enumerate() {
            // Odd pieces are inside backticks.
            if n % 2 == 0 {
                continue;
            }
            let named = code.trim_end_matches(['/', ':', ',']);
            let looks_like_a_path = TOP.iter().any(|t| named.starts_with(t))
                && !named
                    .chars()
                    .any(|c| c.is_whitespace() || "<>*{}$…|".contains(c));
            // From the repository's root, or from the page's folder.
            let exists = root.join(named).exists() || dir.join(named).exists();
            if looks_like_a_path && !exists && !NOT_FILES.contains(&named) {
                missing.push(format!("{}: {named}", page.display()));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "named in the docs but not in the repository:\n{}",
        missing.join("\n")
    );
}
