#!/usr/bin/env bash
# `backup postgres --remote`: the files come from BASE_BACKUP over a replication connection (a
# role with REPLICATION, no access to the data directory) instead of a directory walk. The
# snapshot is the same kind as a local one: after a local backup of the same cluster a remote
# one stores little (dedup), pages are verified, a second remote backup after small changes
# stores little new, the same files are stored as by a local backup (a tablespace's inside
# pg_tblspc/<oid>), and the ordinary `restore postgres` brings back a cluster that passes
# pg_amcheck and pg_checksums with every table identical to the source. (The restore part runs
# after the tablespace is dropped: PostgreSQL 15.18 refuses to recover with a directory in
# pg_tblspc, which is how `restore postgres` lays tablespaces out.)
# Refusals: a role without REPLICATION (2), another cluster under the component (2), the server
# down (1), --remote with --pgdata (2). A corrupt page is reported by file and block (the
# server's own checksum failure at the end of the stream does not lose the snapshot), exit 3.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/postgres_lib.sh"

P="$T/p1"
pbw init
PG_SANDBOX_CONF="$ARCHIVE_CONF" pg_start "$P"
DB="host=$P user=postgres"
RDB="host=$P user=rep dbname=postgres"

log "loading data (a tablespace too)"
mkdir -p "$T/ts"
[[ $(id -u) -eq 0 ]] && chown postgres:postgres "$T/ts"
as_pg "$PGBIN/pgbench" -h "$P" -U postgres -i -s 2 -q postgres >/dev/null 2>&1 || fail "pgbench -i"
sql "$P" "CREATE TABLE notes AS SELECT g AS id, md5(g::text) AS body FROM generate_series(1, 20000) g"
sql "$P" "CREATE INDEX ON notes (body)"
sql "$P" "CREATE TABLESPACE outside LOCATION '$T/ts'"
sql "$P" "CREATE TABLE faraway TABLESPACE outside AS SELECT g FROM generate_series(1, 5000) g"
sql "$P" "CREATE UNLOGGED TABLE scratch AS SELECT g FROM generate_series(1, 1000) g"
sql "$P" "CREATE ROLE rep LOGIN REPLICATION"

log "local backup, then a remote one of the same cluster (dedups against it)"
pexpect 0 --json backup postgres --component "$COMPONENT" --pgdata "$P/data" --db "$DB" --type full
local_total=$(json "$T/out" 'd["counters"]["bytes_total"]')
snap0=$(json "$T/out" 'd["snapshot"]')
pexpect 0 --json backup postgres --component "$COMPONENT" --remote --db "$RDB" --type full
cp "$T/out" "$T/remote1.json"
[[ $(json "$T/out" 'd["type"]') == full ]] || fail "not a full backup"
[[ $(json "$T/out" 'len(d["corrupt_pages"])') == 0 ]] || fail "corrupt pages reported on a healthy cluster"
[[ $(json "$T/out" 'd["counters"]["pages_verified"] > 1000') == True ]] || fail "pages were not verified"
total=$(json "$T/out" 'd["counters"]["bytes_total"]')
added=$(json "$T/out" 'd["counters"]["bytes_added"]')
log "remote full: $added of $total bytes new (local full: $local_total bytes)"
[[ $total -gt $((local_total * 9 / 10)) && $total -lt $((local_total * 11 / 10)) ]] ||
  fail "remote backup holds $total bytes, the local one $local_total"
[[ $added -lt $((total / 10)) ]] || fail "a remote backup after a local one added $added of $total bytes"

log "the snapshot records what a local one does, and the same files"
snap1=$(json "$T/remote1.json" 'd["snapshot"]')
pexpect 0 ls "$snap0"
sort "$T/out" >"$T/ls.local"
pexpect 0 ls "$snap1"
sort "$T/out" >"$T/ls.remote"
diff -u "$T/ls.local" "$T/ls.remote" || fail "the remote snapshot holds other files than the local one"
faraway=$(sql "$P" "SELECT pg_relation_filepath('faraway')")
assert_grep "$faraway" "$T/ls.remote" "the tablespace's relation $faraway is not in the snapshot"
pexpect 0 --json snapshots --component "$COMPONENT"
python3 - "$T/out" "$snap1" <<'PY' || fail "snapshot source fields"
import json, sys
s = [s for s in json.load(open(sys.argv[1])) if s["id"] == sys.argv[2]][0]
src = s["source"]
for k in ("system_identifier", "server_version", "timeline", "start_lsn", "stop_lsn", "wal_start",
          "wal_stop", "backup_label", "tablespace_map"):
    assert k in src, k
assert "START WAL LOCATION" in src["backup_label"], src["backup_label"]
assert src["tablespace_map"].strip() != "", "tablespace_map is empty"
assert src["remote"] is True
PY

log "small changes, then an incremental remote backup stores little"
sql "$P" "DROP TABLE faraway"
sql "$P" "DROP TABLESPACE outside"
sql "$P" "INSERT INTO notes SELECT g, 'late ' || g FROM generate_series(20001, 20500) g"
sql "$P" "UPDATE pgbench_accounts SET abalance = abalance + 7 WHERE aid % 5000 = 0"
pexpect 0 --json backup postgres --component "$COMPONENT" --remote --db "$RDB"
[[ $(json "$T/out" 'd["type"]') == incr ]] || fail "not an incremental"
total=$(json "$T/out" 'd["counters"]["bytes_total"]')
added=$(json "$T/out" 'd["counters"]["bytes_added"]')
log "remote incremental: $added of $total bytes new"
[[ $added -lt $((total / 20)) ]] || fail "an incremental remote backup added $added of $total bytes"
snap2=$(json "$T/out" 'd["snapshot"]')

sql "$P" "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (1, 1, 1, 42, now())"
wait_archived "$P"
table_sums "$P" | grep -v "^scratch " >"$T/sums.orig"

log "restore the remote snapshot with restore postgres and replay"
restore_drill r1 "$snap2" --component "$COMPONENT"
R="$T/r1"
[[ $restored == "$snap2" ]] || fail "restored $restored, not $snap2"
table_sums "$R" | grep -v "^scratch " >"$T/sums.restored"
diff -u "$T/sums.orig" "$T/sums.restored" || fail "restored tables differ from the original"
[[ $(sql "$R" "SELECT count(*) FROM scratch") == 0 ]] || fail "unlogged table should be empty after recovery"
[[ $(sql "$R" "SELECT count(*) FROM notes") == 20500 ]] || fail "notes row count"
as_pg "$PGBIN/pg_amcheck" -h "$R" -U postgres --all --install-missing --heapallindexed >"$T/amcheck" 2>&1 ||
  { cat "$T/amcheck" >&2; fail "pg_amcheck found problems"; }
pg_stop "$R"
as_pg "$PGBIN/pg_checksums" --check -D "$R/data" >"$T/checksums" 2>&1 ||
  { cat "$T/checksums" >&2; fail "pg_checksums --check failed"; }

log "refusals"
sql "$P" "CREATE ROLE weak LOGIN"
pexpect 2 backup postgres --component "$COMPONENT" --remote --db "host=$P user=weak dbname=postgres"
assert_grep "REPLICATION" "$T/err"
assert_one_line "$T/err"
pexpect 2 backup postgres --component "$COMPONENT" --remote --pgdata "$P/data" --db "$RDB"
assert_one_line "$T/err"
pexpect 1 backup postgres --component "$COMPONENT" --remote --db "host=$T/nowhere user=rep"
assert_grep "cannot connect to PostgreSQL" "$T/err"
assert_one_line "$T/err"
Q="$T/p2"
PG_SANDBOX_CONF="$ARCHIVE_CONF" pg_start "$Q"
pexpect 2 backup postgres --component "$COMPONENT" --remote --db "host=$Q user=postgres"
assert_grep "system identifier" "$T/err"
assert_one_line "$T/err"
pg_stop "$Q"

log "a corrupt page"
rel=$(sql "$P" "SELECT pg_relation_filepath('notes')")
corrupt_page "$P" "$rel" 3
pexpect 3 --json backup postgres --component "$COMPONENT" --remote --db "$RDB"
assert_corrupt_page "$rel" 3
log "ok"
