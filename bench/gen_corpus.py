#!/usr/bin/env python3
"""Deterministic benchmark corpus for `make bench`.

  gen_corpus.py generate DIR SIZE_MB   writes the corpus (same bytes for the same SIZE_MB)
  gen_corpus.py mutate DIR             changes about 5% of the bytes, deterministically

The corpus mixes what a trading platform's hosts hold: many small text files (source,
configs), compressible application logs, market-data CSV (about 3-4:1 with zstd), a few
large database-like files (pages with some repeated structure), and incompressible random
data. `mutate` never writes into an existing file: it writes a new file and renames it
over the old name, so DIR may be a hard-link copy of a cached corpus.
"""

import os
import random
import sys
from multiprocessing import Pool

MIB = 1 << 20
MARKER = "BENCH_CORPUS_ROOT"

# Share of the total size per kind.
SHARES = {"small": 0.10, "logs": 0.20, "csv": 0.25, "large": 0.25, "random": 0.20}

WORDS = (
    "order fill cancel replace venue symbol price quantity side book level bid ask spread "
    "latency gateway risk limit position exposure margin account client session heartbeat "
    "sequence snapshot replay journal config timeout retry backoff connect disconnect auth "
    "token market data feed tick trade quote instrument future option equity bond fx swap "
    "settlement clearing report audit compliance threshold alert metric counter gauge "
    "histogram bucket window rolling average median percentile throughput queue worker "
    "thread pool buffer cache index table partition shard replica primary standby failover"
).split()
EXTS = [".cc", ".h", ".py", ".toml", ".yaml", ".json", ".md", ".sql", ".sh", ".conf"]


def rng_for(name):
    # Seeded by the file's relative path, so files can be generated in any order or process.
    return random.Random("bulwark-bench-v1:" + name)


def text_file(r, size):
    lines = []
    n = 0
    indent = 0
    while n < size:
        k = r.randint(2, 12)
        line = "  " * indent + " ".join(r.choice(WORDS) for _ in range(k))
        if r.random() < 0.3:
            line += " = %d;" % r.randint(0, 100000)
        indent = max(0, min(6, indent + r.choice((-1, 0, 0, 1))))
        lines.append(line)
        n += len(line) + 1
    return ("\n".join(lines) + "\n").encode()[:size]


SERVICES = ["order-gateway", "risk-engine", "md-handler", "position-keeper", "fix-session",
            "matching-proxy", "settlement", "ref-data"]
LEVELS = ["INFO"] * 12 + ["DEBUG"] * 6 + ["WARN"] * 2 + ["ERROR"]


def log_chunks(r, size, start_ms):
    ms = start_ms
    produced = 0
    while produced < size:
        out = []
        n = 0
        while n < MIB:
            ms += r.randint(0, 40)
            s, frac = divmod(ms, 1000)
            hh, rem = divmod(s % 86400, 3600)
            mm, ss = divmod(rem, 60)
            kind = r.random()
            if kind < 0.6:
                msg = "order accepted id=%d sym=SYM%d px=%.4f qty=%d venue=%d latency_us=%d" % (
                    r.randint(10**9, 10**10), r.randint(0, 499), 100 + r.random() * 10,
                    r.randint(1, 50) * 100, r.randint(0, 7), r.randint(20, 900))
            elif kind < 0.85:
                msg = "heartbeat session=%d seq=%d queue_depth=%d" % (
                    r.randint(1, 40), r.randint(1, 10**7), r.randint(0, 64))
            else:
                msg = "risk check %s account=ACC%05d exposure=%.2f limit=%d" % (
                    r.choice(("passed", "passed", "passed", "warned")), r.randint(0, 20000),
                    r.random() * 1e6, r.choice((1000000, 5000000, 10000000)))
            line = "2026-01-05T%02d:%02d:%02d.%03dZ %s %s[%d]: %s\n" % (
                hh, mm, ss, frac, r.choice(LEVELS), r.choice(SERVICES), 1000 + r.randint(0, 15),
                msg)
            out.append(line)
            n += len(line)
        chunk = "".join(out).encode()
        if produced + len(chunk) > size:
            chunk = chunk[: size - produced]
        produced += len(chunk)
        yield chunk


def csv_chunks(r, size, start_ms):
    ms = start_ms
    produced = 0
    first = True
    while produced < size:
        out = ["ts,symbol,price,qty,side,venue\n"] if first else []
        first = False
        n = 0
        sec_cache = (-1, "")
        while n < MIB:
            ms += r.randint(0, 3)
            s, frac = divmod(ms, 1000)
            if s != sec_cache[0]:
                hh, rem = divmod(s % 86400, 3600)
                mm, ss = divmod(rem, 60)
                sec_cache = (s, "2026-01-05 %02d:%02d:%02d" % (hh, mm, ss))
            line = "%s.%03d+00,SYM%d,%.4f,%d,%s,%d\n" % (
                sec_cache[1], frac, r.randint(0, 499), 100 + r.random() * 10, r.randint(0, 1000),
                "B" if r.random() < 0.5 else "S", r.randint(0, 8))
            out.append(line)
            n += len(line)
        chunk = "".join(out).encode()
        if produced + len(chunk) > size:
            chunk = chunk[: size - produced]
        produced += len(chunk)
        yield chunk


def large_chunks(r, size):
    # 8 KiB pages: a header with the page number, ~3 KiB of random tuple data, then a
    # structured part shared by many pages (compresses well across pages), then free space.
    templates = [r.randbytes(3072) for _ in range(16)]
    page_no = 0
    produced = 0
    while produced < size:
        pages = []
        for _ in range(128):  # 1 MiB
            header = page_no.to_bytes(8, "little") + r.randbytes(24)
            body = r.randbytes(3040)
            tmpl = templates[page_no % 16]
            free = bytes(8192 - 32 - 3040 - 3072)
            pages.append(header + body + tmpl + free)
            page_no += 1
        chunk = b"".join(pages)
        if produced + len(chunk) > size:
            chunk = chunk[: size - produced]
        produced += len(chunk)
        yield chunk


def random_chunks(r, size):
    produced = 0
    while produced < size:
        n = min(MIB, size - produced)
        produced += n
        yield r.randbytes(n)


def plan(total):
    """Returns [(relative path, kind, size)] for a corpus of `total` bytes."""
    files = []
    budget = {k: int(total * v) for k, v in SHARES.items()}
    r = random.Random("bulwark-bench-plan-v1")

    used = 0
    i = 0
    while used < budget["small"]:
        size = int(r.lognormvariate(8.3, 1.0))  # median ~4 KiB, long tail
        size = max(0, min(size, 256 * 1024))
        if i % 97 == 0:
            size = 0  # some empty files
        path = "small/pkg%02d/mod%02d/file%05d%s" % (i % 40, (i // 40) % 25, i, EXTS[i % len(EXTS)])
        files.append((path, "small", size))
        used += size
        i += 1

    def big(kind, lo, hi, fmt):
        used = 0
        j = 0
        while used < budget[kind]:
            size = min(r.randint(lo, hi), budget[kind] - used)
            if size < MIB and used > 0:
                break
            files.append((fmt % j, kind, size))
            used += size
            j += 1

    big("logs", 4 * MIB, 48 * MIB, "logs/app-%03d.log")
    big("csv", 16 * MIB, 96 * MIB, "marketdata/ticks-%03d.csv")
    nlarge = 3
    for j in range(nlarge):
        files.append(("db/base/16384/%d" % (24000 + j), "large", budget["large"] // nlarge))
    big("random", 1 * MIB, 64 * MIB, "blobs/blob-%03d.bin")
    return files


def content(path, kind, size):
    r = rng_for(path)
    if kind == "small":
        yield text_file(r, size)
    elif kind == "logs":
        yield from log_chunks(r, size, r.randint(0, 10**7))
    elif kind == "csv":
        yield from csv_chunks(r, size, r.randint(0, 10**7))
    elif kind == "large":
        yield from large_chunks(r, size)
    else:
        yield from random_chunks(r, size)


def write_file(root, rel, chunks):
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".bench-tmp"
    with open(tmp, "wb") as f:
        for c in chunks:
            f.write(c)
    os.replace(tmp, path)


def _gen_one(args):
    root, rel, kind, size = args
    write_file(root, rel, content(rel, kind, size))
    return size


def generate(root, size_mb):
    total = size_mb * MIB
    files = plan(total)
    os.makedirs(root, exist_ok=True)
    # Big files first so the two workers stay balanced.
    jobs = sorted(((root, p, k, s) for p, k, s in files), key=lambda j: -j[3])
    with Pool(min(4, os.cpu_count() or 1)) as pool:
        written = sum(pool.imap_unordered(_gen_one, jobs, chunksize=16))
    # Awkward-but-common entries: a symlink and an empty directory.
    os.makedirs(os.path.join(root, "small/empty-dir"), exist_ok=True)
    link = os.path.join(root, "small/current.log")
    if not os.path.lexists(link):
        os.symlink("../logs/app-000.log", link)
    with open(os.path.join(root, MARKER), "w") as f:
        f.write("bulwark benchmark corpus, %d MiB, %d files\n" % (size_mb, len(files)))
    by_kind = {}
    for _, k, s in files:
        n, b = by_kind.get(k, (0, 0))
        by_kind[k] = (n + 1, b + s)
    print("generated %d files, %d bytes" % (len(files), written))
    for k, (n, b) in sorted(by_kind.items()):
        print("  %-7s %7d files %12d bytes" % (k, n, b))


def list_files(root):
    out = []
    for dirpath, _, names in os.walk(root):
        for n in names:
            p = os.path.join(dirpath, n)
            if not os.path.islink(p) and n != MARKER:
                out.append(os.path.relpath(p, root))
    return sorted(out)


def mutate(root):
    """Changes about 5% of the corpus bytes (5% of each kind) in the ways real data changes."""
    r = random.Random("bulwark-bench-mutate-v1")
    files = list_files(root)
    by_dir = {}
    for f in files:
        by_dir.setdefault(f.split("/")[0], []).append(f)
    changed = 0

    def size(rel):
        return os.path.getsize(os.path.join(root, rel))

    def read(rel):
        with open(os.path.join(root, rel), "rb") as f:
            return f.read()

    budgets = {k: sum(size(f) for f in v) // 20 for k, v in by_dir.items()}

    def budget(kind):
        return budgets.get(kind, 0)

    def shuffled(kind):
        items = list(by_dir.get(kind, []))
        r.shuffle(items)
        return items

    # Source/config edits: small files get a line inserted (each is one chunk, so the whole
    # file is new data); 1% are deleted and a new release directory appears.
    left = budget("small")
    for rel in shuffled("small"):
        if left <= 0:
            break
        data = read(rel)
        cut = r.randint(0, len(data))
        new = data[:cut] + b"// edited for the second backup %d\n" % r.randint(0, 10**9) + data[cut:]
        write_file(root, rel, [new])
        changed += len(new)
        left -= len(new)
    for rel in shuffled("small")[: len(by_dir.get("small", [])) // 100]:
        if os.path.exists(os.path.join(root, rel)):
            os.unlink(os.path.join(root, rel))
    left = budget("small") // 5
    i = 0
    while left > 0:
        rel = "small/release-2/file%05d.cc" % i
        data = text_file(rng_for(rel), int(r.lognormvariate(8.3, 1.0)) % (64 * 1024))
        write_file(root, rel, [data])
        changed += len(data)
        left -= max(1, len(data))
        i += 1
    # Logs grow: a quarter of the log files (at least one) share the new lines at their end.
    logs = shuffled("logs")
    logs = logs[: max(1, len(logs) // 4)]
    for rel in logs:
        extra = b"".join(log_chunks(rng_for(rel + "#append"), budget("logs") // len(logs), 10**8))
        write_file(root, rel, [read(rel), extra])
        changed += len(extra)
    # Market data: the tail of some CSV files is re-delivered with corrected rows.
    left = budget("marketdata")
    for rel in shuffled("marketdata"):
        if left <= 0:
            break
        data = read(rel)
        n = min(len(data), left)
        tail = b"".join(csv_chunks(rng_for(rel + "#v2"), n, 5 * 10**7))
        write_file(root, rel, [data[: len(data) - n], tail])
        changed += n
        left -= n
    # Database files: 5% of pages rewritten in place, in 64 KiB runs, scattered.
    for rel in by_dir.get("db", []):
        data = bytearray(read(rel))
        for _ in range(max(1, len(data) // 20 // (64 * 1024))):
            off = r.randrange(0, max(1, len(data) - 64 * 1024)) // 8192 * 8192
            n = min(64 * 1024, len(data) - off)
            data[off:off + n] = r.randbytes(n)
            changed += n
        write_file(root, rel, [bytes(data)])
    # Binary blobs: some replaced (or, for big ones, a region overwritten) ...
    left = budget("blobs")
    blobs = shuffled("blobs")
    for rel in blobs:
        if left <= 0:
            break
        n = size(rel)
        if n <= left:
            write_file(root, rel, random_chunks(rng_for(rel + "#v2"), n))
            changed += n
            left -= n
        else:
            data = read(rel)
            off = r.randrange(0, n - left)
            write_file(root, rel, [data[:off], r.randbytes(left), data[off + left:]])
            changed += left
            left = 0
    # ... and two get 1 KiB inserted near the start, shifting every later byte: content-defined
    # chunking has to resynchronise.
    for rel in blobs[-2:]:
        data = read(rel)
        write_file(root, rel, [data[:4096], r.randbytes(1024), data[4096:]])
        changed += 1024
    total = sum(size(f) for f in list_files(root))
    print("mutated: %d bytes changed or added (%.1f%% of %d)" % (changed, 100.0 * changed / total,
                                                                  total))


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "generate":
        generate(sys.argv[2], int(sys.argv[3]))
    elif len(sys.argv) == 3 and sys.argv[1] == "mutate":
        mutate(sys.argv[2])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
