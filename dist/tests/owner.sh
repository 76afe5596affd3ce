#!/usr/bin/env bash
# The repository's owner is not known yet: Cargo.toml, install.sh, action.yml, README.md
# and dist/README.md name it with one placeholder (OWNER). This fails when they disagree,
# so that replacing it is one command and cannot be done halfway:
#   git grep -l 'OWNER/chief-upload' | xargs sed -i 's#OWNER/chief-upload#NEW-OWNER/chief-upload#g'
# It then checks itself: a copy of the files with one of them changed must fail.
set -euo pipefail
# shellcheck disable=SC2034 # read by lib.sh
suite=owner
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
FILES="Cargo.toml install.sh action.yml README.md dist/README.md"

# owner_problems DIR: prints each disagreement with Cargo.toml's `repository` owner.
owner_problems() {
    local dir=$1 owner f found
    owner=$(sed -n 's#^repository = "https://github.com/\([^/"]*\)/chief-upload"$#\1#p' "$dir/Cargo.toml")
    [ -n "$owner" ] || { echo "Cargo.toml: no repository = \"https://github.com/<owner>/chief-upload\""; return; }
    grep -qx "homepage = \"https://github.com/$owner/chief-upload\"" "$dir/Cargo.toml" ||
        echo "Cargo.toml: homepage is not https://github.com/$owner/chief-upload"
    for f in $FILES; do
        # Every <owner>/chief-upload in a GitHub URL or an Action reference (`uses: <owner>/chief-upload@`).
        found=$(grep -oE '(github\.com|githubusercontent\.com)/[A-Za-z0-9_.-]+/chief-upload|uses: *[A-Za-z0-9_.-]+/chief-upload@' "$dir/$f" |
            sed -E 's#^(github\.com|githubusercontent\.com)/##; s#^uses: *##; s#/chief-upload@?$##' | sort -u) || true
        [ -n "$found" ] || echo "$f: names no owner/chief-upload"
        for o in $found; do
            [ "$o" = "$owner" ] || echo "$f: owner '$o', Cargo.toml says '$owner'"
        done
    done
}

p=$(owner_problems "$ROOT")
if [ -z "$p" ]; then pass "$FILES agree on the owner"; else fail "$(tr '\n' ';' <<< "$p")"; fi

# Self-check: with one file changed, each must be caught.
for f in $FILES; do
    rm -rf "$W/copy"
    mkdir -p "$W/copy/dist"
    for g in $FILES; do cp "$ROOT/$g" "$W/copy/$g"; done
    sed -i -E 's#(github\.com|githubusercontent\.com)/[A-Za-z0-9_.-]+/chief-upload#\1/someone-else/chief-upload#; s#(uses: *)[A-Za-z0-9_.-]+/chief-upload@#\1someone-else/chief-upload@#' "$W/copy/$f"
    if [ -n "$(owner_problems "$W/copy")" ]; then
        pass "a different owner in $f alone is caught"
    else
        fail "a different owner in $f alone is not caught"
    fi
done
finish
