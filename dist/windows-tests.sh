#!/usr/bin/env bash
# The library's unit tests and the integration suite (tests/it), built for
# x86_64-pc-windows-gnu with MinGW and run under wine: the test binaries, the
# chief-upload.exe they start and the fake Chief server inside them all run under wine.
# Too slow for .ci/run (the first cross-build of the tests alone takes minutes); run by
# hand, its counts written in dist/README.md.
#   dist/windows-tests.sh [TESTNAME-FILTER]
# Installs what it needs (apt: gcc-mingw-w64-x86-64, wine, wine64; the rustup target).
#
# wine runs in a prefix of its own (WINEPREFIX, a temporary folder removed at the end).
# Debian 12's wine 8.0 has no bcryptprimitives.dll, whose ProcessPrng Rust's std calls at
# start: a stand-in answering with RtlGenRandom is built into that prefix's system32, so
# it never sits beside a binary, and no archive can take it.
#
# A test that cannot run on Windows, or only under wine, prints `skipped: TEST: REASON`
# (tests/it/common.rs `skip`) and passes; the counts below take them out of the passed.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
export CARGO_TERM_COLOR=never
target=x86_64-pc-windows-gnu
t0=$(date +%s)

sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
need=""
command -v x86_64-w64-mingw32-gcc >/dev/null || need="$need gcc-mingw-w64-x86-64"
command -v wine >/dev/null || need="$need wine wine64"
if [ -n "$need" ]; then
    $sudo apt-get update -qq
    # shellcheck disable=SC2086 # package names
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $need >/dev/null ||
        { echo "apt-get install$need failed" >&2; exit 2; }
fi
rustup target list --installed | grep -qx "$target" || rustup target add "$target" >/dev/null || exit 2

work=$(mktemp -d)
export WINEPREFIX="$work/prefix" WINEDEBUG=-all
# The prefix's wineserver (this script's own) ends with it.
trap 'wineserver -k 2>/dev/null; rm -rf "$work"' EXIT

echo "=== building the test binaries for $target"
t=$(date +%s)
cargo test --locked --target "$target" --lib --test it --no-run || exit 1
build_s=$(($(date +%s) - t))

echo "=== a wine prefix ($(wine --version)), with the ProcessPrng stand-in"
t=$(date +%s)
wineboot -i >/dev/null 2>&1
x86_64-w64-mingw32-gcc -O2 -shared -o "$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll" \
    dist/tests/wine-prng.c -ladvapi32 || exit 1
wine "target/$target/debug/chief-upload.exe" --version || exit 1
prefix_s=$(($(date +%s) - t))

echo "=== the unit tests and tests/it under wine"
t=$(date +%s)
log="$work/test.log"
CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER=wine \
    cargo test --locked --target "$target" --lib --test it --no-fail-fast -- "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
run_s=$(($(date +%s) - t))

echo
echo "=== dist/windows-tests.sh ($(date -u +%Y-%m-%dT%H:%MZ), $(git log -1 --format=%h 2>/dev/null), $(wine --version))"
grep '^skipped: ' "$log" | sort
awk -v build="$build_s" -v prefix="$prefix_s" -v run="$run_s" -v total="$(($(date +%s) - t0))" '
    /^skipped: / { s++ }
    /^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed/) p += $(i-1); if ($i ~ /^failed/) f += $(i-1) } }
    END {
        printf "windows tests under wine: %d passed, %d skipped, %d failed\n", p - s, s, f
        printf "time: build %d s, wine prefix %d s, tests %d s, all %d s\n", build, prefix, run, total
    }' "$log"
grep -E '^test .* FAILED$' "$log"
exit "$rc"
