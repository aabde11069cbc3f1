#!/usr/bin/env bash
# `restore redis --to URL`: a snapshot with every data type, TTLs, several databases and a
# function library replayed into a live, empty redis-server (password from a file) gives the
# same keyspace (DEBUG DIGEST, DBSIZE per db, TTLs, FUNCTION LIST); a server holding keys is
# refused (exit 2, one line, nothing written) unless --force; a wrong password is exit 2; and
# with --time the captured replication stream is replayed up to that time (exact keyspace).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/redis_lib.sh"

bw init >/dev/null
SRC="$T/src"
redis_start "$SRC"
populate "$SRC"
rcli "$SRC" function load "#!lua name=mylib
redis.register_function('myfunc', function(keys, args) return 42 end)" >/dev/null
keyspace "$SRC" >"$T/want"
log "source keyspace: $(tr '\n' ' ' <"$T/want")"
bw backup redis --component rt --url "unix://$SRC/redis.sock" >/dev/null

# The target requires a password, given in a file (never on the command line).
PW=target-secret
echo "$PW" >"$T/pw"
start_target() { # DIR PORT
  REDIS_SANDBOX_PASSWORD=$PW redis_start "$1" "$2"
}
tcli() { REDISCLI_AUTH=$PW rcli "$@"; }

# 1. Into an empty server over TCP.
p1=$(free_port)
start_target "$T/d1" "$p1"
bw --json restore redis latest --component rt --to "redis://127.0.0.1:$p1" \
  --redis-password-file "$T/pw" >"$T/r1.json"
REDISCLI_AUTH=$PW keyspace "$T/d1" >"$T/got1"
diff "$T/want" "$T/got1" || fail "keyspace restored with --to differs"
keys=$(json "$T/r1.json" 'd["keys"]')
[[ $keys -eq $(json "$T/r1.json" 'd["keys_after"]') ]] || fail "keys sent $keys != keys after"
[[ $(json "$T/r1.json" 'd["functions"]') -eq 1 ]] || fail "function library not restored"
[[ $(tcli "$T/d1" fcall myfunc 0) -eq 42 ]] || fail "restored function does not run"
ttl=$(tcli "$T/d1" ttl expiring)
[[ $ttl -gt 99000 && $ttl -le 100000 ]] || fail "TTL lost: $ttl"
[[ $(tcli "$T/d1" -n 15 get db15) == "value in db 15" ]] || fail "db 15 key"
[[ $(tcli "$T/d1" xinfo groups stream | grep -c g1) -eq 1 ]] || fail "stream group lost"
log "restored $keys keys into an empty server in $(json "$T/r1.json" 'd["duration_seconds"]') s"

# 2. A server holding keys is refused (before anything is written), one line, exit 2.
p2=$(free_port)
start_target "$T/d2" "$p2"
tcli "$T/d2" -n 3 set stranger 1 >/dev/null
tcli "$T/d2" set plain "not the snapshot's" >/dev/null
expect_exit 2 restore redis latest --component rt --to "redis://127.0.0.1:$p2" \
  --redis-password-file "$T/pw"
assert_one_line "$T/err"
assert_grep "is not empty (2 keys: db0=1, db3=1)" "$T/err"
assert_grep "force" "$T/err"
[[ $(tcli "$T/d2" dbsize) -eq 1 ]] || fail "a refused restore wrote keys"

# A wrong password is a configuration error.
echo wrong >"$T/badpw"
expect_exit 2 restore redis latest --component rt --to "redis://127.0.0.1:$p2" \
  --redis-password-file "$T/badpw"
assert_grep "refused the credentials" "$T/err"
# Exactly one of --target and --to.
expect_exit 2 restore redis latest --component rt
expect_exit 2 restore redis latest --component rt --target "$T/x" --to "redis://127.0.0.1:$p2"

# 3. --force: the snapshot's keys replace those of the same name, other keys stay.
bw restore redis latest --component rt --to "redis://127.0.0.1:$p2" \
  --redis-password-file "$T/pw" --force >/dev/null
[[ $(tcli "$T/d2" get plain) == "hello world" ]] || fail "--force did not replace 'plain'"
[[ $(tcli "$T/d2" -n 3 get stranger) == 1 ]] || fail "--force removed a key not in the snapshot"
tcli "$T/d2" -n 3 del stranger >/dev/null
REDISCLI_AUTH=$PW keyspace "$T/d2" >"$T/got2"
diff "$T/want" "$T/got2" || fail "keyspace after --force differs"
# Again over a full server (the same keys, and the function library, replaced).
bw restore redis latest --component rt --to "redis://127.0.0.1:$p2" \
  --redis-password-file "$T/pw" --force >/dev/null
REDISCLI_AUTH=$PW keyspace "$T/d2" >"$T/got2b"
diff "$T/want" "$T/got2b" || fail "keyspace after a second --force differs"
redis_stop "$T/d2"
redis_stop "$T/d1"

# 4. --time: the stream up to a time between two writes, replayed into a live server.
now() { date -u +%Y-%m-%dT%H:%M:%S.%NZ; }
"$BIN" redis-stream --component pit --url "unix://$SRC/redis.sock" --flush-ms 200 \
  >"$T/stream.out" 2>"$T/stream.err" &
STREAM=$!
cleanup_hooks+=("kill -TERM $STREAM 2>/dev/null; wait $STREAM 2>/dev/null")
for i in $(seq 1 300); do
  grep -q "snapshot .* saved" "$T/stream.err" && break
  kill -0 "$STREAM" 2>/dev/null || { cat "$T/stream.err" >&2; fail "redis-stream exited"; }
  sleep 0.1
done
grep -q "snapshot .* saved" "$T/stream.err" || fail "redis-stream took no snapshot"
for i in $(seq 1 8); do
  rcli "$SRC" set "key:$i" "$i" >/dev/null
  rcli "$SRC" -n 2 hset "h:$i" f "$i" >/dev/null
  rcli "$SRC" publish chan "message $i" >/dev/null
  if [[ $i -eq 3 ]]; then
    printf 'MULTI\nSET tx:a 1\nINCR tx:n\nRPUSH smalllist d\nEXEC\n' | rcli "$SRC" >/dev/null
    rcli "$SRC" del plain >/dev/null
    rcli "$SRC" set ttlkey v px 500000000 >/dev/null
  fi
  if [[ $i -eq 5 ]]; then
    sleep 0.4
    T1=$(now)
    D1=$(rcli "$SRC" debug digest)
    sleep 0.4
  else
    sleep 0.05
  fi
done
want_off=$(rcli "$SRC" info replication | tr -d '\r' | sed -n 's/^master_repl_offset://p')
for i in $(seq 1 100); do
  "$BIN" --json redis-status --component pit >"$T/status.json"
  [[ $(json "$T/status.json" 'd["offset"]') -ge $want_off ]] && break
  sleep 0.1
done
[[ $(json "$T/status.json" 'd["offset"]') -ge $want_off ]] || fail "stream not stored"

p3=$(free_port)
start_target "$T/d3" "$p3"
bw --json restore redis latest --component pit --to "redis://127.0.0.1:$p3" \
  --redis-password-file "$T/pw" --time "$T1" >"$T/r3.json"
got=$(tcli "$T/d3" debug digest)
[[ "$got" == "$D1" ]] || fail "keyspace at $T1 replayed with --to differs: $got, expected $D1"
[[ $(tcli "$T/d3" get key:5) == 5 && $(tcli "$T/d3" exists key:6) -eq 0 ]] ||
  fail "key:5 should be restored and key:6 not"
[[ $(tcli "$T/d3" exists plain) -eq 0 ]] || fail "the stream's DEL was not replayed"
[[ $(json "$T/r3.json" 'd["commands"]') -gt 10 ]] || fail "no stream commands replayed"
[[ $(json "$T/r3.json" 'd["dropped_commands"]') -ge 5 ]] || fail "PUBLISH not dropped"
ttl=$(tcli "$T/d3" ttl ttlkey)
[[ $ttl -gt 490000 ]] || fail "the stream's TTL was lost: $ttl"
# The same time into a non-empty server is refused before anything is written.
expect_exit 2 restore redis latest --component pit --to "redis://127.0.0.1:$p3" \
  --redis-password-file "$T/pw" --time "$T1"
assert_grep "is not empty" "$T/err"
# A time after the capture is refused, also with --to.
p4=$(free_port)
start_target "$T/d4" "$p4"
expect_exit 2 restore redis latest --component pit --to "redis://127.0.0.1:$p4" \
  --redis-password-file "$T/pw" --time "2099-01-01T00:00:00Z"
assert_grep "after the newest captured batch" "$T/err"
[[ $(tcli "$T/d4" dbsize) -eq 0 ]] || fail "a refused restore wrote keys"
kill -TERM "$STREAM"
wait "$STREAM" || fail "redis-stream exited with $?"
log "ok"
