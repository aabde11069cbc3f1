#!/usr/bin/env bash
# Crashes and interrupts leave the repository consistent:
#   - `kill -9` during a backup, then SIGINT during a backup (exit 130, no snapshot);
#   - `kill -9` during prune at several moments (right after it starts, a little later, when
#     its deletion record appears, ...).
# After each: `check --read-data` passes, every earlier snapshot restores bit for bit, and a
# re-run of the interrupted operation completes.
source "$(dirname "$0")/lib.sh"

# Snapshot sources are never modified after their backup, so each snapshot's expected
# content is simply its source directory: $T/snapsrc/<snapshot id> -> source dir.
declare -A SOURCE_OF

backup_dir() {  # backup_dir DIR COMPONENT: backs up, records the source of the snapshot
  expect_exit 0 backup files "$1" --component "$2" --json
  local id
  id=$(json "$T/out" 'd["snapshot"]')
  SOURCE_OF[$id]=$1
}

verify_all() {  # check --read-data, then restore every snapshot and compare
  expect_exit 0 check --read-data
  local id
  for id in $(snapshot_ids); do
    local src=${SOURCE_OF[$id]:-}
    [[ -n "$src" ]] || fail "unexpected snapshot $id appeared"
    rm -rf "$T/verify"
    expect_exit 0 restore "$id" --target "$T/verify" --path "$src"
    same_tree "$src" "$T/verify"
  done
  rm -rf "$T/verify"
}

count_files() { { find "$1" -type f 2>/dev/null || true; } | wc -l; }
pack_count() { count_files "$REPO/data"; }

bw init --chunk-size 128KiB --pack-size 1MiB -q

mkdir -p "$T/base"
for i in $(seq 1 8); do random_file "$T/base/f$i.bin" 1; done
seq 1 100000 >"$T/base/numbers.txt"
backup_dir "$T/base" base

# Each interrupted backup gets fresh data: chunks an earlier interrupted run managed to store
# and index would otherwise be deduplicated and the backup could finish before the signal.
make_large() {
  rm -rf "$T/large"
  mkdir -p "$T/large"
  for i in $(seq 1 12); do random_file "$T/large/big$i.bin" 8; done
}

log "kill -9 during a backup"
make_large
before=$(pack_count)
"$BIN" backup files "$T/large" --component large -q >/dev/null 2>&1 &
pid=$!
wait_for "[[ \$(pack_count) -ge $((before + 20)) ]] || ! kill -0 $pid 2>/dev/null" 120 ||
  fail "backup made no progress"
kill -9 "$pid" 2>/dev/null || fail "backup finished before it could be killed"
wait "$pid" 2>/dev/null || true
verify_all

log "SIGINT during a backup: exit 130, no snapshot"
make_large
before=$(pack_count)
"$BIN" backup files "$T/large" --component large -q >"$T/int.out" 2>"$T/int.err" &
pid=$!
wait_for "[[ \$(pack_count) -ge $((before + 20)) ]] || ! kill -0 $pid 2>/dev/null" 120 ||
  fail "backup made no progress"
kill -INT "$pid" 2>/dev/null || fail "backup finished before SIGINT"
code=0
wait "$pid" || code=$?
[[ $code -eq 130 ]] || { cat "$T/int.err" >&2; fail "interrupted backup exited $code, expected 130"; }
grep -qi "interrupt" "$T/int.err" || fail "no interrupt message: $(cat "$T/int.err")"
verify_all

log "two SIGINTs: the second one exits at once"
make_large
before=$(pack_count)
"$BIN" backup files "$T/large" --component large -q >"$T/int.out" 2>"$T/int.err" &
pid=$!
wait_for "[[ \$(pack_count) -ge $((before + 10)) ]] || ! kill -0 $pid 2>/dev/null" 120 ||
  fail "backup made no progress"
kill -INT "$pid" 2>/dev/null || fail "backup finished before SIGINT"
kill -INT "$pid" 2>/dev/null || true
code=0
wait "$pid" || code=$?
[[ $code -eq 130 ]] || { cat "$T/int.err" >&2; fail "doubly interrupted backup exited $code"; }
verify_all

log "a re-run of the backup completes"
backup_dir "$T/large" large
verify_all

# Prune: each round creates garbage (a new variant of a tree replacing half its files, the
# previous variant forgotten) and kills prune at a different moment.
mkdir -p "$T/v0"
for i in $(seq 1 16); do random_file "$T/v0/f$i.bin" 2; done
backup_dir "$T/v0" churn
prev=$T/v0
round=0
for moment in lock 0.05 0.15 0.3 deletion-record; do
  round=$((round + 1))
  cur=$T/v$round
  cp -a "$prev" "$cur"
  for i in $(seq 1 2 16); do random_file "$cur/f$(( (i + round) % 16 + 1 )).bin" 2; done
  backup_dir "$cur" churn
  expect_exit 0 forget --component churn --keep-last 1
  # Forgotten snapshots no longer need to restore.
  for id in "${!SOURCE_OF[@]}"; do
    if [[ ${SOURCE_OF[$id]} == "$prev" ]]; then unset "SOURCE_OF[$id]"; fi
  done
  prev=$cur

  log "prune round $round: kill -9 at '$moment'"
  records_before=$(count_files "$REPO/deletions")
  "$BIN" prune -q >"$T/prune.out" 2>&1 &
  pid=$!
  case $moment in
    lock) wait_for "[[ -n \"\$(ls -A '$REPO/locks' 2>/dev/null)\" ]] || ! kill -0 $pid 2>/dev/null" 30 || true ;;
    deletion-record) wait_for "[[ \$(count_files '$REPO/deletions') -gt $records_before ]] || ! kill -0 $pid 2>/dev/null" 60 || true ;;
    *) sleep "$moment" ;;
  esac
  if kill -9 "$pid" 2>/dev/null; then
    log "prune killed"
  else
    log "prune had already finished"
  fi
  wait "$pid" 2>/dev/null || true
  verify_all
done

log "a re-run of prune completes and the repository stays whole"
expect_exit 0 prune
expect_exit 0 prune
verify_all
log "ok"
