#!/usr/bin/env bash
# A smoke test of a built chief-upload, for binaries that cannot run the test suites
# (cross-built, under an emulator): `--version`, a `--dry-run` over a small tree, and
# (unless --no-upload) one real upload to the fake Chief server over loopback.
#
#   dist/smoke.sh [--no-upload] FAKE_CHIEF -- COMMAND...
#   dist/smoke.sh target/debug/examples/fake_chief -- qemu-aarch64 path/to/chief-upload
#   dist/smoke.sh --no-upload - -- wine path/to/chief-upload.exe
#
# COMMAND runs the binary (an emulator first, if any); FAKE_CHIEF is the host's
# `cargo build --example fake_chief` (`-` with --no-upload).
set -euo pipefail
# shellcheck disable=SC2034 # read by lib.sh
suite=smoke
# shellcheck source-path=SCRIPTDIR source=tests/lib.sh
. "$(dirname "$0")/tests/lib.sh"
VERSION=$(cargo_version)
upload=yes
[ "${1:-}" != --no-upload ] || { upload=no; shift; }
FAKE=${1:?usage: dist/smoke.sh [--no-upload] FAKE_CHIEF -- COMMAND...}
shift
[ "${1:-}" = -- ] && shift
[ $# -gt 0 ] || { echo "usage: dist/smoke.sh [--no-upload] FAKE_CHIEF -- COMMAND..." >&2; exit 2; }
CMD=("$@")

mkdir -p "$W/tree/sub" "$W/home" "$W/cache"
printf 'alpha\n' > "$W/tree/a.txt"
printf 'beta\n' > "$W/tree/sub/b.txt"
head -c 300000 /dev/urandom > "$W/tree/sub/c.bin"
run() { env HOME="$W/home" XDG_CACHE_HOME="$W/cache" XDG_CONFIG_HOME="$W/home" "${CMD[@]}" "$@"; }

v=$(run --version 2>&1 | tr -d '\r') || true
case "$v" in
    "chief-upload $VERSION ("*")") pass "--version: $v" ;;
    *) fail "--version: $v" ;;
esac

out=$(cd "$W" && run --dry-run --json tree 2>&1 | tr -d '\r') || true
n=$(grep -c '"event":"file"' <<< "$out" || true)
if [ "$n" = 3 ]; then pass "--dry-run over a tree of 3 files"; else fail "--dry-run: $n files: $out"; fi

if [ "$upload" = yes ]; then
    : > "$W/fake.env"
    "$FAKE" --no-record > "$W/fake.env" 2> "$W/fake.log" &
    PIDS="$PIDS $!"
    i=0
    until [ "$(wc -l < "$W/fake.env")" -ge 3 ]; do
        i=$((i + 1)); [ "$i" -lt 200 ] || { fail "fake_chief did not start: $(cat "$W/fake.log")"; finish; }
        sleep 0.05
    done
    # shellcheck disable=SC1091 # written at run time
    out=$(cd "$W" && set -a && . "$W/fake.env" && set +a && run --json tree 2>&1 | tr -d '\r') || true
    if grep -q '"event":"summary".*"uploaded":3' <<< "$out" && grep -q '"failed":0' <<< "$out"; then
        pass "a real upload of 3 files to the fake over loopback"
    else
        fail "upload: $out"
    fi
fi
finish
