#!/usr/bin/env bash
# Prune never stops backups and never deletes what a running backup relies on:
#   - a backup (a stdin stream held open) starts, deduplicating against data that is then
#     forgotten; prune runs meanwhile, finishes at once, and only condemns that data;
#   - a backup that starts after prune's deletion record stores the condemned data again;
#   - once the running backup has finished, the next prune sweeps the record but keeps (and
#     re-indexes) the packs the late snapshot uses.
# After each step `check --read-data` passes and every snapshot restores bit for bit.
source "$(dirname "$0")/lib.sh"

bw init --chunk-size 128KiB --pack-size 1MiB -q

mkdir -p "$T/v0" "$T/v1"
for i in 1 2 3 4 5 6; do random_file "$T/v0/f$i.bin" 2; done
for i in 1 2 3; do random_file "$T/v1/g$i.bin" 1; done
expect_exit 0 backup files "$T/v0" --component churn --json
v0=$(json "$T/out" 'd["snapshot"]')
expect_exit 0 backup files "$T/v1" --component churn --json
v1=$(json "$T/out" 'd["snapshot"]')
cat "$T"/v0/*.bin >"$T/stream.expected"

log "a stream backup starts and deduplicates against v0's data"
mkfifo "$T/fifo"
"$BIN" backup stdin --component stream --filename stream.bin --json <"$T/fifo" \
  >"$T/stream.json" 2>"$T/stream.err" &
stream_pid=$!
exec 7>"$T/fifo"
cleanup_hooks+=("exec 7>&-" "kill $stream_pid 2>/dev/null")
wait_for "[[ -n \"\$(ls -A '$REPO/locks' 2>/dev/null)\" ]]" 30 || fail "the stream backup took no lock"
cat "$T"/v0/*.bin >&7

log "v0 is forgotten; prune runs while the stream backup is still open"
expect_exit 0 forget --component churn --keep-last 1
expect_exit 0 prune --json
cp "$T/out" "$T/prune1.json"
[[ $(json "$T/prune1.json" 'd["packs_condemned"]') -gt 0 ]] || fail "prune condemned nothing"
[[ $(json "$T/prune1.json" 'd["records_pending"]') -eq 1 ]] ||
  fail "prune swept while a backup that predates its record was running: $(cat "$T/prune1.json")"
[[ $(json "$T/prune1.json" 'd["packs_deleted"]') -eq 0 ]] || fail "prune deleted packs"
kill -0 "$stream_pid" 2>/dev/null || fail "the stream backup ended early: $(cat "$T/stream.err")"

log "a backup started after the deletion record stores (half of) v0's data again"
mkdir -p "$T/half"
cp -a "$T"/v0/f1.bin "$T"/v0/f2.bin "$T"/v0/f3.bin "$T/half/"
expect_exit 0 backup files "$T/half" --component copy --json
copy=$(json "$T/out" 'd["snapshot"]')
[[ $(json "$T/out" 'd["counters"]["bytes_added"]') -gt 4000000 ]] ||
  fail "the backup deduplicated against condemned data: $(cat "$T/out")"

log "the stream backup finishes after prune"
exec 7>&-
wait "$stream_pid" || fail "stream backup failed: $(cat "$T/stream.err")"
stream=$(json "$T/stream.json" 'd["snapshot"]')
expect_exit 0 dump "$stream" /stream.bin
cmp -s "$T/out" "$T/stream.expected" || fail "stream snapshot differs before the sweep"

log "the next prune sweeps the record and keeps what the late snapshot uses"
expect_exit 0 prune --json
cp "$T/out" "$T/prune2.json"
[[ $(json "$T/prune2.json" 'd["records_swept"]') -ge 1 ]] || fail "record not swept: $(cat "$T/prune2.json")"
[[ $(json "$T/prune2.json" 'd["packs_rescued"]') -gt 0 ]] ||
  fail "no pack rescued although the stream snapshot deduplicated against them"
[[ -z "$(ls -A "$REPO/deletions" 2>/dev/null)" ]] || fail "deletion records left behind"

expect_exit 0 check --read-data
expect_exit 0 dump "$stream" /stream.bin
cmp -s "$T/out" "$T/stream.expected" || fail "stream snapshot differs after the sweep"
for pair in "$copy:$T/half" "$v1:$T/v1"; do
  id=${pair%%:*}
  src=${pair#*:}
  rm -rf "$T/verify"
  expect_exit 0 restore "$id" --target "$T/verify" --path "$src"
  same_tree "$src" "$T/verify"
done

log "forgetting everything but v1 and pruning frees the rest; v1 still restores"
expect_exit 0 forget --component stream --keep-tag none
expect_exit 0 forget --component copy --keep-tag none
expect_exit 0 prune --json
expect_exit 0 check --read-data
rm -rf "$T/verify"
expect_exit 0 restore "$v1" --target "$T/verify" --path "$T/v1"
same_tree "$T/v1" "$T/verify"
log "ok"
