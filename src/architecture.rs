//! The layers of `src/`, and the test that keeps imports going down them
//! (`ARCHITECTURE.md`, "Layers").
//!
//! Each top-level module (a file `src/x.rs`, or a folder `src/x/` with its files) sits in
//! one layer. A module may import only from lower layers: never from its own layer's other
//! modules, never from a higher one. Inside a folder, no two files import each other,
//! directly or through others, except a folder's `mod.rs` (or `x.rs`) with its own
//! children. The crate root (`lib.rs`) may import anything. Test code (`mod tests`, the
//! `tests.rs` files) is not held to the layers.
//!
//! The test reads the `use crate::…` and `use super::…` lines (and `crate::…` and
//! `super::…` paths in the code) of every file: no tool to install.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, lowest first. A new top-level module must be placed here.
const LAYERS: &[&[&str]] = &[
    // Leaves: they import nothing of this crate.
    &[
        "duration", "exit", "file_key", "hash", "io_words", "media", "secret", "shard", "sync",
        "version",
    ],
    // The command line (it names the build: `version`; its duration flags are read by
    // `duration`), the events the pipeline reports, the SQLite layer, named files read
    // with a bound.
    &["cli", "event", "db", "bounded"],
    // The file side (no network), and signals.
    &["walk", "cache", "signal"],
    // Admission of files: how many are in flight.
    &["admission"],
    // What the two HTTP clients share: clients, failures, the retry loop, origins.
    &["http"],
    // Every decision made once, from flags, environment and config file.
    &["settings"],
    // The Chief API client; the output layer.
    &["api", "report"],
    // The signed-URL upload; `--watch`.
    &["transfer", "watch"],
    // The stages, wired.
    &["pipeline"],
    // Built only with the `fuzzing` feature: the parsers of outside input, re-exported
    // for the fuzz targets in `fuzz/`.
    &["fuzzing"],
];

/// Files that hold only tests, and this one.
const TEST_FILES: &[&str] = &["tests.rs", "repo_tests.rs", "architecture.rs"];

/// A module path: `["http", "retry"]` for `src/http/retry.rs`; `[]` is the crate root.
type ModPath = Vec<String>;

struct SourceFile {
    module: ModPath,
    /// The code above its test module.
    code: String,
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every file of the library (not `main.rs`, a crate of its own), with its module path.
fn files(root: &Path) -> Vec<SourceFile> {
    let mut out = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if !name.ends_with(".rs") || TEST_FILES.contains(&name.as_str()) {
                continue;
            }
            if path.parent() == Some(root) && name == "main.rs" {
                continue;
            }
            let rel = path.strip_prefix(root).unwrap().with_extension("");
            let mut module: ModPath = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if matches!(module.last().map(String::as_str), Some("mod" | "lib")) {
                module.pop();
            }
            let text = std::fs::read_to_string(&path).unwrap();
            out.push(SourceFile {
                module,
                code: without_tests(&text),
            });
        }
    }
    out
}

/// The code before the file's test module (`#[cfg(test)] mod tests`), which closes a file.
fn without_tests(text: &str) -> String {
    let mut code = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if line.trim() == "#[cfg(test)]"
            && lines.peek().is_some_and(|next| {
                let next = next.trim_start();
                next.starts_with("mod tests;") || next.starts_with("mod tests {")
            })
        {
            break;
        }
        code.push_str(line);
        code.push('\n');
    }
    code
}

/// The paths a file names that start with `crate` or `super`: each `use` tree expanded
/// (`use super::{a::B, c}` gives `super::a::B` and `super::c`), and every other
/// `crate::…` or `super::…` path in the code.
fn paths(code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut rest = code;
    // `use` statements, braces and all.
    while let Some(i) = find_use(rest) {
        let stmt_start = &rest[i..];
        let end = stmt_start.find(';').unwrap_or(stmt_start.len());
        let stmt = stmt_start[..end]
            .trim_start_matches("pub(crate) use")
            .trim_start_matches("pub(super) use")
            .trim_start_matches("pub use")
            .trim_start_matches("use");
        let tree: String = without_renames(stmt)
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        expand(&tree, &mut Vec::new(), &mut out);
        rest = &stmt_start[end..];
    }
    // Paths in code: `crate::io_words::io_reason(…)`.
    let words: Vec<&str> = code
        .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
        .collect();
    for w in words {
        if w.starts_with("crate::") || w.starts_with("super::") {
            out.push(w.split("::").map(str::to_string).collect());
        }
    }
    out.retain(|p| matches!(p.first().map(String::as_str), Some("crate" | "super")));
    out
}

/// A use tree without its renames: `a as b` is `a`.
fn without_renames(tree: &str) -> String {
    let mut out = String::new();
    let mut words = tree.split_whitespace();
    while let Some(w) = words.next() {
        if w == "as" {
            // Drop the new name, keep what follows it (`,` or `}`).
            if let Some(name) = words.next() {
                out.extend(
                    name.chars()
                        .skip_while(|c| c.is_alphanumeric() || *c == '_'),
                );
            }
            continue;
        }
        out.push(' ');
        out.push_str(w);
    }
    out
}

/// Where the next `use` statement starts (at the start of a line, maybe after `pub…`).
fn find_use(text: &str) -> Option<usize> {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let t = line.trim_start();
        if t.starts_with("use ")
            || t.starts_with("pub use ")
            || t.starts_with("pub(crate) use ")
            || t.starts_with("pub(super) use ")
        {
            return Some(offset + (line.len() - t.len()));
        }
        offset += line.len();
    }
    None
}

/// Expands a use tree without spaces (`super::{a::B,c::{D,E}}`) into paths.
fn expand(tree: &str, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    let (head, group) = match tree.find('{') {
        Some(i) if tree.ends_with('}') => (&tree[..i], Some(&tree[i + 1..tree.len() - 1])),
        _ => (tree, None),
    };
    let depth = prefix.len();
    prefix.extend(
        head.split("::")
            .filter(|s| !s.is_empty())
            .map(str::to_string),
    );
    match group {
        None => out.push(prefix.clone()),
        Some(items) => {
            for item in split_top(items) {
                expand(item, prefix, out);
            }
        }
    }
    prefix.truncate(depth);
}

/// Splits `a,b::{c,d},e` at its top-level commas.
fn split_top(items: &str) -> Vec<&str> {
    let (mut out, mut depth, mut start) = (Vec::new(), 0, 0);
    for (i, c) in items.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&items[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&items[start..]);
    out.into_iter().filter(|s| !s.is_empty()).collect()
}

/// The module a path names, from the module `from`: the longest prefix that is a module.
fn resolve(from: &ModPath, path: &[String], modules: &BTreeSet<ModPath>) -> Option<ModPath> {
    let mut target: ModPath = match path.first().map(String::as_str) {
        Some("crate") => Vec::new(),
        Some("super") => {
            let mut t = from.clone();
            t.pop();
            t
        }
        _ => return None,
    };
    for seg in &path[1..] {
        if seg == "super" {
            target.pop();
        } else {
            target.push(seg.clone());
        }
    }
    while !target.is_empty() && !modules.contains(&target) {
        target.pop();
    }
    Some(target)
}

fn layer_of(top: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&top))
}

fn shown(m: &ModPath) -> String {
    if m.is_empty() {
        "lib".into()
    } else {
        m.join("/")
    }
}

/// What is wrong with the imports of the files under `root`, in words.
fn violations(root: &Path) -> Vec<String> {
    let files = files(root);
    let modules: BTreeSet<ModPath> = files.iter().map(|f| f.module.clone()).collect();
    let mut problems = Vec::new();
    let mut edges: BTreeMap<ModPath, BTreeSet<ModPath>> = BTreeMap::new();
    for f in &files {
        let Some(top) = f.module.first() else {
            continue; // the crate root may import anything
        };
        let Some(mine) = layer_of(top) else {
            problems.push(format!("{top} is in no layer: place it in LAYERS"));
            continue;
        };
        for path in paths(&f.code) {
            let Some(target) = resolve(&f.module, &path, &modules) else {
                continue;
            };
            let Some(their_top) = target.first() else {
                if path.len() > 1 {
                    problems.push(format!(
                        "{} imports {} from the crate root",
                        shown(&f.module),
                        path.join("::")
                    ));
                }
                continue;
            };
            if their_top == top {
                if target != f.module {
                    edges.entry(f.module.clone()).or_default().insert(target);
                }
                continue;
            }
            match layer_of(their_top) {
                Some(theirs) if theirs < mine => {}
                Some(theirs) => problems.push(format!(
                    "{} (layer {mine}) imports from {} (layer {theirs}): imports only go down",
                    shown(&f.module),
                    shown(&target)
                )),
                None => {}
            }
        }
    }
    problems.extend(cycles(&edges));
    let unique: BTreeSet<String> = problems.into_iter().collect();
    unique.into_iter().collect()
}

/// Files of one folder that import each other, directly or through others; a folder's
/// module file and its own children excepted.
fn cycles(edges: &BTreeMap<ModPath, BTreeSet<ModPath>>) -> Vec<String> {
    let parent_and_child = |a: &ModPath, b: &ModPath| {
        (a.len() + 1 == b.len() && b.starts_with(a)) || (b.len() + 1 == a.len() && a.starts_with(b))
    };
    let reaches = |from: &ModPath, to: &ModPath| -> bool {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from.clone()];
        while let Some(m) = stack.pop() {
            for next in edges.get(&m).into_iter().flatten() {
                if parent_and_child(&m, next) {
                    continue;
                }
                if next == to {
                    return true;
                }
                if seen.insert(next.clone()) {
                    stack.push(next.clone());
                }
            }
        }
        false
    };
    let mut out = Vec::new();
    for (a, targets) in edges {
        for b in targets {
            if !parent_and_child(a, b) && reaches(b, a) {
                out.push(format!(
                    "{} and {} import each other (directly or through others)",
                    shown(a),
                    shown(b)
                ));
            }
        }
    }
    out
}

#[test]
fn imports_only_go_down_the_layers() {
    let problems = violations(&src());
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// One meaning per name: no type, trait or alias name is defined in two files of `src/`
/// (test code aside), so that a name found in one file means the same in the next.
#[test]
fn no_type_name_is_defined_in_two_files() {
    let mut defined: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in files(&src()) {
        for line in f.code.lines() {
            let mut words = line
                .trim_start()
                .trim_start_matches("pub(crate) ")
                .trim_start_matches("pub(super) ")
                .trim_start_matches("pub ")
                .split(|c: char| !(c.is_alphanumeric() || c == '_'));
            let (Some(kind), Some(name)) = (words.next(), words.next()) else {
                continue;
            };
            if matches!(kind, "struct" | "enum" | "trait" | "type" | "union") && !name.is_empty() {
                defined
                    .entry(name.to_string())
                    .or_default()
                    .insert(shown(&f.module));
            }
        }
    }
    let twice: Vec<String> = defined
        .iter()
        .filter(|(_, files)| files.len() > 1)
        .map(|(name, files)| format!("{name}: {files:?}"))
        .collect();
    assert!(defined.len() > 100, "the scan found the types");
    assert!(
        twice.is_empty(),
        "defined in two files:\n{}",
        twice.join("\n")
    );
}

/// Every top-level module is in exactly one layer, and every layer names real modules.
#[test]
fn every_module_has_one_layer() {
    let tops: BTreeSet<String> = files(&src())
        .into_iter()
        .filter_map(|f| f.module.first().cloned())
        .collect();
    let listed: Vec<&str> = LAYERS.iter().flat_map(|l| l.iter().copied()).collect();
    let unique: BTreeSet<&str> = listed.iter().copied().collect();
    assert_eq!(unique.len(), listed.len(), "a module in two layers");
    for top in &tops {
        assert!(unique.contains(top.as_str()), "{top} is in no layer");
    }
    for name in unique {
        assert!(tops.contains(name), "{name} is in LAYERS but not in src/");
    }
}

/// The test tells an upward import and a loop inside a folder from sound code.
#[test]
fn the_layer_test_catches_an_upward_import_and_a_loop() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let write = |rel: &str, text: &str| {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    write("lib.rs", "mod exit;\nmod walk;\nmod http;\n");
    write("exit.rs", "pub struct UsageError;\n");
    write("walk.rs", "use crate::exit::UsageError;\n");
    write("http/mod.rs", "mod a;\nmod b;\nuse crate::walk;\n");
    write("http/a.rs", "use super::b::B;\npub struct A;\n");
    write(
        "http/b.rs",
        "pub struct B;\n#[cfg(test)]\nmod tests {\n    use super::super::a::A;\n}\n",
    );
    assert_eq!(violations(root), Vec::<String>::new());

    // A rename is still the module it names.
    write(
        "walk.rs",
        "use crate::exit::{UsageError as Usage, self as e};\n",
    );
    assert_eq!(violations(root), Vec::<String>::new());

    // A leaf reaching up to a higher layer.
    write(
        "exit.rs",
        "use crate::walk::{self, Walk as W};\npub struct UsageError;\n",
    );
    let found = violations(root);
    assert!(
        found.len() == 1 && found[0].contains("exit (layer 0) imports from walk (layer 2)"),
        "{found:?}"
    );
    write("exit.rs", "pub struct UsageError;\n");

    // Two files of one folder importing each other, through a braced use tree.
    write("http/b.rs", "use super::{a::{self, A}};\npub struct B;\n");
    let found = violations(root);
    assert!(
        found
            .iter()
            .any(|p| p.contains("http/a and http/b import each other")),
        "{found:?}"
    );
}
