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
//! The test reads every file with `syn` (a dev-dependency): each `use` tree, every
//! `crate::…` and `super::…` path in the code and in macro bodies. Visibility paths
//! (`pub(in crate::x)`), attributes and comments are no imports.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use syn::visit::{self, Visit};

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
    // The file side (no network), standard input's spool, and signals.
    &["walk", "cache", "spool", "signal"],
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
    // The run's bookkeeping and its end.
    &["ledger"],
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
    ast: syn::File,
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every file of the library (not `main.rs`, a crate of its own), parsed, with its
/// module path.
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
            let ast = syn::parse_file(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            out.push(SourceFile { module, ast });
        }
    }
    out
}

/// Whether these attributes make an item test code (`#[cfg(test)]`).
fn is_test(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("cfg")
            && a.meta
                .require_list()
                .is_ok_and(|l| l.tokens.to_string().trim() == "test")
    })
}

/// The attributes of an item, for `is_test`.
fn item_attrs(item: &syn::Item) -> &[syn::Attribute] {
    use syn::Item;
    match item {
        Item::Const(i) => &i.attrs,
        Item::Enum(i) => &i.attrs,
        Item::ExternCrate(i) => &i.attrs,
        Item::Fn(i) => &i.attrs,
        Item::ForeignMod(i) => &i.attrs,
        Item::Impl(i) => &i.attrs,
        Item::Macro(i) => &i.attrs,
        Item::Mod(i) => &i.attrs,
        Item::Static(i) => &i.attrs,
        Item::Struct(i) => &i.attrs,
        Item::Trait(i) => &i.attrs,
        Item::TraitAlias(i) => &i.attrs,
        Item::Type(i) => &i.attrs,
        Item::Union(i) => &i.attrs,
        Item::Use(i) => &i.attrs,
        _ => &[],
    }
}

/// Collects the `crate::…` and `super::…` paths a file names, test code aside.
#[derive(Default)]
struct Paths(Vec<Vec<String>>);

impl<'ast> Visit<'ast> for Paths {
    fn visit_item(&mut self, item: &'ast syn::Item) {
        if !is_test(item_attrs(item)) {
            visit::visit_item(self, item);
        }
    }

    fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
        expand(&u.tree, &mut Vec::new(), &mut self.0);
    }

    fn visit_path(&mut self, p: &'ast syn::Path) {
        self.0
            .push(p.segments.iter().map(|s| s.ident.to_string()).collect());
        visit::visit_path(self, p);
    }

    /// `pub(in crate::x)` says who may see an item; it imports nothing.
    fn visit_vis_restricted(&mut self, _: &'ast syn::VisRestricted) {}

    /// Attributes (doc comments included) import nothing.
    fn visit_attribute(&mut self, _: &'ast syn::Attribute) {}

    /// A macro's body is tokens: `crate :: a :: b` sequences in it are paths.
    fn visit_macro(&mut self, m: &'ast syn::Macro) {
        visit::visit_macro(self, m);
        let mut path: Vec<String> = Vec::new();
        let mut colons = 0;
        for tt in flat_tokens(m.tokens.clone()) {
            match tt {
                proc_macro2::TokenTree::Ident(i) => {
                    let word = i.to_string();
                    let starts = word == "crate" || word == "super";
                    if path.is_empty() || colons != 2 {
                        // Not the next segment of a path: one may start here.
                        self.take(&mut path);
                        if starts {
                            path.push(word);
                        }
                    } else {
                        path.push(word);
                    }
                    colons = 0;
                }
                proc_macro2::TokenTree::Punct(p) if p.as_char() == ':' && !path.is_empty() => {
                    colons += 1;
                }
                _ => {
                    self.take(&mut path);
                    colons = 0;
                }
            }
        }
        self.take(&mut path);
    }
}

impl Paths {
    fn take(&mut self, path: &mut Vec<String>) {
        if path.len() > 1 {
            self.0.push(std::mem::take(path));
        }
        path.clear();
    }
}

/// A token stream with its groups opened, in order.
fn flat_tokens(ts: proc_macro2::TokenStream) -> Vec<proc_macro2::TokenTree> {
    let mut out = Vec::new();
    for tt in ts {
        match tt {
            proc_macro2::TokenTree::Group(g) => out.extend(flat_tokens(g.stream())),
            other => out.push(other),
        }
    }
    out
}

/// Expands a use tree (`super::{a::B, c::{D, E as F}}`) into the paths it names.
fn expand(tree: &syn::UseTree, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    use syn::UseTree;
    let mut named = |ident: &syn::Ident, prefix: &Vec<String>| {
        let mut p = prefix.clone();
        if ident != "self" {
            p.push(ident.to_string());
        }
        out.push(p);
    };
    match tree {
        UseTree::Path(p) => {
            prefix.push(p.ident.to_string());
            expand(&p.tree, prefix, out);
            prefix.pop();
        }
        UseTree::Name(n) => named(&n.ident, prefix),
        UseTree::Rename(r) => named(&r.ident, prefix),
        UseTree::Glob(_) => out.push(prefix.clone()),
        UseTree::Group(g) => {
            for t in &g.items {
                expand(t, prefix, out);
            }
        }
    }
}

/// The paths a file names that start with `crate` or `super`.
fn paths(file: &syn::File) -> Vec<Vec<String>> {
    let mut found = Paths::default();
    found.visit_file(file);
    let mut out = found.0;
    out.retain(|p| matches!(p.first().map(String::as_str), Some("crate" | "super")));
    out
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
        for path in paths(&f.ast) {
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

/// The names of the types, traits and aliases a file defines, test code aside.
#[derive(Default)]
struct TypeNames(Vec<String>);

impl<'ast> Visit<'ast> for TypeNames {
    fn visit_item(&mut self, item: &'ast syn::Item) {
        use syn::Item;
        if is_test(item_attrs(item)) {
            return;
        }
        let name = match item {
            Item::Struct(i) => Some(&i.ident),
            Item::Enum(i) => Some(&i.ident),
            Item::Trait(i) => Some(&i.ident),
            Item::Type(i) => Some(&i.ident),
            Item::Union(i) => Some(&i.ident),
            _ => None,
        };
        if let Some(n) = name {
            self.0.push(n.to_string());
        }
        visit::visit_item(self, item);
    }
}

/// One meaning per name: no type, trait or alias name is defined in two files of `src/`
/// (test code aside), so that a name found in one file means the same in the next.
#[test]
fn no_type_name_is_defined_in_two_files() {
    let mut defined: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in files(&src()) {
        let mut names = TypeNames::default();
        names.visit_file(&f.ast);
        for name in names.0 {
            defined.entry(name).or_default().insert(shown(&f.module));
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

    // A doc comment, an attribute and a visibility path import nothing; a path in a
    // macro's body does.
    write(
        "exit.rs",
        "/// See `crate::walk::Walk`.\n#[doc = \"crate::walk\"]\npub(in crate::walk) struct UsageError;\n",
    );
    assert_eq!(violations(root), Vec::<String>::new());
    write(
        "exit.rs",
        "pub struct UsageError;\nfn f() { println!(\"{}\", crate::walk::x()); }\n",
    );
    let found = violations(root);
    assert!(
        found.len() == 1 && found[0].contains("exit (layer 0) imports from walk (layer 2)"),
        "{found:?}"
    );
    write("exit.rs", "pub struct UsageError;\n");

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
