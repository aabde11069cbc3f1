#!/usr/bin/env bash
# Redis backup refusals, each with the right exit code and nothing committed: wrong password,
# no password, an ACL user without replication rights (NOPERM), a bad URL or a password in the
# URL, nothing listening, and a transfer cut mid-way by the server dying. Also checks which
# ACL rights are enough (the set docs/REDIS.md documents).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/redis_lib.sh"

bw init >/dev/null
snapshot_count() {
  "$BIN" --json snapshots >"$T/list.json"
  json "$T/list.json" 'len(d)'
}

REDIS_SANDBOX_PASSWORD=s3cret \
  REDIS_SANDBOX_ACL="bulwark on >bwpass -@all +psync +replconf +ping +info" \
  redis_start "$T/auth"
REDISCLI_AUTH=s3cret rcli "$T/auth" set k v >/dev/null
url="unix://$T/auth/redis.sock"

# Usage problems (exit 2): URL with a password, TLS options on a plain URL, wrong or missing
# password, NOPERM.
expect_exit 2 backup redis --component c --url "redis://u:pw@127.0.0.1:6379"
assert_grep "password in the Redis URL" "$T/err"
expect_exit 2 backup redis --component c --url "redis://127.0.0.1:6379" --redis-ca-bundle "$T/x"
assert_grep "rediss:// URLs only" "$T/err"
expect_exit 2 backup redis --component c --url "http://x"
unset REDISCLI_AUTH
BULWARK_REDIS_PASSWORD=wrong expect_exit 2 backup redis --component c --url "$url"
assert_grep "refused the credentials" "$T/err"
assert_one_line "$T/err"
expect_exit 2 backup redis --component c --url "$url"
assert_grep "NOAUTH" "$T/err"
echo wrong >"$T/redispw"
expect_exit 2 backup redis --component c --url "unix://bulwark@$T/auth/redis.sock" \
  --redis-password-file "$T/redispw"
assert_grep "WRONGPASS" "$T/err"

# An ACL user that may not replicate.
REDISCLI_AUTH=s3cret rcli "$T/auth" acl setuser reader on '>rpass' '~*' +get +ping >/dev/null
BULWARK_REDIS_PASSWORD=rpass expect_exit 2 backup redis --component c \
  --url "unix://reader@$T/auth/redis.sock"
assert_grep "NOPERM" "$T/err"
assert_grep "+psync +replconf +ping" "$T/err"

# The documented ACL user is enough; the default user with requirepass works too.
echo bwpass >"$T/redispw"
bw backup redis --component c --url "unix://bulwark@$T/auth/redis.sock" \
  --redis-password-file "$T/redispw" >/dev/null
REDISCLI_AUTH=s3cret bw backup redis --component c --url "$url" >/dev/null
[[ $(snapshot_count) -eq 2 ]] || fail "expected exactly the two successful snapshots"

# Nothing listening: a failure (exit 1).
redis_stop "$T/auth"
expect_exit 1 backup redis --component c --url "$url"
assert_grep "connecting to Redis" "$T/err"

# A transfer cut mid-way: a slow diskless transfer (the hidden rdb-key-save-delay setting
# makes the server pause per key) and the server killed while it streams.
REDIS_SANDBOX_DISKLESS=yes redis_start "$T/slow"
rcli "$T/slow" debug populate 30000 key 100 >/dev/null
rcli "$T/slow" config set rdb-key-save-delay 200 >/dev/null
(
  rc=0
  "$BIN" backup redis --component c --url "unix://$T/slow/redis.sock" >"$T/cut.out" \
    2>"$T/cut.err" || rc=$?
  echo "$rc" >"$T/cut.rc"
) &
bgpid=$!
# Wait until the fork child is streaming (the primary starts it from its once-a-second cron).
for _ in $(seq 1 300); do
  [[ $(rcli "$T/slow" info persistence | grep -c '^rdb_bgsave_in_progress:1') -eq 1 ]] && break
  sleep 0.1
done
sleep 1
# Kill the primary and its fork child (the one writing the diskless RDB).
pid=$(cat "$T/slow/redis.pid")
for child in $(pgrep -P "$pid" || true); do kill -KILL "$child" 2>/dev/null || true; done
kill -KILL "$pid"
wait "$bgpid" || true
[[ $(cat "$T/cut.rc") -eq 1 ]] || { cat "$T/cut.err"; fail "cut transfer exited $(cat "$T/cut.rc")"; }
assert_grep "cut after [0-9]* bytes" "$T/cut.err"
log "cut: $(cat "$T/cut.err")"
[[ $(snapshot_count) -eq 2 ]] || fail "a cut transfer committed a snapshot"

# A server still loading its dataset: refused with exit 1 and a message saying so. The hidden
# key-load-delay setting slows loading per key (20000 keys x 1 ms = 20 s), and a small
# loading-process-events-interval-bytes lets the server answer (LOADING) meanwhile.
redis_start "$T/big"
rcli "$T/big" debug populate 20000 key 10 >/dev/null
rcli "$T/big" save >/dev/null
redis_stop "$T/big"
mkdir "$T/loading"
cp "$T/big/dump.rdb" "$T/loading/"
cleanup_hooks+=("'$SANDBOX' stop '$T/loading'")
redis-server --dir "$T/loading" --port 0 --unixsocket "$T/loading/redis.sock" --save '' \
  --daemonize yes --pidfile "$T/loading/redis.pid" --logfile "$T/loading/redis.log" \
  --key-load-delay 1000 --loading-process-events-interval-bytes 1024
for _ in $(seq 1 100); do [[ -S "$T/loading/redis.sock" ]] && break; sleep 0.1; done
expect_exit 1 backup redis --component c --url "unix://$T/loading/redis.sock"
assert_grep "still loading" "$T/err"
assert_one_line "$T/err"
redis_stop "$T/loading"
[[ $(snapshot_count) -eq 2 ]] || fail "a refused backup committed a snapshot"
bw check >/dev/null
log "ok"
