#!/usr/bin/env bash
# Continuous capture of a Redis primary (`bulwark redis-stream`) and point-in-time restore
# (`restore redis --time`): numbered writes with a time between two of them restore to exactly
# the keys written before it (DEBUG DIGEST at that moment); the stream cut by CLIENT KILL
# resumes with +CONTINUE and loses nothing; a backlog too small to continue forces a new
# snapshot and the restore stays exact; a diskless transfer with writes during it gets them
# after its first ACK; times outside the capture are refused before anything is
# written; redis-status reports the replid, the offset the primary also sees and the lag.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/redis_lib.sh"

bw init >/dev/null
SRC="$T/src"
redis_start "$SRC"
url="unix://$SRC/redis.sock"
now() { date -u +%Y-%m-%dT%H:%M:%S.%NZ; }

# A little of everything in the keyspace before the first snapshot.
rcli "$SRC" set plain "hello" >/dev/null
rcli "$SRC" rpush list a b c >/dev/null
rcli "$SRC" -n 3 hset h f v >/dev/null
rcli "$SRC" set ttl v ex 100000 >/dev/null

"$BIN" redis-stream --component rs --url "$url" --flush-ms 250 >"$T/stream.out" \
  2>"$T/stream.err" &
STREAM=$!
cleanup_hooks+=("kill -CONT $STREAM 2>/dev/null; kill -TERM $STREAM 2>/dev/null; wait $STREAM 2>/dev/null")

# wait_log PATTERN COUNT [LOG PID]: until the stream's log has COUNT lines matching PATTERN.
wait_log() {
  local i log=${3:-$T/stream.err} pid=${4:-$STREAM}
  for i in $(seq 1 300); do
    if [[ $(grep -c -- "$1" "$log" || true) -ge $2 ]]; then return 0; fi
    kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; fail "redis-stream exited"; }
    sleep 0.1
  done
  cat "$log" >&2
  fail "no '$1' (x$2) in the redis-stream log"
}
COMP=rs

master_offset() { rcli "$SRC" info replication | tr -d '\r' | sed -n 's/^master_repl_offset://p'; }

# wait_caught_up: until redis-status reports the primary's offset as stored.
wait_caught_up() {
  local i want
  want=$(master_offset)
  for i in $(seq 1 100); do
    "$BIN" --json redis-status --component "$COMP" >"$T/status.json"
    if [[ $(json "$T/status.json" 'd["offset"]') -ge $want ]]; then return 0; fi
    sleep 0.1
  done
  cat "$T/status.json" >&2
  fail "the stored stream did not reach offset $want"
}

# restore_at TIME DIR: restores to TIME and starts redis-server on it (AOF on).
restore_at() {
  bw --json restore redis latest --component "$COMP" --target "$2" --time "$1" >"$2.json"
  echo "appendonly yes" >"$2/extra.conf"
  redis_start "$2"
}

# check_restore DIR DIGEST: the restored server holds exactly the keyspace with that digest,
# and its AOF and base RDB pass Redis's own checkers.
check_restore() {
  local got
  got=$(rcli "$1" debug digest)
  [[ "$got" == "$2" ]] || fail "restored keyspace in $1 differs: digest $got, expected $2"
  redis-check-aof "$1/appendonlydir/appendonly.aof.manifest" >"$1.check-aof" 2>&1 ||
    { cat "$1.check-aof" >&2; fail "redis-check-aof failed on $1"; }
  redis-check-rdb "$1/appendonlydir/appendonly.aof.1.base.rdb" >"$1.check-rdb" 2>&1 ||
    { cat "$1.check-rdb" >&2; fail "redis-check-rdb failed on $1"; }
  [[ -f "$1/dump.rdb" ]] || fail "no dump.rdb in $1"
}

wait_log "snapshot .* saved" 1

# --- Point in time: numbered keys, T between key 6 and key 7.
for i in $(seq 1 10); do
  rcli "$SRC" set "key:$i" "$i" >/dev/null
  if [[ $i -eq 3 ]]; then
    printf 'MULTI\nSET tx:a 1\nINCR tx:n\nRPUSH list d\nEXEC\n' | rcli "$SRC" >/dev/null
    rcli "$SRC" -n 3 set "db3:$i" x >/dev/null
  fi
  if [[ $i -eq 6 ]]; then
    sleep 0.4
    T1=$(now)
    D1=$(rcli "$SRC" debug digest)
    sleep 0.4
  else
    sleep 0.1
  fi
done
wait_caught_up
log "point in time $T1"
restore_at "$T1" "$T/r1"
check_restore "$T/r1" "$D1"
[[ $(rcli "$T/r1" exists key:6) -eq 1 && $(rcli "$T/r1" exists key:7) -eq 0 ]] ||
  fail "key:6 should be restored and key:7 not"
[[ $(rcli "$T/r1" get tx:n) == 1 && $(rcli "$T/r1" -n 3 exists db3:3) -eq 1 ]] ||
  fail "the transaction or the write to db 3 is missing"
redis_stop "$T/r1"

# --- redis-status: the replid and offset the primary reports, the ACK it got, a small lag.
wait_caught_up
"$BIN" --json redis-status --component rs >"$T/status.json"
[[ $(json "$T/status.json" 'd["replid"]') == \
  $(rcli "$SRC" info replication | tr -d '\r' | sed -n 's/^master_replid://p') ]] ||
  fail "redis-status replid differs from the primary's"
[[ $(json "$T/status.json" '0 <= d["lag_seconds"] < 15') == True ]] || fail "lag out of range"
[[ -n $(json "$T/status.json" 'd["last_batch_time"]') ]] || fail "no last batch time"
[[ -n $(json "$T/status.json" 'd["last_snapshot_time"]') ]] || fail "no last snapshot time"
# The primary sees the stream as an online replica that acknowledged everything (ACK).
acked=no
for i in $(seq 1 50); do
  m=$(master_offset)
  if rcli "$SRC" info replication | tr -d '\r' | grep -q "^slave0:.*state=online,offset=$m,"; then
    acked=yes
    break
  fi
  sleep 0.1
done
[[ $acked == yes ]] || { rcli "$SRC" info replication >&2; fail "no REPLCONF ACK of offset $m"; }
bw redis-status --component rs >"$T/status.txt"
assert_grep "lag now (RPO)" "$T/status.txt"

# --- Refusals, before anything is written.
expect_exit 2 restore redis latest --component rs --target "$T/early" --time "2001-01-01T00:00:00Z"
assert_grep "before the oldest" "$T/err"
[[ ! -e "$T/early" ]] || fail "a refused restore wrote $T/early"
expect_exit 2 restore redis latest --component rs --target "$T/late" --time "2099-01-01T00:00:00Z"
assert_grep "after the newest captured batch" "$T/err"
[[ ! -e "$T/late" ]] || fail "a refused restore wrote $T/late"

# --- The stream cut mid-load and resumed with +CONTINUE: no key lost.
(
  for b in $(seq 0 19); do
    for i in $(seq 1 100); do echo "SET load:$((b * 100 + i)) v$i"; done | rcli "$SRC" >/dev/null
    sleep 0.05
  done
) &
LOADER=$!
sleep 0.4
rcli "$SRC" client kill type replica >/dev/null
wait "$LOADER"
wait_log "+CONTINUE" 1
sleep 0.3
T2=$(now)
D2=$(rcli "$SRC" debug digest)
sleep 0.3
rcli "$SRC" set after:t2 1 >/dev/null
wait_caught_up
restore_at "$T2" "$T/r2"
check_restore "$T/r2" "$D2"
[[ $(rcli "$T/r2" eval "return #redis.call('keys','load:*')" 0) -eq 2000 ]] ||
  fail "keys lost across the reconnection"
redis_stop "$T/r2"
[[ $(grep -c "snapshot .* saved" "$T/stream.err") -eq 1 ]] || fail "the cut took a new snapshot"

# --- A full resync forced by a tiny backlog while the stream is stopped.
rcli "$SRC" config set repl-backlog-size 16384 >/dev/null
kill -STOP "$STREAM"
rcli "$SRC" client kill type replica >/dev/null
for i in $(seq 1 2000); do echo "SET big:$i $(printf 'x%.0s' {1..20})$i"; done | rcli "$SRC" >/dev/null
rcli "$SRC" eval "for i=1,2000 do redis.call('set','pad:'..i,string.rep('p',500)) end" 0 >/dev/null
kill -CONT "$STREAM"
wait_log "taking a new snapshot" 1
wait_log "snapshot .* saved" 2
for i in $(seq 1 5); do rcli "$SRC" set "post:$i" "$i" >/dev/null; sleep 0.1; done
sleep 0.3
T3=$(now)
D3=$(rcli "$SRC" debug digest)
sleep 0.3
rcli "$SRC" set after:t3 1 >/dev/null
wait_caught_up
restore_at "$T3" "$T/r3"
check_restore "$T/r3" "$D3"
redis_stop "$T/r3"
[[ $(json "$T/r3.json" 'd["snapshot"]') != $(json "$T/r1.json" 'd["snapshot"]') ]] ||
  fail "the restore after the resync did not start from the new snapshot"
# The first stream still restores its times exactly.
restore_at "$T1" "$T/r1b"
check_restore "$T/r1b" "$D1"
redis_stop "$T/r1b"

# --- Diskless transfer with writes during it: Redis 7 holds them back until the replica's
# first REPLCONF ACK (repl_put_online_on_ack), which the stream sends right after the RDB; the
# restore is exact.
DL="$T/dl"
REDIS_SANDBOX_DISKLESS=yes redis_start "$DL"
rcli "$DL" debug populate 20000 pop 50 >/dev/null
rcli "$DL" config set rdb-key-save-delay 20 >/dev/null
"$BIN" redis-stream --component dl --url "unix://$DL/redis.sock" --flush-ms 250 >"$T/dl.out" \
  2>"$T/dl.err" &
DLSTREAM=$!
cleanup_hooks+=("kill -TERM $DLSTREAM 2>/dev/null; wait $DLSTREAM 2>/dev/null")
for i in $(seq 1 40); do
  rcli "$DL" set "dl:$i" "$i" >/dev/null
  sleep 0.02
done
wait_log "snapshot .* saved" 1 "$T/dl.err" "$DLSTREAM"
rcli "$DL" config set rdb-key-save-delay 0 >/dev/null
rcli "$DL" set dl:last 1 >/dev/null
sleep 0.3
T4=$(now)
D4=$(rcli "$DL" debug digest)
sleep 0.3
rcli "$DL" set after:t4 1 >/dev/null
SRC_SAVED=$SRC
SRC=$DL COMP=dl
wait_caught_up
restore_at "$T4" "$T/r4"
check_restore "$T/r4" "$D4"
redis_stop "$T/r4"
SRC=$SRC_SAVED COMP=rs
kill -TERM "$DLSTREAM"
wait "$DLSTREAM" || fail "redis-stream (diskless) did not exit 0 on SIGTERM"

# --- SIGTERM: stores what it holds and exits 0.
rcli "$SRC" set last 1 >/dev/null
want=$(master_offset)
sleep 0.1
kill -TERM "$STREAM"
rc=0
wait "$STREAM" || rc=$?
[[ $rc -eq 0 ]] || { cat "$T/stream.err" >&2; fail "redis-stream exited $rc on SIGTERM"; }
"$BIN" --json redis-status --component rs >"$T/status.json"
[[ $(json "$T/status.json" 'd["offset"]') -ge $want ]] ||
  fail "the last writes were not stored on SIGTERM"

# --- check: the captured streams continue their snapshots and are whole commands; a lost
# segment (the oldest of the snapshot with the most, so offsets after the snapshot's go
# missing) and a damaged one are found (exit 4).
bw --json check --read-data >"$T/check.json"
[[ $(json "$T/check.json" 'sum(c["segments"] for c in d["redis"])') -gt 2 ]] ||
  fail "check saw no stream segments"
[[ $(json "$T/check.json" 'sum(c["bytes_read"] for c in d["redis"])') -gt 0 ]] ||
  fail "check --read-data read no stream bytes"
[[ $(json "$T/check.json" 'sum(len(c["problems"]) for c in d["redis"])') -eq 0 ]] ||
  fail "check found problems in a sound stream"
seg_dir=$(for d in "$REPO"/redis-stream/*/*/; do echo "$(ls "$d" | wc -l) $d"; done |
  sort -n | tail -1 | cut -d' ' -f2)
[[ $(ls "$seg_dir" | wc -l) -ge 2 ]] || fail "no snapshot with two segments"
oldest=$(ls -tr "$seg_dir" | head -1)
mv "$seg_dir/$oldest" "$T/segment.saved"
expect_exit 4 check
assert_grep "are missing (a segment is lost)" "$T/out"
mv "$T/segment.saved" "$seg_dir/$oldest"
bw check >/dev/null
newest=$(ls -t "$seg_dir" | head -1)
cp "$seg_dir/$newest" "$T/segment.saved"
printf 'X' | dd of="$seg_dir/$newest" bs=1 seek=40 conv=notrunc status=none
expect_exit 4 check --read-data
assert_grep "Redis stream of component" "$T/out"
cp "$T/segment.saved" "$seg_dir/$newest"
log "ok"
