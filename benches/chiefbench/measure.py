"""Running a set: its corpora, then its rounds, every run one hyperfine invocation.

Why one hyperfine call a run (`hyperfine -N --runs 1 --export-json`) rather than one call
with --runs N: most rows need a fresh fake server before every run (it dedups content),
on an ephemeral port whose address the command's environment must carry, which
hyperfine's --prepare cannot hand over; and chief-upload and its baselines alternate run
by run, so that a drift of the shared machine's load hits both alike.
hyperfine's --prepare still does what can be said in a shell line: emptying a hash cache,
dropping or filling the page cache. The median and the spread of a command come from the
`times` of its runs' JSON. /usr/bin/time -f %M in front of the command gives its peak RSS;
user and system CPU come from hyperfine.
"""
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time

from . import corpus
from .servers import Delay, Fake, S3, S3_ACCESS, S3_REGION, S3_SECRET, read_stats
from .util import die, say, spawn, stop, tail

HERE = os.path.dirname(os.path.abspath(__file__))
DROP_CACHES = "sync; echo 3 > /proc/sys/vm/drop_caches"


def shell_warm(d):
    return f"find {shlex.quote(d)} -type f -print0 | xargs -0 -r cat > /dev/null"


class Runner:
    def __init__(self, ctx):
        self.ctx = ctx            # paths, binaries, params (cli.Context)
        self.run_seq = 0
        self.s3 = None
        self.s3_addr = None       # what the tools use: s3s-fs, or the delaying proxy before it
        self.delay_ms = 0
        self._digests = {}

    # ---- the command line of one run ---------------------------------------------------

    def fill(self, s, label, extra=None):
        c = self.ctx
        v = dict(c.values, chief=c.chief, c=c.corpus_dir, w=c.work, res=c.res, label=label, nproc=c.nproc,
                 python=sys.executable, curl_one=os.path.join(HERE, "curl_one.sh"),
                 helpers=os.path.join(HERE, "helpers.py"), rclone=c.tools.get("rclone", "rclone"),
                 aws=c.tools.get("aws", "aws"), s3=self.s3_addr or "S3", run=f"run{self.run_seq}")
        v.update(extra or {})
        return s.format(**v)

    def binary(self, label):
        return self.ctx.before if label.endswith("@before") else self.ctx.chief

    def cache_dir(self, name, label):
        return os.path.join(self.ctx.work, "cache", name + ("@before" if label.endswith("@before") else ""))

    def argv(self, cmd):
        return [self.fill(a, cmd.label, {"chief": self.binary(cmd.label)}) for a in cmd.argv]

    def env(self, cmd, server_env=None):
        e = dict(self.ctx.base_env)
        e.update(server_env or {})
        if cmd.cache:
            e["XDG_CACHE_HOME"] = self.cache_dir(cmd.cache, cmd.label)
        for k, v in cmd.env.items():
            e[k] = self.fill(v, cmd.label)
        if cmd.tool and cmd.tool[0] != "chief-upload":
            e.update(self.ctx.peer_env)
        return e

    def prepare(self, cmd):
        steps = []
        if cmd.reset:
            steps.append(f"rm -rf {shlex.quote(self.cache_dir(cmd.reset, cmd.label))}")
        if cmd.page_cache == "cold":
            steps.append(DROP_CACHES)
        elif cmd.page_cache == "warm":
            d = next(a for a in self.argv(cmd) if a.startswith(self.ctx.corpus_dir))
            steps.append(shell_warm(d))
        return "; ".join(steps)

    def hyperfine(self, cmd, json_path, rss_path):
        hf = ["hyperfine", "-N", "--runs", "1", "--style", "none", "--output", "inherit",
              "--export-json", json_path]
        p = self.prepare(cmd)
        if p:
            hf += ["--prepare", "sh -c " + shlex.quote(p)]
        return hf + [shlex.join(["/usr/bin/time", "-f", "%M", "-o", rss_path] + self.argv(cmd))]

    def explain(self, cmd):
        """The command as a person reruns it: the server, the prepare step, the command."""
        lines = []
        if cmd.fake == "presign":
            lines.append(f"server: {self.ctx.fake} --s3 S3  (fresh before every run; S3: s3s-fs"
                         + (f" behind a {self.delay_ms} ms delaying proxy, the API too" if self.delay_ms else "") + ")")
        elif cmd.fake is not None:
            lines.append("server: " + shlex.join([self.ctx.fake, "--no-record"] + self.fake_args(cmd))
                         + "  (fresh before every run)")
        p = self.prepare(cmd)
        if p:
            lines.append("prepare: " + p)
        env = []
        if cmd.cache:
            env.append(f"XDG_CACHE_HOME={self.cache_dir(cmd.cache, cmd.label)}")
        env += [f"{k}={self.fill(v, cmd.label)}" for k, v in cmd.env.items()]
        lines.append("run: " + " ".join(env + [shlex.join(self.argv(cmd))]))
        return lines

    def peer_env_line(self):
        """How rclone and the AWS CLI reach s3s-fs (AWS_CONFIG_FILE adds path-style and the
        concurrency; S3 is s3s-fs's address, or the delaying proxy's)."""
        return ["env of rclone and aws: " + " ".join(f"{k}={shlex.quote(v)}" for k, v in self.ctx.peer_env.items()),
                f"s3s-fs: s3s-fs --host 127.0.0.1 --port 0 --access-key {S3_ACCESS} --secret-key {S3_SECRET} "
                "ROOT (ROOT/chief-interop the bucket)"
                + (f"; S3 is a delay_proxy.py {self.delay_ms} in front of it" if self.delay_ms else "")]

    def fake_args(self, cmd, stats=None):
        args = [self.fill(a, cmd.label) for a in cmd.fake]
        if cmd.stats:
            args += ["--stats", stats or os.path.join(self.ctx.res, f"{cmd.label}.stats")]
        return args

    # ---- one run -------------------------------------------------------------------------

    def run(self, cmd, rnd):
        c = self.ctx
        label = cmd.label
        self.run_seq += 1
        json_path = os.path.join(c.res, f"{label}.r{rnd}.json")
        rss_path = os.path.join(c.res, f"{label}.r{rnd}.rss")
        stats_path = os.path.join(c.res, f"{label}.r{rnd}.stats")
        out_path, err_path = os.path.join(c.res, f"{label}.out"), os.path.join(c.res, f"{label}.err")
        server, delay, server_env = None, None, {}
        if cmd.fake == "presign":
            server = Fake(c.fake, ["--s3", self.s3_addr], c.work)
            server_env = dict(server.env)
            if self.delay_ms:
                delay = Delay(server.env["CHIEF_API_URL"].split("://", 1)[1], self.delay_ms, c.work)
                server_env["CHIEF_API_URL"] = "http://" + delay.addr
        elif cmd.fake is not None:
            if cmd.stats and os.path.exists(stats_path):
                os.unlink(stats_path)
            server = Fake(c.fake, ["--no-record"] + self.fake_args(cmd, stats_path), c.work)
            server_env = server.env
        s3_before = self.s3.cpu() if self.s3 else 0.0
        hf = self.hyperfine(cmd, json_path, rss_path)
        with open(out_path, "wb") as o, open(err_path, "wb") as e:
            p = spawn(hf, group=True, stdout=o, stderr=e, env=self.env(cmd, server_env))
            try:
                rc = p.wait()
            finally:
                stop(p)
        rec = dict(label=label, round=rnd)
        if rc != 0:
            self.stop_servers(server, delay)
            die(f"{label} failed (hyperfine exit {rc}): {tail(err_path)}")
        with open(json_path) as f:
            h = json.load(f)["results"][0]
        rec.update(time=h["times"][0], user=h["user"], system=h["system"], hyperfine=h,
                   command=self.explain(cmd))
        with open(rss_path) as f:
            rec["rss_kib"] = int(f.read().split()[-1])
        if server is not None:
            rec["server_cpu"] = server.cpu()
        if self.s3:
            rec["s3_cpu"] = self.s3.cpu() - s3_before
        if cmd.stats:
            time.sleep(1.2)   # the fake writes its counts once a second
            rec["stats"] = read_stats(stats_path)
        self.stop_servers(server, delay)
        if cmd.tool:
            rec["tool"] = list(cmd.tool)
        self.check(cmd, rec, out_path, err_path)
        return rec

    def stop_servers(self, server, delay):
        if delay:
            delay.stop()
        if server:
            server.stop()

    def summary(self, path):
        last = None
        with open(path, errors="replace") as f:
            for line in f:
                if '"event":"summary"' in line:
                    last = json.loads(line)
        return last

    def check(self, cmd, rec, out_path, err_path):
        label = cmd.label
        json_path = self.fill(cmd.json_out, label) if cmd.json_out else out_path
        if "--json" in cmd.argv or cmd.json_out:
            rec["summary"] = self.summary(json_path)
        if cmd.json_out and label.startswith("many_chief"):
            with open(os.path.join(self.ctx.res, f"{label}.first")) as f:
                first, bound, n = f.read().split()
            rec["first"] = [float(first), float(bound), int(n)]
        if not cmd.expect:
            return
        kind, want = cmd.expect
        if kind == "uploaded":
            got = (rec.get("summary") or {}).get("uploaded")
            if got != want:
                die(f"{label}: uploaded {got} files, expected {want} (failed: {(rec.get('summary') or {}).get('failed')})")
        elif kind == "planned":
            with open(err_path, errors="replace") as f:
                err = f.read()
            if not re.search(rf"would upload {want} files? \(", err):
                die(f"{label}: expected {want} files planned: {tail(err_path, 1)}")
        elif kind == "digest":
            path = self.fill(want, label)
            if path not in self._digests:
                h = hashlib.md5()
                with open(path, "rb") as f:
                    for chunk in iter(lambda: f.read(1 << 20), b""):
                        h.update(chunk)
                self._digests[path] = h.hexdigest()
            with open(json_path) as f:
                got = [json.loads(l).get("md5") for l in f if '"event":"file"' in l]
            if got != [self._digests[path]]:
                die(f"{label}: chief-upload's MD5 {got} is not md5sum's {self._digests[path]}")
        elif kind == "objects":
            pass
        if self.s3 and cmd.tool:
            n = self.s3.objects()
            want_objects = want if kind in ("objects", "uploaded") else None
            if want_objects is not None and n != want_objects:
                die(f"{label}: {n} objects in the bucket, expected {want_objects}: {tail(err_path, 3)}")
            self.s3.empty()

    # ---- a set -------------------------------------------------------------------------

    def commands(self, s):
        """The set's commands, each chief-upload one followed by its --before twin."""
        out = []
        for cmd in s.commands:
            out.append(cmd)
            if self.ctx.before and cmd.chief:
                out.append(_twin(cmd))
        return out

    def measure(self, s, runs):
        c = self.ctx
        for name, spec in s.corpora.items():
            corpus.ensure(c.corpus_dir, name, spec)
        for name, (src, n) in s.links.items():
            corpus.hardlink_first(os.path.join(c.corpus_dir, src), os.path.join(c.corpus_dir, name), n)
        if s.warm:
            corpus.warm(*[os.path.join(c.corpus_dir, w) for w in s.warm])
        if s.driver == "soak":
            from .soak import soak
            return [], soak(self, s)
        for cmd in s.setup:
            for x in [cmd] + ([_twin(cmd)] if c.before and cmd.chief else []):
                if x.cache:
                    shutil.rmtree(self.cache_dir(x.cache, x.label), ignore_errors=True)
                r = subprocess.run(self.argv(x), env=self.env(x), capture_output=True, text=True)
                if r.returncode != 0:
                    die(f"{x.label} failed: {r.stderr.strip()[-400:]}")
        if s.driver == "peers":
            self.peers_up(s)
        records = []
        try:
            cmds = self.commands(s)
            for rnd in range(1, runs + 1):
                say(f"   round {rnd}/{runs}")
                for cmd in cmds:
                    records.append(self.run(cmd, rnd))
        finally:
            self.peers_down()
        return records, {}

    # ---- peers: one s3s-fs for the set, the tools' configuration ---------------------------

    def peers_up(self, s):
        c = self.ctx
        self.s3 = S3(c.tools["s3s-fs"], os.path.join(c.work, "s3s-fs"), c.work)
        self.s3_addr = self.s3.addr
        self.delay_ms = s.s3_delay_ms
        self.s3_delay = None
        if s.s3_delay_ms:
            # One delaying proxy in front of s3s-fs for every tool (their endpoint, and the
            # host the API presigns for); chief-upload's runs get one before the API too.
            self.s3_delay = Delay(self.s3.addr, s.s3_delay_ms, c.work)
            self.s3_addr = self.s3_delay.addr
        say(f"   s3s-fs on {self.s3.addr}" + (f", through the delaying proxy {self.s3_addr}" if s.s3_delay_ms else ""))
        with open(os.path.join(c.work, "rclone.conf"), "w"):
            pass
        for cfg in ("default", "10", "32", "128"):
            with open(os.path.join(c.work, f"aws-{cfg}.cfg"), "w") as f:
                f.write("[default]\ns3 =\n    addressing_style = path\n")
                if cfg != "default":
                    f.write(f"    max_concurrent_requests = {cfg}\n")

    def peers_down(self):
        if getattr(self, "s3_delay", None):
            self.s3_delay.stop()
            self.s3_delay = None
        if self.s3:
            self.s3.stop()
            self.s3 = None
        self.s3_addr, self.delay_ms = None, 0


def peer_env(work):
    """The environment rclone and the AWS CLI run with: s3s-fs's keys, path-style, no profile."""
    return {"AWS_ACCESS_KEY_ID": S3_ACCESS, "AWS_SECRET_ACCESS_KEY": S3_SECRET, "AWS_DEFAULT_REGION": S3_REGION,
            "AWS_REGION": S3_REGION, "AWS_EC2_METADATA_DISABLED": "true", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
            "AWS_PAGER": "", "RCLONE_CONFIG": os.path.join(work, "rclone.conf"), "RCLONE_CONFIG_S3_TYPE": "s3",
            "RCLONE_CONFIG_S3_PROVIDER": "Other", "RCLONE_CONFIG_S3_ACCESS_KEY_ID": S3_ACCESS,
            "RCLONE_CONFIG_S3_SECRET_ACCESS_KEY": S3_SECRET, "RCLONE_CONFIG_S3_REGION": S3_REGION,
            "RCLONE_CONFIG_S3_FORCE_PATH_STYLE": "true"}


def _twin(cmd):
    from dataclasses import replace
    return replace(cmd, label=cmd.label + "@before")
