"""The corpora: files of random bytes, made once per size under WORK/corpus/NAME and kept
(a .done-NAME file beside them records the spec they were made for, so a later run at the
same sizes reuses them). Every file is dated an hour back: older than the hash cache's
racy window (2 s), as any file not just written is.
"""
import os
import shutil
import subprocess
import time

from .util import say

# kind, then its arguments (see make()):
#   split N SIZE        N files of SIZE bytes in one folder, named f000000.bin, ...
#   one MIB             one file big.bin of MIB MiB
#   folders F N SIZE    N files of SIZE bytes spread over F folders d01..dF (N rounded up)
#   deep FANOUT         a tree 10 levels deep, FANOUT folders a level, one 1 KiB file in each
#   spread N PER SIZE   N files of SIZE bytes, PER a folder (d0000/f000.bin, ...)


def spec(kind, *args):
    return (kind,) + tuple(int(a) for a in args)


def nbytes(s):
    """Disk space a corpus takes, counting a 4 KiB block for every small file."""
    kind, *a = s
    block = lambda size: max(4096, (size + 4095) // 4096 * 4096)
    if kind == "split":
        return a[0] * block(a[1])
    if kind == "one":
        return a[0] << 20
    if kind == "folders":
        return (a[1] + a[0] - 1) // a[0] * a[0] * block(a[2])
    if kind == "deep":
        return (2 ** 11) * 8192
    if kind == "spread":
        return a[0] * block(a[2])
    raise ValueError(kind)


def count(s):
    """Files in a corpus."""
    kind, *a = s
    if kind == "split":
        return a[0]
    if kind == "one":
        return 1
    if kind == "folders":
        return (a[1] + a[0] - 1) // a[0] * a[0]
    if kind == "deep":
        return sum(a[0] ** level for level in range(11))
    if kind == "spread":
        return a[0]
    raise ValueError(kind)


def _age(root):
    old = time.time() - 3600
    for d, _, files in os.walk(root):
        for f in files:
            os.utime(os.path.join(d, f), (old, old))


def _random_file(path, size):
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 8 << 20)
            f.write(os.urandom(n))
            left -= n


def _split(root, n, size):
    os.makedirs(root, exist_ok=True)
    if size >= 65536:
        for i in range(n):
            _random_file(os.path.join(root, f"f{i:06d}.bin"), size)
        return
    # Small files: one draw of random bytes for many files (os.urandom per file is slow).
    per = max(1, (8 << 20) // size)
    for first in range(0, n, per):
        k = min(per, n - first)
        data = os.urandom(k * size)
        for j in range(k):
            with open(os.path.join(root, f"f{first + j:06d}.bin"), "wb") as f:
                f.write(data[j * size:(j + 1) * size])


def _deep(root, fanout, depth=0):
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, "f.bin"), "wb") as f:
        f.write(os.urandom(1024))
    if depth < 10:
        for i in range(fanout):
            _deep(os.path.join(root, f"d{i}"), fanout, depth + 1)


def _spread(root, n, per, size):
    data = os.urandom(size * n)
    for i in range(n):
        d = os.path.join(root, f"d{i // per:04d}")
        if i % per == 0:
            os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, f"f{i % per:03d}.bin"), "wb") as f:
            f.write(data[size * i:size * (i + 1)])


def make(root, s):
    kind, *a = s
    if kind == "split":
        _split(root, *a)
    elif kind == "one":
        os.makedirs(root, exist_ok=True)
        _random_file(os.path.join(root, "big.bin"), a[0] << 20)
    elif kind == "folders":
        folders, n, size = a
        for i in range(1, folders + 1):
            _split(os.path.join(root, f"d{i:02d}"), (n + folders - 1) // folders, size)
    elif kind == "deep":
        _deep(root, a[0])
    elif kind == "spread":
        _spread(root, *a)
    else:
        raise ValueError(kind)
    _age(root)


def ensure(corpus_dir, name, s):
    """WORK/corpus/NAME as spec s says, made now unless it already is."""
    root = os.path.join(corpus_dir, name)
    done = os.path.join(corpus_dir, f".done-{name}")
    want = " ".join(map(str, s))
    try:
        if open(done).read().strip() == want:
            return root
    except OSError:
        pass
    say(f"   making corpus {name} ({want})")
    shutil.rmtree(root, ignore_errors=True)
    try:
        os.unlink(done)
    except OSError:
        pass
    make(root, s)
    with open(done, "w") as f:
        f.write(want + "\n")
    return root


def missing_bytes(corpus_dir, wanted):
    """Bytes still to write for the corpora wanted ({name: spec}) that are not made yet."""
    total = 0
    for name, s in wanted.items():
        try:
            if open(os.path.join(corpus_dir, f".done-{name}")).read().strip() == " ".join(map(str, s)):
                continue
        except OSError:
            pass
        total += nbytes(s)
    return total


def hardlink_first(src, dst, n):
    """dst/ holds hard links to the first n files of src/ (by name): the same bytes, fewer."""
    shutil.rmtree(dst, ignore_errors=True)
    os.makedirs(dst)
    for name in sorted(os.listdir(src))[:n]:
        os.link(os.path.join(src, name), os.path.join(dst, name))


def warm(*roots):
    """Read every file under roots, so that the page cache holds them."""
    for r in roots:
        subprocess.run(["sh", "-c", 'find "$1" -type f -print0 | xargs -0 -r cat > /dev/null', "_", r],
                       check=True)
