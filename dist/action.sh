#!/usr/bin/env bash
# The GitHub Action's one step (action.yml). Everything comes from the environment, never
# from text pasted into this script: INPUT_PATH (one path per line), INPUT_API_KEY,
# INPUT_PROJECT_ID, INPUT_ARGS (split on white space, never evaluated), INPUT_VERSION
# (default: the version in this checkout's Cargo.toml), INPUT_CHECKSUM, INPUT_SHARD,
# INPUT_REPORT; and the runner's RUNNER_OS, RUNNER_ARCH, RUNNER_TEMP, GITHUB_PATH and
# GITHUB_OUTPUT. CHIEF_UPLOAD_DOWNLOAD_URL, if set, is where install.sh downloads from.
#
# Installs chief-upload through install.sh into RUNNER_TEMP (and onto GITHUB_PATH for the
# next steps), then runs it with --ci github: it writes the step outputs uploaded,
# skipped, failed and bytes_uploaded itself, this script adds report. The token reaches
# chief-upload only as CHIEF_API_KEY in its environment. The exit status is chief-upload's.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

die() { echo "::error title=chief-upload action::$*"; exit 2; }

# --- Inputs --------------------------------------------------------------------------------------
paths=()
while IFS= read -r line || [ -n "$line" ]; do
    line=${line%$'\r'}
    line=${line#"${line%%[![:space:]]*}"}
    line=${line%"${line##*[![:space:]]}"}
    [ -z "$line" ] || paths+=("$line")
done <<< "${INPUT_PATH:-}"
[ "${#paths[@]}" -gt 0 ] || die "the 'path' input is empty: give one or more paths, one per line"

# White space separates arguments; nothing is expanded or evaluated (no eval anywhere).
extra=()
read -r -d '' -a extra <<< "${INPUT_ARGS:-}" || true

version=${INPUT_VERSION:-}
if [ -z "$version" ]; then
    version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$root/Cargo.toml" | head -n 1)
    [ -n "$version" ] || die "no version in $root/Cargo.toml: set the 'version' input"
fi

if [ -n "${INPUT_API_KEY:-}" ]; then
    export CHIEF_API_KEY="$INPUT_API_KEY"
fi
if [ -n "${INPUT_PROJECT_ID:-}" ]; then
    export CHIEF_PROJECT_ID="$INPUT_PROJECT_ID"
fi
unset INPUT_API_KEY

temp=${RUNNER_TEMP:-${TMPDIR:-/tmp}}
report=${INPUT_REPORT:-$temp/chief-upload-report-$$.ndjson}
case "$report" in
    *$'\n'* | *$'\r'*) die "the 'report' input holds a line break" ;;
esac

# --- Install ------------------------------------------------------------------------------------
bin_dir="$temp/chief-upload-bin"
exe=""
[ "${RUNNER_OS:-}" != Windows ] || exe=".exe"
echo "::group::Install chief-upload $version"
# (bin_dir on install.sh's PATH: it goes onto GITHUB_PATH below, so no "not on PATH" note.)
CHIEF_UPLOAD_VERSION="$version" CHIEF_UPLOAD_INSTALL_DIR="$bin_dir" \
    CHIEF_UPLOAD_SHA256="${INPUT_CHECKSUM:-}" \
    CHIEF_UPLOAD_OS="${RUNNER_OS:-${CHIEF_UPLOAD_OS:-}}" CHIEF_UPLOAD_ARCH="${RUNNER_ARCH:-${CHIEF_UPLOAD_ARCH:-}}" \
    PATH="$bin_dir:$PATH" sh "$root/install.sh" 2>&1 || { echo "::endgroup::"; die "installing chief-upload $version failed (see above)"; }
"$bin_dir/chief-upload$exe" --version
echo "::endgroup::"
if [ -n "${GITHUB_PATH:-}" ]; then
    echo "$bin_dir" >> "$GITHUB_PATH"
fi

# --- Upload -------------------------------------------------------------------------------------
cmd=("$bin_dir/chief-upload$exe" --ci github --report "$report")
[ -z "${INPUT_SHARD:-}" ] || cmd+=(--shard "$INPUT_SHARD")
# (The ${a[@]+...} form: bash 3.2, macOS's, calls an empty array unset under set -u.)
cmd+=(${extra[@]+"${extra[@]}"} -- "${paths[@]}")
if [ -n "${GITHUB_OUTPUT:-}" ]; then
    echo "report=$report" >> "$GITHUB_OUTPUT"
fi
status=0
"${cmd[@]}" || status=$?
exit "$status"
