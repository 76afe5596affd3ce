#!/usr/bin/env python3
"""Small processes the benchmark starts beside chief-upload (standard library only; run
by path, so that they need no package on sys.path):

    helpers.py stamp OUT FIRST BOUND T0
                                       read chief-upload's --json lines on stdin, copy them
                                       to OUT, and write to FIRST "first bound n": the
                                       seconds since T0 (the Unix time the pipeline started)
                                       at which the first `uploaded` file line arrived, at
                                       which file line n - BOUND arrived (-1 if there were
                                       fewer), and n
    helpers.py write ROOT N SECS       create N files of 4 KiB under ROOT at a steady pace
                                       over SECS seconds, in folders of 500 made as it goes,
                                       each file in two writes (row watch-rss)
"""
import json
import os
import sys
import time


def stamp(out_path, first_path, bound, t0):
    t0 = float(t0)
    first = None
    stamps = []
    with open(out_path, "w") as out:
        for line in sys.stdin:
            d = json.loads(line)
            if d.get("event") == "file":
                stamps.append(time.time() - t0)
                if first is None and d.get("outcome") == "uploaded":
                    first = stamps[-1]
            out.write(line)
    b = int(bound)
    walk_end = stamps[len(stamps) - b] if len(stamps) > b else -1
    with open(first_path, "w") as f:
        f.write("%.3f %.3f %d\n" % (first if first is not None else -1, walk_end, len(stamps)))


def write(root, n, secs):
    n, secs = int(n), float(secs)
    start = time.monotonic()
    for i in range(n):
        d = os.path.join(root, f"d{i // 500:03d}")
        os.makedirs(d, exist_ok=True)
        data = os.urandom(4096)
        with open(os.path.join(d, f"f{i:06d}.bin"), "wb") as f:
            f.write(data[:2048])
            f.flush()
            f.write(data[2048:])
        # The writer's own pace: file i is due at i * secs / n.
        ahead = start + (i + 1) * secs / n - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)


if __name__ == "__main__":
    what, args = sys.argv[1], sys.argv[2:]
    {"stamp": stamp, "write": write}[what](*args)
