#!/usr/bin/env bash
# Memory of `backup redis` is bounded by configuration, not by the keyspace: with an 8 MiB
# receive buffer, an RDB of about 300 MiB (many times the buffer) is backed up with a peak RSS
# under 150 MiB, the backlog goes through the unlinked spill file (which leaves nothing behind
# in --spill-dir), in both transfer forms; the restored dump.rdb passes redis-check-rdb and
# holds as many keys as the RDB `redis-cli --rdb` fetches. A missing --spill-dir is exit 2.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/redis_lib.sh"

RSS_LIMIT_MIB=150

# peak_rss_run OUT ARGS...: runs bulwark with stdout in OUT; prints its peak RSS in MiB.
peak_rss_run() {
  python3 - "$@" <<'PY'
import resource, subprocess, sys
out, cmd = sys.argv[1], sys.argv[2:]
with open(out, "wb") as f:
    rc = subprocess.run(cmd, stdout=f).returncode
if rc != 0:
    sys.exit("bulwark exited with %d" % rc)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024)
PY
}

bw init >/dev/null
redis_start "$T/src"
# Uncompressed RDB strings, so the RDB is as large as the keyspace: 1M keys of 300 bytes.
rcli "$T/src" config set rdbcompression no >/dev/null
rcli "$T/src" debug populate 1000000 key 300 >/dev/null
rcli "$T/src" set marker "the last key" >/dev/null
redis-cli -s "$T/src/redis.sock" --rdb "$T/cli.rdb" >/dev/null 2>&1
cli_keys=$(redis-check-rdb "$T/cli.rdb" 2>&1 | sed -n 's/.*\[info\] \([0-9]*\) keys read.*/\1/p')
[[ $cli_keys -eq 1000001 ]] || fail "redis-cli --rdb holds $cli_keys keys"
rdb_mib=$(($(stat -c %s "$T/cli.rdb") / 1048576))
[[ $rdb_mib -ge 256 ]] || fail "the RDB is only $rdb_mib MiB"
mkdir -p "$T/spill"

n=0
for transfer in disk diskless; do
  n=$((n + 1))
  if [[ $transfer == diskless ]]; then
    rcli "$T/src" config set repl-diskless-sync yes >/dev/null
    rcli "$T/src" config set repl-diskless-sync-delay 0 >/dev/null
  fi
  rss=$(peak_rss_run "$T/b$n.json" "$BIN" --json backup redis --component cache \
    --url "unix://$T/src/redis.sock" --buffer-mib 8 --spill-dir "$T/spill" --full) ||
    fail "backup ($transfer) failed"
  [[ $(json "$T/b$n.json" 'd["source"]["transfer"]') == "$transfer" ]] || fail "not $transfer"
  spilled=$(json "$T/b$n.json" 'd["buffer"]["spilled_bytes"]')
  keys=$(json "$T/b$n.json" 'd["source"]["keys"]')
  log "$transfer: RDB $rdb_mib MiB, buffer 8 MiB, peak RSS $rss MiB, spilled $((spilled / 1048576)) MiB"
  [[ $rss -lt $RSS_LIMIT_MIB ]] || fail "peak RSS $rss MiB >= $RSS_LIMIT_MIB MiB ($transfer)"
  [[ $keys -eq $cli_keys ]] || fail "snapshot counts $keys keys, redis-cli's RDB $cli_keys"
  [[ -z $(ls -A "$T/spill") ]] || fail "the spill file was left behind: $(ls -A "$T/spill")"

  bw restore redis latest --component cache --target "$T/r$n" -q
  redis-check-rdb "$T/r$n/dump.rdb" >"$T/check.out" 2>&1 ||
    { tail -5 "$T/check.out"; fail "redis-check-rdb rejected the restored RDB ($transfer)"; }
  got=$(sed -n 's/.*\[info\] \([0-9]*\) keys read.*/\1/p' "$T/check.out")
  [[ $got -eq $cli_keys ]] || fail "restored RDB holds $got keys, redis-cli's $cli_keys"
  rm -rf "$T/r$n"
done
# The disk-transfer run must have gone through the spill file (the consumer is slower than a
# local socket); otherwise this test proves nothing about the bound.
[[ $(json "$T/b1.json" 'd["buffer"]["spilled_bytes"]') -gt $((64 * 1048576)) ]] ||
  fail "the backup did not spill; the memory bound was not exercised"

# A spill directory that does not exist is a configuration error, found before the transfer.
expect_exit 2 backup redis --component cache --url "unix://$T/src/redis.sock" \
  --spill-dir "$T/no-such-dir"
assert_grep "spill-dir" "$T/err"
"$BIN" --json snapshots --component cache >"$T/snaps.json"
[[ $(json "$T/snaps.json" 'len(d)') -eq 2 ]] || fail "a refused backup committed a snapshot"
log ok
