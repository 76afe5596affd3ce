//! The long version `chief-upload --version` prints, naming the build: version, short
//! commit and its date, target triple. `-V` and the man page keep the plain version.
//! build.rs provides the parts.

use std::sync::LazyLock;

/// What follows the program name in `--version`, e.g.
/// `0.1.0 (3f2a9c1 2026-12-01, x86_64-unknown-linux-musl)`.
pub fn long_version() -> &'static str {
    static TEXT: LazyLock<String> = LazyLock::new(|| {
        format_long_version(
            env!("CARGO_PKG_VERSION"),
            env!("CHIEF_UPLOAD_COMMIT"),
            env!("CHIEF_UPLOAD_COMMIT_DATE"),
            env!("CHIEF_UPLOAD_TARGET"),
        )
    });
    &TEXT
}

/// `VERSION (COMMIT DATE, TARGET)`, or `VERSION (TARGET)` when the commit is unknown (a
/// build outside this repository's git checkout).
pub fn format_long_version(version: &str, commit: &str, date: &str, target: &str) -> String {
    match (commit, date) {
        ("", _) => format!("{version} ({target})"),
        (commit, "") => format!("{version} ({commit}, {target})"),
        (commit, date) => format!("{version} ({commit} {date}, {target})"),
    }
}

#[cfg(test)]
mod tests {
    use super::format_long_version;

    #[test]
    fn names_commit_date_and_target() {
        assert_eq!(
            format_long_version(
                "0.1.0",
                "3f2a9c1",
                "2026-12-01",
                "x86_64-unknown-linux-musl"
            ),
            "0.1.0 (3f2a9c1 2026-12-01, x86_64-unknown-linux-musl)"
        );
    }

    #[test]
    fn without_a_commit_only_the_target() {
        assert_eq!(
            format_long_version("0.1.0", "", "", "aarch64-apple-darwin"),
            "0.1.0 (aarch64-apple-darwin)"
        );
        assert_eq!(
            format_long_version("0.1.0", "3f2a9c1", "", "x86_64-pc-windows-msvc"),
            "0.1.0 (3f2a9c1, x86_64-pc-windows-msvc)"
        );
    }
}
