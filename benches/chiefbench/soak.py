"""Rows watch-rss and watch-restart (10a, 10b): not a whole-command timing, so measured here.

The watch starts on an empty folder; a writer (helpers.py write) creates the files at a
steady pace, in folders of 500 that appear as it goes, each file in two writes (so some
are seen half-written). VmRSS is read once the first pass is over, every second, and once
every file is uploaded. Then the same watch restarts over the same tree, against the same
fake (the record is per API and project), and must send no request at all.
"""
import json
import os
import shutil
import signal
import sys
import time

from .servers import Fake, read_stats
from .util import die, say, spawn, tail, vmrss_kib, wait_for


def soak(runner, s):
    c = runner.ctx
    P = c.values
    n, secs = P["soak_n"], P["soak_secs"]
    root = os.path.join(c.work, "soak")
    cache = os.path.join(c.work, "cache", "soak")
    stats = os.path.join(c.res, "soak.stats")
    for p in (root, cache):
        shutil.rmtree(p, ignore_errors=True)
    os.makedirs(root)
    if os.path.exists(stats):
        os.unlink(stats)
    fake = Fake(c.fake, ["--no-record", "--stats", stats], c.work)
    env = dict(c.base_env, XDG_CACHE_HOME=cache, **fake.env)
    argv = [c.chief, "--watch", "--json", "--progress-interval", "0.5", root]
    extra = {"command": [f"server: {c.fake} --no-record --stats {stats}",
                         f"run: XDG_CACHE_HOME={cache} " + " ".join(argv),
                         f"writer: python3 {os.path.join(os.path.dirname(__file__), 'helpers.py')} write {root} {n} {secs}"]}

    def start(label):
        out, err = os.path.join(c.res, f"{label}.out"), os.path.join(c.res, f"{label}.err")
        with open(out, "wb") as o, open(err, "wb") as e:
            p = spawn(argv, stdout=o, stderr=e, env=env)

        def started():
            if p.poll() is not None:
                die(f"{label}: the watch ended: {tail(err)}")
            with open(err, errors="replace") as f:
                return any(line.startswith("watching ") for line in f)
        wait_for(started, 60, f"{label}: the watch did not start: {tail(err)}", 0.1)
        return p, out, err

    def finish(p, label, out, err):
        # SIGTERM must end the watch with 0 and a summary.
        p.send_signal(signal.SIGTERM)
        rc = p.wait(timeout=60)
        if rc != 0:
            die(f"{label}: the watch ended with {rc} after SIGTERM: {tail(err)}")
        lines = [json.loads(l) for l in open(out)]
        if not any(d.get("event") == "summary" for d in lines):
            die(f"{label}: no summary line")
        return lines

    def file_lines(path):
        with open(path, errors="replace") as f:
            return sum(1 for line in f if '"event":"file"' in line)

    def api_requests():
        time.sleep(1.2)   # the fake writes its counts once a second
        return read_stats(stats)[-1]["api"]["total"]["requests"]

    try:
        say(f"   {n} x 4 KiB over {secs} s under --watch")
        p, out, err = start("soak")
        extra["rss_start_kib"] = vmrss_kib(p.pid)
        t0 = time.monotonic()
        writer = spawn([sys.executable, os.path.join(os.path.dirname(__file__), "helpers.py"), "write", root,
                        str(n), str(secs)])
        samples = []
        deadline = t0 + secs * 5 + 120
        while file_lines(out) < n:
            if time.monotonic() > deadline:
                die(f"soak: {file_lines(out)} of {n} files uploaded in time: {tail(err, 3)}")
            if p.poll() is not None:
                die(f"soak: the watch ended: {tail(err)}")
            samples.append(vmrss_kib(p.pid))
            time.sleep(1)
        if writer.wait() != 0:
            die("soak: the writer failed")
        extra["took"] = time.monotonic() - t0
        extra["rss_end_kib"] = vmrss_kib(p.pid)
        extra["rss_samples_kib"] = samples
        lines = finish(p, "soak", out, err)
        summary = [d for d in lines if d.get("event") == "summary"][-1]
        if summary.get("uploaded") != n or summary.get("failed"):
            die(f"soak: uploaded {summary.get('uploaded')} of {n}, {summary.get('failed')} failed")
        seen = {}
        for d in lines:
            if d.get("event") == "file":
                seen.setdefault(d["path"], []).append(d)
        if len(seen) != n or not all(len(v) == 1 and v[0]["size"] == 4096 for v in seen.values()):
            die("soak: a file was uploaded twice, or not complete")

        say("   the same watch restarted")
        before = api_requests()
        p, out, err = start("soak_restart")

        def idle():
            # Every file looked at, nothing in flight.
            with open(err, errors="replace") as f:
                return any(line.startswith("watching ") and line.rstrip().endswith("; idle") for line in f)
        wait_for(idle, 120, f"soak_restart: never idle: {tail(err, 3)}", 0.1)
        extra["restart_rss_kib"] = vmrss_kib(p.pid)
        lines = finish(p, "soak_restart", out, err)
        extra["restart_requests"] = api_requests() - before
        extra["restart_lines"] = sum(1 for d in lines if d.get("event") == "file")
        if extra["restart_requests"] or extra["restart_lines"]:
            die("soak: the restart sent requests for unchanged files")
    finally:
        fake.stop()
    return extra
