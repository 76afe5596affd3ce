//! Names the build for `chief-upload --version`: the short commit and its date, when built
//! from this repository's own git checkout, and the target triple.
//!
//! Like ripgrep's build.rs, git is asked only when `.git` sits beside this Cargo.toml
//! (CARGO_MANIFEST_DIR): a crate archive unpacked inside another repository has none there,
//! so it never picks up that repository's commit. `.git` is a folder in a plain clone and a
//! file (`gitdir: ...`) in a worktree; both are followed.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let target = std::env::var("TARGET").unwrap_or_default();
    println!("cargo:rustc-env=CHIEF_UPLOAD_TARGET={target}");
    println!("cargo:rerun-if-changed=build.rs");

    let root = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let (commit, date) = match git_dir(&root) {
        Some(git_dir) => {
            watch(&root, &git_dir);
            commit_and_date(&git_dir).unwrap_or_default()
        }
        None => Default::default(),
    };
    // Empty when unknown: src/version.rs then leaves the commit part out.
    println!("cargo:rustc-env=CHIEF_UPLOAD_COMMIT={commit}");
    println!("cargo:rustc-env=CHIEF_UPLOAD_COMMIT_DATE={date}");
}

/// The git directory of a checkout whose root is `root`, or None if `root` is not one.
fn git_dir(root: &Path) -> Option<PathBuf> {
    let dot_git = root.join(".git");
    if dot_git.is_dir() {
        return Some(dot_git);
    }
    // A worktree or submodule: `.git` is a file holding `gitdir: PATH`.
    let text = std::fs::read_to_string(&dot_git).ok()?;
    let path = text.strip_prefix("gitdir:")?.trim();
    Some(root.join(path))
}

/// Rebuild the version when HEAD moves: HEAD itself (a checkout) and the branch it names
/// (a commit), loose or packed. Only files that exist are named, so that a missing one does
/// not make every build re-run this script. Paths inside the checkout are given relative to
/// it (cargo resolves them against the package's folder): the same package built from a
/// copy elsewhere, e.g. its crate archive with a shared target folder, has no such files
/// and re-runs this script instead of keeping this checkout's commit.
fn watch(root: &Path, git_dir: &Path) {
    let rerun = |path: &Path| {
        let shown = path.strip_prefix(root).unwrap_or(path);
        println!("cargo:rerun-if-changed={}", shown.display());
    };
    if root.join(".git").is_file() {
        rerun(&root.join(".git"));
    }
    let head = git_dir.join("HEAD");
    rerun(&head);
    // In a worktree, branches live in the main repository's git dir.
    let common = std::fs::read_to_string(git_dir.join("commondir"))
        .map(|c| git_dir.join(c.trim()))
        .unwrap_or_else(|_| git_dir.to_path_buf());
    if let Ok(text) = std::fs::read_to_string(&head) {
        if let Some(reference) = text.strip_prefix("ref:") {
            for dir in [git_dir, common.as_path()] {
                let path = dir.join(reference.trim());
                if path.is_file() {
                    rerun(&path);
                }
            }
        }
    }
    let packed = common.join("packed-refs");
    if packed.is_file() {
        rerun(&packed);
    }
}

/// The short commit of HEAD and its commit date (YYYY-MM-DD), from git; None without git.
fn commit_and_date(git_dir: &Path) -> Option<(String, String)> {
    let out = Command::new("git")
        .arg("--git-dir")
        .arg(git_dir)
        .args([
            "log",
            "-1",
            "--no-show-signature",
            "--abbrev=7",
            "--format=%h %cs",
        ])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    let (commit, date) = text.trim().split_once(' ')?;
    let hex = !commit.is_empty() && commit.chars().all(|c| c.is_ascii_hexdigit());
    hex.then(|| (commit.to_string(), date.to_string()))
}
