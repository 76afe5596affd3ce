"""The servers a row uploads to, all on 127.0.0.1: the fake Chief server
(examples/fake_chief.rs, started with the row's flags), its presigning twin in front of
s3s-fs (`fake_chief --s3`), s3s-fs itself, and the delaying proxy (delay_proxy.py)."""
import json
import os
import re
import shutil
import sys
import time

from .util import die, pid_cpu, spawn, stop, tail, wait_for

HERE = os.path.dirname(os.path.abspath(__file__))

# What fake_chief::presign expects of the S3 server (crates/fake-chief/src/presign.rs).
S3_ACCESS = "chiefinteropaccess"
S3_SECRET = "chief-interop-secret-0123456789abcdef"
S3_BUCKET = "chief-interop"
S3_REGION = "us-east-1"


class Fake:
    """One fake_chief process: `env` is what it printed (CHIEF_API_URL, ...)."""

    def __init__(self, binary, args, work):
        self.args = list(args)
        env_path = os.path.join(work, "fake.env")
        log = open(os.path.join(work, "fake.log"), "ab")
        with open(env_path, "wb") as env_out:
            self.proc = spawn([binary] + self.args, stdout=env_out, stderr=log)
        log.close()

        def ready():
            if self.proc.poll() is not None:
                die(f"fake_chief {' '.join(self.args)} ended: {tail(os.path.join(work, 'fake.log'))}")
            with open(env_path) as f:
                lines = f.read().splitlines()
            return lines if len(lines) >= 3 else None

        lines = wait_for(ready, 10, f"fake_chief did not start: {tail(os.path.join(work, 'fake.log'))}")
        self.env = dict(line.split("=", 1) for line in lines if "=" in line)
        url = self.env.get("CHIEF_API_URL", "")
        if not re.match(r"https?://127\.0\.0\.1:\d+", url):
            die(f"fake server not on loopback: {url}")

    def cpu(self):
        return pid_cpu(self.proc.pid)

    def stop(self):
        stop(self.proc)


def read_stats(path):
    """The --stats lines of a fake (one a second)."""
    try:
        with open(path) as f:
            return [json.loads(line) for line in f if line.strip()]
    except OSError:
        return []


class S3:
    """One s3s-fs on 127.0.0.1, storing under root; `addr` is HOST:PORT."""

    def __init__(self, binary, root, work):
        self.root = root
        shutil.rmtree(root, ignore_errors=True)
        os.makedirs(os.path.join(root, S3_BUCKET))
        logp = os.path.join(work, "s3s-fs.log")
        log = open(logp, "wb")
        env = dict(os.environ, RUST_LOG="info", NO_COLOR="1")
        self.proc = spawn([binary, "--host", "127.0.0.1", "--port", "0", "--access-key", S3_ACCESS,
                           "--secret-key", S3_SECRET, root], stdout=log, stderr=log, env=env)
        log.close()

        def addr():
            if self.proc.poll() is not None:
                die(f"s3s-fs ended: {tail(logp)}")
            with open(logp, errors="replace") as f:
                m = re.search(r"server is running at http://([0-9.]+:[0-9]+)", f.read())
            return m and m.group(1)

        self.addr = wait_for(addr, 10, f"s3s-fs did not start: {tail(logp)}")
        if not self.addr.startswith("127.0.0.1:"):
            die(f"s3s-fs not on loopback: {self.addr}")

    def cpu(self):
        return pid_cpu(self.proc.pid)

    def objects(self):
        return sum(len(files) for _, _, files in os.walk(os.path.join(self.root, S3_BUCKET)))

    def empty(self):
        b = os.path.join(self.root, S3_BUCKET)
        shutil.rmtree(b)
        os.mkdir(b)

    def stop(self):
        stop(self.proc)


class Delay:
    """delay_proxy.py in front of target (HOST:PORT), ms each way; `addr` is its address."""

    def __init__(self, target, ms, work):
        logp = os.path.join(work, "delay.log")
        outp = os.path.join(work, f"delay.{os.getpid()}.{time.monotonic_ns()}.addr")
        log = open(logp, "ab")
        with open(outp, "wb") as out:
            self.proc = spawn([sys.executable, os.path.join(HERE, "delay_proxy.py"), target, str(ms)],
                              stdout=out, stderr=log)
        log.close()

        def addr():
            if self.proc.poll() is not None:
                die(f"delaying proxy ended: {tail(logp)}")
            with open(outp) as f:
                return f.readline().strip()

        self.addr = wait_for(addr, 10, f"delaying proxy did not start: {tail(logp)}")
        os.unlink(outp)

    def stop(self):
        stop(self.proc)
