#!/usr/bin/env bash
# Tests install.sh against a local HTTP server (127.0.0.1) serving freshly packaged
# archives, laid out as a mirror:
#
#   dist/tests/installer.sh DIST_DIR
#
# DIST_DIR is what dist/package.sh wrote for x86_64-unknown-linux-musl (the archive and
# SHA256SUMS). The happy paths install and run `chief-upload --version`. Each failure case
# (a tampered archive, a missing SHA256SUMS entry, a failed download, a pinned version
# that does not exist, an unsupported platform) must exit non-zero with one clear error
# line, leave the previously installed binary as it was, and leave no temporary file.
# Then each of install.sh's checks is removed in turn (a copy with that `die` made a
# no-op, by its `# check:NAME` tag), and the case that covers it must then fail: a test
# that still passed without its check would prove nothing.
set -euo pipefail
# shellcheck disable=SC2034 # read by lib.sh
suite=installer
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DIST=$(cd "${1:?usage: dist/tests/installer.sh DIST_DIR}" && pwd)
VERSION=$(cargo_version)
TARGET=x86_64-unknown-linux-musl
ARCHIVE="chief-upload-$VERSION-$TARGET.tar.gz"
[ -f "$DIST/$ARCHIVE" ] || { echo "no $DIST/$ARCHIVE: run dist/package.sh $TARGET first" >&2; exit 1; }

# --- The mirrors: one good, and one per fault -------------------------------------------------
www="$W/www"
mirror() { # mirror NAME: a copy of the good release under $www/NAME, with `latest`
    mkdir -p "$www/$1/v$VERSION"
    cp "$DIST/$ARCHIVE" "$www/$1/v$VERSION/"
    grep "  $ARCHIVE\$" "$DIST/SHA256SUMS" > "$www/$1/v$VERSION/SHA256SUMS"
    echo "v$VERSION" > "$www/$1/latest"
}
mirror good
mirror tampered
printf 'X' | dd of="$www/tampered/v$VERSION/$ARCHIVE" bs=1 seek=200 conv=notrunc status=none
mirror noentry
sed -i "/  $ARCHIVE\$/d" "$www/noentry/v$VERSION/SHA256SUMS"
echo "0000000000000000000000000000000000000000000000000000000000000000  other.tar.gz" >> "$www/noentry/v$VERSION/SHA256SUMS"
mirror nodownload
rm "$www/nodownload/v$VERSION/$ARCHIVE"
serve "$www"

# --- One run of an installer in a fresh place, with a previous binary installed -------------
# run INSTALLER MIRROR [VAR=VALUE...] [-- ARGS...]: sets OUT, ERR, RC, and C (the case folder).
run() {
    local installer=$1 mirror=$2
    shift 2
    C=$(mktemp -d "$W/case.XXXXXX")
    mkdir -p "$C/bin" "$C/tmp" "$C/home"
    printf '#!/bin/sh\necho previous\n' > "$C/bin/chief-upload"
    chmod 755 "$C/bin/chief-upload"
    cp "$C/bin/chief-upload" "$C/previous"
    local vars=() args=()
    while [ $# -gt 0 ]; do
        if [ "$1" = -- ]; then shift; args=("$@"); break; fi
        vars+=("$1"); shift
    done
    RC=0
    env -i PATH="/usr/local/bin:/usr/bin:/bin" HOME="$C/home" TMPDIR="$C/tmp" \
        CHIEF_UPLOAD_DOWNLOAD_URL="$SERVER_URL/$mirror" CHIEF_UPLOAD_INSTALL_DIR="$C/bin" \
        CHIEF_UPLOAD_OS=Linux CHIEF_UPLOAD_ARCH=x86_64 "${vars[@]}" \
        sh "$installer" "${args[@]}" > "$C/out" 2> "$C/err" || RC=$?
    OUT=$(cat "$C/out")
    ERR=$(cat "$C/err")
}

# The checks a failure case makes; prints what is wrong, or nothing.
failure_problems() { # failure_problems EXPECTED_ERROR_TEXT
    [ "$RC" != 0 ] || echo "exit 0"
    [ -z "$OUT" ] || echo "stdout: $OUT"
    local errors others
    errors=$(grep -c 'error:' <<< "$ERR" || true)
    others=$(grep -vc '^chief-upload install: ' <<< "$ERR" || true)
    [ "$errors" = 1 ] || echo "$errors error lines"
    [ "$others" = 0 ] || echo "foreign output"
    grep 'error:' <<< "$ERR" | grep -qF -- "$1" || echo "the error does not say '$1'"
    cmp -s "$C/bin/chief-upload" "$C/previous" || echo "the previous binary was changed"
    [ "$(listing "$C/bin")" = chief-upload ] || echo "install folder holds: $(listing "$C/bin")"
    [ -z "$(listing "$C/tmp")" ] || echo "temporary files left: $(listing "$C/tmp")"
}
# case_* INSTALLER: succeeds when install.sh behaves; prints what went wrong otherwise.
case_tampered() {
    run "$1" tampered
    failure_problems "checksum mismatch for $ARCHIVE"
}
case_no_entry() {
    run "$1" noentry
    failure_problems "no entry for $ARCHIVE"
}
case_failed_download() {
    run "$1" nodownload
    failure_problems "download failed: $SERVER_URL/nodownload/v$VERSION/$ARCHIVE (HTTP 404)"
}
case_server_down() { # a pinned version from a server that does not answer
    run "$1" good CHIEF_UPLOAD_VERSION="$VERSION" CHIEF_UPLOAD_DOWNLOAD_URL="http://127.0.0.1:9/nothing"
    failure_problems "download failed: http://127.0.0.1:9/nothing/v$VERSION/SHA256SUMS (no answer)"
}
case_missing_version() {
    run "$1" good CHIEF_UPLOAD_VERSION=9.9.9
    failure_problems "chief-upload 9.9.9 not found: there is no $SERVER_URL/good/v9.9.9/SHA256SUMS"
}
case_unsupported_platform() {
    run "$1" good CHIEF_UPLOAD_OS=FreeBSD CHIEF_UPLOAD_ARCH=riscv64
    failure_problems "unsupported platform: FreeBSD riscv64 (supported: linux x86_64, linux aarch64, macos x86_64, macos aarch64, windows x86_64)"
}
case_wrong_expected_sha256() {
    run "$1" good CHIEF_UPLOAD_SHA256=0000000000000000000000000000000000000000000000000000000000000000
    failure_problems "(CHIEF_UPLOAD_SHA256)"
}
# Each failure case, the check it covers, and the problems it reported.
outcome() { # outcome NAME PROBLEMS
    if [ -z "$2" ]; then pass "$1"; else fail "$1: $(tr '\n' ';' <<< "$2")"; fi
}

# --- Happy paths ---------------------------------------------------------------------------------
happy_problems() { # happy_problems [DIR]: installed in DIR (default: the case's bin), runs, said so, left nothing else
    local dir=${1:-$C/bin} v
    [ "$RC" = 0 ] || echo "exit $RC: $ERR"
    v=$("$dir/chief-upload" --version 2>&1) || echo "the installed binary failed: $v"
    case "$v" in "chief-upload $VERSION ("*"$TARGET)") ;; *) echo "--version says: $v" ;; esac
    grep -q "installed $dir/chief-upload" <<< "$ERR" || echo "no 'installed' line: $ERR"
    [ "$(listing "$dir")" = chief-upload ] || echo "install folder holds: $(listing "$dir")"
    [ -z "$(listing "$C/tmp")" ] || echo "temporary files left: $(listing "$C/tmp")"
}
run "$ROOT/install.sh" good
p=$(happy_problems)
grep -q "is not on PATH" <<< "$ERR" || p="$p no PATH note"
outcome "latest (from the mirror's latest file): installs, --version runs, PATH note" "$p"

run "$ROOT/install.sh" good CHIEF_UPLOAD_VERSION="v$VERSION"
outcome "a pinned version (CHIEF_UPLOAD_VERSION=v$VERSION)" "$(happy_problems)"

run "$ROOT/install.sh" good CHIEF_UPLOAD_VERSION=9.9.9 -- --version "$VERSION" --install-dir "$W/flagdir"
p=$(happy_problems "$W/flagdir")
cmp -s "$C/bin/chief-upload" "$C/previous" || p="$p; CHIEF_UPLOAD_INSTALL_DIR was used"
outcome "flags win over the variables: --version, --install-dir" "$p"

sha=$(sha256sum "$DIST/$ARCHIVE" | cut -d ' ' -f 1)
run "$ROOT/install.sh" good CHIEF_UPLOAD_SHA256="$sha"
outcome "the right CHIEF_UPLOAD_SHA256" "$(happy_problems)"

# shasum where sha256sum is missing: a PATH of the tools install.sh uses, without sha256sum.
nosha="$W/nosha"
mkdir -p "$nosha"
for t in sh curl tar gzip awk cut head tr sed mktemp rm mkdir cp chmod mv uname cat shasum perl ls; do
    ln -s "$(command -v "$t")" "$nosha/$t"
done
run "$ROOT/install.sh" good PATH="$nosha" CHIEF_UPLOAD_INSTALL_DIR=
p=$(happy_problems "$C/home/.local/bin")
outcome "shasum -a 256 without sha256sum; the default ~/.local/bin" "$p"

# --- Failure cases, then each with its check removed ----------------------------------------------
cases="tampered:checksum no_entry:entry failed_download:download server_down:download missing_version:version unsupported_platform:platform"
for c in $cases wrong_expected_sha256:; do
    outcome "${c%%:*}" "$("case_${c%%:*}" "$ROOT/install.sh")"
done
for c in $cases; do
    tag=${c#*:}
    mutant="$W/install-without-$tag.sh"
    sed "/# check:$tag\$/s/die /true /" "$ROOT/install.sh" > "$mutant"
    if cmp -s "$mutant" "$ROOT/install.sh"; then
        fail "no '# check:$tag' line in install.sh"
    elif [ -n "$("case_${c%%:*}" "$mutant")" ]; then
        pass "without its check:$tag, install.sh fails case ${c%%:*}"
    else
        fail "case ${c%%:*} still passes with check:$tag removed: it tests nothing"
    fi
done
finish
