#!/usr/bin/env bash
# The container image, built and run here, with no registry: too slow for .ci/run, run
# by hand before a release (its results are in dist/README.md).
#
#   dist/image-check.sh
#
# 1. Installs what it needs (apt: podman, runc, debootstrap, musl-tools; the rustup
#    target), and sets in /etc/containers/containers.conf the two settings podman needs
#    on this kind of machine (`default_ulimits = []`, `pids_limit = 0` under
#    [containers]), saying what it changed. podman runs with `--runtime runc
#    --cgroup-manager=cgroupfs` (crun failed on this kernel's hybrid cgroups when the
#    engine was first tried here).
# 2. Makes the unpack stage's base without Docker Hub: a minimal Debian bookworm from
#    `debootstrap` (against the Debian mirror apt uses, or $DEBIAN_MIRROR), with
#    ca-certificates, imported as localhost/chief-upload-unpack:bookworm. Kept, so the
#    next run skips this (`podman rmi` it to start over).
# 3. Packages the static binary through dist/package.sh x86_64-unknown-linux-musl
#    --release (the image ships the release archive, so that is what is checked, and its
#    size is the image's), builds the Dockerfile from that archive with --pull=never and
#    no network, as localhost/chief-upload:VERSION (kept).
# 4. Checks through the image: the files it holds, and nothing else (no shell); that
#    `--entrypoint /bin/sh` cannot start; `--version`; an upload of a small tree to the
#    fake Chief server (examples/fake_chief.rs, on 127.0.0.1, reached with
#    --network=host) as the image's non-root user, with `--report` into a mounted
#    folder, whose file is owned by that user; a rerun that finds every file there.
#    Last, the release workflow's path: a base without CA roots (as debian:bookworm-slim
#    is) gets them from Debian's mirror in the build.
# Prints PASS/FAIL lines, the time of each step, and a cargo-style `test result:` line.
set -uo pipefail
# shellcheck disable=SC2034 # read by lib.sh
suite=image
# shellcheck source-path=SCRIPTDIR source=tests/lib.sh
. "$(dirname "$0")/tests/lib.sh"
cd "$(dirname "$0")/.." || exit 2
export CARGO_TERM_COLOR=never
VERSION=$(cargo_version)
TARGET=x86_64-unknown-linux-musl
BASE=localhost/chief-upload-unpack:bookworm
IMAGE=localhost/chief-upload:$VERSION
UID_IMAGE=65532
t_start=$(date +%s)

# step NAME CMD...: runs CMD with its output in a log, prints the time; the log's tail on failure.
step() {
    local name=$1 t0 rc=0 log
    shift
    log="$W/step.$(date +%s%N).log"
    t0=$(date +%s)
    echo "--- $name"
    "$@" > "$log" 2>&1 || rc=$?
    echo "--- $name: $([ "$rc" = 0 ] && echo "done" || echo "FAILED (exit $rc)") in $(($(date +%s) - t0)) s"
    [ "$rc" = 0 ] || tail -n 30 "$log"
    return "$rc"
}
# A setup step that failed: nothing after it can run.
give_up() { fail "$1"; finish; exit 1; }

[ "$(uname -m)" = x86_64 ] || { echo "dist/image-check.sh: builds for x86_64 hosts only (here: $(uname -m))" >&2; exit 2; }
# Rootful podman (rootless needs subuids and a user session), debootstrap, /etc/containers.
[ "$(id -u)" = 0 ] || { echo "dist/image-check.sh: run it as root (sudo)" >&2; exit 2; }

# --- 1. Tools and podman's settings ------------------------------------------------------------
need=""
command -v podman >/dev/null || need="$need podman"
command -v runc >/dev/null || need="$need runc"
command -v debootstrap >/dev/null || need="$need debootstrap"
command -v musl-gcc >/dev/null || need="$need musl-tools"
apt_install() { # (other builds on this machine may hold apt's lock: wait for it)
    apt-get -o DPkg::Lock::Timeout=600 update -qq &&
        DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "$@"
}
if [ -n "$need" ]; then
    # shellcheck disable=SC2086 # package names
    step "apt-get install$need" apt_install $need || give_up "apt-get install$need"
fi
rustup target list --installed | grep -q "^$TARGET\$" || rustup target add "$TARGET" >/dev/null 2>&1

# conf_set FILE: default_ulimits = [] and pids_limit = 0 under [containers], each line
# replaced or added; prints what changed (nothing else in the file is touched).
conf_set() {
    python3 - "$1" <<'PY'
import os, re, sys
path = sys.argv[1]
want = {"default_ulimits": "[]", "pids_limit": "0"}
try:
    lines = open(path).read().splitlines()
except FileNotFoundError:
    lines = []
changes = []
head = next((i for i, l in enumerate(lines) if re.match(r"\s*\[containers\]\s*(#.*)?$", l)), None)
if head is None:
    lines += ["", "[containers]"] if lines else ["[containers]"]
    head = len(lines) - 1
    changes.append("added a [containers] table")
end = next((i for i in range(head + 1, len(lines)) if re.match(r"\s*\[", lines[i])), len(lines))
for key, value in want.items():
    at = next((i for i in range(head + 1, end) if re.match(rf"\s*{key}\s*=", lines[i])), None)
    if at is None:
        lines.insert(head + 1, f"{key} = {value}")
        end += 1
        changes.append(f"added `{key} = {value}`")
        continue
    last = at  # a multi-line array runs to its closing bracket
    if re.match(rf"\s*{key}\s*=\s*\[", lines[at]) and "]" not in lines[at]:
        while last + 1 < end and "]" not in lines[last]:
            last += 1
    old = " ".join(l.strip() for l in lines[at:last + 1])
    if re.fullmatch(rf"{key}\s*=\s*{re.escape(value)}(\s*#.*)?", old):
        continue
    lines[at:last + 1] = [f"{key} = {value}"]
    end -= last - at
    changes.append(f"replaced `{old}` with `{key} = {value}`")
if changes:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"{path}: " + "; ".join(changes) + " under [containers]")
else:
    print(f"{path}: unchanged (default_ulimits = [] and pids_limit = 0 already set)")
PY
}
conf=/etc/containers/containers.conf
# Without default_ulimits = [], runc cannot start a container here: podman's default
# raises the open-files limit ("error setting rlimit type 7: operation not permitted").
# pids_limit = 0 was part of the first setup that worked, and is kept (runc did apply
# podman's default of 2048 here).
conf_set "$conf" || give_up "cannot set $conf"
pm() { podman --runtime runc --cgroup-manager=cgroupfs "$@"; }
echo "$(pm --version), $(runc --version | head -n 1)"

# --- 2. The unpack stage's base, from debootstrap ---------------------------------------------
if pm image exists "$BASE"; then
    echo "--- $BASE: there already ($(pm image inspect --format '{{.Created}}' "$BASE" | cut -c1-19)), not rebuilt"
else
    mirror=${DEBIAN_MIRROR:-}
    if [ -z "$mirror" ]; then
        # The first Debian (not -security) URL of apt's sources: deb lines and deb822 URIs.
        mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
            sed -n -E 's#^(deb(\s+\[[^]]*\])?|URIs:)\s+(https?://[^ ]*/debian)/?(\s.*)?$#\3#p' | head -n 1)
        mirror=${mirror:-http://deb.debian.org/debian}
    fi
    root="$W/rootfs"
    step "debootstrap --variant=minbase --include=ca-certificates bookworm from $mirror" \
        debootstrap --variant=minbase --include=ca-certificates bookworm "$root" "$mirror" ||
        give_up "debootstrap bookworm from $mirror"
    # The package cache and lists are not needed to unpack an archive (apt-get update
    # fetches lists again if a build ever installs something).
    rm -rf "$root"/var/cache/apt/* "$root"/var/lib/apt/lists/*
    # shellcheck disable=SC2016 # expanded by that bash
    step "podman import as $BASE" bash -c 'tar -C "$1" --numeric-owner -cf - . |
        podman import --change "CMD [\"/bin/bash\"]" - "$2"' _ "$root" "$BASE" ||
        give_up "podman import of the debootstrapped bookworm"
    rm -rf "$root"
fi

# --- 3. The archive and the image --------------------------------------------------------------
ctx="$W/context"
mkdir -p "$ctx/dist/out"
cp .dockerignore "$ctx/"
step "dist/package.sh $TARGET --release" dist/package.sh "$TARGET" --release --out "$ctx/dist/out" ||
    give_up "dist/package.sh $TARGET --release"
archive="$ctx/dist/out/chief-upload-$VERSION-$TARGET.tar.gz"
echo "archive: $(basename "$archive"), $(stat -c %s "$archive") bytes"
target_dir=${CARGO_TARGET_DIR:-target}
step "cargo build --example fake_chief" cargo build --locked --example fake_chief ||
    give_up "cargo build --example fake_chief"
fake="$target_dir/debug/examples/fake_chief"

# The build pulls nothing and has no network: the base is the local one, the archive
# comes from the context.
if step "podman build (--pull=never --network=none, UNPACK_BASE=$BASE)" \
    pm build --pull=never --network=none --build-arg "UNPACK_BASE=$BASE" -f Dockerfile -t "$IMAGE" "$ctx"; then
    size=$(pm image inspect --format '{{.Size}}' "$IMAGE")
    pass "the image builds with nothing pulled: $IMAGE, $size bytes ($((size / 1024)) KiB)"
else
    give_up "podman build"
fi

# --- 4. Through the image ----------------------------------------------------------------------
# What the image holds, every path with its mode and owner: exactly this, nothing else.
want_files="drwxr-xr-x 0:0 data
drwxr-xr-x 0:0 etc
-rw-r--r-- 0:0 etc/group
-rw-r--r-- 0:0 etc/passwd
drwxr-xr-x 0:0 etc/ssl
drwxr-xr-x 0:0 etc/ssl/certs
-rw-r--r-- 0:0 etc/ssl/certs/ca-certificates.crt
drwxr-xr-x 0:0 home
drwx------ $UID_IMAGE:$UID_IMAGE home/nonroot
drwxrwxrwt 0:0 tmp
drwxr-xr-x 0:0 usr
drwxr-xr-x 0:0 usr/local
drwxr-xr-x 0:0 usr/local/bin
-rwxr-xr-x 0:0 usr/local/bin/chief-upload"
files() { # files IMAGE: its paths, sorted, with mode and owner
    local mnt
    mnt=$(pm image mount "$1") || return 1
    (cd "$mnt" && find . -mindepth 1 -printf '%M %U:%G %P\n' | sort -k 3)
    pm image unmount "$1" >/dev/null
}
got_files=$(files "$IMAGE")
if [ "$got_files" = "$want_files" ]; then
    pass "the image holds only the binary, CA roots, passwd/group, the user's home, /tmp and /data"
else
    fail "the image's files: $(diff <(echo "$want_files") <(echo "$got_files") | grep '^[<>]' | tr '\n' ';')"
fi
bundle=$(pm image mount "$IMAGE")/etc/ssl/certs/ca-certificates.crt
n=$(grep -c 'BEGIN CERTIFICATE' "$bundle" 2>/dev/null || echo 0)
pm image unmount "$IMAGE" >/dev/null
if [ "$n" -gt 100 ]; then pass "CA roots: $n certificates in /etc/ssl/certs/ca-certificates.crt"; else fail "CA roots: $n certificates"; fi

user=$(pm image inspect --format '{{.Config.User}}' "$IMAGE")
if [ "$user" = "$UID_IMAGE:$UID_IMAGE" ]; then pass "runs as $user by default"; else fail "the image's user: '$user'"; fi

run() { pm run --rm --network=host "$@"; }
out=$(run --entrypoint /bin/sh "$IMAGE" -c 'echo a shell' 2>&1)
rc=$?
if [ "$rc" != 0 ] && ! grep -q 'a shell' <<< "$out" && grep -qi -E 'no such file|not found' <<< "$out"; then
    pass "no shell: --entrypoint /bin/sh fails (exit $rc: $(tail -n 1 <<< "$out"))"
else
    fail "--entrypoint /bin/sh: exit $rc: $out"
fi

want_version="chief-upload $VERSION ($(git log -1 --abbrev=7 --format='%h %cs'), $TARGET)"
got=$(run "$IMAGE" --version 2>&1)
if [ "$got" = "$want_version" ]; then pass "--version: $got"; else fail "--version: '$got', not '$want_version'"; fi

# The fake Chief server on the host's loopback, which --network=host shares.
: > "$W/fake.env"
"$fake" --no-record > "$W/fake.env" 2> "$W/fake.log" &
PIDS="$PIDS $!"
i=0
until [ "$(wc -l < "$W/fake.env")" -ge 3 ]; do
    i=$((i + 1))
    [ "$i" -lt 200 ] || give_up "fake_chief did not start: $(cat "$W/fake.log")"
    sleep 0.05
done
echo "fake Chief: $(grep CHIEF_API_URL "$W/fake.env")"
mkdir -p "$W/tree/sub" "$W/reports"
printf 'alpha\n' > "$W/tree/a.txt"
printf 'beta\n' > "$W/tree/sub/b.txt"
head -c 300000 /dev/urandom > "$W/tree/sub/c.bin"
chmod -R a+rX "$W/tree"
# The report's folder belongs to the image's user, as a user would prepare it.
chown "$UID_IMAGE:$UID_IMAGE" "$W/reports"
chmod 700 "$W/reports"
upload() { # upload REPORT: the tree, read-only at /data, through the image
    run --env-file "$W/fake.env" -v "$W/tree:/data:ro" -v "$W/reports:/reports" \
        "$IMAGE" --json --report "/reports/$1" . 2> "$W/upload.err"
}
out=$(upload report.jsonl)
rc=$?
if [ "$rc" = 0 ] && grep -q '"event":"summary","uploaded":3,"skipped":0,"failed":0' <<< "$out"; then
    pass "an upload of 3 files to the fake over the host network, through the image"
else
    fail "upload: exit $rc: $out $(cat "$W/upload.err")"
fi
if grep -q -i -E 'warn|error' "$W/upload.err"; then
    fail "the upload's stderr has a warning or an error: $(cat "$W/upload.err")"
else
    pass "the upload printed no warning (the hash cache in the user's home works)"
fi
rep="$W/reports/report.jsonl"
owner=$(stat -c %u:%g "$rep" 2>/dev/null)
if [ "$owner" = "$UID_IMAGE:$UID_IMAGE" ]; then
    pass "the --report file in the mounted folder is owned by $owner: the process ran as that user, not root"
else
    fail "the --report file: owner '$owner' (want $UID_IMAGE:$UID_IMAGE)"
fi
# Its lines: one per file, uploaded, with an asset id; the summary last.
report_problems() {
    python3 - "$1" "$2" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
outcome = sys.argv[2]
files = sorted(l["path"] for l in lines if l.get("event") == "file")
if files != ["./a.txt", "./sub/b.txt", "./sub/c.bin"]:
    print(f"file lines for {files}")
for l in lines[:-1]:
    if l.get("event") != "file" or l.get("outcome") != outcome or not l.get("asset_id") or l.get("error") is not None:
        print(f"not a {outcome} file line: {l}")
s = lines[-1] if lines else {}
if s.get("event") != "summary" or s.get(outcome) != 3 or s.get("failed") != 0:
    print(f"last line not a summary with {outcome}=3, failed=0: {s}")
PY
}
p=$(report_problems "$rep" uploaded 2>&1)
if [ -z "$p" ]; then
    pass "the report: 3 file lines (uploaded, asset ids) and the summary last ($(wc -l < "$rep") lines)"
else
    fail "the report: $p"
fi
out=$(upload rerun.jsonl)
p=$(report_problems "$W/reports/rerun.jsonl" skipped 2>&1)
if [ -z "$p" ]; then
    pass "a rerun through the image: 3 dedup hits at the fake, nothing sent"
else
    fail "the rerun: $p $out"
fi

# The release workflow's path: debian:bookworm-slim has no CA roots, so the Dockerfile
# installs them from Debian; here a copy of the base with ca-certificates purged plays
# that part (this build needs the network: the host's, for Debian's mirror).
slim=localhost/chief-upload-unpack:bookworm-noroots
purge_roots() {
    pm rm -f chief-upload-noroots >/dev/null 2>&1
    pm run --name chief-upload-noroots --network=none "$BASE" \
        bash -c 'dpkg --purge ca-certificates && ! test -e /etc/ssl/certs/ca-certificates.crt' &&
        pm commit -q chief-upload-noroots "$slim"
    local rc=$?
    pm rm -f chief-upload-noroots >/dev/null 2>&1
    return "$rc"
}
if { pm image exists "$slim" || step "$slim: $BASE with ca-certificates purged" purge_roots; } &&
    step "podman build (--pull=never, UNPACK_BASE=$slim, --network=host for apt)" \
        pm build --pull=never --network=host --build-arg "UNPACK_BASE=$slim" -f Dockerfile -t "$IMAGE-apt" "$ctx"; then
    got_files=$(files "$IMAGE-apt")
    got=$(run "$IMAGE-apt" --version 2>&1)
    if [ "$got_files" = "$want_files" ] && [ "$got" = "$want_version" ]; then
        pass "from a base without CA roots (as debian:bookworm-slim), apt installs them: the same files, and it runs"
    else
        fail "from a base without CA roots: --version '$got'; files: $(diff <(echo "$want_files") <(echo "$got_files") | grep '^[<>]' | tr '\n' ';')"
    fi
    pm rmi "$IMAGE-apt" >/dev/null 2>&1
else
    fail "the build from a base without CA roots"
fi

echo "--- kept: $IMAGE ($size bytes) and the base $BASE; whole run $(($(date +%s) - t_start)) s"
finish
