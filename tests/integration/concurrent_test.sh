#!/usr/bin/env bash
# Concurrent writers: two (then three) backups into one repository at the same time need no
# exclusive lock and all succeed; their snapshots restore exactly, data they share is stored
# once, and `check --read-data` passes.
source "$(dirname "$0")/lib.sh"

bw init --chunk-size 256KiB --pack-size 2MiB -q
mkdir -p "$T/a" "$T/b" "$T/c"
random_file "$T/shared.bin" 16
for d in a b c; do
  for i in 1 2 3 4; do random_file "$T/$d/own$i.bin" 4; done
  cp "$T/shared.bin" "$T/$d/shared.bin"
  seq 1 $((RANDOM * 3)) >"$T/$d/numbers.txt"
done

log "two backups at once"
"$BIN" backup files "$T/a" --component alpha --json >"$T/a.json" 2>"$T/a.err" &
pa=$!
"$BIN" backup files "$T/b" --component beta --json >"$T/b.json" 2>"$T/b.err" &
pb=$!
wait "$pa" || fail "backup a failed: $(cat "$T/a.err")"
wait "$pb" || fail "backup b failed: $(cat "$T/b.err")"

log "three at once, one of them a stdin stream"
"$BIN" backup files "$T/c" --component gamma --json >"$T/c.json" 2>"$T/c.err" &
pc=$!
"$BIN" backup files "$T/a" --component alpha --json >"$T/a2.json" 2>"$T/a2.err" &
pa2=$!
"$BIN" backup stdin --component stream --filename shared.bin --json <"$T/shared.bin" \
  >"$T/s.json" 2>"$T/s.err" &
ps=$!
wait "$pc" || fail "backup c failed: $(cat "$T/c.err")"
wait "$pa2" || fail "second backup a failed: $(cat "$T/a2.err")"
wait "$ps" || fail "stdin backup failed: $(cat "$T/s.err")"

expect_exit 0 snapshots --json
[[ $(json "$T/out" 'len(d)') -eq 5 ]] || fail "expected 5 snapshots: $(cat "$T/out")"

for d in a b c; do
  comp=$(case $d in a) echo alpha ;; b) echo beta ;; c) echo gamma ;; esac)
  rm -rf "$T/r"
  expect_exit 0 restore latest --component "$comp" --target "$T/r" --path "$T/$d"
  same_tree "$T/$d" "$T/r"
done
"$BIN" dump latest /shared.bin --component stream >"$T/dumped" || fail "dump of stdin snapshot"
cmp "$T/dumped" "$T/shared.bin" || fail "stdin snapshot differs"

# Identical data is one blob however many snapshots hold it. Two writers racing on the same
# chunks may each store them (neither sees the other's uncommitted packs), but the shared
# 16 MiB must not be stored once per snapshot.
expect_exit 0 stats --json
raw=$(json "$T/out" 'd["raw_data_bytes"]')
packs=$(json "$T/out" 'd["pack_bytes"]')
unique=$(((16 + 3 * 16) * 1024 * 1024))
log "unique raw data $raw bytes, packs $packs bytes (expected about $unique)"
[[ $raw -le $((unique + 4 * 1024 * 1024)) ]] || fail "duplicate blobs counted: $raw"
[[ $packs -le $((unique * 3 / 2 + 8 * 1024 * 1024)) ]] || fail "shared data stored too often: $packs"
expect_exit 0 check --read-data
expect_exit 0 check --read-data-subset 50% --json
[[ $(json "$T/out" 'd["ok"]') == True ]] || fail "subset check not ok: $(cat "$T/out")"

log "forget --dry-run changes nothing; forget --prune removes and reclaims"
expect_exit 0 forget --component alpha --keep-last 1 --dry-run --json
[[ $(json "$T/out" 'len(d["removed"])') -eq 1 ]] || fail "dry run should name one snapshot"
expect_exit 0 snapshots --json
[[ $(json "$T/out" 'len(d)') -eq 5 ]] || fail "dry run removed a snapshot"
expect_exit 0 forget --component alpha --keep-last 1 --prune
assert_grep "prune" "$T/out"
expect_exit 0 snapshots --json
[[ $(json "$T/out" 'len(d)') -eq 4 ]] || fail "forget did not remove the older alpha snapshot"
rm -rf "$T/r"
expect_exit 0 restore latest --component alpha --target "$T/r" --path "$T/a"
same_tree "$T/a" "$T/r"
expect_exit 0 check --read-data
log "ok"
