#!/usr/bin/env bash
# Benchmark runner for chief-upload. Not part of CI's
# default path.
#
#   benches/run.sh            full run (about 42 minutes on 2 cores, plus the build and the
#                             corpora; needs ~15 GiB in $TMPDIR)
#   benches/run.sh --smoke    tiny corpora, one run each: checks that every scenario works
#                             (about 70 s, plus the release build if it is not up to date);
#                             exits non-zero only if a scenario fails, not on ratios
#   benches/run.sh --soak     only row 10, the --watch soak (about 2 minutes; with --smoke,
#                             a few hundred files in a few seconds); the same as --only soak
#   benches/run.sh --only overhead,million
#                             only these groups of rows (and only their corpora), any of:
#                             hash (1a), tree (1b), e2e (2), small (3), overlap (4),
#                             memory (5, 7), cache (6), outage (8), tls (9), soak (10),
#                             overhead (11), million (12), and over the fake's emulated
#                             network, -j auto and --bwlimit: wan (W1), link (W2),
#                             pushback (W3), bwlimit (W4); and, only when named, peers
#                             (P1-P3: chief-upload vs rclone and the AWS CLI against one
#                             s3s-fs; needs rclone, awscli and s3s-fs 0.14.1) and cold
#                             (C1-C4: hashing from a cold page cache vs xargs md5sum;
#                             needs root, to drop the page cache before every run)
#
# Environment:
#   BENCH_ONLY=wan,link       the same as --only wan,link
#   BENCH_SCALE=0.25   scale every corpus (default 1; --smoke uses 0.01)
#   BENCH_RUNS=5       alternated runs per measurement (default 3; --smoke uses 1)
#   BENCH_SEQ_N=1000   files the sequential shell loop uploads (its time is extrapolated)
#   BENCH_LINK_MBPS=80 per-upload speed of the emulated link of row 4 (default 80)
#   BENCH_OUTAGE_SECS=20  length of the API outage of row 8 (default 20; --smoke uses 2)
#   BENCH_SOAK_N=10000    files created under the --watch of row 10 (default 10000, scaled)
#   BENCH_SOAK_SECS=60    over how many seconds they are created (default 60; --smoke uses 5)
#   BENCH_DIR=/path    where corpora go, kept and reused by the next run at the same scale
#                      (default: a new dir under ${TMPDIR:-/tmp}, deleted at the end
#                      unless BENCH_KEEP=1)
#   CHIEF_BIN=/path    measure this chief-upload binary instead of the fresh build (A/B)
#   BENCH_PEER_ROWS="p1 p2"  peers: only these rows (default p1 p2 p3)
#   BENCH_PEER_WAN=0   peers: skip row P3 (the runs through the 50 ms delaying proxy)
#   BENCH_PEER_RUNS=5  peers: runs per measurement (default 5; --smoke uses 1)
#   BENCH_BEFORE_BIN=/path  cold: also measure this (older) chief-upload, cold and warm
#   S3S_FS=/path AWS_BIN=/path RCLONE_BIN=/path   peers: the executables (default: s3s-fs
#                      and rclone on PATH, /usr/bin/aws, the apt package, before PATH's aws)
#
# It builds release, generates the corpora, starts the fake server from
# examples/fake_chief.rs (127.0.0.1 only; a fresh one before every upload run, since the
# fake dedups content), runs chief-upload and each baseline alternately, and prints a
# table of medians, ratios and peak RSS. Times are wall-clock, page cache warm.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

SMOKE=0
ONLY=${BENCH_ONLY:-}
GROUPS_ALL="hash tree e2e small overlap memory cache outage tls soak overhead million wan link pushback bwlimit peers cold"
usage() { echo "usage: benches/run.sh [--smoke] [--soak] [--only GROUP,...]  (groups: ${GROUPS_ALL// /, })" >&2; exit 2; }
while [ $# -gt 0 ]; do
    case "$1" in
        --smoke) SMOKE=1 ;;
        --soak) ONLY=soak ;;
        --only) [ $# -ge 2 ] || usage; ONLY=$2; shift ;;
        --only=*) ONLY=${1#--only=} ;;
        -h | --help) sed -n '2,44p' "$0"; exit 0 ;;
        *) usage ;;
    esac
    shift
done
ONLY=${ONLY//,/ }
for g in $ONLY; do
    case " $GROUPS_ALL " in *" $g "*) ;; *) echo "run.sh: unknown group '$g'" >&2; usage ;; esac
done
# wants GROUP: whether this run measures that group's rows (peers and cold: only when
# named, since they need other tools or root).
wants() {
    case "$1" in peers | cold) case " $ONLY " in *" $1 "*) true ;; *) false ;; esac; return ;; esac
    [ -z "$ONLY" ] || case " $ONLY " in *" $1 "*) true ;; *) false ;; esac
}
# Whether any row of the main table (all but the soak's, the peers' and the cold ones) is
# measured.
main_table() {
    local rest=" $ONLY "; rest=${rest// soak / }; rest=${rest// peers / }; rest=${rest// cold / }
    [ -n "${ONLY// /}" ] && [ -z "${rest// /}" ] && return 1; true
}
if [ "$SMOKE" = 1 ]; then
    SCALE=${BENCH_SCALE:-0.01}
    RUNS=${BENCH_RUNS:-1}
else
    SCALE=${BENCH_SCALE:-1}
    RUNS=${BENCH_RUNS:-3}
fi

say() { printf "[%3ds] %s\n" "$SECONDS" "$*" >&2; }
die() { say "run.sh: $*"; exit 1; }
# N scaled, at least $2.
scaled() { awk -v n="$1" -v s="$SCALE" -v m="$2" 'BEGIN { v = int(n * s + 0.5); print (v < m ? m : v) }'; }

for tool in curl md5sum python3 awk split xargs; do
    command -v "$tool" >/dev/null || die "needs $tool"
done
if wants peers; then
    S3S_FS=${S3S_FS:-s3s-fs}
    RCLONE=${RCLONE_BIN:-rclone}
    # The apt package (AWS CLI v2 on Debian 12) before any other aws on PATH (pip's is v1).
    AWS=${AWS_BIN:-$( [ -x /usr/bin/aws ] && echo /usr/bin/aws || echo aws)}
    for tool in "$S3S_FS" "$RCLONE" "$AWS"; do
        command -v "$tool" >/dev/null || die "the peers group needs $tool: apt-get install -y rclone awscli; cargo install s3s-fs@0.14.1 --features binary --locked"
    done
fi
if [ ! -x /usr/bin/time ]; then
    say "run.sh: /usr/bin/time is missing (peak RSS); installing it: apt-get install -y time"
    if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
        apt-get install -y time >/dev/null || die "could not install time; install it and rerun"
    else
        die "install GNU time (apt-get install -y time) and rerun"
    fi
fi

# ---- build ---------------------------------------------------------------------------
say "== building release (cargo build --release)"
cargo build --release --quiet --bin chief-upload --example fake_chief
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
# A copy, so that builds by others during the run do not swap the binary under it.
# CHIEF_BIN=/path/to/chief-upload measures another build (an A/B comparison).
mkdir -p "${TMPDIR:-/tmp}"
BIN_DIR=$(mktemp -d "${TMPDIR:-/tmp}/chief-bench-bin.XXXXXX")
cp "${CHIEF_BIN:-$TARGET_DIR/release/chief-upload}" "$BIN_DIR/chief-upload"
cp "$TARGET_DIR/release/examples/fake_chief" "$BIN_DIR/fake_chief"
CHIEF=$BIN_DIR/chief-upload
FAKE=$BIN_DIR/fake_chief
[ -x "$CHIEF" ] && [ -x "$FAKE" ] || die "release binaries not found under $TARGET_DIR"

# ---- sizes ---------------------------------------------------------------------------
BIG_MB=$(scaled 1024 4)        # one big file (hashing, end to end)
TREE_N=$(scaled 2000 8)        # x 1 MiB (parallel hashing, hash cache)
SMALL_N=$(scaled 10000 50)     # x 4 KiB (per-file overhead)
SEQ_N=${BENCH_SEQ_N:-$(scaled 1000 20)}
[ "$SEQ_N" -gt "$SMALL_N" ] && SEQ_N=$SMALL_N
OV_N=$(scaled 128 4)           # x 4 MiB (overlap of hashing and uploading)
OV_LINK_MBPS=${BENCH_LINK_MBPS:-80} # per upload, for the emulated-link overlap run
MANY_N=$(scaled 100000 500)    # x 1 KiB in ONE directory (memory, scale)
HUGE_MB=$(scaled 4096 8)       # one huge file (memory)
DEEP_FANOUT=2                  # 10-level-deep tree: 2^10 leaf dirs, one 1 KiB file per dir
TINY_N=$(scaled 300000 1000)   # x 4 bytes in ONE directory (per-file overhead)
MILLION_N=$(scaled 1000000 2000) # x 16 bytes, 1,000 a directory (scale, memory)
WAN_N=$(scaled 2000 50)        # x 4 KiB against a distant server (rows W1, W3)
LINK_N=$(scaled 64 4)          # x 16 MiB through one shared 50 MB/s link (row W2)
BW_MB=$(scaled 200 8)          # one file under --bwlimit 20M (row W4)
PEER_SMALL_N=$(scaled 2000 20) # x 16 KiB, chief-upload vs rclone vs aws on loopback (row P1)
PEER_BIG_MB=$(scaled 1024 4)   # one file, the same (row P2)
PEER_WAN_N=$(scaled 1000 20)   # x 16 KiB through the 50 ms delaying proxy (row P3)
COLD_TINY_N=$(scaled 50000 500)  # x 4 B in one folder, from a cold page cache (row C1)
COLD_K_N=$(scaled 20000 200)     # x 4 KiB in 20 folders (row C2)
COLD_M_N=$(scaled 2000 20)       # x 1 MiB (row C3)
COLD_BIG_MB=$(scaled 1024 4)     # one file (row C4)
PEER_ROWS=" ${BENCH_PEER_ROWS:-p1 p2 p3} "
[ "${BENCH_PEER_WAN:-1}" = 1 ] || PEER_ROWS=${PEER_ROWS// p3 / }
peer_row() { case "$PEER_ROWS" in *" $1 "*) true ;; *) false ;; esac; }
if [ "$SMOKE" = 1 ]; then PEER_RUNS=${BENCH_PEER_RUNS:-1}; else PEER_RUNS=${BENCH_PEER_RUNS:-5}; fi
FIXED_JOBS="8 16 32 64 128 256" # the fixed -j that rows W1 and W2 compare -j auto with
# x 4 KiB through an API outage of OUT_FOR s (not scaled: the targets are for 300 files)
TLS_N=$(scaled 1000 20)        # x 4 KiB over https vs http (the cost of TLS)
if [ "$SMOKE" = 1 ]; then OUT_N=30 OUT_FOR=${BENCH_OUTAGE_SECS:-2}; else OUT_N=300 OUT_FOR=${BENCH_OUTAGE_SECS:-20}; fi
# x 4 KiB created over SOAK_SECS under --watch (row 10)
SOAK_N=${BENCH_SOAK_N:-$(scaled 10000 200)}
if [ "$SMOKE" = 1 ]; then SOAK_SECS=${BENCH_SOAK_SECS:-5}; else SOAK_SECS=${BENCH_SOAK_SECS:-60}; fi

W=${BENCH_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/chief-bench.XXXXXX")}
mkdir -p "$W"
FAKE_PID=
PEER_PIDS=  # s3s-fs and the delaying proxies of the peers group
cleanup() {
    [ -n "$FAKE_PID" ] && kill "$FAKE_PID" 2>/dev/null || true
    for p in $PEER_PIDS; do kill "$p" 2>/dev/null || true; done
    rm -rf "$BIN_DIR"
    if [ "${BENCH_KEEP:-0}" != 1 ] && [ -z "${BENCH_DIR:-}" ]; then rm -rf "$W"; fi
}
trap cleanup EXIT
# What the groups run still need, in MiB (corpora made before at this scale are kept);
# every small file takes a 4 KiB block.
C=$W/corpus
need_mb=100
needs() { # corpus MiB
    [ "$(cat "$C/.done-$1" 2>/dev/null)" = "$SCALE" ] || need_mb=$((need_mb + $2))
}
if wants hash || wants e2e; then needs big "$BIG_MB"; fi
if wants tree || wants cache; then needs tree "$TREE_N"; fi
if wants small; then needs small $((SMALL_N * 4 / 1024)); fi
if wants overlap; then needs overlap $((OV_N * 4)); fi
if wants memory; then needs huge "$HUGE_MB"; needs many $((MANY_N * 4 / 1024)); needs deep 8; fi
if wants outage; then needs outage $((OUT_N * 4 / 1024)); fi
if wants tls; then needs tls $((TLS_N * 4 / 1024)); fi
if wants soak; then need_mb=$((need_mb + SOAK_N * 8 / 1024)); fi
if wants overhead; then needs tiny $((TINY_N * 4 / 1024)); fi
if wants million; then needs million $((MILLION_N * 4 / 1024)); fi
if wants wan || wants pushback; then needs wan $((WAN_N * 4 / 1024)); fi
if wants link; then needs link $((LINK_N * 16)); fi
if wants bwlimit; then needs bw "$BW_MB"; fi
# The 1 GiB file, its copy in s3s-fs and s3s-fs's multipart parts.
if wants cold; then
    needs cold_tiny $((COLD_TINY_N * 4 / 1024)); needs cold_k $((COLD_K_N * 4 / 1024))
    needs cold_m "$COLD_M_N"; needs cold_big "$COLD_BIG_MB"
fi
if wants peers; then
    if peer_row p1; then needs peers_small $((PEER_SMALL_N * 16 / 1024)); fi
    if peer_row p2; then needs peers_big $((PEER_BIG_MB * 3)); fi
    if peer_row p3; then needs peers_wan $((PEER_WAN_N * 16 / 1024)); fi
fi
need_kb=$((need_mb * 1024))
free_kb=$(df -Pk "$W" | awk 'NR == 2 { print $4 }')
[ "$free_kb" -gt "$need_kb" ] || die "needs $((need_kb / 1024)) MiB free in $W, has $((free_kb / 1024)) MiB"

# ---- corpora -------------------------------------------------------------------------
# Each corpus is made once per scale (a .done-NAME file beside it says which), and only
# when a group that is run needs it.
say "== corpora in $W (scale $SCALE)"
mkdir -p "$C"
gen_split() { # dir count bytes-each
    mkdir -p "$1"
    head -c $(( $2 * $3 )) /dev/urandom | (cd "$1" && split -a 6 -d -b "$3" --additional-suffix=.bin - f)
}
# corpus NAME: true (after emptying it) when NAME must be made at this scale.
corpus() {
    [ "$(cat "$C/.done-$1" 2>/dev/null)" != "$SCALE" ] || return 1
    say "   making $1"
    rm -rf "${C:?}/$1"; mkdir -p "$C/$1"
}
# Older than the hash cache's racy window (2 s), like any file not just written.
corpus_done() { find "$C/$1" -type f -print0 | xargs -0 touch -d '1 hour ago'; echo "$SCALE" > "$C/.done-$1"; }
if wants hash || wants e2e; then
    if corpus big; then head -c $((BIG_MB << 20)) /dev/urandom > "$C/big/big.bin"; corpus_done big; fi
fi
if wants tree || wants cache; then
    if corpus tree; then gen_split "$C/tree" "$TREE_N" $((1 << 20)); corpus_done tree; fi
fi
if wants small; then
    if corpus small; then
        gen_split "$C/small" "$SMALL_N" 4096
        rm -rf "$C/small-seq"; mkdir -p "$C/small-seq"
        ls "$C/small" | awk -v n="$SEQ_N" 'NR <= n' | (cd "$C/small" && xargs -I{} ln {} "$C/small-seq/{}")
        corpus_done small
    fi
fi
if wants overlap; then
    if corpus overlap; then gen_split "$C/overlap" "$OV_N" $((4 << 20)); corpus_done overlap; fi
fi
if wants memory; then
    if corpus huge; then head -c $((HUGE_MB << 20)) /dev/urandom > "$C/huge/huge.bin"; corpus_done huge; fi
    if corpus many; then gen_split "$C/many" "$MANY_N" 1024; corpus_done many; fi
    if corpus deep; then
        python3 - "$C/deep" "$DEEP_FANOUT" <<'EOF'
import os, sys
root, fan = sys.argv[1], int(sys.argv[2])
def mk(d, depth):
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f.bin"), "wb") as f:
        f.write(os.urandom(1024))
    if depth < 10:
        for i in range(fan):
            mk(os.path.join(d, f"d{i}"), depth + 1)
mk(root, 0)
EOF
        corpus_done deep
    fi
    DEEP_N=$(find "$C/deep" -type f | wc -l)
fi
if wants outage; then
    if corpus outage; then gen_split "$C/outage" "$OUT_N" 4096; corpus_done outage; fi
fi
if wants tls; then
    if corpus tls; then gen_split "$C/tls" "$TLS_N" 4096; corpus_done tls; fi
fi
if wants overhead; then
    if corpus tiny; then gen_split "$C/tiny" "$TINY_N" 4; corpus_done tiny; fi
fi
if wants million; then
    if corpus million; then
        # 1,000 files a directory: one tree, as a big asset library is.
        python3 - "$C/million" "$MILLION_N" <<'EOF'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
data = os.urandom(16 * n)
for i in range(n):
    d = os.path.join(root, f"d{i // 1000:04d}")
    if i % 1000 == 0:
        os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"f{i % 1000:03d}.bin"), "wb") as f:
        f.write(data[16 * i:16 * (i + 1)])
EOF
        corpus_done million
    fi
fi
# The emulated-network corpora (rows W1-W4).
if wants wan || wants pushback; then
    if corpus wan; then gen_split "$C/wan" "$WAN_N" 4096; corpus_done wan; fi
fi
if wants link; then
    if corpus link; then gen_split "$C/link" "$LINK_N" $((16 << 20)); corpus_done link; fi
fi
if wants bwlimit; then
    if corpus bw; then gen_split "$C/bw" 1 $((BW_MB << 20)); corpus_done bw; fi
fi
if wants cold; then
    [ -w /proc/sys/vm/drop_caches ] || die "the cold group drops the page cache before every run: run it as root"
    if corpus cold_tiny; then gen_split "$C/cold_tiny" "$COLD_TINY_N" 4; corpus_done cold_tiny; fi
    if corpus cold_k; then
        for d in $(seq -w 1 20); do gen_split "$C/cold_k/d$d" $(( (COLD_K_N + 19) / 20 )) 4096; done
        corpus_done cold_k
    fi
    if corpus cold_m; then gen_split "$C/cold_m" "$COLD_M_N" $((1 << 20)); corpus_done cold_m; fi
    if corpus cold_big; then head -c $((COLD_BIG_MB << 20)) /dev/urandom > "$C/cold_big/big.bin"; corpus_done cold_big; fi
fi
if wants peers; then
    if peer_row p1 && corpus peers_small; then gen_split "$C/peers_small" "$PEER_SMALL_N" 16384; corpus_done peers_small; fi
    if peer_row p2 && corpus peers_big; then head -c $((PEER_BIG_MB << 20)) /dev/urandom > "$C/peers_big/big.bin"; corpus_done peers_big; fi
    if peer_row p3 && corpus peers_wan; then gen_split "$C/peers_wan" "$PEER_WAN_N" 16384; corpus_done peers_wan; fi
fi

# ---- helpers -------------------------------------------------------------------------
R=$W/results
rm -rf "$R"; mkdir -p "$R"
export XDG_CONFIG_HOME=$W/config   # no user config file leaks in
mkdir -p "$XDG_CONFIG_HOME"
unset CHIEF_CONFIG CHIEF_API_URL CHIEF_API_KEY CHIEF_PROJECT_ID CHIEF_PROFILE 2>/dev/null || true
export XDG_CACHE_HOME=$W/cache-unused

start_fake() {
    stop_fake
    rm -f "$W/fake.env"; : > "$W/fake.env.new"
    "$FAKE" --no-record "$@" > "$W/fake.env.new" 2> "$W/fake.log" &
    FAKE_PID=$!
    local i=0
    until [ "$(wc -l < "$W/fake.env.new")" -ge 3 ]; do
        i=$((i + 1)); [ "$i" -lt 100 ] || die "fake server did not start: $(cat "$W/fake.log")"
        sleep 0.05
    done
    set -a; . "$W/fake.env.new"; set +a
    case "$CHIEF_API_URL" in http://127.0.0.1:* | https://127.0.0.1:*) ;; *) die "fake server not on loopback: $CHIEF_API_URL" ;; esac
}
stop_fake() {
    if [ -n "$FAKE_PID" ]; then kill "$FAKE_PID" 2>/dev/null || true; wait "$FAKE_PID" 2>/dev/null || true; FAKE_PID=; fi
}

now_ns() { date +%s%N; }
# measure LABEL CMD...: appends wall seconds to $R/LABEL.t and peak RSS (KiB) to $R/LABEL.rss;
# stdout of CMD goes to $R/LABEL.out (the last run's), stderr to $R/LABEL.err.
measure() {
    local label=$1; shift
    local t0 t1 rc=0
    t0=$(now_ns)
    /usr/bin/time -f '%M %U %S' -o "$R/$label.rss1" "$@" > "$R/$label.out" 2> "$R/$label.err" || rc=$?
    t1=$(now_ns)
    [ "$rc" = 0 ] || die "$label failed (exit $rc): $(tail -5 "$R/$label.err")"
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", (b - a) / 1e9 }' >> "$R/$label.t"
    tail -1 "$R/$label.rss1" | awk '{ print $1 }' >> "$R/$label.rss"
    tail -1 "$R/$label.rss1" | awk '{ print $2 + $3 }' >> "$R/$label.cpu"
    if [ -n "$FAKE_PID" ]; then fake_cpu >> "$R/$label.fcpu"; fi
}
# CPU seconds the fake server has used so far (it is fresh before every upload run).
fake_cpu() { awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); print ($12 + $13) / hz }' "/proc/$FAKE_PID/stat"; }
median() { sort -n "$R/$1.t" | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
maxrss_mib() { sort -n "$R/$1.rss" | tail -1 | awk '{ printf "%.1f", $1 / 1024 }'; }
warm() { find "$@" -type f -print0 | xargs -0 cat > /dev/null; }
# Counts from the --json summary line in $R/LABEL.out.
summary_field() { python3 -c 'import json,sys
for line in open(sys.argv[1]):
    d = json.loads(line)
    if d.get("event") == "summary": print(d.get(sys.argv[2], 0))' "$R/$1.out" "$2"; }
check_planned() { # label expected: from the summary line of a -q --dry-run
    grep -q "would upload $2 files* (" "$R/$1.err" || die "$1: expected $2 files planned: $(tail -1 "$R/$1.err")"
}
check_uploaded() { # label expected
    local got; got=$(summary_field "$1" uploaded)
    [ "$got" = "$2" ] || die "$1: uploaded $got files, expected $2 (failed: $(summary_field "$1" failed))"
}

chief() { "$CHIEF" "$@"; }
export -f chief 2>/dev/null || true
export CHIEF
# The baseline of one file: md5sum, POST /v1/assets with curl, PUT the body with curl -T
# and the signed upload_headers (as tests/it/fake_server.rs does the flow).
cat > "$W/curl_one.sh" <<'EOF'
#!/usr/bin/env bash
set -euo pipefail
f=$1
sum=$(md5sum < "$f"); sum=${sum%% *}
name=${f##*/}
resp=$(curl -sS --fail-with-body -X POST "$CHIEF_API_URL/v1/assets" \
    -H "X-API-Key: $CHIEF_API_KEY" -H "X-Project-Id: $CHIEF_PROJECT_ID" \
    -H 'Content-Type: application/json' \
    --data "{\"filename\":\"$name\",\"mime_type\":\"application/octet-stream\",\"md5\":\"$sum\"}")
[[ $resp =~ \"already_exists\":true ]] && exit 0
[[ $resp =~ \"upload_url\":\"([^\"]*)\" ]] || { echo "no upload_url: $resp" >&2; exit 1; }
url=${BASH_REMATCH[1]}
[[ $resp =~ \"upload_headers\":\{([^\}]*)\} ]] || { echo "no upload_headers: $resp" >&2; exit 1; }
hdrs=()
rest=${BASH_REMATCH[1]}
while [[ $rest =~ ^,?\"([^\"]*)\":\"([^\"]*)\"(.*)$ ]]; do
    hdrs+=(-H "${BASH_REMATCH[1]}: ${BASH_REMATCH[2]}")
    rest=${BASH_REMATCH[3]}
done
curl -sS --fail-with-body -o /dev/null -H 'Expect:' "${hdrs[@]}" -T "$f" "$url"
EOF
chmod +x "$W/curl_one.sh"
CURL_ONE=$W/curl_one.sh
seq_loop() { for f in "$1"/*; do "$CURL_ONE" "$f"; done; }
par_xargs() { find "$1" -type f -print0 | xargs -0 -n1 -P16 "$CURL_ONE"; }
export -f seq_loop par_xargs
export CURL_ONE

# First upload vs walk end. The --json lines are timestamped as they arrive. The walk
# cannot end before all but the bounded queues' worth of files have reached the upload
# stage: walk->hash 8 batches of 128 (pipeline/mod.rs), one batch held by each hashing
# thread (one per core) and the one the walk fills, hash->upload 1024. The upload stage
# takes at most the files in flight (at most 512 with -j auto, the default) + 1 beyond the
# files already finished: so the walk ends after the file line number n - STAMP_BOUND at
# the earliest. A first upload before that time started before the walk ended.
STAMP_BOUND=$(( 8 * 128 + 128 * ($(nproc) + 1) + 1024 + 512 + 1 ))
cat > "$W/stamp.py" <<'PY'
import json, sys, time
t0 = float(sys.argv[1]); first = None; stamps = []
out = open(sys.argv[2], "w")
for line in sys.stdin:
    d = json.loads(line)
    if d.get("event") == "file":
        stamps.append(time.time() - t0)
        if first is None and d.get("outcome") == "uploaded":
            first = stamps[-1]
    out.write(line)
b = int(sys.argv[4])
bound = stamps[len(stamps) - b] if len(stamps) > b else -1
with open(sys.argv[3], "w") as f:
    f.write("%.3f %.3f %d\n" % (first if first is not None else -1, bound, len(stamps)))
PY

# ---- measurements ---------------------------------------------------------------------
say "== machine: $(nproc) cores; load: $(uptime | sed 's/.*load average: //')"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)


if wants hash; then
say "== 1a hashing one ${BIG_MB} MiB file (x$RUNS, alternated)"
warm "$C/big"
for _ in $(seq "$RUNS"); do
    measure hash1_md5sum md5sum "$C/big/big.bin"
    measure hash1_chief "$CHIEF" --dry-run --no-cache --json "$C/big/big.bin"
done
diff <(cut -c1-32 "$R/hash1_md5sum.out") <(python3 -c 'import json,sys
for l in open(sys.argv[1]):
    d = json.loads(l)
    if d["event"] == "file": print(d["md5"])' "$R/hash1_chief.out") >/dev/null || die "chief-upload and md5sum disagree on the digest"
fi

if wants tree; then
say "== 1b hashing ${TREE_N} x 1 MiB"
warm "$C/tree"
for _ in $(seq "$RUNS"); do
    measure tree_md5sum bash -c 'cd "$1" && md5sum -- *' _ "$C/tree"
    # What this machine gives two independent processes: the ceiling of any parallel hasher.
    measure tree_md5sum_par bash -c 'cd "$1" && printf "%s\0" * | xargs -0 -P "$2" -n "$3" md5sum' _ "$C/tree" "$(nproc)" $(( (TREE_N + $(nproc) - 1) / $(nproc) ))
    measure tree_chief "$CHIEF" --dry-run --no-cache -q "$C/tree"
done
fi

if wants e2e; then
say "== 2 end to end, one ${BIG_MB} MiB file"
for _ in $(seq "$RUNS"); do
    start_fake; measure e2e_curl "$CURL_ONE" "$C/big/big.bin"
    start_fake; measure e2e_chief "$CHIEF" --no-cache --json "$C/big/big.bin"
    check_uploaded e2e_chief 1
done
stop_fake
fi

if wants small; then
say "== 3 end to end, ${SMALL_N} x 4 KiB (sequential loop on ${SEQ_N} of them)"
warm "$C/small"
for i in $(seq "$RUNS"); do
    start_fake; measure small_xargs bash -c 'par_xargs "$1"' _ "$C/small"
    start_fake; measure small_seq bash -c 'seq_loop "$1"' _ "$C/small-seq"
    rm -rf "$W/cache-small"
    start_fake; XDG_CACHE_HOME=$W/cache-small measure small_chief "$CHIEF" --json "$C/small"
    check_uploaded small_chief "$SMALL_N"
done
stop_fake
fi

if wants overlap; then
say "== 4 overlap, ${OV_N} x 4 MiB"
warm "$C/overlap"
rm -rf "$W/cache-ov"
XDG_CACHE_HOME=$W/cache-ov "$CHIEF" --dry-run -q "$C/overlap" 2>/dev/null # fills the cache: upload-only runs
for _ in $(seq "$RUNS"); do
    stop_fake; measure ov_hash "$CHIEF" --dry-run --no-cache -q "$C/overlap"
    start_fake; XDG_CACHE_HOME=$W/cache-ov measure ov_upload "$CHIEF" --json "$C/overlap"
    check_uploaded ov_upload "$OV_N"
    start_fake; measure ov_both "$CHIEF" --no-cache --json "$C/overlap"
    check_uploaded ov_both "$OV_N"
    # The same over an emulated link (the fake paces each upload at OV_LINK_MBPS and
    # trusts the signed MD5, as a remote storage would on its own CPU): uploading then
    # costs network time, not this machine's CPU, as it does against a real service.
    start_fake --link-mbps "$OV_LINK_MBPS" --no-verify
    XDG_CACHE_HOME=$W/cache-ov measure ovn_upload "$CHIEF" --json "$C/overlap"
    check_uploaded ovn_upload "$OV_N"
    start_fake --link-mbps "$OV_LINK_MBPS" --no-verify
    measure ovn_both "$CHIEF" --no-cache --json "$C/overlap"
    check_uploaded ovn_both "$OV_N"
done
stop_fake
fi

if wants memory; then
say "== 5 memory: one ${HUGE_MB} MiB file, ${MANY_N} x 1 KiB in one directory; 7: 10-level tree"
start_fake; measure huge_chief "$CHIEF" --no-cache --json "$C/huge/huge.bin"
check_uploaded huge_chief 1
rm -rf "$W/cache-many"
warm "$C/many"
start_fake
t0=$(date +%s.%N)
XDG_CACHE_HOME=$W/cache-many measure many_chief bash -c \
    '"$1" --json "$2" | python3 "$3" "$4" "$5" "$6" "$7"' _ "$CHIEF" "$C/many" "$W/stamp.py" "$t0" "$R/many_chief.json" "$R/many_first" "$STAMP_BOUND"
# The RSS above is the largest process of the pipeline, i.e. chief-upload (python is smaller).
cp "$R/many_chief.json" "$R/many_chief.out"
check_uploaded many_chief "$MANY_N"
start_fake; measure deep_chief "$CHIEF" --no-cache --json "$C/deep"
check_uploaded deep_chief "$DEEP_N"
stop_fake
fi

if wants cache; then
say "== 6 hash cache over ${TREE_N} x 1 MiB (unchanged, older than the racy window)"
warm "$C/tree"
for _ in $(seq "$RUNS"); do
    rm -rf "$W/cache-c"
    measure cache_nocache "$CHIEF" --dry-run --no-cache -q "$C/tree"
    XDG_CACHE_HOME=$W/cache-c measure cache_first "$CHIEF" --dry-run -q "$C/tree"
    XDG_CACHE_HOME=$W/cache-c measure cache_second "$CHIEF" --dry-run -q "$C/tree"
done
fi

if wants outage; then
say "== 8 an API outage of ${OUT_FOR} s in the middle of ${OUT_N} x 4 KiB (-j 8; one run each)"
warm "$C/outage"
start_fake; measure outage_none "$CHIEF" --no-cache --json -j 8 "$C/outage"
check_uploaded outage_none "$OUT_N"
rm -f "$W/outage.stats"
# The API answers 503 to everything for OUT_FOR seconds once half the files have asked.
start_fake --outage api --outage-after $((OUT_N / 2)) --outage-for "$OUT_FOR" --stats "$W/outage.stats"
measure outage_run "$CHIEF" --no-cache --json -j 8 "$C/outage"
sleep 1.2 # the fake writes its counts once a second
python3 -c 'import json,sys
last = [json.loads(l) for l in open(sys.argv[1])][-1]
print(last["api"]["total"]["outage_requests"])' "$W/outage.stats" > "$R/outage_requests"
stop_fake
fi

if wants tls; then
say "== 9 the cost of TLS: ${TLS_N} x 4 KiB over https vs plain http (defaults; loopback)"
warm "$C/tls"
for i in $(seq "$RUNS"); do
    start_fake; measure tls_http "$CHIEF" --no-cache --json "$C/tls"
    check_uploaded tls_http "$TLS_N"
    rm -f "$W/tls.stats"
    # --ca-out writes the fake's private CA; the env file it prints names it (CHIEF_CA_CERT).
    start_fake --tls --ca-out "$W/tls-ca.pem" --stats "$W/tls.stats"
    measure tls_https "$CHIEF" --no-cache --json "$C/tls"
    check_uploaded tls_https "$TLS_N"
    sleep 1.2 # the fake writes its counts once a second
    python3 -c 'import json,sys
last = [json.loads(l) for l in open(sys.argv[1])][-1]
print(last["api"]["total"]["tls_handshakes"], last["storage"]["total"]["tls_handshakes"])' "$W/tls.stats" > "$R/tls_handshakes"
    unset CHIEF_CA_CERT
    stop_fake
done
fi

if wants soak; then
say "== 10 soak: ${SOAK_N} x 4 KiB created over ${SOAK_SECS} s under --watch, then a restart"
# The watch starts on an empty folder; a writer creates the files at a steady pace, in
# folders of 500 that appear as it goes, each file in two writes (so some are seen
# half-written). VmRSS is sampled once the first pass is over, every second, and once
# every file is uploaded. Then the same watch restarts over the same tree, against the
# same fake (the record is per API and project), and must send no request at all.
SOAK=$W/soak
rm -rf "$SOAK" "$W/cache-soak" "$W/soak.stats"; mkdir -p "$SOAK"
start_fake --stats "$W/soak.stats"
# The API requests the fake has answered so far (its stats are written once a second).
api_requests() { sleep 1.2; python3 -c 'import json,sys
last = [json.loads(l) for l in open(sys.argv[1])][-1]
print(last["api"]["total"]["requests"])' "$W/soak.stats"; }
vmrss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
# watch_start LABEL: a watch of $SOAK in the background (WATCH_PID), once its first pass is over.
watch_start() {
    XDG_CACHE_HOME=$W/cache-soak "$CHIEF" --watch --json --progress-interval 0.5 "$SOAK" \
        > "$R/$1.out" 2> "$R/$1.err" &
    WATCH_PID=$!
    local i=0
    until grep -q '^watching ' "$R/$1.err" 2>/dev/null; do
        i=$((i + 1)); [ "$i" -lt 600 ] || die "$1: the watch did not start: $(tail -5 "$R/$1.err")"
        kill -0 "$WATCH_PID" 2>/dev/null || die "$1: the watch ended: $(tail -5 "$R/$1.err")"
        sleep 0.1
    done
}
# watch_stop LABEL: SIGTERM, which must end the watch with 0 and a summary.
watch_stop() {
    kill -TERM "$WATCH_PID"
    local rc=0; wait "$WATCH_PID" || rc=$?
    [ "$rc" = 0 ] || die "$1: the watch ended with $rc after SIGTERM: $(tail -5 "$R/$1.err")"
    grep -q '"event":"summary"' "$R/$1.out" || die "$1: no summary line"
}
file_lines() { grep -c '"event":"file"' "$R/$1.out" || true; }

watch_start soak
vmrss_kib "$WATCH_PID" > "$R/soak.rss_start"
t0=$(now_ns)
python3 - "$SOAK" "$SOAK_N" "$SOAK_SECS" <<'PY' &
import os, sys, time
root, n, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
start = time.monotonic()
for i in range(n):
    d = os.path.join(root, f"d{i // 500:03d}")
    os.makedirs(d, exist_ok=True)
    data = os.urandom(4096)
    with open(os.path.join(d, f"f{i:06d}.bin"), "wb") as f:
        f.write(data[:2048]); f.flush()
        f.write(data[2048:])
    # The writer's own pace: file i is due at i * secs / n.
    ahead = start + (i + 1) * secs / n - time.monotonic()
    if ahead > 0:
        time.sleep(ahead)
PY
WRITER=$!
: > "$R/soak.rss_samples"
deadline=$((SECONDS + SOAK_SECS * 5 + 120))
while [ "$(file_lines soak)" -lt "$SOAK_N" ]; do
    [ "$SECONDS" -lt "$deadline" ] || die "soak: $(file_lines soak) of $SOAK_N files uploaded in time: $(tail -3 "$R/soak.err")"
    kill -0 "$WATCH_PID" 2>/dev/null || die "soak: the watch ended: $(tail -5 "$R/soak.err")"
    vmrss_kib "$WATCH_PID" >> "$R/soak.rss_samples"
    sleep 1
done
wait "$WRITER"
t1=$(now_ns)
vmrss_kib "$WATCH_PID" > "$R/soak.rss_end"
awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", (b - a) / 1e9 }' > "$R/soak.t"
watch_stop soak
check_uploaded soak "$SOAK_N"
[ "$(summary_field soak failed)" = 0 ] || die "soak: $(summary_field soak failed) files failed"
python3 - "$R/soak.out" "$SOAK_N" <<'PY' || die "soak: a file was uploaded twice, or not complete"
import json, sys
seen = {}
for line in open(sys.argv[1]):
    d = json.loads(line)
    if d["event"] == "file":
        seen.setdefault(d["path"], []).append(d)
n = int(sys.argv[2])
assert len(seen) == n, f"{len(seen)} distinct files, expected {n}"
assert all(len(v) == 1 and v[0]["size"] == 4096 for v in seen.values()), "a file twice or partial"
PY
before=$(api_requests)
watch_start soak_restart
# Wait for the watch to say it is idle: every file looked at, nothing in flight.
i=0
until grep -q '^watching .*; idle$' "$R/soak_restart.err" 2>/dev/null; do
    i=$((i + 1)); [ "$i" -lt 1200 ] || die "soak_restart: never idle: $(tail -3 "$R/soak_restart.err")"
    sleep 0.1
done
vmrss_kib "$WATCH_PID" > "$R/soak_restart.rss"
watch_stop soak_restart
after=$(api_requests)
echo "$((after - before)) $(file_lines soak_restart)" > "$R/soak_restart.counts"
stop_fake
fi

if wants overhead; then
say "== 11 per-file overhead: ${TINY_N} x 4 bytes in one directory, --dry-run (x$RUNS, alternated)"
warm "$C/tiny"
for _ in $(seq "$RUNS"); do
    measure tiny_md5sum bash -c 'find "$1" -type f -print0 | xargs -0 -P "$2" -n 2000 md5sum' _ "$C/tiny" "$(nproc)"
    measure tiny_nocache "$CHIEF" --dry-run --no-cache -q "$C/tiny"
    rm -rf "$W/cache-tiny"
    XDG_CACHE_HOME=$W/cache-tiny measure tiny_cold "$CHIEF" --dry-run -q "$C/tiny"
    XDG_CACHE_HOME=$W/cache-tiny measure tiny_warm "$CHIEF" --dry-run -q "$C/tiny"
    check_planned tiny_warm "$TINY_N"
done
fi

if wants million; then
say "== 12 ${MILLION_N} files in one tree: --dry-run, then a real upload (one run each)"
warm "$C/million"
rm -rf "$W/cache-million"
stop_fake; XDG_CACHE_HOME=$W/cache-million measure million_dry "$CHIEF" --dry-run -q "$C/million"
check_planned million_dry "$MILLION_N"
start_fake; XDG_CACHE_HOME=$W/cache-million measure million_up "$CHIEF" --json "$C/million"
check_uploaded million_up "$MILLION_N"
stop_fake
fi

# ---- the emulated network: -j auto and --bwlimit (rows W1-W4) ------------------------
# The fake writes one --stats line a second; the last one comes up to a second after the run.
settle_stats() { sleep 1.2; }

if wants wan; then
say "== W1 ${WAN_N} x 4 KiB, 50 ms API and storage latency: -j auto vs -j ${FIXED_JOBS// /, }"
warm "$C/wan"
for _ in $(seq "$RUNS"); do
    for j in auto $FIXED_JOBS; do
        start_fake --latency-ms 50
        measure "wan_j$j" "$CHIEF" --no-cache --json -j "$j" "$C/wan"
        check_uploaded "wan_j$j" "$WAN_N"
    done
done
stop_fake
fi

if wants link; then
say "== W2 ${LINK_N} x 16 MiB through one shared 50 MB/s link, 20 ms latency: -j auto vs -j ${FIXED_JOBS// /, }"
warm "$C/link"
for i in $(seq "$RUNS"); do
    for j in auto $FIXED_JOBS; do
        start_fake --latency-ms 20 --shared-link-mbps 50 --no-verify --stats "$R/link_j$j.stats$i"
        measure "link_j$j" "$CHIEF" --no-cache --json -j "$j" "$C/link"
        check_uploaded "link_j$j" "$LINK_N"
        settle_stats
    done
done
stop_fake
fi

if wants pushback; then
say "== W3 ${WAN_N} x 4 KiB, the API answers 429 (Retry-After: 1) above 16 in flight, 50 ms latency: -j auto vs -j 16"
warm "$C/wan"
for i in $(seq "$RUNS"); do
    for j in auto 16; do
        start_fake --latency-ms 50 --api-max-in-flight 16 --retry-after 1 --stats "$R/push_j$j.stats$i"
        measure "push_j$j" "$CHIEF" --no-cache --json -j "$j" "$C/wan"
        check_uploaded "push_j$j" "$WAN_N"
        settle_stats
    done
done
stop_fake
fi

if wants bwlimit; then
say "== W4 --bwlimit 20M, 1 x ${BW_MB} MiB, measured at the fake's storage"
warm "$C/bw"
for i in $(seq "$RUNS"); do
    start_fake --no-verify --stats "$R/bw.stats$i"
    measure bw_chief "$CHIEF" --no-cache --json --bwlimit 20M "$C/bw"
    check_uploaded bw_chief 1
    settle_stats
done
stop_fake
fi

# ---- from a cold page cache (rows C1-C4; --only cold) ------------------------------------
# `--dry-run --no-cache` hashes every file; the page cache is dropped before every cold run
# and the files read right before every warm one. Baseline: find | xargs -0 -P N md5sum for
# each N of COLD_P (the best N counts), with -n splitting the files into 4 N commands;
# BENCH_BEFORE_BIN adds an older chief-upload (before/after).
COLD_P="2 8 16 32"
COLD_FILES=
# page_cache cold|warm DIR: the page cache emptied, or DIR's files read into it.
page_cache() { if [ "$1" = cold ]; then sync; echo 3 > /proc/sys/vm/drop_caches; else warm "$2"; fi; }
# cold_round ROW DIR FILES PS: one run of everything, cold then warm, interleaved.
cold_round() {
    local row=$1 dir=$2 n=$3 p state
    for state in cold warm; do
        for p in $4; do
            page_cache "$state" "$dir"
            measure "${row}_${state}_p$p" bash -c 'find "$1" -type f -print0 | xargs -0 -P "$2" -n "$3" md5sum' \
                _ "$dir" "$p" $(( (n + 4 * p - 1) / (4 * p) ))
        done
        page_cache "$state" "$dir"
        measure "${row}_${state}_chief" "$CHIEF" --dry-run --no-cache -q "$dir"
        check_planned "${row}_${state}_chief" "$n"
        if [ -n "${BENCH_BEFORE_BIN:-}" ]; then
            page_cache "$state" "$dir"
            measure "${row}_${state}_before" "$BENCH_BEFORE_BIN" --dry-run --no-cache -q "$dir"
        fi
    done
}
if wants cold; then
    COLD_LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
    say "== C1-C4 hashing from a cold page cache vs xargs md5sum (x$RUNS, interleaved)"
    COLD_K_ALL=$(( (COLD_K_N + 19) / 20 * 20 ))
    for _ in $(seq "$RUNS"); do
        cold_round c1 "$C/cold_tiny" "$COLD_TINY_N" "$COLD_P"
        cold_round c2 "$C/cold_k" "$COLD_K_ALL" "$COLD_P"
        cold_round c3 "$C/cold_m" "$COLD_M_N" "$COLD_P"
        cold_round c4 "$C/cold_big" 1 1
    done
    COLD_LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
    COLD_FILES="$COLD_TINY_N $COLD_K_ALL $COLD_M_N $COLD_BIG_MB"
fi

# ---- against rclone and the AWS CLI (rows P1-P3; --only peers) ---------------------------
# One s3s-fs for all tools; chief-upload goes through `fake_chief --s3`, a Chief API that
# presigns for it (a fresh one before every run, since it dedups content). Every run
# writes under a fresh prefix, and the bucket is emptied after it (counted first).
PEER_CHIEF_J="auto 8 32 128 256"     # chief-upload -j
PEER_RCLONE_T="default 4 16 64 128"  # rclone --transfers (and --checkers)
PEER_AWS_C="default 10 32 128"       # aws s3: max_concurrent_requests
if wants peers; then
S3_ACCESS=chiefinteropaccess                   # = fake_chief::presign::ACCESS_KEY
S3_SECRET=chief-interop-secret-0123456789abcdef # = fake_chief::presign::SECRET_KEY
S3_BUCKET=chief-interop                        # = fake_chief::presign::BUCKET
S3_REGION=us-east-1                            # = fake_chief::presign::REGION
S3_ROOT=$W/s3s-fs
rm -rf "$S3_ROOT"; mkdir -p "$S3_ROOT/$S3_BUCKET"
RUST_LOG=info NO_COLOR=1 "$S3S_FS" --host 127.0.0.1 --port 0 --access-key "$S3_ACCESS" \
    --secret-key "$S3_SECRET" "$S3_ROOT" > "$W/s3s-fs.log" 2>&1 < /dev/null &
S3_PID=$!
PEER_PIDS="$PEER_PIDS $S3_PID"
i=0
until S3_ADDR=$(sed -n 's|.*server is running at http://\([0-9.]*:[0-9]*\).*|\1|p' "$W/s3s-fs.log" | head -1); [ -n "$S3_ADDR" ]; do
    i=$((i + 1)); [ "$i" -lt 200 ] || die "s3s-fs did not start: $(tail -5 "$W/s3s-fs.log")"
    sleep 0.05
done
case "$S3_ADDR" in 127.0.0.1:*) ;; *) die "s3s-fs not on loopback: $S3_ADDR" ;; esac
say "== peers: s3s-fs on $S3_ADDR (root $S3_ROOT)"
PEER_VERSIONS="$("$CHIEF" --version | awk '{ print $1, $2 }'); $("$S3S_FS" --version | head -1); $("$RCLONE" version | head -1); $("$AWS" --version 2>&1 | awk '{ print $1, $2 }')"
say "   versions: $PEER_VERSIONS"
case "$("$AWS" --version 2>&1)" in aws-cli/1.*) say "   note: $AWS is the AWS CLI v1" ;; esac
RUN_SEQ=0

# start_presign S3ADDR: a fresh presigning Chief API in front of the S3 server at S3ADDR
# (start_fake's twin: --s3 takes none of the fake's options, not even --no-record).
start_presign() {
    stop_fake
    : > "$W/fake.env.new"
    "$FAKE" --s3 "$1" > "$W/fake.env.new" 2> "$W/fake.log" &
    FAKE_PID=$!
    local i=0
    until [ "$(wc -l < "$W/fake.env.new")" -ge 3 ]; do
        i=$((i + 1)); [ "$i" -lt 100 ] || die "presigning API did not start: $(cat "$W/fake.log")"
        sleep 0.05
    done
    set -a
    # shellcheck disable=SC1091 # written by the API just started
    . "$W/fake.env.new"
    set +a
    case "$CHIEF_API_URL" in http://127.0.0.1:*) ;; *) die "presigning API not on loopback: $CHIEF_API_URL" ;; esac
}
# start_delay TARGET: a delaying proxy (25 ms each way) in front of TARGET; sets
# DELAY_ADDR and DELAY_PID.
start_delay() {
    local out=$W/delay.$RANDOM.addr
    : > "$out"
    python3 "$ROOT/benches/delay_proxy.py" "$1" 25 > "$out" 2>> "$W/delay.log" < /dev/null &
    DELAY_PID=$!
    PEER_PIDS="$PEER_PIDS $DELAY_PID"
    local i=0
    until DELAY_ADDR=$(head -1 "$out"); [ -n "$DELAY_ADDR" ]; do
        i=$((i + 1)); [ "$i" -lt 100 ] || die "delaying proxy did not start: $(tail -3 "$W/delay.log")"
        sleep 0.05
    done
    rm -f "$out"
}
stop_delay() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
pid_cpu() { awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); print ($12 + $13) / hz }' "/proc/$1/stat"; }
# peer_measure LABEL FILES CMD...: measure, plus s3s-fs's CPU seconds in $R/LABEL.scpu;
# then checks that FILES objects arrived, and empties the bucket.
peer_measure() {
    local label=$1 n=$2 c0 got; shift 2
    c0=$(pid_cpu "$S3_PID")
    measure "$label" "$@"
    awk -v a="$c0" -v b="$(pid_cpu "$S3_PID")" 'BEGIN { printf "%.2f\n", b - a }' >> "$R/$label.scpu"
    got=$(find "$S3_ROOT/$S3_BUCKET" -type f | wc -l)
    [ "$got" = "$n" ] || die "$label: $got objects in the bucket, expected $n: $(tail -3 "$R/$label.err")"
    rm -rf "${S3_ROOT:?}/$S3_BUCKET"; mkdir "$S3_ROOT/$S3_BUCKET"
}
# (Without AWS_CA_BUNDLE from the caller: plain http, and rclone fails on it.)
PEER_S3_ENV=(env -u AWS_CA_BUNDLE -u AWS_PROFILE -u AWS_SESSION_TOKEN AWS_ACCESS_KEY_ID="$S3_ACCESS" AWS_SECRET_ACCESS_KEY="$S3_SECRET"
    AWS_DEFAULT_REGION="$S3_REGION" AWS_REGION="$S3_REGION" AWS_EC2_METADATA_DISABLED=true
    AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_PAGER=
    RCLONE_CONFIG="$W/rclone.conf" RCLONE_CONFIG_S3_TYPE=s3 RCLONE_CONFIG_S3_PROVIDER=Other
    RCLONE_CONFIG_S3_ACCESS_KEY_ID="$S3_ACCESS" RCLONE_CONFIG_S3_SECRET_ACCESS_KEY="$S3_SECRET"
    RCLONE_CONFIG_S3_REGION="$S3_REGION" RCLONE_CONFIG_S3_FORCE_PATH_STYLE=true)
: > "$W/rclone.conf"
# The AWS CLI's concurrency: a config file per setting (path-style addressing in all).
for c in $PEER_AWS_C; do
    {
        echo "[default]"
        echo "s3 ="
        echo "    addressing_style = path"
        [ "$c" = default ] || echo "    max_concurrent_requests = $c"
    } > "$W/aws-$c.cfg"
done
# peer_round ROW DIR FILES S3ADDR: one run of every tool at every setting, interleaved.
peer_round() {
    local row=$1 dir=$2 n=$3 s3=$4 j t c api_pid
    for j in $PEER_CHIEF_J; do
        start_presign "$s3"
        api_pid=
        if [ "$s3" != "$S3_ADDR" ]; then # through the delaying proxy: the API too
            start_delay "${CHIEF_API_URL#http://}"; api_pid=$DELAY_PID
            CHIEF_API_URL=http://$DELAY_ADDR
        fi
        peer_measure "${row}_chief_j$j" "$n" "$CHIEF" --no-cache --json -j "$j" "$dir"
        check_uploaded "${row}_chief_j$j" "$n"
        [ -z "$api_pid" ] || stop_delay "$api_pid"
    done
    stop_fake
    for t in $PEER_RCLONE_T; do
        RUN_SEQ=$((RUN_SEQ + 1))
        local flags=()
        [ "$t" = default ] || flags=(--transfers "$t" --checkers "$t")
        peer_measure "${row}_rclone_t$t" "$n" "${PEER_S3_ENV[@]}" RCLONE_CONFIG_S3_ENDPOINT="http://$s3" \
            "$RCLONE" copy -q "${flags[@]}" "$dir" "s3:$S3_BUCKET/run$RUN_SEQ"
    done
    for c in $PEER_AWS_C; do
        RUN_SEQ=$((RUN_SEQ + 1))
        peer_measure "${row}_aws_c$c" "$n" "${PEER_S3_ENV[@]}" AWS_CONFIG_FILE="$W/aws-$c.cfg" \
            "$AWS" --endpoint-url "http://$s3" s3 cp --recursive --only-show-errors --no-progress \
            "$dir" "s3://$S3_BUCKET/run$RUN_SEQ/"
    done
}
PEER_LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
if peer_row p1; then
    say "== P1 ${PEER_SMALL_N} x 16 KiB on loopback, chief-upload vs rclone vs aws (x$PEER_RUNS, interleaved)"
    warm "$C/peers_small"
    for _ in $(seq "$PEER_RUNS"); do peer_round p1 "$C/peers_small" "$PEER_SMALL_N" "$S3_ADDR"; done
fi
if peer_row p2; then
    say "== P2 1 x ${PEER_BIG_MB} MiB on loopback (x$PEER_RUNS, interleaved)"
    warm "$C/peers_big"
    for _ in $(seq "$PEER_RUNS"); do peer_round p2 "$C/peers_big" 1 "$S3_ADDR"; done
fi
if peer_row p3; then
    say "== P3 ${PEER_WAN_N} x 16 KiB, 50 ms a round trip to the API and S3 (x$PEER_RUNS, interleaved)"
    warm "$C/peers_wan"
    start_delay "$S3_ADDR"; S3_DELAY_PID=$DELAY_PID; S3_DELAY_ADDR=$DELAY_ADDR
    for _ in $(seq "$PEER_RUNS"); do peer_round p3 "$C/peers_wan" "$PEER_WAN_N" "$S3_DELAY_ADDR"; done
    stop_delay "$S3_DELAY_PID"
fi
stop_fake
PEER_LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
kill "$S3_PID" 2>/dev/null || true; wait "$S3_PID" 2>/dev/null || true
fi
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- table ---------------------------------------------------------------------------
if main_table; then
OUT_FAILED=0
if wants outage; then OUT_FAILED=$(summary_field outage_run failed); fi
RESULTS=$R TLS_N=$TLS_N python3 - "$SMOKE" "$RUNS" "$SCALE" "$SMALL_N" "$SEQ_N" "$LOAD_BEFORE" "$LOAD_AFTER" \
    "$BIG_MB" "$TREE_N" "$OV_N" "$MANY_N" "$HUGE_MB" "${DEEP_N:-0}" "$(nproc)" "$OV_LINK_MBPS" \
    "$OUT_N" "$OUT_FOR" "$OUT_FAILED" "$TINY_N" "$MILLION_N" "$WAN_N" "$LINK_N" "$BW_MB" "$FIXED_JOBS" \
    "${ONLY:-$GROUPS_ALL}" <<'EOF'
import glob, json, os, statistics, sys
(smoke, runs, scale, small_n, seq_n, load0, load1, big, tree, ov, many, huge, deep, cores, link,
 out_n, out_for, out_failed, tiny, million, wan_n, link_n, bw_mb, fixed_jobs, only) = sys.argv[1:]
wants = set(only.split()).__contains__
fixed_jobs = fixed_jobs.split()
smoke = smoke == "1"; small_n = int(small_n); seq_n = int(seq_n)
R = os.environ["RESULTS"]
def times(l): return [float(x) for x in open(f"{R}/{l}.t").read().split()]
def med(l): return statistics.median(times(l))
def rss(l): return max(int(x) for x in open(f"{R}/{l}.rss").read().split()) / 1024
def have(l): return os.path.exists(f"{R}/{l}.t")
rows = []; fails = []
def row(name, ours, base, ratio, goal, ok, rss_mib=None):
    met = "-" if smoke else "yes" if ok else "NO"
    rows.append((name, ours, base, ratio, goal, met, "" if rss_mib is None else f"{rss_mib:.1f}"))
    if not ok: fails.append(name)
s = lambda x: f"{x:.2f} s"
if wants("hash"):
    h1, m1 = med("hash1_chief"), med("hash1_md5sum")
    row(f"1a hash 1 x {big} MiB (--dry-run --no-cache) vs md5sum", s(h1), s(m1), f"{h1/m1:.2f}x", "<= 1.05x", h1/m1 <= 1.05, rss("hash1_chief"))
if wants("tree"):
    ht, mt = med("tree_chief"), med("tree_md5sum")
    row(f"1b hash {tree} x 1 MiB vs sequential md5sum", s(ht), s(mt), f"{ht/mt:.2f}x", "<= 0.55x", ht/mt <= 0.55, rss("tree_chief"))
    mp = med("tree_md5sum_par")
    row(f"   (reference: {cores} md5sum processes in parallel on the same tree)", s(ht), s(mp), f"{ht/mt:.2f}x vs {mp/mt:.2f}x", "machine's ceiling", True)
if wants("e2e"):
    e, ec = med("e2e_chief"), med("e2e_curl")
    row(f"2 upload 1 x {big} MiB vs md5sum + curl POST + curl -T PUT", s(e), s(ec), f"{e/ec:.2f}x", "<= 1.10x", e/ec <= 1.10, rss("e2e_chief"))
if wants("small"):
    sc, sx = med("small_chief"), med("small_xargs")
    seq = med("small_seq") * small_n / seq_n
    row(f"3a upload {small_n} x 4 KiB (defaults) vs xargs -P16 curl", s(sc), s(sx), f"{sc/sx:.2f}x", "<= 1.00x", sc <= sx, rss("small_chief"))
    extra = "" if seq_n == small_n else f" (loop timed on {seq_n}, x{small_n/seq_n:g})"
    row(f"3b upload {small_n} x 4 KiB vs sequential curl loop{extra}", s(sc), s(seq), f"{seq/sc:.1f}x faster", ">= 10x faster", seq/sc >= 10)
def cpu(l, f="cpu"): return statistics.median(float(x) for x in open(f"{R}/{l}.{f}").read().split())
if wants("overlap"):
    oh, ou, ob = med("ov_hash"), med("ov_upload"), med("ov_both")
    onu, onb = med("ovn_upload"), med("ovn_both")
    row(f"4 overlap {ov} x 4 MiB, emulated link {link} MB/s per upload: full vs hash-only {oh:.2f} s + upload-only {onu:.2f} s", s(onb), s(oh + onu), f"{onb/(oh+onu):.2f}x", "<= 0.70x", onb/(oh+onu) <= 0.70, rss("ovn_both"))
    row(f"   (same on loopback, fake MD5s on our cores: full vs hash-only {oh:.2f} s + upload-only {ou:.2f} s)", s(ob), s(oh + ou), f"{ob/(oh+ou):.2f}x", "CPU-bound", True, rss("ov_both"))
    busy = (cpu("ov_both") + cpu("ov_both", "fcpu")) / int(cores)
    row(f"   (CPU floor: (chief {cpu('ov_both'):.2f} + fake server {cpu('ov_both', 'fcpu'):.2f} CPU s) / {cores} cores)", s(ob), s(busy), f"{busy/(oh+ou):.2f}x", "floor of 4", True)
if wants("memory"):
    r = rss("huge_chief")
    row(f"5a peak RSS uploading 1 x {huge} MiB", s(med("huge_chief")), "", f"{r:.1f} MiB", "<= 32 MiB", r <= 32, r)
    r = rss("many_chief")
    row(f"5b peak RSS uploading {many} x 1 KiB (one directory)", s(med("many_chief")), "", f"{r:.1f} MiB", "<= 64 MiB", r <= 64, r)
if wants("cache"):
    c0, c1, c2 = med("cache_nocache"), med("cache_first"), med("cache_second")
    row(f"6 hash cache, {tree} x 1 MiB: 2nd run vs 1st (cold cache; --no-cache: {c0:.2f} s)", s(c2), s(c1), f"{100*c2/c1:.1f}%", "< 5%", c2/c1 < 0.05, rss("cache_second"))
if wants("memory"):
    first, bound, n = open(f"{R}/many_first").read().split()
    first, bound = float(first), float(bound)
    row(f"7a {many} files in one dir: first upload done vs earliest walk end", f"{first:.2f} s", f"{bound:.2f} s" if bound >= 0 else "n/a", f"{n} files", "first < walk end", smoke or 0 <= first < bound)
    row(f"7b 10-level-deep tree ({deep} files, 2^10 leaf dirs)", s(med("deep_chief")), "", "all uploaded", "works", True)
if wants("outage"):
    on, oo = med("outage_run"), med("outage_none")
    down = int(open(f"{R}/outage_requests").read())
    out_for = float(out_for); out_failed = int(out_failed)
    ok = out_failed == 0 and down <= 40 and on - oo <= out_for + 10
    row(f"8 {out_n} x 4 KiB, -j 8, API down {out_for:g} s (503) after {int(out_n) // 2} requests vs no outage", s(on), s(oo),
        f"+{on - oo:.1f} s; {out_failed} failed; {down} requests while down", f"0 failed, <= 40 requests, <= +{out_for + 10:g} s", ok)
if wants("tls"):
    th, tp = med("tls_https"), med("tls_http")
    hs_api, hs_storage = open(f"{R}/tls_handshakes").read().split()
    row(f"9 {os.environ['TLS_N']} x 4 KiB over https vs plain http (TLS handshakes: API {hs_api}, storage {hs_storage})", s(th), s(tp),
        f"{th/tp:.2f}x", "measured (no target)", True, rss("tls_https"))
if wants("overhead"):
    tm, tn, tc, tw = med("tiny_md5sum"), med("tiny_nocache"), med("tiny_cold"), med("tiny_warm")
    cpus = lambda l: f"{cpu(l):.2f} CPU s"
    row(f"11a {tiny} x 4 B in one dir, --dry-run --no-cache vs find | xargs -P{cores} md5sum", s(tn), s(tm), f"{tn/tm:.2f}x", "<= 1.5x", tn/tm <= 1.5, rss("tiny_nocache"))
    row(f"   (CPU time: chief {cpu('tiny_nocache'):.2f} s, md5sum and find {cpu('tiny_md5sum'):.2f} s)", cpus("tiny_nocache"), cpus("tiny_md5sum"), f"{cpu('tiny_nocache')/cpu('tiny_md5sum'):.2f}x", "", True)
    # "No slower": both take the same path on files this small, so 5% is timing noise.
    row(f"11b same, hash cache warm vs --no-cache", s(tw), s(tn), f"{tw/tn:.2f}x", "<= 1.05x (no slower)", tw/tn <= 1.05, rss("tiny_warm"))
    row(f"11c same, hash cache cold (first run) vs --no-cache", s(tc), s(tn), f"{tc/tn:.2f}x", "<= 1.2x", tc/tn <= 1.2, rss("tiny_cold"))
if wants("million"):
    r = rss("million_dry")
    row(f"12a {million} files in one tree (1,000 a dir), --dry-run: peak RSS", s(med("million_dry")), "", f"{r:.1f} MiB", "<= 64 MiB", r <= 64, r)
    r = rss("million_up")
    row(f"12b {million} files in one tree, uploaded to the fake: peak RSS", s(med("million_up")), "", f"{r:.1f} MiB", "<= 64 MiB", r <= 64, r)

def stats(pattern):
    """The --stats lines of each run matching pattern: a list of runs, each a list of seconds."""
    return [[json.loads(l) for l in open(f)] for f in sorted(glob.glob(f"{R}/{pattern}"))]
def best_fixed(prefix):
    t = {j: med(f"{prefix}_j{j}") for j in fixed_jobs if have(f"{prefix}_j{j}")}
    j = min(t, key=t.get)
    return j, t[j], t
if wants("wan"):
    a = med("wan_jauto"); j, b, t = best_fixed("wan")
    row(f"W1 {wan_n} x 4 KiB, 50 ms latency (API and storage): -j auto vs the best fixed, -j {j}, in files/s", s(a), s(b), f"{b/a:.2f}x", ">= 0.85x", b/a >= 0.85, rss("wan_jauto"))
    e8 = med("wan_j8")
    row(f"   -j auto vs -j 8 (the old default), in files/s", s(a), s(e8), f"{e8/a:.1f}x", ">= 5x", e8/a >= 5)
    row("   (fixed: " + ", ".join(f"-j {k} {v:.2f} s" for k, v in t.items()) + ")", "", "", "", "", True)
if wants("link"):
    a = med("link_jauto"); j, b, t = best_fixed("link")
    row(f"W2 {link_n} x 16 MiB through one shared 50 MB/s link, 20 ms latency: -j auto vs the best fixed, -j {j}", s(a), s(b), f"{a/b:.2f}x", "<= 1.05x", a/b <= 1.05, rss("link_jauto"))
    late = []
    for run in stats("link_jauto.stats*"):
        start = next((i for i, d in enumerate(run) if d["api"]["requests"] > 0), 0)
        late.append(max([d["storage"]["peak_in_flight"] for d in run[start + 2:]] or [0]))
    worst = max(late)
    row("   uploads in flight at the fake after the first 2 s, most (per run: " + ", ".join(map(str, late)) + ")", str(worst), "", "", "<= 8", worst <= 8)
    row("   (fixed: " + ", ".join(f"-j {k} {v:.2f} s" for k, v in t.items()) + ")", "", "", "", "", True)
if wants("pushback"):
    a, b = med("push_jauto"), med("push_j16")
    row(f"W3 {wan_n} x 4 KiB, API 429 (Retry-After: 1) above 16 in flight, 50 ms latency: -j auto vs -j 16", s(a), s(b), f"{a/b:.2f}x", "<= 1.30x", a/b <= 1.30, rss("push_jauto"))
    shares = []
    for run in stats("push_jauto.stats*"):
        total = run[-1]["api"]["total"]
        shares.append(total["throttled"] / max(1, total["requests"]))
    worst = max(shares)
    row("   API requests pushed back (429), most of the runs; failed files: 0 (checked)", f"{100*worst:.1f}%", "", "", "<= 10%", worst <= 0.10)
if wants("bwlimit"):
    cap = 20 << 20
    avgs, peaks = [], []
    for run in stats("bw.stats*"):
        b = [d["storage"]["bytes"] for d in run]
        moving = [i for i, x in enumerate(b) if x > 0]
        whole = b[moving[0] + 1:moving[-1]] or b[moving[0]:moving[-1] + 1]
        avgs.append(sum(whole) / len(whole)); peaks.append(max(b))
    worst_avg = max(avgs, key=lambda v: abs(v - cap))
    row(f"W4 --bwlimit 20M, 1 x {bw_mb} MiB: bytes/s at the fake's storage, whole seconds, the run furthest off", f"{worst_avg/2**20:.2f} MiB/s", "20.00 MiB/s", f"{worst_avg/cap:.3f}x", "within 5%", abs(worst_avg / cap - 1) <= 0.05, rss("bw_chief"))
    row("   the busiest second", f"{max(peaks)/2**20:.2f} MiB/s", "20.00 MiB/s", f"{max(peaks)/cap:.2f}x", "<= 1.5x", max(peaks) <= 1.5 * cap)

hdr = ("target", "chief-upload", "baseline", "ratio", "goal", "met", "peak RSS MiB")
w = [max(len(str(r[i])) for r in rows + [hdr]) for i in range(len(hdr))]
line = lambda r: "| " + " | ".join(str(c).ljust(w[i]) for i, c in enumerate(r)) + " |"
print(f"chief-upload benchmarks: {cores} cores, scale {scale}, median of {runs} alternated run(s); load avg before {load0}, after {load1}")
print(line(hdr)); print("|" + "|".join("-" * (x + 2) for x in w) + "|")
for r in rows: print(line(r))
if smoke:
    print("smoke mode: every scenario ran and uploaded what it should; ratios at this scale mean nothing")
elif fails:
    print("targets not met: " + "; ".join(fails))
EOF
fi

# Row 10, in its own table: it can run alone (--soak).
if wants soak; then
RESULTS=$R python3 - "$SMOKE" "$SOAK_N" "$SOAK_SECS" "$LOAD_BEFORE" "$LOAD_AFTER" <<'EOF'
import os, sys
smoke, n, secs, load0, load1 = sys.argv[1:]
smoke = smoke == "1"
R = os.environ["RESULTS"]
kib = lambda f: int(open(f"{R}/{f}").read().split()[0])
start, end = kib("soak.rss_start") / 1024, kib("soak.rss_end") / 1024
samples = [int(x) / 1024 for x in open(f"{R}/soak.rss_samples").read().split()] or [end]
peak = max(samples + [end])
took = float(open(f"{R}/soak.t").read())
requests, lines = (int(x) for x in open(f"{R}/soak_restart.counts").read().split())
grew = end - start
ok_rss = grew <= 8
ok_restart = requests == 0 and lines == 0
met = lambda ok: "-" if smoke else "yes" if ok else "NO"
rows = [
    (f"10a watch: {n} x 4 KiB created over {secs} s, each uploaded once; VmRSS after the first pass vs at the end",
     f"{end:.1f} MiB", f"{start:.1f} MiB", f"+{grew:.1f} MiB (peak {peak:.1f}); {took:.0f} s", "<= +8 MiB", met(ok_rss)),
    (f"10b watch restarted over the same {n} files", f"{requests} requests", "", f"{lines} file lines", "0 requests", met(ok_restart)),
]
hdr = ("target", "chief-upload", "baseline", "ratio", "goal", "met")
w = [max(len(str(r[i])) for r in rows + [hdr]) for i in range(len(hdr))]
line = lambda r: "| " + " | ".join(str(c).ljust(w[i]) for i, c in enumerate(r)) + " |"
print(f"chief-upload soak (--watch): load avg before {load0}, after {load1}")
print(line(hdr)); print("|" + "|".join("-" * (x + 2) for x in w) + "|")
for r in rows: print(line(r))
if not ok_restart:
    sys.exit("the restart sent requests for unchanged files")
if not smoke and not ok_rss:
    print("targets not met: 10a")
EOF
fi

# Rows C1-C4, in their own table (--only cold).
if wants cold; then
RESULTS=$R python3 - "$SMOKE" "$RUNS" "$(nproc)" "$COLD_LOAD_BEFORE" "$COLD_LOAD_AFTER" "$COLD_FILES" \
    "$COLD_P" "${BENCH_BEFORE_BIN:+yes}" "$("$CHIEF" --version)" <<'EOF'
import os, statistics, sys
smoke, runs, cores, load0, load1, files, ps, before, version = sys.argv[1:]
smoke = smoke == "1"
R = os.environ["RESULTS"]
def vals(l, ext): return [float(x) for x in open(f"{R}/{l}.{ext}").read().split()]
def med(l): return statistics.median(vals(l, "t"))
def rss(l): return max(vals(l, "rss")) / 1024
tiny, k, m, big = files.split()
spec = [("c1", f"C1 {tiny} x 4 B in one folder", ps.split(), True),
        ("c2", f"C2 {k} x 4 KiB in 20 folders", ps.split(), True),
        ("c3", f"C3 {m} x 1 MiB", ps.split(), False),
        ("c4", f"C4 1 x {big} MiB", ["1"], False)]
met = lambda ok: "-" if smoke else "yes" if ok else "NO"
hdr = ("row", "page cache", "chief-upload", "best xargs md5sum", "ratio", "every -P N", "before", "goal", "met", "peak RSS MiB")
rows = []
for key, title, plist, small in spec:
    for state in ("cold", "warm"):
        t = med(f"{key}_{state}_chief")
        base = {p: med(f"{key}_{state}_p{p}") for p in plist}
        bp = min(base, key=base.get)
        every = ", ".join(f"{p}: {base[p]:.2f}" for p in plist) if len(plist) > 1 else "md5sum"
        b = med(f"{key}_{state}_before") if before else None
        if state == "cold" and small:
            goal, ok = "<= 1.0x best N", t <= base[bp]
        elif b is not None:
            goal, ok = "<= before", t <= b * 1.05
        else:
            goal, ok = "", True
        rows.append((title if state == "cold" else "", state, f"{t:.2f} s",
                     f"{base[bp]:.2f} s (-P {bp})" if len(plist) > 1 else f"{base[bp]:.2f} s",
                     f"{t / base[bp]:.2f}x", every, f"{b:.2f} s" if b is not None else "",
                     goal, met(ok) if goal else "", f"{rss(f'{key}_{state}_chief'):.1f}"))
w = [max(len(str(r[i])) for r in rows + [hdr]) for i in range(len(hdr))]
line = lambda r: "| " + " | ".join(str(c).ljust(w[i]) for i, c in enumerate(r)) + " |"
print(f"hashing (--dry-run --no-cache) from a cold and a warm page cache: {version}; {cores} cores, median of {runs} interleaved run(s); load avg before {load0}, after {load1}")
print(line(hdr)); print("|" + "|".join("-" * (x + 2) for x in w) + "|")
for r in rows: print(line(r))
print("<= before: within 5% of the older binary (BENCH_BEFORE_BIN), the noise of one median here")
EOF
fi

# Rows P1-P3, in their own table: chief-upload vs rclone and the AWS CLI (--only peers).
if wants peers; then
RESULTS=$R python3 - "$SMOKE" "$PEER_RUNS" "$(nproc)" "$PEER_LOAD_BEFORE" "$PEER_LOAD_AFTER" "$PEER_VERSIONS" \
    "$PEER_SMALL_N" "$PEER_BIG_MB" "$PEER_WAN_N" "$PEER_ROWS" "$PEER_CHIEF_J" "$PEER_RCLONE_T" "$PEER_AWS_C" <<'EOF'
import os, statistics, sys
(smoke, runs, cores, load0, load1, versions, small_n, big_mb, wan_n, peer_rows,
 chief_j, rclone_t, aws_c) = sys.argv[1:]
smoke = smoke == "1"
R = os.environ["RESULTS"]
def vals(l, ext): return [float(x) for x in open(f"{R}/{l}.{ext}").read().split()]
def med(l, ext="t"): return statistics.median(vals(l, ext))
def rss(l): return max(vals(l, "rss")) / 1024
tools = [("chief-upload", "chief", "j", "-j", chief_j.split()),
         ("rclone", "rclone", "t", "--transfers/--checkers", rclone_t.split()),
         ("aws s3 cp", "aws", "c", "max_concurrent_requests", aws_c.split())]
rows_spec = [("p1", f"P1 {small_n} x 16 KiB, loopback", int(small_n), None),
             ("p2", f"P2 1 x {big_mb} MiB, loopback", None, int(big_mb)),
             ("p3", f"P3 {wan_n} x 16 KiB, 50 ms a round trip (API and S3)", int(wan_n), None)]
rows_spec = [r for r in rows_spec if r[0] in peer_rows.split()]
hdr = ("row", "tool", "setting", "median", "rate", "tool CPU s", "API CPU s", "s3s-fs CPU s", "peak RSS MiB")
rows, notes = [], []
for key, title, n, mb in rows_spec:
    best = {}
    for name, short, k, knob, settings in tools:
        for v in settings:
            l = f"{key}_{short}_{k}{v}"
            t = med(l)
            rate = f"{n / t:.0f} files/s" if n else f"{mb / t:.0f} MiB/s"
            setting = "default" if v in ("default", "auto") else f"{knob} {v}"
            if short == "chief" and v == "auto": setting = "default (-j auto)"
            api = f"{med(l, 'fcpu'):.2f}" if short == "chief" else ""
            rows.append((title, name, setting, f"{t:.2f} s", rate, f"{med(l, 'cpu'):.2f}", api, f"{med(l, 'scpu'):.2f}", f"{rss(l):.1f}"))
            title = ""
            best.setdefault(short, {})[v] = t
    d = best["chief"]["auto"]
    fixed = {j: t for j, t in best["chief"].items() if j != "auto"}
    bj = min(fixed, key=fixed.get)
    peers = [(t, f"{name} {v}") for name, short, _, _, s in tools[1:] for v, t in best[short].items()]
    bp, bpn = min(peers)
    r1, r2 = d / fixed[bj], d / bp
    met = lambda ok: "-" if smoke else "yes" if ok else "NO"
    notes.append(f"{key.upper()}: chief-upload default {d:.2f} s vs best fixed -j {bj} {fixed[bj]:.2f} s = {r1:.2f}x (goal <= 1.1x: {met(r1 <= 1.1)}); "
                 f"vs best peer ({bpn}) {bp:.2f} s = {r2:.2f}x (goal <= 1.0x: {met(r2 <= 1.0)})")
w = [max(len(str(r[i])) for r in rows + [hdr]) for i in range(len(hdr))]
line = lambda r: "| " + " | ".join(str(c).ljust(w[i]) for i, c in enumerate(r)) + " |"
print(f"chief-upload vs rclone and the AWS CLI, one s3s-fs on 127.0.0.1: {cores} cores, median of {runs} interleaved run(s); load avg before {load0}, after {load1}")
print(f"versions: {versions}")
print(line(hdr)); print("|" + "|".join("-" * (x + 2) for x in w) + "|")
for r in rows: print(line(r))
for n in notes: print(n)
if smoke:
    print("smoke mode: every tool uploaded every file; times at this scale mean nothing")
EOF
fi
