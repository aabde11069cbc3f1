#!/usr/bin/env bash
# Incremental Redis snapshots: after a full snapshot, `backup redis` continues the replication
# stream (PSYNC <replid> <offset>) and stores only the writes since, so rewriting 1% of the keys
# stores about 1% of the first snapshot. Chained incrementals restore (as files, AOF included,
# checked by redis-check-aof, and into a live server) to exactly the keyspace at their offset,
# also after the snapshots before them are forgotten and pruned. A full snapshot is taken, and
# says why, with --full, when the backlog no longer holds the offset, and when the ACL user may
# not run INFO; --time refuses an incremental base.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/redis_lib.sh"

bw init >/dev/null
mkdir -p "$T/src"
echo "repl-backlog-size 32mb" >"$T/src/extra.conf"
redis_start "$T/src"
populate "$T/src"
url="unix://$T/src/redis.sock"

# keys_now DIR: the number of keys in every database.
keys_now() {
  rcli "$1" info keyspace | sed -n 's/^db[0-9]*:keys=\([0-9]*\),.*/\1/p' | awk '{n += $1} END {print n}'
}
# restore_check SNAPSHOT WANT_FILE NAME: restores SNAPSHOT as files, checks the RDB and the AOF
# with Redis's tools, starts Redis on it with appendonly and compares the keyspace.
restore_check() {
  local snap=$1 want=$2 name=$3
  bw --json restore redis "$snap" --target "$T/$name" >"$T/$name.json"
  [[ $(json "$T/$name.json" 'd["incremental"]') == True ]] || fail "$name: not restored as incremental"
  redis-check-rdb "$T/$name/appendonlydir/appendonly.aof.1.base.rdb" >"$T/check.out" 2>&1 ||
    { cat "$T/check.out"; fail "$name: redis-check-rdb"; }
  redis-check-aof "$T/$name/appendonlydir/appendonly.aof.manifest" >"$T/check.out" 2>&1 ||
    { cat "$T/check.out"; fail "$name: redis-check-aof"; }
  echo "appendonly yes" >"$T/$name/extra.conf"
  redis_start "$T/$name"
  keyspace "$T/$name" >"$T/$name.got"
  diff "$want" "$T/$name.got" || fail "$name: restored keyspace differs"
  redis_stop "$T/$name"
}

# 1. A full snapshot, then 1% of the 600,000 populated keys rewritten (by a script, so the
#    stream holds a MULTI/EXEC), and changes to other types, databases and TTLs.
bw --json backup redis --component cache --url "$url" >"$T/b1.json"
[[ $(json "$T/b1.json" 'd["source"]["transfer"]') == disk ]] || fail "first snapshot not full"
full_stored=$(json "$T/b1.json" 'd["summary"]["bytes_stored"]')
rcli "$T/src" eval "for i=0,599999,100 do redis.call('set','key:'..i,'changed '..i) end" 0 >/dev/null
rcli "$T/src" lpush smalllist new1 new2 >/dev/null
rcli "$T/src" zadd bigz 99 newmember >/dev/null
rcli "$T/src" hdel bigh f1 f2 >/dev/null
rcli "$T/src" del big_lzf >/dev/null
rcli "$T/src" -n 2 set only_in_2 yes >/dev/null
rcli "$T/src" set ttl_new v ex 7200 >/dev/null
rcli "$T/src" persist expiring >/dev/null
keyspace "$T/src" >"$T/want2"

bw --json backup redis --component cache --url "$url" >"$T/b2.json"
[[ $(json "$T/b2.json" 'd["source"]["transfer"]') == continue ]] || fail "second snapshot not incremental"
[[ $(json "$T/b2.json" 'd["source"]["parent"]') == $(json "$T/b1.json" 'd["snapshot"]') ]] ||
  fail "wrong parent"
[[ $(json "$T/b2.json" 'd["source"]["keys"]') -eq $(keys_now "$T/src") ]] || fail "key count"
stored2=$(json "$T/b2.json" 'd["summary"]["bytes_stored"]')
log "full snapshot stored $full_stored bytes; after 1% of the keys changed, $stored2"
[[ $((stored2 * 10)) -lt $full_stored ]] || fail "incremental stored $stored2 of $full_stored bytes"
s2=$(json "$T/b2.json" 'd["snapshot"]')

# 2. More writes; a chained incremental keeps the stream since the full snapshot.
rcli "$T/src" eval "for i=1,5000 do redis.call('rpush','newlist','e'..i) end" 0 >/dev/null
rcli "$T/src" -n 15 flushdb >/dev/null
head -c 3000000 /dev/urandom | rcli "$T/src" -x set key:7 >/dev/null
keyspace "$T/src" >"$T/want3"
bw --json backup redis --component cache --url "$url" >"$T/b3.json"
[[ $(json "$T/b3.json" 'd["source"]["transfer"]') == continue ]] || fail "third snapshot not incremental"
[[ $(json "$T/b3.json" 'd["source"]["stream_bytes"]') -eq \
  $(($(json "$T/b2.json" 'd["source"]["stream_bytes"]') + \
  $(json "$T/b3.json" 'd["source"]["stream_bytes_new"]'))) ]] || fail "stream not chained"
[[ $(json "$T/b3.json" 'd["source"]["base_snapshot"]') == $(json "$T/b1.json" 'd["snapshot"]') ]] ||
  fail "wrong base"
s3=$(json "$T/b3.json" 'd["snapshot"]')

restore_check "$s2" "$T/want2" r2
restore_check latest "$T/want3" r3

# check: both incrementals' stream.resp are as long as their offsets say and whole commands.
bw --json check --read-data >"$T/check.json"
[[ $(json "$T/check.json" '[c["incremental"] for c in d["redis"] if c["component"] == "cache"][0]') \
  -eq 2 ]] || fail "check did not see the incremental snapshots"
[[ $(json "$T/check.json" 'sum(len(c["problems"]) for c in d["redis"])') -eq 0 ]] ||
  fail "check found problems"
[[ $(json "$T/check.json" 'sum(c["bytes_read"] for c in d["redis"])') -gt 0 ]] ||
  fail "check --read-data parsed no stream.resp"

# Into a live, empty server: the same keyspace.
redis_start "$T/live"
bw restore redis "$s3" --to "unix://$T/live/redis.sock" >/dev/null
keyspace "$T/live" >"$T/live.got"
diff "$T/want3" "$T/live.got" || fail "restore --to of an incremental snapshot differs"
redis_stop "$T/live"

# --time starts from full snapshots only.
expect_exit 2 restore redis "$s3" --time "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --target "$T/rt"
assert_grep "is incremental" "$T/err"
[[ ! -e "$T/rt/dump.rdb" ]] || fail "a refused restore wrote dump.rdb"

# 3. The newest incremental stands alone: forget the full and the first incremental, prune,
#    check every byte, restore.
bw forget --component cache --keep-last 1 >/dev/null
bw prune >/dev/null
bw check --read-data >/dev/null
rm -rf "$T/r3"
restore_check "$s3" "$T/want3" r3

# 4. Full snapshots: asked for, and when the backlog has lost the offset (a 16 kB backlog and
#    more than that written).
bw --json backup redis --component cache --url "$url" --full >"$T/b4.json"
[[ $(json "$T/b4.json" 'd["source"]["transfer"]') == disk ]] || fail "--full not full"
rcli "$T/src" config set repl-backlog-size 16384 >/dev/null
rcli "$T/src" eval "for i=1,2000 do redis.call('set','fill:'..i,string.rep('f',100)) end" 0 >/dev/null
bw --json backup redis --component cache --url "$url" >"$T/b5.json" 2>"$T/b5.err"
[[ $(json "$T/b5.json" 'd["source"]["transfer"]') == disk ]] || fail "lost offset not full"
json "$T/b5.json" 'd["source"]["full_reason"]' | grep -q "could not continue" ||
  fail "no reason for the full snapshot"
rcli "$T/src" config set repl-backlog-size 32mb >/dev/null
bw backup redis --component cache --url "$url" --max-stream-percent 0 >"$T/b6.out" 2>"$T/b6.err"
# An empty stream is not over 0%: still incremental; a written one is.
grep -q "incremental" "$T/b6.out" || fail "an empty stream did not continue"
rcli "$T/src" set one more >/dev/null
bw backup redis --component cache --url "$url" >/dev/null
bw --json backup redis --component cache --url "$url" --max-stream-percent 0 >"$T/b7.json" 2>"$T/b7.err"
[[ $(json "$T/b7.json" 'd["source"]["transfer"]') == disk ]] || fail "stream limit ignored"
assert_grep "exceeds 0%" "$T/b7.err"

# 5. An ACL user that may replicate but not run INFO gets full snapshots, and is told why.
rcli "$T/src" acl setuser noinfo on '>nipass' -@all +psync +replconf +ping >/dev/null
echo nipass >"$T/nipw"
bw backup redis --component acl --url "unix://noinfo@$T/src/redis.sock" \
  --redis-password-file "$T/nipw" >/dev/null
bw --json backup redis --component acl --url "unix://noinfo@$T/src/redis.sock" \
  --redis-password-file "$T/nipw" >"$T/b8.json" 2>"$T/b8.err"
[[ $(json "$T/b8.json" 'd["source"]["transfer"]') == disk ]] || fail "no INFO right, yet not full"
assert_grep "+info" "$T/b8.err"
rcli "$T/src" acl setuser noinfo +info >/dev/null
bw --json backup redis --component acl --url "unix://noinfo@$T/src/redis.sock" \
  --redis-password-file "$T/nipw" >"$T/b9.json"
[[ $(json "$T/b9.json" 'd["source"]["transfer"]') == continue ]] || fail "+info: not incremental"
log "ok"
