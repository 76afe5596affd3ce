#!/usr/bin/env bash
# Tests the GitHub Action's script (dist/action.sh, the one step of action.yml) under a
# simulated runner: RUNNER_OS, RUNNER_ARCH, RUNNER_TEMP, and GITHUB_PATH, GITHUB_OUTPUT
# and GITHUB_STEP_SUMMARY as temporary files. It installs from a local HTTP server
# (127.0.0.1) serving freshly packaged archives and uploads to the fake Chief server:
#
#   dist/tests/action.sh DIST_DIR FAKE_CHIEF_BINARY
#
# DIST_DIR: what dist/package.sh wrote for x86_64-unknown-linux-musl; FAKE_CHIEF_BINARY:
# `cargo build --example fake_chief` (target/debug/examples/fake_chief).
set -euo pipefail
# shellcheck disable=SC2034 # read by lib.sh
suite=action
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DIST=$(cd "${1:?usage: dist/tests/action.sh DIST_DIR FAKE_CHIEF_BINARY}" && pwd)
FAKE=${2:?usage: dist/tests/action.sh DIST_DIR FAKE_CHIEF_BINARY}
VERSION=$(cargo_version)
ARCHIVE="chief-upload-$VERSION-x86_64-unknown-linux-musl.tar.gz"

mkdir -p "$W/www/v$VERSION"
cp "$DIST/$ARCHIVE" "$W/www/v$VERSION/"
grep "  $ARCHIVE\$" "$DIST/SHA256SUMS" > "$W/www/v$VERSION/SHA256SUMS"
serve "$W/www"

: > "$W/fake.env"
"$FAKE" --no-record > "$W/fake.env" 2> "$W/fake.log" &
PIDS="$PIDS $!"
i=0
until [ "$(wc -l < "$W/fake.env")" -ge 3 ]; do
    i=$((i + 1)); [ "$i" -lt 200 ] || { echo "fake_chief did not start: $(cat "$W/fake.log")" >&2; exit 1; }
    sleep 0.05
done
# shellcheck disable=SC1091
. "$W/fake.env"
TOKEN=$CHIEF_API_KEY

# The workspace: 3 files to upload in two paths (one with a space), and one left out by --exclude.
WS="$W/workspace"
mkdir -p "$WS/assets/sub" "$WS/more files"
echo one > "$WS/assets/a.txt"
echo two > "$WS/assets/sub/b.bin"
echo three > "$WS/more files/c.txt"
echo scratch > "$WS/assets/skip.tmp"

ACTION_DIR=$ROOT  # the action's checkout under test
# act [VAR=VALUE...]: one run of the action's step on a fresh simulated runner; sets RC, R (its folder).
act() {
    R=$(mktemp -d "$W/run.XXXXXX")
    mkdir -p "$R/temp"
    : > "$R/output"; : > "$R/path"; : > "$R/summary"
    RC=0
    (cd "$WS" && env -i PATH="/usr/local/bin:/usr/bin:/bin" HOME="$W" \
        RUNNER_OS=Linux RUNNER_ARCH=X64 RUNNER_TEMP="$R/temp" GITHUB_ACTIONS=true \
        GITHUB_OUTPUT="$R/output" GITHUB_PATH="$R/path" GITHUB_STEP_SUMMARY="$R/summary" \
        GITHUB_ACTION_PATH="$ACTION_DIR" XDG_CACHE_HOME="$R/cache" XDG_CONFIG_HOME="$R/config" \
        CHIEF_UPLOAD_DOWNLOAD_URL="$SERVER_URL" CHIEF_API_URL="$CHIEF_API_URL" \
        INPUT_PATH=$'assets\n  more files  \n' INPUT_API_KEY="$TOKEN" INPUT_PROJECT_ID="$CHIEF_PROJECT_ID" \
        INPUT_ARGS='--exclude *.tmp' INPUT_VERSION= INPUT_CHECKSUM= INPUT_SHARD= INPUT_REPORT= \
        "$@" bash "$ACTION_DIR/dist/action.sh" > "$R/stdout" 2> "$R/stderr") || RC=$?
}
output() { sed -n "s/^$1=//p" "$R/output" | tail -n 1; }
# expect_outputs UPLOADED SKIPPED: prints what is wrong.
expect_outputs() {
    [ "$RC" = 0 ] || echo "exit $RC: $(tail -n 3 "$R/stderr" "$R/stdout")"
    [ "$(output uploaded)" = "$1" ] || echo "uploaded=$(output uploaded), not $1"
    [ "$(output skipped)" = "$2" ] || echo "skipped=$(output skipped), not $2"
    [ "$(output failed)" = 0 ] || echo "failed=$(output failed)"
    [ -n "$(output bytes_uploaded)" ] || echo "no bytes_uploaded"
    local report
    report=$(output report)
    grep -q '"event":"summary"' "$report" 2>/dev/null || echo "no summary in the report '$report'"
    grep -qx "$R/temp/chief-upload-bin" "$R/path" || echo "GITHUB_PATH: $(cat "$R/path")"
    [ -x "$R/temp/chief-upload-bin/chief-upload" ] || echo "not installed"
    [ -s "$R/summary" ] || echo "no job summary"
    ! grep -rqF "$TOKEN" "$R/stdout" "$R/stderr" "$R/output" "$R/summary" "$report" || echo "the token is in an output"
}
outcome() { if [ -z "$2" ]; then pass "$1"; else fail "$1: $(tr '\n' ';' <<< "$2")"; fi; }

act
p=$(expect_outputs 3 0)
[ "$(output bytes_uploaded)" = 14 ] || p="$p bytes_uploaded=$(output bytes_uploaded), not 14"
[ "$(output report)" != "${R}/temp/" ] || p="$p no report path"
grep -q "chief-upload $VERSION (" "$R/stdout" || p="$p; the install group does not show --version"
outcome "installs the Cargo.toml version, uploads 2 paths (one with a space), maps the outputs" "$p"

act INPUT_REPORT="$W/my report.ndjson" INPUT_VERSION="$VERSION"
p=$(expect_outputs 0 3)
[ "$(output report)" = "$W/my report.ndjson" ] || p="$p; report=$(output report)"
outcome "a second run skips all 3; the 'report' and 'version' inputs" "$p"

echo four > "$WS/assets/d.txt"; echo five > "$WS/assets/e.txt"; echo six > "$WS/assets/f.txt"
act INPUT_SHARD=1/2; s1=$(output uploaded); rc1=$RC
act INPUT_SHARD=2/2; s2=$(output uploaded); rc2=$RC
p=""
[ "$rc1/$rc2" = 0/0 ] || p="exit $rc1/$rc2"
[ "$((s1 + s2))" = 3 ] || p="$p; shards uploaded $s1 + $s2, not 3"
outcome "the 'shard' input: 1/2 and 2/2 share 3 new files ($s1 + $s2)" "$p"

sha=$(sha256sum "$DIST/$ARCHIVE" | cut -d ' ' -f 1)
act INPUT_CHECKSUM="$sha"
outcome "the right 'checksum' input installs" "$(expect_outputs 0 6)"

act INPUT_CHECKSUM=0000000000000000000000000000000000000000000000000000000000000000
p=""
[ "$RC" != 0 ] || p="exit 0"
[ ! -e "$R/temp/chief-upload-bin/chief-upload" ] || p="$p; installed anyway"
grep -q "checksum mismatch" "$R/stdout" || p="$p; no checksum error: $(cat "$R/stdout")"
outcome "a wrong 'checksum' input installs nothing and fails the step" "$p"

# Inputs are data, never shell code. injection_problems: prints what ran.
injection_problems() {
    rm -f "$WS/injected" "$WS/injected2"
    act INPUT_ARGS='; touch injected'
    [ ! -e "$WS/injected" ] || echo "'args' ran '; touch injected'"
    # shellcheck disable=SC2016 # not to be expanded: that is the point
    act INPUT_ARGS='--dry-run $(touch injected) `touch injected`'
    [ ! -e "$WS/injected" ] || echo "'args' ran \$(touch injected)"
    act INPUT_PATH=$'assets\n$(touch injected2)\n`touch injected2`'
    [ ! -e "$WS/injected2" ] || echo "'path' ran a command"
    rm -f "$WS/injected" "$WS/injected2"
}
outcome "'args' and 'path' inputs such as '; touch injected' and \$(touch injected) run nothing" "$(injection_problems)"

act INPUT_PATH=$'  \n'
p=""
[ "$RC" = 2 ] || p="exit $RC"
grep -q "::error title=chief-upload action::the 'path' input is empty" "$R/stdout" || p="$p; $(cat "$R/stdout")"
outcome "an empty 'path' input is an error annotation" "$p"

# The same case against a copy of the action whose script evaluates its args (eval): it
# must fail there, or it would prove nothing.
mkdir -p "$W/mutant-action/dist"
cp "$ROOT/install.sh" "$ROOT/Cargo.toml" "$W/mutant-action/"
# shellcheck disable=SC2016 # a sed script
sed 's/^read -r -d .. -a extra <<< "${INPUT_ARGS:-}" || true$/eval "extra=(${INPUT_ARGS:-})" || true/' \
    "$ROOT/dist/action.sh" > "$W/mutant-action/dist/action.sh"
if cmp -s "$W/mutant-action/dist/action.sh" "$ROOT/dist/action.sh"; then
    fail "the args line of dist/action.sh is not the one this test mutates"
else
    ACTION_DIR="$W/mutant-action"
    if [ -n "$(injection_problems)" ]; then
        pass "with its args evaluated (eval), dist/action.sh fails the injection case"
    else
        fail "the injection case still passes against an evaluating dist/action.sh: it tests nothing"
    fi
    ACTION_DIR=$ROOT
fi
finish
