"""How a row's figure is computed from its set's measurements, and its goal.

A figure function takes the measurements (M) and the sizes (P) and returns a dict:
  ours, base   the text of chief-upload's figure and of its baseline (same rounds)
  value        the number the goal is judged on (None: no goal)
  shown        the text of that number (a ratio, a share, MiB, ...)
  primary      the label whose twin (--before) the before column shows
  rss          the label whose peak RSS the row shows
  goal         a Goal that replaces the row's (when it depends on what was measured)
"""
import statistics
from dataclasses import dataclass


@dataclass
class Goal:
    op: str                 # "<=", ">=", "<", "within" (|value - 1| <= limit), "true"
    limit: float = None
    unit: str = "x"
    text: str = None

    def describe(self, P=None):
        if self.text:
            return self.text.format(**(P or {}))
        if self.op == "within":
            return f"within {self.limit * 100:g}%"
        if self.unit == "%":
            return f"{self.op} {self.limit * 100:g}%"
        return f"{self.op} {self.limit:g}{self.unit}"

    def met(self, value):
        if value is None:
            return None
        return {"<=": lambda: value <= self.limit, ">=": lambda: value >= self.limit,
                "<": lambda: value < self.limit, "within": lambda: abs(value - 1) <= self.limit,
                "true": lambda: bool(value)}[self.op]()


class M:
    """The measurements of one set: run records by label."""

    def __init__(self, records, extra=None, nproc=1):
        self.by = {}
        for r in records:
            self.by.setdefault(r["label"], []).append(r)
        self.extra = extra or {}
        self.nproc = nproc

    def has(self, label):
        return label in self.by

    def recs(self, label):
        if label not in self.by:
            raise KeyError(f"no measurement {label}")
        return self.by[label]

    def times(self, label):
        return [r["time"] for r in self.recs(label)]

    def med(self, label):
        return statistics.median(self.times(label))

    def cpu(self, label):
        return statistics.median(r["user"] + r["system"] for r in self.recs(label))

    def fcpu(self, label):
        return statistics.median(r["server_cpu"] for r in self.recs(label))

    def scpu(self, label):
        return statistics.median(r["s3_cpu"] for r in self.recs(label))

    def rss(self, label):
        return max(r["rss_kib"] for r in self.recs(label)) / 1024

    def t(self, label):
        """The median time, and the spread of the runs when there are several."""
        ts = self.times(label)
        s = f"{statistics.median(ts):.2f} s"
        if len(ts) > 1:
            s += f" ({min(ts):.2f}-{max(ts):.2f})"
        return s


def _fig(ours, base, value, shown, primary=None, rss=None, goal=None):
    return dict(ours=ours, base=base, value=value, shown=shown, primary=primary, rss=rss, goal=goal)


def ratio(a, b, pct=False):
    def fig(m, P):
        v = m.med(a) / m.med(b)
        return _fig(m.t(a), m.t(b), v, f"{100 * v:.1f}%" if pct else f"{v:.2f}x", a, a)
    return fig


def rss(a):
    def fig(m, P):
        v = m.rss(a)
        return _fig(m.t(a), "", v, f"{v:.1f} MiB", a, a)
    return fig


def cache_second(m, P):
    f = ratio("cache_second", "cache_first", pct=True)(m, P)
    f["base"] += f"; --no-cache {m.med('cache_nocache'):.2f} s"
    return f


def tree_ceiling(m, P):
    ht, mt, mp = m.med("tree_chief"), m.med("tree_md5sum"), m.med("tree_md5sum_par")
    return _fig(m.t("tree_chief"), m.t("tree_md5sum_par"), None,
                f"{ht / mt:.2f}x vs {mp / mt:.2f}x of sequential md5sum")


def small_loop(m, P):
    sc = m.med("small_chief")
    seq = m.med("small_seq") * P["small_n"] / P["seq_n"]
    return _fig(m.t("small_chief"), f"{seq:.2f} s", seq / sc, f"{seq / sc:.1f}x faster", "small_chief")


def overlap(both, upload):
    def fig(m, P):
        oh, ou, ob = m.med("ov_hash"), m.med(upload), m.med(both)
        v = ob / (oh + ou)
        return _fig(m.t(both), f"{oh + ou:.2f} s (hash-only {oh:.2f} + upload-only {ou:.2f})", v, f"{v:.2f}x",
                    both, both)
    return fig


def cpu_floor(m, P):
    oh, ou = m.med("ov_hash"), m.med("ov_upload")
    chief, fake = m.cpu("ov_both"), m.fcpu("ov_both")
    busy = (chief + fake) / m.nproc
    return _fig(m.t("ov_both"), f"{busy:.2f} s (CPU: chief-upload {chief:.2f} + fake {fake:.2f})", None,
                f"{busy / (oh + ou):.2f}x of hash-only + upload-only")


def first_upload(m, P):
    first, bound, n = m.recs("many_chief")[-1]["first"]
    ok = 0 <= first < bound
    return _fig(f"{first:.2f} s", f"{bound:.2f} s" if bound >= 0 else "n/a (fewer files than the queues hold)",
                ok, f"{n} file lines")


def deep_tree(m, P):
    return _fig(m.t("deep_chief"), "", True, f"{P['deep_n']} uploaded", "deep_chief", "deep_chief")


def outage(m, P):
    on, oo = m.med("outage_run"), m.med("outage_none")
    last = m.recs("outage_run")[-1]
    down = last["stats"][-1]["api"]["total"]["outage_requests"] if last.get("stats") else -1
    failed = (last.get("summary") or {}).get("failed", -1)
    ok = failed == 0 and 0 <= down <= 40 and on - oo <= P["out_for"] + 10
    return _fig(m.t("outage_run"), m.t("outage_none"), ok,
                f"+{on - oo:.1f} s; {failed} failed; {down} requests while down", "outage_run")


def tls(m, P):
    th, tp = m.med("tls_https"), m.med("tls_http")
    st = m.recs("tls_https")[-1].get("stats") or [{}]
    hs = lambda side: st[-1].get(side, {}).get("total", {}).get("tls_handshakes", "?")
    return _fig(m.t("tls_https"), m.t("tls_http"), None,
                f"{th / tp:.2f}x; TLS handshakes: API {hs('api')}, storage {hs('storage')}", "tls_https", "tls_https")


def tiny_cpu(m, P):
    c, b = m.cpu("tiny_nocache"), m.cpu("tiny_md5sum")
    return _fig(f"{c:.2f} CPU s", f"{b:.2f} CPU s", None, f"{c / b:.2f}x" if b else "n/a")


def _fixed(m, prefix):
    return {j: m.med(f"{prefix}_j{j}") for j in ("8", "16", "32", "64", "128", "256") if m.has(f"{prefix}_j{j}")}


def best_fixed(prefix, invert=False):
    """-j auto vs the best fixed -j: auto/best, or best/auto (files/s) when invert."""
    def fig(m, P):
        a = m.med(f"{prefix}_jauto")
        t = _fixed(m, prefix)
        j = min(t, key=t.get)
        v = t[j] / a if invert else a / t[j]
        return _fig(m.t(f"{prefix}_jauto"), f"{m.t(f'{prefix}_j{j}')} (-j {j})", v, f"{v:.2f}x",
                    f"{prefix}_jauto", f"{prefix}_jauto")
    return fig


def vs_fixed(prefix, j):
    def fig(m, P):
        a, b = m.med(f"{prefix}_jauto"), m.med(f"{prefix}_j{j}")
        return _fig(m.t(f"{prefix}_jauto"), m.t(f"{prefix}_j{j}"), b / a, f"{b / a:.1f}x", f"{prefix}_jauto")
    return fig


def fixed_list(prefix):
    def fig(m, P):
        return _fig("", "", None, ", ".join(f"-j {j} {v:.2f} s" for j, v in _fixed(m, prefix).items()))
    return fig


def link_in_flight(m, P):
    late = []
    for r in m.recs("link_jauto"):
        run = r.get("stats") or []
        start = next((i for i, d in enumerate(run) if d["api"]["requests"] > 0), 0)
        late.append(max([d["storage"]["peak_in_flight"] for d in run[start + 2:]] or [0]))
    worst = max(late)
    return _fig(str(worst), "", worst, "per run: " + ", ".join(map(str, late)), "link_jauto")


def pushback_share(m, P):
    shares = []
    for r in m.recs("push_jauto"):
        total = r["stats"][-1]["api"]["total"]
        shares.append(total["throttled"] / max(1, total["requests"]))
    worst = max(shares)
    return _fig(f"{100 * worst:.1f}%", "", worst, "per run: " + ", ".join(f"{100 * s:.1f}%" for s in shares),
                "push_jauto")


CAP = 20 << 20   # --bwlimit 20M


def _bw_runs(m):
    avgs, peaks = [], []
    for r in m.recs("bw_chief"):
        b = [d["storage"]["bytes"] for d in r.get("stats") or []]
        moving = [i for i, x in enumerate(b) if x > 0]
        if not moving:
            continue
        whole = b[moving[0] + 1:moving[-1]] or b[moving[0]:moving[-1] + 1]
        avgs.append(sum(whole) / len(whole))
        peaks.append(max(b))
    return avgs, peaks


def bw_average(m, P):
    avgs, _ = _bw_runs(m)
    worst = max(avgs, key=lambda v: abs(v - CAP))
    return _fig(f"{worst / 2 ** 20:.2f} MiB/s", "20.00 MiB/s", worst / CAP, f"{worst / CAP:.3f}x", "bw_chief", "bw_chief")


def bw_busiest(m, P):
    _, peaks = _bw_runs(m)
    p = max(peaks)
    return _fig(f"{p / 2 ** 20:.2f} MiB/s", "20.00 MiB/s", p / CAP, f"{p / CAP:.2f}x", "bw_chief")


def watch_rss(m, P):
    e = m.extra
    grew = (e["rss_end_kib"] - e["rss_start_kib"]) / 1024
    peak = max(e["rss_samples_kib"] + [e["rss_end_kib"]]) / 1024
    return _fig(f"{e['rss_end_kib'] / 1024:.1f} MiB", f"{e['rss_start_kib'] / 1024:.1f} MiB", grew,
                f"+{grew:.1f} MiB (peak {peak:.1f}); all in {e['took']:.0f} s")


def watch_restart(m, P):
    e = m.extra
    return _fig(f"{e['restart_requests']} requests", "", e["restart_requests"] == 0 and e["restart_lines"] == 0,
                f"{e['restart_lines']} file lines")


# ---- peers ------------------------------------------------------------------------------

def _peer_times(m, key):
    tools = {}
    for label, recs in m.by.items():
        if label.startswith(key + "_") and "@" not in label:
            tool, setting = recs[0]["tool"]
            tools.setdefault(tool, {})[setting] = m.med(label)
    return tools


def peer_vs_fixed(key):
    def fig(m, P):
        chief = _peer_times(m, key)["chief-upload"]
        d = chief["auto"]
        fixed = {j: t for j, t in chief.items() if j != "auto"}
        bj = min(fixed, key=fixed.get)
        return _fig(m.t(f"{key}_chief_jauto"), f"{m.t(f'{key}_chief_j{bj}')} (-j {bj})", d / fixed[bj],
                    f"{d / fixed[bj]:.2f}x", f"{key}_chief_jauto", f"{key}_chief_jauto")
    return fig


def peer_vs_peers(key):
    def fig(m, P):
        tools = _peer_times(m, key)
        d = tools["chief-upload"]["auto"]
        peers = [(t, tool, s) for tool, settings in tools.items() if tool != "chief-upload"
                 for s, t in settings.items()]
        t, tool, s = min(peers)
        label = next(l for l, r in m.by.items() if tuple(r[0]["tool"]) == (tool, s) and l.startswith(key + "_"))
        return _fig(m.t(f"{key}_chief_jauto"), f"{m.t(label)} ({tool} {s})", d / t, f"{d / t:.2f}x",
                    f"{key}_chief_jauto")
    return fig


KNOB = {"chief-upload": "-j", "rclone": "--transfers/--checkers", "aws s3 cp": "max_concurrent_requests"}


def peer_details(key, rate):
    """Every tool at every setting: median, rate, CPU of the tool, the API and s3s-fs, RSS."""
    unit, amount = rate

    def table(m, P):
        hdr = ["tool", "setting", "median (spread)", "rate", "tool CPU s", "API CPU s", "s3s-fs CPU s", "peak RSS MiB"]
        rows = []
        for label, recs in m.by.items():
            if not label.startswith(key + "_"):
                continue
            tool, s = recs[0]["tool"]
            before = label.endswith("@before")
            setting = "default" if s in ("default", "auto") else f"{KNOB[tool]} {s}"
            if tool == "chief-upload" and s == "auto":
                setting = "default (-j auto)"
            t = m.med(label)
            rows.append([tool + (" (before)" if before else ""), setting, m.t(label),
                         f"{amount / t:.0f} {unit}/s", f"{m.cpu(label):.2f}",
                         f"{m.fcpu(label):.2f}" if tool == "chief-upload" else "", f"{m.scpu(label):.2f}",
                         f"{m.rss(label):.1f}"])
        return hdr, rows
    return table


# ---- cold -------------------------------------------------------------------------------

def cold_row(key, state, ps, vs_best):
    def fig(m, P):
        chief = f"{key}_{state}_chief"
        t = m.med(chief)
        base = {p: m.med(f"{key}_{state}_p{p}") for p in ps}
        bp = min(base, key=base.get)
        before = chief + "@before"
        goal = None
        if vs_best:
            goal = Goal("<=", 1.0, text="<= 1.0x the best N")
            v = t / base[bp]
        elif m.has(before):
            # Within 5% of the older build: the noise of one median here.
            goal = Goal("<=", 1.05, text="<= before (within 5%)")
            v = t / m.med(before)
        else:
            v = None
        return _fig(m.t(chief), m.t(f"{key}_{state}_p{bp}") + (f" (-P {bp})" if len(ps) > 1 else " (md5sum)"), v,
                    f"{t / base[bp]:.2f}x of xargs", chief, chief, goal)
    return fig


def cold_details(key, ps):
    def table(m, P):
        hdr = ["page cache"] + [f"-P {p}" for p in ps] + ["chief-upload"] + (
            ["before"] if m.has(f"{key}_cold_chief@before") else [])
        rows = []
        for state in ("cold", "warm"):
            row = [state] + [m.t(f"{key}_{state}_p{p}") for p in ps] + [m.t(f"{key}_{state}_chief")]
            if m.has(f"{key}_cold_chief@before"):
                row.append(m.t(f"{key}_{state}_chief@before"))
            rows.append(row)
        return hdr, rows
    return table
