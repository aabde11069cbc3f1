#!/usr/bin/env bash
# PostgreSQL full backup -> restore -> start: a real PostgreSQL 15 with data checksums and WAL
# archiving into the repository (wal-push as archive_command). The restored cluster replays the
# archived WAL through wal-get, and must pass pg_amcheck --all and pg_checksums --check, with
# every table's contents identical to the original's. A second full backup of the unchanged
# cluster stores almost nothing new; wal-push is idempotent and refuses a different segment
# under an archived name; wal-get exits non-zero for a segment that does not exist.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/postgres_lib.sh"

P="$T/p1"
pbw init
PG_SANDBOX_CONF="$ARCHIVE_CONF" pg_start "$P"

log "loading data"
as_pg "$PGBIN/pgbench" -h "$P" -U postgres -i -s 3 -q postgres >/dev/null 2>&1 || fail "pgbench -i"
sql "$P" "CREATE TABLE notes AS SELECT g AS id, md5(g::text) AS body FROM generate_series(1, 20000) g"
sql "$P" "CREATE INDEX ON notes (body)"
sql "$P" "CREATE UNLOGGED TABLE scratch AS SELECT g FROM generate_series(1, 1000) g"

log "full backup"
pexpect 0 --json backup postgres --component "$COMPONENT" --pgdata "$P/data" --db "host=$P user=postgres" --type full
cp "$T/out" "$T/full.json"
[[ $(json "$T/full.json" 'd["type"]') == full ]] || fail "not a full backup"
[[ $(json "$T/full.json" 'len(d["corrupt_pages"])') == 0 ]] || fail "corrupt pages reported on a healthy cluster"
[[ $(json "$T/full.json" 'd["counters"]["pages_verified"] > 1000') == True ]] ||
  fail "page checksums were not verified"

log "second full backup of an unchanged cluster stores little"
pexpect 0 --json backup postgres --component "$COMPONENT" --pgdata "$P/data" --db "host=$P user=postgres" --type full
total=$(json "$T/out" 'd["counters"]["bytes_total"]')
added=$(json "$T/out" 'd["counters"]["bytes_added"]')
log "second full: $added of $total bytes new"
[[ $added -lt $((total / 10)) ]] || fail "an unchanged full backup added $added of $total bytes"

log "writes after the backup (replayed from archived WAL)"
sql "$P" "INSERT INTO notes SELECT g, 'late ' || g FROM generate_series(20001, 25000) g"
sql "$P" "UPDATE pgbench_accounts SET abalance = abalance + 7 WHERE aid % 97 = 0"
wait_archived "$P"
table_sums "$P" | grep -v "^scratch " >"$T/sums.orig"

log "wal-push idempotence and conflicts"
seg=$(sql "$P" "SELECT last_archived_wal FROM pg_stat_archiver")
pexpect 0 wal-get --component "$COMPONENT" --prefetch 0 "$seg" "$W/$seg"
cp "$W/$seg" "$T/$seg"
chmod 644 "$T/$seg"
pexpect 0 --json wal-push --component "$COMPONENT" "$T/$seg"
[[ $(json "$T/out" 'd["already_archived"]') == True ]] || fail "pushing an archived segment again stored it"
printf 'x' | dd of="$T/$seg" bs=1 seek=5000 conv=notrunc 2>/dev/null
pexpect 1 wal-push --component "$COMPONENT" "$T/$seg"
assert_grep "already archived" "$T/err"
pexpect 1 wal-get --component "$COMPONENT" 0000000100000000000000FF "$W/nothing"
[[ ! -e "$W/nothing" ]] || fail "wal-get created a file for a missing segment"
pexpect 0 --json wal-status --component "$COMPONENT"
[[ $(json "$T/out" 'd["newest_segment"] >= "'"$seg"'"') == True ]] || fail "wal-status newest segment"
[[ $(json "$T/out" 'len(d["gaps"])') == 0 ]] || fail "wal-status reports gaps"

log "restore the first backup and replay to the end of the archive"
R="$T/r1"
mkdir -p "$R"
[[ $(id -u) -eq 0 ]] && chown postgres:postgres "$R"
first=$(json "$T/full.json" 'd["snapshot"]')
pexpect 0 restore postgres "$first" --target "$R/data"
assert_grep "restore_command" "$R/data/postgresql.auto.conf"
grep -q "$(cat "$W/password")" "$R/data/postgresql.auto.conf" && fail "the passphrase leaked into postgresql.auto.conf"
[[ -f "$R/data/recovery.signal" && -f "$R/data/backup_label" ]] || fail "recovery files missing"
[[ $(stat -c '%U %a' "$R/data") == "$PGUSER_OS 700" ]] || fail "data directory owner/mode: $(stat -c '%U %a' "$R/data")"
[[ ! -e "$R/data/postmaster.pid" ]] || fail "postmaster.pid was backed up"
[[ -d "$R/data/pg_wal/archive_status" && $(ls -A "$R/data/pg_wal") == archive_status ]] ||
  fail "pg_wal should hold only an empty archive_status: $(ls -A "$R/data/pg_wal")"
[[ -d "$R/data/pg_stat_tmp" && -z "$(ls -A "$R/data/pg_stat_tmp")" ]] || fail "pg_stat_tmp should be an empty directory"
# Unlogged relations keep only their init fork.
scratch=$(sql "$P" "SELECT pg_relation_filepath('scratch')")
[[ -f "$R/data/${scratch}_init" && ! -f "$R/data/$scratch" ]] || fail "unlogged relation forks"

pg_start "$R"
wait_promoted "$R"
table_sums "$R" | grep -v "^scratch " >"$T/sums.restored"
diff -u "$T/sums.orig" "$T/sums.restored" || fail "restored tables differ from the original"
[[ $(sql "$R" "SELECT count(*) FROM scratch") == 0 ]] || fail "unlogged table should be empty after recovery"
as_pg "$PGBIN/pg_amcheck" -h "$R" -U postgres --all --install-missing --heapallindexed >"$T/amcheck" 2>&1 ||
  { cat "$T/amcheck" >&2; fail "pg_amcheck found problems"; }
pg_stop "$R"
as_pg "$PGBIN/pg_checksums" --check -D "$R/data" >"$T/checksums" 2>&1 ||
  { cat "$T/checksums" >&2; fail "pg_checksums --check failed"; }
log "ok"
