#!/usr/bin/env bash
# Point-in-time recovery between known transactions: rows 1..4 are committed one by one with a
# timestamp, a named restore point, a transaction ID and an LSN taken between them. Restoring
# to each target yields exactly the expected rows. A time before the oldest backup, a
# transaction ID or restore point name that the archived WAL after the backups does not hold
# (also one made before the backup), and a backup whose WAL is missing from the archive, are
# refused before anything is written.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/postgres_lib.sh"

P="$T/p1"
pbw init
PG_SANDBOX_CONF="$ARCHIVE_CONF" pg_start "$P"
sql "$P" "CREATE TABLE t (i int PRIMARY KEY, at timestamptz DEFAULT clock_timestamp())"
before_backup=$(sql "$P" "SELECT clock_timestamp()")
sql "$P" "SELECT pg_create_restore_point('too_early')" >/dev/null
sleep 1.1

pexpect 0 --json backup postgres --component "$COMPONENT" --pgdata "$P/data" --db "host=$P user=postgres"
base=$(json "$T/out" 'd["snapshot"]')

sleep 1.1
sql "$P" "INSERT INTO t (i) VALUES (1)"
sleep 1.1
t1=$(sql "$P" "SELECT clock_timestamp()")
sleep 1.1
sql "$P" "INSERT INTO t (i) VALUES (2)"
sql "$P" "SELECT pg_create_restore_point('after_two')" >/dev/null
xid3=$(sql "$P" "WITH r AS (INSERT INTO t (i) VALUES (3) RETURNING i) SELECT txid_current() FROM r")
lsn3=$(sql "$P" "SELECT pg_current_wal_insert_lsn()")
sql "$P" "INSERT INTO t (i) VALUES (4)"
wait_archived "$P"

# restore_to NAME ARGS...: a restore drill into $T/NAME; sets $got to the rows of t.
restore_to() {
  restore_drill "$@"
  got=$(sql "$T/$1" "SELECT string_agg(i::text, ',' ORDER BY i) FROM t")
  pg_stop "$T/$1"
}

log "PITR to a timestamp (after row 1)"
restore_to r_time latest --component "$COMPONENT" --time "$t1"
[[ "$got" == "1" ]] || fail "time target: expected rows 1, got '$got'"

log "PITR to a named restore point (after row 2)"
restore_to r_name "$base" --name after_two
[[ "$got" == "1,2" ]] || fail "restore point target: expected rows 1,2, got '$got'"

log "PITR to a transaction ID (row 3's, $xid3)"
restore_to r_xid latest --component "$COMPONENT" --xid "$xid3"
[[ "$got" == "1,2,3" ]] || fail "xid target: expected rows 1,2,3, got '$got'"

log "PITR to an LSN (after row 3)"
restore_to r_lsn latest --component "$COMPONENT" --lsn "$lsn3"
[[ "$got" == "1,2,3" ]] || fail "LSN target: expected rows 1,2,3, got '$got'"

log "to the end of the archive"
restore_to r_latest latest --component "$COMPONENT"
[[ "$got" == "1,2,3,4" ]] || fail "latest: expected rows 1,2,3,4, got '$got'"

log "refusals"
pexpect 2 restore postgres latest --component "$COMPONENT" --time "$before_backup" --target "$T/r_early/data"
assert_grep "before the end of the oldest backup" "$T/err"
[[ ! -e "$T/r_early" ]] || fail "a refused restore wrote its target"
pexpect 2 restore postgres latest --component "$COMPONENT" --time "2099-01-01 00:00:00+00" --target "$T/r_late/data"
assert_grep "after the newest archived WAL" "$T/err"
pexpect 2 restore postgres latest --component "$COMPONENT" --xid 4000000000 --target "$T/r_xid_none/data"
assert_grep "transaction 4000000000 is not in the WAL archived for component" "$T/err"
pexpect 2 restore postgres latest --component "$COMPONENT" --name no_such_point --target "$T/r_name_none/data"
assert_grep "restore point 'no_such_point' is not in the WAL archived" "$T/err"
# A restore point made before the backup: recovery from it would never meet it.
pexpect 2 restore postgres "$base" --name too_early --target "$T/r_name_early/data"
assert_grep "restore point 'too_early' is not in the WAL archived for component .* after backup" "$T/err"
pexpect 2 restore postgres latest --component "$COMPONENT" --xid "3x" --target "$T/r_xid_bad/data"
assert_grep "must be a transaction ID" "$T/err"
for d in r_xid_none r_name_none r_name_early r_xid_bad; do
  [[ ! -e "$T/$d" ]] || fail "a refused restore wrote $d"
done
mkdir -p "$T/r_full" && touch "$T/r_full/file"
pexpect 2 restore postgres latest --component "$COMPONENT" --target "$T/r_full"
assert_grep "not empty" "$T/err"
# Without the archived WAL the backup cannot become consistent.
pg_stop "$P"
rm -rf "$REPO/wal"
pexpect 4 restore postgres latest --component "$COMPONENT" --target "$T/r_nowal/data"
assert_grep "is not archived" "$T/err"
[[ ! -e "$T/r_nowal" ]] || fail "a refused restore wrote its target"
log "ok"
