#!/bin/sh
# The cargo tools of the dependency policy and the release, pinned here and nowhere else:
#
#   cargo-deny       the dependency policy (deny.toml): .ci/run, the CI workflow
#   cargo-auditable  the dependency list embedded in the binary: dist/package.sh
#   cargo-cyclonedx  the CycloneDX SBOM beside each archive: dist/package.sh
#   rust-audit-info  reads the embedded list back: .ci/dist
#
#   dist/tools.sh [NAME...]          install those (default: all) that are missing
#   dist/tools.sh --check NAME...    exit 2, saying how to install them, if any is missing
#
# A tool is there when `cargo install --list` (of the CARGO_HOME it is in) names it at its
# pinned version; otherwise it is built from crates.io with `cargo install --locked NAME@VERSION` (into CARGO_HOME/bin),
# and the time that took is printed. The pinned versions are part of what a release is
# built with: the SBOM names its generator, and a rebuild that is to give the same bytes
# uses the same ones.
set -eu

pinned() {
    case "$1" in
        cargo-deny) echo 0.20.2 ;;
        cargo-auditable) echo 0.7.7 ;;
        cargo-cyclonedx) echo 0.5.9 ;;
        rust-audit-info) echo 0.5.4 ;;
        *) return 1 ;;
    esac
}
all="cargo-deny cargo-auditable cargo-cyclonedx rust-audit-info"

check=false
if [ "${1:-}" = --check ]; then
    check=true
    shift
fi
# shellcheck disable=SC2086 # a list of names
[ $# -gt 0 ] || set -- $all

# listed NAME VERSION: cargo install's record names NAME at VERSION, in the CARGO_HOME
# whose bin/ holds the NAME on PATH (dist/repro-check.sh builds with another CARGO_HOME
# and the tools of the first on PATH), or else in CARGO_HOME.
listed() {
    home=${CARGO_HOME:-$HOME/.cargo}
    if bin=$(command -v "$1" 2>/dev/null) && [ -n "$bin" ]; then
        home=$(dirname "$(dirname "$bin")")
    fi
    CARGO_HOME=$home cargo install --list 2>/dev/null | grep -qx "$1 v$2:"
}
missing=""
for name in "$@"; do
    version=$(pinned "$name") || { echo "dist/tools.sh: no pinned version for '$name' (known: $all)" >&2; exit 2; }
    if listed "$name" "$version"; then
        continue
    fi
    if $check; then
        missing="$missing $name@$version"
        continue
    fi
    t0=$(date +%s)
    # Without the tools' own release profile (cargo-deny's is fat LTO in one codegen unit,
    # cargo-cyclonedx's thin LTO): that is most of a cold .ci/run's install time, and
    # changes how fast a tool runs (about a second here), not what it writes.
    CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
        cargo install --locked --quiet "$name@$version"
    echo "dist/tools.sh: installed $name $version in $(($(date +%s) - t0)) s"
done
if [ -n "$missing" ]; then
    echo "missing:$missing (pinned versions). Install with: dist/tools.sh$(printf ' %s' "$@")" >&2
    echo "  (that is: cargo install --locked$missing)" >&2
    exit 2
fi
