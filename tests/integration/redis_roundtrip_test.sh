#!/usr/bin/env bash
# Redis backup through the replication protocol and restore, against real redis-servers:
# every data type round-trips (DEBUG DIGEST and DBSIZE equal, redis-check-rdb passes), both
# transfer forms (on-disk $<len> and diskless $EOF:<mark>), unix socket and TCP, a second
# snapshot of an unchanged keyspace adds little, and two million small keys round-trip through
# files and through restore --to.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/redis_lib.sh"

bw init >/dev/null
port=$(free_port)
redis_start "$T/src" "$port"
populate "$T/src"
keyspace "$T/src" >"$T/want"
log "source keyspace: $(tr '\n' ' ' <"$T/want")"

# 1. On-disk transfer over the unix socket.
bw --json backup redis --component sessions --url "unix://$T/src/redis.sock" >"$T/b1.json"
[[ $(json "$T/b1.json" 'd["source"]["transfer"]') == disk ]] || fail "expected a disk transfer"
[[ $(json "$T/b1.json" 'd["source"]["checksum_verified"]') == True ]] || fail "checksum not verified"
keys=$(json "$T/b1.json" 'd["source"]["keys"]')
want_keys=$(($(rcli "$T/src" dbsize) + 1 + 100 + 1 + 200 + 1 + 1500))
[[ $keys -eq $want_keys ]] || fail "snapshot counts $keys keys, server has $want_keys"
[[ $(json "$T/b1.json" 'd["source"]["keys_per_db"]["15"]') -eq 1501 ]] || fail "db 15 key count"
[[ -n $(json "$T/b1.json" 'd["source"]["redis_version"]') ]] || fail "no redis version"
[[ $(json "$T/b1.json" 'len(d["source"]["replid"])') -eq 40 ]] || fail "no replid"
rdb_bytes=$(json "$T/b1.json" 'd["source"]["rdb_bytes"]')
log "snapshot 1: $rdb_bytes RDB bytes, $keys keys"

bw restore redis latest --component sessions --target "$T/r1" >/dev/null
[[ -f "$T/r1/dump.rdb" ]] || fail "no dump.rdb restored"
[[ $(stat -c %s "$T/r1/dump.rdb") -eq $rdb_bytes ]] || fail "restored size differs"
redis-check-rdb "$T/r1/dump.rdb" >"$T/check.out" 2>&1 || { cat "$T/check.out"; fail "redis-check-rdb"; }
redis_start "$T/r1"
keyspace "$T/r1" >"$T/got1"
diff "$T/want" "$T/got1" || fail "restored keyspace differs (disk transfer)"
# TTLs survive as absolute times: still counting down, not lost.
ttl=$(rcli "$T/r1" ttl expiring)
[[ $ttl -gt 99000 && $ttl -le 100000 ]] || fail "TTL lost: $ttl"
redis_stop "$T/r1"

# Restoring over an existing dump.rdb is refused without --force.
expect_exit 2 restore redis latest --target "$T/r1"
assert_grep "already exists" "$T/err"
bw restore redis latest --target "$T/r1" --force >/dev/null

# 2. Diskless transfer over TCP (a full snapshot: an incremental one would transfer no RDB);
#    the keyspace is unchanged, so little is added.
rcli "$T/src" config set repl-diskless-sync yes >/dev/null
bw --json backup redis --component sessions --url "redis://127.0.0.1:$port/0" --full >"$T/b2.json"
[[ $(json "$T/b2.json" 'd["source"]["transfer"]') == diskless ]] || fail "expected diskless"
added=$(json "$T/b2.json" 'd["summary"]["bytes_added"]')
log "snapshot 2 (diskless, unchanged keyspace): added $added of $rdb_bytes bytes"
# Only the chunks holding the header (aux fields: time, memory, replication ID) and the
# checksum may change: at most two chunks of the chunker's 4 MiB maximum, plus the tree.
[[ $added -lt $((8 * 1048576 + 65536)) ]] || fail "unchanged keyspace added $added bytes"
[[ $((added * 3)) -lt $rdb_bytes ]] || fail "unchanged keyspace added $added of $rdb_bytes bytes"
bw restore redis latest --target "$T/r2" >/dev/null
redis-check-rdb "$T/r2/dump.rdb" >"$T/check.out" 2>&1 || { cat "$T/check.out"; fail "redis-check-rdb"; }
redis_start "$T/r2"
keyspace "$T/r2" >"$T/got2"
diff "$T/want" "$T/got2" || fail "restored keyspace differs (diskless transfer)"
redis_stop "$T/r2"

# 3. The snapshot is listed with its kind; restore redis refuses a non-Redis snapshot.
bw --json snapshots >"$T/list.json"
[[ $(json "$T/list.json" 'sum(1 for s in d if s["kind"] == "redis")') -eq 2 ]] || fail "kind"
echo hello >"$T/file"
bw backup files --component cfg "$T/file" >/dev/null
expect_exit 2 restore redis latest --component cfg --target "$T/r3"
assert_grep "not a Redis snapshot" "$T/err"
bw check --read-data >/dev/null
redis_stop "$T/src"

# 4. Two million small keys: backup, restore as files and into a live server, DEBUG DIGEST.
BIG="$T/big"
redis_start "$BIG"
rcli "$BIG" debug populate 2000000 key 10 >/dev/null
big_digest=$(rcli "$BIG" debug digest)
t0=$SECONDS
bw backup redis --component big --url "unix://$BIG/redis.sock" >/dev/null
t1=$SECONDS
redis_stop "$BIG"
bw restore redis latest --component big --target "$T/bigr" >/dev/null
redis_start "$T/bigr"
t2=$SECONDS
[[ $(rcli "$T/bigr" dbsize) -eq 2000000 ]] || fail "2M keys: restored dbsize differs"
[[ $(rcli "$T/bigr" debug digest) == "$big_digest" ]] || fail "2M keys: restored digest differs"
redis_stop "$T/bigr"
redis_start "$T/bigto"
t3=$SECONDS
bw restore redis latest --component big --to "unix://$T/bigto/redis.sock" >/dev/null
t4=$SECONDS
[[ $(rcli "$T/bigto" debug digest) == "$big_digest" ]] || fail "2M keys: digest after --to differs"
redis_stop "$T/bigto"
log "2M keys: backup $((t1 - t0)) s, restore as files + redis start $((t2 - t1)) s, restore --to $((t4 - t3)) s"
log "ok"
