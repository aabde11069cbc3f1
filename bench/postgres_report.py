#!/usr/bin/env python3
"""Markdown report of the postgres bench part from raw.tsv rows (see bench/lib.sh).

Usage: postgres_report.py RAW_TSV
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from report_lib import Rows  # noqa: E402

R = Rows(sys.argv[1], "postgres")
vals, med, span, failed = R.vals, R.med, R.span, R.failed


def version(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True).stdout.strip().splitlines()[0]
    except (OSError, IndexError):
        return "unknown"


data = med("data_bytes", "all", "value") or 0
segments = int(med("wal_segments", "all", "value") or 0)
runs = len(vals("full", "bulwark", "wall"))
print("## Part `postgres`\n")
print(f"Cluster: pgbench plus the ticks table, data directory {data / 2**20:.0f} MiB without pg_wal; "
      f"{version(['pgbackrest', 'version'])} (process-max=2, zst level 1), "
      f"{version(['/usr/lib/postgresql/15/bin/pg_basebackup', '--version'])}. "
      f"Median (min–max) of {runs} runs; restores include a final sync. "
      "The last column is the peer's time divided by bulwark's (above 1: bulwark is faster).\n")
print("| step | tool | wall s | MB/s | CPU s | peak RSS MiB | peer / bulwark |")
print("|---|---|---|---|---|---|---|")
names = {"full": "full backup", "incr": "incremental backup", "restore": "restore (+ sync)",
         "wal-push-sync": f"archive {segments} WAL segments, synchronous",
         "wal-push-async": f"archive {segments} WAL segments, asynchronous"}
for step in ("full", "incr", "restore", "wal-push-sync", "wal-push-async"):
    b = med(step, "bulwark", "wall")
    for tool in ("bulwark", "pgbackrest", "pg_basebackup", "cp-a"):
        w = med(step, tool, "wall")
        if w is None:
            if failed(step, tool):
                print(f"| {names[step]} | {tool} | failed | | | | |")
            continue
        size = (segments * 16 * 2**20) if step.startswith("wal-push") else data
        ratio = "" if tool == "bulwark" or not b else f"{w / b:.2f}x"
        label = "cp -a (stopped, + sync)" if tool == "cp-a" else tool
        print(f"| {names[step]} | {label} | {w:.2f} ({span(step, tool)}) | {size / 1e6 / w:.0f} | "
              f"{med(step, tool, 'cpu'):.1f} | {med(step, tool, 'rss') / 1024:.0f} | {ratio} |")

print()
print("| stored | bulwark MB | pgbackrest MB | pg_basebackup MB |")
print("|---|---|---|---|")


def mb(step, tool, digits=0):
    v = med(step, tool, "value")
    return "–" if v is None else f"{v / 1e6:.{digits}f}"


print(f"| full backup | {mb('stored:full', 'bulwark')} | {mb('stored:full', 'pgbackrest')} | "
      f"{mb('size:full', 'pg_basebackup')} |")
print(f"| incremental | {mb('stored:incr', 'bulwark', 1)} | {mb('stored:incr', 'pgbackrest', 1)} | |")
print(f"| repository after both, with WAL | {mb('size:repo', 'bulwark')} | "
      f"{mb('size:repo', 'pgbackrest')} | |")
print(f"| archive of {segments} WAL segments | {mb('size:wal-sync', 'bulwark')} | "
      f"{mb('size:wal-sync', 'pgbackrest')} | |")
print()

print("| target (issue 3) | result |")
print("|---|---|")


def target(text, ok, detail):
    print(f"| {text} | {detail}: {'met' if ok else 'NOT met'} |")


bf, pf = med("full", "bulwark", "wall"), med("full", "pgbackrest", "wall")
if bf and pf:
    target("full backup at least 1.5x faster than pgBackRest", pf / bf >= 1.5, f"{pf / bf:.2f}x")
br, pr, cp = (med("restore", t, "wall") for t in ("bulwark", "pgbackrest", "cp-a"))
if br and pr:
    target("restore at least 1.5x faster than pgBackRest", pr / br >= 1.5, f"{pr / br:.2f}x")
if br and cp:
    target("restore at least half the speed of cp -a", br <= 2 * cp, f"{cp / br:.2f}x of cp's speed")
bi, pi = med("stored:incr", "bulwark", "value"), med("stored:incr", "pgbackrest", "value")
bt, pt = med("incr", "bulwark", "wall"), med("incr", "pgbackrest", "wall")
if bi is not None and pi:
    target("incremental stores at most 1/4 of pgBackRest's, in less time",
           bi <= pi / 4 and bt is not None and pt is not None and bt < pt,
           f"{100 * bi / pi:.0f}% of the bytes, {bt:.2f}s vs {pt:.2f}s")
for tool in ("bulwark", "pgbackrest"):
    v = R.status("verify", tool)
    if v is not None:
        print(f"| {tool}'s restore has every file of the source at its size | "
              f"{'yes' if v == '0' else 'NO'} |")
print()
