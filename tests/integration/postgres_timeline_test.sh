#!/usr/bin/env bash
# Timeline switch: a backup of the primary (timeline 1) is restored and promoted (timeline 2),
# which keeps archiving into the same component. Rows written on the new timeline, a backup of
# the promoted server and point-in-time restores on timeline 2 (from the new backup, and from
# the old one across the switch through the archived history file) yield exactly the expected
# rows; --timeline 1 still restores the end of the original timeline.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/postgres_lib.sh"

rows() { sql "$1" "SELECT string_agg(i::text, ',' ORDER BY i) FROM t"; }

P="$T/p1"
pbw init
PG_SANDBOX_CONF="$ARCHIVE_CONF" pg_start "$P"
sql "$P" "CREATE TABLE t (i int PRIMARY KEY)"
sql "$P" "INSERT INTO t VALUES (1)"
pexpect 0 --json backup postgres --component "$COMPONENT" --pgdata "$P/data" --db "host=$P user=postgres" --type full
b1=$(json "$T/out" 'd["snapshot"]')
[[ $(json "$T/out" 'd["timeline"]') == 1 ]] || fail "the first backup is not on timeline 1"
sql "$P" "INSERT INTO t VALUES (2)"
wait_archived "$P"
pg_stop "$P"

log "restore and promote: timeline 2, archiving into the same component"
Q="$T/q1"
mkdir -p "$Q"
[[ $(id -u) -eq 0 ]] && chown postgres:postgres "$Q"
pexpect 0 restore postgres latest --component "$COMPONENT" --target "$Q/data"
pg_start "$Q"
wait_promoted "$Q"
[[ $(rows "$Q") == "1,2" ]] || fail "promoted server: expected rows 1,2, got '$(rows "$Q")'"
tli=$(sql "$Q" "SELECT timeline_id FROM pg_control_checkpoint()")
[[ $tli == 2 ]] || fail "promoted server is on timeline $tli, expected 2"
sql "$Q" "INSERT INTO t VALUES (3)"
sleep 1.1
t3=$(sql "$Q" "SELECT clock_timestamp()")
sleep 1.1
sql "$Q" "INSERT INTO t VALUES (4)"

log "back up the promoted server"
pexpect 0 --json backup postgres --component "$COMPONENT" --pgdata "$Q/data" --db "host=$Q user=postgres"
b2=$(json "$T/out" 'd["snapshot"]')
[[ $(json "$T/out" 'd["timeline"]') == 2 ]] || fail "the promoted server's backup is not on timeline 2"
[[ $(json "$T/out" 'd["wal_start"][:8]') == 00000002 ]] || fail "the new backup's WAL is not on timeline 2"
sql "$Q" "INSERT INTO t VALUES (5)"
lsn5=$(sql "$Q" "SELECT pg_current_wal_insert_lsn()")
sql "$Q" "INSERT INTO t VALUES (6)"
wait_archived "$Q"
pexpect 0 --json wal-status --component "$COMPONENT"
[[ $(json "$T/out" '"00000002.history" in d["timeline_histories"]') == True ]] ||
  fail "the timeline 2 history file was not archived"

# restore_to NAME ARGS...: a restore drill into $T/NAME (archiving off, see restore_drill);
# sets $got to the rows of t and $restored to the snapshot it restored.
restore_to() {
  restore_drill "$@"
  got=$(rows "$T/$1")
  pg_stop "$T/$1"
}

log "PITR on timeline 2 to an LSN (after row 5): picks the new backup"
restore_to r_lsn latest --component "$COMPONENT" --lsn "$lsn5"
[[ "$got" == "1,2,3,4,5" ]] || fail "LSN target on timeline 2: expected rows 1..5, got '$got'"
[[ $restored == "$b2" ]] || fail "the LSN restore on timeline 2 used $restored, not the new backup"

log "PITR from the timeline 1 backup across the switch to a time on timeline 2 (after row 3)"
restore_to r_time "$b1" --time "$t3" --timeline latest
[[ "$got" == "1,2,3" ]] || fail "time target across the switch: expected rows 1,2,3, got '$got'"

log "end of the archive follows the newest timeline"
restore_to r_latest latest --component "$COMPONENT"
[[ "$got" == "1,2,3,4,5,6" ]] || fail "latest: expected rows 1..6, got '$got'"

log "--timeline 1: the end of the original timeline"
restore_to r_tl1 "$b1" --timeline 1
[[ "$got" == "1,2" ]] || fail "timeline 1: expected rows 1,2, got '$got'"
pg_stop "$Q"
log "ok"
