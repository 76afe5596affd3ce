#!/bin/sh
# The one packaging entry point: builds chief-upload for a target and writes its release
# archive, chief-upload-<version>-<target>.tar.gz (.zip for Windows), and the archive's
# line in SHA256SUMS, into the output folder. .ci/run, dist/slow-checks.sh and the release
# workflow all call it, so what CI tests is what users download.
#
#   dist/package.sh TARGET [--release] [--zig] [--out DIR]
#
#   --release  an optimized build (the release workflow); default: a debug build (CI)
#   --zig      cross-build with cargo-zigbuild (zig as the C compiler, for the bundled
#              SQLite and ring): aarch64-unknown-linux-musl from an x86_64 host
#   --out DIR  where the archive and SHA256SUMS go (default: dist/out); an existing
#              SHA256SUMS keeps its other lines, so several targets can share a folder
#
# Each archive holds one folder, chief-upload-<version>-<target>/, with the binary,
# README.md, LICENSE, the man page (chief-upload.1) and completions/ (the committed files
# that tests/ui.rs keeps fresh). Needs cargo, and python3 (or python) for the archive.
# Linux musl targets need a musl C compiler: apt's musl-tools for x86_64, --zig otherwise.
set -eu
cd "$(dirname "$0")/.."

die() { echo "dist/package.sh: $*" >&2; exit 2; }

target=""
profile=debug
build="cargo build"
out=dist/out
while [ $# -gt 0 ]; do
    case "$1" in
        --release) profile=release ;;
        --zig) build="cargo zigbuild" ;;
        --out) [ $# -ge 2 ] || die "--out needs a folder"; out=$2; shift ;;
        -*) die "unknown option: $1" ;;
        *) [ -z "$target" ] || die "one target only"; target=$1 ;;
    esac
    shift
done
[ -n "$target" ] || die "usage: dist/package.sh TARGET [--release] [--zig] [--out DIR]"

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
[ -n "$version" ] || die "no version in Cargo.toml"
# (`python3` may be a stub that only opens a store, on Windows: the one that runs wins.)
python=""
for p in python3 python; do
    if "$p" -c "import sys; sys.exit(sys.version_info < (3, 8))" >/dev/null 2>&1; then python=$p; break; fi
done
[ -n "$python" ] || die "needs python3 (3.8 or newer)"

flag=""
[ "$profile" = release ] && flag="--release"
# shellcheck disable=SC2086 # $build is two words; $flag is empty or one word
$build --locked --bin chief-upload --target "$target" $flag

exe=""
case "$target" in *-windows-*) exe=".exe" ;; esac
bin="${CARGO_TARGET_DIR:-target}/$target/$profile/chief-upload$exe"
[ -f "$bin" ] || die "the build left no binary at $bin"

# Archive entries dated by the last commit when there is one: reproducible archives.
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
    SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null || echo 0)
    export SOURCE_DATE_EPOCH
fi

"$python" dist/archive.py "$out" "chief-upload-$version-$target" "$bin" \
    README.md LICENSE completions/chief-upload.1 -- \
    completions/chief-upload.bash completions/_chief-upload completions/chief-upload.fish \
    completions/_chief-upload.ps1 completions/chief-upload.elv
