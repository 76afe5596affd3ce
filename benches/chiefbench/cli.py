"""The command line: run groups, explain them, list them, set up their tools, clean up."""
import argparse
import datetime
import hashlib
import os
import platform
import shutil
import signal
import subprocess
import sys

from . import corpus, report, table
from .measure import Runner, peer_env
from .util import BenchError, die, loadavg, out, say, stop_all

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BENCHES = os.path.join(ROOT, "benches")

USAGE = """benches/bench [run] [options]     measure (default: every group but peers and cold)
       benches/bench setup [--install]   the tools each group needs: found, missing, how to install
       benches/bench list                groups, their sets and rows (new and old names)
       benches/bench render              rewrite RESULTS.md from the results' JSON
       benches/bench clean [--work DIR]  delete the work folder (corpora, caches, outputs)"""

# name, how to find it, the install command, the groups that need it
TOOLS = [
    ("hyperfine", "hyperfine", "apt-get install -y hyperfine", "every group (the timed runs)"),
    ("GNU time", "/usr/bin/time", "apt-get install -y time", "every group (peak RSS)"),
    ("curl", "curl", "apt-get install -y curl", "e2e, small (the curl baselines)"),
    ("md5sum, xargs, find", "md5sum", "apt-get install -y coreutils findutils", "hash, tree, overhead, cold"),
    ("cargo", "cargo", "https://rustup.rs", "builds the release binary and examples/fake_chief.rs"),
    ("rclone", "rclone", "apt-get install -y rclone", "peers"),
    ("AWS CLI v2", "aws", "apt-get install -y awscli   (Debian 12's is v2; pip's awscli is v1)", "peers"),
    ("s3s-fs 0.14.1", "s3s-fs", "cargo install s3s-fs@0.14.1 --features binary --locked", "peers"),
]


def find_tool(name):
    """Where a peers tool is: S3S_FS, RCLONE_BIN, AWS_BIN, else PATH (aws: /usr/bin/aws first,
    the apt package, before a pip-installed v1 earlier on PATH; s3s-fs: also ~/.cargo/bin)."""
    env = {"s3s-fs": "S3S_FS", "rclone": "RCLONE_BIN", "aws": "AWS_BIN"}.get(name)
    if env and os.environ.get(env):
        return os.environ[env]
    if name == "aws" and os.access("/usr/bin/aws", os.X_OK):
        return "/usr/bin/aws"
    if name.startswith("/"):
        return name if os.access(name, os.X_OK) else None
    found = shutil.which(name)
    if not found and name == "s3s-fs":
        p = os.path.join(os.environ.get("CARGO_HOME", os.path.expanduser("~/.cargo")), "bin", "s3s-fs")
        found = p if os.access(p, os.X_OK) else None
    return found


def setup(install):
    missing = []
    print("Tools the benchmarks use (Debian 12 packages unless said):\n")
    for name, probe, how, groups in TOOLS:
        where = find_tool(probe)
        print(f"  {'ok     ' if where else 'MISSING'} {name:<20} {groups}")
        print(f"          {where or 'install: ' + how}")
        if not where:
            missing.append((name, how))
    print("\nThe cold group also needs root (it drops the page cache) and the --drop-caches option.")
    if not missing:
        return 0
    if not install:
        print("\nInstall the missing ones (or rerun with `setup --install`, which runs these):")
        for _, how in missing:
            print("  " + how.split("   ")[0])
        return 1
    for name, how in missing:
        cmd = how.split("   ")[0]
        if cmd.startswith("https://"):
            print(f"cannot install {name} here: see {cmd}")
            continue
        if cmd.startswith("apt-get") and os.geteuid() != 0:
            print(f"{name}: apt-get needs root; run: sudo {cmd}")
            continue
        print(f"+ {cmd}")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        if subprocess.run(cmd, shell=True, env=env).returncode != 0:
            print(f"failed: {cmd}")
            return 1
    return 0


def machine():
    model = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = 0
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) / 2 ** 20
    except OSError:
        pass
    return dict(cpu=model, cores=len(os.sched_getaffinity(0)), mem_gib=round(mem, 1),
                os=f"{platform.system()} {platform.release()} {platform.machine()}")


def describe_machine(m):
    return f"{m['cpu']}, {m['cores']} cores, {m['mem_gib']} GiB of RAM, {m['os']}"


def commit():
    c = out(["git", "-C", ROOT, "rev-parse", "--short=12", "HEAD"]) or "unknown"
    if out(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"]):
        c += " (with uncommitted changes)"
    return c


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


class Context:
    pass


def parse(argv):
    p = argparse.ArgumentParser(prog="benches/bench", usage=USAGE, description=(
        "Benchmarks of chief-upload against baselines measured in the same run. "
        "See benches/README.md."))
    p.add_argument("--only", metavar="GROUP[,GROUP]", default="",
                   help="groups (or sets, by name or old number: P1, C3) to run; default: every group but peers "
                        "and cold: " + ", ".join(g for g in table.GROUPS if g not in table.ONLY_WHEN_NAMED))
    p.add_argument("--runs", type=int, metavar="N", help="at most N runs of each command (default: the set's: "
                   "3, peers and cold 5, one-run sets 1)")
    p.add_argument("--quick", action="store_true", help="tiny corpora (scale 0.01), one run: checks that every "
                   "scenario works; results go to the work folder, not benches/")
    p.add_argument("--scale", type=float, help="scale every corpus (default 1; --quick: 0.01)")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="override one size or knob (see `list`), e.g. soak_secs=30, seq_n=500")
    p.add_argument("--work", default=os.path.join(os.environ.get("TMPDIR", "/tmp"), "chiefbench"),
                   help="where corpora, caches and run outputs go, kept for the next run (default: %(default)s)")
    p.add_argument("--results", help="folder of the results' JSON (default: benches/results; --quick: "
                   "WORK/results-quick); RESULTS.md is written beside it")
    p.add_argument("--chief", metavar="BIN", help="measure this chief-upload instead of a fresh release build")
    p.add_argument("--before", metavar="BIN", help="also measure this (older) chief-upload, interleaved with "
                   "the build measured, in every row (not soak): a before/after comparison")
    p.add_argument("--no-build", action="store_true", help="use target/release as it is")
    p.add_argument("--drop-caches", action="store_true", help="allow the cold group to drop the page cache "
                   "before its cold runs (needs root: writes /proc/sys/vm/drop_caches)")
    p.add_argument("--explain", action="store_true", help="print every command the selected sets would run "
                   "(servers, prepare steps, commands), and run nothing")
    return p.parse_args(argv)


def select(only):
    allsets = {s.name: s for s in table.sets(table.sizes(1, False, {}), 2)}
    old = {}
    for s in allsets.values():
        for r in s.rows:
            old[r.old.split(" ")[0].lower()] = s.name
    if not only:
        return [n for n, s in allsets.items() if s.group not in table.ONLY_WHEN_NAMED]
    want = []
    for tok in only.replace(" ", ",").split(","):
        if not tok:
            continue
        names = [n for n, s in allsets.items() if s.group == tok] or (
            [tok] if tok in allsets else [old[tok.lower()]] if tok.lower() in old else None)
        if not names:
            raise SystemExit(f"benches/bench: unknown group or set '{tok}'; groups: {', '.join(table.GROUPS)}")
        want += [n for n in names if n not in want]
    return [n for n in allsets if n in want]


def build(ctx, args):
    tdir = os.path.join(ROOT, "target")
    if not args.no_build:
        say("== building release (cargo build --release)")
        what = ["--example", "fake_chief"] + ([] if args.chief else ["--bin", "chief-upload"])
        if subprocess.run(["cargo", "build", "--release", "--locked", "--quiet"] + what, cwd=ROOT).returncode != 0:
            die("cargo build failed")
        meta = out(["cargo", "metadata", "--format-version", "1", "--no-deps"], cwd=ROOT)
        if meta:
            import json
            tdir = json.loads(meta)["target_directory"]
    # Copies, so that builds by others during the run do not swap the binary under it.
    bindir = os.path.join(ctx.work, "bin")
    os.makedirs(bindir, exist_ok=True)
    src = {"chief-upload": args.chief or os.path.join(tdir, "release", "chief-upload"),
           "fake_chief": os.path.join(tdir, "release", "examples", "fake_chief")}
    if args.before:
        src["chief-upload-before"] = args.before
    for name, path in src.items():
        if not os.access(path, os.X_OK):
            die(f"{path} not found (build it, or drop --no-build)")
        shutil.copy2(path, os.path.join(bindir, name))

    def describe(path, given):
        v = out([path, "--version"]) or "?"
        return f"{v} ({given}, sha256 {sha256(path)})"
    ctx.chief = os.path.join(bindir, "chief-upload")
    ctx.fake = os.path.join(bindir, "fake_chief")
    ctx.before = os.path.join(bindir, "chief-upload-before") if args.before else None
    ctx.build = describe(ctx.chief, args.chief or "target/release/chief-upload of this commit")
    ctx.before_desc = describe(ctx.before, args.before) if args.before else None


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    cmd = argv.pop(0) if argv and argv[0] in ("run", "setup", "list", "render", "clean") else "run"
    if cmd == "setup":
        return setup("--install" in argv)
    args = parse(argv)
    quick = args.quick
    scale = args.scale if args.scale is not None else 0.01 if quick else 1
    try:
        overrides = dict(kv.split("=", 1) for kv in args.set)
        P = table.sizes(scale, quick, overrides)
    except (ValueError, KeyError) as e:
        raise SystemExit(f"benches/bench: bad --set {e}: NAME=VALUE with a NAME of `benches/bench list`")
    nproc = len(os.sched_getaffinity(0))
    values = table.derived(P, nproc)
    allsets = {s.name: s for s in table.sets(P, nproc)}
    work = os.path.abspath(args.work)
    results_dir = os.path.abspath(args.results or (os.path.join(work, "results-quick") if quick
                                                   else os.path.join(BENCHES, "results")))
    results_md = os.path.join(os.path.dirname(results_dir), "RESULTS.md" if not quick else "RESULTS-quick.md")

    if cmd == "clean":
        shutil.rmtree(work, ignore_errors=True)
        print(f"removed {work}")
        return 0
    if cmd == "render":
        text = report.render(results_dir, list(allsets), describe_machine)
        if text:
            open(results_md, "w").write(text)
            print(f"wrote {results_md}")
        return 0
    if cmd == "list":
        print("groups (--only GROUP; peers and cold only when named), their sets and rows:\n")
        for g in table.GROUPS:
            for s in allsets.values():
                if s.group == g:
                    print(f"{g:<9} set {s.name:<12} {s.title} ({s.runs} run{'s' if s.runs > 1 else ''})")
                    for r in s.rows:
                        print(f"            {r.name:<22} was {r.old:<18} {r.title.format(**values)}")
        print("\nsizes and knobs (--set NAME=VALUE), at scale", scale, "\n  "
              + "\n  ".join(f"{k} = {v}" for k, v in P.items()))
        return 0

    names = select(args.only)
    ctx = Context()
    ctx.work, ctx.nproc, ctx.values = work, nproc, values
    ctx.corpus_dir = os.path.join(work, "corpus")
    ctx.tools = {}
    base = {k: v for k, v in os.environ.items() if not k.startswith("CHIEF_") and k not in (
        "AWS_CA_BUNDLE", "AWS_PROFILE", "AWS_SESSION_TOKEN", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY",
        "http_proxy", "https_proxy", "all_proxy", "SSL_CERT_FILE")}
    base.update(XDG_CONFIG_HOME=os.path.join(work, "config"), XDG_CACHE_HOME=os.path.join(work, "cache-unused"))
    ctx.base_env = base
    ctx.peer_env = peer_env(work)

    if args.explain:
        ctx.chief = os.path.join(work, "bin", "chief-upload")
        ctx.fake = os.path.join(work, "bin", "fake_chief")
        ctx.before = os.path.join(work, "bin", "chief-upload-before") if args.before else None
        for t in ("rclone", "aws", "s3s-fs"):
            ctx.tools[t] = find_tool(t) or t
        ctx.res = os.path.join(work, "runs", "SET")
        runner = Runner(ctx)
        print("Every run: hyperfine -N --runs 1 --style none --output inherit --export-json RUN.json "
              "[--prepare 'sh -c PREPARE'] '/usr/bin/time -f %M -o RUN.rss COMMAND', with the server's "
              "environment; the rounds run the commands in the order below.\n")
        for n in names:
            s = allsets[n]
            runs = 1 if quick else min(s.runs, args.runs) if args.runs else s.runs
            print(f"== {n} ({s.group}): {s.title}; {runs} round(s)")
            for c, spec in s.corpora.items():
                print(f"   corpus {c}: {' '.join(map(str, spec))} -> {ctx.corpus_dir}/{c}")
            if s.s3_delay_ms:
                runner.delay_ms = s.s3_delay_ms
            for cmd in s.setup:
                print(f"   setup {cmd.label}: " + " ".join(runner.explain(cmd)))
            for cmd in runner.commands(s):
                print(f"   {cmd.label}")
                for line in runner.explain(cmd):
                    print(f"      {line}")
            if s.driver == "peers":
                for line in runner.peer_env_line():
                    print(f"   {line}")
            if s.driver == "soak":
                print("      its own driver (soak.py): a --watch, a writer, VmRSS samples, then a restart")
            runner.delay_ms = 0
            print()
        return 0

    # What the selected sets need.
    sel = [allsets[n] for n in names]
    if any(s.root for s in sel):
        if not args.drop_caches:
            raise SystemExit("benches/bench: the cold group drops the page cache before its cold runs: "
                             "add --drop-caches (as root)")
        if not os.access("/proc/sys/vm/drop_caches", os.W_OK):
            raise SystemExit("benches/bench: --drop-caches needs root (writes /proc/sys/vm/drop_caches)")
    needs = ["hyperfine", "/usr/bin/time", "md5sum", "curl", "bash", "xargs", "find"]
    needs += [t for s in sel for t in s.needs]
    missing = []
    for t in needs:
        where = find_tool(t)
        if not where:
            missing.append(t)
        ctx.tools[t] = where
    if missing:
        raise SystemExit(f"benches/bench: missing {', '.join(missing)}: see `benches/bench setup`")
    os.makedirs(ctx.corpus_dir, exist_ok=True)
    os.makedirs(os.path.join(work, "config"), exist_ok=True)
    wanted = {}
    for s in sel:
        wanted.update(s.corpora)
    need = corpus.missing_bytes(ctx.corpus_dir, wanted) + (100 << 20)
    need += sum(3 * corpus.nbytes(sp) for s in sel if s.driver == "peers" for sp in s.corpora.values())
    need += sum(values["soak_n"] * 8192 for s in sel if s.driver == "soak")
    free = shutil.disk_usage(work).free
    if free < need:
        raise SystemExit(f"benches/bench: needs {need >> 20} MiB free in {work}, has {free >> 20} MiB")

    def interrupted(signum, frame):
        raise KeyboardInterrupt
    # SIGTERM and SIGHUP end the run as Ctrl-C does: the servers started are stopped.
    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGHUP, interrupted)
    try:
        build(ctx, args)
        peers_versions = None
        if any(s.driver == "peers" for s in sel):
            aws = subprocess.run([ctx.tools["aws"], "--version"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 text=True).stdout.split(" ")[:2]
            first = lambda cmd: (out(cmd).splitlines() or ["?"])[0]
            peers_versions = "; ".join([first([ctx.tools["s3s-fs"], "--version"]),
                                        first([ctx.tools["rclone"], "version"]), " ".join(aws)])
        os.makedirs(results_dir, exist_ok=True)
        runner = Runner(ctx)
        broken = []
        say(f"== {describe_machine(machine())}; measuring {ctx.build}; work in {work}")
        for s in sel:
            runs = 1 if quick else min(s.runs, args.runs) if args.runs else s.runs
            say(f"== {s.name} ({s.group}): {s.title}; {runs} round(s)")
            ctx.res = os.path.join(work, "runs", s.name)
            shutil.rmtree(ctx.res, ignore_errors=True)
            os.makedirs(ctx.res)
            load0 = loadavg()
            started = datetime.datetime.now(datetime.timezone.utc)
            records, extra = runner.measure(s, runs)
            load1 = loadavg()
            rows, details = report.rows(s, records, extra, values, nproc, quick)
            broken += [r["name"] for r in rows if r["figure"].startswith("not computed")]
            commands = {}
            for r in records:
                commands.setdefault(r["label"], r["command"])
            if "command" in extra:
                commands["soak"] = extra.pop("command")
            if s.driver == "peers":
                runner.delay_ms = s.s3_delay_ms
                commands["rclone and aws"] = runner.peer_env_line()
                runner.delay_ms = 0
            meta = dict(date=started.strftime("%Y-%m-%d %H:%M UTC"), commit=commit(), build=ctx.build,
                        before=ctx.before_desc, machine=machine(), scale=scale, quick=quick,
                        load_before=load0, load_after=load1,
                        seconds=round((datetime.datetime.now(datetime.timezone.utc) - started).total_seconds()),
                        hyperfine=out(["hyperfine", "--version"]), peers=peers_versions if s.driver == "peers" else None)
            data = dict(set=s.name, group=s.group, title=s.title, meta=meta, runs_per_command=runs, sizes=values,
                        rows=rows, details=details, commands=commands, extra=extra, runs=records)
            report.save(os.path.join(results_dir, f"{s.name}.json"), data)
            text = report.render(results_dir, list(allsets), describe_machine)
            with open(results_md, "w") as f:
                f.write(text)
            print(report.render_set(data, commands=False), flush=True)
            say(f"   {s.name} took {meta['seconds']} s")
        say(f"wrote {results_md} and {results_dir}/; corpora kept in {ctx.corpus_dir} "
            f"(benches/bench clean removes them)")
        if broken:
            say(f"benches/bench: rows not computed: {', '.join(broken)}")
            return 1
        return 0
    except BenchError as e:
        say(f"benches/bench: {e}")
        return 1
    except KeyboardInterrupt:
        say("interrupted")
        return 130
    finally:
        stop_all()
