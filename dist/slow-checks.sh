#!/usr/bin/env bash
# The distribution checks too slow for .ci/run, run by hand before a release (and their
# results written in dist/README.md):
#   1. the release build of the static x86_64 musl binary, packaged by dist/package.sh,
#      and the whole test suite run against it (CHIEF_UPLOAD_BIN);
#   2. aarch64-unknown-linux-musl cross-built with cargo-zigbuild (zig from pip) and
#      smoke-tested under qemu-user: --version, --dry-run, one upload to the fake;
#   3. x86_64-pc-windows-gnu cross-built with MinGW and packaged as a zip, then, when wine
#      is there, smoke-tested under it (--version, --dry-run, an upload).
# Installs what it needs (apt: musl-tools, qemu-user, gcc-mingw-w64-x86-64, wine, file;
# pip: ziglang, cargo-zigbuild; rustup targets; the pinned cargo tools of dist/tools.sh).
# Archives and SBOMs go to dist/out (or $1). Reproducibility: dist/repro-check.sh.
#   dist/slow-checks.sh [OUT_DIR]
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
export CARGO_TERM_COLOR=never
out=${1:-dist/out}
mkdir -p "$out"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
results=()
step() { # step NAME CMD...: runs CMD, records PASS/FAIL and its time
    local name=$1 t0 rc=0
    shift
    t0=$(date +%s)
    echo "=== $name"
    "$@" || rc=$?
    local line
    if [ "$rc" = 0 ]; then line="PASS"; else line="FAIL (exit $rc)"; fi
    results+=("$line  $name  ($(($(date +%s) - t0)) s)")
    echo "=== $line $name"
    return "$rc"
}

sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
need=""
command -v musl-gcc >/dev/null || need="$need musl-tools"
command -v qemu-aarch64 >/dev/null || need="$need qemu-user"
command -v x86_64-w64-mingw32-gcc >/dev/null || need="$need gcc-mingw-w64-x86-64"
command -v file >/dev/null || need="$need file"
command -v wine >/dev/null || need="$need wine wine64"
if [ -n "$need" ]; then
    $sudo apt-get update -qq
    # shellcheck disable=SC2086 # package names
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $need >/dev/null ||
        echo "apt-get install$need failed: the steps needing them will fail"
fi
command -v cargo-zigbuild >/dev/null ||
    python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore ziglang==0.17.1 cargo-zigbuild==0.24.1
rustup target add x86_64-unknown-linux-musl aarch64-unknown-linux-musl x86_64-pc-windows-gnu >/dev/null 2>&1
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
sh dist/tools.sh cargo-auditable cargo-cyclonedx
target_dir=${CARGO_TARGET_DIR:-target}
case "$target_dir" in /*) ;; *) target_dir="$PWD/$target_dir" ;; esac
cargo build --locked --example fake_chief
fake="$target_dir/debug/examples/fake_chief"

static() { # static BINARY ARCH_WORD: `file` says statically linked, for that architecture
    local kind
    kind=$(file -b "$1")
    echo "$1: $kind"
    case "$kind" in *"$2"*) ;; *) return 1 ;; esac
    case "$kind" in *"statically linked"* | *"static-pie linked"*) ;; *) return 1 ;; esac
}

# 1. x86_64 musl, release, with the suites against it.
musl="$target_dir/x86_64-unknown-linux-musl/release/chief-upload"
step "x86_64-unknown-linux-musl: release build and package" dist/package.sh x86_64-unknown-linux-musl --release --out "$out" &&
    step "x86_64-unknown-linux-musl: statically linked" static "$musl" x86-64 &&
    step "x86_64-unknown-linux-musl: cargo test against it (CHIEF_UPLOAD_BIN)" \
        env CHIEF_UPLOAD_BIN="$musl" cargo test --locked
# 2. aarch64 musl, cross-built with zig, under qemu.
arm="$target_dir/aarch64-unknown-linux-musl/release/chief-upload"
step "aarch64-unknown-linux-musl: release build (cargo-zigbuild) and package" \
    dist/package.sh aarch64-unknown-linux-musl --release --zig --out "$out" &&
    step "aarch64-unknown-linux-musl: statically linked" static "$arm" aarch64 &&
    step "aarch64-unknown-linux-musl: smoke under qemu-aarch64" dist/smoke.sh "$fake" -- qemu-aarch64 "$arm"
# 3. Windows (gnu), a debug cross-build packaged as a zip, under wine if there is one.
win="$target_dir/x86_64-pc-windows-gnu/debug/chief-upload.exe"
if step "x86_64-pc-windows-gnu: cross-build and zip" dist/package.sh x86_64-pc-windows-gnu --out "$out"; then
    wine=$(command -v wine || true)
    if [ -n "$wine" ]; then
        # Rust's std asks bcryptprimitives.dll for ProcessPrng (Windows 10 and later);
        # Debian 12's wine 8.0 has no such DLL. A test-only stand-in, beside a copy of the
        # binary, answers with RtlGenRandom; nothing of it is shipped.
        wdir=$(mktemp -d)
        x86_64-w64-mingw32-gcc -O2 -shared -o "$wdir/bcryptprimitives.dll" dist/tests/wine-prng.c -ladvapi32
        cp "$win" "$wdir/"
        export WINEDEBUG=-all WINEPREFIX="${WINEPREFIX:-$HOME/.wine-chief-upload}"
        # The first start creates the prefix and says so: not part of the test.
        "$wine" "$wdir/chief-upload.exe" -V >/dev/null 2>&1 || true
        step "x86_64-pc-windows-gnu: smoke under wine ($("$wine" --version))" \
            dist/smoke.sh "$fake" -- "$wine" "$wdir/chief-upload.exe"
        rm -rf "$wdir"
    else
        results+=("SKIP  x86_64-pc-windows-gnu under wine: wine did not install")
    fi
fi
# shellcheck disable=SC2016 # expanded by that bash
step "the archives' SHA256SUMS" bash -c 'cd "$1" && sha256sum -c SHA256SUMS' _ "$out"

echo
echo "=== dist/slow-checks.sh results ($(date -u +%Y-%m-%dT%H:%MZ), $(git log -1 --format=%h 2>/dev/null))"
printf '%s\n' "${results[@]}"
ls -l "$out"
! printf '%s\n' "${results[@]}" | grep -q '^FAIL'
