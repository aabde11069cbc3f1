#!/usr/bin/env python3
"""Stream-lag sampler for the `redis` benchmark part (run by bench/redis.sh, not by hand).

    redis_lag.py --sock SOCK --bulwark BIN --component C --out PREFIX [--warmup S] -- CMD...

Runs CMD (a redis-benchmark write load) and, while it runs, samples:
  - the primary's master_repl_offset (INFO replication over SOCK) 20 times a second;
  - `bulwark --json redis-status --component C` twice a second: the offset stored and
    lag_seconds (the repository must be reachable through BULWARK_REPOSITORY etc.).
For each redis-status sample (time taken as the END of the call, so every figure is an upper
bound) it derives:
  gap_bytes   master offset at that time minus the stored offset;
  rpo_s       how old the stored data is: now minus the time the primary's offset reached the
              stored offset (interpolated between the 20 Hz master samples);
and for each master sample, catchup_s: the time until a redis-status call reported that offset
stored (an upper bound with the 0.5 s resolution of those calls). Steady state drops the
first --warmup seconds of the load and ends when CMD exits.
Writes PREFIX-samples.tsv (every sample) and PREFIX.json (summary), and prints the summary.
"""
import argparse
import bisect
import json
import re
import socket
import statistics
import subprocess
import sys
import threading
import time


def resp_command(sock, *args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a.encode() if isinstance(a, str) else a
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    sock.sendall(out)


def read_bulk(f):
    line = f.readline()
    if not line.startswith(b"$"):
        raise RuntimeError("unexpected reply %r" % line)
    n = int(line[1:])
    data = f.read(n + 2)
    return data[:-2].decode()


def pct(values, p):
    """Nearest-rank percentile."""
    if not values:
        return None
    v = sorted(values)
    k = max(0, min(len(v) - 1, int(-(-p * len(v) // 100)) - 1))
    return v[k]


def stats(values):
    if not values:
        return {"n": 0}
    return {"n": len(values), "median": statistics.median(values), "p95": pct(values, 95),
            "max": max(values)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sock", required=True)
    ap.add_argument("--bulwark", required=True)
    ap.add_argument("--component", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--warmup", type=float, default=5.0)
    ap.add_argument("--requests", type=int, default=0, help="requests CMD sends in all")
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    if not cmd:
        ap.error("no load command")

    stop = threading.Event()
    master = []  # (t, master_repl_offset)
    status = []  # (t_start, t_end, offset, lag_seconds, stream_bytes)
    errors = []

    def sample_master():
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(a.sock)
        f = s.makefile("rb")
        try:
            while not stop.is_set():
                resp_command(s, "INFO", "replication")
                info = read_bulk(f)
                t = time.time()
                m = re.search(r"^master_repl_offset:(\d+)", info, re.M)
                master.append((t, int(m.group(1))))
                stop.wait(0.05)
        finally:
            s.close()

    def sample_status():
        nxt = time.time()
        while not stop.is_set():
            t0 = time.time()
            p = subprocess.run([a.bulwark, "--json", "redis-status", "--component", a.component],
                               capture_output=True, text=True)
            t1 = time.time()
            if p.returncode != 0:
                errors.append(p.stderr.strip())
            else:
                j = json.loads(p.stdout)
                status.append((t0, t1, int(j["offset"]), float(j["lag_seconds"]),
                               int(j["stream_bytes"])))
            nxt += 0.5
            stop.wait(max(0.0, nxt - time.time()))

    threads = [threading.Thread(target=sample_master), threading.Thread(target=sample_status)]
    for th in threads:
        th.start()
    time.sleep(0.3)
    load_start = time.time()
    load = subprocess.run(cmd, capture_output=True, text=True)
    load_end = time.time()
    # Keep sampling briefly so the last offsets of the load can be seen stored.
    time.sleep(2.5)
    stop.set()
    for th in threads:
        th.join()
    with open(a.out + "-load.log", "w") as f:
        f.write(load.stdout)
        f.write(load.stderr)

    mt = [t for t, _ in master]
    mo = [o for _, o in master]

    def master_at(t):
        i = bisect.bisect_right(mt, t) - 1
        return mo[max(i, 0)]

    def time_reached(offset):
        """Interpolated time at which the master offset first reached OFFSET."""
        i = bisect.bisect_left(mo, offset)
        if i == 0:
            return mt[0]
        if i >= len(mo):
            return None
        t0, o0, t1, o1 = mt[i - 1], mo[i - 1], mt[i], mo[i]
        return t0 + (t1 - t0) * (offset - o0) / (o1 - o0)

    lo, hi = load_start + a.warmup, load_end
    gap, rpo, lagsec, calls = [], [], [], []
    with open(a.out + "-samples.tsv", "w") as f:
        f.write("kind\tt_rel\tmaster_offset\tstored_offset\tgap_bytes\trpo_s\tlag_seconds\tcall_s\n")
        for t, o in master:
            f.write(f"master\t{t - load_start:.3f}\t{o}\t\t\t\t\t\n")
        for t0, t1, off, lag, _ in status:
            m = master_at(t1)
            tr = time_reached(off)
            r = (t1 - tr) if tr is not None else 0.0
            f.write(f"status\t{t1 - load_start:.3f}\t{m}\t{off}\t{m - off}\t{r:.3f}\t{lag:.3f}\t"
                    f"{t1 - t0:.3f}\n")
            if lo <= t1 <= hi:
                gap.append(max(m - off, 0))
                rpo.append(max(r, 0.0))
                lagsec.append(lag)
                calls.append(t1 - t0)
    st_t = [t1 for _, t1, _, _, _ in status]
    st_o = [o for _, _, o, _, _ in status]
    catchup = []
    for t, o in master:
        if not lo <= t <= hi:
            continue
        # First status call that started after t and reported o stored (its end bounds it).
        for j in range(bisect.bisect_left([t0 for t0, *_ in status], t), len(status)):
            if st_o[j] >= o:
                catchup.append(st_t[j] - t)
                break

    rates = [float(x) for x in re.findall(r"([0-9.]+) requests per second", load.stdout)]
    tests = re.findall(r"(\w+): ([0-9.]+) requests per second", load.stdout)
    dur = load_end - load_start
    m0, m1 = master_at(load_start), master_at(load_end)
    summary = {
        "load_exit": load.returncode,
        "load_seconds": dur,
        "load_tests": {k: float(v) for k, v in tests},
        "requests_per_second_by_test": rates,
        "requests_per_second": a.requests / dur if dur > 0 else 0,
        "repl_bytes": m1 - m0,
        "repl_bytes_per_second": (m1 - m0) / dur if dur > 0 else 0,
        "master_samples": len(master),
        "status_samples": len(status),
        "status_errors": len(errors),
        "steady_from_s": a.warmup,
        "gap_bytes": stats(gap),
        "rpo_s": stats(rpo),
        "catchup_s": stats(catchup),
        "lag_seconds": stats(lagsec),
        "status_call_s": stats(calls),
        "stream_bytes_end": status[-1][4] if status else 0,
    }
    if errors:
        summary["first_status_error"] = errors[0]
    with open(a.out + ".json", "w") as f:
        json.dump(summary, f, indent=1)
    json.dump(summary, sys.stdout, indent=1)
    print()
    return 0 if load.returncode == 0 and status else 1


if __name__ == "__main__":
    sys.exit(main())
