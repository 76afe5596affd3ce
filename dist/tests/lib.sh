# shellcheck shell=bash
# Shared by dist/tests/*.sh (sourced; bash): results, a scratch folder, a local HTTP server.
# Each check prints one PASS or FAIL line; `finish` prints a cargo-style closing line
# ("test result: ... N passed; M failed") and exits non-zero if any check failed.

passed=0
failed=0
suite=${suite:-dist}
pass() { passed=$((passed + 1)); echo "PASS $suite: $*"; }
fail() { failed=$((failed + 1)); echo "FAIL $suite: $*"; }
# check NAME CMD...: PASS if CMD succeeds, else FAIL with what CMD printed.
check() {
    local name=$1 out
    shift
    if out=$("$@" 2>&1); then pass "$name"; else fail "$name: $out"; fi
}
finish() {
    local word=ok
    [ "$failed" = 0 ] || word=FAILED
    echo "test result: $word. $passed passed; $failed failed ($suite)"
    [ "$failed" = 0 ]
}

# A scratch folder, removed on exit along with the processes started here.
W=$(mktemp -d "${TMPDIR:-/tmp}/chief-dist-test.XXXXXX")
PIDS=""
cleanup() {
    local p
    for p in $PIDS; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    rm -rf "$W"
}
trap cleanup EXIT

# serve DIR: serves DIR over HTTP on 127.0.0.1 (an ephemeral port); sets SERVER_URL.
serve() {
    local log="$W/http.log" i=0 port=""
    python3 -u -m http.server --bind 127.0.0.1 --directory "$1" 0 > "$log" 2>&1 &
    PIDS="$PIDS $!"
    until port=$(sed -n 's/.*127\.0\.0\.1 port \([0-9]*\).*/\1/p' "$log") && [ -n "$port" ]; do
        i=$((i + 1))
        [ "$i" -lt 200 ] || { echo "the HTTP server did not start: $(cat "$log")" >&2; exit 1; }
        sleep 0.05
    done
    # shellcheck disable=SC2034 # for the sourcing script
    SERVER_URL="http://127.0.0.1:$port"
}

# What a folder holds, on one line.
listing() { find "$1" -mindepth 1 -maxdepth 1 -printf '%f ' | sed 's/ $//'; }

# The version in Cargo.toml.
cargo_version() { sed -n 's/^version = "\(.*\)"$/\1/p' "$(dirname "${BASH_SOURCE[0]}")/../../Cargo.toml" | head -n 1; }
