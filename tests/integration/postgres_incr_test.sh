#!/usr/bin/env bash
# Incremental chain: a full backup and three incrementals with pgbench load between them. Each
# incremental re-reads only changed files and stores far less than the full; restoring the last
# one (and replaying the archive) gives exactly the original's contents, and restoring the
# second one with --immediate gives a consistent, checksum-clean cluster.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/postgres_lib.sh"

P="$T/p1"
pbw init
PG_SANDBOX_CONF="$ARCHIVE_CONF" pg_start "$P"
as_pg "$PGBIN/pgbench" -h "$P" -U postgres -i -s 4 -q postgres >/dev/null 2>&1 || fail "pgbench -i"
# Files untouched for a while are the ones an incremental may skip (the safety rule re-reads
# files modified within seconds of the previous backup's start).
sleep 6

backup() {
  pexpect 0 --json backup postgres --component "$COMPONENT" --pgdata "$P/data" --db "host=$P user=postgres" "$@"
}

log "full"
backup --type full
full_added=$(json "$T/out" 'd["counters"]["bytes_added"]')
ids=("$(json "$T/out" 'd["snapshot"]')")
for n in 1 2 3; do
  as_pg "$PGBIN/pgbench" -h "$P" -U postgres -c 2 -j 2 -t 300 -n postgres >/dev/null 2>&1 || fail "pgbench run $n"
  sleep 6
  backup --type incr
  [[ $(json "$T/out" 'd["type"]') == incr ]] || fail "backup $n was not incremental"
  files=$(json "$T/out" 'd["counters"]["files"]')
  read_=$(json "$T/out" 'd["counters"]["files_read"]')
  added=$(json "$T/out" 'd["counters"]["bytes_added"]')
  log "incremental $n: read $read_ of $files files, added $added bytes (full added $full_added)"
  [[ $read_ -lt $((files / 2)) ]] || fail "incremental $n re-read $read_ of $files files"
  [[ $added -lt $((full_added / 4)) ]] || fail "incremental $n added $added bytes"
  ids+=("$(json "$T/out" 'd["snapshot"]')")
done
wait_archived "$P"
table_sums "$P" >"$T/sums.orig"

log "restore the last incremental and replay"
R="$T/r1"
mkdir -p "$R"
[[ $(id -u) -eq 0 ]] && chown postgres:postgres "$R"
pexpect 0 restore postgres latest --component "$COMPONENT" --target "$R/data"
pg_start "$R"
wait_promoted "$R"
table_sums "$R" >"$T/sums.restored"
diff -u "$T/sums.orig" "$T/sums.restored" || fail "restored tables differ"
pg_stop "$R"

log "restore the second incremental, consistent point only"
R2="$T/r2"
mkdir -p "$R2"
[[ $(id -u) -eq 0 ]] && chown postgres:postgres "$R2"
pexpect 0 restore postgres "${ids[2]}" --immediate --target "$R2/data"
pg_start "$R2"
wait_promoted "$R2"
[[ $(sql "$R2" "SELECT count(*) FROM pgbench_accounts") == 400000 ]] || fail "accounts row count"
# Two pgbench runs had finished before that backup: 2 x 2 clients x 300 transactions.
[[ $(sql "$R2" "SELECT count(*) FROM pgbench_history") == 1200 ]] || fail "history rows at the second incremental"
as_pg "$PGBIN/pg_amcheck" -h "$R2" -U postgres --all --install-missing >"$T/amcheck" 2>&1 ||
  { cat "$T/amcheck" >&2; fail "pg_amcheck found problems"; }
pg_stop "$R2"
as_pg "$PGBIN/pg_checksums" --check -D "$R2/data" >"$T/checksums" 2>&1 ||
  { cat "$T/checksums" >&2; fail "pg_checksums --check failed"; }
log "ok"
