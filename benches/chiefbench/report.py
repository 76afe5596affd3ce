"""The results: one JSON file a set (every run's record, hyperfine's JSON included, and the
rows computed from them), and RESULTS.md rendered from all of them."""
import glob
import json
import os

from .figures import M


def rows(s, records, extra, P, nproc, quick):
    """The set's rows, computed: a list of dicts (the JSON keeps them as they were shown)."""
    m = M(records, extra, nproc)
    out = []
    for row in s.rows:
        try:
            fig = row.figure(m, P)
        except Exception as e:  # noqa: BLE001 (any bug in a figure: the runs are saved all the same)
            # The runs are kept (the JSON has them); the row says what it could not compute.
            fig = dict(ours="", base="", value=None, shown=f"not computed: {type(e).__name__} {e}")
        goal = fig.get("goal") or row.goal
        met = goal.met(fig["value"]) if goal else None
        r = dict(name=row.name, old=row.old, title=row.title.format(**P), ours=fig["ours"], base=fig["base"],
                 figure=fig["shown"], goal=goal.describe(P) if goal else "",
                 met="" if met is None else "-" if quick else "yes" if met else "NO",
                 rss=f"{m.rss(fig['rss']):.1f}" if fig.get("rss") else "")
        p = fig.get("primary")
        if r["figure"].startswith("not computed") and goal:
            r["met"] = "NO"
        if p and m.has(p + "@before"):
            b, now = m.med(p + "@before"), m.med(p)
            r["before"] = f"{m.t(p + '@before')}; {m.rss(p + '@before'):.1f} MiB"
            r["now_vs_before"] = f"{now / b:.2f}x"
        out.append(r)
    details = None
    if s.details:
        hdr, drows = s.details(m, P)
        details = dict(header=hdr, rows=drows)
    return out, details


def save(path, data):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1)
        f.write("\n")
    os.replace(tmp, path)


def _table(header, rows):
    esc = lambda c: str(c).replace("|", "\\|")
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(esc(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def render_set(d, commands=True):
    """One set's section of RESULTS.md (also printed at the end of a run)."""
    meta = d["meta"]
    runs = d["runs_per_command"]
    how = "one run each" if runs == 1 else f"median (and spread) of {runs} interleaved runs"
    lines = [f"### {d['set']}: {d['title']}", ""]
    lines.append(f"Measured {meta['date']} at commit {meta['commit']}; {meta['build']}"
                 + (f"; before: {meta['before']}" if meta.get("before") else "")
                 + f". Scale {meta['scale']}, {how}; load average {meta['load_before']} before, "
                   f"{meta['load_after']} after." + (" **Quick run: tiny corpora, a check that every "
                                                     "scenario works; its figures mean nothing.**" if meta["quick"] else ""))
    if meta.get("peers"):
        lines.append(f"Peers: {meta['peers']}.")
    lines.append("")
    hdr = ["row", "was", "what", "chief-upload", "baseline", "figure", "goal", "met", "peak RSS MiB"]
    before = any("before" in r for r in d["rows"])
    if before:
        hdr += ["before", "now / before"]
    lines.append(_table(hdr, [[f"`{r['name']}`", r["old"], r["title"], r["ours"], r["base"], r["figure"], r["goal"],
                               r["met"], r["rss"]] + ([r.get("before", ""), r.get("now_vs_before", "")] if before else [])
                              for r in d["rows"]]))
    if d.get("details"):
        lines += ["", _table(d["details"]["header"], d["details"]["rows"])]
    if not commands:
        return "\n".join(lines + [""])
    lines += ["", "<details><summary>Commands</summary>", "", "```"]
    for label, cmd in d["commands"].items():
        lines.append(f"# {label}")
        lines += cmd
    lines += ["```", "", "</details>", ""]
    return "\n".join(lines)


def render(results_dir, order, machine_of):
    """RESULTS.md from every set's JSON in results_dir, in the table's order."""
    found = {}
    for p in glob.glob(os.path.join(results_dir, "*.json")):
        with open(p) as f:
            d = json.load(f)
        found[d["set"]] = d
    if not found:
        return None
    out = ["# chief-upload benchmark results", "",
           "Written by `benches/bench` (benches/chiefbench) from the raw data in "
           f"`{os.path.basename(results_dir.rstrip('/'))}/` (one JSON file a set: every run, hyperfine's JSON "
           "included); do not edit by hand. How to run and what each group measures: "
           "[benches/README.md](README.md).", ""]
    machines = sorted({json.dumps(d["meta"]["machine"], sort_keys=True) for d in found.values()})
    for mj in machines:
        out.append("Machine: " + machine_of(json.loads(mj)) + ".")
    out += ["", "Times are wall-clock seconds, the page cache warm unless the row says cold; "
            "\"figure\" is what the goal judges (\"met\" is `-` for a quick run). Every run is one "
            "`hyperfine -N --runs 1 --export-json` of `/usr/bin/time -f %M COMMAND` (peak RSS), with "
            "hyperfine's `--prepare` for the \"prepare\" step; a \"server\" is started fresh before "
            "every run of its command, which runs with the CHIEF_* environment it prints.", ""]
    groups = []
    for name in order:
        if name in found:
            g = found[name]["group"]
            if g not in groups:
                groups.append(g)
    for g in groups:
        out += [f"## {g}", ""]
        for name in order:
            if name in found and found[name]["group"] == g:
                out.append(render_set(found[name]))
    return "\n".join(out)
