#!/usr/bin/env python3
"""The s3 bench part's helpers (see bench/s3.sh).

  s3_report.py requests RGW_LOG OFFSET   S3 requests radosgw logged after byte OFFSET:
                                         prints "count peak mean", where peak and mean are
                                         the GETs and PUTs in flight at once (mean: their
                                         summed latency over the span from the first start
                                         to the last end)
  s3_report.py report RAW_TSV            markdown report of the part from raw.tsv rows
"""
import datetime
import os
import re
import subprocess
import sys

# radosgw's beast access line: "<end time> <thread> 1 beast: <req>: <ip> - <user> [<start>]
# "<method> <uri> <proto>" <status> <bytes> - "<agent>" - latency=<seconds>s"
BEAST = re.compile(r'^(\S+) .* beast: .*\] "(\w+) \S+ [^"]*" (\d+) .* latency=([0-9.]+)s')


def requests(log, offset):
    spans, count = [], 0
    with open(log, "rb") as f:
        f.seek(offset)
        for raw in f:
            m = BEAST.match(raw.decode("utf-8", "replace"))
            if not m:
                continue
            count += 1
            if m.group(2) not in ("GET", "PUT"):
                continue
            end = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()
            spans.append((end - float(m.group(4)), end))
    if not spans:
        print(count, 0, 0)
        return
    events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans],
                    key=lambda x: (x[0], x[1]))
    peak = cur = 0
    for _, d in events:
        cur += d
        peak = max(peak, cur)
    span = max(e for _, e in spans) - min(s for s, _ in spans)
    mean = sum(e - s for s, e in spans) / span if span > 0 else 1
    print(count, peak, f"{mean:.1f}")


def version(cmd):
    try:
        out = subprocess.run(cmd, capture_output=True, text=True)
        return (out.stdout + out.stderr).strip().splitlines()[0]
    except (OSError, IndexError):
        return "unknown"


def report(raw):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from report_lib import Rows

    R = Rows(raw, "s3")
    med, span, failed = R.med, R.span, R.failed
    size = {"files": med("files_bytes", "all", "value") or 0,
            "pg": med("pg_bytes", "all", "value") or 0,
            "big": med("big_bytes", "all", "value") or 0}
    # Runs of whichever step groups ran (BENCH_S3_STEPS may leave some out).
    runs = max(len(R.vals(f"{g}-backup", t, "wall"))
               for g in ("files", "pg", "big") for t in ("bulwark-s3", "aws-cli"))
    data = []
    if R.vals("files-backup", "bulwark-s3", "wall"):
        data.append(f"files corpus {size['files'] / 1e6:.0f} MB (bench/gen_corpus.py)")
    if R.vals("pg-backup", "bulwark-s3", "wall"):
        data.append(f"PostgreSQL data directory {size['pg'] / 1e6:.0f} MB without pg_wal "
                    "(pgbench plus ticks; `aws s3 cp` copies it stopped)")
    if R.vals("big-backup", "bulwark-s3", "wall"):
        data.append(f"one file of {size['big'] / 1e6:.0f} MB of random bytes")
    nodelay = ("`tcp_nodelay=1`" if med("rgw_tcp_nodelay", "all", "value")
               else "`tcp_nodelay` off as Ceph's default")
    print("## Part `s3`\n")
    print(f"S3 server: the one-machine Ceph sandbox (scripts/ceph-sandbox.sh: "
          f"{version(['ceph', '--version']).split('(')[0].strip()}, 1 mon, 3 bluestore OSDs on "
          "sparse files of this machine's one disk, 3 replicas, radosgw with beast, "
          f"{nodelay}) on loopback. "
          f"Peer: {version(['aws', '--version']).split(' ')[0]} at its defaults "
          "(`max_concurrent_requests` 10, `multipart_threshold` and `multipart_chunksize` 8 MiB). "
          "Bulwark at its defaults (`BULWARK_S3_UPLOADS` 8 pack uploads in flight; packs above "
          "64 MiB as multipart uploads of 16 MiB parts, 4 at a time). "
          f"Data: {'; '.join(data) or 'none'}. "
          f"Median (min–max) of {runs} runs; cold page cache before every step; restores include "
          "a final sync. S3 requests from radosgw's access log: the count, and GETs and PUTs in "
          "flight at once (peak / mean over the transfer).\n")
    print("| step | tool | wall s | MB/s | CPU s | peak RSS MiB | stored MB | S3 requests | "
          "in flight peak / mean |")
    print("|---|---|---|---|---|---|---|---|---|")
    names = {"files-backup": "files: backup", "files-restore": "files: restore (+ sync)",
             "pg-backup": "PostgreSQL: backup", "pg-restore": "PostgreSQL: restore (+ sync)",
             "big-backup": "one large file: backup",
             "big-restore": "one large file: restore (+ sync)"}
    tools = ("bulwark-s3", "bulwark-local", "aws-cli")
    for step, label in names.items():
        data = size[step.split("-")[0]]
        for tool in tools:
            w = med(step, tool, "wall")
            if w is None:
                if failed(step, tool):
                    print(f"| {label} | {tool} | failed | | | | | | |")
                continue
            stored = med(f"stored:{step.split('-')[0]}", tool, "value") \
                if step.endswith("backup") else None
            n = med(f"requests:{step}", tool, "value")
            peak, mean = med(f"peak:{step}", tool, "value"), med(f"mean:{step}", tool, "value")
            print(f"| {label} | {tool} | {w:.2f} ({span(step, tool)}) | {data / 1e6 / w:.0f} | "
                  f"{med(step, tool, 'cpu'):.1f} | {med(step, tool, 'rss') / 1024:.0f} | "
                  f"{'' if stored is None else f'{stored / 1e6:.0f}'} | "
                  f"{'' if n is None else f'{n:.0f}'} | "
                  f"{'' if peak is None else f'{peak:.0f} / {mean:.1f}'} |")
    print()
    print("Speed ratios (the other tool's wall time divided by bulwark-s3's: above 1, Bulwark "
          "through S3 is faster):\n")
    print("| step | aws s3 cp / bulwark-s3 | bulwark-local / bulwark-s3 |")
    print("|---|---|---|")
    for step, label in names.items():
        b = med(step, "bulwark-s3", "wall")
        if not b:
            continue
        cells = []
        for peer in ("aws-cli", "bulwark-local"):
            w = med(step, peer, "wall")
            cells.append("–" if w is None else f"{w / b:.2f}x")
        print(f"| {label} | {cells[0]} | {cells[1]} |")
    print()
    print("| target (issue 4) | result |")
    print("|---|---|")
    for kind, steps in (("backup", ("files-backup", "pg-backup", "big-backup")),
                        ("restore", ("files-restore", "pg-restore", "big-restore"))):
        for step in steps:
            b, a = med(step, "bulwark-s3", "wall"), med(step, "aws-cli", "wall")
            if b and a:
                print(f"| {names[step]} through S3 at least as fast as `aws s3 cp` | "
                      f"{a / b:.2f}x: {'met' if a >= b else 'NOT met'} |")
    peak, mean = med("peak:big-restore", "bulwark-s3", "value"), \
        med("mean:big-restore", "bulwark-s3", "value")
    if peak is not None:
        print(f"| restore of a single large file parallel | {peak:.0f} GETs in flight at the peak, "
              f"{mean:.1f} on average: {'met' if peak > 1 and mean > 1.5 else 'NOT met'} |")
    verdicts = []
    for step in ("files-restore", "pg-restore", "big-restore"):
        for tool in tools:
            v = R.status(f"verify:{step}", tool)
            if v is not None:
                verdicts.append(f"{names[step].split(':')[0]} {tool} {'ok' if v == '0' else 'DIFFERS'}")
    if verdicts:
        print(f"| restores compared with the source (first run) | {', '.join(verdicts)} |")
    print()


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "requests":
        requests(sys.argv[2], int(sys.argv[3]))
    elif len(sys.argv) == 3 and sys.argv[1] == "report":
        report(sys.argv[2])
    else:
        sys.exit(__doc__)
