"""The benchmark table: every set of measurements, its commands and the rows it yields.

A *set* is measured on its own: its corpora are made, then `runs` rounds run every command
of the set once, in the order listed (so chief-upload and its baselines alternate, run by
run, as the machine's load drifts). A *command* is one process timed by hyperfine; its
setup is data too: the fake server's flags (a fresh `fake_chief` before every run of it,
since the fake dedups content), the hash cache it uses or empties, the page cache state.
A *row* is one line of the results: a figure computed from the set's measurements
(figures.py), its baseline measured in the same rounds, and its goal.

A *group* (what --only names) is one or more sets: peers and cold have one set per row,
since each row has its own corpus and rounds.

Placeholders in commands, filled when run: {chief} the chief-upload measured, {c} the
corpora folder, {w} the work folder, {res} the folder of the run's outputs, {label} the
command's label, {nproc} cores, {python} this python3, {curl_one} and {helpers} the
scripts beside this file, {s3} the S3 server's address and {run} a fresh object prefix
(peers), {rclone} and {aws} the peers' executables, and the sizes of P (see sizes()).
"""
from dataclasses import dataclass, field

from . import corpus
from . import figures as f


@dataclass
class Cmd:
    label: str
    argv: list
    # fake_chief's flags: a fresh fake before every run of this command (None: no server;
    # "presign": the presigning API in front of s3s-fs, peers only).
    fake: object = None
    cache: str = None        # XDG_CACHE_HOME=WORK/cache/NAME (default: one never filled)
    reset: str = None        # WORK/cache/NAME removed before every run (hyperfine --prepare)
    page_cache: str = None   # "cold": dropped before every run, "warm": DIR read before it
    expect: tuple = None     # ("uploaded", N) | ("planned", N) | ("digest", FILE) | ("objects", N)
    chief: bool = True       # runs chief-upload: --before adds a twin with the older build
    stats: bool = False      # the fake writes --stats (one line a second), read after the run
    env: dict = field(default_factory=dict)
    json_out: str = None     # where the --json lines go, when not to stdout (a pipeline)
    tool: tuple = None       # peers: (tool, setting) for the details table


@dataclass
class Row:
    name: str                # the row's name (stable: README links use it)
    old: str                 # its number before this program (the README cites those)
    title: str               # what it measures (formatted with the set's sizes)
    figure: object           # figures.*: the figure, from the set's measurements
    goal: object = None      # figures.Goal, or None for a measured figure with no target


@dataclass
class Set:
    name: str
    group: str
    title: str
    corpora: dict            # corpus name -> corpus.spec(...)
    commands: list
    rows: list
    runs: int = 3            # default rounds (--runs caps it)
    warm: list = field(default_factory=list)    # corpora read into the page cache first
    setup: list = field(default_factory=list)   # Cmds run once, untimed, before the rounds
    links: dict = field(default_factory=dict)   # corpus -> (source corpus, first N files): hard links
    driver: str = None       # "soak" (its own measurement) or "peers" (s3s-fs up for the set)
    details: object = None   # figures.*: an extra table of every setting
    needs: list = field(default_factory=list)   # tools it needs beyond the common ones
    root: bool = False       # drops the page cache: only with --drop-caches, as root
    s3_delay_ms: int = 0     # peers: a delaying proxy this many ms each way (API and S3)


GROUPS = ["hash", "tree", "e2e", "small", "overlap", "memory", "cache", "outage", "tls", "soak",
          "overhead", "million", "wan", "link", "pushback", "bwlimit", "peers", "cold"]
# Not part of a plain run: they need other tools, or root.
ONLY_WHEN_NAMED = {"peers", "cold"}

FIXED_JOBS = [8, 16, 32, 64, 128, 256]     # the fixed -j that wan and link compare -j auto with
PEER_CHIEF_J = ["auto", "8", "32", "128", "256"]
PEER_RCLONE_T = ["default", "4", "16", "64", "128"]
PEER_AWS_C = ["default", "10", "32", "128"]
COLD_P = [2, 8, 16, 32]


def sizes(scale, quick, overrides):
    """The sizes of every corpus and knob at this scale (--set NAME=VALUE overrides one)."""
    def n(full, least):
        return max(least, int(full * scale + 0.5))
    P = dict(
        big_mb=n(1024, 4),            # one big file (hash, e2e)
        tree_n=n(2000, 8),            # x 1 MiB (tree, cache)
        small_n=n(10000, 50),         # x 4 KiB (small)
        seq_n=n(1000, 20),            # of them, the sequential curl loop (extrapolated)
        ov_n=n(128, 4),               # x 4 MiB (overlap)
        link_mbps=80,                 # overlap: the emulated link, MB/s per upload
        many_n=n(100000, 500),        # x 1 KiB in one folder (memory)
        huge_mb=n(4096, 8),           # one huge file (memory)
        tiny_n=n(300000, 1000),       # x 4 B in one folder (overhead)
        million_n=n(1000000, 2000),   # x 16 B, 1,000 a folder (million)
        wan_n=n(2000, 50),            # x 4 KiB (wan, pushback)
        linkw_n=n(64, 4),             # x 16 MiB (link)
        bw_mb=n(200, 8),              # one file (bwlimit)
        tls_n=n(1000, 20),            # x 4 KiB (tls)
        out_n=30 if quick else 300,   # x 4 KiB (outage; not scaled: its goals are for 300)
        out_for=2 if quick else 20,   # seconds the API is down (outage)
        soak_n=n(10000, 200),         # x 4 KiB created under --watch (soak)
        soak_secs=5 if quick else 60,  # over this many seconds
        peer_small_n=n(2000, 20),     # x 16 KiB (P1)
        peer_big_mb=n(1024, 4),       # one file (P2)
        peer_wan_n=n(1000, 20),       # x 16 KiB through the 50 ms delaying proxy (P3)
        cold_tiny_n=n(50000, 500),    # x 4 B in one folder (C1)
        cold_k_n=n(20000, 200),       # x 4 KiB in 20 folders (C2)
        cold_m_n=n(2000, 20),         # x 1 MiB (C3)
        cold_big_mb=n(1024, 4),       # one file (C4)
    )
    for k, v in overrides.items():
        if k not in P:
            raise KeyError(k)
        P[k] = type(P[k])(v)
    P["seq_n"] = min(P["seq_n"], P["small_n"])
    P["cold_k_n"] = (P["cold_k_n"] + 19) // 20 * 20
    return P


def chief(*args, **kw):
    return Cmd(argv=["{chief}", *args], **kw)


def sets(P, nproc):
    """Every set, at the sizes P."""
    up = lambda n: ("uploaded", n)
    planned = lambda n: ("planned", n)
    out = []

    out.append(Set(
        "hash", "hash", "hashing one big file vs md5sum",
        corpora={"big": corpus.spec("one", P["big_mb"])}, warm=["big"],
        commands=[
            Cmd("hash1_md5sum", ["md5sum", "{c}/big/big.bin"], chief=False),
            chief("--dry-run", "--no-cache", "--json", "{c}/big/big.bin", label="hash1_chief",
                  expect=("digest", "{c}/big/big.bin")),
        ],
        rows=[Row("hash-big", "1a", "hash 1 x {big_mb} MiB (--dry-run --no-cache) vs md5sum",
                  f.ratio("hash1_chief", "hash1_md5sum"), f.Goal("<=", 1.05))]))

    out.append(Set(
        "tree", "tree", "hashing a tree of 1 MiB files on every core vs md5sum",
        corpora={"tree": corpus.spec("split", P["tree_n"], 1 << 20)}, warm=["tree"],
        commands=[
            Cmd("tree_md5sum", ["bash", "-c", 'cd "$1" && md5sum -- *', "_", "{c}/tree"], chief=False),
            # What this machine gives independent processes: the ceiling of any parallel hasher.
            Cmd("tree_md5sum_par", ["bash", "-c", 'cd "$1" && printf "%s\\0" * | xargs -0 -P "$2" -n "$3" md5sum',
                                    "_", "{c}/tree", "{nproc}", str(-(-P["tree_n"] // nproc))], chief=False),
            chief("--dry-run", "--no-cache", "-q", "{c}/tree", label="tree_chief", expect=planned(P["tree_n"])),
        ],
        rows=[Row("hash-tree", "1b", "hash {tree_n} x 1 MiB vs sequential md5sum",
                  f.ratio("tree_chief", "tree_md5sum"), f.Goal("<=", 0.55)),
              Row("hash-tree-ceiling", "1b (reference)",
                  "the same vs {nproc} md5sum processes in parallel (the machine's ceiling)", f.tree_ceiling)]))

    out.append(Set(
        "e2e", "e2e", "uploading one big file vs md5sum + curl",
        corpora={"big": corpus.spec("one", P["big_mb"])}, warm=["big"],
        commands=[
            Cmd("e2e_curl", ["{curl_one}", "{c}/big/big.bin"], fake=[], chief=False),
            chief("--no-cache", "--json", "{c}/big/big.bin", label="e2e_chief", fake=[], expect=up(1)),
        ],
        rows=[Row("upload-big", "2", "upload 1 x {big_mb} MiB vs md5sum + curl POST + curl -T PUT",
                  f.ratio("e2e_chief", "e2e_curl"), f.Goal("<=", 1.10))]))

    out.append(Set(
        "small", "small", "uploading many 4 KiB files vs curl",
        corpora={"small": corpus.spec("split", P["small_n"], 4096)},
        links={"small-seq": ("small", P["seq_n"])}, warm=["small"],
        commands=[
            Cmd("small_xargs", ["bash", "-c", 'find "$1" -type f -print0 | xargs -0 -n1 -P16 "$2"',
                                "_", "{c}/small", "{curl_one}"], fake=[], chief=False),
            Cmd("small_seq", ["bash", "-c", 'for f in "$1"/*; do "$2" "$f"; done', "_", "{c}/small-seq",
                              "{curl_one}"], fake=[], chief=False),
            chief("--json", "{c}/small", label="small_chief", fake=[], cache="small", reset="small",
                  expect=up(P["small_n"])),
        ],
        rows=[Row("upload-small-xargs", "3a", "upload {small_n} x 4 KiB (defaults) vs xargs -P16 curl POST+PUT",
                  f.ratio("small_chief", "small_xargs"), f.Goal("<=", 1.00)),
              Row("upload-small-loop", "3b",
                  "upload {small_n} x 4 KiB vs a sequential curl loop (timed on {seq_n}, scaled to {small_n})",
                  f.small_loop, f.Goal(">=", 10, "x faster"))]))

    link = ["--link-mbps", str(P["link_mbps"]), "--no-verify"]
    out.append(Set(
        "overlap", "overlap", "hashing later files while earlier ones upload",
        corpora={"overlap": corpus.spec("split", P["ov_n"], 4 << 20)}, warm=["overlap"],
        setup=[chief("--dry-run", "-q", "{c}/overlap", label="ov_fill", cache="ov")],  # upload-only runs
        commands=[
            chief("--dry-run", "--no-cache", "-q", "{c}/overlap", label="ov_hash"),
            chief("--json", "{c}/overlap", label="ov_upload", cache="ov", fake=[], expect=up(P["ov_n"])),
            chief("--no-cache", "--json", "{c}/overlap", label="ov_both", fake=[], expect=up(P["ov_n"])),
            # The fake paces each upload and trusts the signed MD5, as a remote storage on its
            # own CPU would: uploading costs network time, not this machine's CPU.
            chief("--json", "{c}/overlap", label="ovn_upload", cache="ov", fake=link, expect=up(P["ov_n"])),
            chief("--no-cache", "--json", "{c}/overlap", label="ovn_both", fake=link, expect=up(P["ov_n"])),
        ],
        rows=[Row("overlap-link", "4",
                  "overlap, {ov_n} x 4 MiB over an emulated {link_mbps} MB/s-per-upload link: full run vs hash-only + upload-only",
                  f.overlap("ovn_both", "ovn_upload"), f.Goal("<=", 0.70)),
              Row("overlap-loopback", "4 (loopback)", "the same on raw loopback (the fake MD5s on our cores)",
                  f.overlap("ov_both", "ov_upload")),
              Row("overlap-cpu-floor", "4 (CPU floor)",
                  "the loopback run's CPU floor: (chief-upload + fake server CPU s) / {nproc} cores", f.cpu_floor)]))

    deep = corpus.spec("deep", 2)
    out.append(Set(
        "memory", "memory", "peak memory, and a walk that does not hold uploads back",
        corpora={"huge": corpus.spec("one", P["huge_mb"]), "many": corpus.spec("split", P["many_n"], 1024),
                 "deep": deep}, warm=["many"], runs=1,
        commands=[
            chief("--no-cache", "--json", "{c}/huge/big.bin", label="huge_chief", fake=[], expect=up(1)),
            # The --json lines, stamped as they arrive: the first upload vs the walk's end.
            Cmd("many_chief", ["bash", "-c", 't0=$EPOCHREALTIME; "$1" --json "$2" | "$3" "$4" stamp "$5" "$6" "$7" "$t0"', "_",
                               "{chief}", "{c}/many", "{python}", "{helpers}", "{res}/{label}.json", "{res}/{label}.first",
                               "{stamp_bound}"], fake=[], cache="many", reset="many", expect=up(P["many_n"]),
                json_out="{res}/{label}.json"),
            chief("--no-cache", "--json", "{c}/deep", label="deep_chief", fake=[], expect=up(corpus.count(deep))),
        ],
        rows=[Row("rss-huge", "5a", "peak RSS uploading 1 x {huge_mb} MiB (defaults: -j auto)",
                  f.rss("huge_chief"), f.Goal("<=", 32, " MiB")),
              Row("rss-many", "5b", "peak RSS uploading {many_n} x 1 KiB in one folder (-j auto)",
                  f.rss("many_chief"), f.Goal("<=", 64, " MiB")),
              Row("many-first-upload", "7a", "{many_n} files in one folder: first upload done vs the walk's end at the earliest",
                  f.first_upload, f.Goal("true", text="first before the walk's end")),
              Row("deep-tree", "7b", "a 10-level-deep tree ({deep_n} files, 2^10 leaf folders)", f.deep_tree,
                  f.Goal("true", text="all uploaded"))]))

    out.append(Set(
        "cache", "cache", "the hash cache on an unchanged tree",
        corpora={"tree": corpus.spec("split", P["tree_n"], 1 << 20)}, warm=["tree"],
        commands=[
            chief("--dry-run", "--no-cache", "-q", "{c}/tree", label="cache_nocache", reset="c"),
            chief("--dry-run", "-q", "{c}/tree", label="cache_first", cache="c"),
            chief("--dry-run", "-q", "{c}/tree", label="cache_second", cache="c", expect=planned(P["tree_n"])),
        ],
        rows=[Row("cache-second-run", "6",
                  "hash cache: 2nd --dry-run over {tree_n} x 1 MiB (unchanged) vs the 1st (cold cache)",
                  f.cache_second, f.Goal("<", 0.05, "%"))]))

    half = str(P["out_n"] // 2)
    out.append(Set(
        "outage", "outage", "an API outage in the middle of a run",
        corpora={"outage": corpus.spec("split", P["out_n"], 4096)}, warm=["outage"], runs=1,
        commands=[
            chief("--no-cache", "--json", "-j", "8", "{c}/outage", label="outage_none", fake=[], expect=up(P["out_n"])),
            # The API answers 503 to everything for out_for seconds once half the files have asked.
            chief("--no-cache", "--json", "-j", "8", "{c}/outage", label="outage_run", stats=True,
                  fake=["--outage", "api", "--outage-after", half, "--outage-for", str(P["out_for"])]),
        ],
        rows=[Row("outage", "8", "{out_n} x 4 KiB, -j 8, the API down {out_for} s (503 to everything) after {out_half} requests, vs no outage",
                  f.outage, f.Goal("true", text="0 failed, <= 40 requests while down, <= +{out_slack} s"))]))

    out.append(Set(
        "tls", "tls", "the cost of TLS",
        corpora={"tls": corpus.spec("split", P["tls_n"], 4096)}, warm=["tls"],
        commands=[
            chief("--no-cache", "--json", "{c}/tls", label="tls_http", fake=[], expect=up(P["tls_n"])),
            # --ca-out writes the fake's private CA; the environment it prints names it.
            chief("--no-cache", "--json", "{c}/tls", label="tls_https", fake=["--tls", "--ca-out", "{w}/tls-ca.pem"],
                  stats=True, expect=up(P["tls_n"])),
        ],
        rows=[Row("tls-cost", "9", "{tls_n} x 4 KiB over https (the fake with a private CA) vs plain http, defaults",
                  f.tls)]))

    out.append(Set(
        "soak", "soak", "--watch over files created for a minute, then a restart",
        corpora={}, commands=[], runs=1, driver="soak",
        rows=[Row("watch-rss", "10a",
                  "--watch: {soak_n} x 4 KiB created over {soak_secs} s (each in two writes), each uploaded once: VmRSS at the end vs after the first pass",
                  f.watch_rss, f.Goal("<=", 8, text="<= +8 MiB")),
              Row("watch-restart", "10b", "--watch restarted over the same {soak_n} files", f.watch_restart,
                  f.Goal("true", text="0 requests"))]))

    out.append(Set(
        "overhead", "overhead", "per-file overhead on tiny files vs find | xargs md5sum",
        corpora={"tiny": corpus.spec("split", P["tiny_n"], 4)}, warm=["tiny"],
        commands=[
            Cmd("tiny_md5sum", ["bash", "-c", 'find "$1" -type f -print0 | xargs -0 -P "$2" -n 2000 md5sum', "_",
                                "{c}/tiny", "{nproc}"], chief=False),
            chief("--dry-run", "--no-cache", "-q", "{c}/tiny", label="tiny_nocache", reset="tiny"),
            chief("--dry-run", "-q", "{c}/tiny", label="tiny_cold", cache="tiny"),
            chief("--dry-run", "-q", "{c}/tiny", label="tiny_warm", cache="tiny", expect=planned(P["tiny_n"])),
        ],
        rows=[Row("tiny-vs-md5sum", "11a",
                  "{tiny_n} x 4 B in one folder, --dry-run --no-cache -q vs find | xargs -0 -P{nproc} -n 2000 md5sum",
                  f.ratio("tiny_nocache", "tiny_md5sum"), f.Goal("<=", 1.5)),
              Row("tiny-cpu", "11a (CPU)", "the same, CPU time (user + system): chief-upload vs find and md5sum",
                  f.tiny_cpu),
              # "No slower": both take the same path on files this small, so 5% is timing noise.
              Row("tiny-cache-warm", "11b", "the same with the hash cache warm vs --no-cache",
                  f.ratio("tiny_warm", "tiny_nocache"), f.Goal("<=", 1.05, "x (no slower)")),
              Row("tiny-cache-cold", "11c", "the same with the hash cache cold (first run) vs --no-cache",
                  f.ratio("tiny_cold", "tiny_nocache"), f.Goal("<=", 1.2))]))

    out.append(Set(
        "million", "million", "a million files in one tree",
        corpora={"million": corpus.spec("spread", P["million_n"], 1000, 16)}, warm=["million"], runs=1,
        commands=[
            chief("--dry-run", "-q", "{c}/million", label="million_dry", cache="million", reset="million",
                  expect=planned(P["million_n"])),
            chief("--json", "{c}/million", label="million_up", cache="million", fake=[], expect=up(P["million_n"])),
        ],
        rows=[Row("million-dry-rss", "12a", "{million_n} files of 16 B in one tree (1,000 a folder), --dry-run: peak RSS",
                  f.rss("million_dry"), f.Goal("<=", 64, " MiB")),
              Row("million-upload-rss", "12b", "the same files uploaded (defaults: -j auto): peak RSS",
                  f.rss("million_up"), f.Goal("<=", 64, " MiB"))]))

    wan = ["--latency-ms", "50"]
    out.append(Set(
        "wan", "wan", "-j auto against a distant server",
        corpora={"wan": corpus.spec("split", P["wan_n"], 4096)}, warm=["wan"],
        commands=[chief("--no-cache", "--json", "-j", str(j), "{c}/wan", label=f"wan_j{j}", fake=wan,
                        expect=up(P["wan_n"])) for j in ["auto"] + FIXED_JOBS],
        rows=[Row("wan-auto-vs-best", "W1",
                  "{wan_n} x 4 KiB, 50 ms latency on the API and the storage: -j auto vs the best fixed -j, in files/s",
                  f.best_fixed("wan", invert=True), f.Goal(">=", 0.85)),
              Row("wan-auto-vs-j8", "W1 (-j 8)", "the same, -j auto vs -j 8 (the old default), in files/s",
                  f.vs_fixed("wan", "8"), f.Goal(">=", 5)),
              Row("wan-fixed", "W1 (fixed)", "the same, every fixed -j", f.fixed_list("wan"))]))

    shared = ["--latency-ms", "20", "--shared-link-mbps", "50", "--no-verify"]
    out.append(Set(
        "link", "link", "-j auto through one shared link",
        corpora={"link": corpus.spec("split", P["linkw_n"], 16 << 20)}, warm=["link"],
        commands=[chief("--no-cache", "--json", "-j", str(j), "{c}/link", label=f"link_j{j}", fake=shared, stats=True,
                        expect=up(P["linkw_n"])) for j in ["auto"] + FIXED_JOBS],
        rows=[Row("link-auto-vs-best", "W2",
                  "{linkw_n} x 16 MiB through one shared 50 MB/s link, 20 ms latency: -j auto vs the best fixed -j",
                  f.best_fixed("link"), f.Goal("<=", 1.05)),
              Row("link-in-flight", "W2 (in flight)", "uploads in flight at the fake after the first 2 s, most of any -j auto run",
                  f.link_in_flight, f.Goal("<=", 8, "")),
              Row("link-fixed", "W2 (fixed)", "the same, every fixed -j", f.fixed_list("link"))]))

    push = ["--latency-ms", "50", "--api-max-in-flight", "16", "--retry-after", "1"]
    out.append(Set(
        "pushback", "pushback", "-j auto against an API that pushes back",
        corpora={"wan": corpus.spec("split", P["wan_n"], 4096)}, warm=["wan"],
        commands=[chief("--no-cache", "--json", "-j", j, "{c}/wan", label=f"push_j{j}", fake=push, stats=True,
                        expect=up(P["wan_n"])) for j in ["auto", "16"]],
        rows=[Row("pushback-auto-vs-j16", "W3",
                  "{wan_n} x 4 KiB, the API answers 429 (Retry-After: 1) above 16 in flight, 50 ms latency: -j auto vs -j 16",
                  f.ratio("push_jauto", "push_j16"), f.Goal("<=", 1.30)),
              Row("pushback-429-share", "W3 (429s)", "API requests pushed back (429), most of the -j auto runs; 0 failed (checked)",
                  f.pushback_share, f.Goal("<=", 0.10, "%"))]))

    out.append(Set(
        "bwlimit", "bwlimit", "--bwlimit, measured at the fake's storage",
        corpora={"bw": corpus.spec("one", P["bw_mb"])}, warm=["bw"],
        commands=[chief("--no-cache", "--json", "--bwlimit", "20M", "{c}/bw/big.bin", label="bw_chief",
                        fake=["--no-verify"], stats=True, expect=up(1))],
        rows=[Row("bwlimit-average", "W4",
                  "--bwlimit 20M, 1 x {bw_mb} MiB: bytes/s at the fake's storage over whole seconds, the run furthest off",
                  f.bw_average, f.Goal("within", 0.05)),
              Row("bwlimit-busiest", "W4 (busiest second)", "the same, the busiest second of any run",
                  f.bw_busiest, f.Goal("<=", 1.5))]))

    # name, old number, title, corpus, its spec, files, what the rate counts, ms each way
    peer_rows = [("peers-small", "P1", "{peer_small_n} x 16 KiB, loopback", "peers_small",
                  corpus.spec("split", P["peer_small_n"], 16384), P["peer_small_n"], ("files", P["peer_small_n"]), 0),
                 ("peers-big", "P2", "1 x {peer_big_mb} MiB, loopback", "peers_big",
                  corpus.spec("one", P["peer_big_mb"]), 1, ("MiB", P["peer_big_mb"]), 0),
                 ("peers-wan", "P3", "{peer_wan_n} x 16 KiB, 50 ms a round trip to the API and to S3", "peers_wan",
                  corpus.spec("split", P["peer_wan_n"], 16384), P["peer_wan_n"], ("files", P["peer_wan_n"]), 25)]
    for name, old, title, cname, cspec, n, rate, delay in peer_rows:
        key = old.lower()
        obj = ("objects", n)
        # chief-upload through `fake_chief --s3` (a fresh presigning API before every run,
        # since it dedups content); rclone and the AWS CLI straight to s3s-fs. Every run
        # writes under a fresh prefix; the bucket is counted and emptied after it.
        cmds = [chief("--no-cache", "--json", "-j", j, "{c}/" + cname, label=f"{key}_chief_j{j}", fake="presign",
                      expect=up(n), tool=("chief-upload", j)) for j in PEER_CHIEF_J]
        cmds += [Cmd(f"{key}_rclone_t{t}", ["{rclone}", "copy", "-q"]
                     + ([] if t == "default" else ["--transfers", t, "--checkers", t])
                     + ["{c}/" + cname, "s3:chief-interop/{run}"],
                     env={"RCLONE_CONFIG_S3_ENDPOINT": "http://{s3}"}, chief=False, expect=obj, tool=("rclone", t))
                 for t in PEER_RCLONE_T]
        cmds += [Cmd(f"{key}_aws_c{c}", ["{aws}", "--endpoint-url", "http://{s3}", "s3", "cp", "--recursive",
                                         "--only-show-errors", "--no-progress", "{c}/" + cname, "s3://chief-interop/{run}/"],
                     env={"AWS_CONFIG_FILE": "{w}/aws-" + c + ".cfg"}, chief=False, expect=obj, tool=("aws s3 cp", c))
                 for c in PEER_AWS_C]
        out.append(Set(
            name, "peers", f"{old}: chief-upload vs rclone and the AWS CLI, one s3s-fs on 127.0.0.1",
            corpora={cname: cspec}, warm=[cname], runs=5, driver="peers", s3_delay_ms=delay,
            needs=["s3s-fs", "rclone", "aws"], commands=cmds, details=f.peer_details(key, rate),
            rows=[Row(f"{name}-vs-fixed", old, title + ": chief-upload's default (-j auto) vs its best fixed -j",
                      f.peer_vs_fixed(key), f.Goal("<=", 1.1)),
                  Row(f"{name}-vs-peers", old + " (peers)",
                      title + ": chief-upload's default vs the best setting of rclone or the AWS CLI",
                      f.peer_vs_peers(key), f.Goal("<=", 1.0))]))

    cold_rows = [("cold-tiny", "C1", "{cold_tiny_n} x 4 B in one folder", "cold_tiny",
                  corpus.spec("split", P["cold_tiny_n"], 4), COLD_P, True),
                 ("cold-4k", "C2", "{cold_k_n} x 4 KiB in 20 folders", "cold_k",
                  corpus.spec("folders", 20, P["cold_k_n"], 4096), COLD_P, True),
                 ("cold-1m", "C3", "{cold_m_n} x 1 MiB", "cold_m", corpus.spec("split", P["cold_m_n"], 1 << 20),
                  COLD_P, False),
                 ("cold-big", "C4", "1 x {cold_big_mb} MiB", "cold_big", corpus.spec("one", P["cold_big_mb"]), [1],
                  False)]
    for name, old, title, cname, cspec, ps, small in cold_rows:
        key = old.lower()
        n = corpus.count(cspec)
        cmds = []
        for state in ("cold", "warm"):
            for p in ps:
                # -n splits the files into 4 N commands.
                cmds.append(Cmd(f"{key}_{state}_p{p}",
                                ["bash", "-c", 'find "$1" -type f -print0 | xargs -0 -P "$2" -n "$3" md5sum', "_",
                                 "{c}/" + cname, str(p), str(-(-n // (4 * p)))], page_cache=state, chief=False))
            cmds.append(chief("--dry-run", "--no-cache", "-q", "{c}/" + cname, label=f"{key}_{state}_chief",
                              page_cache=state, expect=planned(n)))
        out.append(Set(
            name, "cold", f"{old}: hashing (--dry-run --no-cache) from a cold and a warm page cache vs xargs md5sum",
            corpora={cname: cspec}, runs=5, root=True, commands=cmds,
            details=f.cold_details(key, ps),
            rows=[Row(f"{name}-{state}", old + ("" if state == "cold" else " (warm)"),
                      title + f", page cache {state}: chief-upload vs the best find | xargs -0 -P N md5sum",
                      f.cold_row(key, state, ps, small and state == "cold")) for state in ("cold", "warm")]))
    return out


def derived(P, nproc):
    """Values row titles and commands use beside the sizes."""
    return dict(P, nproc=nproc, deep_n=corpus.count(corpus.spec("deep", 2)), out_half=P["out_n"] // 2,
                out_slack=f"{P['out_for'] + 10:g}",
                # The walk cannot end before all but the bounded queues' worth of files have
                # reached the upload stage: walk->hash 8 batches of 128 (pipeline/mod.rs), one
                # batch held by each hashing thread (one a core) and the one the walk fills,
                # hash->upload 1024, and the upload stage takes at most the files in flight
                # (at most 512 with -j auto) + 1. So the walk ends after file line number
                # n - stamp_bound at the earliest: a first upload before that line started
                # before the walk ended.
                stamp_bound=8 * 128 + 128 * (nproc + 1) + 1024 + 512 + 1)
