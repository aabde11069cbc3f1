#!/usr/bin/env python3
"""Turns the raw rows of one benchmark part into markdown tables.

  summarize.py RAW_TSV PART "tool1 tool2 ..."

RAW_TSV rows (written by bench/lib.sh): part step tool run wall_s cpu_s rss_kb bytes status.
The first tool with results is the subject; ratios compare it with every other tool.
"""

import statistics
import sys

STEPS = [
    ("backup1", "first backup"),
    ("backup2", "second backup (5% changed)"),
    ("restore", "full restore (+ sync)"),
    ("check", "check, reading all data"),
]
MB = 1e6
MIB = 1 << 20


def load(path, part):
    rows = []
    with open(path) as f:
        for line in f:
            cols = line.rstrip("\n").split("\t")
            if len(cols) != 9 or cols[0] != part:
                continue
            p, step, tool, run, wall, cpu, rss, value, status = cols
            rows.append({
                "step": step, "tool": tool, "run": int(run),
                "wall": float(wall) if wall else None, "cpu": float(cpu) if cpu else None,
                "rss": int(rss) * 1024 if rss else None, "value": int(value or 0),
                "status": int(status or 0),
            })
    return rows


def fmt_range(values):
    med = statistics.median(values)
    if len(values) == 1:
        return "%.2f" % med
    return "%.2f (%.2f–%.2f)" % (med, min(values), max(values))


def main():
    raw, part, tools = sys.argv[1], sys.argv[2], sys.argv[3].split()
    rows = load(raw, part)
    tools = [t for t in tools if any(r["tool"] == t for r in rows)]
    out = []
    w = out.append

    def timings(step, tool):
        return [r for r in rows if r["step"] == step and r["tool"] == tool]

    def ok_walls(step, tool):
        return [r["wall"] for r in timings(step, tool) if r["status"] == 0]

    def sizes(step, tool):
        return [r["value"] for r in rows if r["step"] == "size:" + step and r["tool"] == tool
                and r["status"] == 0]

    runs = sorted({r["run"] for r in rows})
    changed = [r["value"] for r in rows if r["step"] == "changed"]
    src = [r["value"] for r in rows if r["step"] == "backup1"]
    w("## Part `%s`\n" % part)
    if src:
        w("Source: %.0f MB; second backup after changing %.0f MB (%.1f%%). %d run(s); "
          "median (min–max) of the runs that succeeded.\n" % (
              src[0] / MB, (changed[0] if changed else 0) / MB,
              100.0 * (changed[0] if changed else 0) / src[0], len(runs)))

    w("| step | tool | wall s | MB/s | CPU s | peak RSS MiB | status |")
    w("|---|---|---|---|---|---|---|")
    med_wall = {}
    peak_rss = {}
    for step, title in STEPS:
        for tool in tools:
            all_rows = timings(step, tool)
            if not all_rows:
                continue
            good = [r for r in all_rows if r["status"] == 0]
            failed = [r for r in all_rows if r["status"] != 0]
            status = "ok" if not failed else "%d of %d failed (exit %s)" % (
                len(failed), len(all_rows), ",".join(str(r["status"]) for r in failed))
            if not good:
                w("| %s | %s | — | — | — | — | %s |" % (title, tool, status))
                continue
            walls = [r["wall"] for r in good]
            med = statistics.median(walls)
            med_wall[(step, tool)] = med
            rss = max(r["rss"] for r in good)
            peak_rss[(step, tool)] = rss
            w("| %s | %s | %s | %.0f | %.1f | %.0f | %s |" % (
                title, tool, fmt_range(walls), good[0]["value"] / MB / med,
                statistics.median(r["cpu"] for r in good), rss / MIB, status))
    w("")

    w("| repository size MB | " + " | ".join(tools) + " |")
    w("|---|" + "---|" * len(tools))
    repo = {}
    for step, title in (("backup1", "after first backup"), ("backup2", "after second backup")):
        cells = []
        for tool in tools:
            s = sizes(step, tool)
            if s:
                repo[(step, tool)] = statistics.median(s)
                cells.append("%.0f" % (repo[(step, tool)] / MB))
            else:
                cells.append("—")
        w("| %s | %s |" % (title, " | ".join(cells)))
    verify = [r for r in rows if r["step"] == "verify"]
    if verify:
        cells = []
        for tool in tools:
            v = [r for r in verify if r["tool"] == tool]
            cells.append("—" if not v else ("identical" if all(r["status"] == 0 for r in v)
                                             else "DIFFERS"))
        w("| restored tree vs source | %s |" % " | ".join(cells))
    w("")

    if len(tools) >= 2:
        subject, peers = tools[0], tools[1:]
        w("Ratios, %s vs each peer (speed: peer wall / %s wall, >1 means %s is faster; "
          "size and RSS: %s / peer, <1 means %s is smaller):\n" % (
              subject, subject, subject, subject, subject))
        w("| measure | " + " | ".join("vs " + p for p in peers) + " |")
        w("|---|" + "---|" * len(peers))

        def ratio(a, b):
            return "%.2f×" % (a / b) if a and b else "—"

        for step, title in STEPS:
            w("| speed: %s | %s |" % (title, " | ".join(
                ratio(med_wall.get((step, p)), med_wall.get((step, subject))) for p in peers)))
        for step, title in (("backup1", "after first backup"), ("backup2", "after second backup")):
            w("| repository size %s | %s |" % (title, " | ".join(
                ratio(repo.get((step, subject)), repo.get((step, p))) for p in peers)))
        for step, title in STEPS:
            w("| peak RSS: %s | %s |" % (title, " | ".join(
                ratio(peak_rss.get((step, subject)), peak_rss.get((step, p))) for p in peers)))
        w("")

    if "bulwark" in tools and "restic" in tools:
        def target(name, ok):
            return "| %s | %s |" % (name, "met" if ok else "NOT met")

        def faster(step):
            b, r = med_wall.get((step, "bulwark")), med_wall.get((step, "restic"))
            return b is not None and r is not None and r / b >= 1.5

        b_repo, r_repo = repo.get(("backup2", "bulwark")), repo.get(("backup2", "restic"))
        rss = [v for (s, t), v in peak_rss.items() if t == "bulwark"]
        w("| target (issue 2) | result |")
        w("|---|---|")
        w(target("first backup ≥ 1.5× restic's throughput", faster("backup1")))
        w(target("restore ≥ 1.5× restic's throughput", faster("restore")))
        w(target("repository no larger than restic's",
                 b_repo is not None and r_repo is not None and b_repo <= r_repo))
        w(target("peak RSS < 300 MiB in every step", bool(rss) and max(rss) < 300 * MIB))
        w("")

    print("\n".join(out))


if __name__ == "__main__":
    main()
