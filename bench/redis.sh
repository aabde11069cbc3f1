#!/usr/bin/env bash
# Redis part of `make bench`: `bulwark backup redis` side by side with `redis-cli --rdb`, in
# one run, on a keyspace of about BENCH_REDIS_MB MiB (default 1024) in a few million keys of
# market-data-like values (not the zero-padded values of DEBUG POPULATE, which compress to
# nothing). Steps per run, page cache dropped before each:
#   snapshot     redis-cli --rdb FILE (+ sync)   vs  bulwark backup redis (into a fresh repository)
#   snapshot2    the same after rewriting 1% of the keys (every 100th, so spread over the
#                whole RDB); bulwark's bytes stored are recorded
#   restore      cp of the RDB file (+ sync)     vs  bulwark restore redis latest (+ sync)
# The server is a sandbox redis-server on a unix socket (scripts/redis-sandbox.sh), stopped on
# exit. Stream lag is not measured: continuous capture (redis-stream) does not exist yet.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
# shellcheck source-path=SCRIPTDIR
source "$HERE/lib.sh"

PART=redis
: "${BENCH_OUT:?run bench/run.sh}"
: "${BENCH_RAW:?run bench/run.sh}"
RUNS=${BENCH_RUNS:-3}
MB=${BENCH_REDIS_MB:-1024}
BULWARK=${BENCH_BULWARK:?run bench/run.sh}
VALUE_BYTES=${BENCH_REDIS_VALUE_BYTES:-256}
for t in redis-server redis-cli; do
  command -v "$t" >/dev/null || { bench_log "redis: $t is missing (scripts/install-deps.sh)"; exit 2; }
done

WORK="$BENCH_OUT/work/$PART"
SANDBOX="$ROOT/scripts/redis-sandbox.sh"
rm -rf "$WORK"
mkdir -p "$WORK"
cleanup() { "$SANDBOX" stop "$WORK/server" >/dev/null 2>&1 || true; }
trap cleanup EXIT

PASSWORD_FILE="$BENCH_OUT/password"
if [[ ! -s "$PASSWORD_FILE" ]]; then
  (umask 077 && head -c 24 /dev/urandom | base64 >"$PASSWORD_FILE")
fi
export BULWARK_PASSWORD_FILE="$PASSWORD_FILE" BULWARK_CACHE_DIR="$WORK/home"
unset BULWARK_PASSWORD BULWARK_REPOSITORY

"$SANDBOX" start "$WORK/server" >/dev/null
SOCK="$WORK/server/redis.sock"
cli() { redis-cli -s "$SOCK" "$@"; }

# fill COUNT SEED [STRIDE]: SETs keys tick:<i*STRIDE> for i < COUNT, values of VALUE_BYTES bytes
# that look like quotes (symbol, prices, sizes, venue, timestamps and an order-book tail),
# sent through redis-cli --pipe.
fill() {
  python3 - "$1" "$2" "${3:-1}" "$VALUE_BYTES" <<'PY' | redis-cli -s "$SOCK" --pipe >/dev/null
import random, sys
count, seed, stride, size = (int(a) for a in sys.argv[1:5])
rng = random.Random(seed)
out = sys.stdout.buffer
buf = []
for i in range(count):
    key = b"tick:%d" % (i * stride)
    p = 100 + rng.random() * 50
    v = (b'{"sym":"SYM%d","bid":%.4f,"ask":%.4f,"bsz":%d,"asz":%d,"venue":%d,"ts":%d,"book":"'
         % (rng.randrange(5000), p, p + rng.random() / 10, rng.randrange(1, 10**5),
            rng.randrange(1, 10**5), rng.randrange(12), 1767600000000000 + i * 1000 + rng.randrange(1000)))
    v += rng.randbytes((size - len(v)) // 2).hex().encode() + b'"}'
    buf.append(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(key), key, len(v), v))
    if len(buf) >= 10000:
        out.write(b"".join(buf))
        buf = []
out.write(b"".join(buf))
PY
}

keys=$((MB * 1048576 / (VALUE_BYTES + 40)))
bench_log "redis: loading $keys keys of $VALUE_BYTES bytes (about $MB MiB)"
fill "$keys" 1
dbsize=$(cli DBSIZE)
[[ $dbsize -eq $keys ]] || { bench_log "redis: loaded $dbsize keys, expected $keys"; exit 1; }
used=$(cli INFO memory | sed -n 's/^used_memory:\([0-9]*\).*/\1/p')
bench_log "redis: $dbsize keys, used_memory $((used / 1048576)) MiB"
record "$PART" keys all 0 "$dbsize"
record "$PART" used_memory all 0 "$used"
changed=$((keys / 100))
URL="unix://$SOCK"

for ((run = 1; run <= RUNS; run++)); do
  bench_log "redis: run $run of $RUNS"
  rm -rf "$WORK/repo" "$WORK/cli" "$WORK/restore"
  mkdir -p "$WORK/cli" "$WORK/restore"
  export BULWARK_REPOSITORY="$WORK/repo"
  "$BULWARK" init -q >/dev/null

  for step in snapshot snapshot2; do
    if [[ $step == snapshot2 ]]; then fill "$changed" $((1000 + run)) 100; fi
    drop_caches
    timed "$PART" "$step" redis-cli "$run" "$used" \
      bash -c 'redis-cli -s "$1" --rdb "$2" && sync' _ "$SOCK" "$WORK/cli/$step.rdb"
    record "$PART" "size:$step" redis-cli "$run" "$(stat -c %s "$WORK/cli/$step.rdb")"
    drop_caches
    timed "$PART" "$step" bulwark "$run" "$used" \
      "$BULWARK" --json backup redis --component redis --url "$URL"
    log="$BENCH_OUT/logs/$PART-$step-bulwark-$run.log"
    added=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["summary"]["bytes_stored"])' "$log")
    record "$PART" "stored:$step" bulwark "$run" "$added"
  done
  record "$PART" "size:repo" bulwark "$run" "$(dir_bytes "$WORK/repo")"

  drop_caches
  timed "$PART" restore redis-cli "$run" "$used" \
    bash -c 'cp "$1" "$2/dump.rdb" && sync' _ "$WORK/cli/snapshot2.rdb" "$WORK/restore"
  rm -f "$WORK/restore/dump.rdb"
  drop_caches
  timed "$PART" restore bulwark "$run" "$used" \
    bash -c '"$1" restore redis latest --component redis --target "$2" -q && sync' _ \
    "$BULWARK" "$WORK/restore"
  if [[ $run -eq 1 ]]; then
    # The restored file must be a valid RDB with every key.
    if redis-check-rdb "$WORK/restore/dump.rdb" >"$BENCH_OUT/logs/$PART-check-rdb.log" 2>&1; then
      record "$PART" verify bulwark "$run" 0 0
    else
      bench_log "redis: redis-check-rdb rejected the restored file"
      record "$PART" verify bulwark "$run" 0 1
    fi
  fi
done

python3 - "$BENCH_RAW" "$HERE" >"$BENCH_OUT/results-$PART.md" <<'PY'
import sys
sys.path.insert(0, sys.argv[2])
from report_lib import Rows
R = Rows(sys.argv[1], "redis")
rows, med = R.rows, R.med
def rng(step, tool, col):
    return R.span(step, tool, col)
used = med("used_memory", "all", "value") or 0
keys = int(med("keys", "all", "value") or 0)
print("## Part `redis`\n")
print(f"Keyspace: {keys:,} keys, used_memory {used / 2**20:.0f} MiB, served on a unix socket. "
      "Median (min–max) of the runs.\n")
print("| step | tool | wall s | CPU s | peak RSS MiB |")
print("|---|---|---|---|---|")
names = {"snapshot": "snapshot", "snapshot2": "second snapshot (1% of keys rewritten)",
         "restore": "restore (+ sync)"}
for step in ("snapshot", "snapshot2", "restore"):
    for tool in ("redis-cli", "bulwark"):
        w = med(step, tool, "wall")
        if w is None:
            continue
        print(f"| {names[step]} | {tool} | {w:.2f} ({rng(step, tool, 'wall')}) | "
              f"{med(step, tool, 'cpu'):.1f} | {med(step, tool, 'rss') / 1024:.0f} |")
rdb = med("size:snapshot", "redis-cli", "value") or 0
s1 = med("stored:snapshot", "bulwark", "value") or 0
s2 = med("stored:snapshot2", "bulwark", "value") or 0
repo = med("size:repo", "bulwark", "value") or 0
print()
print("| size | MB |")
print("|---|---|")
print(f"| RDB file written by redis-cli --rdb | {rdb / 1e6:.0f} |")
print(f"| bulwark: stored by the first snapshot | {s1 / 1e6:.0f} |")
print(f"| bulwark: stored by the second snapshot | {s2 / 1e6:.1f} |")
print(f"| bulwark: repository after both | {repo / 1e6:.0f} |")
print()
t1 = med("snapshot", "bulwark", "wall")
c1 = med("snapshot", "redis-cli", "wall")
ok = [r for r in rows if r[1] == "verify"]
print("| target (issue 5) | result |")
print("|---|---|")
if t1 and c1:
    print(f"| snapshot within 1.2x of redis-cli --rdb | {t1 / c1:.2f}x: "
          f"{'met' if t1 / c1 <= 1.2 else 'not met'} |")
if s1:
    print(f"| second snapshot stores under 10% of the first | {100 * s2 / s1:.1f}%: "
          f"{'met' if s2 < 0.1 * s1 else 'not met'} |")
if ok:
    print(f"| restored dump.rdb passes redis-check-rdb | {'yes' if ok[0][8] == '0' else 'NO'} |")
print()
PY
bench_log "redis: done"
