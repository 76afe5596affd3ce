#!/usr/bin/env bash
# Is the release build reproducible across folders and CARGO_HOMEs? Builds one commit twice
# through `dist/package.sh TARGET --release`, from two clones in two different folders,
# each with its own CARGO_HOME and target folder, and compares the bytes of the binary,
# the archive, the SBOM and their SHA256SUMS lines. Slow (two cold release builds); run by
# hand (see dist/README.md) and by the release workflow, which also compares with the
# archive its build job made on another machine (--against).
#
#   dist/repro-check.sh [--target TARGET] [--against DIR] [COMMIT]
#
#   COMMIT         what to build (default: HEAD; uncommitted changes are not in a clone)
#   --target T     default x86_64-unknown-linux-musl; --zig is added for aarch64 musl
#   --against DIR  also compare with the archive and SBOM of the same version and target
#                  in DIR (a release's files, or another machine's dist/package.sh output)
#
# The first build uses the caller's CARGO_HOME (and downloads what is missing); the second
# a new CARGO_HOME elsewhere, seeded with a copy of the first one's registry (index and
# .crate files, not the unpacked sources) and built offline (CARGO_NET_OFFLINE): the same
# crates, unpacked anew at another path, and no network needed. The two clones are made
# with `git clone --no-local` from this repository. Needs what dist/package.sh needs;
# dist/tools.sh installs the pinned cargo tools (in the caller's CARGO_HOME, kept on
# PATH for the second build). The work folder is removed when the builds match, kept
# (and named) when they do not, for a closer look (e.g. diffoscope).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
export CARGO_TERM_COLOR=never

target=x86_64-unknown-linux-musl
against=""
rev=HEAD
while [ $# -gt 0 ]; do
    case "$1" in
        --target) target=${2:?--target needs a target}; shift ;;
        --against) against=${2:?--against needs a folder}; shift ;;
        -*) echo "dist/repro-check.sh: unknown option: $1" >&2; exit 2 ;;
        *) rev=$1 ;;
    esac
    shift
done
zig=()
case "$target" in x86_64-unknown-linux-musl) ;; *-linux-musl*) zig=(--zig) ;; esac
commit=$(git rev-parse --verify "$rev^{commit}") || exit 2
version=$(git show "$commit:Cargo.toml" | sed -n 's/^version = "\(.*\)"$/\1/p' | head -n 1)
name="chief-upload-$version-$target"
archive="$name.tar.gz"
case "$target" in *-windows-*) archive="$name.zip" ;; esac
sbom="$name.cdx.json"
exe=""
case "$target" in *-windows-*) exe=.exe ;; esac

home_a=${CARGO_HOME:-$HOME/.cargo}
export PATH="$home_a/bin:$PATH"
sh dist/tools.sh cargo-auditable cargo-cyclonedx || exit 2
unset CARGO_TARGET_DIR

work=$(mktemp -d "${TMPDIR:-/tmp}/chief-repro.XXXXXX")
a="$work/a/chief-upload"
b="$work/elsewhere/deeper/chief-upload-b"
home_b="$work/cargo-home-b"
for dir in "$a" "$b"; do
    git clone --quiet --no-local --no-checkout . "$dir" && git -C "$dir" checkout --quiet --detach "$commit" || exit 2
done
echo "repro-check: $commit ($version, $target), clones $a and $b"

passed=0
failed=0
pass() { passed=$((passed + 1)); echo "PASS repro: $*"; }
fail() { failed=$((failed + 1)); echo "FAIL repro: $*"; }

# build DIR CARGO_HOME OUT [ENV...]: dist/package.sh --release in DIR, timed.
build() {
    local dir=$1 home=$2 out=$3 t0 rc=0
    shift 3
    t0=$(date +%s)
    (cd "$dir" && env CARGO_HOME="$home" "$@" sh dist/package.sh "$target" --release "${zig[@]}" --out "$out") || rc=$?
    echo "repro-check: built in $dir (CARGO_HOME $home) in $(($(date +%s) - t0)) s, exit $rc"
    return "$rc"
}
build "$a" "$home_a" "$work/out-a" || { fail "the first build failed (work folder kept: $work)"; exit 1; }
mkdir -p "$home_b/registry"
cp -R "$home_a/registry/index" "$home_a/registry/cache" "$home_b/registry/"
build "$b" "$home_b" "$work/out-b" CARGO_NET_OFFLINE=true || { fail "the second build failed (work folder kept: $work)"; exit 1; }

# same WHAT FILE1 FILE2
same() {
    if cmp -s "$2" "$3"; then
        pass "$1: identical, sha256 $(sha256sum < "$2" | cut -c1-64)"
    else
        fail "$1 differs: $2 ($(sha256sum < "$2" | cut -c1-16)...) and $3 ($(sha256sum < "$3" | cut -c1-16)...)"
    fi
}
same "binary" "$a/target/$target/release/chief-upload$exe" "$b/target/$target/release/chief-upload$exe"
same "$archive" "$work/out-a/$archive" "$work/out-b/$archive"
same "$sbom" "$work/out-a/$sbom" "$work/out-b/$sbom"
same "SHA256SUMS" "$work/out-a/SHA256SUMS" "$work/out-b/SHA256SUMS"

# No build folder of either side in what ships (the remapping works; a difference above
# could hide behind two equal leaks otherwise).
for f in "$a/target/$target/release/chief-upload$exe" "$work/out-a/$sbom"; do
    leaks=$(grep -a -o -F -e "$work/" -e "$home_a/" -e "$HOME/" "$f" | sort | uniq -c | tr -s ' \n' ' ')
    if [ -z "$leaks" ]; then
        pass "$(basename "$f"): names no build folder ($work, $home_a, $HOME)"
    else
        fail "$(basename "$f") names build folders: $leaks"
    fi
done

if [ -n "$against" ]; then
    same "$archive against $against" "$work/out-a/$archive" "$against/$archive"
    same "$sbom against $against" "$work/out-a/$sbom" "$against/$sbom"
fi

word=ok
[ "$failed" = 0 ] || word=FAILED
echo "test result: $word. $passed passed; $failed failed (repro)"
if [ "$failed" = 0 ]; then
    rm -rf "$work"
else
    echo "repro-check: work folder kept for a closer look: $work"
    exit 1
fi
