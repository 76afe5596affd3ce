"""Logging, failing, and the processes this program started (ended at exit, by their ids)."""
import os
import signal
import subprocess
import sys
import time

_T0 = time.monotonic()
_children = []


class BenchError(Exception):
    """A scenario failed: the message says which and why."""


def say(msg):
    print(f"[{time.monotonic() - _T0:4.0f}s] {msg}", file=sys.stderr, flush=True)


def die(msg):
    raise BenchError(msg)


def tail(path, n=5):
    try:
        with open(path, errors="replace") as f:
            return " | ".join(line.rstrip() for line in f.readlines()[-n:])
    except OSError:
        return ""


def spawn(argv, group=False, **kw):
    """A background process, ended at exit if still running. With group, it leads a process
    group of its own, and ending it ends the group (hyperfine and the command it times)."""
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, start_new_session=group, **kw)
    p.group = group
    _children.append(p)
    return p


def stop(p, sig=signal.SIGTERM):
    if p is None:
        return
    if p.poll() is None:
        send = (lambda s: os.killpg(p.pid, s)) if p.group else p.send_signal
        try:
            send(sig)
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            send(signal.SIGKILL)
            p.wait()
        except ProcessLookupError:
            pass
    if p in _children:
        _children.remove(p)


def stop_all():
    for p in list(_children):
        stop(p)


def pid_cpu(pid):
    """User + system CPU seconds of a running process."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(") ", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def vmrss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def wait_for(pred, timeout, what, step=0.05):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            die(what)
        time.sleep(step)


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def out(cmd, **kw):
    """stdout of a command, stripped; empty if it cannot run."""
    try:
        return subprocess.run(cmd, capture_output=True, text=True, **kw).stdout.strip()
    except OSError:
        return ""
