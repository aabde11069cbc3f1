#!/usr/bin/env bash
# Periodic snapshots of `redis-stream` (`--snapshot-every`) and retention of the stream: a new
# snapshot is taken on a second connection while the stream goes on, so that every moment,
# including those during a slow RDB transfer, restores exactly (DEBUG DIGEST); later segments
# continue the newest snapshot; `forget` removes the segments of the snapshots it forgets (and
# nothing else), the times they covered are then refused, and `copy` carries the stream of the
# snapshots it copies to a second repository, where a point in time restores as well.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/redis_lib.sh"

bw init >/dev/null
SRC="$T/src"
redis_start "$SRC"
url="unix://$SRC/redis.sock"
now() { date -u +%Y-%m-%dT%H:%M:%S.%NZ; }

# Enough keys, saved slowly, that each RDB transfer takes about a second of writes.
rcli "$SRC" debug populate 20000 pop 20 >/dev/null
rcli "$SRC" config set rdb-key-save-delay 50 >/dev/null

"$BIN" redis-stream --component rs --url "$url" --flush-ms 200 --snapshot-every 3 \
  >"$T/stream.out" 2>"$T/stream.err" &
STREAM=$!
cleanup_hooks+=("kill -TERM $STREAM 2>/dev/null; wait $STREAM 2>/dev/null")

wait_log() {
  local i
  for i in $(seq 1 600); do
    if [[ $(grep -c -- "$1" "$T/stream.err" || true) -ge $2 ]]; then return 0; fi
    kill -0 "$STREAM" 2>/dev/null || { cat "$T/stream.err" >&2; fail "redis-stream exited"; }
    sleep 0.1
  done
  cat "$T/stream.err" >&2
  fail "no '$1' (x$2) in the redis-stream log"
}
master_offset() { rcli "$SRC" info replication | tr -d '\r' | sed -n 's/^master_repl_offset://p'; }
wait_caught_up() {
  local i want
  want=$(master_offset)
  for i in $(seq 1 100); do
    "$BIN" --json redis-status --component rs >"$T/status.json"
    if [[ $(json "$T/status.json" 'd["offset"]') -ge $want ]]; then return 0; fi
    sleep 0.1
  done
  cat "$T/status.json" >&2
  fail "the stored stream did not reach offset $want"
}

wait_log "snapshot .* saved" 1

# Numbered writes for about 12 s, with a checkpoint (time, digest) every 12 writes; the writes
# are the only ones, so the digest at a checkpoint is the keyspace at that time.
declare -a TIMES DIGESTS
for i in $(seq 1 120); do
  rcli "$SRC" set "key:$i" "$i" >/dev/null
  if ((i % 12 == 0)); then
    sleep 0.05
    TIMES+=("$(now)")
    DIGESTS+=("$(rcli "$SRC" debug digest)")
    sleep 0.05
  else
    sleep 0.08
  fi
done
wait_log "periodic snapshot .* saved" 2
rcli "$SRC" set after:last 1 >/dev/null
wait_caught_up

# restore_at TIME DIR DIGEST [REPO]: restores to TIME, starts redis-server on it and compares.
restore_at() {
  local repo=${4:-$REPO}
  bw --repo "$repo" --json restore redis latest --component rs --target "$2" --time "$1" \
    >"$2.json"
  echo "appendonly yes" >"$2/extra.conf"
  redis_start "$2"
  local got
  got=$(rcli "$2" debug digest)
  [[ "$got" == "$3" ]] || fail "restore to $1 in $2 differs: digest $got, expected $3"
  redis-check-aof "$2/appendonlydir/appendonly.aof.manifest" >"$2.check-aof" 2>&1 ||
    { cat "$2.check-aof" >&2; fail "redis-check-aof failed on $2"; }
  redis_stop "$2"
}

declare -A BASES
for k in "${!TIMES[@]}"; do
  restore_at "${TIMES[$k]}" "$T/r$k" "${DIGESTS[$k]}"
  BASES[$(json "$T/r$k.json" 'd["snapshot"]')]=1
done
# The checkpoints restored from several snapshots, not all from the first one.
[[ ${#BASES[@]} -ge 3 ]] || fail "the checkpoints used ${#BASES[@]} base snapshots, expected >= 3"
log "${#TIMES[@]} checkpoints restored exactly from ${#BASES[@]} base snapshots"

kill -TERM "$STREAM"
wait "$STREAM" || fail "redis-stream did not exit 0 on SIGTERM"

# A last stream without periodic snapshots: its start is the newest snapshot.
rcli "$SRC" config set rdb-key-save-delay 0 >/dev/null
"$BIN" redis-stream --component rs --url "$url" --flush-ms 200 --snapshot-every 0 \
  >"$T/stream.out" 2>"$T/stream2.err" &
STREAM=$!
cleanup_hooks+=("kill -TERM $STREAM 2>/dev/null; wait $STREAM 2>/dev/null")
for i in $(seq 1 300); do
  grep -q "snapshot .* saved" "$T/stream2.err" && break
  sleep 0.1
done
for i in $(seq 1 5); do
  rcli "$SRC" set "final:$i" "$i" >/dev/null
  sleep 0.1
done
TF=$(now)
DF=$(rcli "$SRC" debug digest)
sleep 0.2
rcli "$SRC" set after:final 1 >/dev/null
wait_caught_up
kill -TERM "$STREAM"
wait "$STREAM" || fail "the second redis-stream did not exit 0 on SIGTERM"

# --- copy: the stream of every snapshot goes along; a point in time restores from the copy.
COPY="$T/copy"
bw --repo "$COPY" init --from-repo "$REPO" >/dev/null
bw --repo "$COPY" --json copy --from "$REPO" >"$T/copy.json"
[[ $(json "$T/copy.json" 'd["redis_stream_copied"]') -gt 0 ]] || fail "no stream segment copied"
restore_at "$TF" "$T/cf" "$DF" "$COPY"
restore_at "${TIMES[0]}" "$T/c0" "${DIGESTS[0]}" "$COPY"

# --- forget: the segments of the forgotten snapshots go, the newest stream stays exact.
"$BIN" --json redis-status --component rs >"$T/before.json"
bw --json forget --component rs --keep-last 1 >"$T/forget.json"
removed=$(json "$T/forget.json" 'd["redis_stream_removed"]')
[[ $removed -gt 0 ]] || fail "forget removed no stream segment"
"$BIN" --json redis-status --component rs >"$T/after.json"
[[ $(json "$T/after.json" 'd["segments"]') -eq \
  $(($(json "$T/before.json" 'd["segments"]') - removed)) ]] ||
  fail "redis-status segments do not match what forget removed"
restore_at "$TF" "$T/ff" "$DF"
expect_exit 2 restore redis latest --component rs --target "$T/gone" --time "${TIMES[0]}"
assert_grep "before the oldest" "$T/err"
bw check >/dev/null
bw prune >/dev/null
restore_at "$TF" "$T/pf" "$DF"
# The copy keeps its own stream until its own forget.
restore_at "${TIMES[0]}" "$T/c0b" "${DIGESTS[0]}" "$COPY"
log "ok"
