#!/usr/bin/env bash
# Redis part of `make bench`: `bulwark backup redis` side by side with `redis-cli --rdb`, in
# one run, on a keyspace of about BENCH_REDIS_MB MiB (default 1024) in a few million keys of
# market-data-like values (not the zero-padded values of DEBUG POPULATE, which compress to
# nothing). Steps per run, page cache dropped before each:
#   snapshot     redis-cli --rdb FILE (+ sync)   vs  bulwark backup redis (into a fresh repository)
#   snapshot2    the same after rewriting 1% of the keys (every 100th, so spread over the
#                whole RDB); bulwark's bytes stored are recorded
#   restore      cp of the RDB file (+ sync)     vs  bulwark restore redis latest (+ sync)
#   stream lag   bulwark redis-stream (--snapshot-every 0, into a fresh repository) under a
#                redis-benchmark write load (-t set,lpush,incr -d 100 -c 8 -P 1), measured once
#                after the runs: the primary's master_repl_offset sampled 20 times a second
#                against the offset `bulwark --json redis-status` reports stored (twice a
#                second), the gap converted to time (bench/redis_lag.py); then SIGTERM must exit
#                0 with everything up to the final master offset stored
# The server is a sandbox redis-server on a unix socket (scripts/redis-sandbox.sh), stopped on
# exit (and redis-stream before it, by PID). Environment beyond bench/run.sh's:
#   BENCH_REDIS_MB            keyspace size in MiB (default 1024)
#   BENCH_REDIS_STEPS         "snapshot lag" (default: both), "snapshot" (snapshot, snapshot2 and
#                             restore, BENCH_RUNS times) or "lag" (only the stream-lag step)
#   BENCH_REDIS_LAG_REQUESTS  requests per redis-benchmark test (default 300000; 3 tests, about
#                             40-60 s on a shared 2-core machine)
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
STEPS=" ${BENCH_REDIS_STEPS:-snapshot lag} "
LAG_REQUESTS=${BENCH_REDIS_LAG_REQUESTS:-300000}
has_step() { [[ $STEPS == *" $1 "* ]]; }
for t in redis-server redis-cli redis-benchmark; do
  command -v "$t" >/dev/null || { bench_log "redis: $t is missing (scripts/install-deps.sh)"; exit 2; }
done

WORK="$BENCH_OUT/work/$PART"
SANDBOX="$ROOT/scripts/redis-sandbox.sh"
rm -rf "$WORK"
mkdir -p "$WORK"
STREAM_PID=
stop_stream() {
  [[ -n $STREAM_PID ]] || return 0
  local rc=0
  kill -TERM "$STREAM_PID" 2>/dev/null || true
  wait "$STREAM_PID" || rc=$?
  STREAM_PID=
  return $rc
}
cleanup() {
  stop_stream >/dev/null 2>&1 || true
  "$SANDBOX" stop "$WORK/server" >/dev/null 2>&1 || true
}
trap cleanup EXIT

PASSWORD_FILE="$BENCH_OUT/password"
if [[ ! -s "$PASSWORD_FILE" ]]; then
  (umask 077 && head -c 24 /dev/urandom | base64 >"$PASSWORD_FILE")
fi
export BULWARK_PASSWORD_FILE="$PASSWORD_FILE" BULWARK_CACHE_DIR="$WORK/home"
unset BULWARK_PASSWORD BULWARK_REPOSITORY

# The backlog holds the writes between two snapshots, so the second one continues the stream
# (an incremental snapshot) rather than transferring a new RDB (docs/REDIS.md).
mkdir -p "$WORK/server"
echo "repl-backlog-size 256mb" >"$WORK/server/extra.conf"
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

has_step snapshot || RUNS=0
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
    # The newest snapshot is incremental: its AOF (the base RDB and the stream) must pass too.
    if redis-check-rdb "$WORK/restore/dump.rdb" >"$BENCH_OUT/logs/$PART-check-rdb.log" 2>&1 &&
      { [[ ! -d "$WORK/restore/appendonlydir" ]] ||
        redis-check-aof "$WORK/restore/appendonlydir/appendonly.aof.manifest" \
          >>"$BENCH_OUT/logs/$PART-check-rdb.log" 2>&1; }; then
      record "$PART" verify bulwark "$run" 0 0
    else
      bench_log "redis: redis-check-rdb rejected the restored file"
      record "$PART" verify bulwark "$run" 0 1
    fi
  fi
done

# status_field FIELD: one field of `bulwark --json redis-status` for the lag component.
status_field() {
  "$BULWARK" --json redis-status --component redis-lag |
    python3 -c 'import json,sys; v = json.load(sys.stdin)[sys.argv[1]]; print(v)' "$1"
}
master_offset() { cli INFO replication | sed -n 's/^master_repl_offset:\([0-9]*\).*/\1/p'; }

if has_step lag; then
  bench_log "redis: stream lag: redis-stream, then redis-benchmark ($LAG_REQUESTS requests per test)"
  export BULWARK_REPOSITORY="$WORK/repo-lag"
  rm -rf "$BULWARK_REPOSITORY"
  # A cheap key-slot KDF for this repository only: the sampler opens it twice a second with
  # redis-status, which with the default Argon2id costs ~0.35 s of CPU per call (a core's worth
  # of load on this step, and 0.35 s added to every lag sample). The stream path is the same.
  BULWARK_TEST_KDF=fast "$BULWARK" init -q >/dev/null
  mkdir -p "$BENCH_OUT/logs"
  stream_log="$BENCH_OUT/logs/$PART-stream-bulwark.log"
  stream_start=$(date +%s%N)
  "$BULWARK" --json redis-stream --component redis-lag --url "$URL" --snapshot-every 0 \
    >"$BENCH_OUT/logs/$PART-stream-bulwark.json" 2>"$stream_log" &
  STREAM_PID=$!
  # The first snapshot is committed and the primary lists the replica as online.
  snap=
  for ((i = 0; i < 1200; i++)); do
    kill -0 "$STREAM_PID" 2>/dev/null || { bench_log "redis: redis-stream exited early"; tail -n 5 "$stream_log" >&2; exit 1; }
    snap=$(status_field last_snapshot 2>/dev/null || true)
    if [[ -n $snap ]] && cli INFO replication | grep -q '^slave0:.*state=online'; then break; fi
    sleep 0.5
  done
  [[ -n $snap ]] || { bench_log "redis: no first snapshot from redis-stream"; exit 1; }
  stream_snap_s=$(awk -v a="$stream_start" -v b="$(date +%s%N)" 'BEGIN {printf "%.3f", (b - a) / 1e9}')
  bench_log "  redis-stream: first snapshot ${snap:0:8} after ${stream_snap_s}s"
  printf '%s\t%s\t%s\t%s\t%s\t\t\t%s\t0\n' "$PART" stream_snapshot bulwark 1 "$stream_snap_s" \
    "$used" >>"$BENCH_RAW"
  repo_before=$(dir_bytes "$BULWARK_REPOSITORY")
  lag_rc=0
  python3 "$HERE/redis_lag.py" --sock "$SOCK" --bulwark "$BULWARK" --component redis-lag \
    --out "$BENCH_OUT/redis-lag" --warmup 5 --requests $((3 * LAG_REQUESTS)) -- \
    redis-benchmark -s "$SOCK" -t set,lpush,incr -n "$LAG_REQUESTS" -d 100 -c 8 -P 1 -q \
    >"$BENCH_OUT/logs/$PART-lag.log" 2>&1 || lag_rc=$?
  [[ $lag_rc -eq 0 ]] || { bench_log "redis: lag sampling failed"; tail -n 5 "$BENCH_OUT/logs/$PART-lag.log" >&2; }
  record "$PART" stream_lag bulwark 1 0 "$lag_rc"
  final=$(master_offset)
  stream_rc=0
  stop_stream || stream_rc=$?
  record "$PART" stream_exit bulwark 1 0 "$stream_rc"
  stored=$(status_field offset)
  bytes=$(status_field stream_bytes)
  record "$PART" stream_bytes bulwark 1 "$bytes"
  record "$PART" stream_repo_growth bulwark 1 "$(($(dir_bytes "$BULWARK_REPOSITORY") - repo_before))"
  record "$PART" stream_final bulwark 1 "$stored" "$([[ $stored -ge $final ]] && echo 0 || echo 1)"
  record "$PART" master_final bulwark 1 "$final"
  bench_log "  redis-stream exit $stream_rc; stored offset $stored of final master offset $final; $bytes stream bytes"
  python3 -c 'import json,sys; j = json.load(open(sys.argv[1]))
for k in ("rpo_s", "catchup_s", "lag_seconds", "gap_bytes"):
    print(k, j[k], file=sys.stderr)' "$BENCH_OUT/redis-lag.json" || true
fi

python3 - "$BENCH_RAW" "$HERE" "$BENCH_OUT/redis-lag.json" >"$BENCH_OUT/results-$PART.md" <<'PY'
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
has_snap = med("snapshot", "bulwark", "wall") is not None
if has_snap:
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
if has_snap:
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
lag = None
if R.status("stream_lag", "bulwark") is not None:
    import json, os
    if os.path.exists(sys.argv[3]):
        lag = json.load(open(sys.argv[3]))
if lag:
    rpo, cu, ls = lag["rpo_s"], lag["catchup_s"], lag["lag_seconds"]
    met = rpo.get("median") is not None and rpo["median"] < 1 and rpo["p95"] < 1
    print(f"| stream lag under 1 s at steady state | median {rpo.get('median', 0):.2f} s, "
          f"p95 {rpo.get('p95', 0):.2f} s: {'met' if met else 'not met'} |")
print()
if lag:
    final_ok = R.status("stream_final", "bulwark") == "0"
    print(f"Stream lag: `bulwark redis-stream --snapshot-every 0` (first snapshot after "
          f"{med('stream_snapshot', 'bulwark', 'wall'):.1f} s), then `redis-benchmark -t "
          f"set,lpush,incr -d 100 -c 8 -P 1` for {lag['load_seconds']:.1f} s: "
          f"{lag['requests_per_second']:,.0f} writes/s "
          f"({', '.join(f'{k} {v:,.0f}/s' for k, v in lag['load_tests'].items())}), "
          f"{lag['repl_bytes_per_second'] / 1e6:.2f} MB/s of replication stream. Steady state "
          f"(first {lag['steady_from_s']:.0f} s dropped), {ls['n']} redis-status samples:\n")
    print("| lag | median | p95 | max |")
    print("|---|---|---|---|")
    def row(name, st, fmt):
        if st.get("n"):
            print(f"| {name} | {fmt(st['median'])} | {fmt(st['p95'])} | {fmt(st['max'])} |")
    sec = lambda v: f"{v:.2f} s"
    row("age of the stored stream (offset gap as time)", rpo, sec)
    row("time until a master offset is reported stored (2 Hz calls)", cu, sec)
    row("redis-status lag_seconds", ls, sec)
    row("offset gap (master_repl_offset − stored)", lag["gap_bytes"], lambda v: f"{v / 1e6:.2f} MB")
    row("redis-status call (included above)", lag["status_call_s"], sec)
    stream_bytes = med("stream_bytes", "bulwark", "value") or 0
    growth = med("stream_repo_growth", "bulwark", "value") or 0
    print(f"\nStream stored: {stream_bytes / 1e6:.1f} MB of stream (redis-status "
          f"`stream_bytes`; {lag['repl_bytes'] / 1e6:.1f} MB of master offset during the load) "
          f"took {growth / 1e6:.1f} MB in the repository (compressed, encrypted). redis-stream "
          f"exit on SIGTERM: {R.status('stream_exit', 'bulwark')}; stored up to the final master "
          f"offset: {'yes' if final_ok else 'NO'}.")
    print()
PY
bench_log "redis: done"
