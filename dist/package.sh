#!/bin/sh
# The one packaging entry point: builds chief-upload for a target and writes, into the
# output folder, its release archive chief-upload-<version>-<target>.tar.gz (.zip for
# Windows), the CycloneDX SBOM chief-upload-<version>-<target>.cdx.json, and the lines of
# both in SHA256SUMS. .ci/run (through .ci/dist), dist/slow-checks.sh, dist/repro-check.sh
# and the release workflow all call it, so what CI tests is what users download.
#
#   dist/package.sh TARGET [--release] [--zig] [--out DIR]
#
#   --release  an optimized build (the release workflow); default: a debug build (CI)
#   --zig      cross-build with cargo-zigbuild (zig as the C compiler, for the bundled
#              SQLite and ring): aarch64-unknown-linux-musl from an x86_64 host
#   --out DIR  where the archive, the SBOM and SHA256SUMS go (default: dist/out); an
#              existing SHA256SUMS keeps its other lines, so several targets share a folder
#
# Each archive holds one folder, chief-upload-<version>-<target>/, with the binary,
# README.md, LICENSE, the man page (chief-upload.1) and completions/ (the committed files
# that tests/it/ui.rs keeps fresh).
#
# The binary carries its dependency list: it is built through `cargo auditable` (a rustc
# wrapper that links the list, zlib-compressed JSON, into a `.dep-v0` section), so
# `rust-audit-info`, `cargo audit bin`, trivy, grype or syft read what shipped. With --zig
# the wrapper goes around cargo-zigbuild the same way: `cargo auditable zigbuild`.
# The SBOM is `cargo cyclonedx` for the target: the packages the binary is built from
# (dev-dependencies left out, build-only ones marked "excluded"), dated SOURCE_DATE_EPOCH
# without a random serial number and without the source folder, so it is reproducible too.
#
# A --release build is made independent of where it runs: the source folder, the target
# folder and CARGO_HOME are remapped (rustc's --remap-path-prefix) to /chief-upload,
# /chief-upload/target and /cargo in every path the compiler writes, and the archive and
# SBOM are dated by the last commit. The same commit, toolchain and tools then give the
# same bytes from any folder and any CARGO_HOME (dist/repro-check.sh checks it).
#
# Needs cargo and rustc with TARGET's standard library (checked first: a missing one is
# named with the command that installs it), python3 (or python) for the archive, the
# pinned cargo-auditable and cargo-cyclonedx (dist/tools.sh installs them), and for
# Linux musl targets a musl C compiler: apt's musl-tools for x86_64, --zig otherwise.
set -eu
cd "$(dirname "$0")/.."

die() { echo "dist/package.sh: $*" >&2; exit 2; }

target=""
profile=debug
zig=false
out=dist/out
while [ $# -gt 0 ]; do
    case "$1" in
        --release) profile=release ;;
        --zig) zig=true ;;
        --out) [ $# -ge 2 ] || die "--out needs a folder"; out=$2; shift ;;
        -*) die "unknown option: $1" ;;
        *) [ -z "$target" ] || die "one target only"; target=$1 ;;
    esac
    shift
done
[ -n "$target" ] || die "usage: dist/package.sh TARGET [--release] [--zig] [--out DIR]"

# --- What the target needs, said before anything is built ------------------------------------
rustc=${RUSTC:-rustc}
# How to get a C compiler for the target (the bundled SQLite and ring are C): empty when
# the host's own compiler does.
c_compiler_hint() {
    if $zig; then
        echo "cargo-zigbuild and zig: python3 -m pip install ziglang==0.17.1 cargo-zigbuild==0.24.1"
        return
    fi
    case "$1" in
        x86_64-unknown-linux-musl) echo "musl-gcc: apt-get install musl-tools (Debian, Ubuntu)" ;;
        *-linux-musl*) echo "a musl cross C compiler (${1%%-*}-linux-musl-gcc): none in Debian; build with --zig instead" ;;
        x86_64-pc-windows-gnu) echo "x86_64-w64-mingw32-gcc: apt-get install gcc-mingw-w64-x86-64 (Debian, Ubuntu)" ;;
        i686-pc-windows-gnu) echo "i686-w64-mingw32-gcc: apt-get install gcc-mingw-w64-i686 (Debian, Ubuntu)" ;;
        *-apple-darwin) echo "Xcode's C compiler: build on macOS" ;;
        *-windows-msvc) echo "the MSVC build tools: build on Windows" ;;
    esac
}
# The command the hint above names, to see whether it is there.
c_compiler() {
    if $zig; then echo cargo-zigbuild; return; fi
    case "$1" in
        x86_64-unknown-linux-musl) echo musl-gcc ;;
        *-linux-musl*) echo "${1%%-*}-linux-musl-gcc" ;;
        *-pc-windows-gnu) echo "${1%%-*}-w64-mingw32-gcc" ;;
    esac
}
"$rustc" --print target-list 2>/dev/null | grep -qx "$target" ||
    die "'$target' is not a target that $rustc knows (\`rustc --print target-list\` lists them)"
sysroot=$("$rustc" --print sysroot) || die "\`$rustc --print sysroot\` failed"
if [ ! -d "$sysroot/lib/rustlib/$target/lib" ]; then
    msg="the Rust standard library for $target is not installed (in $sysroot)."
    msg="$msg
  Install it with:    rustup target add $target"
    hint=$(c_compiler_hint "$target")
    [ -z "$hint" ] || msg="$msg
  and a C compiler:   $hint"
    die "$msg"
fi
cc=$(c_compiler "$target")
if [ -n "$cc" ] && ! command -v "$cc" >/dev/null 2>&1; then
    die "building for $target needs $(c_compiler_hint "$target")"
fi
sh dist/tools.sh --check cargo-auditable cargo-cyclonedx || die "needs the pinned cargo-auditable and cargo-cyclonedx (above)"

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
[ -n "$version" ] || die "no version in Cargo.toml"
# (`python3` may be a stub that only opens a store, on Windows: the one that runs wins.)
python=""
for p in python3 python; do
    if "$p" -c "import sys; sys.exit(sys.version_info < (3, 8))" >/dev/null 2>&1; then python=$p; break; fi
done
[ -n "$python" ] || die "needs python3 (3.8 or newer)"

# Archive entries and the SBOM dated by the last commit when there is one.
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
    SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null || echo 0)
    export SOURCE_DATE_EPOCH
fi

# --- Build ---------------------------------------------------------------------------------------
target_dir=${CARGO_TARGET_DIR:-target}
if [ "$profile" = release ]; then
    # Paths as rustc sees them: cargo passes physical ones (getcwd), CARGO_HOME as given.
    src=$(pwd -P)
    case "$target_dir" in /*) tdir=$target_dir ;; *) tdir=$src/$target_dir ;; esac
    home=${CARGO_HOME:-$HOME/.cargo}
    # One flag per remapped folder; when several match, rustc applies the last, so the
    # nested ones (the target folder in the source folder) come after.
    us=$(printf '\037')
    flags="--remap-path-prefix=$src=/chief-upload"
    flags="$flags$us--remap-path-prefix=$tdir=/chief-upload/target"
    flags="$flags$us--remap-path-prefix=$home=/cargo"
    if [ -d "$home" ] && [ "$(cd "$home" && pwd -P)" != "$home" ]; then
        flags="$flags$us--remap-path-prefix=$(cd "$home" && pwd -P)=/cargo"
    fi
    # CARGO_ENCODED_RUSTFLAGS (one flag per 0x1f-separated field) keeps folders with spaces
    # whole; flags the caller gave in RUSTFLAGS are kept, in front.
    if [ -n "${CARGO_ENCODED_RUSTFLAGS:-}" ]; then
        flags="$CARGO_ENCODED_RUSTFLAGS$us$flags"
    elif [ -n "${RUSTFLAGS:-}" ]; then
        set -f
        for f in $RUSTFLAGS; do caller="${caller:-}$f$us"; done
        set +f
        flags="${caller:-}$flags"
    fi
    CARGO_ENCODED_RUSTFLAGS=$flags
    export CARGO_ENCODED_RUSTFLAGS
    unset RUSTFLAGS
fi

sub=build
$zig && sub=zigbuild
flag=""
[ "$profile" = release ] && flag="--release"
# shellcheck disable=SC2086 # $flag is empty or one word
cargo auditable "$sub" --locked --bin chief-upload --target "$target" $flag

exe=""
case "$target" in *-windows-*) exe=".exe" ;; esac
bin="$target_dir/$target/$profile/chief-upload$exe"
[ -f "$bin" ] || die "the build left no binary at $bin"

"$python" dist/archive.py "$out" "chief-upload-$version-$target" "$bin" \
    README.md LICENSE completions/chief-upload.1 -- \
    completions/chief-upload.bash completions/_chief-upload completions/chief-upload.fish \
    completions/_chief-upload.ps1 completions/chief-upload.elv

# --- SBOM ----------------------------------------------------------------------------------------
# cargo cyclonedx writes beside Cargo.toml (<binary>_bin.cdx.json, one per binary target of
# each workspace member: ours only, fake-chief has none); archive.py moves it to the
# output folder, without the source folder's path (the root package's id holds it).
rm -f chief-upload_bin.cdx.json
cargo cyclonedx --quiet --format json --spec-version 1.5 --describe binaries --target "$target"
[ -f chief-upload_bin.cdx.json ] || die "cargo cyclonedx wrote no chief-upload_bin.cdx.json"
"$python" dist/archive.py --sbom "$out" "chief-upload-$version-$target.cdx.json" chief-upload_bin.cdx.json
